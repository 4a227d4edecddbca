package world

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v93/github"
)

// ghSource is where GitHub data comes from: the REST API, or a directory of
// REST responses saved as files (a fixture).
type ghSource interface {
	// name says where the data came from (for the snapshot's Source).
	name() string
	pr(ctx context.Context, o, r string, n int) (*github.PullRequest, error)
	prDiff(ctx context.Context, o, r string, n int) (string, error)
	prFiles(ctx context.Context, o, r string, n int) ([]*github.CommitFile, error)
	prCommits(ctx context.Context, o, r string, n int) ([]*github.RepositoryCommit, error)
	reviews(ctx context.Context, o, r string, n int) ([]*github.PullRequestReview, error)
	reviewComments(ctx context.Context, o, r string, n int) ([]*github.PullRequestComment, error)
	issue(ctx context.Context, o, r string, n int) (*github.Issue, error)
	issueComments(ctx context.Context, o, r string, n int) ([]*github.IssueComment, error)
	timeline(ctx context.Context, o, r string, n int) ([]*github.Timeline, error)
	// bodyEdits lists the versions of an issue's or pull request's body
	// (GitHub's userContentEdits): ok is false when the history cannot be
	// had (no token: GitHub's GraphQL API wants one).
	bodyEdits(ctx context.Context, o, r string, n int) (edits []bodyEdit, ok bool, err error)
}

// bodyEdit is one version of a body: the text as of EditedAt.
type bodyEdit struct {
	EditedAt time.Time `json:"editedAt"`
	Diff     *string   `json:"diff"` // the whole body after the edit; nil when the revision was deleted
}

// apiSource is the GitHub REST API through go-github, with pagination and
// rate limits honoured.
type apiSource struct {
	w     *World
	c     *github.Client
	token bool
}

func (w *World) apiSource() (*apiSource, error) {
	hc := w.cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	base := w.gh.api.String()
	opts := []github.ClientOptionsFunc{github.WithHTTPClient(hc), github.WithURLs(&base, nil),
		github.WithUserAgent("replay (github.com/agentreplay/replay)")}
	if w.cfg.GitHubToken != "" {
		opts = append(opts, github.WithAuthToken(w.cfg.GitHubToken))
	}
	c, err := github.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("github client for %s: %w", base, err)
	}
	return &apiSource{w: w, c: c, token: w.cfg.GitHubToken != ""}, nil
}

func (s *apiSource) name() string { return s.c.BaseURL() }

// maxPages bounds a listing (100 per page).
const maxPages = 100

// call runs one API request, waiting out rate limits (up to
// Config.MaxRateLimitWait) and retrying server errors a few times.
func (s *apiSource) call(ctx context.Context, what string, fn func(context.Context) (*github.Response, error)) error {
	ctx = context.WithValue(ctx, github.BypassRateLimitCheck, true)
	for attempt := 0; ; attempt++ {
		resp, err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait, reset, retry := s.retryAfter(err, resp, attempt)
		if !retry {
			return s.mapError(what, err, resp)
		}
		if wait > s.w.cfg.MaxRateLimitWait {
			return fmt.Errorf("github %s: %w: it resets at %s (in %s); wait, or set GITHUB_TOKEN for a higher limit",
				what, ErrRateLimited, reset.UTC().Format(time.RFC3339), wait.Round(time.Second))
		}
		if wait > 0 {
			s.w.logf("world: github %s: rate limited, waiting %s", what, wait.Round(time.Second))
		}
		if err := s.w.cfg.Sleep(ctx.Done(), wait); err != nil {
			return ctx.Err()
		}
	}
}

