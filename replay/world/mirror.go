package world

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	gitcache "github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// mirror is the cache's bare copy of one remote. Readers hold its lock
// shared; fetches hold it exclusively. Its state file records the pack
// files as they were when last verified, the remote's default branch and
// when each branch was last fetched.
type mirror struct {
	w      *World
	remote Remote
	dir    string
	lockp  string
}

const stateFile = "replay-state.json"

type mirrorState struct {
	Version int                  `json:"version"`
	Remote  string               `json:"remote"`
	Packs   []packStamp          `json:"packs"`
	Head    string               `json:"head,omitempty"`    // default branch of the remote
	Fetched map[string]time.Time `json:"fetched,omitempty"` // branch -> last fetch
}

type packStamp struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"`
}

func (w *World) mirrorOf(r Remote) *mirror {
	k := r.key()
	return &mirror{w: w, remote: r, dir: w.cache.path("git", k+".git"), lockp: w.cache.path("git", k+".lock")}
}

func (m *mirror) network() bool {
	return m.remote.Kind == RemoteGitHub || m.remote.Kind == RemoteURL
}

// need is what a caller wants the mirror to hold.
type need struct {
	Commit string // a commit (and its tree)
	// Branch wants the branch's history as of At (fetched at or after At).
	Branch string
	At     time.Time
	// DefaultBranch wants the remote's default branch name (and, with At,
	// its history).
	DefaultBranch bool
	// Refspecs are fetched too when the commit is not on a branch or tag
	// (e.g. a GitHub pull request's head ref).
	Refspecs []string
	// AllRefs wants every branch and tag, with history, fetched at or
	// after At (a commit search, a --commit naming any branch).
	AllRefs bool
}

// gitRepo is an open mirror.
type gitRepo struct {
	dir   string
	st    *filesystem.Storage
	repo  *git.Repository
	state mirrorState
}

func (m *mirror) open() (*gitRepo, error) {
	st := filesystem.NewStorageWithOptions(m.w.wrapFS(osfs.New(m.dir)), gitcache.NewObjectLRU(1<<20),
		filesystem.Options{KeepDescriptors: true, LargeObjectThreshold: 1 << 20})
	repo, err := git.Open(st, nil)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("open mirror %s: %w", m.dir, err)
	}
	g := &gitRepo{dir: m.dir, st: st, repo: repo}
	if b, err := os.ReadFile(filepath.Join(m.dir, stateFile)); err == nil {
		json.Unmarshal(b, &g.state)
	}
	return g, nil
}

func (g *gitRepo) close() {
	if g != nil {
		g.st.Close()
	}
}

// newStorage opens another storage on the same mirror (one per reader
// goroutine: a storage is not safe for concurrent use).
func (g *gitRepo) newStorage() *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(g.dir), gitcache.NewObjectLRU(1<<20),
		filesystem.Options{KeepDescriptors: true, LargeObjectThreshold: 1 << 20})
}

func (g *gitRepo) commit(sha string) (*object.Commit, error) {
	return g.repo.CommitObject(plumbing.NewHash(sha))
}

func (g *gitRepo) hasCommit(sha string) bool {
	c, err := g.commit(sha)
	if err != nil {
		return false
	}
	_, err = g.st.EncodedObject(plumbing.TreeObject, c.TreeHash)
	return err == nil
}

// unreadable reports whether the commit (or its tree) is in the mirror's
// index but cannot be read: a damaged pack.
func (g *gitRepo) unreadable(sha string) bool {
	if sha == "" {
		return false
	}
	h := plumbing.NewHash(sha)
	if g.st.HasEncodedObject(h) != nil {
		return false
	}
	c, err := g.repo.CommitObject(h)
	if err != nil {
		return true
	}
	_, err = g.st.EncodedObject(plumbing.TreeObject, c.TreeHash)
	return err != nil && !errors.Is(err, plumbing.ErrObjectNotFound)
}

