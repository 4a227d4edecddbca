package world

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// searchRepo is the history behind a transcript that records no commit:
// the tree the agent read was committed only after the run (an hour
// later), and one file (notes.md) was never committed as the agent saw it.
type searchRepo struct {
	dir                   string
	at                    time.Time
	old, before, after    string // SHAs: 10 days before, a day before, an hour after the run
	appV2, util, notesAgt string // contents as the agent read them
}

func newSearchRepo(t *testing.T) searchRepo {
	t.Helper()
	r := searchRepo{dir: newRepo(t), at: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	date := func(d time.Duration) string { return r.at.Add(d).Format(time.RFC3339) }
	r.old = commit(t, r.dir, date(-240*time.Hour), "ancient", map[string]string{"app.py": "print('v0')\n", "notes.md": "old notes\n"})
	r.before = commit(t, r.dir, date(-24*time.Hour), "v1", map[string]string{"app.py": "print('v1')\n", "notes.md": "notes\n"})
	r.appV2 = "import util\n\nprint('v2')"
	r.util = "def f():\n    return 1"
	r.after = commit(t, r.dir, date(time.Hour), "v2: what the agent had in its tree", map[string]string{"app.py": r.appV2 + "\n", "lib/util.py": r.util + "\n"})
	commit(t, r.dir, date(48*time.Hour), "v3, later", map[string]string{"app.py": "print('v3')\n", "lib/util.py": r.util + "\n"})
	r.notesAgt = "notes\nand a line the author never committed"
	return r
}

func (r searchRepo) target() Target {
	return Target{TraceID: "5e4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c", At: r.at, Refs: map[string]trace.Ref{}, Reads: []RecordedRead{
		{Path: "app.py", Content: r.appV2, Step: 3},
		{Path: "lib/util.py", Content: r.util, Step: 5},
		{Path: "notes.md", Content: r.notesAgt, Step: 7},
	}}
}

// TestCommitSearchFindsTheTreeTheAgentRead: with no commit recorded, the
// branch tip at the run's start does not reproduce what the agent read;
// the search over the window finds the commit made after the run, says
// how it chose and how well, and names the uncommitted file with its diff.
func TestCommitSearchFindsTheTreeTheAgentRead(t *testing.T) {
	r := newSearchRepo(t)
	w := newTestWorld(t, nil)
	res, err := w.Fetch(context.Background(), r.target(), FetchOptions{Repo: r.dir})
	if err != nil {
		t.Fatal(err)
	}
	cs := res.Search
	if res.Commit != r.after {
		t.Fatalf("chose %s, want %s (the commit made after the run that holds the tree read); search: %+v", short(res.Commit), short(r.after), cs)
	}
	if cs.Method != MethodSearch || cs.Score != 2 || cs.Reads != 3 {
		t.Errorf("search = method %s, %d of %d; want search, 2 of 3", cs.Method, cs.Score, cs.Reads)
	}
	// The window (7 days either side) holds v1, v2 and v3, not the
	// ancient commit; v1 (the tip at the run's start) is a runner-up.
	if cs.Searched != 3 {
		t.Errorf("searched %d commits, want the 3 within the window", cs.Searched)
	}
	if len(cs.RunnersUp) == 0 || cs.RunnersUp[0].Score != 1 {
		t.Errorf("runners-up %+v: want the next best with 1 read reproduced", cs.RunnersUp)
	}
	if ref := res.Refs["commit"]; ref.Provenance != trace.Inferred || !strings.Contains(ref.From, "commit search: reproduces 2 of 3") {
		t.Errorf("commit ref %+v: want it inferred, saying it came from the search", ref)
	}
	if len(cs.Dirty) != 1 || cs.Dirty[0].Path != "notes.md" || cs.Dirty[0].Step != 7 || !cs.Dirty[0].InCommit {
		t.Fatalf("dirty = %+v; want notes.md (step 7), present in the commit", cs.Dirty)
	}
	if d := cs.Dirty[0].Diff; !strings.Contains(d, "+and a line the author never committed") || !strings.Contains(d, "--- a/notes.md") {
		t.Errorf("dirty diff does not show the uncommitted line:\n%s", d)
	}
	if s := cs.Summary(); !strings.Contains(s, "search, reproduces 2 of 3 recorded reads (searched 3 commits") || !strings.Contains(s, "notes.md") {
		t.Errorf("summary %q", s)
	}
}

// TestCommitSearchModes: off keeps the rule's choice; a recorded commit is
// kept in window mode (only reported) and searched past in all mode; a
// narrower window leaves the later commit out; --commit takes any revision.
func TestCommitSearchModes(t *testing.T) {
	r := newSearchRepo(t)
	ctx := context.Background()
	fetch := func(tg Target, o FetchOptions) *Resolution {
		t.Helper()
		o.Repo = r.dir
		res, err := newTestWorld(t, nil).Fetch(ctx, tg, o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// No commit predates the run: the search still finds the tree read;
	// with nothing to find, the error says what was tried.
	early := r.target()
	early.At = r.at.Add(-20 * 24 * time.Hour)
	if res := fetch(early, FetchOptions{CommitWindow: 21 * 24 * time.Hour}); res.Commit != r.after || res.Search.Method != MethodSearch {
		t.Errorf("no tip before the run: %s %+v; want the search to find %s", short(res.Commit), res.Search, short(r.after))
	}
	if _, err := newTestWorld(t, nil).Fetch(ctx, early, FetchOptions{Repo: r.dir}); err == nil || !errors.Is(err, ErrNoCommit) || !strings.Contains(err.Error(), "no commit of any branch or tag falls within the search window") {
		t.Errorf("no tip and nothing in the window: %v", err)
	}
	if res := fetch(r.target(), FetchOptions{CommitSearch: SearchOff}); res.Commit != r.before || res.Search.Searched != 0 {
		t.Errorf("off: commit %s, searched %d; want the branch tip at the start %s, no search", short(res.Commit), res.Search.Searched, short(r.before))
	}
	if res := fetch(r.target(), FetchOptions{CommitWindow: 30 * time.Minute}); res.Commit != r.before {
		t.Errorf("a 30-minute window holds no better commit: got %s, want the tip %s", short(res.Commit), short(r.before))
	}
	rec := r.target()
	rec.Refs["commit"] = trace.Ref{Value: r.old, Provenance: trace.Recorded}
	if res := fetch(rec, FetchOptions{}); res.Commit != r.old || res.Search.Method != MethodRecorded || res.Search.Score != 0 || len(res.Search.Dirty) != 3 {
		t.Errorf("window, recorded commit: %s %+v; want it kept, 0 of 3, three dirty files", short(res.Commit), res.Search)
	}
	if res := fetch(rec, FetchOptions{CommitSearch: SearchAll}); res.Commit != r.after || res.Search.Searched != 4 {
		t.Errorf("all: %s searched %d; want %s from all 4 commits", short(res.Commit), res.Search.Searched, short(r.after))
	}
	// --commit takes any revision git takes, in its own case.
	run(t, r.dir, "branch", "Feature-X", r.before)
	for _, rev := range []string{"HEAD~1", "Feature-X", strings.ToUpper(r.after[:10]), strings.ToUpper(r.after)} {
		res, err := newTestWorld(t, nil).Fetch(ctx, r.target(), FetchOptions{Repo: r.dir, Commit: rev})
		if err != nil {
			t.Errorf("--commit %s: %v", rev, err)
			continue
		}
		if res.Search.Method != MethodFlag || res.Search.Searched != 0 {
			t.Errorf("--commit %s: %+v; the flag's commit is not searched past", rev, res.Search)
		}
	}
	if _, err := newTestWorld(t, nil).Fetch(ctx, r.target(), FetchOptions{Repo: r.dir, CommitSearch: "sometimes"}); err == nil {
		t.Error("--commit-search sometimes: no error")
	}
}

// TestReadsOf: only whole, successful Reads inside the repository count,
// from the structured result when kept, else from the numbered text.
func TestReadsOf(t *testing.T) {
	tool := func(args, out, detail string) trace.Step {
		tc := &trace.ToolCall{Name: "Read", Arguments: []byte(args), Status: trace.ToolOK, Output: out}
		if detail != "" {
			tc.Detail = []byte(detail)
		}
		return trace.Step{Kind: trace.KindTool, Tool: tc}
	}
	run := &trace.Run{Steps: []trace.Step{
		tool(`{"file_path":"/w/repo/a.py"}`, "     1→x = 1\n     2→y = 2\n\n<system-reminder>\nbe careful\n</system-reminder>\n", ""),
		tool(`{"file_path":"/w/repo/b.py"}`, "ignored", `{"type":"text","file":{"filePath":"/w/repo/b.py","content":"b = 1\n","numLines":1,"startLine":1,"totalLines":1}}`),
		tool(`{"file_path":"/w/repo/c.py","offset":10}`, "10\tpartial", ""),
		tool(`{"file_path":"/w/other/d.py"}`, "1\toutside", ""),
		tool(`{"file_path":"rel/e.py"}`, "1\tz", ""),
		tool(`{"file_path":"/w/repo/f.py"}`, "1\tpart", `{"file":{"content":"part","numLines":1,"startLine":1,"totalLines":40}}`),
		tool(`{"file_path":"/w/repo/g.py"}`, "File does not exist.", ""),
	}}
	got := ReadsOf(run, "/w/repo")
	want := []string{"a.py=x = 1\ny = 2", "b.py=b = 1\n", "rel/e.py=z"}
	var have []string
	for _, r := range got {
		have = append(have, r.Path+"="+r.Content)
	}
	if fmt.Sprint(have) != fmt.Sprint(want) {
		t.Errorf("ReadsOf = %q\nwant %q", have, want)
	}
}
