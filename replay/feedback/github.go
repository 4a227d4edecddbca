package feedback

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v93/github"

	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
)

// What a run worked on, and what GitHub says humans did about it after the
// run ended (replay feedback fetch):
//
//   - a human's review after the agent's: CHANGES_REQUESTED where the agent
//     approved is an override with {"action": "request-changes"}, APPROVED
//     where it requested changes (or rejected) an override with
//     {"action": "approve"}; a review that agrees is a confirm;
//   - the agent's review dismissed: an override;
//   - the pull request merged against a request-changes (or reject): an
//     override {"action": "approve"}; closed unmerged against an approve:
//     an override {"action": "reject"}; merged after an approve: a confirm;
//   - a revert of the merged commit (a later commit saying "This reverts
//     commit <sha>" or titled Revert "<the PR's title>"): a revert;
//   - labels a human added or removed after the run, against the labels the
//     run decided (a triage decision's "labels"): an override whose
//     decision is the labels after the change.
//
// The agent is the account of its own review: a login given in
// GitHubOptions.AgentLogins; else the account of the review posted while
// the run ran (up to 5 minutes after its end) with the state of its
// decision, and any bot account ("[bot]" logins, GitHub's Bot type). Acts
// by the agent, or by other bots, are not human.

// GitHubOptions tune FromGitHub.
type GitHubOptions struct {
	// AgentLogins are the agent's GitHub accounts (empty: the account of
	// the run's own review, and any bot).
	AgentLogins []string
}

// Target is the pull request or issue a run worked on.
type Target struct {
	Owner, Name string
	Number      int
	Kind        string // world.KindPR, world.KindIssue, or "" (a work item: either)
}

func (t Target) String() string { return fmt.Sprintf("%s/%s#%d", t.Owner, t.Name, t.Number) }

// TargetOf says which pull request or issue the run worked on, from its
// refs: the PR ref, else the issue ref, else the work item (each a URL,
// owner/name#N, or a number with the run's repo).
func TargetOf(meta trace.RunMeta) (Target, bool) {
	repo := ""
	if r := meta.Refs.Repo; r != nil {
		repo = store.RepoKey(r.Value)
	}
	for _, c := range []struct {
		ref  *trace.Ref
		kind string
	}{{meta.Refs.PR, world.KindPR}, {meta.Refs.Issue, world.KindIssue}, {meta.Refs.WorkItem, ""}} {
		if c.ref == nil {
			continue
		}
		key, ok := WorkItemKey(c.ref.Value)
		if !ok {
			n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(c.ref.Value), "#"))
			if err != nil || n <= 0 || !strings.Contains(repo, "/") {
				continue
			}
			key = repo + "#" + strconv.Itoa(n)
		}
		or, num, _ := strings.Cut(key, "#")
		o, r, _ := strings.Cut(or, "/")
		n, _ := strconv.Atoi(num)
		kind := c.kind
		if kind == "" && strings.Contains(c.ref.Value, "/pull/") {
			kind = world.KindPR
		}
		return Target{Owner: o, Name: r, Number: n, Kind: kind}, true
	}
	return Target{}, false
}