// satisfies reports whether the mirror holds what n asks for.
func (g *gitRepo) satisfies(n need) bool {
	if n.Commit != "" && !g.hasCommit(n.Commit) {
		return false
	}
	branch := n.Branch
	if n.DefaultBranch {
		if g.state.Head == "" {
			return false
		}
		if branch == "" {
			branch = g.state.Head
		}
	}
	if branch != "" {
		if _, err := g.repo.Reference(plumbing.NewBranchReferenceName(branch), true); err != nil {
			return false
		}
		if !n.At.IsZero() && g.state.Fetched[branch].Before(n.At) {
			return false
		}
	}
	if n.AllRefs {
		if at, ok := g.state.Fetched[allRefs]; !ok || at.Before(n.At) {
			return false
		}
	}
	return true
}

// allRefs is the key of state.Fetched for a fetch of every branch and tag.
const allRefs = "*"

// read runs fn on the mirror under a shared lock, after making sure (under
// an exclusive lock, fetching as needed) that it holds what n asks for.
func (m *mirror) read(ctx context.Context, n need, fn func(*gitRepo) error) error {
	for attempt := 0; ; attempt++ {
		l, err := m.w.cache.lock(ctx, m.lockp, false)
		if err != nil {
			return err
		}
		if g, ok := m.usable(n); ok {
			err := fn(g)
			g.close()
			l.unlock()
			if errors.Is(err, ErrCorrupt) {
				// Damage the quick check could not see (same size and time):
				// the next use verifies fully and fetches again.
				m.forgetState()
				var r *retryable
				if errors.As(err, &r) && attempt == 0 {
					continue
				}
				return fmt.Errorf("%w (the mirror is fetched again on the next run)", err)
			}
			return err
		}
		l.unlock()
		if attempt > 1 {
			return fmt.Errorf("read mirror %s: it keeps changing under us", m.dir)
		}
		if err := m.update(ctx, n); err != nil {
			return err
		}
	}
}

// retryable marks an error of a read that may be run again (it produced
// nothing yet).
type retryable struct{ error }

func (r *retryable) Unwrap() error { return r.error }

// usable opens the mirror when it exists, passes the quick integrity check
// and holds what n asks for.
func (m *mirror) usable(n need) (*gitRepo, bool) {
	if _, err := os.Stat(m.dir); err != nil {
		return nil, false
	}
	g, err := m.open()
	if err != nil {
		return nil, false
	}
	if !m.quickCheck(g.state) || !g.satisfies(n) {
		g.close()
		return nil, false
	}
	return g, true
}

func (m *mirror) forgetState() {
	l, err := m.w.cache.lock(context.Background(), m.lockp, true)
	if err != nil {
		return
	}
	defer l.unlock()
	os.Remove(filepath.Join(m.dir, stateFile))
}

// update fetches what n asks for, under the exclusive lock. A mirror that
// fails its integrity check is removed and fetched again.
func (m *mirror) update(ctx context.Context, n need) error {
	l, err := m.w.cache.lock(ctx, m.lockp, true)
	if err != nil {
		return err
	}
	defer l.unlock()
	if g := m.openChecked(); g != nil {
		if g.satisfies(n) {
			g.close()
			return nil
		}
		if g.unreadable(n.Commit) {
			g.close()
			m.w.logf("world: mirror %s is damaged (commit %s is there but cannot be read): fetching it again", m.dir, short(n.Commit))
			if err := removeDir(m.dir); err != nil {
				return fmt.Errorf("remove damaged mirror %s: %w", m.dir, err)
			}
			if m.w.cfg.Offline && m.network() {
				return m.offlineError(n)
			}
			return m.create(ctx, n)
		}
		defer g.close()
		if m.w.cfg.Offline && m.network() {
			return m.offlineError(n)
		}
		err := m.fetch(ctx, g, n)
		if serr := m.saveState(g); err == nil {
			err = serr
		}
		if err != nil {
			m.cleanup()
		}
		return err
	}
	if m.w.cfg.Offline && m.network() {
		return m.offlineError(n)
	}
	return m.create(ctx, n)
}

