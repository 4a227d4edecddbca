package world

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// LocalGit is the git state of a working directory on this machine: what
// `replay record` keeps of the world an agent starts in.
type LocalGit struct {
	Root   string // the repository's top directory
	Remote string // URL of the remote "origin" (else of the first remote); "" when none
	Commit string // HEAD's commit SHA; "" in a repository without commits
	Branch string // HEAD's branch; "" when detached
	// Dirty is the working tree's change to HEAD as a unified diff (a/ and
	// b/ prefixes, paths from Root): modified, deleted and untracked files
	// (ignored ones left out). DirtyFiles names them, sorted.
	Dirty      string
	DirtyFiles []string
}

// ErrNotRepo is returned (wrapped) by Local for a directory outside any git
// repository.
var ErrNotRepo = errors.New("not inside a git repository")

// maxDirty bounds the dirty diff kept; past it the diff is cut with a note.
const maxDirty = 1 << 20

// Local reads the git state of the repository holding dir.
func Local(dir string) (*LocalGit, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("read git state of %q: %w", dir, ErrNotRepo)
	}
	if err != nil {
		return nil, fmt.Errorf("read git state of %q: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("read git state of %q: %w", dir, err)
	}
	lg := &LocalGit{Root: wt.Filesystem.Root()}
	if r, err := repo.Remote("origin"); err == nil && len(r.Config().URLs) > 0 {
		lg.Remote = r.Config().URLs[0]
	} else if rs, err := repo.Remotes(); err == nil {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Config().Name < rs[j].Config().Name })
		for _, r := range rs {
			if len(r.Config().URLs) > 0 {
				lg.Remote = r.Config().URLs[0]
				break
			}
		}
	}
	head, err := repo.Head()
	if err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, fmt.Errorf("read git state of %q: HEAD: %w", dir, err)
	}
	if head != nil {
		lg.Commit = head.Hash().String()
		if head.Name().IsBranch() {
			lg.Branch = head.Name().Short()
		}
	} else if ref, err := repo.Storer.Reference(plumbing.HEAD); err == nil && ref.Target().IsBranch() {
		lg.Branch = ref.Target().Short() // a branch without commits yet
	}
	status, err := wt.Status()
	if err != nil {
		return nil, fmt.Errorf("read git state of %q: status: %w", dir, err)
	}
	for path, s := range status {
		if s.Worktree == git.Unmodified && s.Staging == git.Unmodified {
			continue
		}
		lg.DirtyFiles = append(lg.DirtyFiles, path)
	}
	sort.Strings(lg.DirtyFiles)
	var b strings.Builder
	for _, path := range lg.DirtyFiles {
		if b.Len() > maxDirty {
			fmt.Fprintf(&b, "# … diff cut at %d KB\n", maxDirty>>10)
			break
		}
		var old []byte
		hadOld := false
		if head != nil {
			if c, err := repo.CommitObject(head.Hash()); err == nil {
				if f, err := c.File(path); err == nil {
					if s, err := f.Contents(); err == nil {
						old, hadOld = []byte(s), true
					}
				}
			}
		}
		cur, err := os.ReadFile(filepath.Join(lg.Root, filepath.FromSlash(path)))
		hasCur := err == nil
		if bytes.IndexByte(old, 0) >= 0 || bytes.IndexByte(cur, 0) >= 0 {
			fmt.Fprintf(&b, "Binary files a/%s and b/%s differ\n", path, path)
			continue
		}
		from, to := "a/"+path, "b/"+path
		if !hadOld {
			from = "/dev/null"
		}
		if !hasCur {
			to = "/dev/null"
		}
		if d := udiff.Unified(from, to, string(old), string(cur)); d != "" {
			fmt.Fprintf(&b, "diff --git a/%s b/%s\n%s", path, path, d)
		}
	}
	lg.Dirty = b.String()
	return lg, nil
}
