package world

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// PinnedBranch is the branch a bundle written by WriteBundle holds.
const PinnedBranch = "replay/pinned"

// WriteBundle writes a git bundle (v2) that holds commit sha of the
// resolution's repository with the last GitDepth commits of its history
// (fewer where the cache holds fewer), on the branch PinnedBranch: what a
// replay of the trace needs, and nothing it would have to fetch. The
// bundle is a valid --repo source for replay; git itself reads it too
// when the history is shorter than the depth (otherwise its parents past
// the depth are missing, as in a shallow clone, and git refuses it).
func (w *World) WriteBundle(ctx context.Context, res *Resolution, out io.Writer) error {
	if res == nil || !isSHA(res.Commit) {
		return fmt.Errorf("write bundle: no resolved commit")
	}
	m := w.mirrorOf(res.Remote)
	return m.read(ctx, need{Commit: res.Commit}, func(g *gitRepo) error {
		hashes, err := bundleObjects(ctx, g, res.Commit)
		if err != nil {
			return err
		}
		bw := bufio.NewWriter(out)
		fmt.Fprintf(bw, "%s%s refs/heads/%s\n\n", bundleV2, res.Commit, PinnedBranch)
		if _, err := packfile.NewEncoder(bw, g.st, false).Encode(hashes, 10); err != nil {
			return fmt.Errorf("write bundle of %s: %w", short(res.Commit), err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write bundle of %s: %w", short(res.Commit), mapFSError(err))
		}
		return nil
	})
}

// bundleObjects lists the commits within GitDepth of sha (breadth first)
// with their trees and blobs, each once.
func bundleObjects(ctx context.Context, g *gitRepo, sha string) ([]plumbing.Hash, error) {
	c, err := g.commit(sha)
	if err != nil {
		return nil, fmt.Errorf("write bundle of %s: %w: %v", short(sha), ErrCorrupt, err)
	}
	seen := map[plumbing.Hash]bool{}
	var out []plumbing.Hash
	add := func(h plumbing.Hash) bool {
		if seen[h] {
			return false
		}
		seen[h] = true
		out = append(out, h)
		return true
	}
	var tree func(h plumbing.Hash) error
	tree = func(h plumbing.Hash) error {
		if !add(h) {
			return nil
		}
		t, err := object.GetTree(g.st, h)
		if err != nil {
			return fmt.Errorf("write bundle of %s: read tree %s: %w: %v", short(sha), h, ErrCorrupt, err)
		}
		for _, e := range t.Entries {
			switch e.Mode {
			case filemode.Dir:
				if err := tree(e.Hash); err != nil {
					return err
				}
			case filemode.Submodule:
			default:
				add(e.Hash)
			}
		}
		return ctx.Err()
	}
	level := []*object.Commit{c}
	for depth := 1; len(level) > 0; depth++ {
		var next []*object.Commit
		for _, cm := range level {
			if !add(cm.Hash) {
				continue
			}
			if err := tree(cm.TreeHash); err != nil {
				return nil, err
			}
			if depth >= GitDepth {
				continue
			}
			for _, p := range cm.ParentHashes {
				if seen[p] {
					continue
				}
				if pc, err := object.GetCommit(g.st, p); err == nil {
					next = append(next, pc)
				}
			}
		}
		level = next
	}
	return out, nil
}
