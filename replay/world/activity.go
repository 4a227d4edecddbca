package world

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-github/v93/github"
)

// Activity is what happened on a pull request or issue, as GitHub's REST
// API returns it: what replay feedback fetch reads to tell what humans did
// after a run. Unlike a Snapshot it is not cut at the run's start: it is
// the item as it is now.
type Activity struct {
	Owner  string `json:"owner"`
	Name   string `json:"name"`
	Number int    `json:"number"`
	Kind   string `json:"kind"` // KindPR or KindIssue
	// Source says where it came from: the API's URL or the fixture
	// directory, or "cache" (offline).
	Source    string    `json:"source"`
	FetchedAt time.Time `json:"fetched_at"`

	PR      *github.PullRequest         `json:"pr,omitempty"` // nil for an issue
	Issue   *github.Issue               `json:"issue,omitempty"`
	Reviews []*github.PullRequestReview `json:"reviews,omitempty"`
	// Events are the item's issue events (labeled, unlabeled,
	// review_dismissed, merged, closed, reopened, …), oldest first.
	Events []*github.IssueEvent `json:"events,omitempty"`
	// Commits are the repository's commits since the run (on its default
	// branch), where a revert of a merged pull request shows; fetched only
	// for a merged pull request.
	Commits []*github.RepositoryCommit `json:"commits,omitempty"`
}

// ActivityOptions say where an Activity comes from.
type ActivityOptions struct {
	// GitHubFixture reads the REST responses from a directory instead of
	// the API: pr.json (or issue.json), reviews.json, events.json
	// (issues/N/events) and repo_commits.json (commits?since=…); a missing
	// listing is empty.
	GitHubFixture string
	// Since bounds the repository commits listed (the run's end).
	Since time.Time
}

// Activity reads what happened on pull request or issue number of
// owner/name. kind is KindPR, KindIssue, or "" when not known (a work
// item: a pull request when GitHub has one of that number, else an
// issue). Fetched from the API, it is kept in the cache; offline, the
// cached one is returned.
func (w *World) Activity(ctx context.Context, owner, name string, number int, kind string, o ActivityOptions) (*Activity, error) {
	what := fmt.Sprintf("%s/%s#%d", owner, name, number)
	key := filepath.Join("github", "activity", unsafeKey.ReplaceAllString(w.gh.host, "_"), unsafeKey.ReplaceAllString(owner, "_"),
		unsafeKey.ReplaceAllString(name, "_"), strconv.Itoa(number)+".json")
	var src activitySource
	switch {
	case o.GitHubFixture != "":
		if _, err := os.Stat(o.GitHubFixture); err != nil {
			return nil, fmt.Errorf("read github fixture %q: %w", o.GitHubFixture, err)
		}
		abs, _ := filepath.Abs(o.GitHubFixture)
		d := dirSource{dir: abs}
		src = d
		if kind == "" {
			kind = KindIssue
			if d.hasPR() {
				kind = KindPR
			}
		}
	case w.cfg.Offline:
		b, err := os.ReadFile(w.cache.path(key))
		if err != nil {
			return nil, fmt.Errorf("read activity of %s: offline, and not in the cache (%w)", what, err)
		}
		var a Activity
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("read activity of %s from the cache: %w", what, err)
		}
		a.Source = "cache"
		return &a, nil
	default:
		api, err := w.apiSource()
		if err != nil {
			return nil, err
		}
		src = api
	}
	a := &Activity{Owner: owner, Name: name, Number: number, Kind: kind, Source: src.name(), FetchedAt: w.cfg.Now().UTC()}
	if kind != KindIssue {
		pr, err := src.pr(ctx, owner, name, number)
		switch {
		case err == nil:
			a.PR, a.Kind = pr, KindPR
		case kind == "" && errors.Is(err, ErrNotFound):
			a.Kind = KindIssue
		default:
			return nil, fmt.Errorf("read activity of %s: %w", what, err)
		}
	}
	var err error
	if a.Kind == KindIssue {
		if a.Issue, err = src.issue(ctx, owner, name, number); err != nil {
			return nil, fmt.Errorf("read activity of %s: %w", what, err)
		}
	} else if a.Reviews, err = src.reviews(ctx, owner, name, number); err != nil {
		return nil, fmt.Errorf("read activity of %s: %w", what, err)
	}
	if a.Events, err = src.issueEvents(ctx, owner, name, number); err != nil {
		return nil, fmt.Errorf("read activity of %s: %w", what, err)
	}
	if a.PR != nil && a.PR.MergedAt != nil {
		since := o.Since
		if since.IsZero() || a.PR.MergedAt.Before(since) {
			since = a.PR.MergedAt.Time
		}
		branch := a.PR.GetBase().GetRef()
		if a.Commits, err = src.repoCommits(ctx, owner, name, branch, since); err != nil {
			return nil, fmt.Errorf("read activity of %s: %w", what, err)
		}
	}
	if _, isAPI := src.(*apiSource); isAPI {
		if b, err := json.Marshal(a); err == nil {
			if err := w.cache.writeAtomic(w.cache.path(key), b); err != nil {
				w.logf("world: keep activity of %s in the cache: %v", what, err)
			}
		}
	}
	return a, nil
}

// activitySource is what Activity reads: a ghSource and the listings only
// it wants.
type activitySource interface {
	ghSource
	issueEvents(ctx context.Context, o, r string, n int) ([]*github.IssueEvent, error)
	repoCommits(ctx context.Context, o, r, branch string, since time.Time) ([]*github.RepositoryCommit, error)
}

func (s *apiSource) issueEvents(ctx context.Context, o, r string, n int) ([]*github.IssueEvent, error) {
	return list(ctx, s, fmt.Sprintf("list events of %s/%s#%d", o, r, n), func(ctx context.Context, opt github.ListOptions) ([]*github.IssueEvent, *github.Response, error) {
		return s.c.Issues.ListIssueEvents(ctx, o, r, n, &opt)
	})
}

func (s *apiSource) repoCommits(ctx context.Context, o, r, branch string, since time.Time) ([]*github.RepositoryCommit, error) {
	return list(ctx, s, fmt.Sprintf("list commits of %s/%s since %s", o, r, since.UTC().Format(time.RFC3339)), func(ctx context.Context, opt github.ListOptions) ([]*github.RepositoryCommit, *github.Response, error) {
		return s.c.Repositories.ListCommits(ctx, o, r, &github.CommitsListOptions{SHA: branch, Since: since, ListOptions: opt})
	})
}

func (d dirSource) issueEvents(_ context.Context, o, r string, n int) ([]*github.IssueEvent, error) {
	var v []*github.IssueEvent
	return v, d.read("events.json", &v, false)
}

func (d dirSource) repoCommits(_ context.Context, o, r, branch string, since time.Time) ([]*github.RepositoryCommit, error) {
	var v []*github.RepositoryCommit
	return v, d.read("repo_commits.json", &v, false)
}
