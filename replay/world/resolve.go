package world

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-github/v93/github"

	"github.com/agentreplay/replay/replay/trace"
)

// Target is what a trace points to: its refs (with provenance) and when it
// started. TargetOf builds one from a trace's summary.
type Target struct {
	TraceID string
	Refs    map[string]trace.Ref
	// At is the run's start: the snapshot's time, and the time of commit
	// inference. Zero when the trace has none.
	At time.Time
	// Decision is the run's structured result; a head_sha in it is a
	// commit.
	Decision json.RawMessage
	// Reads are the whole files the agent read, as recorded: commit
	// search ranks commits by how many of them they reproduce.
	Reads []RecordedRead
}

// TargetOf returns the target of a trace from its summary (what `replay
// inspect` shows).
func TargetOf(s trace.Summary) Target {
	t := Target{TraceID: s.ID, Refs: map[string]trace.Ref{}, Decision: s.Decision}
	for k, v := range s.Refs {
		t.Refs[k] = v
	}
	if s.StartedAt != nil {
		t.At = s.StartedAt.UTC()
	}
	return t
}

// FetchOptions say what to override or add to what the trace records.
type FetchOptions struct {
	// Repo replaces the trace's repository as the source of git objects: a
	// URL, owner/name, a local repository or a git bundle (--repo).
	Repo string
	// RepoMap maps owner/name (any case) to a source, for traces of that
	// repository (--repo owner/name=SOURCE).
	RepoMap map[string]string
	// Commit replaces the commit (--commit): any revision git takes (a
	// SHA, short or full, a branch, a tag, HEAD).
	Commit string
	// CommitSearch is SearchOff, SearchWindow (the default) or SearchAll
	// (--commit-search); CommitWindow how far before and after the run's
	// start a window search looks (default DefaultCommitWindow).
	CommitSearch string
	CommitWindow time.Duration
	// GitHubFixture reads GitHub data from a directory of REST responses
	// instead of the API (--github-fixture).
	GitHubFixture string
}

// ResolutionVersion versions the resolution record.
const ResolutionVersion = 1

// Resolution is what Fetch resolved for a trace: every ref with its
// provenance (the trace's, plus what was inferred or given by flag), where
// the git objects come from, and the GitHub snapshot. Fetch keeps it in
// the cache under the trace's id: `replay inspect` shows its refs, and a
// later replay reuses it offline.
type Resolution struct {
	Version  int                  `json:"version"`
	TraceID  string               `json:"trace_id,omitempty"`
	At       time.Time            `json:"at,omitzero"`
	Refs     map[string]trace.Ref `json:"refs"`
	Remote   Remote               `json:"remote"`
	Commit   string               `json:"commit"`
	Snapshot string               `json:"snapshot,omitempty"` // manifest path, relative to the cache
	Warnings []string             `json:"warnings,omitempty"`
	// Search says how the commit was chosen and which recorded reads it
	// reproduces (nil in resolutions kept before commit search existed).
	Search     *CommitSearch `json:"commit_search,omitempty"`
	ResolvedAt time.Time     `json:"resolved_at"`
}

// Workspace streams the resolved commit's tree as a tar (see WriteTar).
func (w *World) Workspace(ctx context.Context, res *Resolution, out io.Writer, opts TarOptions) (*TarReport, error) {
	return w.WriteTar(ctx, res.Remote, res.Commit, out, opts)
}

// TarStream is a workspace tar being written by WorkspaceReader.
type TarStream struct {
	r    *io.PipeReader
	done chan struct{}
	rep  *TarReport
	err  error
}

// Read reads the tar; a failure of the materialization is its error.
func (s *TarStream) Read(p []byte) (int, error) { return s.r.Read(p) }

// Close stops the materialization if it is still running.
func (s *TarStream) Close() error {
	s.r.Close()
	<-s.done
	return nil
}

// Report waits for the end of the stream and returns what it held.
func (s *TarStream) Report() (*TarReport, error) {
	<-s.done
	return s.rep, s.err
}

// WorkspaceReader is Workspace as a reader, for sandbox.Options.Workspace:
// the tar is written by a goroutine into a pipe as the reader consumes it.
// Close it when done.
func (w *World) WorkspaceReader(ctx context.Context, res *Resolution, opts TarOptions) *TarStream {
	pr, pw := io.Pipe()
	s := &TarStream{r: pr, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.rep, s.err = w.Workspace(ctx, res, pw, opts)
		pw.CloseWithError(s.err)
	}()
	return s
}

