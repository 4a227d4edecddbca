package world

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// TarOptions tune a workspace tar.
type TarOptions struct {
	// Prefix puts every name under this directory ("" puts them at the
	// root, which is what sandbox.Options.Workspace wants).
	Prefix string
	// Git adds a .git, so that the workspace is a checkout of the commit
	// (see gitDir), on Branch when given, else detached.
	Git    bool
	Branch string
}

// TarReport says what a workspace tar holds.
type TarReport struct {
	Commit   string `json:"commit"`
	Files    int    `json:"files"`
	Dirs     int    `json:"dirs"`
	Symlinks int    `json:"symlinks"`
	Bytes    int64  `json:"bytes"` // file content
	// Submodules are not materialized: each is an empty directory, as git
	// leaves an uninitialized submodule.
	Submodules []Submodule `json:"submodules,omitempty"`
	// Skipped lists tree entries left out because their names are unsafe
	// (".", "..", ".git", a slash or NUL inside).
	Skipped []string `json:"skipped,omitempty"`
}

// Submodule is a gitlink of the tree.
type Submodule struct {
	Path   string `json:"path"`
	Commit string `json:"commit"`
	URL    string `json:"url,omitempty"`
}

// WriteTar streams the tree of commit sha of remote's mirror to out as a
// tar stream: regular files with their mode (0644 or 0755), symlinks as
// symlinks (never followed), directories, and an empty directory for each
// submodule (reported, not materialized). Times are the commit's. The
// mirror is fetched first when it lacks the commit (unless offline).
//
// Memory stays bounded whatever the size of the tree: objects are read a
// few at a time, large ones streamed.
func (w *World) WriteTar(ctx context.Context, remote Remote, sha string, out io.Writer, opts TarOptions) (*TarReport, error) {
	if !isSHA(sha) {
		return nil, fmt.Errorf("materialize %q: not a full commit SHA", sha)
	}
	m := w.mirrorOf(remote)
	var rep *TarReport
	err := m.read(ctx, need{Commit: sha}, func(g *gitRepo) error {
		cw := &countWriter{w: out}
		var err error
		rep, err = w.writeTar(ctx, g, sha, cw, opts)
		if err != nil && cw.n == 0 {
			return &retryable{err}
		}
		return err
	})
	return rep, err
}

type tarItem struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
	res  chan tarResult
}

