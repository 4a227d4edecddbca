package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/diff"
	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/scenarios"
	"github.com/agentreplay/replay/scenarios/harness"
)

// What the runner writes into {output_dir}, beside metrics.json and
// fixture-state.json.
const (
	runnerRunFile      = "run.jsonl"
	runnerDecisionFile = "decision.json"
	runnerDiffJSON     = "diff.json"
	runnerDiffMD       = "diff.md"
	runnerVerdictFile  = "verdict.json"
)

type evalRunnerOptions struct {
	runOptions
	Agent         string
	Workspace     string
	Output        string
	CaseDir       string
	SubagentModel string
	SystemPrompt  string
	MaxCostArg    string
	TimeoutArg    string
	Effort        string
	Args          string
	Now           func() time.Time
}

func newEvalRunnerCmd(g *globals, runF func(context.Context, *evalRunnerOptions) error) *cobra.Command {
	if runF == nil {
		runF = runEvalRunner
	}
	opts := &evalRunnerOptions{runOptions: runOptions{globals: g}, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "runner --workspace DIR --output DIR [--model M] …",
		Short: "agent-eval-harness's opaque CLI runner: replay one exported case, write its artifacts",
		Long: `Runner is the command an agent-eval-harness eval made by replay eval export
--format agent-eval-harness runs for each case (runner.type cli): every
placeholder of the harness's runner contract is a flag, and an empty value
(an unset {model}, {effort}, {system_prompt}) means "not given".

It reads the case's input.yaml in the workspace (the harness's cwd; the
trace, the repository bundle and the GitHub snapshot it names are found
beside it, else under --case-dir), replays the trace hermetically with the
variant the placeholders describe ({model}, {subagent_model},
{system_prompt} as the system prompt's text, {effort} as the reasoning
effort), GitHub writes answered in the run's copy of the snapshot (nothing
reaches GitHub), and writes into the output directory:

  run.jsonl            the new run (replay's native trace)
  decision.json        its decision and its GitHub effects
  diff.json, diff.md   the diff against the original
  metrics.json         turns, tokens, cost (the runner contract's format)
  fixture-state.json   the issue or pull request after the run, in the
                       factory's capture-fixture.sh shape: the snapshot with
                       the run's effects and decision applied
  verdict.json         the annotations.yaml checks, and what was not checked

It stops before {timeout} seconds (a margin left to write the artifacts)
and before {max_budget_usd}, and writes what it has. Exit codes: 0 the run
finished and meets annotations.yaml (state, labels, review_decision,
max_turns, max_cost_usd; free text is not checked), 1 it does not, 2 a bad
case or usage, 3 incomplete (the time or the budget ran out, the model or
the sandbox failed). The endpoint is $OPENAI_BASE_URL (or --base-url), its
key $OPENAI_API_KEY.`,
		Example: `  # As the eval's runner.command runs it (cwd = the case's workspace)
  replay eval runner --agent {agent} --workspace {workspace} --output {output_dir} \
    --model {model} --subagent-model {subagent_model} --system-prompt {system_prompt} \
    --max-cost {max_budget_usd} --timeout {timeout} --effort {effort}

  # By hand, on an exported case
  cd evals/review/cases/review-widgets-42-5c737df2 && mkdir -p output
  replay eval runner --workspace . --output output --model gpt-4o-mini --timeout 600`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.set = func(name string) bool { return cmd.Flags().Changed(name) }
			return runF(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Agent, "agent", "", "{agent}: the skill the harness runs (checked against the case's agent)")
	fl.StringVar(&opts.Workspace, "workspace", "", "{workspace}: the case's workspace holding input.yaml (default: the working directory)")
	fl.StringVar(&opts.Output, "output", "", "{output_dir}: where the artifacts go (default: WORKSPACE/output)")
	fl.StringVar(&opts.CaseDir, "case-dir", "", "find the case's files (trace, repo/, github/) in `DIR` when the workspace lacks them")
	fl.StringVar(&opts.Model, "model", "", "{model}: the model the new run calls (empty: the recorded one)")
	fl.StringVar(&opts.SubagentModel, "subagent-model", "", "{subagent_model}: the model of every sub-agent (empty: the main run's)")
	fl.StringVar(&opts.SystemPrompt, "system-prompt", "", "{system_prompt}: the system prompt's text (empty: the recorded one)")
	fl.StringVar(&opts.MaxCostArg, "max-cost", "", "{max_budget_usd}: stop the run before it spends more than `USD` (empty: no cap)")
	fl.StringVar(&opts.TimeoutArg, "timeout", "", "{timeout}: finish within `SECONDS` (or a duration such as 10m; empty: 30m)")
	fl.StringVar(&opts.Effort, "effort", "", "{effort}: reasoning effort sent to the model (low, medium, high; empty: none)")
	fl.StringVar(&opts.Args, "args", "", "{args}: the harness's skill arguments (recorded in verdict.json; a replay takes its input from the trace)")
	fl.StringVar(&opts.BaseURL, "base-url", "", "OpenAI-compatible endpoint `URL` (default $OPENAI_BASE_URL)")
	fl.StringVar(&opts.Image, "image", "", "run tools in image `IMG`")
	fl.StringVar(&opts.Executor, "executor", "", "use the static replay-executor binary at `PATH`")
	fl.StringVar(&opts.Disk, "disk", "4GiB", "cap the sandbox's workspace at `SIZE`")
	fl.StringVar(&opts.Decision, "decision", "", "where the new run's decision is (default: the case's, else auto)")
	fl.IntVar(&opts.MaxSteps, "max-steps", 200, "end the run after `N` model calls")
	fl.BoolVar(&opts.NoCache, "no-cache", false, "ask the endpoint even when the response cache has the answer")
	return cmd
}

// runnerTimeout reads {timeout}: seconds, or a duration.
func runnerTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 30 * time.Minute, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 {
			return 0, fmt.Errorf("--timeout %q: want a positive number of seconds", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--timeout %q: want seconds (the harness's {timeout}) or a duration such as 10m", s)
	}
	return d, nil
}

// runnerCase is a case as the runner finds it.
type runnerCase struct {
	dir   string // where its files are
	in    *harness.Input
	ann   *harness.Annotations // nil without annotations.yaml
	trace string
}

func (opts *evalRunnerOptions) findCase() (*runnerCase, error) {
	ws := opts.Workspace
	if ws == "" {
		ws = "."
	}
	dirs := []string{ws}
	if opts.CaseDir != "" {
		dirs = append(dirs, opts.CaseDir)
	}
	var in *harness.Input
	var inDir string
	for _, d := range dirs {
		p := filepath.Join(d, harness.InputFile)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		var err error
		if in, err = harness.ReadInput(p); err != nil {
			return nil, usage(err)
		}
		inDir = d
		break
	}
	if in == nil {
		return nil, usage(fmt.Errorf("eval runner: no %s in the workspace %s (the harness runs the runner in the case's workspace; --workspace or --case-dir names it)", harness.InputFile, strings.Join(dirs, " or ")))
	}
	if in.Replay.Trace == "" {
		return nil, usage(fmt.Errorf("eval runner: %s: replay.trace: the case names no trace (is it a case of replay eval export --format agent-eval-harness?)", filepath.Join(inDir, harness.InputFile)))
	}
	c := &runnerCase{in: in}
	for _, d := range append([]string{inDir}, dirs...) {
		if p := filepath.Join(d, in.Replay.Trace); fileExists(p) {
			c.dir, c.trace = d, p
			break
		}
	}
	if c.trace == "" {
		return nil, usage(fmt.Errorf("eval runner: the case's trace %s is neither in %s: the workspace must hold a copy of the case directory, or pass --case-dir", in.Replay.Trace, strings.Join(dirs, " nor ")))
	}
	if in.Replay.TraceSHA256 != "" {
		b, err := os.ReadFile(c.trace)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != in.Replay.TraceSHA256 {
			return nil, usage(fmt.Errorf("eval runner: %s: replay.trace_sha256: %s has hash %s, the case says %s: the trace changed since the export", filepath.Join(inDir, harness.InputFile), c.trace, got, in.Replay.TraceSHA256))
		}
	}
	for _, d := range []string{inDir, c.dir} {
		if p := filepath.Join(d, harness.AnnotationsFile); fileExists(p) {
			ann, err := harness.ReadAnnotations(p)
			if err != nil {
				return nil, usage(err)
			}
			c.ann = ann
			break
		}
	}
	return c, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// runnerVerdict is verdict.json.
type runnerVerdict struct {
	Case       string               `json:"case"`
	Pass       bool                 `json:"pass"`
	Status     string               `json:"status"` // pass, fail, incomplete, error
	Stopped    string               `json:"stopped,omitempty"`
	Error      string               `json:"error,omitempty"`
	Failures   []harness.Failure    `json:"failures"`
	NotChecked []string             `json:"not_checked"`
	Variant    map[string]string    `json:"variant,omitempty"`
	Effects    []trace.Effect       `json:"effects"`
	Decision   json.RawMessage      `json:"decision"`
	Original   json.RawMessage      `json:"original_decision"`
	Metrics    harness.Metrics      `json:"metrics"`
	State      harness.FixtureState `json:"fixture_state"`
}

func runEvalRunner(ctx context.Context, opts *evalRunnerOptions) error {
	timeout, err := runnerTimeout(opts.TimeoutArg)
	if err != nil {
		return usage(err)
	}
	start := opts.Now()
	maxCost := 0.0
	if s := strings.TrimSpace(opts.MaxCostArg); s != "" {
		if maxCost, err = strconv.ParseFloat(s, 64); err != nil || maxCost < 0 {
			return usage(fmt.Errorf("--max-cost %q: want US dollars, e.g. 2.00", s))
		}
	}
	c, err := opts.findCase()
	if err != nil {
		return err
	}
	out := opts.Output
	if out == "" {
		out = filepath.Join(opts.Workspace, harness.OutputDir)
		if opts.Workspace == "" {
			out = harness.OutputDir
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("eval runner: the output directory: %w", err)
	}
	if opts.Agent != "" && c.in.Replay.Agent != "" && opts.Agent != c.in.Replay.Agent {
		fmt.Fprintf(opts.env.Stderr, "eval runner: the harness runs skill %q; the case's trace is a run of agent %q (replayed as recorded)\n", opts.Agent, c.in.Replay.Agent)
	}
	// The run ends early enough to write its artifacts before the
	// harness's deadline kills the process.
	margin := min(max(timeout/10, 5*time.Second), time.Minute)
	if timeout <= 2*margin {
		margin = timeout / 3
	}
	budget := timeout - margin
	rctx, cancel := context.WithDeadline(ctx, start.Add(budget))
	defer cancel()

	// The request: the case's pinned world, the variant of the
	// placeholders.
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(c.dir, p)
	}
	if c.in.Replay.Repo != "" {
		opts.Repos = []string{rel(c.in.Replay.Repo)}
	}
	opts.Commit = c.in.Replay.Commit
	opts.Fixture = rel(c.in.Replay.GitHub)
	opts.Offline = true // a case carries its world: nothing is fetched
	if opts.Decision == "" {
		opts.Decision = c.in.Replay.Decision
	}
	if opts.Decision == "" {
		opts.Decision = "auto"
	}
	opts.Timeout = budget
	opts.MaxCost = maxCost
	if opts.SystemPrompt != "" {
		f := filepath.Join(out, ".system-prompt.txt")
		if err := os.WriteFile(f, []byte(opts.SystemPrompt), 0o600); err != nil {
			return err
		}
		defer os.Remove(f)
		opts.SystemFile = f
	}
	opts.FromStep = c.in.Replay.FromStep
	opts.Repeat = 1
	req, err := opts.request()
	if err != nil {
		return err
	}
	req.Trace = c.trace
	req.Variant.SubagentModel = opts.SubagentModel
	req.Variant.Params.Effort = opts.Effort
	req.MaxSteps = opts.MaxSteps
	req.MaxCostUSD = maxCost
	mcfg, err := opts.modelConfig(req.Variant.BaseURL)
	if err != nil {
		return err
	}
	if _, err := model.New(mcfg); err != nil {
		return usage(err)
	}
	models, err := opts.models()
	if err != nil {
		return err
	}
	s, done, err := opts.session(ctx, &opts.replayFlags, models)
	if err != nil {
		return err
	}
	defer done()
	res, runErr := s.Replay(rctx, req)
	if rctx.Err() != nil && runErr != nil && !errors.As(runErr, new(*replay.StopError)) {
		runErr = &replay.StopError{Reason: "timeout", Err: fmt.Errorf("the runner's time (%s of the harness's %s) ran out before the run started: %w", budget.Round(time.Millisecond), timeout, runErr)}
	}
	return opts.writeRunnerOutputs(ctx, s, c, out, res, runErr)
}

// writeRunnerOutputs writes every artifact the runner has, whatever
// happened, and says how it went by its error.
func (opts *evalRunnerOptions) writeRunnerOutputs(ctx context.Context, s *replay.Session, c *runnerCase, out string, res *replay.Result, runErr error) error {
	pricing, err := opts.pricing()
	if err != nil {
		return err
	}
	v := runnerVerdict{Case: c.in.Replay.Case, Failures: []harness.Failure{}, NotChecked: []string{}, Effects: []trace.Effect{}}
	var newRun, orig *trace.Run
	if res != nil {
		orig = res.Orig
		if res.Report != nil {
			newRun = res.Report.Run
		}
		if res.ID != "" {
			if b, err := os.ReadFile(s.Store.Path(res.ID)); err == nil {
				if err := os.WriteFile(filepath.Join(out, runnerRunFile), b, 0o644); err != nil {
					return err
				}
			}
			if stored, err := s.Store.Run(ctx, res.ID); err == nil {
				newRun = stored
			}
		}
	}
	if orig == nil {
		if f, err := os.Open(c.trace); err == nil {
			orig, _ = trace.DecodeRun(ctx, f, c.trace)
			f.Close()
		}
	}
	if newRun == nil {
		newRun = &trace.Run{}
	}
	// The GitHub item after the run: the snapshot, the run's effects, its
	// decision.
	repo, num := "", 0
	if orig != nil {
		repo, num = replay.RunTarget(orig)
	}
	if c.in.Fixture.Repo != "" && c.in.Fixture.Number > 0 {
		repo, num = c.in.Fixture.Repo, c.in.Fixture.Number
	}
	var snap replay.GitHubFiles
	if c.in.Replay.GitHub != "" {
		snap = harness.DirFiles(filepath.Join(c.dir, c.in.Replay.GitHub))
	}
	st := replay.NewGitHubState(snap, repo, num, opts.Now)
	st.PR = c.in.Fixture.Type == harness.PullRequest
	effs := newRun.AllEffects()
	for _, e := range effs {
		st.Apply(e)
	}
	var dec *trace.Decision
	if newRun.Outcome != nil {
		dec = newRun.Outcome.Decision
	}
	harness.ApplyDecision(st, dec, effs)
	v.State = harness.FixtureStateOf(st)
	v.Metrics = harness.MetricsOf(newRun, pricing)
	v.Effects = append(v.Effects, effs...)
	if dec != nil {
		v.Decision = dec.Value
	}
	if orig != nil && orig.Outcome != nil && orig.Outcome.Decision != nil {
		v.Original = orig.Outcome.Decision.Value
	}
	if newRun.Meta.Replay != nil {
		v.Variant = newRun.Meta.Replay.Variant
	}
	writeJSON := func(name string, x any) error {
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, name), append(b, '\n'), 0o644)
	}
	if err := writeJSON(harness.FixtureStateFile, v.State); err != nil {
		return err
	}
	if err := writeJSON(harness.MetricsFile, v.Metrics); err != nil {
		return err
	}
	if err := writeJSON(runnerDecisionFile, map[string]any{"decision": dec, "effects": v.Effects}); err != nil {
		return err
	}
	if orig != nil && res != nil && res.Report != nil {
		nr := *newRun
		nr.Meta.ID = res.ID
		o := *orig
		o.Meta.ID = res.Original.ID
		rep := diff.Runs(&o, &nr, diffOpts(pricing))
		for _, f := range []struct{ name, format string }{{runnerDiffJSON, diff.FormatJSON}, {runnerDiffMD, diff.FormatMarkdown}} {
			var b bytes.Buffer
			if err := diff.Render(&b, f.format, rep, diff.RenderOptions{}); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, f.name), b.Bytes(), 0o644); err != nil {
				return err
			}
		}
		fmt.Fprintln(opts.env.Stdout, rep.Verdict.Line)
	}
	// The verdict.
	var stop *replay.StopError
	switch {
	case runErr != nil && errors.As(runErr, &stop):
		v.Status, v.Stopped, v.Error = "incomplete", stop.Reason, runErr.Error()
	case runErr != nil:
		v.Status, v.Error = "error", runErr.Error()
	}
	if c.ann != nil {
		v.Failures = append(v.Failures, c.ann.Check(v.State, v.Metrics)...)
		if want := c.ann.Decision; len(want) > 0 {
			wb, _ := json.Marshal(want)
			if len(v.Decision) == 0 || !scenarios.Contains(v.Decision, wb) {
				got := "no decision"
				if len(v.Decision) > 0 {
					got = string(v.Decision)
				}
				v.Failures = append(v.Failures, harness.Failure{Expect: "decision", Msg: fmt.Sprintf("decided %s; want %s", got, wb)})
			}
		}
		v.NotChecked = append(v.NotChecked, c.ann.Unchecked...)
	}
	if v.Status == "" {
		v.Status = "pass"
		if len(v.Failures) > 0 {
			v.Status = "fail"
		}
	}
	v.Pass = v.Status == "pass"
	if err := writeJSON(runnerVerdictFile, v); err != nil {
		return err
	}
	// The summary on stdout (the harness gives it to judges).
	fmt.Fprintf(opts.env.Stdout, "case %s: %s; state %s, labels [%s]", v.Case, v.Status, strings.ToLower(v.State.State), strings.Join(v.State.Labels, ", "))
	if v.State.ReviewDecision != nil && *v.State.ReviewDecision != "" {
		fmt.Fprintf(opts.env.Stdout, ", review %s", *v.State.ReviewDecision)
	}
	fmt.Fprintf(opts.env.Stdout, "; %d turns, $%.4f; %d GitHub effect(s), none sent\n", deref(v.Metrics.NumTurns), derefF(v.Metrics.CostUSD), len(v.Effects))
	for _, f := range v.Failures {
		fmt.Fprintf(opts.env.Stdout, "  fail %s: %s\n", f.Expect, f.Msg)
	}
	for _, n := range v.NotChecked {
		fmt.Fprintf(opts.env.Stdout, "  not checked %s: free text for the harness's judges\n", n)
	}
	fmt.Fprintf(opts.env.Stderr, "eval runner: wrote %s\n", out)
	switch v.Status {
	case "incomplete":
		return &exitError{code: ExitIncomplete, msg: "eval runner: the run is incomplete: " + v.Error + " (what it did is in " + out + ")"}
	case "error":
		return runErr
	case "fail":
		return &exitError{code: ExitCheckFailed, msg: fmt.Sprintf("eval runner: case %s does not meet %s (%d failure(s))", v.Case, harness.AnnotationsFile, len(v.Failures))}
	}
	return nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func derefF(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
