package world

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v93/github"

	"github.com/agentreplay/replay/replay/trace"
)

// fakeGitHub speaks GitHub's REST API (and the one GraphQL query replay
// makes) for one repository, acme/widgets, with a pull request #7 and an
// issue #8, and serves the repository itself over smart HTTP, as a GitHub
// Enterprise host does: API under /api/v3/, git under /acme/widgets.git.
type fakeGitHub struct {
	t        *testing.T
	srv      *httptest.Server
	repo     *served
	start    time.Time // the run's start
	now      time.Time // the fake clock
	mu       sync.Mutex
	limited  map[string]int // path -> rate-limit responses still to give
	requests []string
	token    string // required for acme/secret
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{t: t, start: time.Date(2025, 1, 3, 12, 0, 0, 0, time.UTC), limited: map[string]int{}}
	f.now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// main: c0 (base); the PR branch: c1, c2 before the run, c3 after it.
	f.repo = serveRepo(t, 1, nil)
	work := f.repo.work
	run(t, work, "checkout", "-q", "-b", "feature")
	c1 := commit(t, work, "2025-01-02T10:00:00Z", "c1", map[string]string{"feature.go": "package f\n"})
	c2 := commit(t, work, "2025-01-03T09:00:00Z", "c2", map[string]string{"feature.go": "package f\n\nfunc F() {}\n"})
	c3 := commit(t, work, "2025-01-04T09:00:00Z", "c3", map[string]string{"feature.go": "package f\n\nfunc F() int { return 1 }\n"})
	f.repo.shas = append(f.repo.shas, c1, c2, c3)
	run(t, f.repo.bare, "fetch", "-q", work, "feature:feature")
	root := filepath.Dir(filepath.Dir(f.repo.bare))
	git := gitHTTPHandler(t, root)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, ".git/") {
			git.ServeHTTP(w, r)
			return
		}
		f.serveAPI(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitHub) apiURL() string { return f.srv.URL + "/api/v3/" }

func (f *fakeGitHub) world(t *testing.T, token string) (*World, *[]time.Duration) {
	var waits []time.Duration
	w := newTestWorld(t, func(c *Config) {
		c.GitHubAPIURL, c.GitHubToken = f.apiURL(), token
		c.Now = func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
		c.Sleep = func(_ <-chan struct{}, d time.Duration) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			waits = append(waits, d)
			f.now = f.now.Add(d)
			return nil
		}
	})
	return w, &waits
}

func (f *fakeGitHub) user(login string) map[string]any {
	return map[string]any{"login": login, "id": len(login), "type": "User", "url": f.srv.URL + "/api/v3/users/" + login}
}

func label(name string) map[string]any { return map[string]any{"name": name, "color": "ededed"} }

