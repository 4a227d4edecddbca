package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
	"github.com/agentreplay/replay/sandbox"
)

// replayFlags are what verify and run share: where the trace and its world
// come from, the sandbox, the limits.
type replayFlags struct {
	worldFlags
	Image    string
	Executor string
	Timeout  time.Duration
	Policies []string
	Decision string
	JSON     bool
	Out      string
}

func (f *replayFlags) bind(cmd *cobra.Command) {
	f.worldFlags.bind(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&f.Image, "image", "", "run tools in image `IMG` (default "+sandbox.DefaultImage+", built by replay sandbox build)")
	fl.StringVar(&f.Executor, "executor", "", "use the static replay-executor binary at `PATH` (default: the one built into replay)")
	fl.DurationVar(&f.Timeout, "timeout", 30*time.Minute, "end the run after `DURATION` (the partial run is kept)")
	fl.StringArrayVar(&f.Policies, "tool-policy", nil, "answer tool `NAME=POLICY`: exec (run in the sandbox), recorded (the recorded result of the identical call, else an error), deny, agent (a nested sub-agent; Task's default) (repeatable)")
	fl.StringVar(&f.Decision, "decision", "auto", "where the new run's decision is: auto, final (JSON in the final message), file:GLOB (a file the agent wrote), tool:NAME (a tool call's arguments)")
	fl.BoolVar(&f.JSON, "json", false, "print the result as JSON")
	fl.StringVar(&f.Out, "out", "", "also write the new run, in replay's native format, to `DIR`/<id>.jsonl")
}

// writeOut copies a stored run to --out.
func (g *globals) writeOut(s *replay.Session, dir, id string) error {
	if dir == "" || id == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	b, err := os.ReadFile(s.Store.Path(id))
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	p := filepath.Join(dir, id+".jsonl")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(g.env.Stderr, "wrote %s\n", p)
	return nil
}

// session opens what a replay needs: the store, the world, Docker.
func (g *globals) session(ctx context.Context, f *replayFlags, needDocker bool) (*replay.Session, func(), error) {
	pricing, err := g.pricing()
	if err != nil {
		return nil, nil, err
	}
	st, err := g.openStore(ctx, pricing)
	if err != nil {
		return nil, nil, err
	}
	w, err := g.openWorld(f.Offline)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	s := &replay.Session{Store: st, World: w, Pricer: pricing, Log: g.env.Stderr}
	closers := []func(){func() { st.Close() }}
	if needDocker {
		cli, err := sandbox.NewClient(ctx, sandbox.ClientOptionsFromEnv(g.env.Getenv))
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		s.Docker = cli
		closers = append(closers, func() { cli.Close() })
	}
	return s, func() {
		for _, c := range closers {
			c()
		}
	}, nil
}

func (f *replayFlags) request(target string) (replay.Request, error) {
	fetch, err := f.fetchOptions()
	if err != nil {
		return replay.Request{}, err
	}
	pol := map[string]replay.Policy{}
	for _, p := range f.Policies {
		name, val, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return replay.Request{}, &usageError{err: fmt.Errorf("--tool-policy %q: want NAME=POLICY, e.g. Task=recorded", p), help: "replay run"}
		}
		v, err := replay.ParsePolicy(val)
		if err != nil {
			return replay.Request{}, &usageError{err: fmt.Errorf("--tool-policy %q: %w", p, err), help: "replay run"}
		}
		pol[name] = v
	}
	dec, err := replay.ParseDecisionSpec(f.Decision)
	if err != nil {
		return replay.Request{}, &usageError{err: fmt.Errorf("--decision: %w", err), help: "replay run"}
	}
	return replay.Request{
		Trace: target, Format: f.Format, Lenient: f.Lenient, Fetch: fetch,
		Image: f.Image, ExecutorPath: f.Executor, Timeout: f.Timeout,
		Engine: replay.Config{Policies: replay.NewPolicySet(pol), Decision: dec},
	}, nil
}

// --- verify ---

type verifyOptions struct {
	*globals
	replayFlags
	Target string
}

func newVerifyCmd(g *globals) *cobra.Command {
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
any re-executed call differs.`,
		Example: `  replay verify testdata/example/run --repo testdata/example/widgets.bundle --github-fixture testdata/example/github
  replay verify 5ef49dd6 --offline
  replay verify session.jsonl --json | jq '.calls[] | select(.fidelity.status=="differs")'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runVerify(cmd.Context(), opts)
		},
	}
	opts.replayFlags.bind(cmd)
	return cmd
}

