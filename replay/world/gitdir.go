package world

import (
	"archive/tar"
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// GitDepth is how many commits of history the workspace's .git holds (the
// commit and its ancestors, with their trees): enough for a recorded `git
// log`, `git diff HEAD~1` or `git show`; older history is cut, as in a
// shallow clone (.git/shallow names the boundary).
const GitDepth = 10

// gitDir writes the .git of a workspace checked out at commit c: HEAD (on
// branch when known, else detached), the objects of the last GitDepth
// commits as loose objects (read-only), the shallow boundary, and an
// index of the checked-out files, so that `git status` in the sandbox is
// clean and `git diff`, `git log` give what they gave the agent.
func gitDir(ctx context.Context, st storer.EncodedObjectStorer, tw *tar.Writer, prefix string, c *object.Commit, branch string, files []*index.Entry, mtime time.Time) error {
	base := ".git"
	if prefix != "" {
		base = prefix + "/.git"
	}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: base + "/" + name + "/", Mode: 0o755, ModTime: mtime})
	}
	file := func(name string, mode int64, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: base + "/" + name, Mode: mode, Size: int64(len(b)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: base + "/", Mode: 0o755, ModTime: mtime}); err != nil {
		return err
	}
	for _, d := range []string{"objects", "refs", "refs/heads", "refs/tags", "info"} {
		if err := dir(d); err != nil {
			return err
		}
	}
	head := c.Hash.String() + "\n"
	if branch != "" && plumbing.NewBranchReferenceName(branch).Validate() == nil {
		head = "ref: refs/heads/" + branch + "\n"
		if strings.Contains(branch, "/") {
			parts := strings.Split(branch, "/")
			for i := 1; i < len(parts); i++ {
				if err := dir("refs/heads/" + strings.Join(parts[:i], "/")); err != nil {
					return err
				}
			}
		}
		if err := file("refs/heads/"+branch, 0o644, []byte(c.Hash.String()+"\n")); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, body string }{
		{"HEAD", head},
		{"config", "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = false\n"},
		{"description", "a workspace rebuilt by replay\n"},
		{"info/exclude", ""},
	} {
		if err := file(f.name, 0o644, []byte(f.body)); err != nil {
			return err
		}
	}

	// The commits within GitDepth, breadth first; the shallow boundary is
	// every included commit with a parent left out.
	written := map[plumbing.Hash]bool{}
	dirs := map[string]bool{}
	writeObj := func(h plumbing.Hash) error {
		if written[h] {
			return nil
		}
		written[h] = true
		o, err := st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return fmt.Errorf("read object %s: %w: %v", h, ErrCorrupt, err)
		}
		rd, err := o.Reader()
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
		fmt.Fprintf(zw, "%s %d\x00", o.Type(), o.Size())
		_, err = io.Copy(zw, rd)
		rd.Close()
		if err != nil {
			return err
		}
		zw.Close()
		s := h.String()
		if !dirs[s[:2]] {
			dirs[s[:2]] = true
			if err := dir("objects/" + s[:2]); err != nil {
				return err
			}
		}
		return file("objects/"+s[:2]+"/"+s[2:], 0o444, buf.Bytes())
	}
	var writeTree func(h plumbing.Hash) error
	writeTree = func(h plumbing.Hash) error {
		if written[h] {
			return nil
		}
		t, err := object.GetTree(st, h)
		if err != nil {
			return fmt.Errorf("read tree %s: %w: %v", h, ErrCorrupt, err)
		}
		if err := writeObj(h); err != nil {
			return err
		}
		for _, e := range t.Entries {
			switch {
			case e.Mode == filemode.Dir:
				if err := writeTree(e.Hash); err != nil {
					return err
				}
			case e.Mode == filemode.Submodule:
			default:
				if err := writeObj(e.Hash); err != nil {
					return err
				}
			}
		}
		return ctx.Err()
	}
	var shallow []string
	level := []*object.Commit{c}
	inSet := map[plumbing.Hash]bool{c.Hash: true}
	for depth := 1; len(level) > 0; depth++ {
		var next []*object.Commit
		for _, cm := range level {
			if err := writeObj(cm.Hash); err != nil {
				return err
			}
			if err := writeTree(cm.TreeHash); err != nil {
				return err
			}
			cut := false
			for _, p := range cm.ParentHashes {
				if inSet[p] {
					continue
				}
				pc, err := object.GetCommit(st, p)
				if depth >= GitDepth || err != nil { // past the depth, or not in the mirror (a shallow fetch)
					cut = true
					continue
				}
				inSet[p] = true
				next = append(next, pc)
			}
			if cut {
				shallow = append(shallow, cm.Hash.String())
			}
		}
		level = next
	}
	if len(shallow) > 0 {
		sort.Strings(shallow)
		if err := file("shallow", 0o644, []byte(strings.Join(shallow, "\n")+"\n")); err != nil {
			return err
		}
	}

	// The index: every checked-out file with its blob, no stat data (git
	// re-reads the files once and refreshes it).
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var ib bytes.Buffer
	if err := index.NewEncoder(&ib).Encode(&index.Index{Version: 2, Entries: files}); err != nil {
		return fmt.Errorf("write the index: %w", err)
	}
	return file("index", 0o644, ib.Bytes())
}