// openChecked opens the mirror for an update, after removing what an
// interrupted fetch left and checking its packs. It returns nil when there
// is no usable mirror (none yet, or a damaged one, which it removes).
func (m *mirror) openChecked() *gitRepo {
	if _, err := os.Stat(m.dir); err != nil {
		return nil
	}
	m.cleanup()
	g, err := m.open()
	if err == nil && !m.quickCheck(g.state) {
		if err = m.fullCheck(); err == nil {
			err = m.saveState(g) // intact: remember it
		} else {
			g.close()
		}
	}
	if err != nil {
		m.w.logf("world: mirror %s is damaged (%v): fetching it again", m.dir, err)
		removeDir(m.dir)
		return nil
	}
	return g
}

func (m *mirror) offlineError(n need) error {
	what := "its objects"
	switch {
	case n.Commit != "":
		what = "commit " + short(n.Commit)
	case n.Branch != "":
		what = "branch " + n.Branch + " as of " + n.At.UTC().Format(time.RFC3339)
	case n.DefaultBranch:
		what = "the default branch"
	}
	return fmt.Errorf("fetch %s from %q: %w: the cache does not hold %s; run replay world fetch without --offline first", what, m.remote, ErrOffline, what)
}

// create clones the remote into a temporary directory and renames it into
// place once complete.
func (m *mirror) create(ctx context.Context, n need) (err error) {
	parent := filepath.Dir(m.dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create mirror %s: %w", m.dir, err)
	}
	tmp := filepath.Join(parent, randomName("tmp-")+".git")
	defer func() {
		if err != nil {
			removeDir(tmp)
		}
	}()
	fs := m.w.wrapFS(osfs.New(tmp))
	st := filesystem.NewStorageWithOptions(fs, gitcache.NewObjectLRU(4<<20), filesystem.Options{KeepDescriptors: true})
	repo, err := git.Init(st, nil)
	if err != nil {
		st.Close()
		return fmt.Errorf("create mirror %s: %w", m.dir, mapFSError(err))
	}
	if m.remote.Kind != RemoteBundle {
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{m.remote.URL}}); err != nil {
			st.Close()
			return fmt.Errorf("create mirror %s: %w", m.dir, mapFSError(err))
		}
	}
	g := &gitRepo{dir: tmp, st: st, repo: repo, state: mirrorState{Version: 1, Remote: redact(m.remote.URL)}}
	err = m.fetch(ctx, g, n)
	if err == nil {
		err = m.saveStateAt(g, tmp)
	}
	g.close()
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, m.dir); err != nil {
		return fmt.Errorf("create mirror %s: %w", m.dir, err)
	}
	return nil
}

