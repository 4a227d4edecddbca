package feedback

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
)

func decodeRun(t *testing.T, path string) *trace.Run {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run, err := trace.DecodeRun(context.Background(), f, path)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// acts renders feedback one act a line, in a stable form.
func acts(fbs []trace.Feedback) string {
	var lines []string
	for _, f := range fbs {
		lines = append(lines, strings.Join([]string{f.At.UTC().Format("01-02T15:04"), f.Human, f.By, string(f.Decision), f.Note, f.Source}, " | "))
	}
	return strings.Join(lines, "\n")
}

var (
	wantPR42 = strings.Join([]string{
		`11-02T11:00 | override | maria | {"action":"request-changes"} | review CHANGES_REQUESTED | github`,
		`11-02T11:01 | override | maria |  | dismissed the agent's review: missed the off-by-one | github`,
		`11-03T16:00 | confirm | lead |  | merged | github`,
		`11-05T09:00 | revert | maria |  | reverted in c0ffee000000: Revert "Add page_count helper" | github`,
	}, "\n")
	wantIssue7 = strings.Join([]string{
		`11-06T09:00 | override | maria | {"labels":["bug"]} | unlabeled "p2" | github`,
		`11-06T09:00 | override | maria | {"labels":["bug","question"]} | labeled "question" | github`,
	}, "\n")
)

// TestFromGitHubFixture: the saved REST responses, read as a fixture
// directory, tell what the humans did after each run.
func TestFromGitHubFixture(t *testing.T) {
	w, err := world.New(world.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, trace, fixture, want string
		opts                       GitHubOptions
	}{
		{"a review the humans overrode, merged, then reverted", "testdata/review.jsonl", "testdata/github/pr42", wantPR42, GitHubOptions{}},
		{"labels a human changed against the triage", "testdata/triage-labels.jsonl", "testdata/github/issue7", wantIssue7, GitHubOptions{}},
		// With the agent named, other bots' acts still do not count, and
		// a dismissal of a review that is not the agent's is not an
		// override.
		{"the agent named", "testdata/review.jsonl", "testdata/github/pr42", wantPR42, GitHubOptions{AgentLogins: []string{"ACME-review[bot]"}}},
		// Another agent named (the account that merged): its review was
		// never dismissed, and its merge is no human's.
		{"another agent named", "testdata/review.jsonl", "testdata/github/pr42",
			strings.Join([]string{strings.Split(wantPR42, "\n")[0], strings.Split(wantPR42, "\n")[3]}, "\n"),
			GitHubOptions{AgentLogins: []string{"lead"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := decodeRun(t, tt.trace)
			tg, ok := TargetOf(run.Meta)
			if !ok {
				t.Fatal("no target")
			}
			a, err := w.Activity(context.Background(), tg.Owner, tg.Name, tg.Number, tg.Kind, world.ActivityOptions{GitHubFixture: tt.fixture})
			if err != nil {
				t.Fatal(err)
			}
			if got := acts(FromGitHub(run, a, tt.opts)); got != tt.want {
				t.Errorf("acts:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestFromGitHubAPI: the same responses served by a fake GitHub API give
// the same acts, and the activity is then in the cache for offline use.
func TestFromGitHubAPI(t *testing.T) {
	routes := map[string]string{
		"/repos/acme/widgets/pulls/42":         "pr42/pr.json",
		"/repos/acme/widgets/pulls/42/reviews": "pr42/reviews.json",
		"/repos/acme/widgets/issues/42/events": "pr42/events.json",
		"/repos/acme/widgets/commits":          "pr42/repo_commits.json",
	}
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		f, ok := routes[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`))
			return
		}
		b, err := os.ReadFile(filepath.Join("testdata/github", f))
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(b)
	}))
	defer srv.Close()
	cache := t.TempDir()
	w, err := world.New(world.Config{CacheDir: cache, GitHubAPIURL: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	run := decodeRun(t, "testdata/review.jsonl")
	a, err := w.Activity(context.Background(), "acme", "widgets", 42, "", world.ActivityOptions{Since: run.Meta.StartedAt})
	if err != nil {
		t.Fatal(err)
	}
	if got := acts(FromGitHub(run, a, GitHubOptions{})); got != wantPR42 {
		t.Errorf("acts:\n%s\nwant:\n%s", got, wantPR42)
	}
	if q := strings.Join(asked, "\n"); !strings.Contains(q, "/repos/acme/widgets/commits?") || !strings.Contains(q, "sha=main") || !strings.Contains(q, "since=2026-11-02T09") {
		t.Errorf("the commits since the run on the base branch were not asked for:\n%s", q)
	}

	off, err := world.New(world.Config{CacheDir: cache, GitHubAPIURL: srv.URL + "/", Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	n := len(asked)
	a, err = off.Activity(context.Background(), "acme", "widgets", 42, "", world.ActivityOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := acts(FromGitHub(run, a, GitHubOptions{})); got != wantPR42 || len(asked) != n {
		t.Errorf("offline, from the cache (%d requests):\n%s", len(asked)-n, got)
	}
}
