package world

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWriteBundlePinsTheCommit: the bundle an eval suite carries rebuilds
// the same workspace in a world that has never seen the repository, and
// git itself reads it.
func TestWriteBundlePinsTheCommit(t *testing.T) {
	requireGit(t)
	ctx := context.Background()
	sum := summaryOf(t, exampleTrace)
	w := newTestWorld(t, func(c *Config) { c.Offline = true })
	res, err := w.Fetch(ctx, TargetOf(sum), FetchOptions{Repo: exampleBundle, GitHubFixture: exampleGitHub})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pinned.bundle")
	var buf bytes.Buffer
	if err := w.WriteBundle(ctx, res, &buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	fresh := newTestWorld(t, func(c *Config) { c.Offline = true })
	res2, err := fresh.Fetch(ctx, TargetOf(sum), FetchOptions{Repo: out, Commit: res.Commit, CommitSearch: SearchOff, GitHubFixture: exampleGitHub})
	if err != nil {
		t.Fatalf("fetch from the written bundle: %v", err)
	}
	if res2.Commit != res.Commit {
		t.Fatalf("commit %s from the written bundle, want %s", res2.Commit, res.Commit)
	}
	var a, b bytes.Buffer
	if _, err := w.Workspace(ctx, res, &a, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Workspace(ctx, res2, &b, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("the workspace from the written bundle (%d bytes) differs from the original's (%d bytes)", b.Len(), a.Len())
	}

	// git verifies and clones it (the example's history is within the depth).
	clone := filepath.Join(t.TempDir(), "clone")
	if outp, err := exec.Command("git", "clone", "-q", "-b", PinnedBranch, out, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone of the bundle: %v\n%s", err, outp)
	}
	head, err := exec.Command("git", "-C", clone, "rev-parse", "HEAD").Output()
	if err != nil || string(bytes.TrimSpace(head)) != res.Commit {
		t.Errorf("git clone's HEAD %q (%v), want %s", head, err, res.Commit)
	}
}
