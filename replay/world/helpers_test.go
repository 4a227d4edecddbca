package world

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/testutil"
)

// requireGit skips the test when git is not installed (CI installs it).
func requireGit(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("git is not installed; CI must install it")
		}
		tb.Skip("git is not installed")
	}
}

// gitEnv makes git deterministic and blind to the user's configuration.
func gitEnv(date string) []string {
	env := append(os.Environ(),
		"GIT_AUTHOR_NAME=Ada Dev", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Dev", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	if date != "" {
		env = append(env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	}
	return env
}

// run runs git in dir and returns its trimmed stdout.
func run(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	return runDated(tb, dir, "", args...)
}

func runDated(tb testing.TB, dir, date string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(date)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// newRepo makes a non-bare repository with branch main.
func newRepo(tb testing.TB) string {
	tb.Helper()
	requireGit(tb)
	dir := filepath.Join(tb.TempDir(), "repo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	run(tb, dir, "init", "-q", "-b", "main")
	return dir
}

// commit writes files (a nil-able map: "" content deletes nothing; use
// remove for that) and commits them at date, returning the new SHA.
func commit(tb testing.TB, dir, date, msg string, files map[string]string) string {
	tb.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	run(tb, dir, "add", "-A")
	runDated(tb, dir, date, "commit", "-q", "--allow-empty", "-m", msg)
	return run(tb, dir, "rev-parse", "HEAD")
}

// bareClone makes a bare copy of src under root/name (for a server).
func bareClone(tb testing.TB, src, root, name string) string {
	tb.Helper()
	dst := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		tb.Fatal(err)
	}
	run(tb, root, "clone", "-q", "--bare", src, dst)
	return dst
}

// gitHTTPHandler serves the bare repositories under root with git's own
// smart HTTP server, git http-backend, through net/http/cgi.
func gitHTTPHandler(tb testing.TB, root string) http.Handler {
	tb.Helper()
	requireGit(tb)
	execPath := run(tb, "", "--exec-path")
	backend := filepath.Join(execPath, "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		testutil.SkipUnlessCI(tb, "git http-backend not found: %v", err)
	}
	return &cgi.Handler{
		Path:   backend,
		Stderr: io.Discard,
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"},
	}
}

// gitHTTPServer is a loopback smart-HTTP git server over root.
func gitHTTPServer(tb testing.TB, root string) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(gitHTTPHandler(tb, root))
	tb.Cleanup(srv.Close)
	return srv
}

// newTestWorld is a World over a fresh cache.
func newTestWorld(tb testing.TB, mod func(*Config)) *World {
	tb.Helper()
	cfg := Config{CacheDir: filepath.Join(tb.TempDir(), "cache"), Now: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }}
	if mod != nil {
		mod(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// tarEntry is one entry of a tar stream, for comparisons.
type tarEntry struct {
	Name     string
	Type     byte
	Mode     int64
	Linkname string
	Content  string
}

func readTar(tb testing.TB, r io.Reader) []tarEntry {
	tb.Helper()
	tr := tar.NewReader(r)
	var out []tarEntry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("read tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatalf("read tar entry %q: %v", h.Name, err)
		}
		out = append(out, tarEntry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, Linkname: h.Linkname, Content: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// writeFileMode overwrites a cache file (which may be read-only).
func writeFileMode(p string, b []byte) error {
	os.Chmod(p, 0o644)
	return os.WriteFile(p, b, 0o644)
}
