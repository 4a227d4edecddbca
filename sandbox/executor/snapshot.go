package executor

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// entry is what the snapshot remembers of a workspace entry.
type entry struct {
	mode  fs.FileMode
	size  int64
	mtime int64 // ns
	ino   uint64
	link  string
}

func entryOf(p string, fi fs.FileInfo) entry {
	e := entry{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.ino = st.Ino
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		e.link, _ = os.Readlink(p)
	}
	if fi.IsDir() {
		e.size, e.mtime = 0, 0 // a directory's own changes are its entries'
	}
	return e
}

// snapshot records every entry below root (metadata only: taking it costs a
// directory walk, not a read of every file).
func snapshot(root string) (map[string]entry, error) {
	snap := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable entries are not tracked
		}
		if p == root {
			return nil
		}
		if de.IsDir() && de.Name() == ".git" {
			return filepath.SkipDir // git's own bookkeeping (a refreshed index) is no change of the agent's
		}
		fi, err := de.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		snap[filepath.ToSlash(rel)] = entryOf(p, fi)
		return nil
	})
	return snap, err
}

// Changes lists what was added, modified or deleted in the workspace since
// init, sorted by path. A file counts as modified when its type, mode,
// size, modification time, inode or link target changed (so a file
// rewritten with identical bytes counts as touched). Directories are
// reported only when added or deleted.
func (s *Server) Changes() ([]Change, error) {
	now, err := snapshot(s.root)
	if err != nil {
		return nil, err
	}
	var out []Change
	for p, e := range now {
		old, ok := s.snap[p]
		switch {
		case !ok:
			out = append(out, Change{Path: p, Kind: Added, Mode: uint32(e.mode), Size: e.size, Link: e.link})
		case old != e && !(old.mode.IsDir() && e.mode.IsDir() && old.mode == e.mode):
			out = append(out, Change{Path: p, Kind: Modified, Mode: uint32(e.mode), Size: e.size, Link: e.link})
		}
	}
	for p, e := range s.snap {
		if _, ok := now[p]; !ok {
			out = append(out, Change{Path: p, Kind: Deleted, Mode: uint32(e.mode)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Tar writes a tar of the given workspace paths (relative or absolute
// inside the workspace; directories recursively) to w, names relative to
// the workspace root. Symlinks are stored as links, never followed. An
// empty list means the whole workspace.
func (s *Server) Tar(ctx context.Context, paths []string, w io.Writer) error {
	tw := tar.NewWriter(w)
	if len(paths) == 0 {
		paths = []string{"."}
	}
	seen := map[string]bool{}
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(s.cfg.Root, p)
		}
		p = filepath.Clean(p)
		if !within(s.cfg.Root, p) && !within(s.root, p) {
			return s.outside(p)
		}
		// Resolve the parent only: the entry itself may be a symlink to
		// store as such.
		_, realParent, err := s.resolve(filepath.Dir(p), s.cfg.Root)
		if err != nil {
			return err
		}
		real := filepath.Join(realParent, filepath.Base(p))
		if p == filepath.Clean(s.cfg.Root) {
			real = s.root
		}
		err = filepath.WalkDir(real, func(q string, de fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && q == real {
					return nil // deleted since: nothing to copy
				}
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rel := s.rel(q)
			if rel == "." || seen[rel] {
				return nil
			}
			seen[rel] = true
			fi, err := de.Info()
			if err != nil {
				return err
			}
			link := ""
			if fi.Mode()&fs.ModeSymlink != 0 {
				link, _ = os.Readlink(q)
			}
			hdr, err := tar.FileInfoHeader(fi, link)
			if err != nil {
				return fmt.Errorf("tar %q: %w", rel, err)
			}
			hdr.Name = rel
			if fi.IsDir() {
				hdr.Name += "/"
			}
			hdr.Uname, hdr.Gname = "", ""
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if fi.Mode().IsRegular() {
				f, err := os.Open(q)
				if err != nil {
					return err
				}
				_, err = io.CopyN(tw, f, hdr.Size)
				f.Close()
				if err != nil {
					return fmt.Errorf("tar %q: %w", rel, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
