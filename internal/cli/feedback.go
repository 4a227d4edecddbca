package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay/feedback"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
)

func newFeedbackCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feedback",
		Short: "Attach what humans did about runs: feedback files, or GitHub",
		Long: `Feedback records what humans did about a run: an override (the human decided
otherwise), a revert, a manual fix, or a confirm. A run's feedback is its
trace's own feedback events plus what these commands attach; replay inspect
shows it, replay ls --overridden lists the runs a human overrode, and an
eval case takes its label from it.`,
	}
	cmd.AddCommand(newFeedbackAddCmd(g, nil), newFeedbackFetchCmd(g, nil))
	for _, c := range cmd.Commands() {
		args := c.Args
		c.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return usage(err)
			}
			return nil
		}
	}
	return cmd
}

type feedbackAddOptions struct {
	*globals
	Files []string
	JSON  bool
}

func newFeedbackAddCmd(g *globals, runF func(context.Context, *feedbackAddOptions) error) *cobra.Command {
	if runF == nil {
		runF = runFeedbackAdd
	}
	opts := &feedbackAddOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "add FILE...",
		Short: "Attach the human acts of feedback files to the stored runs they name",
		Long: `Add reads feedback files (JSON Lines, one human act a line; the JSON Schema is
replay/feedback/feedback.schema.json) and attaches each act to the stored runs
its "trace" names:

  {"trace": "acme/widgets#42", "human": "override", "decision": {"action": "request-changes"},
   "by": "alice", "at": "2026-11-02T10:00:00Z", "url": "https://github.com/acme/widgets/pull/42", "note": "..."}

trace is a stored id or unique id prefix, the trace's own id or the agent's
session id, or the URL of the pull request or issue the run worked on
(https://github.com/o/r/pull/N, o/r#N): by id, that run; by session, trace id
or URL, every original run that matches and started before the act. Replays
are never targets. human is override, revert, manual-fix or confirm.

Each line's match is printed (FILE:LINE, the act, the runs, how they
matched). An act already attached is not stored twice, so adding a file
again changes nothing.

Exit status: 0 when every line matched a run, 1 when some line matched none
(the others are attached), 2 when a file is invalid: every bad line is
named (FILE:LINE: FIELD: what is wrong) and nothing is attached.`,
		Example: `  # Label the runs humans overrode last week
  replay feedback add overrides.jsonl
  replay ls --overridden`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			return runF(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print what each line matched as JSON")
	return cmd
}

func runFeedbackAdd(ctx context.Context, opts *feedbackAddOptions) error {
	var (
		entries []feedback.Entry
		errs    []error
	)
	for _, name := range opts.Files {
		es, err := feedback.ReadFile(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, es...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bad feedback file, nothing attached:\n%w", errors.Join(errs...))
	}
	st, err := opts.openStore(ctx, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := feedback.Attach(ctx, st, entries)
	if err != nil {
		return err
	}
	if opts.JSON {
		type line struct {
			Source  string   `json:"source"`
			Trace   string   `json:"trace"`
			Runs    []string `json:"runs"`
			By      string   `json:"matched_by,omitempty"`
			Added   int      `json:"added"`
			Problem string   `json:"problem,omitempty"`
		}
		out := struct {
			Version   int    `json:"version"`
			Lines     []line `json:"lines"`
			Added     int    `json:"added"`
			Unmatched int    `json:"unmatched"`
		}{Version: 1, Lines: []line{}, Added: rep.Added, Unmatched: rep.Unmatched}
		for _, l := range rep.Lines {
			out.Lines = append(out.Lines, line{Source: strings.TrimPrefix(l.Source, "file:"), Trace: l.Trace, Runs: append([]string{}, l.Runs...), By: l.By, Added: l.Added, Problem: l.Problem})
		}
		if err := writeJSON(opts.env.Stdout, out); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(opts.env.Stdout, 0, 0, 2, ' ', 0)
		for i, l := range rep.Lines {
			human := entries[i].Feedback.Human
			if len(l.Runs) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.TrimPrefix(l.Source, "file:"), human, l.Trace, l.Problem)
				continue
			}
			var ids []string
			for _, id := range l.Runs {
				ids = append(ids, shortID(id))
			}
			state := "attached"
			if l.Added < len(l.Runs) {
				state = fmt.Sprintf("attached, %d already", len(l.Runs)-l.Added)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t-> %s (by %s, %s)\n", strings.TrimPrefix(l.Source, "file:"), human, l.Trace, strings.Join(ids, ", "), l.By, state)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.env.Stderr, "%s of %d matched, %s stored\n", plural(len(rep.Lines)-rep.Unmatched, "line", "lines"), len(rep.Lines), plural(rep.Added, "new act", "new acts"))
	if rep.Unmatched > 0 {
		return &exitError{code: ExitCheckFailed, msg: fmt.Sprintf("feedback add: %s matched no stored run", plural(rep.Unmatched, "line", "lines"))}
	}
	return nil
}

type feedbackFetchOptions struct {
	*globals
	Target      string
	Fixture     string
	AgentLogins []string
	Offline     bool
	JSON        bool
	DryRun      bool
}

func newFeedbackFetchCmd(g *globals, runF func(context.Context, *feedbackFetchOptions) error) *cobra.Command {
	if runF == nil {
		runF = runFeedbackFetch
	}
	opts := &feedbackFetchOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "fetch <trace>",
		Short: "Read what humans did on the run's PR or issue after it, and attach it",
		Long: `Fetch reads the pull request or issue the run worked on (its pr, issue or
work item ref) from GitHub, as it is now, and tells what humans did after the
run ended:

  - a human's review against the agent's decision: CHANGES_REQUESTED where
    it approved, APPROVED where it requested changes: an override with the
    human's decision; a review that agrees: a confirm
  - the agent's review dismissed: an override
  - the PR merged against a request-changes (override, {"action": "approve"}),
    closed unmerged against an approve (override, {"action": "reject"}),
    merged after an approve (confirm)
  - a revert of the merged commit ("This reverts commit <sha>", or
    Revert "<title>"): a revert
  - labels a human changed against a triage decision's labels: an override

The agent is the account of the review posted while the run ran (up to 5
minutes after its end) with the state of its decision, and any bot account
("[bot]" logins); --agent-login names its accounts instead. Acts of the
agent and of bots are not human.

The acts are stored with the run (source "github"; fetching again adds
nothing new) and printed; --dry-run prints them only. GitHub is read as
replay world fetch reads it: GITHUB_TOKEN, GITHUB_API_URL, the cache
(--offline reads the last fetch from it), or --github-fixture DIR (REST
responses saved as files: pr.json or issue.json, reviews.json, events.json
for issues/N/events, repo_commits.json for the repository's commits).`,
		Example: `  replay feedback fetch 3f2a91c0
  replay feedback fetch 3f2a91c0 --dry-run --json | jq '.feedback[] | select(.human == "override")'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runF(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Fixture, "github-fixture", "", "read the pull request or issue from `DIR` (REST responses saved as files: pr.json or issue.json, reviews.json, events.json, repo_commits.json) instead of the GitHub API")
	f.StringArrayVar(&opts.AgentLogins, "agent-login", nil, "the agent's GitHub account `LOGIN` (repeatable; default: the account of the run's own review, and any bot)")
	f.BoolVar(&opts.Offline, "offline", false, "read the activity a previous fetch left in the cache")
	f.BoolVar(&opts.JSON, "json", false, "print the acts as JSON")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the acts without storing them")
	return cmd
}

func runFeedbackFetch(ctx context.Context, opts *feedbackFetchOptions) error {
	st, err := opts.openStore(ctx, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := st.ResolveAs(ctx, "feedback fetch", opts.Target, store.ResolveOptions{Import: true})
	if err != nil {
		return err
	}
	if e.IsReplay() {
		return fmt.Errorf("feedback fetch %q: %s is a replay (of %s): fetch the feedback of its original", opts.Target, shortID(e.ID), shortID(e.ReplayOf))
	}
	run, err := st.Run(ctx, e.ID)
	if err != nil {
		return err
	}
	tg, ok := feedback.TargetOf(run.Meta)
	if !ok {
		return fmt.Errorf("feedback fetch %q: the run names no pull request or issue (no pr, issue or work item ref)", opts.Target)
	}
	w, err := opts.openWorld(opts.Offline)
	if err != nil {
		return err
	}
	since := run.Meta.EndedAt
	if since.IsZero() {
		since = run.Meta.StartedAt
	}
	a, err := w.Activity(ctx, tg.Owner, tg.Name, tg.Number, tg.Kind, worldActivityOptions(opts.Fixture, since))
	if err != nil {
		return fmt.Errorf("feedback fetch %q: %w", opts.Target, err)
	}
	acts := feedback.FromGitHub(run, a, feedback.GitHubOptions{AgentLogins: opts.AgentLogins})
	added := 0
	if !opts.DryRun && len(acts) > 0 {
		if added, err = st.AddFeedback(ctx, e.ID, acts); err != nil {
			return err
		}
	}
	if opts.JSON {
		out := struct {
			Version  int              `json:"version"`
			Trace    string           `json:"trace"`
			Item     string           `json:"item"`
			Kind     string           `json:"kind"`
			Feedback []trace.Feedback `json:"feedback"`
			Added    int              `json:"added"`
			DryRun   bool             `json:"dry_run"`
		}{Version: 1, Trace: e.ID, Item: tg.String(), Kind: a.Kind, Feedback: append([]trace.Feedback{}, acts...), Added: added, DryRun: opts.DryRun}
		if err := writeJSON(opts.env.Stdout, out); err != nil {
			return err
		}
	} else {
		for _, f := range acts {
			fmt.Fprintln(opts.env.Stdout, feedbackText(f))
		}
	}
	switch {
	case len(acts) == 0:
		fmt.Fprintf(opts.env.Stderr, "no human act on %s after the run\n", tg)
	case opts.DryRun:
		fmt.Fprintf(opts.env.Stderr, "%s on %s (dry run: nothing stored)\n", plural(len(acts), "act", "acts"), tg)
	default:
		fmt.Fprintf(opts.env.Stderr, "%s on %s, %d new, stored with %s\n", plural(len(acts), "act", "acts"), tg, added, shortID(e.ID))
	}
	return nil
}

// feedbackText is one human act on a line: when, what, who, the human's
// decision, the note, where it came from.
func feedbackText(f trace.Feedback) string {
	when := "-"
	if !f.At.IsZero() {
		when = f.At.UTC().Format(time.DateTime)
	}
	s := fmt.Sprintf("%s  %s", when, f.Human)
	if f.By != "" {
		s += " by " + f.By
	}
	if len(f.Decision) > 0 {
		s += "  " + string(f.Decision)
	}
	if f.Note != "" {
		s += "  " + clip(strings.ReplaceAll(f.Note, "\n", " "), 120)
	}
	if f.Source != "" {
		s += "  (" + f.Source + ")"
	}
	return s
}

func worldActivityOptions(fixture string, since time.Time) world.ActivityOptions {
	return world.ActivityOptions{GitHubFixture: fixture, Since: since}
}
