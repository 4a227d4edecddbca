package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
)

type inspectOptions struct {
	*globals
	Target  string
	Format  string
	Lenient bool
	JSON    bool
}

func newInspectCmd(g *globals, runF func(context.Context, *inspectOptions) error) *cobra.Command {
	if runF == nil {
		runF = runInspect
	}
	opts := &inspectOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "inspect <path|id>",
		Short: "Summarize a trace: models, steps, tools, tokens, cost, refs, decision",
		Long: `Inspect summarizes one trace: its format, agent, models, LLM calls and tool
calls (sub-agents included), tokens, cost (recorded by the trace and priced
from the pricing table, never mixed), the git/GitHub refs it points to with
where each came from, the decision it reached, and whether it can be replayed
and if not why.

The argument is a path (a trace file or run directory, read without storing
it) or the id of a stored trace, or any unique prefix of 4 or more characters
of one. A path that exists wins over an id. A stored trace's summary is read
from the store's index, as computed at import (its priced cost uses the
pricing table of that time); a path is priced with the current table.

--json prints the summary as a versioned JSON object (fields: version, id,
format, agent, models, llm_calls, tool_calls, tools, tokens, cost_usd, refs,
started_at, ended_at, status, decision, feedback, replayable, warnings,
sub_agents, …). feedback lists what humans did about the run (the trace's
own feedback events and what replay feedback add or fetch attached),
oldest first.
Costs in it are USD rounded to 6 decimal places (micro-dollars); the store
keeps them at full precision.`,
		Example: `  # A stored trace, by id prefix
  replay inspect 3f2a91c0

  # A file, without storing it
  replay inspect ~/.claude/projects/-home-me-widgets/5d1c9e2a.jsonl

  # Why is this trace not replayable?
  replay inspect 3f2a91c0 --json | jq .replayable`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runF(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	f.StringVar(&opts.Format, "format", "", "read a path as `FORMAT` instead of detecting it: "+strings.Join(importers.Names(), ", "))
	f.BoolVar(&opts.Lenient, "lenient", false, "skip lines of a path that are not valid JSON instead of failing")
	return cmd
}

func runInspect(ctx context.Context, opts *inspectOptions) error {
	sum, run, err := opts.summaryRun(ctx, "inspect", opts.Target, opts.Format, opts.Lenient, true)
	if err != nil {
		return err
	}
	worldRefs(opts.globals, &sum) // refs a `replay world fetch` resolved (world.go)
	if sum.Origin == nil {
		// What a verify would say before anyone runs it (verify.go's
		// incomplete verdicts).
		ps := replay.PolicySet{}
		if run != nil {
			ps = ps.WithRecording(run) // the agent's own tools that share a sandbox tool's name
		}
		sum.Replay.Reasons = append(sum.Replay.Reasons, replay.VerifyBlockers(sum, ps)...)
		sum.Replay.OK = len(sum.Replay.Reasons) == 0
	}
	if opts.JSON {
		return writeJSON(opts.env.Stdout, roundSummary(sum))
	}
	return writeSummary(opts.env.Stdout, sum)
}

// roundSummary is sum with its costs rounded for --json (roundUSD).
func roundSummary(sum trace.Summary) trace.Summary {
	sum.Cost.Recorded, sum.Cost.Priced = roundUSD(sum.Cost.Recorded), roundUSD(sum.Cost.Priced)
	if r := sum.Recorded; r != nil && r.CostUSD != nil {
		rc := *r
		rc.CostUSD = roundUSD(r.CostUSD)
		sum.Recorded = &rc
	}
	return sum
}

// summary reads the summary of a <trace> argument (store.ParseTarget tells
// a path from an id): a path is read without storing it, an id or prefix
// comes from the store, which a read-only command never creates. op names
// the command in errors.
func (g *globals) summary(ctx context.Context, op, arg, format string, lenient bool) (trace.Summary, error) {
	sum, _, err := g.summaryRun(ctx, op, arg, format, lenient, false)
	return sum, err
}

// summaryRun is summary that also returns the run when withRun says so (a
// stored run that cannot be read gives nil: the summary is enough).
func (g *globals) summaryRun(ctx context.Context, op, arg, format string, lenient, withRun bool) (trace.Summary, *trace.Run, error) {
	t, err := store.ParseTarget(op, arg)
	if err != nil {
		return trace.Summary{}, nil, err
	}
	if t.IsPath {
		if format != "" {
			if _, err := importers.Lookup(format); err != nil {
				return trace.Summary{}, nil, usage(fmt.Errorf("--format: %w", err))
			}
		}
		pricing, err := g.pricing()
		if err != nil {
			return trace.Summary{}, nil, err
		}
		var run *trace.Run
		var sum trace.Summary
		if withRun {
			sum, run, err = store.SummarizeRun(ctx, arg, format, trace.Options{Lenient: lenient}, pricing)
		} else {
			sum, err = store.Summarize(ctx, arg, format, trace.Options{Lenient: lenient}, pricing)
		}
		if err != nil {
			return sum, run, err
		}
		return sum, run, g.storedFeedback(ctx, &sum)
	}
	home, exists, err := g.storeExists()
	if err != nil {
		return trace.Summary{}, nil, err
	}
	if !exists {
		return trace.Summary{}, nil, t.EmptyStoreError(home)
	}
	st, err := g.openStore(ctx, nil)
	if err != nil {
		return trace.Summary{}, nil, err
	}
	defer st.Close()
	e, err := st.Find(ctx, t, store.ResolveOptions{})
	if err != nil {
		return trace.Summary{}, nil, err
	}
	sum, err := st.Summary(ctx, e.ID)
	if err != nil || !withRun {
		return sum, nil, err
	}
	run, rerr := st.Run(ctx, e.ID)
	if rerr != nil {
		run = nil
	}
	return sum, run, nil
}

// storedFeedback adds to the summary of a path the feedback attached to
// its content in the store, when the store holds it.
func (g *globals) storedFeedback(ctx context.Context, sum *trace.Summary) error {
	_, exists, err := g.storeExists()
	if err != nil || !exists || sum.ID == "" {
		return err
	}
	st, err := g.openStore(ctx, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	fb, err := st.Feedback(ctx, sum.ID)
	if err != nil {
		return err
	}
	sum.Feedback = store.MergeFeedback(sum.Feedback, fb)
	return nil
}

// writeSummary renders the text form of inspect.
func writeSummary(w io.Writer, s trace.Summary) error {
	var b bytes.Buffer
	row := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-11s %s\n", label, indent(fmt.Sprintf(format, args...), strings.Repeat(" ", 12)))
	}
	row("trace", "%s", dash(s.ID))
	row("format", "%s", dash(s.Format))
	if s.Source != "" {
		row("source", "%s", s.Source)
	}
	row("agent", "%s", dash(s.Agent))
	if s.Session != "" {
		row("session", "%s", s.Session)
	}
	if s.Instance != "" {
		row("instance", "%s", s.Instance)
	}
	if o := s.Origin; o != nil {
		var keys []string
		for k := range o.Variant {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+o.Variant[k])
		}
		row("replay of", "%s  (%s%s)", o.Of, o.Mode, strings.TrimSuffix(", "+strings.Join(parts, ", "), ", "))
	}
	if s.StartedAt != nil {
		when := s.StartedAt.Local().Format("2006-01-02 15:04:05 MST")
		if s.EndedAt != nil {
			when += fmt.Sprintf("  (took %s)", s.EndedAt.Sub(*s.StartedAt).Round(time.Second))
		}
		row("started", "%s", when)
	}
	row("status", "%s", s.Status)
	row("models", "%s", dash(strings.Join(s.Models, ", ")))
	runs := "1"
	if len(s.Children) > 0 {
		runs = fmt.Sprintf("%d (main + %s)", s.Runs, plural(len(s.Children), "sub-agent", "sub-agents"))
	}
	row("runs", "%s", runs)
	row("steps", "%d: %s, %s", s.Steps, plural(s.LLMCalls, "llm call", "llm calls"), plural(s.ToolCalls, "tool call", "tool calls"))
	if len(s.Tools) > 0 {
		type tc struct {
			name string
			n    int
		}
		var tools []tc
		for k, v := range s.Tools {
			tools = append(tools, tc{k, v})
		}
		slices.SortFunc(tools, func(a, b tc) int { return cmp.Or(b.n-a.n, strings.Compare(a.name, b.name)) })
		var parts []string
		for _, t := range tools {
			parts = append(parts, fmt.Sprintf("%s %d", t.name, t.n))
		}
		row("tools", "%s", strings.Join(parts, ", "))
	}
	if len(s.Harness) > 0 {
		var names []string
		n := 0
		for k, v := range s.Harness {
			names = append(names, fmt.Sprintf("%s %d", k, v))
			n += v
		}
		slices.Sort(names)
		row("harness", "%s the agent's harness gave instead of the tool (%s): verify answers them as recorded",
			plural(n, "result", "results"), strings.Join(names, ", "))
	}
	tok := s.Tokens
	row("tokens", "input %s, output %s, cache read %s, cache write %s  (from %s)",
		thousands(tok.Input), thousands(tok.Output), thousands(tok.CacheRead), thousands(tok.CacheWrite), s.TokensOf)
	cost := "recorded " + costOrUnknown(s.Cost.Recorded) + ", priced " + costOrUnknown(s.Cost.Priced)
	if len(s.Cost.Unpriced) > 0 {
		cost += "  (not priced: " + strings.Join(s.Cost.Unpriced, ", ") + ")"
	}
	row("cost", "%s", cost)
	if len(s.Refs) == 0 {
		row("refs", "-")
	} else {
		var names []string
		for k := range s.Refs {
			names = append(names, k)
		}
		slices.SortFunc(names, func(a, b string) int { return cmp.Compare(refOrder(a), refOrder(b)) })
		var lines []string
		for _, n := range names {
			r := s.Refs[n]
			from := r.Provenance
			if r.From != "" {
				from += ": " + r.From
			}
			lines = append(lines, fmt.Sprintf("%-11s %s  (%s)", n, r.Value, from))
		}
		row("refs", "%s", strings.Join(lines, "\n"))
	}
	if len(s.Decision) > 0 && string(s.Decision) != "null" {
		var c bytes.Buffer
		d := string(s.Decision)
		if json.Compact(&c, s.Decision) == nil {
			d = c.String()
		}
		if r := []rune(d); len(r) > 300 {
			d = string(r[:300]) + "…  (--json shows all)"
		}
		row("decision", "%s", d)
	} else {
		row("decision", "-")
	}
	if len(s.Feedback) > 0 {
		var lines []string
		for _, f := range s.Feedback {
			lines = append(lines, feedbackText(f))
		}
		row("feedback", "%s", strings.Join(lines, "\n"))
	}
	if s.Resolved != nil {
		row("resolved", "%s", map[bool]string{true: "yes", false: "no"}[*s.Resolved])
	}
	if s.Replay.OK {
		row("replayable", "yes")
	} else {
		row("replayable", "no: %s", strings.Join(s.Replay.Reasons, "; "))
	}
	row("prompts", "%s", instructionsText(s.Instructions))
	if len(s.Children) > 0 {
		var lines []string
		for _, c := range s.Children {
			lines = append(lines, fmt.Sprintf("%s  %s  %s, %s", c.Key, dash(c.Agent),
				plural(c.LLMCalls, "llm call", "llm calls"), plural(c.Tools, "tool call", "tool calls")))
		}
		row("sub-agents", "%s", strings.Join(lines, "\n"))
	}
	if len(s.Warnings) > 0 {
		row("warnings", "%s", strings.Join(s.Warnings, "\n"))
	}
	_, err := w.Write(b.Bytes())
	return err
}

func refOrder(name string) int {
	for i, n := range []string{"repo", "work_item", "pr", "issue", "commit", "base_commit", "branch", "cwd", "image"} {
		if n == name {
			return i
		}
	}
	return 100
}

func costOrUnknown(v *float64) string {
	if v == nil {
		return "unknown"
	}
	return usd(*v)
}

// thousands formats n with comma separators.
func thousands(n int64) string { return humanize.Comma(n) }

// instructionsText says what the trace holds of the model's instructions
// and, for what it lacks, what a counterfactual sends instead.
func instructionsText(in trace.InstructionsSummary) string {
	var parts []string
	if in.SystemPrompt {
		parts = append(parts, "system prompt recorded")
	} else {
		parts = append(parts, "no system prompt recorded (replay run sends none; --system-file gives one)")
	}
	if in.ToolDefs > 0 {
		parts = append(parts, plural(in.ToolDefs, "tool definition", "tool definitions")+" recorded")
	} else {
		parts = append(parts, "no tool definitions recorded (replay run offers its own definitions of the tools the trace used)")
	}
	return strings.Join(parts, "; ")
}
