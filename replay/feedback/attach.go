package feedback

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
)

// AttachReport says what Attach did with each entry, in the entries' order.
type AttachReport struct {
	Lines []LineReport
	// Added counts the acts newly stored (over all runs); Unmatched the
	// entries that matched no run.
	Added     int
	Unmatched int
}

// How an entry matched its runs (LineReport.By).
const (
	ByID      = "id"
	BySession = "session"
	ByTraceID = "trace id"
	ByURL     = "url"
)

// LineReport is what one entry matched.
type LineReport struct {
	Line   int
	Source string // the act's source (file:NAME:LINE)
	Trace  string // the entry's trace, as given
	// Runs are the ids of the runs it was attached to; By says how they
	// matched (ByID, BySession, ByTraceID, ByURL).
	Runs []string
	By   string
	// Added is how many of Runs did not have the act yet.
	Added int
	// Problem says why nothing matched ("no stored run matches", "ambiguous
	// prefix: …", "… is a replay"): the entry attached nothing.
	Problem string
}

// Attach resolves each entry's trace to stored runs (see the package
// documentation for the rules) and stores the act with each. Entries that
// match nothing are reported (LineReport.Problem, AttachReport.Unmatched),
// not errors; an error is the store failing.
func Attach(ctx context.Context, st *store.Store, entries []Entry) (*AttachReport, error) {
	rep := &AttachReport{}
	m := &matcher{st: st}
	for _, e := range entries {
		lr := LineReport{Line: e.Line, Source: e.Feedback.Source, Trace: e.Trace}
		runs, by, problem, err := m.match(ctx, e)
		if err != nil {
			return rep, err
		}
		lr.By, lr.Problem = by, problem
		for _, id := range runs {
			n, err := st.AddFeedback(ctx, id, []trace.Feedback{e.Feedback})
			if err != nil {
				return rep, fmt.Errorf("attach %s: %w", e.Feedback.Source, err)
			}
			lr.Runs = append(lr.Runs, id)
			lr.Added += n
		}
		if len(lr.Runs) == 0 {
			if lr.Problem == "" {
				lr.Problem = "no stored run matches"
			}
			rep.Unmatched++
		}
		rep.Added += lr.Added
		rep.Lines = append(rep.Lines, lr)
	}
	return rep, nil
}

// candidate is an original run as matching sees it.
type candidate struct {
	e    store.Entry
	meta trace.RunMeta
	ids  map[string]string // session and trace ids -> BySession or ByTraceID
	work map[string]bool   // o/r#N keys of its PR, issue and work item
}

// matcher matches entries against the store's original runs, read once
// (only when an entry is not an id).
type matcher struct {
	st    *store.Store
	cands []candidate
	read  bool
}

func (m *matcher) match(ctx context.Context, e Entry) (runs []string, by, problem string, err error) {
	arg := e.Trace
	if store.LooksLikeID(arg) {
		got, err := m.st.Lookup(ctx, arg)
		var amb *store.AmbiguousError
		switch {
		case errors.As(err, &amb):
			return nil, "", fmt.Sprintf("ambiguous prefix: %d or more stored runs start with %q; give more characters", len(amb.Candidates), arg), nil
		case errors.Is(err, store.ErrNotFound):
			// A hex session or trace id: matched below.
		case err != nil:
			return nil, "", "", err
		case got.IsReplay():
			return nil, "", fmt.Sprintf("%s is a replay (of %s), not a run an agent did in production: give its original", shortID(got.ID), shortID(got.ReplayOf)), nil
		default:
			return []string{got.ID}, ByID, "", nil
		}
	}
	if err := m.load(ctx); err != nil {
		return nil, "", "", err
	}
	before := func(c candidate) bool {
		return e.Feedback.At.IsZero() || c.e.StartedAt.IsZero() || !c.e.StartedAt.After(e.Feedback.At)
	}
	for _, c := range m.cands {
		if how, ok := c.ids[arg]; ok && before(c) {
			runs, by = append(runs, c.e.ID), how
		}
	}
	if len(runs) > 0 {
		return runs, by, "", nil
	}
	key, ok := WorkItemKey(arg)
	if !ok {
		return nil, "", "", nil
	}
	for _, c := range m.cands {
		if c.work[key] && before(c) {
			runs = append(runs, c.e.ID)
		}
	}
	if len(runs) > 0 {
		return runs, ByURL, "", nil
	}
	return nil, "", fmt.Sprintf("no stored run matches (no original run worked on %s)", key), nil
}

// load reads the original runs' metadata, once.
func (m *matcher) load(ctx context.Context) error {
	if m.read {
		return nil
	}
	m.read = true
	rows, err := m.st.List(ctx, store.Filter{Kind: store.Originals})
	if err != nil {
		return err
	}
	for _, e := range rows {
		meta, err := m.st.Meta(ctx, e.ID)
		if err != nil {
			return fmt.Errorf("match feedback: %w", err)
		}
		if meta.Replay != nil {
			continue
		}
		m.cands = append(m.cands, newCandidate(e, meta))
	}
	return nil
}

func newCandidate(e store.Entry, meta trace.RunMeta) candidate {
	c := candidate{e: e, meta: meta, ids: map[string]string{}, work: map[string]bool{}}
	for k, v := range meta.Attributes {
		if v != "" && (k == "trace_id" || strings.HasSuffix(k, ".trace_id")) {
			c.ids[v] = ByTraceID
		}
	}
	for _, s := range append([]string{meta.Session}, meta.Sessions...) {
		if s != "" {
			c.ids[s] = BySession
		}
	}
	repo := ""
	if r := meta.Refs.Repo; r != nil {
		repo = store.RepoKey(r.Value)
	}
	for _, r := range []*trace.Ref{meta.Refs.PR, meta.Refs.Issue, meta.Refs.WorkItem} {
		if r == nil {
			continue
		}
		if k, ok := WorkItemKey(r.Value); ok {
			c.work[k] = true
		} else if n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(r.Value), "#")); err == nil && n > 0 && strings.Contains(repo, "/") {
			c.work[repo+"#"+strconv.Itoa(n)] = true
		}
	}
	return c
}

var (
	workItemURL = regexp.MustCompile(`^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?[^/\s]+/(?:repos/)?([^/\s#?]+)/([^/\s#?]+)/(?:pull|pulls|issues)/([0-9]+)(?:[/?#].*)?$`)
	workItemRef = regexp.MustCompile(`^([^/\s#]+)/([^/\s#]+)#([0-9]+)$`)
)

// WorkItemKey normalizes a pull request or issue reference to "owner/name#N"
// (lowercase): https://github.com/o/r/pull/N (and /issues/N, with or
// without the scheme, with a fragment or a further path; the REST API's
// https://api.github.com/repos/o/r/pulls/N), o/r#N. ok is false for
// anything else.
func WorkItemKey(s string) (key string, ok bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	m := workItemURL.FindStringSubmatch(s)
	if m == nil {
		m = workItemRef.FindStringSubmatch(s)
	}
	if m == nil {
		return "", false
	}
	n, err := strconv.Atoi(m[3])
	if err != nil || n <= 0 {
		return "", false
	}
	return m[1] + "/" + strings.TrimSuffix(m[2], ".git") + "#" + strconv.Itoa(n), true
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