// FromGitHub tells what humans did about run after it ended from the
// activity on its pull request or issue (see the rules above). The acts
// have Source "github", oldest first.
func FromGitHub(run *trace.Run, a *world.Activity, o GitHubOptions) []trace.Feedback {
	end := run.Meta.EndedAt
	if end.IsZero() {
		end = run.Meta.StartedAt
	}
	after := func(t time.Time) bool { return !t.IsZero() && (end.IsZero() || t.After(end)) }
	action, labels, hasLabels := decisionOf(run)
	logins := o.AgentLogins
	if len(logins) == 0 {
		logins = recordedReviewers(run, a.Reviews, action)
	}
	agent := func(u *github.User) bool {
		if u == nil {
			return false
		}
		if slices.ContainsFunc(logins, func(l string) bool { return strings.EqualFold(l, u.GetLogin()) }) {
			return true
		}
		return len(o.AgentLogins) == 0 && isBot(u)
	}
	human := func(u *github.User) bool { return u != nil && !agent(u) && !isBot(u) }
	var out []trace.Feedback
	add := func(f trace.Feedback) {
		f.Source = "github"
		out = append(out, f)
	}
	approves, rejects := action == "approve", action == "request-changes" || action == "reject"

	agentReviews := map[int64]bool{}
	for _, r := range a.Reviews {
		if agent(r.User) {
			agentReviews[r.GetID()] = true
		}
	}
	for _, r := range a.Reviews {
		at := r.GetSubmittedAt().Time
		if !human(r.User) || !after(at) {
			continue
		}
		f := trace.Feedback{By: r.GetUser().GetLogin(), At: at, URL: r.GetHTMLURL(), Note: "review " + r.GetState()}
		switch {
		case r.GetState() == "CHANGES_REQUESTED" && approves:
			f.Human, f.Decision = trace.HumanOverride, decision("action", "request-changes")
		case r.GetState() == "APPROVED" && rejects:
			f.Human, f.Decision = trace.HumanOverride, decision("action", "approve")
		case r.GetState() == "CHANGES_REQUESTED" && rejects, r.GetState() == "APPROVED" && approves:
			f.Human = trace.HumanConfirm
		default:
			continue
		}
		add(f)
	}

	itemURL := a.PR.GetHTMLURL()
	if itemURL == "" {
		itemURL = a.Issue.GetHTMLURL()
	}
	closer := map[string]*github.User{} // closed, merged -> who
	cur := slices.Clone(labels)
	for _, ev := range a.Events {
		at := ev.GetCreatedAt().Time
		switch ev.GetEvent() {
		case "closed", "merged":
			closer[ev.GetEvent()] = ev.Actor
		}
		if !after(at) || !human(ev.Actor) {
			continue
		}
		switch ev.GetEvent() {
		case "review_dismissed":
			d := ev.GetDismissedReview()
			if d == nil || (len(agentReviews) > 0 && !agentReviews[d.GetReviewID()]) {
				continue
			}
			note := "dismissed the agent's review"
			if m := d.GetDismissalMessage(); m != "" {
				note += ": " + m
			}
			add(trace.Feedback{Human: trace.HumanOverride, By: ev.GetActor().GetLogin(), At: at, URL: itemURL, Note: note})
		case "labeled", "unlabeled":
			if !hasLabels {
				continue
			}
			l := ev.GetLabel().GetName()
			decided := slices.Contains(labels, l)
			if ev.GetEvent() == "labeled" {
				if !slices.Contains(cur, l) {
					cur = append(cur, l)
				}
				if decided {
					continue
				}
			} else {
				cur = slices.DeleteFunc(cur, func(s string) bool { return s == l })
				if !decided {
					continue
				}
			}
			add(trace.Feedback{Human: trace.HumanOverride, Decision: decision("labels", slices.Clone(cur)), By: ev.GetActor().GetLogin(), At: at,
				URL: itemURL, Note: ev.GetEvent() + " " + strconv.Quote(l)})
		}
	}

	if pr := a.PR; pr != nil {
		merger, closedBy := pr.MergedBy, closer["closed"]
		if merger == nil {
			merger = closer["merged"]
		}
		switch {
		case pr.MergedAt != nil && after(pr.MergedAt.Time) && human(merger) && rejects:
			add(trace.Feedback{Human: trace.HumanOverride, Decision: decision("action", "approve"), By: merger.GetLogin(), At: pr.MergedAt.Time,
				URL: itemURL, Note: "merged against the agent's " + action})
		case pr.MergedAt != nil && after(pr.MergedAt.Time) && human(merger) && approves:
			add(trace.Feedback{Human: trace.HumanConfirm, By: merger.GetLogin(), At: pr.MergedAt.Time, URL: itemURL, Note: "merged"})
		case pr.MergedAt == nil && pr.ClosedAt != nil && after(pr.ClosedAt.Time) && (closedBy == nil || human(closedBy)) && approves:
			add(trace.Feedback{Human: trace.HumanOverride, Decision: decision("action", "reject"), By: closedBy.GetLogin(), At: pr.ClosedAt.Time,
				URL: itemURL, Note: "closed unmerged against the agent's approve"})
		}
		if pr.MergedAt != nil {
			if c := revertOf(pr, a.Commits); c != nil {
				by := c.GetAuthor().GetLogin()
				if by == "" {
					by = c.GetCommit().GetAuthor().GetName()
				}
				at := c.GetCommit().GetCommitter().GetDate().Time
				if at.IsZero() {
					at = c.GetCommit().GetAuthor().GetDate().Time
				}
				add(trace.Feedback{Human: trace.HumanRevert, By: by, At: at, URL: c.GetHTMLURL(), Note: "reverted in " + short(c.GetSHA()) + ": " + firstLine(c.GetCommit().GetMessage())})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b trace.Feedback) int { return a.At.Compare(b.At) })
	return out
}

// reviewGrace is how long after a run's end its own review may show on
// GitHub (the harness posts it once the agent is done).
const reviewGrace = 5 * time.Minute

// recordedReviewers are the accounts whose review is the run's own: posted
// while the run ran (or within reviewGrace of its end) with the state of
// its decision.
func recordedReviewers(run *trace.Run, reviews []*github.PullRequestReview, action string) []string {
	start, end := run.Meta.StartedAt, run.Meta.EndedAt
	if end.IsZero() {
		end = start
	}
	state := map[string]string{"approve": "APPROVED", "request-changes": "CHANGES_REQUESTED", "reject": "CHANGES_REQUESTED", "comment": "COMMENTED"}[action]
	if start.IsZero() || state == "" {
		return nil
	}
	var out []string
	for _, r := range reviews {
		at := r.GetSubmittedAt().Time
		if r.GetState() == state && !at.Before(start) && !at.After(end.Add(reviewGrace)) && r.GetUser().GetLogin() != "" {
			out = append(out, r.GetUser().GetLogin())
		}
	}
	return out
}

// decisionOf reads the run's decision: its action and, for a triage
// decision, its labels.
func decisionOf(run *trace.Run) (action string, labels []string, hasLabels bool) {
	if run.Outcome == nil || run.Outcome.Decision == nil {
		return "", nil, false
	}
	var d struct {
		Action string          `json:"action"`
		Labels json.RawMessage `json:"labels"`
	}
	if json.Unmarshal(run.Outcome.Decision.Value, &d) != nil {
		return "", nil, false
	}
	if len(d.Labels) > 0 {
		if json.Unmarshal(d.Labels, &labels) == nil {
			hasLabels = true
		} else {
			var objs []struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(d.Labels, &objs) == nil {
				hasLabels = true
				for _, o := range objs {
					labels = append(labels, o.Name)
				}
			}
		}
	}
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(d.Action), "_", "-")), labels, hasLabels
}

// revertOf finds a commit reverting the merged pull request.
func revertOf(pr *github.PullRequest, commits []*github.RepositoryCommit) *github.RepositoryCommit {
	sha := strings.ToLower(pr.GetMergeCommitSHA())
	title := `revert "` + strings.ToLower(pr.GetTitle()) + `"`
	for _, c := range commits {
		msg := strings.ToLower(c.GetCommit().GetMessage())
		if pr.GetTitle() != "" && strings.HasPrefix(firstLine(msg), title) {
			return c
		}
		if sha == "" {
			continue
		}
		for rest := msg; ; {
			_, after, ok := strings.Cut(rest, "this reverts commit ")
			if !ok {
				break
			}
			rest = after
			word := strings.TrimRight(strings.Fields(after + " ")[0], ".,;)")
			if len(word) >= 7 && (strings.HasPrefix(sha, word) || strings.HasPrefix(word, sha)) {
				return c
			}
		}
	}
	return nil
}

func isBot(u *github.User) bool {
	return strings.HasSuffix(strings.ToLower(u.GetLogin()), "[bot]") || u.GetType() == "Bot"
}

func decision(k string, v any) json.RawMessage {
	b, _ := json.Marshal(map[string]any{k: v})
	return b
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
