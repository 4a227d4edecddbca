package importers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
	var found []Found
	var skipped []Skipped
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			skipped = append(skipped, Skipped{Path: path, Reason: errors.Unwrap(err).Error()})
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
					found = append(found, Found{Path: path, Format: f, Source: src})
					return fs.SkipDir
				}
			}
			return nil
		}
		if session := sessionOf(path); session != "" {
			skipped = append(skipped, Skipped{Path: path, Reason: "imported with its session " + session})
			return nil
		}
		if !d.Type().IsRegular() {
			skipped = append(skipped, Skipped{Path: path, Reason: "not a regular file"})
			return nil
		}
		src, err := Open(path)
		if err != nil {
			skipped = append(skipped, Skipped{Path: path, Reason: err.Error()})
			return nil
		}
		f, err := Detect(src, force)
		if err != nil {
			skipped = append(skipped, Skipped{Path: path, Reason: reason(err, path)})
			return nil
		}
		found = append(found, Found{Path: path, Format: f, Source: src})
		return nil
	})
	if err != nil {
		return found, skipped, fmt.Errorf("read folder %q: %w", root, err)
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