// Snapshot returns the resolution's GitHub snapshot from the cache (nil
// when the run points to no pull request or issue).
func (w *World) Snapshot(res *Resolution) (*Snapshot, error) {
	if res.Snapshot == "" {
		return nil, nil
	}
	s, err := w.loadSnapshot(res.Snapshot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read github snapshot of trace %s: %w: run replay world fetch first", res.TraceID, ErrOffline)
	}
	return s, err
}

var (
	prURL    = regexp.MustCompile(`/pull/(\d+)`)
	issueURL = regexp.MustCompile(`/issues/(\d+)`)
	workItem = regexp.MustCompile(`^([^/#\s]+/[^/#\s]+)#(\d+)$`)
)

// number reads a PR or issue ref: "42", "#42", a URL, or owner/name#42.
func number(ref trace.Ref, urlRe *regexp.Regexp) (int, string) {
	v := strings.TrimSpace(ref.Value)
	if m := workItem.FindStringSubmatch(v); m != nil {
		n, _ := strconv.Atoi(m[2])
		return n, m[1]
	}
	if m := urlRe.FindStringSubmatch(v); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, ""
	}
	n, err := strconv.Atoi(strings.TrimPrefix(v, "#"))
	if err != nil || n <= 0 {
		return 0, ""
	}
	return n, ""
}