func (f *fakeGitHub) serveAPI(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	if n := f.limited[p]; n > 0 {
		f.limited[p] = n - 1
		reset := f.now.Add(30 * time.Second)
		f.mu.Unlock()
		if n%2 == 0 {
			// Primary rate limit: 403, remaining 0, reset time.
			w.Header().Set("X-RateLimit-Limit", "60")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"message":"API rate limit exceeded for 127.0.0.1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`)
			return
		}
		// Secondary rate limit: 429 with Retry-After.
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
		return
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	before := func(d time.Duration) string { return ts(f.start.Add(-d)) }
	later := func(d time.Duration) string { return ts(f.start.Add(d)) }
	shas := f.repo.shas
	page := func(items []any, per int) {
		pg, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if pg < 1 {
			pg = 1
		}
		lo, hi := (pg-1)*per, pg*per
		if hi < len(items) {
			u := *r.URL
			q := u.Query()
			q.Set("page", strconv.Itoa(pg+1))
			u.RawQuery = q.Encode()
			w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, f.srv.URL, u.String()))
		}
		if lo > len(items) {
			lo = len(items)
		}
		json.NewEncoder(w).Encode(items[lo:min(hi, len(items))])
	}
	commitJSON := func(sha, date string) any {
		a := map[string]any{"name": "Ada Dev", "email": "ada@example.com", "date": date}
		return map[string]any{"sha": sha, "commit": map[string]any{"author": a, "committer": a, "message": "m"}}
	}
	switch {
	case strings.HasPrefix(p, "/repos/acme/secret/"):
		if r.Header.Get("Authorization") != "Bearer "+f.token || f.token == "" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/pulls/pulls#get-a-pull-request","status":"404"}`)
			return
		}
	case p == "/repos/acme/widgets/pulls/7" && strings.Contains(r.Header.Get("Accept"), "diff"):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "diff --git a/feature.go b/feature.go\n(the current diff, with c3)\n")
	case p == "/repos/acme/widgets/pulls/7":
		json.NewEncoder(w).Encode(map[string]any{
			"number": 7, "state": "closed", "title": "Better F", "user": f.user("ada-dev"),
			"body": "edited after the run", "labels": []any{label("bug"), label("late")},
			"created_at": before(48 * time.Hour), "updated_at": later(26 * time.Hour),
			"closed_at": later(25 * time.Hour), "merged_at": later(25 * time.Hour), "merged": true,
			"head": map[string]any{"ref": "feature", "sha": shas[3], "label": "acme:feature"},
			"base": map[string]any{"ref": "main", "sha": shas[0], "label": "acme:main"},
		})
	case p == "/repos/acme/widgets/pulls/7/commits":
		page([]any{commitJSON(shas[1], "2025-01-02T10:00:00Z"), commitJSON(shas[2], "2025-01-03T09:00:00Z"), commitJSON(shas[3], "2025-01-04T09:00:00Z")}, 2)
	case p == "/repos/acme/widgets/pulls/7/files":
		page([]any{map[string]any{"filename": "feature.go", "status": "added", "additions": 3}}, 100)
	case p == "/repos/acme/widgets/pulls/7/reviews":
		page([]any{
			map[string]any{"id": 1, "user": f.user("bob"), "state": "COMMENTED", "body": "early look", "submitted_at": before(time.Hour)},
			map[string]any{"id": 2, "user": f.user("bob"), "state": "APPROVED", "body": "lgtm", "submitted_at": later(time.Hour)},
			map[string]any{"id": 3, "user": f.user("carol"), "state": "PENDING", "body": "draft"},
		}, 2)
	case p == "/repos/acme/widgets/pulls/7/comments":
		page([]any{
			map[string]any{"id": 10, "path": "feature.go", "body": "nit (edited later)", "created_at": before(2 * time.Hour), "updated_at": later(2 * time.Hour)},
			map[string]any{"id": 11, "path": "feature.go", "body": "after", "created_at": later(3 * time.Hour), "updated_at": later(3 * time.Hour)},
		}, 100)
	case p == "/repos/acme/widgets/issues/7/comments":
		var cs []any
		for i := 0; i < 5; i++ {
			cs = append(cs, map[string]any{"id": 100 + i, "user": f.user("ada-dev"), "body": fmt.Sprintf("comment %d", i),
				"created_at": ts(f.start.Add(time.Duration(i-3) * time.Hour)), "updated_at": ts(f.start.Add(time.Duration(i-3) * time.Hour))})
		}
		page(cs, 2)
	case p == "/repos/acme/widgets/issues/7/timeline":
		page([]any{
			map[string]any{"event": "labeled", "created_at": before(47 * time.Hour), "label": label("bug")},
			map[string]any{"event": "labeled", "created_at": before(47 * time.Hour), "label": label("wip")},
			map[string]any{"event": "renamed", "created_at": later(30 * time.Minute), "rename": map[string]any{"from": "Add F", "to": "Better F"}},
			map[string]any{"event": "unlabeled", "created_at": later(40 * time.Minute), "label": label("wip")},
			map[string]any{"event": "labeled", "created_at": later(50 * time.Minute), "label": label("late")},
		}, 100)
	case p == "/repos/acme/widgets/issues/8":
		json.NewEncoder(w).Encode(map[string]any{"number": 8, "state": "open", "title": "F is slow", "body": "it is slow",
			"user": f.user("dan"), "labels": []any{label("perf")}, "comments": 2,
			"created_at": before(72 * time.Hour), "updated_at": before(72 * time.Hour)})
	case p == "/repos/acme/widgets/issues/8/comments":
		page([]any{
			map[string]any{"id": 200, "body": "me too", "created_at": before(time.Hour), "updated_at": before(time.Hour)},
			map[string]any{"id": 201, "body": "fixed?", "created_at": later(time.Hour), "updated_at": later(time.Hour)},
		}, 100)
	case p == "/repos/acme/widgets/issues/8/timeline":
		page(nil, 100)
	case r.URL.Path == "/api/graphql" && r.Method == "POST":
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"repository": map[string]any{"issueOrPullRequest": map[string]any{
			"userContentEdits": map[string]any{"nodes": []any{
				map[string]any{"editedAt": later(26 * time.Hour), "diff": "edited after the run"},
				map[string]any{"editedAt": before(48 * time.Hour), "diff": "the body the agent read"},
			}}}}}})
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
	}
}

