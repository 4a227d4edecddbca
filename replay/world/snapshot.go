package world

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v93/github"
)

// Snapshot kinds.
const (
	KindPR    = "pr"
	KindIssue = "issue"
)

// SnapshotVersion versions the snapshot manifest.
const SnapshotVersion = 1

// Snapshot is the GitHub state a run saw: a pull request or an issue as it
// was when the run started. Its files are REST-shaped JSON documents (and
// the PR's unified diff):
//
//	pr.json               the pull request (title, body, author, labels,
//	                      state, base/head refs and SHAs) as of the run
//	pr.diff               its unified diff (base...head as of the run)
//	files.json            its changed files
//	commits.json          its commits up to the head as of the run
//	reviews.json          reviews submitted before the run
//	review_comments.json  review comments made before the run
//	issue.json            the issue (issue runs)
//	comments.json         issue (conversation) comments made before the run
//
// Content is stored by its SHA-256 in the cache; the manifest names it.
type Snapshot struct {
	Version   int       `json:"version"`
	Kind      string    `json:"kind"`
	Repo      string    `json:"repo"` // owner/name
	Number    int       `json:"number"`
	AsOf      time.Time `json:"as_of,omitzero"` // zero: the state when fetched (the trace has no start time)
	FetchedAt time.Time `json:"fetched_at"`
	Source    string    `json:"source"` // API root or fixture directory
	// Head and Base of a pull request as of the run.
	HeadSHA string `json:"head_sha,omitempty"`
	HeadRef string `json:"head_ref,omitempty"`
	BaseSHA string `json:"base_sha,omitempty"`
	BaseRef string `json:"base_ref,omitempty"`
	// HeadFrom says how HeadSHA was found.
	HeadFrom string                  `json:"head_from,omitempty"`
	Warnings []string                `json:"warnings,omitempty"`
	Files    map[string]SnapshotFile `json:"files"`

	data map[string][]byte
}

// SnapshotFile is one file of a snapshot.
type SnapshotFile struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// File is a snapshot file with its content.
type File struct {
	Name string
	Data []byte
}

// FileNames lists the snapshot's files, sorted.
func (s *Snapshot) FileNames() []string {
	names := make([]string, 0, len(s.Files))
	for n := range s.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// File returns the content of one file.
func (s *Snapshot) File(name string) ([]byte, bool) {
	b, ok := s.data[name]
	return b, ok
}

// AllFiles returns every file with its content, sorted by name.
func (s *Snapshot) AllFiles() []File {
	var out []File
	for _, n := range s.FileNames() {
		out = append(out, File{Name: n, Data: s.data[n]})
	}
	return out
}

// SnapshotDir is where the snapshot files go by default, relative to where
// the replay engine places them (outside the workspace, so that the agent's
// view of the repository is unchanged).
const SnapshotDir = ".replay/github"

// WriteTar writes the snapshot files as a tar stream under dir (e.g.
// SnapshotDir), plus snapshot.json, the manifest. It is a stream of its own,
// not part of the workspace tar: files inside the workspace would show in
// the agent's ls, git status and globs and change what it sees.
func (s *Snapshot) WriteTar(out io.Writer, dir string) error {
	tw := tar.NewWriter(out)
	mt := s.FetchedAt
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir != "" {
		for _, d := range parents(dir) {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mt}); err != nil {
				return fmt.Errorf("write snapshot tar: %w", err)
			}
		}
	}
	manifest, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	files := append(s.AllFiles(), File{Name: "snapshot.json", Data: append(manifest, '\n')})
	for _, f := range files {
		name := f.Name
		if dir != "" {
			name = dir + "/" + name
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(f.Data)), ModTime: mt}); err != nil {
			return fmt.Errorf("write snapshot tar: %w", mapFSError(err))
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("write snapshot tar: %w", mapFSError(err))
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write snapshot tar: %w", mapFSError(err))
	}
	return nil
}

func parents(dir string) []string {
	var out []string
	for p := dir; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		out = append([]string{p}, out...)
	}
	return out
}

// snapshotKey is the manifest's path in the cache.
func (w *World) snapshotKey(kind, owner, name string, n int, at time.Time) string {
	when := "latest"
	if !at.IsZero() {
		when = at.UTC().Format("20060102T150405.000000000Z")
	}
	host := unsafeKey.ReplaceAllString(w.gh.host, "_")
	return filepath.Join("github", "snapshots", host, unsafeKey.ReplaceAllString(owner, "_"), unsafeKey.ReplaceAllString(name, "_"),
		kind+"-"+strconv.Itoa(n)+"@"+when+".json")
}

