package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/diff"
	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
)

// replayFlags are what verify and run share: where the trace and its world
// come from, the sandbox, the limits.

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
	// RequestTimeout is how long the endpoint may stay silent (0: not
	// given; $REPLAY_REQUEST_TIMEOUT, else the model package's limits).
	RequestTimeout time.Duration
	// DiffFormat and DiffOut: the diff against the original in another
	// format, to a file (or, without --diff-out, on stdout instead of the
	// text diff).
	DiffFormat string
	DiffOut    string
	export     runExportFlag // --export (export.go)
	agent      agentFlags    // --agent-cmd (agentcmd.go)
	set        func(string) bool
}

func newRunCmd(g *globals, runF func(context.Context, *runOptions) error) *cobra.Command {
	if runF == nil {
		runF = runRun
	}
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
from $OPENAI_API_KEY and never enters the sandbox (OpenAI's API needs one; a
local server such as Ollama or vLLM may not). Answers are cached on disk, so
re-running an unchanged replay costs nothing (--no-cache to ask again).
--repeat N runs it N times (each repetition its own sample).

A model request may stay silent for --request-timeout (else
$REPLAY_REQUEST_TIMEOUT, else 2m for the answer to start and 1m between its
bytes): an endpoint that accepts and never answers, or stalls part way, ends
the attempt, which is retried. A long answer that keeps coming is never cut.
Rate limits (429, honouring Retry-After), server errors (5xx), timeouts and
dropped connections are retried with backoff; a 200 that is not a chat
completion is not (the base URL points to something else).

Prompts (--system-file, --prompt NAME=…) are a file path or a file in git:
owner/repo@ref:path (any --repo source works for the repository).

The new run is stored, linked to the original, and diffed against it: the
text diff of replay diff is printed (--diff-format for another format on
stdout, --diff-out FILE to write it; with --repeat the file holds the
distribution of the samples' decisions).
` + agentHelp + `
A black-box run forwards the agent's requests with what you changed (--model,
--system-file, --prompt, --context add=, parameters) to --base-url (OpenAI
formats; key $OPENAI_API_KEY) or --anthropic-base-url (Anthropic Messages; key
$ANTHROPIC_API_KEY); with --from-step K the first K-1 model calls are answered
from the recording.`,
		Example: `  replay 5ef49dd6 --model gpt-4o-mini
  replay run session.jsonl --model qwen2.5-coder --base-url http://localhost:11434/v1
  replay run 5ef49dd6 --system-file prompts/review.md --prompt security=prompts/security.md
  replay run 5ef49dd6 --system-file acme/prompts@v2:review/system.md --repeat 5
  replay run 5ef49dd6 --from-step 12 --context add=STYLE.md --temperature 0

  # A slow local model: let it think up to 10 minutes per answer
  replay run 5ef49dd6 --model qwen2.5-coder:32b --base-url http://localhost:11434/v1 --request-timeout 10m

  # The agent's own program, with another model and system prompt
  replay run 5ef49dd6 --agent-cmd 'python -m reviewer --pr 42' --agent-image acme/reviewer:1.4 \
      --model gpt-4o-mini --system-file prompts/review.md
  replay run 5ef49dd6 --agent-cmd 'claude -p "$(cat task.md)"' --agent-image replay-claude:latest --from-step 3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			opts.set = func(name string) bool { return cmd.Flags().Changed(name) }
			return runF(cmd.Context(), opts)
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
	opts.agent.bind(cmd, false)
	fl.StringVar(&opts.DiffFormat, "diff-format", "", "the diff against the original as `FORMAT`: text, json, md or html (default text, or what --diff-out's extension says)")
	fl.StringVar(&opts.DiffOut, "diff-out", "", "write the diff against the original to `FILE` (with --repeat: all the samples)")
	fl.DurationVar(&opts.RequestTimeout, "request-timeout", 0, "let a model request stay silent up to `DURATION`, both before its answer starts and between its bytes (default $REPLAY_REQUEST_TIMEOUT, else 2m to start, 1m between bytes)")
	return cmd
}