// fetch brings n's objects into g from the remote.
func (m *mirror) fetch(ctx context.Context, g *gitRepo, n need) error {
	switch m.remote.Kind {
	case RemoteBundle:
		return m.fetchBundle(ctx, g, n)
	}
	m.w.logf("world: fetching %s", m.remote)
	auth := m.auth()
	rem, err := g.repo.Remote("origin")
	if err != nil {
		if rem, err = g.repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{m.remote.URL}}); err != nil {
			return fmt.Errorf("fetch %q: %w", m.remote, mapFSError(err))
		}
	}
	// The default branch, from the remote's HEAD.
	if n.DefaultBranch || g.state.Head == "" {
		refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
		if err != nil {
			return m.fetchError(err)
		}
		for _, r := range refs {
			if r.Name() == plumbing.HEAD && r.Type() == plumbing.SymbolicReference && r.Target().IsBranch() {
				g.state.Head = r.Target().Short()
			}
		}
		if g.state.Head == "" && n.DefaultBranch {
			for _, b := range []string{"main", "master"} {
				for _, r := range refs {
					if r.Name() == plumbing.NewBranchReferenceName(b) && g.state.Head == "" {
						g.state.Head = b
					}
				}
			}
		}
		if g.state.Head != "" {
			g.st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(g.state.Head)))
		}
	}
	now := m.w.cfg.Now()
	branch := n.Branch
	if branch == "" && n.DefaultBranch {
		branch = g.state.Head
	}
	if branch != "" {
		spec := config.RefSpec("+refs/heads/" + branch + ":refs/heads/" + branch)
		err := rem.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{spec}, Auth: auth, Tags: git.NoTags, Force: true})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			if isMissingRef(err) {
				return m.branchMissing(branch)
			}
			return m.fetchError(err)
		}
		if g.state.Fetched == nil {
			g.state.Fetched = map[string]time.Time{}
		}
		g.state.Fetched[branch] = now
	}
	if n.AllRefs {
		specs := []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
		err := rem.FetchContext(ctx, &git.FetchOptions{RefSpecs: specs, Auth: auth, Tags: git.NoTags, Force: true})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return m.fetchError(err)
		}
		if g.state.Fetched == nil {
			g.state.Fetched = map[string]time.Time{}
		}
		g.state.Fetched[allRefs] = now
	}
	if n.Commit == "" || g.hasCommit(n.Commit) {
		return nil
	}
	// Only what is needed when the server allows it: the commit alone,
	// shallow. It gets no ref, so later fetches do not offer it as a base.
	tmpRef := "refs/replay/fetch/" + n.Commit
	spec := config.RefSpec(n.Commit + ":" + tmpRef)
	err = rem.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{spec}, Depth: 1, Auth: auth, Tags: git.NoTags})
	g.st.RemoveReference(plumbing.ReferenceName(tmpRef))
	switch {
	case err == nil || errors.Is(err, git.NoErrAlreadyUpToDate):
		if g.hasCommit(n.Commit) {
			return nil
		}
	case errors.Is(err, git.ErrExactSHA1NotSupported), isMissingRef(err):
	default:
		if fe := m.fetchError(err); !errors.Is(fe, ErrCommitNotFound) {
			return fe
		}
	}
	// Every branch and tag (and the extra refs, such as a pull request's
	// head), with history.
	specs := []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	for _, s := range n.Refspecs {
		specs = append(specs, config.RefSpec(s))
	}
	err = rem.FetchContext(ctx, &git.FetchOptions{RefSpecs: specs, Auth: auth, Tags: git.NoTags, Force: true})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if isMissingRef(err) && len(n.Refspecs) > 0 {
			err = rem.FetchContext(ctx, &git.FetchOptions{RefSpecs: specs[:2], Auth: auth, Tags: git.NoTags, Force: true})
		}
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return m.fetchError(err)
		}
	}
	if g.hasCommit(n.Commit) {
		return nil
	}
	return m.commitMissing(n.Commit)
}

func (m *mirror) commitMissing(sha string) error {
	if dir, ok := m.shallowSource(); ok {
		return fmt.Errorf("find commit %s in %q: %w: %s is a shallow clone, and its history stops before that commit: run git -C %s fetch --unshallow, or pass --repo with the full repository (its URL or owner/name), or --commit SHA for a commit it has", short(sha), m.remote, ErrCommitNotFound, dir, dir)
	}
	return fmt.Errorf("find commit %s in %q: %w: no branch or tag of the remote has it; it may have been force-pushed away or garbage-collected: pass --commit SHA to replay another commit (or --repo for another source)", short(sha), m.remote, ErrCommitNotFound)
}

func (m *mirror) auth() transport.AuthMethod {
	if m.w.cfg.GitHubToken != "" && m.w.gh.owns(m.remote.URL) {
		return &githttp.BasicAuth{Username: "x-access-token", Password: m.w.cfg.GitHubToken}
	}
	return nil
}

