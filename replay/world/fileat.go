package world

import (
	"context"
	"fmt"
	"strings"
)

// FileAt reads file p of a repository (any source ParseRepo accepts:
// owner/name, a URL, a local repository or bundle) at rev (a commit, a
// branch or a tag), fetching into the cache as needed. It serves prompts
// kept in git and named owner/repo@ref:path.
func (w *World) FileAt(ctx context.Context, repo, rev, p string) ([]byte, error) {
	remote, err := w.ParseRepo(repo)
	if err != nil {
		return nil, err
	}
	m := w.mirrorOf(remote)
	sha := strings.ToLower(rev)
	if !isSHA(sha) {
		if sha, err = w.expandSHA(ctx, m, rev); err != nil {
			return nil, err
		}
	}
	var out []byte
	err = m.read(ctx, need{Commit: sha}, func(g *gitRepo) error {
		c, err := g.commit(sha)
		if err != nil {
			return fmt.Errorf("read %s@%s:%s: %w: %v", repo, rev, p, ErrCommitNotFound, err)
		}
		f, err := c.File(strings.TrimPrefix(p, "/"))
		if err != nil {
			return fmt.Errorf("read %s@%s:%s: %w: no such file at that commit", repo, rev, p, ErrNotFound)
		}
		s, err := f.Contents()
		if err != nil {
			return fmt.Errorf("read %s@%s:%s: %w", repo, rev, p, err)
		}
		out = []byte(s)
		return nil
	})
	return out, err
}
