package replay_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
)

const exampleRun = "../testdata/example/run"

var (
	execOnce sync.Once
	execPath string
	execErr  error
)

func executorBin(t testing.TB) string {
	t.Helper()
	execOnce.Do(func() {
		dir, err := os.MkdirTemp("", "replay-engine-test-")
		if err != nil {
			execErr = err
			return
		}
		execPath, execErr = sandboxtest.BuildExecutor(dir)
	})
	if execErr != nil {
		t.Fatal(execErr)
	}
	return execPath
}

func loadRun(t *testing.T, path string) *trace.Run {
	t.Helper()
	r, err := trace.Collect(func(e trace.Emitter) error {
		_, err := importers.Import(context.Background(), path, "", trace.Options{}, e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// exampleWorkspace checks the example PR's head out of the bundle with real
// git and tars it under prefix.
func exampleWorkspace(t *testing.T, prefix string) *bytes.Reader {
	t.Helper()
	dir := t.TempDir()
	bundle, _ := filepath.Abs("../testdata/example/widgets.bundle")
	for _, args := range [][]string{
		{"clone", "-q", bundle, dir},
		{"-C", dir, "checkout", "-q", "072bdd28f8409b602018042d087e7b7fa184dc79"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".git" || strings.HasPrefix(rel, ".git/") {
			if fi.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := filepath.ToSlash(filepath.Join(prefix, rel))
		h, _ := tar.FileInfoHeader(fi, "")
		h.Name = name
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			tw.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return bytes.NewReader(buf.Bytes())
}

func TestVerifyExample(t *testing.T) {
	cli := sandboxtest.Docker(t)
	sandboxtest.EnsureImage(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	orig := loadRun(t, exampleRun)
	sb, err := sandbox.New(ctx, cli, sandbox.Options{
		WorkDir:      "/sandbox/workspace",
		Cwd:          "/sandbox/workspace/widgets",
		Workspace:    exampleWorkspace(t, "widgets"),
		ExecutorPath: executorBin(t),
		ToolVersion:  "2.0.76",
		Labels:       sandboxtest.TestLabels(t, cli),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(context.Background())
	rep, err := replay.Run(ctx, orig, replay.Config{Mode: replay.ModeVerify, Workspace: sb})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Calls {
		t.Logf("%s %s %s %s %s %v", c.Run, c.Tool, c.Produced, c.Fidelity.Status, c.Fidelity.Reason, c.Fidelity.Normalizations)
		if c.Fidelity.Diff != "" {
			t.Logf("%s", c.Fidelity.Diff)
		}
	}
	if rep.Diverged() {
		t.Errorf("the example must replay with full fidelity")
	}
	if rep.Run.Outcome.Decision == nil {
		t.Errorf("no decision")
	}
}
