package feedback

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v93/github"

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

// TestFromGitHubRules: each rule, on a pull request built in memory.
func TestFromGitHubRules(t *testing.T) {
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	ts := func(h int) *github.Timestamp { return &github.Timestamp{Time: start.Add(time.Duration(h) * time.Hour)} }
	bot := &github.User{Login: github.Ptr("acme-review[bot]"), Type: github.Ptr("Bot")}
	ann := &github.User{Login: github.Ptr("ann"), Type: github.Ptr("User")}
	svc := &github.User{Login: github.Ptr("acme-ci"), Type: github.Ptr("User")}
	review := func(id int64, u *github.User, state string, h int) *github.PullRequestReview {
		return &github.PullRequestReview{ID: github.Ptr(id), User: u, State: github.Ptr(state), SubmittedAt: ts(h)}
	}
	merge := "5b2f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c"
	commit := func(msg string, h int) *github.RepositoryCommit {
		return &github.RepositoryCommit{SHA: github.Ptr("feed000000000000000000000000000000000000"), Author: ann,
			Commit: &github.Commit{Message: github.Ptr(msg), Committer: &github.CommitAuthor{Date: ts(h)}}}
	}
	tests := []struct {
		name   string
		action string
		a      world.Activity
		want   string // human decision, one act a line
	}{
		{"approved where the agent requested changes", "request-changes",
			world.Activity{PR: &github.PullRequest{}, Reviews: []*github.PullRequestReview{review(1, bot, "CHANGES_REQUESTED", 0), review(2, ann, "APPROVED", 2)}},
			`override {"action":"approve"}`},
		{"a reject is overridden like a request for changes", "reject",
			world.Activity{PR: &github.PullRequest{}, Reviews: []*github.PullRequestReview{review(2, ann, "APPROVED", 2)}},
			`override {"action":"approve"}`},
		{"agreeing", "request-changes",
			world.Activity{PR: &github.PullRequest{}, Reviews: []*github.PullRequestReview{review(2, ann, "CHANGES_REQUESTED", 2)}},
			`confirm `},
		{"a review before the run ended is not about it", "approve",
			world.Activity{PR: &github.PullRequest{}, Reviews: []*github.PullRequestReview{review(2, ann, "CHANGES_REQUESTED", -1)}},
			``},
		{"a comment decides nothing", "comment",
			world.Activity{PR: &github.PullRequest{}, Reviews: []*github.PullRequestReview{review(2, ann, "CHANGES_REQUESTED", 2)}},
			``},
		{"the agent posts as a machine user: its review during the run names it", "approve",
			world.Activity{PR: &github.PullRequest{}, Reviews: []*github.PullRequestReview{review(1, svc, "APPROVED", 0), review(2, svc, "CHANGES_REQUESTED", 2), review(3, ann, "CHANGES_REQUESTED", 3)},
				Events: []*github.IssueEvent{{Event: github.Ptr("review_dismissed"), Actor: ann, CreatedAt: ts(4), DismissedReview: &github.DismissedReview{ReviewID: github.Ptr(int64(1))}}}},
			"override {\"action\":\"request-changes\"}\noverride "},
		{"merged against a request for changes", "request-changes",
			world.Activity{PR: &github.PullRequest{MergedAt: ts(3), ClosedAt: ts(3), MergedBy: ann}},
			`override {"action":"approve"}`},
		{"closed unmerged against an approve", "approve",
			world.Activity{PR: &github.PullRequest{ClosedAt: ts(3)}, Events: []*github.IssueEvent{{Event: github.Ptr("closed"), Actor: ann, CreatedAt: ts(3)}}},
			`override {"action":"reject"}`},
		{"closed by a bot: no human act", "approve",
			world.Activity{PR: &github.PullRequest{ClosedAt: ts(3)}, Events: []*github.IssueEvent{{Event: github.Ptr("closed"), Actor: bot, CreatedAt: ts(3)}}},
			``},
		{"reverted by sha, merged by a bot", "request-changes",
			world.Activity{PR: &github.PullRequest{MergedAt: ts(3), MergedBy: bot, MergeCommitSHA: github.Ptr(merge), Title: github.Ptr("Add x")},
				Commits: []*github.RepositoryCommit{commit("Undo\n\nThis reverts commit 5b2f0c1d9e8a.", 5)}},
			`revert `},
		{"a commit reverting another one is not this revert", "approve",
			world.Activity{PR: &github.PullRequest{MergedAt: ts(3), MergedBy: bot, MergeCommitSHA: github.Ptr(merge), Title: github.Ptr("Add x")},
				Commits: []*github.RepositoryCommit{commit("Revert \"Add y\"\n\nThis reverts commit 0123456789abcdef.", 5)}},
			``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &trace.Run{Meta: trace.RunMeta{StartedAt: start},
				Outcome: &trace.Outcome{Decision: &trace.Decision{Value: json.RawMessage(`{"action":"` + tt.action + `"}`)}}}
			var got []string
			for _, f := range FromGitHub(run, &tt.a, GitHubOptions{}) {
				got = append(got, f.Human+" "+string(f.Decision))
			}
			if strings.Join(got, "\n") != tt.want {
				t.Errorf("acts:\n%s\nwant:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}
