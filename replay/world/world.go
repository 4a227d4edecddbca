package world

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5"
)

// Errors callers can test with errors.Is.
var (
	// ErrOffline: something the replay needs is not in the cache and
	// Config.Offline forbids fetching it.
	ErrOffline = errors.New("not in the cache (offline)")
	// ErrCommitNotFound: the remote does not have the commit (force-pushed
	// away, garbage-collected, or the wrong repository).
	ErrCommitNotFound = errors.New("commit not found")
	// ErrUnreachable: the remote or the GitHub API could not be reached.
	ErrUnreachable = errors.New("remote unreachable")
	// ErrAuth: the remote or the GitHub API refused the credentials, or
	// wants some.
	ErrAuth = errors.New("authentication failed")
	// ErrNotFound: the repository, pull request or issue does not exist (or
	// is private and no token was given).
	ErrNotFound = errors.New("not found")
	// ErrCorrupt: a cache entry failed its integrity check. It is removed
	// (and re-fetched when online).
	ErrCorrupt = errors.New("corrupted cache entry")
	// ErrRateLimited: the GitHub API rate limit was hit and its reset is
	// further away than Config.MaxRateLimitWait.
	ErrRateLimited = errors.New("github rate limit exceeded")
	// ErrNoRepo: the trace names no repository and none was given.
	ErrNoRepo = errors.New("no repository")
	// ErrNoCommit: no commit is recorded and none could be inferred.
	ErrNoCommit = errors.New("no commit")
)

// DefaultAPIURL is GitHub's REST API.
const DefaultAPIURL = "https://api.github.com/"

// Config configures a World. The CLI fills it from flags and the
// environment (GITHUB_TOKEN, GITHUB_API_URL, REPLAY_CACHE); nothing here
// reads the environment.
type Config struct {
	// CacheDir is the cache root ($REPLAY_CACHE). Required.
	CacheDir string
	// GitHubToken authenticates GitHub API calls and https git fetches from
	// the GitHub host (never sent to other hosts).
	GitHubToken string
	// GitHubAPIURL is the REST API root (GITHUB_API_URL), e.g.
	// https://ghe.example.com/api/v3/ for GitHub Enterprise. Empty means
	// DefaultAPIURL. Its host also names the git host of owner/name repos.
	GitHubAPIURL string
	// Offline forbids network access: everything must come from the cache
	// (or from local repositories and fixture directories).
	Offline bool
	// HTTPClient is used for the GitHub API (nil: a client with a timeout).
	HTTPClient *http.Client
	// MaxRateLimitWait bounds how long a rate-limited GitHub call waits for
	// the limit to reset before failing with ErrRateLimited. Zero means 2
	// minutes.
	MaxRateLimitWait time.Duration
	// Log receives status lines (fetching, waiting for a rate limit). Nil
	// discards them.
	Log io.Writer
	// Now returns the current time (nil: time.Now).
	Now func() time.Time
	// Sleep waits for d or until ctx ends (nil: a timer). Tests replace it.
	Sleep func(ctxDone <-chan struct{}, d time.Duration) error
	// Workers is how many goroutines read objects while a workspace is
	// streamed (0: 2).
	Workers int

	// fs and wrapFS, when set, are what the cache writes through (tests
	// inject a full disk).
	fs     fileSystem
	wrapFS func(billy.Filesystem) billy.Filesystem
}

// World rebuilds what traces point to. It is safe for concurrent use, also
// by several processes sharing one cache directory.
type World struct {
	cfg   Config
	cache *cache
	gh    *ghHost
}

// New returns a World over cfg.
func New(cfg Config) (*World, error) {
	if cfg.CacheDir == "" {
		return nil, errors.New("open world cache: no cache directory given")
	}
	abs, err := filepath.Abs(cfg.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("open world cache %q: %w", cfg.CacheDir, err)
	}
	cfg.CacheDir = abs
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.MaxRateLimitWait == 0 {
		cfg.MaxRateLimitWait = 2 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.fs == nil {
		cfg.fs = osFS{}
	}
	gh, err := parseGitHubHost(cfg.GitHubAPIURL)
	if err != nil {
		return nil, err
	}
	return &World{cfg: cfg, cache: &cache{root: abs, fs: cfg.fs}, gh: gh}, nil
}

// CacheDir returns the cache root.
func (w *World) CacheDir() string { return w.cfg.CacheDir }

// DefaultCacheDir is where the cache lives when $REPLAY_CACHE is not set:
// replay/ under the user's cache directory (userCacheDir is
// os.UserCacheDir's result, passed in so that this package reads no
// environment).
func DefaultCacheDir(userCacheDir string) string {
	return filepath.Join(userCacheDir, "replay")
}

func (w *World) logf(format string, args ...any) {
	fmt.Fprintf(w.cfg.Log, format+"\n", args...)
}

func sleep(done <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-done:
		return errors.New("interrupted while waiting")
	}
}

// ghHost is the GitHub (or GitHub Enterprise) instance: its API root and
// the web host its repositories are cloned from.
type ghHost struct {
	api    *url.URL
	scheme string // of the git host
	host   string // git host, e.g. github.com
}

func parseGitHubHost(api string) (*ghHost, error) {
	if api == "" {
		api = DefaultAPIURL
	}
	u, err := url.Parse(api)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("github api url %q: want an http(s) URL such as %s or https://ghe.example.com/api/v3/", api, DefaultAPIURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	h := &ghHost{api: u, scheme: u.Scheme, host: u.Host}
	if strings.EqualFold(u.Host, "api.github.com") {
		h.host = "github.com"
	}
	return h, nil
}

// repoURL is the git URL of owner/name on this host.
func (h *ghHost) repoURL(owner, name string) string {
	return h.scheme + "://" + h.host + "/" + owner + "/" + name + ".git"
}

// owns reports whether a git URL is on this GitHub host (and may be sent
// the token).
func (h *ghHost) owns(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, h.host) && (u.Scheme == "https" || u.Scheme == "http")
}

// hostOf reports whether a URL (https, ssh, scp-like) names this host,
// whatever its scheme.
func (h *ghHost) hostOf(rawURL string) bool {
	if m := scpLike.FindStringSubmatch(rawURL); m != nil && !strings.Contains(rawURL, "://") {
		return strings.EqualFold(m[2], hostname(h.host))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Hostname(), hostname(h.host)) || strings.EqualFold(u.Host, h.host)
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// fileSystem is what the cache writes through: the operating system, or in
// tests one whose disk fills up.
type fileSystem interface {
	// Create creates a new file for writing (O_EXCL).
	Create(name string) (io.WriteCloser, error)
}

type osFS struct{}

func (osFS) Create(name string) (io.WriteCloser, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}