// storeSnapshot writes the snapshot's files (content-addressed) and then its
// manifest.
func (w *World) storeSnapshot(key string, s *Snapshot) error {
	s.Files = map[string]SnapshotFile{}
	for name, data := range s.data {
		h, err := w.cache.putBlob(data)
		if err != nil {
			return fmt.Errorf("store github snapshot: %w", mapFSError(err))
		}
		s.Files[name] = SnapshotFile{SHA256: h, Size: int64(len(data))}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := w.cache.writeAtomic(w.cache.path(key), append(b, '\n')); err != nil {
		return fmt.Errorf("store github snapshot: %w", mapFSError(err))
	}
	return nil
}

// loadSnapshot reads a stored snapshot and checks every file's hash. It
// returns os.ErrNotExist (wrapped) when there is none, and ErrCorrupt when
// an entry is damaged (the manifest is then removed so that the next fetch
// stores it anew).
func (w *World) loadSnapshot(key string) (*Snapshot, error) {
	p := w.cache.path(key)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read github snapshot %s: %w", p, err)
	}
	var s Snapshot
	corrupt := func(why string) (*Snapshot, error) {
		os.Remove(p)
		return nil, fmt.Errorf("read github snapshot %s: %w: %s (removed)", p, ErrCorrupt, why)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return corrupt(err.Error())
	}
	if s.Version != SnapshotVersion || (s.Kind != KindPR && s.Kind != KindIssue) || s.Files == nil {
		return corrupt("not a snapshot manifest")
	}
	s.data = map[string][]byte{}
	for name, f := range s.Files {
		if !validSnapshotName(name) {
			return corrupt(fmt.Sprintf("bad file name %q", name))
		}
		data, err := w.cache.getBlob(f.SHA256)
		if err != nil {
			if errors.Is(err, ErrCorrupt) || errors.Is(err, os.ErrNotExist) {
				return corrupt(fmt.Sprintf("file %s: %v", name, err))
			}
			return nil, err
		}
		s.data[name] = data
	}
	return &s, nil
}

func validSnapshotName(n string) bool {
	return n != "" && !strings.ContainsAny(n, "/\\\x00") && n != "." && n != ".." && n != "snapshot.json"
}

// prData is a pull request's raw data, before it is cut to the run's time.
type prData struct {
	pr       *github.PullRequest
	diff     string
	files    []*github.CommitFile
	commits  []*github.RepositoryCommit
	reviews  []*github.PullRequestReview
	rcomms   []*github.PullRequestComment
	comments []*github.IssueComment
	timeline []*github.Timeline
	edits    []bodyEdit
	hasEdits bool
}

