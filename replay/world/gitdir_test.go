package world

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWorkspaceIsACheckout: with Git, the workspace tar is a checkout git
// itself accepts: HEAD on the branch at the commit, a clean status, the
// last GitDepth commits of history with their trees (a diff against an
// ancestor works), the boundary shallow, and an edit shows as one.
func TestWorkspaceIsACheckout(t *testing.T) {
	dir := newRepo(t)
	var shas []string
	for i := 0; i < 14; i++ {
		shas = append(shas, commit(t, dir, fmt.Sprintf("2026-01-%02dT10:00:00Z", i+1), fmt.Sprintf("c%d", i),
			map[string]string{"README.md": fmt.Sprintf("v%d\n", i), "src/lib/a.go": "package lib\n", fmt.Sprintf("f%d.txt", i): "x\n"}))
	}
	os.Symlink("README.md", filepath.Join(dir, "link"))
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	head := commit(t, dir, "2026-01-20T10:00:00Z", "last", nil)
	w := newTestWorld(t, nil)
	remote, err := w.ParseRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	if _, err := w.WriteTar(context.Background(), remote, head, &tb, TarOptions{Prefix: "proj", Git: true, Branch: "feature/x"}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	untar := exec.Command("tar", "-x", "-C", out)
	untar.Stdin = &tb
	if b, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
	ws := filepath.Join(out, "proj")
	git := func(args ...string) string {
		t.Helper()
		return run(t, ws, args...)
	}
	if got := git("rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD %s, want %s", got, head)
	}
	if got := git("rev-parse", "--abbrev-ref", "HEAD"); got != "feature/x" {
		t.Errorf("branch %q", got)
	}
	if st := git("status", "--porcelain"); st != "" {
		t.Errorf("a fresh checkout is not clean:\n%s", st)
	}
	if n := len(strings.Split(git("log", "--format=%H"), "\n")); n != GitDepth {
		t.Errorf("log holds %d commits, want the last %d", n, GitDepth)
	}
	if d := git("diff", "--stat", "HEAD~3", "HEAD"); !strings.Contains(d, "README.md") {
		t.Errorf("diff against an ancestor: %q", d)
	}
	if s, err := os.ReadFile(filepath.Join(ws, ".git", "shallow")); err != nil || !strings.Contains(string(s), shas[len(shas)-GitDepth+1]) {
		t.Errorf("shallow = %q, %v; want the 10th commit back as the boundary", s, err)
	}
	if fsck := exec.Command("git", "fsck", "--no-dangling"); true {
		fsck.Dir, fsck.Env = ws, gitEnv("")
		if b, err := fsck.CombinedOutput(); err != nil {
			t.Errorf("git fsck: %v\n%s", err, b)
		}
	}
	os.WriteFile(filepath.Join(ws, "README.md"), []byte("edited\n"), 0o644)
	if st := git("status", "--porcelain"); st != "M README.md" {
		t.Errorf("after an edit: %q", st)
	}
}