func isMissingRef(err error) bool {
	if err == nil {
		return false
	}
	var nf git.NoMatchingRefSpecError
	if errors.As(err, &nf) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "couldn't find remote ref") || strings.Contains(s, "not our ref") ||
		strings.Contains(s, "reference not found") || strings.Contains(s, "want") && strings.Contains(s, "not valid")
}

// fetchError turns a go-git fetch error into one of the package's errors.
func (m *mirror) fetchError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if fe := mapFSError(err); fe != err {
		return fmt.Errorf("fetch %q: %w", m.remote, fe)
	}
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		hint := "the remote wants credentials"
		if m.remote.Kind == RemoteGitHub || m.w.gh.owns(m.remote.URL) {
			hint = "set GITHUB_TOKEN to a token that can read the repository"
			if m.w.cfg.GitHubToken != "" {
				hint = "GITHUB_TOKEN was refused"
			}
		}
		return fmt.Errorf("fetch %q: %w: %s", m.remote, ErrAuth, hint)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("fetch %q: %w: the credentials were refused", m.remote, ErrAuth)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		hint := ""
		if m.remote.Kind == RemoteGitHub && m.w.cfg.GitHubToken == "" {
			hint = " (if it is private, set GITHUB_TOKEN)"
		}
		return fmt.Errorf("fetch %q: %w: no such repository%s", m.remote, ErrNotFound, hint)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("fetch %q: %w: the remote repository is empty", m.remote, ErrCommitNotFound)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) ||
		strings.Contains(err.Error(), "no such host") || strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("fetch %q: %w: %v", m.remote, ErrUnreachable, err)
	}
	if m.remote.Kind == RemotePath && strings.Contains(err.Error(), "executable file not found") {
		return fmt.Errorf("fetch %q: reading a local repository needs git's git-upload-pack on PATH: %w", m.remote, err)
	}
	return fmt.Errorf("fetch %q: %w", m.remote, err)
}

// mapFSError names a full disk plainly.
func mapFSError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("no space left on device: free some space (the cache is where $REPLAY_CACHE points): %w", err)
	}
	return err
}

// Bundles.

const (
	bundleV2 = "# v2 git bundle\n"
	bundleV3 = "# v3 git bundle\n"
)

// fetchBundle imports a git bundle file: its header lists refs (and
// prerequisites), then comes a pack.
func (m *mirror) fetchBundle(ctx context.Context, g *gitRepo, n need) error {
	f, err := os.Open(m.remote.URL)
	if err != nil {
		return fmt.Errorf("read bundle %q: %w", m.remote.URL, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	refs, head, err := readBundleHeader(br, m.remote.URL, g)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := packfile.UpdateObjectStorage(g.st, br); err != nil && !errors.Is(err, packfile.ErrEmptyPackfile) {
		if fe := mapFSError(err); fe != err {
			return fmt.Errorf("import bundle %q: %w", m.remote.URL, fe)
		}
		return fmt.Errorf("import bundle %q: %w: %v", m.remote.URL, ErrCorrupt, err)
	}
	for _, r := range refs {
		if err := g.st.SetReference(r); err != nil {
			return fmt.Errorf("import bundle %q: %w", m.remote.URL, mapFSError(err))
		}
	}
	if head == "" {
		for _, b := range []string{"main", "master"} {
			if slices.ContainsFunc(refs, func(r *plumbing.Reference) bool { return r.Name() == plumbing.NewBranchReferenceName(b) }) && head == "" {
				head = b
			}
		}
	}
	if head != "" {
		g.state.Head = head
		g.st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(head)))
	}
	// A bundle holds what it holds: its branches are complete as of now.
	if g.state.Fetched == nil {
		g.state.Fetched = map[string]time.Time{}
	}
	for _, r := range refs {
		if r.Name().IsBranch() {
			g.state.Fetched[r.Name().Short()] = m.w.cfg.Now()
		}
	}
	if n.Branch != "" {
		if _, err := g.repo.Reference(plumbing.NewBranchReferenceName(n.Branch), true); err != nil {
			return m.branchMissing(n.Branch)
		}
	}
	if n.Commit != "" && !g.hasCommit(n.Commit) {
		return m.commitMissing(n.Commit)
	}
	return nil
}

