package world

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Remote kinds.
const (
	RemoteGitHub = "github" // owner/name on the GitHub host (https)
	RemoteURL    = "url"    // any other git URL: https, http, ssh, git
	RemotePath   = "path"   // a local repository (a directory, or file://)
	RemoteBundle = "bundle" // a git bundle file
)

// Remote is where a repository's objects come from.
type Remote struct {
	Kind string `json:"kind"`
	// URL is the fetch URL, or the absolute path of a local repository or
	// bundle.
	URL string `json:"url"`
	// Owner and Name are set when the repository is known by owner/name
	// (always for RemoteGitHub; for URLs when the path has two elements).
	Owner string `json:"owner,omitempty"`
	Name  string `json:"name,omitempty"`
}

// FullName is owner/name, or "" when unknown.
func (r Remote) FullName() string {
	if r.Owner == "" {
		return ""
	}
	return r.Owner + "/" + r.Name
}

// String is the remote as shown to users: its URL without credentials.
func (r Remote) String() string { return redact(r.URL) }

// key is the remote's directory name in the cache: readable, and unique
// per URL.
func (r Remote) key() string {
	sum := sha256.Sum256([]byte(r.Kind + "\x00" + r.URL))
	h := hex.EncodeToString(sum[:])[:12]
	base := r.FullName()
	if base == "" {
		base = filepath.Base(strings.TrimSuffix(strings.TrimSuffix(r.URL, "/"), ".git"))
	}
	base = unsafeKey.ReplaceAllString(base, "_")
	if len(base) > 60 {
		base = base[:60]
	}
	return base + "-" + h
}

var (
	unsafeKey = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
	ownerName = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})$`)
	scpLike   = regexp.MustCompile(`^([A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):([^/][^:]*)$`)
)

// ParseRepo reads a repository reference: owner/name (optionally with a
// #number, as in a work item), a GitHub or other git URL (https, http,
// ssh, git, scp-like user@host:path), file:// URL, or the path of a local
// repository or git bundle. A path that exists wins over owner/name.
func (w *World) ParseRepo(s string) (Remote, error) {
	return parseRepo(s, w.gh)
}

func parseRepo(s string, gh *ghHost) (Remote, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return Remote{}, fmt.Errorf("parse repository %q: %w", orig, ErrNoRepo)
	}
	if strings.ContainsRune(s, 0) {
		return Remote{}, fmt.Errorf("parse repository %q: contains a NUL byte", orig)
	}
	if strings.HasPrefix(s, "file://") {
		u, err := url.Parse(s)
		if err != nil || u.Path == "" {
			return Remote{}, fmt.Errorf("parse repository %q: bad file URL", orig)
		}
		return localRemote(u.Path, orig)
	}
	if _, err := os.Stat(s); err == nil && !strings.Contains(s, "://") {
		return localRemote(s, orig)
	}
	if i := strings.Index(s, "://"); i > 0 {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Remote{}, fmt.Errorf("parse repository %q: bad URL", orig)
		}
		switch u.Scheme {
		case "https", "http", "ssh", "git":
		default:
			return Remote{}, fmt.Errorf("parse repository %q: unsupported scheme %q (want https, http, ssh, git or file)", orig, u.Scheme)
		}
		r := Remote{Kind: RemoteURL, URL: s}
		r.Owner, r.Name = splitOwnerName(u.Path)
		if gh != nil && gh.owns(s) && r.Owner != "" {
			r.Kind = RemoteGitHub
		}
		return r, nil
	}
	if m := scpLike.FindStringSubmatch(s); m != nil && !strings.Contains(m[3], "#") {
		// user@host:owner/name(.git)
		u := "ssh://" + m[1] + m[2] + "/" + m[3]
		r := Remote{Kind: RemoteURL, URL: u}
		r.Owner, r.Name = splitOwnerName(m[3])
		return r, nil
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, ".git")
	if m := ownerName.FindStringSubmatch(s); m != nil && m[2] != "." && m[2] != ".." {
		if gh == nil {
			gh, _ = parseGitHubHost("")
		}
		return Remote{Kind: RemoteGitHub, URL: gh.repoURL(m[1], m[2]), Owner: m[1], Name: m[2]}, nil
	}
	return Remote{}, fmt.Errorf("parse repository %q: not owner/name, a git URL, or an existing path", orig)
}

func splitOwnerName(p string) (string, string) {
	p = strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return "", ""
	}
	o, n := parts[len(parts)-2], parts[len(parts)-1]
	if ownerName.MatchString(o + "/" + n) {
		return o, n
	}
	return "", ""
}

// localRemote is a local repository directory or bundle file.
func localRemote(p, orig string) (Remote, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return Remote{}, fmt.Errorf("parse repository %q: %w", orig, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return Remote{}, fmt.Errorf("parse repository %q: %w", orig, err)
	}
	if st.IsDir() {
		return Remote{Kind: RemotePath, URL: abs}, nil
	}
	if !st.Mode().IsRegular() {
		return Remote{}, fmt.Errorf("parse repository %q: neither a directory nor a regular file", orig)
	}
	if ok, err := isBundle(abs); err != nil {
		return Remote{}, fmt.Errorf("parse repository %q: %w", orig, err)
	} else if !ok {
		return Remote{}, fmt.Errorf("parse repository %q: a file that is not a git bundle", orig)
	}
	return Remote{Kind: RemoteBundle, URL: abs}, nil
}

func isBundle(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 64)).ReadString('\n')
	if err != nil {
		return false, nil
	}
	return line == bundleV2 || line == bundleV3, nil
}

// redact hides the password of a URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