// Fetch resolves what the trace points to, fetches what is missing into the
// cache (the repository's objects for the commit, the GitHub snapshot as of
// the run's start), and records the resolution under the trace's id. With
// Config.Offline it uses only the cache, and fails with ErrOffline when
// something is missing.
func (w *World) Fetch(ctx context.Context, t Target, o FetchOptions) (*Resolution, error) {
	f := &fetch{w: w, t: t, o: o,
		res: &Resolution{Version: ResolutionVersion, TraceID: t.TraceID, At: t.At, Refs: map[string]trace.Ref{}, ResolvedAt: w.cfg.Now().UTC()}}
	for k, v := range t.Refs {
		f.res.Refs[k] = v
	}
	f.prev, _ = w.LoadResolution(t.TraceID)
	for _, step := range []func(context.Context) error{
		f.chooseRepo,     // by flag, by mapping, as resolved before, as recorded
		f.findWorkItem,   // the pull request or issue the run worked on
		f.openGitHub,     // a fixture directory, the API, or nothing offline
		f.loadGitHub,     // the snapshot from the cache, else its raw data
		f.chooseCommit,   // by flag, as recorded, or inferred
		f.searchCommit,   // checked against the recorded reads; searched when inferred and wanting
		f.readObjects,    // the objects, and the snapshot's git-derived parts
		f.keepSnapshot,   // the snapshot into the cache, its refs into the resolution
		f.keepResolution, // the resolution into the cache, for inspect and offline replays
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return f.res, nil
}

// fetch is one Fetch: what each step found, for the next.
type fetch struct {
	w    *World
	t    Target
	o    FetchOptions
	res  *Resolution
	prev *Resolution // what an earlier Fetch of the trace resolved

	remote               Remote
	logical, owner, name string // owner/name on the GitHub host, for its API
	m                    *mirror

	kind string // KindPR, KindIssue or ""
	num  int
	gh   ghSource

	snap    *Snapshot
	snapKey string
	prd     *prData
	isd     *issueData

	nd     need
	method string // how chooseCommit chose (Method*)
	noTip  error  // the branch had no commit before the run: only a search can choose
}

// chooseRepo picks the repository: by flag, by mapping, as resolved
// before, as recorded.
func (f *fetch) chooseRepo(context.Context) error {
	t, o, res := f.t, f.o, f.res
	recorded, logical, hasRepo := f.w.traceRepo(t.Refs)
	src, from := "", ""
	switch {
	case o.Repo != "":
		src, from = o.Repo, "--repo"
	case logical != "" && mapLookup(o.RepoMap, logical) != "":
		src, from = mapLookup(o.RepoMap, logical), "--repo "+logical+"=…"
	}
	prev := f.prev
	switch {
	case src != "":
		remote, err := parseRepo(src, f.w.gh)
		if err != nil {
			return err
		}
		f.remote = remote
		res.Refs["repo"] = trace.Ref{Value: remote.String(), Provenance: trace.Flag, From: from}
	case prev != nil && prev.Remote.URL != "" && (logical == "" || prev.Remote.FullName() == "" || strings.EqualFold(prev.Remote.FullName(), logical)):
		f.remote = prev.Remote
		if r, ok := prev.Refs["repo"]; ok {
			res.Refs["repo"] = r
		}
	case hasRepo:
		f.remote = recorded
		if _, ok := res.Refs["repo"]; !ok && logical != "" {
			res.Refs["repo"] = trace.Ref{Value: logical, Provenance: trace.Inferred, From: "work item, pull request or issue ref"}
		}
	default:
		return fmt.Errorf("resolve trace %s: %w: the trace names no repository; pass --repo", t.TraceID, ErrNoRepo)
	}
	if logical == "" && f.remote.Kind == RemoteGitHub {
		logical = f.remote.FullName()
	}
	f.logical = logical
	f.owner, f.name, _ = strings.Cut(logical, "/")
	f.m = f.w.mirrorOf(f.remote)
	return nil
}

// findWorkItem reads the pull request or issue from the refs (a work item
// is resolved to one or the other once GitHub is open).
func (f *fetch) findWorkItem(context.Context) error {
	if r, ok := f.t.Refs["pr"]; ok {
		if n, _ := number(r, prURL); n > 0 {
			f.kind, f.num = KindPR, n
		}
	}
	if f.kind == "" {
		if r, ok := f.t.Refs["issue"]; ok {
			if n, _ := number(r, issueURL); n > 0 {
				f.kind, f.num = KindIssue, n
			}
		}
	}
	return nil
}

// openGitHub picks where GitHub data comes from: a fixture directory, the
// API, or nowhere (offline, or the repository is not on GitHub).
func (f *fetch) openGitHub(ctx context.Context) error {
	switch {
	case f.o.GitHubFixture != "":
		if _, err := os.Stat(f.o.GitHubFixture); err != nil {
			return fmt.Errorf("read github fixture %q: %w", f.o.GitHubFixture, err)
		}
		abs, _ := filepath.Abs(f.o.GitHubFixture)
		f.gh = dirSource{dir: abs}
	case f.owner != "" && !f.w.cfg.Offline:
		gh, err := f.w.apiSource()
		if err != nil {
			return err
		}
		f.gh = gh
	}
	workItemNum := 0
	if r, ok := f.t.Refs["work_item"]; ok {
		workItemNum, _ = number(r, prURL)
	}
	if f.kind == "" && workItemNum > 0 && f.owner != "" {
		// A work item is an issue or a pull request: the cache or GitHub
		// says which.
		f.kind, f.num = f.w.workItemKind(ctx, f.gh, f.owner, f.name, workItemNum, f.t.At)
	}
	if f.kind != "" && f.owner == "" {
		f.res.Warnings = append(f.res.Warnings, fmt.Sprintf("%s #%d: the repository is not on GitHub (%s), so there is no snapshot of it", kindName(f.kind), f.num, f.remote))
	}
	return nil
}

// loadGitHub takes the snapshot from the cache, else fetches its raw data.
func (f *fetch) loadGitHub(ctx context.Context) error {
	if f.kind == "" || f.owner == "" {
		return nil
	}
	f.snapKey = f.w.snapshotKey(f.kind, f.owner, f.name, f.num, f.t.At)
	if f.o.GitHubFixture == "" {
		snap, err := f.w.loadSnapshot(f.snapKey)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			f.w.logf("world: %v: fetching it again", err)
		}
		f.snap = snap
	}
	if f.snap != nil {
		return nil
	}
	if f.gh == nil {
		return fmt.Errorf("fetch github %s %s#%d: %w: the cache has no snapshot of it as of %s; run replay world fetch without --offline first (or pass --github-fixture DIR)",
			kindName(f.kind), f.logical, f.num, ErrOffline, asOfText(f.t.At))
	}
	f.w.logf("world: fetching %s %s#%d from %s", kindName(f.kind), f.logical, f.num, f.gh.name())
	var err error
	switch f.kind {
	case KindPR:
		f.prd, err = fetchPR(ctx, f.gh, f.owner, f.name, f.num)
	case KindIssue:
		f.isd, err = fetchIssue(ctx, f.gh, f.owner, f.name, f.num)
	}
	return err
}

// commitInputs are what the commit is chosen from.
type commitInputs struct {
	Flag     string // --commit
	Recorded string // the trace's commit ref
	// Base is the trace's recorded base commit when it records no commit
	// (a benchmark run starts at its instance's base commit).
	Base    string
	HeadSHA string // head_sha of the agent's result
	Kind    string // the work item: KindPR, KindIssue or ""
	Num     int
	// PRKnown says the pull request's data is at hand (a snapshot or
	// GitHub's answer); PRHead is its head as of the run's start ("" when
	// no commit of it predates the run), PRHeadFrom where that came from.
	PRKnown            bool
	PRHead, PRHeadFrom string
	Branch             string // the recorded branch
	At                 time.Time
	Logical            string // owner/name, for messages
}