// readBundleHeader reads a v2 or v3 bundle header up to the blank line that
// precedes the pack.
func readBundleHeader(br *bufio.Reader, name string, g *gitRepo) (refs []*plumbing.Reference, head string, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("read bundle %s: %w: "+format, append([]any{name, ErrCorrupt}, args...)...)
	}
	sig, err := br.ReadString('\n')
	if err != nil || (sig != bundleV2 && sig != bundleV3) {
		return nil, "", bad("not a git bundle (want %q)", strings.TrimSpace(bundleV2))
	}
	var headHash string
	for lines := 0; ; lines++ {
		if lines > 1_000_000 {
			return nil, "", bad("header too long")
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, "", bad("header ends early")
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			// HEAD, when listed, points at a branch with the same hash.
			if headHash != "" {
				for _, r := range refs {
					if r.Name().IsBranch() && r.Hash().String() == headHash && head == "" {
						head = r.Name().Short()
					}
				}
			}
			return refs, head, nil
		case strings.HasPrefix(line, "@"): // v3 capability
			if line != "@object-format=sha1" {
				return nil, "", bad("unsupported capability %q (a sha1 bundle without a filter is needed)", line)
			}
		case strings.HasPrefix(line, "-"):
			h := strings.Fields(line[1:])
			if len(h) == 0 || !isSHA(h[0]) {
				return nil, "", bad("bad prerequisite line %q", line)
			}
			if g != nil && !g.hasCommit(h[0]) {
				return nil, "", fmt.Errorf("read bundle %s: it needs commit %s, which the cache does not have (an incremental bundle): make it with git bundle create FILE --all", name, short(h[0]))
			}
		default:
			h, ref, ok := strings.Cut(line, " ")
			if !ok || !isSHA(h) || ref == "" {
				return nil, "", bad("bad ref line %q", line)
			}
			if ref == "HEAD" {
				headHash = h
				continue
			}
			rn := plumbing.ReferenceName(ref)
			if !strings.HasPrefix(ref, "refs/") {
				rn = plumbing.NewBranchReferenceName(ref)
			}
			refs = append(refs, plumbing.NewHashReference(rn, plumbing.NewHash(h)))
		}
	}
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// Integrity.

func (m *mirror) packStamps(dir string) ([]packStamp, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "objects", "pack"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []packStamp
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".pack") && !strings.HasSuffix(e.Name(), ".idx") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, packStamp{Name: e.Name(), Size: info.Size(), MTime: info.ModTime().UnixNano()})
	}
	return out, nil
}

// quickCheck compares the pack files with the state recorded when they
// were last verified: same names, sizes and times.
func (m *mirror) quickCheck(st mirrorState) bool {
	if st.Version == 0 {
		return false
	}
	now, err := m.packStamps(m.dir)
	if err != nil {
		return false
	}
	return slices.Equal(now, st.Packs)
}

// fullCheck verifies every pack: an index beside it, the pack's trailing
// checksum matching its content and the index.
func (m *mirror) fullCheck() error {
	stamps, err := m.packStamps(m.dir)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, s := range stamps {
		names[s.Name] = true
	}
	for _, s := range stamps {
		base, ok := strings.CutSuffix(s.Name, ".pack")
		if !ok {
			continue
		}
		if !names[base+".idx"] {
			return fmt.Errorf("%w: %s has no index", ErrCorrupt, s.Name)
		}
		if err := verifyPack(filepath.Join(m.dir, "objects", "pack", base)); err != nil {
			return err
		}
	}
	return nil
}

