package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
	"github.com/docker/docker/api/types/image"
)

// TestGoInstallReplays is the README's Install line on a clean checkout:
// `go install ./cmd/replay` embeds no executor, yet the binary verifies
// the bundled example on a daemon without its sandbox image — it builds
// the image on first use and gets an executor the way it can: a cgo build
// (the default where gcc exists) builds one once with the Go toolchain and
// keeps it in the cache; a CGO_ENABLED=0 build serves as its own executor.
func TestGoInstallReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("builds replay twice: not in -short")
	}
	cli := sandboxtest.Docker(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		testutil.SkipUnlessCI(t, "no /bin/busybox to build the sandbox image from (apt-get install busybox-static): %v", err)
	}
	root := repoRoot(t)
	src := cleanCheckout(t, root)

	for _, tc := range []struct {
		name, cgo string
		want      string // the progress line that says how the executor was found
	}{
		{"cgo", "1", "sandbox: building the tool executor for linux/"},
		{"static", "0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gobin := t.TempDir()
			install := exec.Command("go", "install", "./cmd/replay")
			install.Dir = src
			install.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED="+tc.cgo, "GOFLAGS=-buildvcs=false")
			if out, err := install.CombinedOutput(); err != nil {
				t.Fatalf("go install: %v\n%s", err, out)
			}
			// A tag of replay's own image that no other test uses: missing
			// until this replay builds it.
			tag := "replay-sandbox:install-" + randHex(t)
			t.Cleanup(func() { cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true}) })

			home := t.TempDir()
			verify := func() string {
				cmd := exec.Command(filepath.Join(gobin, "replay"), "--home", home, "verify", "testdata/example/run",
					"--repo", "testdata/example/widgets.bundle", "--github-fixture", "testdata/example/github", "--image", tag)
				cmd.Dir = src
				// A PATH without the toolchain's directory would hide go;
				// the test keeps the user's PATH and its own cache.
				cmd.Env = append(os.Environ(), "REPLAY_CACHE="+filepath.Join(home, "cache"))
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					t.Fatalf("replay verify: %v\n%s", err, out.String())
				}
				return out.String()
			}
			out := verify()
			for _, want := range []string{
				"sandbox: building the sandbox image " + tag + " (first use",
				"fidelity: 6 of 6 re-executed calls match",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("first verify does not say %q:\n%s", want, out)
				}
			}
			built := strings.Contains(out, "sandbox: building the tool executor")
			if tc.want != "" && !built {
				t.Errorf("a cgo build embeds no executor and is not static: it should build one, saying so:\n%s", out)
			}
			if tc.want == "" && built {
				t.Errorf("a static build should serve as its own executor, not build one:\n%s", out)
			}
			// The second replay reuses both: no build of either.
			again := verify()
			if strings.Contains(again, "sandbox: building") || !strings.Contains(again, "6 of 6 re-executed calls match") {
				t.Errorf("second verify built something again or did not match:\n%s", again)
			}
		})
	}
}

// cleanCheckout copies the files git tracks (what a clone or the module
// zip holds: no embedded executor, no bin/) into a temporary directory.
func cleanCheckout(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): the install test copies the tracked files", err)
	}
	dst := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the working tree
			}
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "sandbox", "executorbin", "bin", "replay-executor-linux-amd64")); err == nil {
		t.Fatal("the clean checkout holds an embedded executor: the test would not test go install")
	}
	return dst
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(wd)) // cmd/replay
}

func randHex(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