// request is the counterfactual the flags ask for, built without I/O.
func (opts *runOptions) request() (replay.Request, error) {
	req, err := opts.replayFlags.request(opts.Target, replay.ModeRun)
	if err != nil {
		return req, err
	}
	if opts.Repeat < 1 {
		return req, usage(fmt.Errorf("--repeat %d: want 1 or more", opts.Repeat))
	}
	if opts.DiffFormat != "" {
		if _, err := diffFormat(opts.DiffFormat, ""); err != nil {
			return req, usage(fmt.Errorf("--diff-format %q: want text, json, md or html", opts.DiffFormat))
		}
		if opts.JSON && opts.DiffOut == "" {
			return req, usage(errors.New("--json prints the summary on stdout: send the --diff-format report to a file with --diff-out"))
		}
	}
	req.Repeat, req.MaxSteps, req.MaxCostUSD = opts.Repeat, opts.MaxSteps, opts.MaxCost
	v := replay.Variant{Model: opts.Model, BaseURL: opts.BaseURL, SystemFile: opts.SystemFile, FromStep: opts.FromStep}
	if v.BaseURL == "" {
		v.BaseURL = opts.env.Getenv("OPENAI_BASE_URL")
	}
	set := opts.set
	if set == nil {
		set = func(string) bool { return false }
	}
	if set("temperature") {
		v.Params.Temperature = trace.Float(opts.Temperature)
	}
	if set("top-p") {
		v.Params.TopP = trace.Float(opts.TopP)
	}
	if set("max-tokens") {
		v.Params.MaxTokens = trace.Int(opts.MaxTokens)
	}
	if set("seed") {
		v.Params.Seed = trace.Int(opts.Seed)
	}
	for _, pr := range opts.Prompts {
		name, file, ok := strings.Cut(pr, "=")
		if !ok || name == "" || file == "" {
			return req, usage(fmt.Errorf("--prompt %q: want NAME=FILE (NAME is the sub-agent's type, e.g. security)", pr))
		}
		if v.Prompts == nil {
			v.Prompts = map[string]string{}
		}
		v.Prompts[name] = file
	}
	for _, c := range opts.Context {
		op, arg, _ := strings.Cut(c, "=")
		switch op {
		case "add":
			if arg == "" {
				return req, usage(fmt.Errorf("--context %q: add takes a file", c))
			}
			v.AddContext = append(v.AddContext, arg)
		case "drop":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return req, usage(fmt.Errorf("--context %q: drop takes a step number (see replay inspect)", c))
			}
			v.DropSteps = append(v.DropSteps, n)
		default:
			return req, usage(fmt.Errorf("--context %q: want add=FILE or drop=STEP", c))
		}
	}
	req.Variant = v
	return req, nil
}

// modelConfig is how the client of endpoint base ("" is OpenAI's) is
// configured from the flags and the environment, without I/O (models adds
// the cache and the pricing): the key from $OPENAI_API_KEY, the silence
// limits from --request-timeout, else $REPLAY_REQUEST_TIMEOUT. OpenAI's API
// without a key is refused here, before anything starts.
func (opts *runOptions) modelConfig(base string) (model.Config, error) {
	cfg := model.Config{BaseURL: base, APIKey: opts.env.Getenv("OPENAI_API_KEY"), NoCache: opts.NoCache}
	d := opts.RequestTimeout
	switch {
	case opts.set != nil && opts.set("request-timeout"):
		if d <= 0 {
			return cfg, usage(fmt.Errorf("--request-timeout %s: want a positive duration, e.g. 90s or 10m", d))
		}
	case opts.env.Getenv("REPLAY_REQUEST_TIMEOUT") != "":
		v := opts.env.Getenv("REPLAY_REQUEST_TIMEOUT")
		var err error
		if d, err = time.ParseDuration(strings.TrimSpace(v)); err != nil || d <= 0 {
			return cfg, usage(fmt.Errorf("REPLAY_REQUEST_TIMEOUT=%q: want a positive duration, e.g. 90s or 10m", v))
		}
	}
	cfg.FirstByteTimeout, cfg.IdleTimeout = d, d
	if model.RequiresKey(base) && strings.TrimSpace(cfg.APIKey) == "" {
		endpoint := base
		if endpoint == "" {
			endpoint = model.DefaultBaseURL
		}
		return cfg, fmt.Errorf("run: the endpoint %s needs an API key: set OPENAI_API_KEY, or give --base-url (or $OPENAI_BASE_URL) for another OpenAI-compatible endpoint (a local server may need no key)", endpoint)
	}
	return cfg, nil
}

// models makes the client a counterfactual calls: the endpoint, the key
// from the environment (it stays in replay), the response cache.
func (opts *runOptions) models() (func(string) (model.Model, error), error) {
	cacheDir, err := opts.cacheDir()
	if err != nil {
		return nil, err
	}
	pricing, err := opts.pricing()
	if err != nil {
		return nil, err
	}
	return func(base string) (model.Model, error) {
		cfg, err := opts.modelConfig(base)
		if err != nil {
			return nil, err
		}
		if cfg.Cache, err = model.OpenCache(filepath.Join(cacheDir, "model")); err != nil {
			return nil, err
		}
		cfg.Pricing = pricing
		cfg.Warn = func(err error) { fmt.Fprintln(opts.env.Stderr, "warning: "+err.Error()) }
		return model.New(cfg)
	}, nil
}

