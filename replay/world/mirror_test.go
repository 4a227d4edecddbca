package world

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/testutil"

	"github.com/google/go-cmp/cmp"
)

// served is a repository with history, served over loopback HTTP by git
// http-backend.
type served struct {
	work   string   // working repository
	bare   string   // what the server serves
	url    string   // http URL of the bare repository
	shas   []string // commits of main, oldest first
	files  []map[string]string
	reqs   *atomic.Int64 // requests the server answered
	server *http.Server
}

func serveRepo(t *testing.T, commits int, mod func(h http.Handler) http.Handler) *served {
	t.Helper()
	s := &served{work: newRepo(t), reqs: &atomic.Int64{}}
	files := map[string]string{}
	for i := 0; i < commits; i++ {
		files[fmt.Sprintf("f%d.txt", i)] = fmt.Sprintf("file %d\n", i)
		files["README.md"] = fmt.Sprintf("version %d\n", i)
		snap := map[string]string{}
		for k, v := range files {
			snap[k] = v
		}
		s.files = append(s.files, snap)
		s.shas = append(s.shas, commit(t, s.work, fmt.Sprintf("2025-01-%02dT10:00:00Z", i+1), fmt.Sprintf("c%d", i), files))
	}
	root := t.TempDir()
	s.bare = bareClone(t, s.work, root, "acme/widgets.git")
	var h http.Handler = gitHTTPHandler(t, root)
	if mod != nil {
		h = mod(h)
	}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.reqs.Add(1)
		h.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.server = &http.Server{Handler: counted}
	go s.server.Serve(ln)
	t.Cleanup(func() { s.server.Close() })
	s.url = "http://" + ln.Addr().String() + "/acme/widgets.git"
	return s
}

// tarFiles reads a workspace tar into name -> content (files only).
func tarFiles(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range readTar(t, bytes.NewReader(b)) {
		if e.Type == '0' {
			out[e.Name] = e.Content
		}
	}
	return out
}