// verifyPack checks a pack's SHA-1 trailer against its content and against
// the checksum its index records.
func verifyPack(base string) error {
	f, err := os.Open(base + ".pack")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < 32 {
		return fmt.Errorf("%w: %s is truncated", ErrCorrupt, filepath.Base(base)+".pack")
	}
	h := sha1.New()
	if _, err := io.CopyN(h, f, st.Size()-20); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, filepath.Base(base)+".pack", err)
	}
	trailer := make([]byte, 20)
	if _, err := io.ReadFull(f, trailer); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, filepath.Base(base)+".pack", err)
	}
	if !bytes.Equal(h.Sum(nil), trailer) {
		return fmt.Errorf("%w: %s does not match its checksum", ErrCorrupt, filepath.Base(base)+".pack")
	}
	idx, err := os.ReadFile(base + ".idx")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if len(idx) < 40 {
		return fmt.Errorf("%w: %s is truncated", ErrCorrupt, filepath.Base(base)+".idx")
	}
	ih := sha1.Sum(idx[:len(idx)-20])
	if !bytes.Equal(ih[:], idx[len(idx)-20:]) || !bytes.Equal(idx[len(idx)-40:len(idx)-20], trailer) {
		return fmt.Errorf("%w: %s does not match its pack", ErrCorrupt, filepath.Base(base)+".idx")
	}
	return nil
}

// cleanup removes what an interrupted fetch may have left: temporary packs
// and indexes without a pack.
func (m *mirror) cleanup() {
	dir := filepath.Join(m.dir, "objects", "pack")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, "tmp_"):
			os.Remove(filepath.Join(dir, n))
		case strings.HasSuffix(n, ".idx") && !have[strings.TrimSuffix(n, ".idx")+".pack"]:
			os.Remove(filepath.Join(dir, n))
		}
	}
}

func (m *mirror) saveState(g *gitRepo) error { return m.saveStateAt(g, m.dir) }

func (m *mirror) saveStateAt(g *gitRepo, dir string) error {
	stamps, err := m.packStamps(dir)
	if err != nil {
		return fmt.Errorf("record mirror state %s: %w", dir, err)
	}
	g.state.Version = 1
	g.state.Remote = redact(m.remote.URL)
	g.state.Packs = stamps
	b, err := json.MarshalIndent(g.state, "", "  ")
	if err != nil {
		return err
	}
	return m.w.cache.writeAtomic(filepath.Join(dir, stateFile), b)
}

// removeDir removes a directory tree, renaming it aside first so that no
// reader sees it half-removed.
func removeDir(dir string) error {
	aside := filepath.Join(filepath.Dir(dir), randomName("rm-"))
	if err := os.Rename(dir, aside); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(aside)
}

func (w *World) wrapFS(fs billy.Filesystem) billy.Filesystem {
	if w.cfg.wrapFS != nil {
		return w.cfg.wrapFS(fs)
	}
	return fs
}

// branchMissing says that the repository has no branch the trace named, and
// what to pass instead.
func (m *mirror) branchMissing(branch string) error {
	return fmt.Errorf("find branch %q in %q: %w: the repository has no branch of that name (deleted or renamed since the run?): pass --commit with a commit, branch or tag that holds the run's tree, or --repo with the repository that has the branch", branch, m.remote, ErrCommitNotFound)
}

// shallowSource reports whether the remote is a local shallow clone (its
// history cut off by git clone --depth), and its directory.
func (m *mirror) shallowSource() (string, bool) {
	if m.remote.Kind != RemotePath {
		return "", false
	}
	dir := strings.TrimPrefix(m.remote.URL, "file://")
	for _, p := range []string{filepath.Join(dir, ".git", "shallow"), filepath.Join(dir, "shallow")} {
		if _, err := os.Stat(p); err == nil {
			return dir, true
		}
	}
	return "", false
}

// shallowHint is the note an error about missing history adds when the
// remote is a shallow clone.
func (m *mirror) shallowHint() string {
	if dir, ok := m.shallowSource(); ok {
		return fmt.Sprintf(" (%s is a shallow clone: git -C %s fetch --unshallow gives its whole history)", dir, dir)
	}
	return ""
}