// commitChoice is the commit chosen, or the branch whose tip as of the
// run's start is the commit.
type commitChoice struct {
	Rev string // a SHA or revision; "" when TipOf says which branch's tip
	// TipOf asks for the tip of a branch as of the run's start; "" with
	// Tip set is the default branch.
	Tip   bool
	TipOf string
	// Ref is the commit ref to record (nil keeps the trace's own).
	Ref *trace.Ref
}

// chooseCommitFrom is the rule for the commit, in order: --commit, the
// recorded commit, the result's head_sha, the pull request's head as of
// the run's start, the tip of the recorded branch (else the default
// branch) as of the run's start.
func chooseCommitFrom(in commitInputs) (commitChoice, error) {
	switch {
	case in.Flag != "":
		return commitChoice{Rev: in.Flag, Ref: &trace.Ref{Value: in.Flag, Provenance: trace.Flag, From: "--commit"}}, nil
	case in.Recorded != "":
		return commitChoice{Rev: in.Recorded}, nil
	case in.Base != "" && in.Kind != KindPR:
		return commitChoice{Rev: in.Base, Ref: &trace.Ref{Value: in.Base, Provenance: trace.Inferred, From: "the recorded base commit (the run started at its instance's base commit)"}}, nil
	case in.HeadSHA != "":
		return commitChoice{Rev: in.HeadSHA, Ref: &trace.Ref{Value: in.HeadSHA, Provenance: trace.Inferred, From: "head_sha of the agent's result"}}, nil
	case in.Kind == KindPR && in.PRKnown:
		if in.PRHead == "" {
			return commitChoice{}, fmt.Errorf("infer the commit of %s#%d: %w: no commit of the pull request predates the run (force-pushed since?); pass --commit SHA", in.Logical, in.Num, ErrNoCommit)
		}
		return commitChoice{Rev: in.PRHead, Ref: &trace.Ref{Value: in.PRHead, Provenance: trace.Inferred,
			From: fmt.Sprintf("head of pull request #%d as of %s, from %s", in.Num, asOfText(in.At), in.PRHeadFrom)}}, nil
	}
	branch := in.Branch
	if branch == "HEAD" {
		branch = ""
	}
	return commitChoice{Tip: true, TipOf: branch}, nil
}

// method names how c was chosen from in (CommitSearch.Method).
func (c commitChoice) method(in commitInputs) string {
	switch {
	case in.Flag != "":
		return MethodFlag
	case in.Recorded != "", in.Base != "" && in.Kind != KindPR:
		return MethodRecorded
	case in.HeadSHA != "":
		return MethodHeadSHA
	case c.Tip:
		return MethodBranchTip
	}
	return MethodPRHead
}

// chooseCommit picks the commit (chooseCommitFrom), looks up a branch tip
// when that is the choice, and expands an abbreviated SHA or a name.
func (f *fetch) chooseCommit(ctx context.Context) error {
	t, res := f.t, f.res
	if f.kind == KindPR && f.remote.Kind == RemoteGitHub {
		f.nd.Refspecs = []string{fmt.Sprintf("+refs/pull/%d/head:refs/pull/%d/head", f.num, f.num)}
	}
	in := commitInputs{Flag: f.o.Commit, Recorded: t.Refs["commit"].Value, HeadSHA: headSHA(t.Decision), Kind: f.kind, Num: f.num,
		Branch: t.Refs["branch"].Value, At: t.At, Logical: f.logical}
	if b := t.Refs["base_commit"]; b.Provenance == trace.Recorded {
		in.Base = b.Value
	}
	if f.kind == KindPR {
		switch {
		case f.snap != nil:
			in.PRKnown, in.PRHead, in.PRHeadFrom = true, f.snap.HeadSHA, f.snap.HeadFrom
		case f.prd != nil:
			in.PRKnown = true
			if h, ok := headAsOf(f.prd.commits, t.At); ok {
				in.PRHead, in.PRHeadFrom = h, "the pull request's commits as of the run's start"
			}
		}
	}
	c, err := chooseCommitFrom(in)
	if err != nil {
		return err
	}
	commit := c.Rev
	f.method = c.method(in)
	if c.Ref != nil {
		res.Refs["commit"] = *c.Ref
	}
	if c.Tip {
		sha, branch, err := f.w.tipAsOf(ctx, f.m, c.TipOf, t.At)
		if err != nil {
			err = fmt.Errorf("infer the commit of trace %s: %w", t.TraceID, err)
			if errors.Is(err, ErrNoCommit) && len(t.Reads) > 0 && f.o.CommitSearch != SearchOff {
				// No commit predates the run (the tree it read was
				// committed later): the search may still find it.
				f.noTip = err
				f.nd.Commit, res.Remote = "", f.remote
				return nil
			}
			return err
		}
		from := fmt.Sprintf("tip of the default branch %s as of %s", branch, asOfText(t.At))
		if in.Branch != "" && in.Branch == branch {
			from = fmt.Sprintf("tip of branch %s as of %s", branch, asOfText(t.At))
		} else if f.kind == KindIssue {
			from = fmt.Sprintf("issue #%d: %s", f.num, from)
		}
		commit = sha
		res.Refs["commit"] = trace.Ref{Value: sha, Provenance: trace.Inferred, From: from}
	}
	// A full SHA is taken in any case; anything else (a short SHA, a
	// branch, a tag, HEAD) is resolved as git would, case kept.
	commit = strings.TrimSpace(commit)
	if isSHA(strings.ToLower(commit)) {
		commit = strings.ToLower(commit)
	} else {
		full, err := f.w.expandSHA(ctx, f.m, commit)
		if err != nil {
			return err
		}
		if r := res.Refs["commit"]; r.Value != "" {
			r.From = strings.TrimSpace(r.From + " " + commit)
			r.Value = full
			res.Refs["commit"] = r
		}
		commit = full
	}
	f.nd.Commit = commit
	res.Commit = commit
	res.Remote = f.remote
	return nil
}