// verifyJSON is `replay verify --json` (versioned).
type verifyJSON struct {
	Version     int                 `json:"version"`
	Original    string              `json:"original"`
	Run         string              `json:"run"`
	Workspace   string              `json:"workspace"`
	Commit      string              `json:"commit,omitempty"`
	Faithful    bool                `json:"faithful"`
	Counts      map[string]int      `json:"counts"`
	Calls       []replay.CallReport `json:"calls"`
	Divergences []model.Divergence  `json:"divergences"`
	Stopped     string              `json:"stopped,omitempty"`
	Normalized  []string            `json:"normalizations"`
	Resolution  *world.Resolution   `json:"-"`
}

func runVerify(ctx context.Context, opts *verifyOptions) error {
	req, err := opts.request(opts.Target)
	if err != nil {
		return err
	}
	req.Engine.Mode = replay.ModeVerify
	req.Variant = map[string]string{"mode": "verify"}
	s, done, err := opts.session(ctx, &opts.replayFlags, true)
	if err != nil {
		return err
	}
	defer done()
	res, err := s.Replay(ctx, req)
	if res == nil || res.Report == nil {
		return err
	}
	if oerr := opts.writeOut(s, opts.Out, res.ID); oerr != nil {
		return oerr
	}
	rep := res.Report
	v := verifyJSON{Version: 1, Original: res.Original.ID, Run: res.ID, Workspace: res.Workspace, Calls: rep.Calls, Divergences: rep.Divergences, Stopped: rep.Stopped, Counts: map[string]int{}, Normalized: []string{}}
	if v.Calls == nil {
		v.Calls = []replay.CallReport{}
	}
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
	v.Faithful = !rep.Diverged() && err == nil
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
	if rep.Diverged() {
		return &exitError{code: ExitCheckFailed, msg: fmt.Sprintf("%d re-executed call(s) differ from the recording", v.Counts[replay.Differs])}
	}
	return nil
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
	fmt.Fprintln(tw, "\nSTEP\tRUN\tTOOL\tCALL\tRESULT")
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
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", c.Step, run, c.Tool, callSummary(c), verdict)
	}
	tw.Flush()
	for _, c := range v.Calls {
		if c.Fidelity.Status == replay.Differs {
			fmt.Fprintf(w, "\nstep %d %s %s differs:\n%s", c.Step, c.Tool, callSummary(c), indent(c.Fidelity.Diff, "  "))
		}
	}
	reexec := v.Counts[replay.Match] + v.Counts[replay.Differs]
	fmt.Fprintf(w, "\nfidelity: %d of %d re-executed calls match", v.Counts[replay.Match], reexec)
	if n := v.Counts[replay.NotReexecuted]; n > 0 {
		fmt.Fprintf(w, "; %d answered another way", n)
	}
	if len(v.Normalized) > 0 {
		fmt.Fprintf(w, "; normalizations: %s", strings.Join(v.Normalized, ", "))
	}
	fmt.Fprintln(w)
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

// --- run ---

type runOptions struct {
	*globals
	replayFlags
	Target      string
	Model       string
	BaseURL     string
	SystemFile  string
	Prompts     []string
	Context     []string
	Temperature float64
	TopP        float64
	MaxTokens   int64
	Seed        int64
	FromStep    int
	Repeat      int
	MaxSteps    int
	MaxCost     float64
	NoCache     bool
	set         func(string) bool
	export      runExportFlag // --export (export.go)
}