func fetchPR(ctx context.Context, src ghSource, o, r string, n int) (*prData, error) {
	d := &prData{}
	var err error
	if d.pr, err = src.pr(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.commits, err = src.prCommits(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.files, err = src.prFiles(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.diff, err = src.prDiff(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.reviews, err = src.reviews(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.rcomms, err = src.reviewComments(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.comments, err = src.issueComments(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.timeline, err = src.timeline(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.edits, d.hasEdits, err = src.bodyEdits(ctx, o, r, n); err != nil {
		return nil, err
	}
	return d, nil
}

// after reports whether t is set and later than at (a zero at means no
// cut-off).
func after(t *github.Timestamp, at time.Time) bool {
	return !at.IsZero() && t != nil && !t.IsZero() && t.After(at)
}

// headAsOf finds the pull request's head at time at from its commits: the
// last commit (in the PR's order) committed at or before at.
func headAsOf(commits []*github.RepositoryCommit, at time.Time) (string, bool) {
	sha := ""
	for _, c := range commits {
		if c == nil {
			continue
		}
		when := c.GetCommit().GetCommitter().GetDate()
		if !at.IsZero() && !when.IsZero() && when.After(at) {
			break
		}
		sha = c.GetSHA()
	}
	return sha, sha != ""
}

// bodyAsOf picks the body version current at time at.
func bodyAsOf(edits []bodyEdit, at time.Time) (string, bool) {
	es := slices.Clone(edits)
	sort.SliceStable(es, func(i, j int) bool { return es[i].EditedAt.Before(es[j].EditedAt) })
	var body *string
	for _, e := range es {
		if e.EditedAt.After(at) {
			break
		}
		if e.Diff != nil {
			body = e.Diff
		}
	}
	if body == nil {
		return "", false
	}
	return *body, true
}

// undoTimeline rolls title and labels back to time at from the timeline's
// later events.
func undoTimeline(tl []*github.Timeline, at time.Time, title *string, labels []*github.Label) (*string, []*github.Label, int) {
	t := title
	labels = slices.DeleteFunc(slices.Clone(labels), func(l *github.Label) bool { return l == nil })
	undone := 0
	// Newest first, so each undo sees the state just after its event.
	evs := slices.DeleteFunc(slices.Clone(tl), func(e *github.Timeline) bool { return e == nil })
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].GetCreatedAt().After(evs[j].GetCreatedAt().Time) })
	for _, e := range evs {
		if !after(e.CreatedAt, at) {
			continue
		}
		switch e.GetEvent() {
		case "renamed":
			if e.Rename != nil && e.Rename.From != nil {
				t = e.Rename.From
				undone++
			}
		case "labeled":
			if e.Label != nil {
				labels = slices.DeleteFunc(labels, func(l *github.Label) bool { return l.GetName() == e.Label.GetName() })
				undone++
			}
		case "unlabeled":
			if e.Label != nil && !slices.ContainsFunc(labels, func(l *github.Label) bool { return l.GetName() == e.Label.GetName() }) {
				labels = append(labels, e.Label)
				undone++
			}
		}
	}
	return t, labels, undone
}

// asOfPR cuts a pull request's data to time at and returns the snapshot
// (without its diff and files when the head as of the run differs from the
// current head: the caller computes those from git).
func asOfPR(d *prData, o, r string, n int, at time.Time, head string, headFrom string) (*Snapshot, bool, error) {
	s := &Snapshot{Version: SnapshotVersion, Kind: KindPR, Repo: o + "/" + r, Number: n, AsOf: at, data: map[string][]byte{}}
	pr := *d.pr
	warn := func(format string, args ...any) { s.Warnings = append(s.Warnings, fmt.Sprintf(format, args...)) }
	if after(pr.CreatedAt, at) {
		warn("the pull request was opened at %s, after the run started", pr.CreatedAt.UTC().Format(time.RFC3339))
	}
	if after(pr.MergedAt, at) {
		pr.Merged, pr.MergedAt, pr.MergedBy = github.Ptr(false), nil, nil
	}
	if after(pr.ClosedAt, at) {
		pr.State, pr.ClosedAt = github.Ptr("open"), nil
	}
	pr.Title, pr.Labels, _ = undoTimeline(d.timeline, at, pr.Title, pr.Labels)
	if after(pr.UpdatedAt, at) {
		if b, ok := bodyAsOf(d.edits, at); ok && d.hasEdits {
			if b != pr.GetBody() {
				warn("the body was edited after the run started: the snapshot has the version of %s", at.UTC().Format(time.RFC3339))
			}
			pr.Body = &b
		} else if !d.hasEdits {
			warn("the pull request was updated after the run started (%s) and its body's history is unknown (it needs GITHUB_TOKEN): the body is the current one", pr.UpdatedAt.UTC().Format(time.RFC3339))
		}
		pr.UpdatedAt = nil
	}
	// Head and base as of the run.
	curHead := pr.GetHead().GetSHA()
	if head == "" {
		if h, ok := headAsOf(d.commits, at); ok {
			head, headFrom = h, "the pull request's commits as of the run's start"
		} else {
			head, headFrom = curHead, "the pull request's current head"
			if !at.IsZero() {
				warn("no commit of the pull request predates the run: its head may have been force-pushed since; the current head is used (pass --commit to choose)")
			}
		}
	}
	s.HeadSHA, s.HeadFrom = head, headFrom
	s.BaseSHA, s.BaseRef, s.HeadRef = pr.GetBase().GetSHA(), pr.GetBase().GetRef(), pr.GetHead().GetRef()
	moved := head != curHead
	if pr.Head != nil {
		h := *pr.Head
		h.SHA = &head
		pr.Head = &h
	}
	if moved {
		warn("the head moved after the run (now %s): diff and files are computed from git for %s", short(curHead), short(head))
	}
	// Commits up to the head.
	commits := d.commits
	if i := slices.IndexFunc(commits, func(c *github.RepositoryCommit) bool { return c.GetSHA() == head }); i >= 0 {
		commits = commits[:i+1]
	} else {
		commits = slices.DeleteFunc(slices.Clone(commits), func(c *github.RepositoryCommit) bool {
			d := c.GetCommit().GetCommitter().GetDate()
			return c == nil || after(&d, at)
		})
	}
	reviews := slices.DeleteFunc(slices.Clone(d.reviews), func(v *github.PullRequestReview) bool {
		return v == nil || v.SubmittedAt == nil || after(v.SubmittedAt, at)
	})
	edited := 0
	rcomms := slices.DeleteFunc(slices.Clone(d.rcomms), func(c *github.PullRequestComment) bool {
		if c == nil || after(c.CreatedAt, at) {
			return true
		}
		if after(c.UpdatedAt, at) {
			edited++
		}
		return false
	})
	comments, ce := commentsAsOf(d.comments, at)
	edited += ce
	if edited > 0 {
		warn("%d comment(s) were edited after the run started: their current text is kept", edited)
	}
	if err := s.putJSON("pr.json", &pr); err != nil {
		return nil, false, err
	}
	for name, v := range map[string]any{"commits.json": nonNil(commits), "reviews.json": nonNil(reviews),
		"review_comments.json": nonNil(rcomms), "comments.json": nonNil(comments)} {
		if err := s.putJSON(name, v); err != nil {
			return nil, false, err
		}
	}
	if !moved {
		if err := s.putJSON("files.json", nonNil(d.files)); err != nil {
			return nil, false, err
		}
		s.data["pr.diff"] = []byte(d.diff)
	}
	return s, moved, nil
}

func commentsAsOf(cs []*github.IssueComment, at time.Time) ([]*github.IssueComment, int) {
	edited := 0
	out := slices.DeleteFunc(slices.Clone(cs), func(c *github.IssueComment) bool {
		if c == nil || after(c.CreatedAt, at) {
			return true
		}
		if after(c.UpdatedAt, at) {
			edited++
		}
		return false
	})
	return out, edited
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Snapshot) putJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	s.data[name] = append(b, '\n')
	return nil
}

// issueData is an issue's raw data.
type issueData struct {
	issue    *github.Issue
	comments []*github.IssueComment
	timeline []*github.Timeline
	edits    []bodyEdit
	hasEdits bool
}

func fetchIssue(ctx context.Context, src ghSource, o, r string, n int) (*issueData, error) {
	d := &issueData{}
	var err error
	if d.issue, err = src.issue(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.comments, err = src.issueComments(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.timeline, err = src.timeline(ctx, o, r, n); err != nil {
		return nil, err
	}
	if d.edits, d.hasEdits, err = src.bodyEdits(ctx, o, r, n); err != nil {
		return nil, err
	}
	return d, nil
}

func asOfIssue(d *issueData, o, r string, n int, at time.Time) (*Snapshot, error) {
	s := &Snapshot{Version: SnapshotVersion, Kind: KindIssue, Repo: o + "/" + r, Number: n, AsOf: at, data: map[string][]byte{}}
	is := *d.issue
	warn := func(format string, args ...any) { s.Warnings = append(s.Warnings, fmt.Sprintf(format, args...)) }
	if after(is.CreatedAt, at) {
		warn("the issue was opened at %s, after the run started", is.CreatedAt.UTC().Format(time.RFC3339))
	}
	if after(is.ClosedAt, at) {
		is.State, is.ClosedAt, is.StateReason, is.ClosedBy = github.Ptr("open"), nil, nil, nil
	}
	is.Title, is.Labels, _ = undoTimeline(d.timeline, at, is.Title, is.Labels)
	if after(is.UpdatedAt, at) {
		if b, ok := bodyAsOf(d.edits, at); ok && d.hasEdits {
			if b != is.GetBody() {
				warn("the body was edited after the run started: the snapshot has the version of %s", at.UTC().Format(time.RFC3339))
			}
			is.Body = &b
		} else if !d.hasEdits {
			warn("the issue was updated after the run started (%s) and its body's history is unknown (it needs GITHUB_TOKEN): the body is the current one", is.UpdatedAt.UTC().Format(time.RFC3339))
		}
		is.UpdatedAt = nil
	}
	comments, edited := commentsAsOf(d.comments, at)
	if edited > 0 {
		warn("%d comment(s) were edited after the run started: their current text is kept", edited)
	}
	if is.Comments != nil {
		is.Comments = github.Ptr(len(comments))
	}
	if err := s.putJSON("issue.json", &is); err != nil {
		return nil, err
	}
	if err := s.putJSON("comments.json", nonNil(comments)); err != nil {
		return nil, err
	}
	return s, nil
}