// readObjects fetches the commit's objects into the mirror and builds the
// snapshot's git-derived parts (a pull request's diff as of the commit).
func (f *fetch) readObjects(ctx context.Context) error {
	return f.m.read(ctx, f.nd, func(g *gitRepo) error {
		if f.snap != nil {
			return nil
		}
		var err error
		switch f.kind {
		case KindPR:
			var moved bool
			headFrom := f.res.Refs["commit"].Provenance + ": " + f.res.Refs["commit"].From
			f.snap, moved, err = asOfPR(f.prd, f.owner, f.name, f.num, f.t.At, f.res.Commit, headFrom)
			if err != nil {
				return err
			}
			if moved {
				diff, files, err := gitDiff(g, f.snap.BaseSHA, f.res.Commit)
				if err != nil {
					f.snap.Warnings = append(f.snap.Warnings, "diff not computed: "+err.Error())
				} else {
					f.snap.data["pr.diff"] = []byte(diff)
					if err := f.snap.putJSON("files.json", files); err != nil {
						return err
					}
				}
			}
		case KindIssue:
			f.snap, err = asOfIssue(f.isd, f.owner, f.name, f.num, f.t.At)
		}
		return err
	})
}

// keepSnapshot stores a new snapshot in the cache and adds the refs it
// tells (the base commit, whether the work item is a PR or an issue).
func (f *fetch) keepSnapshot(context.Context) error {
	snap, res := f.snap, f.res
	if snap == nil {
		return nil
	}
	if snap.Files == nil {
		snap.FetchedAt, snap.Source = f.w.cfg.Now().UTC(), f.gh.name()
		if err := f.w.storeSnapshot(f.snapKey, snap); err != nil {
			return err
		}
	}
	res.Snapshot = f.snapKey
	res.Warnings = append(res.Warnings, snap.Warnings...)
	if _, ok := res.Refs["base_commit"]; !ok && snap.BaseSHA != "" {
		res.Refs["base_commit"] = trace.Ref{Value: snap.BaseSHA, Provenance: trace.Inferred, From: fmt.Sprintf("base of pull request #%d", f.num)}
	}
	if _, ok := res.Refs["pr"]; !ok && f.kind == KindPR {
		res.Refs["pr"] = trace.Ref{Value: strconv.Itoa(f.num), Provenance: trace.Inferred, From: "work_item is a pull request"}
	}
	if _, ok := res.Refs["issue"]; !ok && f.kind == KindIssue {
		res.Refs["issue"] = trace.Ref{Value: strconv.Itoa(f.num), Provenance: trace.Inferred, From: "work_item is an issue"}
	}
	return nil
}

// keepResolution records the resolution under the trace's id.
func (f *fetch) keepResolution(context.Context) error {
	if f.t.TraceID == "" {
		return nil
	}
	return f.w.saveResolution(f.res)
}

var (
	ghItemURL = regexp.MustCompile(`^[a-z]+://[^/]+/([^/]+)/([^/]+)/(?:pull|pulls|issues)/\d+`)
	ownerNum  = regexp.MustCompile(`^([^/#\s]+)/([^/#\s]+)#\d+$`)
)

