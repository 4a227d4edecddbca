package world

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Revision is one version of a file in git.
type Revision struct {
	SHA     string    `json:"sha"`
	When    time.Time `json:"when"`
	Subject string    `json:"subject"`
}

// FileHistory lists the versions of file p between from and to (git's
// from..to, with from itself first): from, then every commit reachable
// from to and not from from that changed p (its content differs from its
// first parent's), oldest first. It serves replay compare --prompt-refs:
// each version a variant.
func (w *World) FileHistory(ctx context.Context, repo, from, to, p string) ([]Revision, error) {
	remote, err := w.ParseRepo(repo)
	if err != nil {
		return nil, err
	}
	m := w.mirrorOf(remote)
	p = strings.TrimPrefix(p, "/")
	resolve := func(rev string) (string, error) {
		sha := strings.ToLower(rev)
		if isSHA(sha) {
			return sha, nil
		}
		return w.expandSHA(ctx, m, rev)
	}
	fromSHA, err := resolve(from)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %s: %w", p, from, err)
	}
	toSHA, err := resolve(to)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %s: %w", p, to, err)
	}
	var out []Revision
	err = m.read(ctx, need{Commit: toSHA}, func(g *gitRepo) error {
		out = nil
		base, err := g.commit(fromSHA)
		if err != nil {
			return fmt.Errorf("history of %s: %s: %w: %v", p, from, ErrCommitNotFound, err)
		}
		if _, err := base.File(p); err != nil {
			return fmt.Errorf("history of %s: %w: no such file at %s", p, ErrNotFound, from)
		}
		// Everything reachable from from is outside the range.
		seen := map[plumbing.Hash]bool{}
		stack := []*object.Commit{base}
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[c.Hash] {
				continue
			}
			seen[c.Hash] = true
			for _, ph := range c.ParentHashes {
				if pc, err := object.GetCommit(g.st, ph); err == nil && !seen[ph] {
					stack = append(stack, pc)
				}
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		head, err := g.commit(toSHA)
		if err != nil {
			return fmt.Errorf("history of %s: %s: %w: %v", p, to, ErrCommitNotFound, err)
		}
		blob := func(c *object.Commit) plumbing.Hash {
			if f, err := c.File(p); err == nil {
				return f.Hash
			}
			return plumbing.ZeroHash
		}
		var changed []Revision
		visited := map[plumbing.Hash]bool{}
		stack = []*object.Commit{head}
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[c.Hash] || visited[c.Hash] {
				continue
			}
			visited[c.Hash] = true
			var parent *object.Commit
			for i, ph := range c.ParentHashes {
				pc, err := object.GetCommit(g.st, ph)
				if err != nil {
					continue
				}
				if i == 0 {
					parent = pc
				}
				stack = append(stack, pc)
			}
			h := blob(c)
			if h != plumbing.ZeroHash && (parent == nil || blob(parent) != h) {
				subject, _, _ := strings.Cut(c.Message, "\n")
				changed = append(changed, Revision{SHA: c.Hash.String(), When: c.Committer.When.UTC(), Subject: subject})
			}
		}
		// Oldest first.
		for i := 1; i < len(changed); i++ {
			for j := i; j > 0 && changed[j].When.Before(changed[j-1].When); j-- {
				changed[j], changed[j-1] = changed[j-1], changed[j]
			}
		}
		subject, _, _ := strings.Cut(base.Message, "\n")
		out = append([]Revision{{SHA: base.Hash.String(), When: base.Committer.When.UTC(), Subject: subject}}, changed...)
		return nil
	})
	return out, err
}
