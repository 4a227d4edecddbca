// Package sandboxtest holds the conformance suite every sandbox backend
// must pass (Run) and the helpers the Docker tests share: reaching the
// daemon (skipping without one, failing under CI=true), building the
// executor and the default image, and checking that no container is left
// behind.
package sandboxtest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/sandbox"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// LabelTest marks the containers of one test so that the leftover check
// ignores other tests running at the same time.
const LabelTest = "io.replay.test"

// Docker returns a client for the daemon named by the environment. Without
// a reachable daemon the test is skipped, except under CI=true, where it
// fails: CI must run these tests.
func Docker(tb testing.TB) *client.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cli, err := sandbox.NewClient(ctx, sandbox.ClientOptionsFromEnv(os.Getenv))
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("docker is required under CI=true: %v", err)
		}
		tb.Skipf("skipping: no Docker daemon (%v)", err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// BuildExecutor builds the static executor into dir and returns its path.
// Call it once per test binary (from TestMain) and pass the path in
// Options.ExecutorPath.
func BuildExecutor(dir string) (string, error) {
	out := filepath.Join(dir, "replay-executor")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "github.com/agentreplay/replay/cmd/replay-executor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out: string(b), err: err}
	}
	return out, nil
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "build executor: " + e.err.Error() + "\n" + e.out }

// EnsureImage builds the default image when it is missing (BuildImage
// reuses an identical one). Without busybox-static the test fails under
// CI=true and is skipped otherwise.
func EnsureImage(tb testing.TB, cli *client.Client) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := sandbox.BuildImage(ctx, cli, sandbox.BuildOptions{}); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("build the sandbox image: %v", err)
		}
		tb.Skipf("skipping: cannot build the sandbox image: %v", err)
	}
}

// TestLabels returns labels unique to this test and registers a cleanup
// that fails the test if any container carrying them is left, then
// removes those leftovers so that one failure does not cascade.
func TestLabels(tb testing.TB, cli *client.Client) map[string]string {
	tb.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	id := hex.EncodeToString(b)
	labels := map[string]string{LabelTest: id}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		left := Leftovers(tb, cli, labels)
		if len(left) > 0 {
			tb.Errorf("containers left behind: %v", left)
			sandbox.Prune(ctx, cli, sandbox.PruneOptions{Labels: labels, All: true})
		}
	})
	return labels
}

// Leftovers lists the names of the project's containers carrying labels.
func Leftovers(tb testing.TB, cli *client.Client, labels map[string]string) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", sandbox.LabelManaged+"=true"))
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		tb.Fatalf("list containers: %v", err)
	}
	var names []string
	for _, c := range list {
		names = append(names, strings.Join(c.Names, ","))
	}
	sort.Strings(names)
	return names
}

// File is one entry of a workspace tar built by Tar.
type File struct {
	Name string
	Body string
	Mode int64  // default 0644 (0755 for directories)
	Link string // symlink target: makes a symlink
	Dir  bool
}

// Tar builds a workspace tar stream from files.
func Tar(tb testing.TB, files ...File) *bytes.Reader {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: f.Mode, ModTime: time.Unix(1700000000, 0)}
		switch {
		case f.Dir:
			h.Typeflag = tar.TypeDir
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Body))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(f.Body))
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return bytes.NewReader(buf.Bytes())
}