// retryAfter says whether a failed call is worth retrying and after how
// long: rate limits (403 or 429 with their reset headers) and server errors.
func (s *apiSource) retryAfter(err error, resp *github.Response, attempt int) (time.Duration, time.Time, bool) {
	now := s.w.cfg.Now()
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		if attempt >= 3 {
			return 0, time.Time{}, false
		}
		reset := rl.Rate.Reset.Time
		if reset.IsZero() {
			reset = now.Add(time.Minute)
		}
		return max(reset.Sub(now)+time.Second, 0), reset, true
	}
	var ab *github.AbuseRateLimitError
	if errors.As(err, &ab) {
		if attempt >= 3 {
			return 0, time.Time{}, false
		}
		d := time.Minute
		if ab.RetryAfter != nil {
			d = *ab.RetryAfter
		}
		return d, now.Add(d), true
	}
	if resp != nil && resp.Response != nil {
		code := resp.StatusCode
		if code == http.StatusTooManyRequests || (code == http.StatusForbidden && resp.Header.Get("Retry-After") != "") {
			if attempt >= 3 {
				return 0, time.Time{}, false
			}
			d := time.Minute
			if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
				d = time.Duration(n) * time.Second
			} else if n, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
				d = time.Unix(n, 0).Sub(now) + time.Second
			}
			return max(d, 0), now.Add(d), true
		}
		if code >= 500 && attempt < 2 {
			return time.Duration(attempt+1) * time.Second, now, true
		}
	}
	return 0, time.Time{}, false
}

func (s *apiSource) mapError(what string, err error, resp *github.Response) error {
	if resp != nil && resp.Response != nil {
		switch resp.StatusCode {
		case http.StatusNotFound:
			hint := ""
			if !s.token {
				hint = ": if the repository is private, set GITHUB_TOKEN"
			}
			return fmt.Errorf("github %s: %w (404)%s", what, ErrNotFound, hint)
		case http.StatusUnauthorized:
			return fmt.Errorf("github %s: %w (401): GITHUB_TOKEN was refused", what, ErrAuth)
		case http.StatusForbidden:
			return fmt.Errorf("github %s: %w (403): the token may not read this repository: %v", what, ErrAuth, err)
		}
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return fmt.Errorf("github %s: %w: %v", what, ErrUnreachable, err)
	}
	return fmt.Errorf("github %s: %w", what, err)
}

func (s *apiSource) pr(ctx context.Context, o, r string, n int) (*github.PullRequest, error) {
	var pr *github.PullRequest
	err := s.call(ctx, fmt.Sprintf("get pull request %s/%s#%d", o, r, n), func(ctx context.Context) (resp *github.Response, err error) {
		pr, resp, err = s.c.PullRequests.Get(ctx, o, r, n)
		return resp, err
	})
	return pr, err
}

func (s *apiSource) prDiff(ctx context.Context, o, r string, n int) (string, error) {
	var d string
	err := s.call(ctx, fmt.Sprintf("get diff of %s/%s#%d", o, r, n), func(ctx context.Context) (resp *github.Response, err error) {
		d, resp, err = s.c.PullRequests.GetRaw(ctx, o, r, n, github.RawOptions{Type: github.Diff})
		return resp, err
	})
	return d, err
}

