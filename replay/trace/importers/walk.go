package importers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/agentreplay/replay/replay/trace"
)

// Found is one trace found in a folder: its path and format.
type Found struct {
	Path   string
	Format trace.Format
	Source *trace.Source
}

// Skipped is a file of a folder that is not imported, and why.
type Skipped struct {
	Path   string
	Reason string
}

// Walk finds the traces in the folder root, recursively: every file a format
// recognizes, and every sub-folder a format reads as a whole (a run
// directory, not descended into). The sub-agent files Claude Code writes
// beside a session (<session>/subagents/…) are imported with their session,
// so they are skipped when the session is there. Every other file is
// skipped with the reason detection gave. Hidden files (.DS_Store) and
// version-control folders (.git) are passed over without a word; other
// hidden folders (.claude, .codex) are read. force, when set, is the format
// every file is read as. The results are in lexical order.
func Walk(ctx context.Context, root, force string) ([]Found, []Skipped, error) {
	// The walk lists what it finds in order; the files among them are
	// detected after it, several at once (each reads its head).
	type entry struct {
		found   *Found
		skipped *Skipped
		file    string // to detect
	}
	var entries []entry
	skip := func(path, reason string) {
		entries = append(entries, entry{skipped: &Skipped{Path: path, Reason: reason}})
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			skip(path, errors.Unwrap(err).Error())
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if path != root && d.IsDir() && (d.Name() == ".git" || d.Name() == ".hg" || d.Name() == ".svn") {
			return fs.SkipDir
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if d.IsDir() {
			if path == root || force != "" {
				return nil
			}
			src := &trace.Source{Path: path, IsDir: true}
			for _, f := range All() {
				if f.Detect(src) {
					entries = append(entries, entry{found: &Found{Path: path, Format: f, Source: src}})
					return fs.SkipDir
				}
			}
			return nil
		}
		if session := sessionOf(path); session != "" {
			skip(path, "imported with its session "+session)
			return nil
		}
		if !d.Type().IsRegular() {
			skip(path, "not a regular file")
			return nil
		}
		entries = append(entries, entry{file: path})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read folder %q: %w", root, err)
	}
	var files []int
	for i, e := range entries {
		if e.file != "" {
			files = append(files, i)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), len(files))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e := &entries[i]
				src, err := Open(e.file)
				if err != nil {
					e.skipped = &Skipped{Path: e.file, Reason: err.Error()}
					continue
				}
				f, err := Detect(src, force)
				if err != nil {
					e.skipped = &Skipped{Path: e.file, Reason: reason(err, e.file)}
					continue
				}
				e.found = &Found{Path: e.file, Format: f, Source: src}
			}
		}()
	}
feed:
	for _, i := range files {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("read folder %q: %w", root, err)
	}
	var found []Found
	var skipped []Skipped
	for _, e := range entries {
		switch {
		case e.found != nil:
			found = append(found, *e.found)
		case e.skipped != nil:
			skipped = append(skipped, *e.skipped)
		}
	}
	return found, skipped, nil
}

// reason shortens a detection error for a list of skipped files, which
// names the file already.
func reason(err error, path string) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, fmt.Sprintf("detect format of %q: ", path))
	msg = strings.TrimSuffix(msg, ": "+trace.ErrNotTrace.Error())
	msg = strings.Replace(msg, " (tried "+strings.Join(Names(), ", ")+"; force one with --format)", "", 1)
	return msg
}

// sessionOf returns the Claude Code session transcript a sub-agent file
// belongs to (<dir>/<session>.jsonl for <dir>/<session>/subagents/…), when
// that transcript exists; "" otherwise.
func sessionOf(path string) string {
	dir := filepath.Dir(path)
	for range 3 { // subagents/, subagents/workflows/<name>/
		if filepath.Base(dir) == "subagents" {
			session := filepath.Dir(dir) + ".jsonl"
			if fi, err := os.Stat(session); err == nil && fi.Mode().IsRegular() {
				return session
			}
			return ""
		}
		dir = filepath.Dir(dir)
	}
	return ""
}