func newRunCmd(g *globals) *cobra.Command {
	opts := &runOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "run <trace>",
		Short: "Replay a trace with a changed model, prompt, context or parameters (also: replay <trace>)",
		Long: `Run replays a trace as a counterfactual: the world is rebuilt as for verify,
and the agent runs again against an OpenAI-compatible endpoint with what you
changed. Tool calls are answered by policy: workspace tools run in the
sandbox; anything that reaches outside (network, gh writes, comments, git
push, MCP tools) never runs for real: it gets the recorded result of the
identical call, a gh read is answered from the GitHub snapshot, anything else
is denied. Sub-agents (Task) run as nested agents, recorded as child runs.

The endpoint: --base-url, else $OPENAI_BASE_URL, else OpenAI; the key comes
from $OPENAI_API_KEY and never enters the sandbox. Answers are cached on
disk, so re-running an unchanged replay costs nothing (--no-cache to ask
again). --repeat N runs it N times (each repetition its own sample).

Prompts (--system-file, --prompt NAME=…) are a file path or a file in git:
owner/repo@ref:path (any --repo source works for the repository).

The new run is stored, linked to the original; a short comparison with the
original is printed.`,
		Example: `  replay 5ef49dd6 --model gpt-4o-mini
  replay run session.jsonl --model qwen2.5-coder --base-url http://localhost:11434/v1
  replay run 5ef49dd6 --system-file prompts/review.md --prompt security=prompts/security.md
  replay run 5ef49dd6 --system-file acme/prompts@v2:review/system.md --repeat 5
  replay run 5ef49dd6 --from-step 12 --context add=STYLE.md --temperature 0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			opts.set = func(name string) bool { return cmd.Flags().Changed(name) }
			return runRun(cmd.Context(), opts)
		},
	}
	opts.replayFlags.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&opts.Model, "model", "", "call model `M` (default: the recorded model)")
	fl.StringVar(&opts.BaseURL, "base-url", "", "OpenAI-compatible endpoint `URL` (default $OPENAI_BASE_URL, else https://api.openai.com/v1)")
	fl.StringVar(&opts.SystemFile, "system-file", "", "replace the system prompt with `FILE` (a path, or owner/repo@ref:path)")
	fl.StringArrayVar(&opts.Prompts, "prompt", nil, "replace sub-agent `NAME=FILE`'s system prompt (repeatable)")
	fl.StringArrayVar(&opts.Context, "context", nil, "change the context: add=FILE adds the file as a user message after the opening ones; drop=STEP leaves out that message step (repeatable)")
	fl.Float64Var(&opts.Temperature, "temperature", 0, "sampling temperature")
	fl.Float64Var(&opts.TopP, "top-p", 0, "nucleus sampling")
	fl.Int64Var(&opts.MaxTokens, "max-tokens", 0, "cap each answer at `N` tokens")
	fl.Int64Var(&opts.Seed, "seed", 0, "sampling seed, where the endpoint supports one")
	fl.IntVar(&opts.FromStep, "from-step", 0, "take steps before `K` from the recording at no cost; the model takes over at step K")
	fl.IntVar(&opts.Repeat, "repeat", 1, "run it `N` times")
	fl.IntVar(&opts.MaxSteps, "max-steps", 200, "end the run after `N` model calls (sub-agents included)")
	fl.Float64Var(&opts.MaxCost, "max-cost", 0, "end the run once it has cost `USD` (priced; 0: no limit)")
	fl.BoolVar(&opts.NoCache, "no-cache", false, "ask the endpoint even when the response cache has the answer")
	opts.export.bind(cmd)
	return cmd
}

func runRun(ctx context.Context, opts *runOptions) error {
	req, err := opts.request(opts.Target)
	if err != nil {
		return err
	}
	if opts.Repeat < 1 {
		return &usageError{err: fmt.Errorf("--repeat %d: want 1 or more", opts.Repeat), help: "replay run"}
	}
	if err := opts.export.check(opts.globals); err != nil {
		return err
	}
	s, done, err := opts.session(ctx, &opts.replayFlags, true)
	if err != nil {
		return err
	}
	defer done()
	cfg := &req.Engine
	cfg.Mode = replay.ModeRun
	cfg.FromStep, cfg.MaxSteps, cfg.MaxCostUSD = opts.FromStep, opts.MaxSteps, opts.MaxCost
	variant := map[string]string{}
	note := func(flag, val string) { variant[flag] = val }
	if opts.Model != "" {
		cfg.Params.Model = opts.Model
		note("model", opts.Model)
	}
	if opts.set("temperature") {
		cfg.Params.Temperature = trace.Float(opts.Temperature)
		note("temperature", strconv.FormatFloat(opts.Temperature, 'g', -1, 64))
	}
	if opts.set("top-p") {
		cfg.Params.TopP = trace.Float(opts.TopP)
		note("top-p", strconv.FormatFloat(opts.TopP, 'g', -1, 64))
	}
	if opts.set("max-tokens") {
		cfg.Params.MaxTokens = trace.Int(opts.MaxTokens)
		note("max-tokens", strconv.FormatInt(opts.MaxTokens, 10))
	}
	if opts.set("seed") {
		cfg.Params.Seed = trace.Int(opts.Seed)
		note("seed", strconv.FormatInt(opts.Seed, 10))
	}
	if opts.FromStep > 0 {
		note("from-step", strconv.Itoa(opts.FromStep))
	}
	if opts.SystemFile != "" {
		p, err := s.ReadPrompt(ctx, opts.SystemFile)
		if err != nil {
			return err
		}
		cfg.System = &p
		note("system-file", opts.SystemFile)
	}
	for _, pr := range opts.Prompts {
		name, file, ok := strings.Cut(pr, "=")
		if !ok || name == "" {
			return &usageError{err: fmt.Errorf("--prompt %q: want NAME=FILE (NAME is the sub-agent's type, e.g. security)", pr), help: "replay run"}
		}
		p, err := s.ReadPrompt(ctx, file)
		if err != nil {
			return err
		}
		if cfg.Prompts == nil {
			cfg.Prompts = map[string]string{}
		}
		cfg.Prompts[name] = p
		note("prompt."+name, file)
	}
	for _, c := range opts.Context {
		op, arg, _ := strings.Cut(c, "=")
		switch op {
		case "add":
			b, err := os.ReadFile(arg)
			if err != nil {
				return &usageError{err: fmt.Errorf("--context %q: %w", c, err), help: "replay run"}
			}
			cfg.AddContext = append(cfg.AddContext, trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: string(b)}}})
		case "drop":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return &usageError{err: fmt.Errorf("--context %q: drop takes a step number (see replay inspect)", c), help: "replay run"}
			}
			cfg.DropSteps = append(cfg.DropSteps, n)
		default:
			return &usageError{err: fmt.Errorf("--context %q: want add=FILE or drop=STEP", c), help: "replay run"}
		}
		note("context."+op, arg)
	}
	base := opts.BaseURL
	if base == "" {
		base = opts.env.Getenv("OPENAI_BASE_URL")
	}
	cacheDir, err := opts.cacheDir()
	if err != nil {
		return err
	}
	cache, err := model.OpenCache(cacheDir + "/model")
	if err != nil {
		return err
	}
	pricing, err := opts.pricing()
	if err != nil {
		return err
	}
	m, err := model.New(model.Config{BaseURL: base, APIKey: opts.env.Getenv("OPENAI_API_KEY"), Cache: cache, NoCache: opts.NoCache, Pricing: pricing,
		Warn: func(err error) { fmt.Fprintln(opts.env.Stderr, "warning: "+err.Error()) }})
	if err != nil {
		return err
	}
	cfg.Model = m
	if base != "" {
		note("base-url", base)
	}
	req.Variant = variant

	var results []*replay.Result
	var runErr error
	for i := 0; i < opts.Repeat; i++ {
		r := req
		r.Engine.Sample = i
		res, err := s.Replay(ctx, r)
		if res != nil && res.Report != nil {
			results = append(results, res)
			if oerr := opts.writeOut(s, opts.Out, res.ID); oerr != nil && err == nil {
				err = oerr
			}
		}
		if err != nil {
			if res != nil && res.ID != "" {
				fmt.Fprintf(opts.env.Stderr, "replay: the partial run is stored as %s\n", shortID(res.ID))
			}
			runErr = err
			break
		}
	}
	if opts.JSON {
		out := struct {
			Version int         `json:"version"`
			Runs    []runReport `json:"runs"`
		}{Version: 1}
		for _, r := range results {
			out.Runs = append(out.Runs, newRunReport(r))
		}
		if err := writeJSON(opts.env.Stdout, out); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			writeRun(opts.env.Stdout, r)
		}
		if len(results) > 1 {
			writeRepeats(opts.env.Stdout, results)
		}
	}
	return opts.export.after(ctx, opts.globals, s.Store, resultIDs(results), runErr)
}

// runReport is one run of `replay run --json`.
type runReport struct {
	Original   string             `json:"original"`
	Run        string             `json:"run"`
	Sample     int                `json:"sample"`
	Stopped    string             `json:"stopped,omitempty"`
	Decision   json.RawMessage    `json:"decision"`
	Was        json.RawMessage    `json:"original_decision"`
	LLMCalls   [2]int             `json:"llm_calls"`  // original, new
	ToolCalls  [2]int             `json:"tool_calls"` // original, new
	Tokens     [2]trace.Usage     `json:"tokens"`
	CostUSD    [2]*float64        `json:"cost_usd"` // original (recorded, else priced), new (priced)
	Produced   map[string]int     `json:"tool_results"`
	Divergence *replay.Divergence `json:"first_divergence,omitempty"`
}

func newRunReport(r *replay.Result) runReport {
	o, n := r.Original, r.New
	rr := runReport{Original: o.ID, Run: r.ID, Stopped: r.Report.Stopped, Decision: n.Decision, Was: o.Decision,
		LLMCalls: [2]int{o.LLMCalls, n.LLMCalls}, ToolCalls: [2]int{o.ToolCalls, n.ToolCalls}, Tokens: [2]trace.Usage{o.Tokens, n.Tokens},
		Produced: map[string]int{}}
	if r.Report.Run != nil && r.Report.Run.Meta.Replay != nil {
		rr.Sample = r.Report.Run.Meta.Replay.Sample
	}
	rr.CostUSD[0] = o.Cost.Recorded
	if rr.CostUSD[0] == nil {
		rr.CostUSD[0] = o.Cost.Priced
	}
	rr.CostUSD[1] = n.Cost.Priced // nil when no call could be priced
	for _, c := range r.Report.Calls {
		rr.Produced[c.Produced]++
	}
	if r.Orig != nil && r.Report.Run != nil {
		rr.Divergence = replay.FirstDivergence(r.Orig, r.Report.Run)
	}
	return rr
}

func writeRun(w io.Writer, r *replay.Result) {
	rr := newRunReport(r)
	fmt.Fprintf(w, "replay of %s -> new run %s", shortID(rr.Original), shortID(rr.Run))
	if v := r.Report.Run.Meta.Replay; v != nil && len(v.Variant) > 0 {
		var keys []string
		for k := range v.Variant {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+v.Variant[k])
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tORIGINAL\tREPLAY")
	fmt.Fprintf(tw, "decision\t%s\t%s\n", decisionText(rr.Was), decisionText(rr.Decision))
	fmt.Fprintf(tw, "model calls\t%d\t%d\n", rr.LLMCalls[0], rr.LLMCalls[1])
	var prod []string
	for _, k := range []string{replay.ProducedExec, replay.ProducedRecorded, replay.ProducedSnapshot, replay.ProducedDenied, replay.ProducedAgent} {
		if n := rr.Produced[k]; n > 0 {
			prod = append(prod, fmt.Sprintf("%s %d", k, n))
		}
	}
	fmt.Fprintf(tw, "tool calls\t%d\t%d (%s)\n", rr.ToolCalls[0], rr.ToolCalls[1], strings.Join(prod, ", "))
	fmt.Fprintf(tw, "tokens in/out\t%d/%d\t%d/%d\n", rr.Tokens[0].Input+rr.Tokens[0].CacheRead+rr.Tokens[0].CacheWrite, rr.Tokens[0].Output, rr.Tokens[1].Input+rr.Tokens[1].CacheRead+rr.Tokens[1].CacheWrite, rr.Tokens[1].Output)
	fmt.Fprintf(tw, "cost\t%s\t%s\n", usdPtr(rr.CostUSD[0]), usdPtr(rr.CostUSD[1]))
	if rr.Stopped != "" {
		fmt.Fprintf(tw, "stopped\t-\t%s\n", rr.Stopped)
	}
	if d := rr.Divergence; d != nil {
		fmt.Fprintf(tw, "first divergence\tstep %d: %s\t%s\n", d.Step, clip(d.Original, 50), clip(d.Replay, 50))
	} else {
		fmt.Fprintf(tw, "actions\tthe same tool calls\t\n")
	}
	tw.Flush()
	fmt.Fprintf(w, "(replay inspect %s for the new run)\n\n", shortID(rr.Run))
}

func writeRepeats(w io.Writer, rs []*replay.Result) {
	counts := map[string]int{}
	for _, r := range rs {
		counts[decisionText(r.New.Decision)]++
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d/%d", k, counts[k], len(rs)))
	}
	fmt.Fprintf(w, "decisions over %d runs: %s (original: %s)\n", len(rs), strings.Join(parts, ", "), decisionText(rs[0].Original.Decision))
}

// decisionText shows a decision briefly: a review's action and findings.
func decisionText(d json.RawMessage) string {
	if len(d) == 0 || string(d) == "null" {
		return "-"
	}
	var v struct {
		Action   string            `json:"action"`
		Findings []json.RawMessage `json:"findings"`
	}
	if json.Unmarshal(d, &v) == nil && v.Action != "" {
		return fmt.Sprintf("%s (%s)", v.Action, plural(len(v.Findings), "finding", "findings"))
	}
	return clip(string(d), 40)
}

func usdPtr(v *float64) string {
	if v == nil {
		return "unpriced"
	}
	return usd(*v)
}
