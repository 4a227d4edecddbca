package world

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// TestBadWorldInputErrors: a search window with no candidate commit, a
// repository without the recorded branch, a shallow clone missing the
// recorded commit: each error names what is missing and what to pass.
func TestBadWorldInputErrors(t *testing.T) {
	r := newSearchRepo(t)
	shallow := t.TempDir() + "/shallow"
	run(t, t.TempDir(), "clone", "-q", "--depth", "1", "file://"+r.dir, shallow)

	early := r.target()
	early.At = r.at.Add(-20 * 24 * time.Hour) // the window (±7 days) holds no commit
	branch := r.target()
	branch.Refs["branch"] = trace.Ref{Value: "feature/gone", Provenance: trace.Recorded}
	recorded := r.target()
	recorded.Refs["commit"] = trace.Ref{Value: r.before, Provenance: trace.Recorded}
	tests := []struct {
		name   string
		target Target
		repo   string
		is     error
		want   []string
	}{
		{"no candidate in the window", early, r.dir, ErrNoCommit, []string{
			"no commit of any branch or tag falls within the search window (2026-02-11T12:00:00Z to 2026-02-25T12:00:00Z)",
			"--commit-window DURATION widens it", "--commit-search all", "pass --commit SHA"}},
		{"no such branch", branch, r.dir, ErrCommitNotFound, []string{
			`find branch "feature/gone"`, "the repository has no branch of that name", "pass --commit", "--repo"}},
		{"shallow clone without the commit", recorded, shallow, ErrCommitNotFound, []string{
			"is a shallow clone", "fetch --unshallow", "pass --repo with the full repository"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTestWorld(t, nil).Fetch(context.Background(), tt.target, FetchOptions{Repo: tt.repo})
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// The shallow clone's tip is there: a trace that needs only it works.
	if _, err := newTestWorld(t, nil).Fetch(context.Background(), r.target(), FetchOptions{Repo: shallow}); err != nil {
		t.Errorf("shallow clone, tip only: %v", err)
	}
}