func (f *fakeGitHub) target(refs map[string]string) Target {
	t := Target{TraceID: "abcdef0123456789abcdef0123456789", At: f.start, Refs: map[string]trace.Ref{}}
	for k, v := range refs {
		t.Refs[k] = trace.Ref{Value: v, Provenance: trace.Recorded, From: "test"}
	}
	return t
}

func snapJSON[T any](t *testing.T, s *Snapshot, name string) T {
	t.Helper()
	var v T
	b, ok := s.File(name)
	if !ok {
		t.Fatalf("snapshot has no %s (files %q)", name, s.FileNames())
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestPullRequestAsOfRun fetches a pull request that changed after the run
// (renamed, relabeled, body edited, reviewed, commented, a new commit,
// merged): the snapshot is the pull request as the run saw it, and the
// commit is inferred as its head then. Listings come in pages (Link
// headers); two calls are rate-limited (403 with a reset time, 429 with
// Retry-After) and are waited out.
func TestPullRequestAsOfRun(t *testing.T) {
	f := newFakeGitHub(t)
	f.limited["/repos/acme/widgets/pulls/7/reviews"] = 2 // 403 reset, then 429 Retry-After
	w, waits := f.world(t, "tok")
	res, err := w.Fetch(context.Background(), f.target(map[string]string{"repo": "acme/widgets", "pr": "7"}), FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	shas := f.repo.shas
	if res.Commit != shas[2] {
		t.Errorf("commit %s, want c2 %s (the head as of the run)", res.Commit, shas[2])
	}
	want := trace.Ref{Value: shas[2], Provenance: trace.Inferred, From: "head of pull request #7 as of 2025-01-03T12:00:00Z, from the pull request's commits as of the run's start"}
	if got := res.Refs["commit"]; got != want {
		t.Errorf("commit ref %+v, want %+v", got, want)
	}
	if got := res.Refs["base_commit"]; got.Value != shas[0] || got.Provenance != trace.Inferred {
		t.Errorf("base_commit ref %+v", got)
	}
	if !cmp.Equal(*waits, []time.Duration{31 * time.Second, 5 * time.Second}) {
		t.Errorf("rate-limit waits %v, want [31s 5s]", *waits)
	}
	snap, err := w.Snapshot(res)
	if err != nil {
		t.Fatal(err)
	}
	pr := snapJSON[github.PullRequest](t, snap, "pr.json")
	var labels []string
	for _, l := range pr.Labels {
		labels = append(labels, l.GetName())
	}
	if pr.GetTitle() != "Add F" || pr.GetBody() != "the body the agent read" || pr.GetState() != "open" || pr.GetMerged() ||
		pr.MergedAt != nil || !cmp.Equal(labels, []string{"bug", "wip"}) || pr.GetHead().GetSHA() != shas[2] {
		t.Errorf("pr.json: title %q body %q state %q merged %v labels %q head %s", pr.GetTitle(), pr.GetBody(), pr.GetState(), pr.GetMerged(), labels, pr.GetHead().GetSHA())
	}
	if rs := snapJSON[[]github.PullRequestReview](t, snap, "reviews.json"); len(rs) != 1 || rs[0].GetBody() != "early look" {
		t.Errorf("reviews: %+v", rs)
	}
	if cs := snapJSON[[]github.PullRequestComment](t, snap, "review_comments.json"); len(cs) != 1 || cs[0].GetID() != 10 {
		t.Errorf("review comments: %+v", cs)
	}
	if cs := snapJSON[[]github.IssueComment](t, snap, "comments.json"); len(cs) != 4 {
		t.Errorf("comments: %d, want the 4 made before the run (of 5, over 3 pages)", len(cs))
	}
	if cs := snapJSON[[]github.RepositoryCommit](t, snap, "commits.json"); len(cs) != 2 || cs[1].GetSHA() != shas[2] {
		t.Errorf("commits: %d", len(cs))
	}
	// The head moved (c3): the diff is git's, of c2 against main.
	diff, _ := snap.File("pr.diff")
	if !strings.Contains(string(diff), "+func F() {}") || strings.Contains(string(diff), "return 1") || !strings.Contains(string(diff), "diff --git a/feature.go b/feature.go") {
		t.Errorf("pr.diff:\n%s", diff)
	}
	if fs := snapJSON[[]github.CommitFile](t, snap, "files.json"); len(fs) != 1 || fs[0].GetFilename() != "feature.go" || fs[0].GetStatus() != "added" || fs[0].GetAdditions() != 3 {
		t.Errorf("files: %+v", fs)
	}
	wantWarn := []string{"the body was edited after the run started", "head moved after the run", "1 comment(s) were edited after the run"}
	for _, ww := range wantWarn {
		if !strings.Contains(strings.Join(snap.Warnings, "\n"), ww) {
			t.Errorf("warnings %q lack %q", snap.Warnings, ww)
		}
	}

	// Hermetic: a second fetch needs neither the API nor the git server.
	f.mu.Lock()
	n := len(f.requests)
	f.mu.Unlock()
	f.srv.Close()
	again, err := w.Fetch(context.Background(), f.target(map[string]string{"repo": "acme/widgets", "pr": "7"}), FetchOptions{})
	if err != nil {
		t.Fatalf("second fetch with the server gone: %v", err)
	}
	if again.Commit != res.Commit || again.Snapshot != res.Snapshot || len(f.requests) != n {
		t.Errorf("second fetch: %s %s, %d more requests", again.Commit, again.Snapshot, len(f.requests)-n)
	}
}

// TestBodyHistoryNeedsToken: without a token GitHub's edit history cannot
// be read: the current body is kept and the snapshot says so.
func TestBodyHistoryNeedsToken(t *testing.T) {
	f := newFakeGitHub(t)
	w, _ := f.world(t, "")
	res, err := w.Fetch(context.Background(), f.target(map[string]string{"repo": "acme/widgets", "pr": "7", "commit": f.repo.shas[2]}), FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := w.Snapshot(res)
	pr := snapJSON[github.PullRequest](t, snap, "pr.json")
	if pr.GetBody() != "edited after the run" || !strings.Contains(strings.Join(snap.Warnings, "\n"), "needs GITHUB_TOKEN") {
		t.Errorf("body %q, warnings %q", pr.GetBody(), snap.Warnings)
	}
	if got := res.Refs["commit"]; got.Provenance != trace.Recorded {
		t.Errorf("a recorded commit stays recorded: %+v", got)
	}
}

// TestIssueRun: an issue run's commit is the default branch as of the
// run's start; the issue is cut to that time.
func TestIssueRun(t *testing.T) {
	f := newFakeGitHub(t)
	w, _ := f.world(t, "tok")
	res, err := w.Fetch(context.Background(), f.target(map[string]string{"work_item": "acme/widgets#8"}), FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != f.repo.shas[0] {
		t.Errorf("commit %s, want main's tip %s", res.Commit, f.repo.shas[0])
	}
	if got := res.Refs["commit"]; got.Provenance != trace.Inferred || got.From != "issue #8: tip of the default branch main as of 2025-01-03T12:00:00Z" {
		t.Errorf("commit ref %+v", got)
	}
	if got := res.Refs["issue"]; got.Value != "8" || got.Provenance != trace.Inferred {
		t.Errorf("issue ref %+v", got)
	}
	snap, _ := w.Snapshot(res)
	is := snapJSON[github.Issue](t, snap, "issue.json")
	cs := snapJSON[[]github.IssueComment](t, snap, "comments.json")
	if is.GetTitle() != "F is slow" || len(cs) != 1 || is.GetComments() != 1 {
		t.Errorf("issue %q with %d comments (count %d)", is.GetTitle(), len(cs), is.GetComments())
	}
}

// TestBranchAsOfRun: a Claude Code run with gitBranch and a time: the
// branch tip as of then, not now.
func TestBranchAsOfRun(t *testing.T) {
	f := newFakeGitHub(t)
	w, _ := f.world(t, "")
	tg := f.target(map[string]string{"repo": f.repo.url, "branch": "feature"})
	res, err := w.Fetch(context.Background(), tg, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := trace.Ref{Value: f.repo.shas[2], Provenance: trace.Inferred, From: "tip of branch feature as of 2025-01-03T12:00:00Z"}
	if res.Commit != f.repo.shas[2] || res.Refs["commit"] != want {
		t.Errorf("commit %s, ref %+v; want c2 %s", res.Commit, res.Refs["commit"], f.repo.shas[2])
	}
	// Before any commit of the branch: no tip, and a clear error.
	tg.At = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tg.TraceID = "00000000000000000000000000000001"
	if _, err := w.Fetch(context.Background(), tg, FetchOptions{}); !errors.Is(err, ErrNoCommit) || !strings.Contains(err.Error(), "--commit") {
		t.Errorf("branch younger than the run: %v", err)
	}
	// --commit wins, abbreviated, with provenance flag.
	tg.TraceID = "00000000000000000000000000000002"
	res, err = w.Fetch(context.Background(), tg, FetchOptions{Commit: f.repo.shas[1][:10]})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != f.repo.shas[1] || res.Refs["commit"].Provenance != trace.Flag {
		t.Errorf("--commit: %s %+v", res.Commit, res.Refs["commit"])
	}
}

// TestGitHubErrors: a private repository without a token (404), and a rate
// limit whose reset is too far away.
func TestGitHubErrors(t *testing.T) {
	f := newFakeGitHub(t)
	f.token = "tok"
	w, _ := f.world(t, "")
	_, err := w.Fetch(context.Background(), f.target(map[string]string{"repo": "acme/secret", "pr": "1", "commit": f.repo.shas[0]}), FetchOptions{Repo: f.repo.url})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "set GITHUB_TOKEN") || !strings.Contains(err.Error(), "acme/secret#1") {
		t.Errorf("private repository without a token: %v", err)
	}
	f.limited["/repos/acme/widgets/pulls/7"] = 2
	w, _ = f.world(t, "tok")
	w.cfg.MaxRateLimitWait = 10 * time.Second
	_, err = w.Fetch(context.Background(), f.target(map[string]string{"repo": "acme/widgets", "pr": "7"}), FetchOptions{})
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "resets at 2030-01-01T00:00:30Z") {
		t.Errorf("long rate limit: %v", err)
	}
}

// TestCorruptedSnapshot: a snapshot file whose content no longer matches
// its hash is detected; online it is fetched again, offline the error says
// what to do.
func TestCorruptedSnapshot(t *testing.T) {
	f := newFakeGitHub(t)
	w, _ := f.world(t, "tok")
	tg := f.target(map[string]string{"repo": "acme/widgets", "pr": "7"})
	res, err := w.Fetch(context.Background(), tg, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := w.Snapshot(res)
	damage := func() {
		p := w.cache.blobPath(snap.Files["pr.json"].SHA256)
		if err := writeFileMode(p, []byte(`{"title":"tampered"}`)); err != nil {
			t.Fatal(err)
		}
	}
	damage()
	if _, err := w.Snapshot(res); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged snapshot read: %v, want ErrCorrupt", err)
	}
	res, err = w.Fetch(context.Background(), tg, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.Snapshot(res)
	if err != nil {
		t.Fatalf("after re-fetch: %v", err)
	}
	if pr := snapJSON[github.PullRequest](t, again, "pr.json"); pr.GetTitle() != "Add F" {
		t.Fatalf("after re-fetch: %v", err)
	}
	snap = again
	damage()
	off, _ := f.world(t, "tok")
	off.cfg.CacheDir, off.cache.root, off.cfg.Offline = w.cfg.CacheDir, w.cfg.CacheDir, true
	_, err = off.Fetch(context.Background(), tg, FetchOptions{})
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "without --offline") {
		t.Errorf("offline with a damaged snapshot: %v", err)
	}
}