// TestFetchOverHTTP clones over loopback HTTP: a commit that is not a
// branch tip comes with the full fetch (the server does not allow fetching
// a commit by SHA); a second materialization uses the mirror alone.
func TestFetchOverHTTP(t *testing.T) {
	s := serveRepo(t, 3, nil)
	w := newTestWorld(t, nil)
	remote, err := w.ParseRepo(s.url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, sha := range []string{s.shas[1], s.shas[1], s.shas[2]} {
		before := s.reqs.Load()
		var buf bytes.Buffer
		if _, err := w.WriteTar(ctx, remote, sha, &buf, TarOptions{}); err != nil {
			t.Fatal(err)
		}
		want := s.files[1]
		if sha == s.shas[2] {
			want = s.files[2]
		}
		if got := tarFiles(t, buf.Bytes()); !cmp.Equal(got, want) {
			t.Errorf("tar of %s: %v, want %v", short(sha), got, want)
		}
		if i > 0 && s.reqs.Load() != before {
			t.Errorf("materialization %d went to the server (%d requests); the mirror has the commit", i, s.reqs.Load()-before)
		}
	}
}

// TestFetchSingleCommitShallow: when the server allows fetching a commit by
// SHA, only that commit is fetched, shallow (its parent is not in the
// mirror).
func TestFetchSingleCommitShallow(t *testing.T) {
	s := serveRepo(t, 3, nil)
	run(t, s.bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
	w := newTestWorld(t, nil)
	remote, _ := w.ParseRepo(s.url)
	var buf bytes.Buffer
	if _, err := w.WriteTar(context.Background(), remote, s.shas[1], &buf, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := tarFiles(t, buf.Bytes()); !cmp.Equal(got, s.files[1]) {
		t.Errorf("tar: %v", got)
	}
	m := w.mirrorOf(remote)
	shallow, err := os.ReadFile(filepath.Join(m.dir, "shallow"))
	if err != nil || strings.TrimSpace(string(shallow)) != s.shas[1] {
		t.Errorf("shallow file: %q, %v; want the one commit", shallow, err)
	}
	g, err := m.open()
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	if g.hasCommit(s.shas[0]) {
		t.Error("the parent commit was fetched too")
	}
}

// TestFetchOverGitDaemon clones over git:// from git daemon on loopback.
func TestFetchOverGitDaemon(t *testing.T) {
	repo := newRepo(t)
	sha := commit(t, repo, "2025-01-01T00:00:00Z", "one", map[string]string{"a.txt": "a\n"})
	root := t.TempDir()
	bareClone(t, repo, root, "r.git")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--base-path="+root, "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), root)
	cmd.Env = gitEnv("")
	if err := cmd.Start(); err != nil {
		testutil.SkipUnlessCI(t, "git daemon: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("git daemon did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := newTestWorld(t, nil)
	remote, err := w.ParseRepo(fmt.Sprintf("git://127.0.0.1:%d/r.git", port))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTar(context.Background(), remote, sha, &buf, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := tarFiles(t, buf.Bytes()); got["a.txt"] != "a\n" {
		t.Errorf("tar: %v", got)
	}
}

// TestFetchAuth: a server that wants credentials. Without a token the error
// says to set GITHUB_TOKEN; a wrong token is refused; the right one works.
// The token goes only to the GitHub host (here the test server, named by
// GITHUB_API_URL as a GitHub Enterprise host would be).
func TestFetchAuth(t *testing.T) {
	s := serveRepo(t, 1, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "x-access-token" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "auth", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	api := strings.TrimSuffix(s.url, "/acme/widgets.git") + "/api/v3/"
	for _, tc := range []struct {
		token, want string
		err         error
	}{
		{"", "set GITHUB_TOKEN", ErrAuth},
		{"wrong", "GITHUB_TOKEN was refused", ErrAuth},
		{"s3cret", "", nil},
	} {
		w := newTestWorld(t, func(c *Config) { c.GitHubToken, c.GitHubAPIURL = tc.token, api })
		remote, _ := w.ParseRepo("acme/widgets")
		if remote.URL != s.url || remote.Kind != RemoteGitHub {
			t.Fatalf("acme/widgets on the enterprise host: %+v, want %s", remote, s.url)
		}
		_, err := w.WriteTar(context.Background(), remote, s.shas[0], io.Discard, TarOptions{})
		if !errors.Is(err, tc.err) || (tc.want != "" && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("token %q: err = %v, want %v saying %q", tc.token, err, tc.err, tc.want)
		}
	}
	// Another host never gets the token.
	w := newTestWorld(t, func(c *Config) { c.GitHubToken = "s3cret" })
	remote, _ := w.ParseRepo(s.url)
	if a := w.mirrorOf(remote).auth(); a != nil {
		t.Errorf("the token would be sent to %s, which is not the GitHub host", s.url)
	}
}

// TestFetchMissing: an unknown repository, and a commit that was
// force-pushed away and garbage-collected.
func TestFetchMissing(t *testing.T) {
	s := serveRepo(t, 3, nil)
	w := newTestWorld(t, nil)
	ctx := context.Background()
	nope, _ := w.ParseRepo(strings.Replace(s.url, "widgets.git", "nothere.git", 1))
	if _, err := w.WriteTar(ctx, nope, s.shas[0], io.Discard, TarOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown repository: %v, want ErrNotFound", err)
	}
	// Force-push main back to its first commit, then gc the rest away.
	run(t, s.bare, "update-ref", "refs/heads/main", s.shas[0])
	run(t, s.bare, "reflog", "expire", "--expire=now", "--all")
	run(t, s.bare, "gc", "-q", "--prune=now")
	remote, _ := w.ParseRepo(s.url)
	_, err := w.WriteTar(ctx, remote, s.shas[2], io.Discard, TarOptions{})
	if !errors.Is(err, ErrCommitNotFound) || !strings.Contains(err.Error(), "force-pushed") || !strings.Contains(err.Error(), "--commit") {
		t.Errorf("force-pushed commit: %v, want ErrCommitNotFound suggesting --commit", err)
	}
	if _, err := w.WriteTar(ctx, remote, s.shas[0], io.Discard, TarOptions{}); err != nil {
		t.Errorf("the commit still there: %v", err)
	}
}

// TestOfflineNeedsCache: offline, a remote that is not cached fails
// clearly; once fetched, offline works.
func TestOfflineNeedsCache(t *testing.T) {
	s := serveRepo(t, 1, nil)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	off := newTestWorld(t, func(c *Config) { c.CacheDir, c.Offline = cacheDir, true })
	remote, _ := off.ParseRepo(s.url)
	_, err := off.WriteTar(context.Background(), remote, s.shas[0], io.Discard, TarOptions{})
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "without --offline") {
		t.Fatalf("err = %v, want ErrOffline", err)
	}
	on := newTestWorld(t, func(c *Config) { c.CacheDir = cacheDir })
	if _, err := on.WriteTar(context.Background(), remote, s.shas[0], io.Discard, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	s.server.Close()
	if _, err := off.WriteTar(context.Background(), remote, s.shas[0], io.Discard, TarOptions{}); err != nil {
		t.Fatalf("offline with the commit cached: %v", err)
	}
}

// TestCorruptedMirror damages the cached pack two ways: truncated (seen by
// the quick check) and bytes flipped with its size and time kept (seen only
// when an object is read, before anything was written). Both are fetched
// again and the workspace comes out right.
func TestCorruptedMirror(t *testing.T) {
	s := serveRepo(t, 2, nil)
	w := newTestWorld(t, nil)
	remote, _ := w.ParseRepo(s.url)
	ctx := context.Background()
	materialize := func() ([]byte, error) {
		var buf bytes.Buffer
		_, err := w.WriteTar(ctx, remote, s.shas[1], &buf, TarOptions{})
		return buf.Bytes(), err
	}
	good, err := materialize()
	if err != nil {
		t.Fatal(err)
	}
	pack := func() string {
		ps, _ := filepath.Glob(filepath.Join(w.mirrorOf(remote).dir, "objects", "pack", "*.pack"))
		if len(ps) != 1 {
			t.Fatalf("packs: %q", ps)
		}
		return ps[0]
	}
	for _, damage := range []struct {
		name string
		do   func(p string)
	}{
		{"truncated", func(p string) {
			info, _ := os.Stat(p)
			if err := os.Truncate(p, info.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"flipped, same size and time", func(p string) {
			info, _ := os.Stat(p)
			b, _ := os.ReadFile(p)
			for i := 12; i < len(b)-20; i += 16 {
				b[i] ^= 0x5a
			}
			os.WriteFile(p, b, 0o644)
			os.Chtimes(p, info.ModTime(), info.ModTime())
		}},
	} {
		damage.do(pack())
		before := s.reqs.Load()
		got, err := materialize()
		if err != nil || !bytes.Equal(got, good) {
			t.Fatalf("%s: %v", damage.name, err)
		}
		if s.reqs.Load() == before {
			t.Errorf("%s: the damaged mirror was not fetched again", damage.name)
		}
	}
}

// TestConcurrentMaterializations: eight replays materialize from one
// mirror at once, from an empty cache, four at each of two commits: one
// clone, no corruption, no deadlock.
func TestConcurrentMaterializations(t *testing.T) {
	s := serveRepo(t, 3, nil)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	outs := make([][]byte, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each its own World: as separate processes, they meet only
			// through the cache's files and locks.
			w, err := New(Config{CacheDir: cacheDir})
			if err != nil {
				errs[i] = err
				return
			}
			remote, _ := w.ParseRepo(s.url)
			var buf bytes.Buffer
			_, errs[i] = w.WriteTar(ctx, remote, s.shas[1+i%2], &buf, TarOptions{})
			outs[i] = buf.Bytes()
		}()
	}
	wg.Wait()
	for i := range 8 {
		if errs[i] != nil {
			t.Fatalf("materialization %d: %v", i, errs[i])
		}
		if got := tarFiles(t, outs[i]); !cmp.Equal(got, s.files[1+i%2]) {
			t.Errorf("materialization %d: %v", i, got)
		}
	}
	mirrors, _ := filepath.Glob(filepath.Join(cacheDir, "git", "*.git"))
	if len(mirrors) != 1 {
		t.Errorf("mirrors: %q, want one", mirrors)
	}
	if tmp, _ := filepath.Glob(filepath.Join(cacheDir, "git", "tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary mirrors left: %q", tmp)
	}
}