func runRun(ctx context.Context, opts *runOptions) error {
	if opts.agent.Cmd != "" || (opts.set != nil && opts.set("agent-cmd")) {
		return runAgentRun(ctx, opts)
	}
	if err := opts.agent.check(opts.set); err != nil {
		return err
	}
	req, err := opts.request()
	if err != nil {
		return err
	}
	if err := opts.export.check(opts.globals); err != nil {
		return err
	}
	// The endpoint's configuration fails now, not after the world is
	// rebuilt and the sandbox started.
	cfg, err := opts.modelConfig(req.Variant.BaseURL)
	if err != nil {
		return err
	}
	if _, err := model.New(cfg); err != nil {
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
	results, runErr := s.ReplayAll(ctx, req, func(r *replay.Result) error {
		return opts.writeOut(s, opts.Out, r.ID)
	})
	if runErr != nil && len(results) > 0 {
		if last := results[len(results)-1]; last.ID != "" {
			fmt.Fprintf(opts.env.Stderr, "replay: the partial run is stored as %s\n", shortID(last.ID))
		}
	}
	if err := opts.writeDiffs(results); err != nil {
		return err
	}
	return opts.export.after(ctx, opts.globals, s.Store, resultIDs(results), runErr)
}

// runJSON is one run of `replay run --json`: the summary and the first
// divergence the diff finds.
type runJSON struct {
	replay.Summary
	FirstDivergence *diff.Divergence `json:"first_divergence,omitempty"`
}

// writeDiffs ends `replay run`: each new run diffed against the original.
// On stdout the text diff (or --json's summary); --diff-out writes the
// --diff-format report (all the samples' distribution with --repeat).
func (opts *runOptions) writeDiffs(results []*replay.Result) error {
	pricing, err := opts.pricing()
	if err != nil {
		return err
	}
	dopts := diffOpts(pricing)
	var news []*trace.Run
	var orig *trace.Run
	reports := make([]*diff.Report, len(results))
	for i, r := range results {
		if r.Orig == nil || r.Report == nil || r.Report.Run == nil {
			continue
		}
		nr := *r.Report.Run
		nr.Meta.ID = r.ID
		if nr.Meta.Replay == nil {
			nr.Meta.Replay = &trace.Origin{Of: r.Original.ID, Mode: replay.ModeRun}
		}
		o := *r.Orig
		o.Meta.ID = r.Original.ID
		orig = &o
		news = append(news, &nr)
		reports[i] = diff.Runs(orig, &nr, dopts)
	}
	if opts.JSON {
		out := struct {
			Version int       `json:"version"`
			Runs    []runJSON `json:"runs"`
		}{Version: 1}
		for i, r := range results {
			rs := runJSON{Summary: replay.Summarize(r)}
			rs.CostUSD = [2]*float64{roundUSD(rs.CostUSD[0]), roundUSD(rs.CostUSD[1])}
			if reports[i] != nil {
				rs.FirstDivergence = reports[i].Verdict.First
			}
			out.Runs = append(out.Runs, rs)
		}
		if err := writeJSON(opts.env.Stdout, out); err != nil {
			return err
		}
	} else {
		ropts := diff.RenderOptions{Color: opts.env.Getenv("NO_COLOR") == "" && isTerminal(opts.env.Stdout)}
		toStdout := opts.DiffOut == "" && opts.DiffFormat != "" && opts.DiffFormat != diff.FormatText
		for i, r := range results {
			writeRunHeader(opts.env.Stdout, replay.Summarize(r))
			if reports[i] == nil {
				continue
			}
			if toStdout {
				if err := diff.Render(opts.env.Stdout, opts.DiffFormat, reports[i], diff.RenderOptions{}); err != nil {
					return err
				}
			} else if err := diff.WriteText(opts.env.Stdout, reports[i], ropts); err != nil {
				return err
			}
			fmt.Fprintf(opts.env.Stdout, "(replay inspect %s for the new run; replay diff %s %s for the diff)\n\n", shortID(r.ID), shortID(r.Original.ID), shortID(r.ID))
		}
		if len(news) > 1 {
			fmt.Fprintln(opts.env.Stdout, diff.RunsMany(orig, news, dopts).Line)
		}
	}
	if opts.DiffOut == "" || len(news) == 0 {
		return nil
	}
	format, err := diffFormat(opts.DiffFormat, opts.DiffOut)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if len(news) == 1 {
		err = diff.Render(&b, format, reports[len(reports)-1], diff.RenderOptions{})
	} else {
		err = diff.RenderMany(&b, format, diff.RunsMany(orig, news, dopts), diff.RenderOptions{})
	}
	if err != nil {
		return err
	}
	return writeReport(opts.env.Stdout, opts.DiffOut, b.Bytes())
}

func writeRunHeader(w io.Writer, rr replay.Summary) {
	fmt.Fprintf(w, "replay of %s -> new run %s", shortID(rr.Original), shortID(rr.Run))
	if len(rr.Variant) > 0 {
		var keys []string
		for k := range rr.Variant {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+rr.Variant[k])
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
}