// traceRepo finds the repository a trace names: its repo ref (owner/name,
// URL, local path) or, failing that, the repository of its work item, pull
// request or issue ref. logical is owner/name when the repository is on the
// GitHub host (its API can be asked); such repositories are fetched over
// https from that host whatever URL the trace recorded (ssh needs keys the
// replay machine may not have; https takes GITHUB_TOKEN).
func (w *World) traceRepo(refs map[string]trace.Ref) (remote Remote, logical string, ok bool) {
	if r, has := refs["repo"]; has && strings.TrimSpace(r.Value) != "" {
		rem, err := parseRepo(r.Value, w.gh)
		if err == nil {
			if rem.Kind == RemoteURL && rem.FullName() != "" && w.gh.hostOf(rem.URL) {
				rem = Remote{Kind: RemoteGitHub, URL: w.gh.repoURL(rem.Owner, rem.Name), Owner: rem.Owner, Name: rem.Name}
			}
			if rem.Kind == RemoteGitHub {
				logical = rem.FullName()
			}
			return rem, logical, true
		}
	}
	for _, k := range []string{"work_item", "pr", "issue"} {
		v := strings.TrimSpace(refs[k].Value)
		var o, n string
		if m := ownerNum.FindStringSubmatch(v); m != nil {
			o, n = m[1], m[2]
		} else if m := ghItemURL.FindStringSubmatch(v); m != nil && w.gh.hostOf(v) {
			o, n = m[1], m[2]
		}
		if o != "" && ownerName.MatchString(o+"/"+n) {
			return Remote{Kind: RemoteGitHub, URL: w.gh.repoURL(o, n), Owner: o, Name: n}, o + "/" + n, true
		}
	}
	return Remote{}, "", false
}