// list fetches every page of a listing.
func list[T any](ctx context.Context, s *apiSource, what string, page func(ctx context.Context, opt github.ListOptions) ([]T, *github.Response, error)) ([]T, error) {
	var all []T
	opt := github.ListOptions{PerPage: 100, Page: 1}
	for i := 0; i < maxPages; i++ {
		var (
			items []T
			next  int
		)
		err := s.call(ctx, what, func(ctx context.Context) (*github.Response, error) {
			var (
				resp *github.Response
				err  error
			)
			items, resp, err = page(ctx, opt)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == 0 {
			return all, nil
		}
		opt.Page = next
	}
	s.w.logf("world: github %s: stopped after %d pages", what, maxPages)
	return all, nil
}

func (s *apiSource) prFiles(ctx context.Context, o, r string, n int) ([]*github.CommitFile, error) {
	return list(ctx, s, fmt.Sprintf("list files of %s/%s#%d", o, r, n), func(ctx context.Context, opt github.ListOptions) ([]*github.CommitFile, *github.Response, error) {
		return s.c.PullRequests.ListFiles(ctx, o, r, n, &opt)
	})
}

func (s *apiSource) prCommits(ctx context.Context, o, r string, n int) ([]*github.RepositoryCommit, error) {
	return list(ctx, s, fmt.Sprintf("list commits of %s/%s#%d", o, r, n), func(ctx context.Context, opt github.ListOptions) ([]*github.RepositoryCommit, *github.Response, error) {
		return s.c.PullRequests.ListCommits(ctx, o, r, n, &opt)
	})
}

func (s *apiSource) reviews(ctx context.Context, o, r string, n int) ([]*github.PullRequestReview, error) {
	return list(ctx, s, fmt.Sprintf("list reviews of %s/%s#%d", o, r, n), func(ctx context.Context, opt github.ListOptions) ([]*github.PullRequestReview, *github.Response, error) {
		return s.c.PullRequests.ListReviews(ctx, o, r, n, &opt)
	})
}

func (s *apiSource) reviewComments(ctx context.Context, o, r string, n int) ([]*github.PullRequestComment, error) {
	return list(ctx, s, fmt.Sprintf("list review comments of %s/%s#%d", o, r, n), func(ctx context.Context, opt github.ListOptions) ([]*github.PullRequestComment, *github.Response, error) {
		return s.c.PullRequests.ListComments(ctx, o, r, n, &github.PullRequestListCommentsOptions{ListOptions: opt})
	})
}

func (s *apiSource) issue(ctx context.Context, o, r string, n int) (*github.Issue, error) {
	var is *github.Issue
	err := s.call(ctx, fmt.Sprintf("get issue %s/%s#%d", o, r, n), func(ctx context.Context) (resp *github.Response, err error) {
		is, resp, err = s.c.Issues.Get(ctx, o, r, n)
		return resp, err
	})
	return is, err
}

func (s *apiSource) issueComments(ctx context.Context, o, r string, n int) ([]*github.IssueComment, error) {
	return list(ctx, s, fmt.Sprintf("list comments of %s/%s#%d", o, r, n), func(ctx context.Context, opt github.ListOptions) ([]*github.IssueComment, *github.Response, error) {
		return s.c.Issues.ListComments(ctx, o, r, n, &github.IssueListCommentsOptions{ListOptions: opt})
	})
}

func (s *apiSource) timeline(ctx context.Context, o, r string, n int) ([]*github.Timeline, error) {
	return list(ctx, s, fmt.Sprintf("list timeline of %s/%s#%d", o, r, n), func(ctx context.Context, opt github.ListOptions) ([]*github.Timeline, *github.Response, error) {
		return s.c.Issues.ListIssueTimeline(ctx, o, r, n, &opt)
	})
}

const bodyEditsQuery = `query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    issueOrPullRequest(number: $number) {
      ... on Issue { userContentEdits(last: 100) { nodes { editedAt diff } } }
      ... on PullRequest { userContentEdits(last: 100) { nodes { editedAt diff } } }
    }
  }
}`

// bodyEdits asks GitHub's GraphQL API (the REST API keeps no body history)
// for the versions of the body. GraphQL wants a token: without one the
// history is unknown.
func (s *apiSource) bodyEdits(ctx context.Context, o, r string, n int) ([]bodyEdit, bool, error) {
	if !s.token {
		return nil, false, nil
	}
	// The GraphQL endpoint is /graphql on api.github.com, /api/graphql on
	// GitHub Enterprise (whose REST root is /api/v3/).
	rel := s.c.BaseURL() + "graphql"
	if base, ok := strings.CutSuffix(s.c.BaseURL(), "/api/v3/"); ok {
		rel = base + "/api/graphql"
	}
	body := map[string]any{"query": bodyEditsQuery, "variables": map[string]any{"owner": o, "name": r, "number": n}}
	var out struct {
		Data struct {
			Repository struct {
				Item struct {
					Edits struct {
						Nodes []bodyEdit `json:"nodes"`
					} `json:"userContentEdits"`
				} `json:"issueOrPullRequest"`
			} `json:"repository"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	err := s.call(ctx, fmt.Sprintf("body history of %s/%s#%d", o, r, n), func(ctx context.Context) (*github.Response, error) {
		req, err := s.c.NewRequest(ctx, "POST", rel, body)
		if err != nil {
			return nil, err
		}
		return s.c.Do(req, &out)
	})
	if err != nil {
		return nil, false, err
	}
	if len(out.Errors) > 0 {
		return nil, false, fmt.Errorf("github body history of %s/%s#%d: %s", o, r, n, out.Errors[0].Message)
	}
	return out.Data.Repository.Item.Edits.Nodes, true, nil
}

// dirSource reads GitHub data from a directory of REST responses (see the
// package documentation for the layout). Missing listings are empty.
type dirSource struct{ dir string }

func (d dirSource) name() string { return d.dir }

func (d dirSource) read(name string, v any, required bool) error {
	p := filepath.Join(d.dir, name)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) && !required {
		return nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read github fixture %s: %w: no such file", p, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read github fixture %s: %w", p, err)
	}
	if s, ok := v.(*string); ok {
		*s = string(b)
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("read github fixture %s: %w", p, jsonErrorAt(b, err))
	}
	return nil
}

// jsonErrorAt adds the line of a JSON syntax error.
func jsonErrorAt(b []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(b)) {
		return err
	}
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	return fmt.Errorf("line %d: %w", line, err)
}

func (d dirSource) pr(_ context.Context, o, r string, n int) (*github.PullRequest, error) {
	var pr github.PullRequest
	if err := d.read("pr.json", &pr, true); err != nil {
		return nil, err
	}
	if pr.GetNumber() != 0 && pr.GetNumber() != n {
		return nil, fmt.Errorf("read github fixture %s: it holds pull request #%d, not #%d", filepath.Join(d.dir, "pr.json"), pr.GetNumber(), n)
	}
	return &pr, nil
}

func (d dirSource) prDiff(_ context.Context, o, r string, n int) (string, error) {
	var s string
	return s, d.read("pr.diff", &s, false)
}

func (d dirSource) prFiles(_ context.Context, o, r string, n int) ([]*github.CommitFile, error) {
	var v []*github.CommitFile
	return v, d.read("files.json", &v, false)
}

func (d dirSource) prCommits(_ context.Context, o, r string, n int) ([]*github.RepositoryCommit, error) {
	var v []*github.RepositoryCommit
	return v, d.read("commits.json", &v, false)
}

func (d dirSource) reviews(_ context.Context, o, r string, n int) ([]*github.PullRequestReview, error) {
	var v []*github.PullRequestReview
	return v, d.read("reviews.json", &v, false)
}

func (d dirSource) reviewComments(_ context.Context, o, r string, n int) ([]*github.PullRequestComment, error) {
	var v []*github.PullRequestComment
	return v, d.read("review_comments.json", &v, false)
}

func (d dirSource) issue(_ context.Context, o, r string, n int) (*github.Issue, error) {
	var is github.Issue
	if err := d.read("issue.json", &is, true); err != nil {
		return nil, err
	}
	return &is, nil
}

func (d dirSource) issueComments(_ context.Context, o, r string, n int) ([]*github.IssueComment, error) {
	var v []*github.IssueComment
	return v, d.read("comments.json", &v, false)
}

func (d dirSource) timeline(_ context.Context, o, r string, n int) ([]*github.Timeline, error) {
	var v []*github.Timeline
	return v, d.read("timeline.json", &v, false)
}

func (d dirSource) bodyEdits(_ context.Context, o, r string, n int) ([]bodyEdit, bool, error) {
	if _, err := os.Stat(filepath.Join(d.dir, "body_edits.json")); err != nil {
		return nil, false, nil
	}
	var v []bodyEdit
	if err := d.read("body_edits.json", &v, true); err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// hasPR reports whether a fixture directory holds a pull request.
func (d dirSource) hasPR() bool {
	_, err := os.Stat(filepath.Join(d.dir, "pr.json"))
	return err == nil
}