type tarResult struct {
	obj    plumbing.EncodedObject
	target string // symlinks
	err    error
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// outWriter remembers the error of the consumer, to tell it from a read
// error of the mirror.
type outWriter struct {
	w   io.Writer
	err error
}

func (o *outWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

func (w *World) writeTar(ctx context.Context, g *gitRepo, sha string, out io.Writer, opts TarOptions) (*TarReport, error) {
	c, err := g.commit(sha)
	if err != nil {
		return nil, fmt.Errorf("materialize %s: %w: %v", short(sha), ErrCorrupt, err)
	}
	root, err := object.GetTree(g.st, c.TreeHash)
	if err != nil {
		return nil, fmt.Errorf("materialize %s: read tree: %w: %v", short(sha), ErrCorrupt, err)
	}
	rep := &TarReport{Commit: sha}
	mtime := c.Committer.When.UTC()
	if mtime.IsZero() {
		mtime = time.Unix(0, 0)
	}
	prefix := strings.Trim(path.Clean("/"+opts.Prefix), "/")

	// Submodule URLs, from .gitmodules.
	urls := map[string]string{}
	if f, err := root.File(".gitmodules"); err == nil {
		if s, err := f.Contents(); err == nil {
			mods := config.NewModules()
			if mods.Unmarshal([]byte(s)) == nil {
				for _, sm := range mods.Submodules {
					urls[sm.Path] = sm.URL
				}
			}
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	workers := w.cfg.Workers
	order := make(chan *tarItem, 64*workers)
	jobs := make(chan *tarItem, 64*workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		st := g.newStorage()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer st.Close()
			for it := range jobs {
				it.res <- readBlob(st, it)
			}
		}()
	}
	walkErr := make(chan error, 1)
	walked := &TarReport{}
	go func() {
		defer close(order)
		defer close(jobs)
		walkErr <- walkTree(ctx, g.st, root, prefix, walked, order, jobs)
	}()
	defer func() {
		cancel()
		for range order {
		}
		wg.Wait()
	}()

	ow := &outWriter{w: out}
	tw := tar.NewWriter(ow)
	writeErr := func(err error) error {
		if ow.err != nil {
			return fmt.Errorf("materialize %s: write tar: %w", short(sha), mapFSError(ow.err))
		}
		return err
	}
	if prefix != "" {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: prefix + "/", Mode: 0o755, ModTime: mtime}); err != nil {
			return nil, writeErr(err)
		}
		rep.Dirs++
	}
	var entries []*index.Entry
	indexed := func(it *tarItem, size int64) {
		if opts.Git {
			rel := strings.TrimPrefix(strings.TrimPrefix(it.name, prefix), "/")
			entries = append(entries, &index.Entry{Name: rel, Hash: it.hash, Mode: it.mode, Size: uint32(size)})
		}
	}
	for it := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h := &tar.Header{Name: it.name, ModTime: mtime}
		if it.mode == filemode.Submodule {
			indexed(it, 0)
		}
		switch it.mode {
		case filemode.Dir, filemode.Submodule:
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, it.name+"/", 0o755
			if err := tw.WriteHeader(h); err != nil {
				return nil, writeErr(err)
			}
			continue
		}
		r := <-it.res
		if r.err != nil {
			return nil, fmt.Errorf("materialize %s: read %q: %w", short(sha), it.name, r.err)
		}
		if it.mode == filemode.Symlink {
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, r.target, 0o777
			if err := tw.WriteHeader(h); err != nil {
				return nil, writeErr(err)
			}
			indexed(it, int64(len(r.target)))
			rep.Symlinks++
			continue
		}
		h.Typeflag, h.Size, h.Mode = tar.TypeReg, r.obj.Size(), 0o644
		if it.mode == filemode.Executable {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, writeErr(err)
		}
		rd, err := r.obj.Reader()
		if err != nil {
			return nil, fmt.Errorf("materialize %s: read %q: %w: %v", short(sha), it.name, ErrCorrupt, err)
		}
		n, err := io.Copy(tw, rd)
		rd.Close()
		if err != nil || n != h.Size {
			if ow.err != nil {
				return nil, writeErr(err)
			}
			return nil, fmt.Errorf("materialize %s: read %q: %w: %v", short(sha), it.name, ErrCorrupt, err)
		}
		rep.Files++
		rep.Bytes += n
		indexed(it, n)
	}
	if err := <-walkErr; err != nil {
		return nil, err
	}
	rep.Dirs += walked.Dirs
	rep.Submodules, rep.Skipped = walked.Submodules, walked.Skipped
	if opts.Git {
		if err := gitDir(ctx, g.st, tw, prefix, c, opts.Branch, entries, mtime); err != nil {
			if ow.err != nil {
				return nil, writeErr(err)
			}
			return nil, fmt.Errorf("materialize %s: .git: %w", short(sha), err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, writeErr(err)
	}
	for i := range rep.Submodules {
		rel := strings.TrimPrefix(strings.TrimPrefix(rep.Submodules[i].Path, prefix), "/")
		rep.Submodules[i].Path = rel
		rep.Submodules[i].URL = urls[rel]
	}
	return rep, nil
}

func readBlob(st storer.EncodedObjectStorer, it *tarItem) tarResult {
	obj, err := st.EncodedObject(plumbing.BlobObject, it.hash)
	if err != nil {
		return tarResult{err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
	}
	if it.mode != filemode.Symlink {
		return tarResult{obj: obj}
	}
	if obj.Size() > 4096 {
		return tarResult{err: fmt.Errorf("%w: symlink target of %d bytes", ErrCorrupt, obj.Size())}
	}
	rd, err := obj.Reader()
	if err != nil {
		return tarResult{err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		return tarResult{err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
	}
	return tarResult{target: string(b)}
}

// walkTree sends the entries of t, depth first in tree order, to order
// (all of them) and jobs (those whose blob must be read).
func walkTree(ctx context.Context, st storer.EncodedObjectStorer, t *object.Tree, dir string, rep *TarReport, order, jobs chan<- *tarItem) error {
	seen := make(map[string]bool, len(t.Entries))
	for _, e := range t.Entries {
		name := path.Join(dir, e.Name)
		if !safeName(e.Name) || seen[e.Name] {
			raw := e.Name
			if dir != "" {
				raw = dir + "/" + raw
			}
			rep.Skipped = append(rep.Skipped, strings.ToValidUTF8(strings.ReplaceAll(raw, "\x00", "\\0"), "?"))
			continue
		}
		seen[e.Name] = true
		it := &tarItem{name: name, mode: e.Mode, hash: e.Hash}
		send := func(ch chan<- *tarItem) error {
			select {
			case ch <- it:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		switch e.Mode {
		case filemode.Dir:
			sub, err := object.GetTree(st, e.Hash)
			if err != nil {
				return fmt.Errorf("materialize: read tree %q: %w: %v", name, ErrCorrupt, err)
			}
			if err := send(order); err != nil {
				return err
			}
			rep.Dirs++
			if err := walkTree(ctx, st, sub, name, rep, order, jobs); err != nil {
				return err
			}
		case filemode.Submodule:
			rep.Submodules = append(rep.Submodules, Submodule{Path: name, Commit: e.Hash.String()})
			rep.Dirs++
			if err := send(order); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Deprecated, filemode.Symlink:
			if e.Mode == filemode.Deprecated {
				it.mode = filemode.Regular
			}
			it.res = make(chan tarResult, 1)
			if err := send(order); err != nil {
				return err
			}
			if err := send(jobs); err != nil {
				return err
			}
		default:
			rep.Skipped = append(rep.Skipped, name)
		}
	}
	return nil
}

// safeName reports whether a tree entry name may be written: not empty,
// not . or .., no slash or NUL, and not .git (any case).
func safeName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00") && !strings.EqualFold(n, ".git")
}