func mapLookup(m map[string]string, key string) string {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func kindName(kind string) string {
	if kind == KindPR {
		return "pull request"
	}
	return "issue"
}

func asOfText(at time.Time) string {
	if at.IsZero() {
		return "now (the trace has no start time)"
	}
	return at.UTC().Format(time.RFC3339)
}

// headSHA reads head_sha from a structured result.
func headSHA(decision json.RawMessage) string {
	if len(decision) == 0 {
		return ""
	}
	var d struct {
		HeadSHA string `json:"head_sha"`
	}
	if json.Unmarshal(decision, &d) != nil || !isSHA(strings.ToLower(d.HeadSHA)) {
		return ""
	}
	return strings.ToLower(d.HeadSHA)
}

// workItemKind says whether owner/name#n is a pull request or an issue:
// from a cached snapshot, the fixture, or GitHub.
func (w *World) workItemKind(ctx context.Context, gh ghSource, owner, name string, n int, at time.Time) (string, int) {
	for _, k := range []string{KindPR, KindIssue} {
		if _, err := os.Stat(w.cache.path(w.snapshotKey(k, owner, name, n, at))); err == nil {
			return k, n
		}
	}
	switch s := gh.(type) {
	case dirSource:
		if s.hasPR() {
			return KindPR, n
		}
		return KindIssue, n
	case *apiSource:
		if is, err := s.issue(ctx, owner, name, n); err == nil {
			if is.IsPullRequest() {
				return KindPR, n
			}
			return KindIssue, n
		}
	}
	return KindIssue, n
}

// tipAsOf finds the commit a branch (the default branch when "") pointed
// to at time at: the first commit on its first-parent chain committed at
// or before at.
func (w *World) tipAsOf(ctx context.Context, m *mirror, branch string, at time.Time) (sha, resolved string, err error) {
	nd := need{Branch: branch, At: at, DefaultBranch: branch == ""}
	err = m.read(ctx, nd, func(g *gitRepo) error {
		resolved = branch
		if resolved == "" {
			resolved = g.state.Head
		}
		ref, err := g.repo.Reference(plumbing.NewBranchReferenceName(resolved), true)
		if err != nil {
			return m.branchMissing(resolved)
		}
		c, err := g.repo.CommitObject(ref.Hash())
		if err != nil {
			return fmt.Errorf("read branch %q in %q: %w: %v", resolved, m.remote, ErrCorrupt, err)
		}
		for i := 0; ; i++ {
			if at.IsZero() || !c.Committer.When.After(at) {
				sha = c.Hash.String()
				return nil
			}
			if c.NumParents() == 0 || i > 1_000_000 {
				return fmt.Errorf("find the tip of branch %q as of %s in %q: %w: every commit of the branch is younger%s; pass --commit SHA", resolved, asOfText(at), m.remote, ErrNoCommit, m.shallowHint())
			}
			p, err := g.repo.CommitObject(c.ParentHashes[0])
			if err != nil {
				return fmt.Errorf("find the tip of branch %q as of %s in %q: %w: its history is incomplete (%v)%s; pass --commit SHA", resolved, asOfText(at), m.remote, ErrNoCommit, err, m.shallowHint())
			}
			c = p
			if i%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
	})
	return sha, resolved, err
}

// expandSHA turns an abbreviated SHA (or a branch or tag name) into a full
// one, fetching every branch and tag when the mirror does not know it.
func (w *World) expandSHA(ctx context.Context, m *mirror, rev string) (string, error) {
	if rev == "" {
		return "", fmt.Errorf("resolve commit: %w", ErrNoCommit)
	}
	var full string
	try := func(g *gitRepo) error {
		h, err := g.repo.ResolveRevision(plumbing.Revision(rev))
		if err != nil {
			return fmt.Errorf("resolve commit %q in %q: %w: no commit, branch or tag of that name (%v)", rev, m.remote, ErrCommitNotFound, err)
		}
		full = h.String()
		return nil
	}
	if err := m.read(ctx, need{}, try); err == nil {
		return full, nil
	}
	if err := m.read(ctx, need{DefaultBranch: true, AllRefs: true, At: w.cfg.Now()}, try); err != nil {
		return "", err
	}
	return full, nil
}

// gitDiff is the unified diff of head against its merge base with base,
// and the changed files, as GitHub shows a pull request.
func gitDiff(g *gitRepo, base, head string) (string, []*github.CommitFile, error) {
	hc, err := g.commit(head)
	if err != nil {
		return "", nil, err
	}
	from := hc
	if base != "" {
		bc, err := g.commit(base)
		if err != nil {
			return "", nil, fmt.Errorf("base %s: %w", short(base), err)
		}
		mb, err := hc.MergeBase(bc)
		if err != nil || len(mb) == 0 {
			return "", nil, fmt.Errorf("no merge base of %s and %s", short(base), short(head))
		}
		from = mb[0]
	} else if hc.NumParents() > 0 {
		if from, err = hc.Parent(0); err != nil {
			return "", nil, err
		}
	}
	patch, err := from.Patch(hc)
	if err != nil {
		return "", nil, err
	}
	var b bytes.Buffer
	if err := patch.Encode(&b); err != nil {
		return "", nil, err
	}
	var files []*github.CommitFile
	stats := patch.Stats()
	for i, fp := range patch.FilePatches() {
		f, t := fp.Files()
		cf := &github.CommitFile{Status: github.Ptr("modified")}
		switch {
		case f == nil:
			cf.Status, cf.Filename = github.Ptr("added"), github.Ptr(t.Path())
		case t == nil:
			cf.Status, cf.Filename = github.Ptr("removed"), github.Ptr(f.Path())
		default:
			cf.Filename = github.Ptr(t.Path())
			if f.Path() != t.Path() {
				cf.Status, cf.PreviousFilename = github.Ptr("renamed"), github.Ptr(f.Path())
			}
			if t.Hash() != plumbing.ZeroHash {
				cf.SHA = github.Ptr(t.Hash().String())
			}
		}
		if i < len(stats) {
			cf.Additions, cf.Deletions = github.Ptr(stats[i].Addition), github.Ptr(stats[i].Deletion)
			cf.Changes = github.Ptr(stats[i].Addition + stats[i].Deletion)
		}
		files = append(files, cf)
	}
	return b.String(), nonNil(files), nil
}

// Resolution records.

func (w *World) resolutionPath(id string) (string, error) {
	if id == "" || strings.Trim(strings.ToLower(id), "0123456789abcdef") != "" || len(id) > 128 {
		return "", fmt.Errorf("resolution of trace %q: not a trace id", id)
	}
	return w.cache.path("resolved", strings.ToLower(id)+".json"), nil
}

func (w *World) saveResolution(res *Resolution) error {
	p, err := w.resolutionPath(res.TraceID)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := w.cache.writeAtomic(p, append(b, '\n')); err != nil {
		return fmt.Errorf("record resolution of trace %s: %w", res.TraceID, mapFSError(err))
	}
	return nil
}

// LoadResolution reads what Fetch recorded for a trace id. It returns
// (nil, nil) when there is none. A damaged record is removed and reported
// as ErrCorrupt.
func (w *World) LoadResolution(id string) (*Resolution, error) {
	return loadResolution(w.cfg.CacheDir, id)
}

// LoadResolution reads the resolution recorded for trace id in the cache at
// cacheDir, without opening a World (what `replay inspect` calls).
func LoadResolution(cacheDir, id string) (*Resolution, error) {
	return loadResolution(cacheDir, id)
}

func loadResolution(cacheDir, id string) (*Resolution, error) {
	c := &cache{root: cacheDir}
	w := &World{cache: c}
	p, err := w.resolutionPath(id)
	if err != nil {
		return nil, nil
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read resolution of trace %s: %w", id, err)
	}
	var res Resolution
	if err := json.Unmarshal(b, &res); err != nil || res.Version != ResolutionVersion || !strings.EqualFold(res.TraceID, id) {
		os.Remove(p)
		why := "not a resolution record"
		if err != nil {
			why = err.Error()
		}
		return nil, fmt.Errorf("read resolution of trace %s: %w: %s (removed; run replay world fetch again)", id, ErrCorrupt, why)
	}
	return &res, nil
}

// Status is what the cache holds for a trace (`replay world show`).
type Status struct {
	CacheDir   string          `json:"cache_dir"`
	Resolution *Resolution     `json:"resolution"` // nil: never fetched
	Mirror     *MirrorStatus   `json:"mirror,omitempty"`
	Snapshot   *SnapshotStatus `json:"snapshot,omitempty"`
	Problems   []string        `json:"problems"`
}

// MirrorStatus describes the cached copy of a repository.
type MirrorStatus struct {
	Path      string `json:"path"`
	Remote    string `json:"remote"`
	Cached    bool   `json:"cached"`
	HasCommit bool   `json:"has_commit"`
	Bytes     int64  `json:"bytes"`
}

// SnapshotStatus describes a cached GitHub snapshot.
type SnapshotStatus struct {
	Path     string         `json:"path"`
	Kind     string         `json:"kind"`
	Repo     string         `json:"repo"`
	Number   int            `json:"number"`
	AsOf     time.Time      `json:"as_of,omitzero"`
	Source   string         `json:"source,omitempty"`
	Cached   bool           `json:"cached"`
	Files    []SnapshotSize `json:"files"`
	Bytes    int64          `json:"bytes"`
	Warnings []string       `json:"warnings,omitempty"`
}

// SnapshotSize is one snapshot file's size.
type SnapshotSize struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Status reports what the cache holds for a trace, fetching nothing. The
// snapshot's files are verified against their hashes.
func (w *World) Status(ctx context.Context, traceID string) (*Status, error) {
	st := &Status{CacheDir: w.cfg.CacheDir, Problems: []string{}}
	res, err := w.LoadResolution(traceID)
	if err != nil {
		st.Problems = append(st.Problems, err.Error())
	}
	if res == nil {
		return st, nil
	}
	st.Resolution = res
	m := w.mirrorOf(res.Remote)
	ms := &MirrorStatus{Path: m.dir, Remote: res.Remote.String()}
	st.Mirror = ms
	if _, err := os.Stat(m.dir); err == nil {
		ms.Cached = true
		ms.Bytes = dirSize(m.dir)
		l, err := w.cache.lock(ctx, m.lockp, false)
		if err != nil {
			return nil, err
		}
		if g, err := m.open(); err == nil {
			ms.HasCommit = g.hasCommit(res.Commit)
			if !m.quickCheck(g.state) {
				st.Problems = append(st.Problems, "the mirror changed since it was last verified: the next fetch verifies it")
			}
			g.close()
		} else {
			st.Problems = append(st.Problems, err.Error())
		}
		l.unlock()
	}
	if !ms.HasCommit {
		st.Problems = append(st.Problems, fmt.Sprintf("commit %s is not cached: run replay world fetch", short(res.Commit)))
	}
	if res.Snapshot != "" {
		ss := &SnapshotStatus{Path: w.cache.path(res.Snapshot), Files: []SnapshotSize{}}
		st.Snapshot = ss
		snap, err := w.loadSnapshot(res.Snapshot)
		switch {
		case err == nil:
			ss.Cached = true
			ss.Kind, ss.Repo, ss.Number, ss.AsOf, ss.Source, ss.Warnings = snap.Kind, snap.Repo, snap.Number, snap.AsOf, snap.Source, snap.Warnings
			for _, n := range snap.FileNames() {
				ss.Files = append(ss.Files, SnapshotSize{Name: n, Size: snap.Files[n].Size})
				ss.Bytes += snap.Files[n].Size
			}
		case errors.Is(err, os.ErrNotExist):
			st.Problems = append(st.Problems, "the GitHub snapshot is not cached: run replay world fetch")
		default:
			st.Problems = append(st.Problems, err.Error())
		}
	}
	return st, nil
}
