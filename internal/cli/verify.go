package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/diff"
	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
)

// replayFlags are what verify and run share: where the trace and its world
// come from, the sandbox, the limits.

type verifyOptions struct {
	*globals
	replayFlags
	Target string
	agent  agentFlags // --agent-cmd (agentcmd.go)
	set    func(string) bool
}

func newVerifyCmd(g *globals, runF func(context.Context, *verifyOptions) error) *cobra.Command {
	if runF == nil {
		runF = runVerify
	}
	opts := &verifyOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "verify <trace>",
		Short: "Replay a trace faithfully and report, call by call, whether the rebuilt world gives the recorded results",
		Long: `Verify rebuilds the world the trace points to (the repository at the recorded
commit, the pull request as it was), starts the sandbox, and replays the run
with the model's answers taken from the recording. Every tool call that runs
in the sandbox is compared with its recorded result:

  match            the same result, up to differences that carry no meaning
                   (trailing whitespace, a tool's own line-number format,
                   harness reminders, the order of file lists); the
                   normalizations applied are named
  differs          not the same: a short diff shows where
  not-reexecuted   answered another way (a call reaching outside the
                   sandbox answered from the recording, a sub-agent), and why

Read the verdict before trusting a counterfactual: a world that does not give
the recorded results will not give a meaningful "what if".

The replay is stored as a new run linked to the original. Exit code 1 when
any re-executed call differs; 3 when the verify checks nothing of the world
(no call was re-executed, or the trace names no repository, so the calls ran
in an empty workspace: pass --repo) or did not reach the end of the recording
(the runs and how many of their recorded model calls it replayed are named).
A text-only answer does not end a verify while the recording goes on: a later
user turn recorded only in the next request (Langfuse, OTel) is fed as recorded.

` + verifyJSONHelp() + agentHelp + `
A black-box verify answers every model request from the recording. Each
request is reported as a match or the agent's first divergence (with a diff
of the two requests: the agent no longer asks what it asked); every tool
result the agent sends in its next request is compared with the recorded one.
Exit code 1 when the agent diverged or a tool result differs; 3 when the agent
failed (exit code, timeout) or made no request.`,
		Example: `  replay verify testdata/example/run --repo testdata/example/widgets.bundle --github-fixture testdata/example/github
  replay verify 5ef49dd6 --offline
  replay verify session.jsonl --json | jq '.calls[] | select(.fidelity.status=="differs")'

  # The agent's own program, answered from a recording made with replay record
  replay verify 5ef49dd6 --agent-cmd './review-agent --pr 42' --agent-image acme/reviewer:1.4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			opts.set = func(name string) bool { return cmd.Flags().Changed(name) }
			return runF(cmd.Context(), opts)
		},
	}
	opts.replayFlags.bind(cmd)
	opts.agent.bind(cmd, true)
	return cmd
}

// verifyJSON is `replay verify --json` (versioned).
type verifyJSON struct {
	Version     int                `json:"version"`
	Original    string             `json:"original"`
	Run         string             `json:"run"`
	Workspace   string             `json:"workspace"`
	Commit      string             `json:"commit,omitempty"`
	Faithful    bool               `json:"faithful"`
	Counts      map[string]int     `json:"counts"`
	Calls       []verifyCall       `json:"calls"`
	Divergences []model.Divergence `json:"divergences"`
	// Actions is the replay's steps aligned with the original's, by the
	// diff package's alignment: whether it took the same actions.
	Actions    verifyActions `json:"actions"`
	Stopped    string        `json:"stopped,omitempty"`
	Normalized []string      `json:"normalizations"`
	// Incomplete says what the verify could not check, when it proves
	// nothing of the world (no call re-executed; no repository, so the
	// calls ran in an empty workspace): then faithful is false and the
	// exit code 3.
	Incomplete string `json:"incomplete,omitempty"`
	// Unreplayed lists the recorded runs the replay did not follow to their
	// end (its model calls answered of those recorded).
	Unreplayed []replay.Unreplayed `json:"unreplayed,omitempty"`
	Resolution *world.Resolution   `json:"-"`
}

// verifyCall is a re-executed call with the original step it aligns with.
type verifyCall struct {
	replay.CallReport
	OrigStep int `json:"original_step,omitempty"` // the aligned step of the original's run (0: none)
}

// verifyActions says whether the replay took the original's actions.
type verifyActions struct {
	Same  bool             `json:"same"`
	Line  string           `json:"line"`
	First *diff.Divergence `json:"first_divergence"`
}

// alignCalls aligns the replay with the original (the diff's alignment)
// and gives each call the original step it aligns with.
func alignCalls(res *replay.Result, calls []replay.CallReport, pricing trace.Pricer) ([]verifyCall, verifyActions) {
	out := make([]verifyCall, len(calls))
	for i, c := range calls {
		out[i] = verifyCall{CallReport: c}
	}
	if res.Orig == nil || res.Report == nil || res.Report.Run == nil {
		return out, verifyActions{}
	}
	rep := diff.Runs(res.Orig, res.Report.Run, diffOpts(pricing))
	orig := map[string]map[int]int{}
	add := func(run string, ps []diff.StepPair) {
		m := map[int]int{}
		for _, p := range ps {
			if p.A != nil && p.B != nil {
				m[p.B.N] = p.A.N
			}
		}
		orig[run] = m
	}
	add("", rep.Steps)
	var walk func([]diff.ChildDiff)
	walk = func(cs []diff.ChildDiff) {
		for _, c := range cs {
			if c.B != "" {
				add(c.B, c.Steps)
			}
			walk(c.Children)
		}
	}
	walk(rep.Children)
	for i := range out {
		out[i].OrigStep = orig[out[i].Run][out[i].Step]
	}
	a := verifyActions{Same: rep.Verdict.First == nil, First: rep.Verdict.First, Line: rep.Verdict.Line}
	return out, a
}

// request is the verify the flags ask for.
func (opts *verifyOptions) request() (replay.Request, error) {
	return opts.replayFlags.request(opts.Target, replay.ModeVerify)
}

func runVerify(ctx context.Context, opts *verifyOptions) error {
	if opts.agent.Cmd != "" || (opts.set != nil && opts.set("agent-cmd")) {
		return runAgentVerify(ctx, opts)
	}
	if err := opts.agent.check(opts.set); err != nil {
		return err
	}
	req, err := opts.request()
	if err != nil {
		return err
	}
	s, done, err := opts.session(ctx, &opts.replayFlags, nil)
	if err != nil {
		return err
	}
	defer done()
	res, err := s.Replay(ctx, req)
	if res == nil || res.Report == nil {
		return noWorld(err)
	}
	if oerr := opts.writeOut(s, opts.Out, res.ID); oerr != nil {
		return oerr
	}
	rep := res.Report
	pricing, perr := opts.pricing()
	if perr != nil {
		return perr
	}
	calls, actions := alignCalls(res, rep.Calls, pricing)
	v := verifyJSON{Version: verifyJSONVersion, Original: res.Original.ID, Run: res.ID, Workspace: res.Workspace, Calls: calls, Actions: actions, Divergences: rep.Divergences, Stopped: rep.Stopped, Counts: map[string]int{}, Normalized: []string{}}
	if v.Divergences == nil {
		v.Divergences = []model.Divergence{}
	}
	if res.Resolution != nil {
		v.Commit = res.Resolution.Commit
	}
	norms := map[string]bool{}
	for _, c := range rep.Calls {
		v.Counts[c.Fidelity.Status]++
		for _, n := range c.Fidelity.Normalizations {
			norms[n] = true
		}
	}
	for n := range norms {
		v.Normalized = append(v.Normalized, n)
	}
	sort.Strings(v.Normalized)
	v.Unreplayed = rep.Unreplayed
	if err == nil {
		var why []string
		if reexec := v.Counts[replay.Match] + v.Counts[replay.Differs] + v.Counts[replay.Environment]; reexec == 0 {
			why = append(why, fmt.Sprintf("no tool call was re-executed (%d answered another way): nothing of the world was checked", len(rep.Calls)))
		} else if res.Resolution == nil {
			why = append(why, "the trace names no repository: the calls ran in an empty workspace, so they check nothing of the world; pass --repo (a URL, owner/name, a local repository or a git bundle)")
		}
		for _, u := range rep.Unreplayed {
			why = append(why, u.String()+": the calls after it were not checked")
		}
		v.Incomplete = strings.Join(why, "; ")
	}
	v.Faithful = !rep.Diverged() && err == nil && v.Incomplete == "" && v.Counts[replay.Environment] == 0
	if opts.JSON {
		if werr := writeJSON(opts.env.Stdout, v); werr != nil {
			return werr
		}
	} else {
		writeVerify(opts.env.Stdout, res, v)
	}
	if err != nil {
		if res.ID != "" {
			fmt.Fprintf(opts.env.Stderr, "replay: the partial run is stored as %s\n", shortID(res.ID))
		}
		return err
	}
	if v.Incomplete != "" {
		return &exitError{code: ExitIncomplete, msg: "verify is incomplete: " + v.Incomplete}
	}
	if rep.Diverged() {
		return &exitError{code: ExitCheckFailed, msg: fmt.Sprintf("%d re-executed call(s) differ from the recording", v.Counts[replay.Differs])}
	}
	if n := v.Counts[replay.Environment]; n > 0 {
		return &exitError{code: ExitIncomplete, msg: fmt.Sprintf("verify is incomplete: %d call(s) ran a program the sandbox's image lacks (see the environment rows); --image IMAGE runs them in an image that has it", n)}
	}
	return nil
}

// noWorld makes a verify whose repository cannot be had (not cached with
// --offline, or no source for it) incomplete, exit 3, rather than an input
// error: nothing of the world was checked, and the way on is a source.
func noWorld(err error) error {
	if err == nil || !(errors.Is(err, world.ErrOffline) || errors.Is(err, world.ErrNoRepo)) {
		return err
	}
	return &exitError{code: ExitIncomplete, msg: "verify is incomplete: no repository to replay in: " + err.Error() +
		"; pass --repo with a local clone or bundle of it (a benchmark instance's repository at its base commit), or fetch it once online (replay world fetch)"}
}

func writeVerify(w io.Writer, res *replay.Result, v verifyJSON) {
	o := res.Original
	fmt.Fprintf(w, "verify %s (%s", shortID(o.ID), o.Format)
	if o.Agent != "" {
		fmt.Fprintf(w, ", agent %s", o.Agent)
	}
	fmt.Fprintf(w, "): %d model calls answered from the recording, %d tool calls\n", res.Report.LLMCalls, len(v.Calls))
	if v.Commit != "" {
		fmt.Fprintf(w, "world: %s at %s in %s\n", res.Resolution.Remote, shortID(v.Commit), v.Workspace)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSTEP\tORIG\tRUN\tTOOL\tCALL\tRESULT")
	for _, c := range v.Calls {
		run := c.Run
		if run == "" {
			run = "main"
		}
		verdict := c.Fidelity.Status
		switch {
		case len(c.Fidelity.Normalizations) > 0:
			verdict += " (" + strings.Join(c.Fidelity.Normalizations, ", ") + ")"
		case c.Fidelity.Reason != "":
			verdict += ": " + c.Fidelity.Reason
		}
		orig := "-"
		if c.OrigStep > 0 {
			orig = strconv.Itoa(c.OrigStep)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.Step, orig, run, c.Tool, callSummary(c.CallReport), verdict)
	}
	tw.Flush()
	for _, c := range v.Calls {
		if c.Fidelity.Status == replay.Differs {
			fmt.Fprintf(w, "\nstep %d %s %s differs:\n%s", c.Step, c.Tool, callSummary(c.CallReport), indent(c.Fidelity.Diff, "  "))
		}
	}
	reexec := v.Counts[replay.Match] + v.Counts[replay.Differs] + v.Counts[replay.Environment]
	fmt.Fprintf(w, "\nfidelity: %d of %d re-executed calls match", v.Counts[replay.Match], reexec)
	if n := v.Counts[replay.Environment]; n > 0 {
		fmt.Fprintf(w, "; %d differ by the environment (a program the image lacks), not by the world", n)
	}
	if n := v.Counts[replay.NotReexecuted]; n > 0 {
		fmt.Fprintf(w, "; %d answered another way", n)
	}
	if n := v.Counts[replay.Harness]; n > 0 {
		fmt.Fprintf(w, "; %d answered by the agent's harness in the original (aborted, refused, interrupted), as recorded", n)
	}
	if len(v.Normalized) > 0 {
		fmt.Fprintf(w, "; normalizations: %s", strings.Join(v.Normalized, ", "))
	}
	fmt.Fprintln(w)
	if v.Actions.Line != "" {
		fmt.Fprintf(w, "actions: %s\n", v.Actions.Line)
	}
	if len(v.Divergences) > 0 {
		fmt.Fprintf(w, "the recorded model was fed %d result(s) other than recorded\n", len(v.Divergences))
	}
	if v.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", v.Stopped)
	}
	if v.Run != "" {
		fmt.Fprintf(w, "new run %s stored (replay inspect %s)\n", shortID(v.Run), shortID(v.Run))
	}
}

// callSummary shows a call's main argument.
func callSummary(c replay.CallReport) string {
	var a map[string]any
	if json.Unmarshal([]byte(c.Args), &a) == nil {
		for _, k := range []string{"command", "file_path", "pattern", "path", "description", "url", "query"} {
			if s, ok := a[k].(string); ok && s != "" {
				return clip(strings.ReplaceAll(s, "\n", " "), 60)
			}
		}
	}
	return clip(c.Args, 60)
}
