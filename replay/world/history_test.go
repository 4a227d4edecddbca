package world

import (
	"context"
	"errors"
	"testing"
)

// TestFileHistory: the versions of a prompt between two tags, its first
// version included, commits that left it alone left out.
func TestFileHistory(t *testing.T) {
	requireGit(t)
	dir := newRepo(t)
	c1 := commit(t, dir, "2026-10-01T10:00:00Z", "prompt v1", map[string]string{"prompts/review.md": "v1\n", "README": "r"})
	run(t, dir, "tag", "v1")
	commit(t, dir, "2026-10-02T10:00:00Z", "docs only", map[string]string{"README": "r2"})
	c3 := commit(t, dir, "2026-10-03T10:00:00Z", "prompt: stricter\n\nbody", map[string]string{"prompts/review.md": "v2\n"})
	c4 := commit(t, dir, "2026-10-04T10:00:00Z", "prompt: examples", map[string]string{"prompts/review.md": "v3\n"})
	run(t, dir, "tag", "v2")
	commit(t, dir, "2026-10-05T10:00:00Z", "after the range", map[string]string{"prompts/review.md": "v4\n"})
	w := newTestWorld(t, nil)
	revs, err := w.FileHistory(context.Background(), dir, "v1", "v2", "prompts/review.md")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range revs {
		got = append(got, r.SHA)
	}
	if len(got) != 3 || got[0] != c1 || got[1] != c3 || got[2] != c4 || revs[1].Subject != "prompt: stricter" {
		t.Fatalf("history %+v, want %s %s %s", revs, c1, c3, c4)
	}
	if _, err := w.FileHistory(context.Background(), dir, "v1", "v2", "prompts/missing.md"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a file the base lacks: %v", err)
	}
}
