package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
)

type lsOptions struct {
	*globals
	Agent     string
	Repo      string
	Since     string
	Limit     int
	Originals bool
	Replays   bool
	// Overridden keeps runs a human overrode, reverted or fixed by hand.
	Overridden bool
	JSON       bool
	Now        func() time.Time
}

func newLsCmd(g *globals, runF func(context.Context, *lsOptions) error) *cobra.Command {
	if runF == nil {
		runF = runLs
	}
	opts := &lsOptions{globals: g, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the traces in the store, newest first",
		Long: `Ls prints a table of the stored traces, newest first (by start time, else
import time): id prefix, start, format, agent, repository or work item, LLM
calls, tool calls, cost, status, and what the run replays. Cost is the
recorded cost ("$0.54") when the trace has one, else the cost priced from
the pricing table ("~$0.61"), else "-".

Every verify and run stores its new run as a replay of its original: REPLAY
OF shows the original's id prefix and the mode (verify or run); "-" marks an
original (an imported trace). --originals lists only those, --replays only
replays. A replay that did not finish (a model or sandbox failure, a limit,
Ctrl-C: its partial run is what is stored) has the status "failed", with the
reason when known ("failed (max-steps)").

Any prefix of 4 or more characters of an id names the trace in other
commands (replay inspect 3f2a91c0).

--overridden lists the runs a human overrode, reverted or fixed by hand:
the ones with such feedback in their trace or attached by replay feedback
add or fetch.

--json prints {"version": 1, "traces": [...]}; each trace has feedback
(what humans did about it, oldest first), replay_of
({"of": id, "mode": ...}, null for an original), failed and stopped, and
costs in USD rounded to 6 decimal places (micro-dollars).`,
		Example: `  # What ran this week for acme/widgets
  replay ls --repo acme/widgets --since 7d

  # The last 5 review runs
  replay ls --agent review --limit 5

  # The replays, and the failed ones among them
  replay ls --replays
  replay ls --replays --json | jq -r '.traces[] | select(.failed) | .id'

  # Everything, as JSON
  replay ls --limit 0 --json | jq -r '.traces[] | [.id, .agent] | @tsv'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runF(cmd.Context(), opts) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.Agent, "agent", "", "only traces of agent `NAME` (case-insensitive)")
	f.StringVar(&opts.Repo, "repo", "", "only traces of repository `REPO` (owner/name or URL; matches work items like owner/name#42)")
	f.StringVar(&opts.Since, "since", "", "only traces started since `WHEN`: a duration back from now (30m, 12h, 7d, 2w) or a date (2026-11-01, 2026-11-01T09:00:00Z)")
	f.IntVar(&opts.Limit, "limit", 50, "show at most `N` traces; 0 shows all")
	f.BoolVar(&opts.Originals, "originals", false, "only originals: traces that replay nothing (imported ones)")
	f.BoolVar(&opts.Replays, "replays", false, "only replays: the runs verify and run stored")
	f.BoolVar(&opts.Overridden, "overridden", false, "only runs a human overrode, reverted or fixed by hand (see replay feedback)")
	f.BoolVar(&opts.JSON, "json", false, "print the traces as JSON")
	return cmd
}

// lsTrace is one trace in `replay ls --json`.
type lsTrace struct {
	ID         string     `json:"id"`
	Format     string     `json:"format"`
	Agent      string     `json:"agent"`
	Repo       string     `json:"repo"`
	WorkItem   string     `json:"work_item"`
	PR         string     `json:"pr"`
	Commit     string     `json:"commit"`
	Source     string     `json:"source"`
	StartedAt  *time.Time `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	ImportedAt time.Time  `json:"imported_at"`
	LLMCalls   int        `json:"llm_calls"`
	ToolCalls  int        `json:"tool_calls"`
	Tokens     int64      `json:"tokens"`
	Cost       struct {
		Recorded *float64 `json:"recorded"`
		Priced   *float64 `json:"priced"`
	} `json:"cost_usd"`
	Status     string    `json:"status"`
	Failed     bool      `json:"failed"`            // a replay that did not finish
	Stopped    string    `json:"stopped,omitempty"` // why it stopped, when known
	Replayable bool      `json:"replayable"`
	ReplayOf   *lsOrigin `json:"replay_of"` // null for an original
	// Feedback is what humans did about the run, oldest first ([] when
	// nothing is known).
	Feedback []trace.Feedback `json:"feedback"`
}

// lsOrigin is what a replay replays, as inspect's replay_of names it.
type lsOrigin struct {
	Of   string `json:"of"`
	Mode string `json:"mode"`
}

func runLs(ctx context.Context, opts *lsOptions) error {
	f := store.Filter{Agent: opts.Agent, Repo: opts.Repo, Limit: opts.Limit, Overridden: opts.Overridden}
	if opts.Limit < 0 {
		return usage(fmt.Errorf("--limit %d: must be 0 (all) or more", opts.Limit))
	}
	switch {
	case opts.Originals && opts.Replays:
		return usage(errors.New("--originals and --replays: give one (neither lists both)"))
	case opts.Originals:
		f.Kind = store.Originals
	case opts.Replays:
		f.Kind = store.Replays
	}
	if opts.Since != "" {
		t, err := parseSince(opts.Since, opts.Now())
		if err != nil {
			return usage(err)
		}
		f.Since = t
	}
	var (
		rows     []store.Entry
		total    int
		feedback = map[string][]trace.Feedback{}
	)
	home, exists, err := opts.storeExists()
	if err != nil {
		return err
	}
	if exists {
		st, err := opts.openStore(ctx, nil)
		if err != nil {
			return err
		}
		defer st.Close()
		if rows, err = st.List(ctx, f); err != nil {
			return err
		}
		total = len(rows)
		if opts.JSON {
			for _, e := range rows {
				if feedback[e.ID], err = st.Feedback(ctx, e.ID); err != nil {
					return err
				}
			}
		}
		if f.Limit > 0 && len(rows) == f.Limit {
			if total, err = st.Count(ctx, f); err != nil {
				return err
			}
		}
	}
	if opts.JSON {
		return printLsJSON(opts, rows, feedback)
	}
	if len(rows) == 0 {
		if !exists || (f == store.Filter{Limit: f.Limit}) {
			fmt.Fprintf(opts.env.Stderr, "no traces in the store (%s); add some with: replay import <path>\n", home)
		} else {
			fmt.Fprintln(opts.env.Stderr, "no traces match")
		}
		return nil
	}
	tw := tabwriter.NewWriter(opts.env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tFORMAT\tAGENT\tREPO/WORK ITEM\tLLM\tTOOLS\tCOST\tSTATUS\tREPLAY OF")
	for _, e := range rows {
		started := "-"
		if !e.StartedAt.IsZero() {
			started = e.StartedAt.Local().Format("2006-01-02 15:04")
		}
		where := e.WorkItem
		if where == "" {
			where = shortRepo(e.Repo)
			if e.PR != "" && where != "" {
				where += "#" + e.PR
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", e.ID[:12], started, dash(e.Format), dash(clip(e.Agent, 24)), dash(clip(where, 40)),
			e.LLMCalls, e.ToolCalls, costCell(e.CostRecorded, e.CostPriced), statusCell(e), replayOfCell(e))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total > len(rows) {
		fmt.Fprintf(opts.env.Stderr, "showing %d of %d traces; --limit 0 shows all\n", len(rows), total)
	}
	return nil
}

func printLsJSON(opts *lsOptions, rows []store.Entry, feedback map[string][]trace.Feedback) error {
	out := struct {
		Version int       `json:"version"`
		Traces  []lsTrace `json:"traces"`
	}{Version: 1, Traces: []lsTrace{}}
	for _, e := range rows {
		t := lsTrace{ID: e.ID, Format: e.Format, Agent: e.Agent, Repo: e.Repo, WorkItem: e.WorkItem, PR: e.PR, Commit: e.Commit,
			Source: e.Source, ImportedAt: e.ImportedAt, LLMCalls: e.LLMCalls, ToolCalls: e.ToolCalls, Tokens: e.Tokens,
			Status: e.Status, Failed: e.Failed(), Stopped: e.Stopped, Replayable: e.Replayable, Feedback: feedback[e.ID]}
		if t.Feedback == nil {
			t.Feedback = []trace.Feedback{}
		}
		if e.IsReplay() {
			t.ReplayOf = &lsOrigin{Of: e.ReplayOf, Mode: e.ReplayMode}
		}
		if !e.StartedAt.IsZero() {
			t.StartedAt = &e.StartedAt
		}
		if !e.EndedAt.IsZero() {
			t.EndedAt = &e.EndedAt
		}
		t.Cost.Recorded, t.Cost.Priced = roundUSD(e.CostRecorded), roundUSD(e.CostPriced)
		out.Traces = append(out.Traces, t)
	}
	return writeJSON(opts.env.Stdout, out)
}

// statusCell is a run's status; a replay that did not finish is "failed",
// with why when known.
func statusCell(e store.Entry) string {
	switch {
	case e.Failed() && e.Stopped != "":
		return "failed (" + e.Stopped + ")"
	case e.Failed():
		return "failed"
	}
	return dash(e.Status)
}

// replayOfCell is what a replay replays (the original's id prefix and the
// mode), "-" for an original.
func replayOfCell(e store.Entry) string {
	if !e.IsReplay() {
		return "-"
	}
	return strings.TrimSpace(shortID(e.ReplayOf) + " " + e.ReplayMode)
}

// usdDecimals is the precision of costs in --json outputs: 6 decimal places
// of a dollar (micro-dollars), so that sums of per-call prices show as
// 0.000271, not 0.00027089999900000003. The store keeps full precision.
const usdDecimals = 6

// roundUSD rounds a cost for a --json output (nil stays nil).
func roundUSD(v *float64) *float64 {
	if v == nil {
		return nil
	}
	p := math.Pow10(usdDecimals)
	r := math.Round(*v*p) / p
	return &r
}

// shortRepo shows a repository URL as owner/name.
func shortRepo(s string) string {
	if !strings.Contains(s, "://") && !strings.Contains(s, "@") {
		return s
	}
	t := s
	if i := strings.Index(t, "://"); i >= 0 {
		t = t[i+3:]
	} else if at := strings.IndexByte(t, '@'); at >= 0 {
		if c := strings.IndexByte(t[at:], ':'); c >= 0 {
			t = t[at+c+1:]
		}
	}
	parts := strings.Split(strings.TrimSuffix(strings.Trim(t, "/"), ".git"), "/")
	if len(parts) < 2 {
		return s
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}

// clip shortens s to n characters, marking the cut with "…".
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// costCell shows the recorded cost, else the priced one marked with "~".
func costCell(recorded, priced *float64) string {
	switch {
	case recorded != nil:
		return usd(*recorded)
	case priced != nil:
		return "~" + usd(*priced)
	}
	return "-"
}

// usd formats a dollar amount: cents above a dollar, four significant
// digits below.
func usd(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "$0"
	case a >= 1:
		return fmt.Sprintf("$%.2f", v)
	case a < 0.0001:
		return "<$0.0001"
	}
	return "$" + trimZeros(fmt.Sprintf("%.*f", 3-int(math.Floor(math.Log10(a))), v))
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// parseSince reads --since: a duration back from now (units m, h, d, w, or
// any Go duration) or a date (YYYY-MM-DD, local midnight) or an RFC 3339
// time.
func parseSince(s string, now time.Time) (time.Time, error) {
	return parseWhen("--since", s, now)
}

// parseWhen reads a time given to flag as parseSince does.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%s %q: want a duration back from now (30m, 12h, 7d, 2w) or a date (2026-11-01 or 2026-11-01T09:00:00Z)", flag, s)
	if s == "" {
		return time.Time{}, bad
	}
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		v, err := strconv.ParseFloat(s[:n-1], 64)
		unit := 24 * time.Hour
		if s[n-1] == 'w' {
			unit *= 7
		}
		// At most ~290 years back: a time.Duration holds no more.
		if err != nil || !(v >= 0) || v*float64(unit) >= math.MaxInt64 {
			return time.Time{}, bad
		}
		return now.Add(-time.Duration(v * float64(unit))), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, bad
		}
		return now.Add(-d), nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, now.Location()); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, bad
}
