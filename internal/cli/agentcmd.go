package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/diff"
	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/proxy"
)

// agentFlags are the black-box flags of run and verify: the agent's own
// program re-run in the sandbox behind the model proxy.
type agentFlags struct {
	Cmd             string
	Image           string
	Timeout         time.Duration
	AfterDivergence string
	AnthropicURL    string
}

const agentHelp = `
With --agent-cmd 'CMD', the agent's own program is re-run instead (black-box):
CMD runs inside the sandbox (sh -c when the image has a shell) at the recorded
working directory of the rebuilt world, with OPENAI_BASE_URL and
ANTHROPIC_BASE_URL pointing at replay's model proxy and dummy API keys. The
sandbox still has no network: the proxy is reached through the executor's
channel (a port on the container's loopback), never a published port. The
real key never enters the container; the proxy adds it on the host side.
--agent-image IMG is an image with the agent installed (Claude Code, Codex, a
team's own: see docs/agent-image.md). --agent-timeout ends an agent that
hangs. The agent's output goes to stderr (cut at 1 MiB, with a note).
`

func (f *agentFlags) bind(cmd *cobra.Command, verify bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.Cmd, "agent-cmd", "", "re-run the agent's own program `CMD` in the sandbox behind the model proxy (black-box)")
	fl.StringVar(&f.Image, "agent-image", "", "run --agent-cmd in image `IMG` (one with the agent installed; default: --image, else the sandbox's)")
	fl.DurationVar(&f.Timeout, "agent-timeout", 15*time.Minute, "end an --agent-cmd program that runs longer than `DURATION` (the partial run is kept)")
	if verify {
		fl.StringVar(&f.AfterDivergence, "after-divergence", "stop", "with --agent-cmd, what follows the agent's first divergence from the recording: stop (every later request fails), or forward (to the real model, --base-url)")
	}
	fl.StringVar(&f.AnthropicURL, "anthropic-base-url", "", "with --agent-cmd, the Anthropic Messages endpoint `URL` forwarded to (default $ANTHROPIC_BASE_URL, else https://api.anthropic.com)")
}

// check refuses what does not go with --agent-cmd.
func (f *agentFlags) check(set func(string) bool) error {
	if f.Cmd == "" {
		for _, name := range []string{"agent-image", "agent-timeout", "after-divergence", "anthropic-base-url"} {
			if set != nil && set(name) {
				return usage(fmt.Errorf("--%s goes with --agent-cmd", name))
			}
		}
		return nil
	}
	if strings.TrimSpace(f.Cmd) == "" {
		return usage(errors.New("--agent-cmd: empty command"))
	}
	if f.Timeout <= 0 {
		return usage(fmt.Errorf("--agent-timeout %s: want a positive duration", f.Timeout))
	}
	switch f.AfterDivergence {
	case "", proxy.AfterStop, proxy.AfterForward:
	default:
		return usage(fmt.Errorf("--after-divergence %q: want stop or forward", f.AfterDivergence))
	}
	return nil
}

// agentRequest is the black-box request over the flags' replay request.
func (g *globals) agentRequest(req replay.Request, f *agentFlags) replay.AgentRequest {
	return replay.AgentRequest{
		Request:      req,
		Command:      f.Cmd,
		AgentImage:   f.Image,
		AgentTimeout: f.Timeout,
		Stdout:       g.env.Stderr,
		Stderr:       g.env.Stderr,
	}
}

// proxyConfig is the proxy's side configuration for a forwarding run: the
// keys from the environment (they stay in replay), the shared response
// cache, the pricing, the silence limits.
func (opts *runOptions) proxyConfig() (proxy.Config, error) {
	cfg := proxy.Config{
		APIKey:            opts.env.Getenv("OPENAI_API_KEY"),
		AnthropicKey:      opts.env.Getenv("ANTHROPIC_API_KEY"),
		AnthropicUpstream: opts.agent.AnthropicURL,
		NoCache:           opts.NoCache,
	}
	if cfg.AnthropicUpstream == "" {
		cfg.AnthropicUpstream = opts.env.Getenv("ANTHROPIC_BASE_URL")
	}
	mc, err := opts.modelConfig("http://agent.proxy.invalid") // the silence limits; the key check is the upstream's own
	if err != nil {
		return cfg, err
	}
	cfg.FirstByteTimeout, cfg.IdleTimeout = mc.FirstByteTimeout, mc.IdleTimeout
	cacheDir, err := opts.cacheDir()
	if err != nil {
		return cfg, err
	}
	if cfg.Cache, err = model.OpenCache(filepath.Join(cacheDir, "model")); err != nil {
		return cfg, err
	}
	if cfg.Pricing, err = opts.pricing(); err != nil {
		return cfg, err
	}
	cfg.Warn = func(err error) { fmt.Fprintln(opts.env.Stderr, "warning: "+err.Error()) }
	return cfg, nil
}

// runAgentRun is `replay run --agent-cmd`.
func runAgentRun(ctx context.Context, opts *runOptions) error {
	if err := opts.agent.check(opts.set); err != nil {
		return err
	}
	req, err := opts.request()
	if err != nil {
		return err
	}
	if req.Repeat > 1 {
		return usage(errors.New("--repeat goes with the white-box replay; run --agent-cmd once per sample"))
	}
	if len(req.Variant.DropSteps) > 0 {
		return usage(errors.New("--context drop=STEP: a black-box run cannot drop a step of the agent's own program (add=FILE works)"))
	}
	pcfg, err := opts.proxyConfig()
	if err != nil {
		return err
	}
	s, done, err := opts.session(ctx, &opts.replayFlags, nil)
	if err != nil {
		return err
	}
	defer done()
	ar := opts.agentRequest(req, &opts.agent)
	ar.Proxy = pcfg
	res, runErr := s.ReplayAgent(ctx, ar)
	if res == nil {
		return runErr
	}
	if err := opts.writeOut(s, opts.Out, res.ID); err != nil {
		return err
	}
	pricing, err := opts.pricing()
	if err != nil {
		return err
	}
	var rep *diff.Report
	if res.Run != nil {
		nr, o := *res.Run, *res.Orig
		nr.Meta.ID, o.Meta.ID = res.ID, res.Original.ID
		rep = diff.Runs(&o, &nr, diffOpts(pricing))
	}
	if opts.JSON {
		out := agentJSON{Version: 1, Original: res.Original.ID, Run: res.ID, Mode: string(res.Mode)}
		out.fill(res, runErr)
		if rep != nil {
			out.FirstDivergence = rep.Verdict.First
		}
		if err := writeJSON(opts.env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := opts.env.Stdout
		fmt.Fprintf(w, "black-box replay of %s -> new run %s (proxy %s)\n", shortID(res.Original.ID), shortID(res.ID), res.Mode)
		writeAgentLine(w, res, runErr)
		writeExchanges(w, res)
		if rep != nil {
			if err := diff.WriteText(w, rep, diff.RenderOptions{Color: opts.env.Getenv("NO_COLOR") == "" && isTerminal(w)}); err != nil {
				return err
			}
		}
		if res.ID != "" {
			fmt.Fprintf(w, "(replay inspect %s for the new run; replay diff %s %s for the diff)\n", shortID(res.ID), shortID(res.Original.ID), shortID(res.ID))
		}
	}
	return agentExit(res, runErr)
}

// runAgentVerify is `replay verify --agent-cmd`.
func runAgentVerify(ctx context.Context, opts *verifyOptions) error {
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
	ar := opts.globals.agentRequest(req, &opts.agent)
	ar.Proxy.AfterDivergence = opts.agent.AfterDivergence
	if ar.Proxy.AfterDivergence == proxy.AfterForward {
		ro := &runOptions{globals: opts.globals}
		pcfg, err := ro.proxyConfig()
		if err != nil {
			return err
		}
		pcfg.AfterDivergence = proxy.AfterForward
		pcfg.Upstream = opts.env.Getenv("OPENAI_BASE_URL")
		ar.Proxy = pcfg
	}
	res, runErr := s.ReplayAgent(ctx, ar)
	if res == nil {
		return noWorld(runErr)
	}
	if err := opts.writeOut(s, opts.Out, res.ID); err != nil {
		return err
	}
	if opts.JSON {
		out := agentJSON{Version: 1, Original: res.Original.ID, Run: res.ID, Mode: string(res.Mode)}
		out.fill(res, runErr)
		if err := writeJSON(opts.env.Stdout, out); err != nil {
			return err
		}
	} else {
		w := opts.env.Stdout
		fmt.Fprintf(w, "verify %s with the agent's own program (%s): %d model requests, %d tool results\n", shortID(res.Original.ID), opts.agent.Cmd, len(res.Exchanges), len(res.Tools))
		writeAgentLine(w, res, runErr)
		writeExchanges(w, res)
		writeToolChecks(w, res)
		if res.ID != "" {
			fmt.Fprintf(w, "new run %s stored (replay inspect %s; replay diff %s %s)\n", shortID(res.ID), shortID(res.ID), shortID(res.Original.ID), shortID(res.ID))
		}
	}
	if res.Divergence != nil {
		return &exitError{code: ExitCheckFailed, msg: "the agent diverged from the recording: " + res.Divergence.String()}
	}
	if n := countTools(res, replay.ToolDiffer); n > 0 {
		return &exitError{code: ExitCheckFailed, msg: fmt.Sprintf("%d tool result(s) differ from the recording", n)}
	}
	if err := agentExit(res, runErr); err != nil {
		return err
	}
	if len(res.Exchanges) == 0 {
		return &exitError{code: ExitIncomplete, msg: "verify is incomplete: the agent made no model request (is it pointed at OPENAI_BASE_URL / ANTHROPIC_BASE_URL?)"}
	}
	if n := countTools(res, replay.ToolMissed) + countTools(res, replay.ToolExtra); n > 0 {
		return &exitError{code: ExitIncomplete, msg: fmt.Sprintf("verify is incomplete: %d recorded tool call(s) were not made as recorded", n)}
	}
	return nil
}

// agentExit maps how the agent ended to the exit code: its failure (or the
// sandbox's) is an incomplete run, the partial run kept.
func agentExit(res *replay.AgentResult, runErr error) error {
	if runErr == nil {
		return nil
	}
	var ae *replay.AgentError
	if errors.As(runErr, &ae) {
		msg := ae.Reason
		if res.ID != "" {
			msg += fmt.Sprintf(" (the partial run is stored as %s)", shortID(res.ID))
		}
		return &exitError{code: ExitIncomplete, msg: msg}
	}
	return runErr
}

func countTools(res *replay.AgentResult, status string) int {
	n := 0
	for _, t := range res.Tools {
		if t.Status == status {
			n++
		}
	}
	return n
}

func writeAgentLine(w io.Writer, res *replay.AgentResult, runErr error) {
	p := res.Program
	line := fmt.Sprintf("agent: exit %d after %s", p.ExitCode, p.Duration.Round(time.Millisecond))
	if why := p.Failed(); why != "" {
		line += " — " + why
	} else if runErr != nil {
		line += " — " + runErr.Error()
	}
	if p.Dropped > 0 {
		line += fmt.Sprintf(" (output cut at the limit: %d bytes dropped)", p.Dropped)
	}
	fmt.Fprintln(w, line)
	for _, wn := range res.Warnings {
		fmt.Fprintln(w, "warning: "+wn)
	}
}

// writeExchanges lists the agent's model requests and how each was
// answered; the first divergence with its request diff.
func writeExchanges(w io.Writer, res *replay.AgentResult) {
	if len(res.Exchanges) == 0 {
		fmt.Fprintln(w, "\nthe agent made no model request")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nREQ\tFORMAT\tSTEP\tANSWER")
	for i, ex := range res.Exchanges {
		answer := ""
		switch {
		case ex.Fault == proxy.FaultDiverged:
			answer = "diverged"
		case ex.Fault != "":
			answer = ex.Fault + ": " + clip(ex.Error, 80)
		case ex.Produced == proxy.ProducedRecorded:
			answer = "match (answered from the recording)"
		default:
			answer = ex.Produced
			if ex.Model != "" {
				answer += " " + ex.Model
			}
		}
		step := "-"
		if ex.Step > 0 {
			step = fmt.Sprint(ex.Step)
		}
		format := string(ex.Format)
		if format == "" {
			format = ex.Path
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", i+1, format, step, answer)
	}
	tw.Flush()
	if d := res.Divergence; d != nil {
		fmt.Fprintf(w, "\n%s\n", d.String())
		if d.Diff != "" {
			fmt.Fprintln(w, "  "+indent(strings.TrimRight(d.Diff, "\n"), "  "))
		}
	}
}

func writeToolChecks(w io.Writer, res *replay.AgentResult) {
	if len(res.Tools) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTOOL#\tTOOL\tCALL\tRESULT")
	for _, t := range res.Tools {
		verdict := t.Status
		if t.Reason != "" && t.Status != replay.Reproduced {
			verdict += ": " + t.Reason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", t.N, t.Tool, clip(strings.ReplaceAll(t.Args, "\n", " "), 50), verdict)
	}
	tw.Flush()
	for _, t := range res.Tools {
		if t.Status == replay.ToolDiffer && t.Different != "" {
			fmt.Fprintf(w, "\ntool call %d %s differs:\n  %s\n", t.N, t.Tool, indent(strings.TrimRight(t.Different, "\n"), "  "))
		}
	}
	fmt.Fprintf(w, "\ntool results: %d of %d reproduced\n", countTools(res, replay.Reproduced), len(res.Tools))
}

// agentJSON is `replay run|verify --agent-cmd --json` (versioned).
type agentJSON struct {
	Version         int                `json:"version"`
	Original        string             `json:"original"`
	Run             string             `json:"run"`
	Mode            string             `json:"mode"`
	Agent           agentProgramJSON   `json:"agent"`
	Requests        []agentRequestJSON `json:"requests"`
	Divergence      *proxy.Divergence  `json:"divergence,omitempty"`
	Tools           []replay.ToolCheck `json:"tools"`
	Warnings        []string           `json:"warnings,omitempty"`
	FirstDivergence *diff.Divergence   `json:"first_divergence,omitempty"`
	Error           string             `json:"error,omitempty"`
}

type agentProgramJSON struct {
	ExitCode   int    `json:"exit_code"`
	Fault      string `json:"fault,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	Dropped    int64  `json:"output_dropped,omitempty"`
	Failed     string `json:"failed,omitempty"`
}

type agentRequestJSON struct {
	// Verdict: match (answered from the recording), diverged (the first
	// request the recording does not have), refused (after the divergence),
	// forwarded or cached (run), fault (a bad path or body, an upstream
	// failure).
	Verdict  string `json:"verdict"`
	Format   string `json:"format,omitempty"`
	Path     string `json:"path"`
	Stream   bool   `json:"stream,omitempty"`
	Status   int    `json:"status"`
	Step     int    `json:"step,omitempty"`
	Produced string `json:"produced,omitempty"`
	Model    string `json:"model,omitempty"`
	Fault    string `json:"fault,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (out *agentJSON) fill(res *replay.AgentResult, runErr error) {
	p := res.Program
	out.Agent = agentProgramJSON{ExitCode: p.ExitCode, Fault: p.Fault, DurationMS: p.Duration.Milliseconds(), Dropped: p.Dropped, Failed: p.Failed()}
	out.Requests = []agentRequestJSON{}
	for i, ex := range res.Exchanges {
		verdict := "fault"
		switch {
		case ex.Fault == proxy.FaultDiverged && res.Divergence != nil && res.Divergence.Exchange == i:
			verdict = "diverged"
		case ex.Fault == proxy.FaultDiverged:
			verdict = "refused"
		case ex.Fault != "":
		case ex.Produced == proxy.ProducedRecorded:
			verdict = "match"
		case ex.Produced == proxy.ProducedCache:
			verdict = "cached"
		case ex.Produced == proxy.ProducedModel:
			verdict = "forwarded"
		}
		out.Requests = append(out.Requests, agentRequestJSON{Verdict: verdict, Format: string(ex.Format), Path: ex.Path, Stream: ex.Stream, Status: ex.Status, Step: ex.Step, Produced: ex.Produced, Model: ex.Model, Fault: ex.Fault, Error: ex.Error})
	}
	out.Divergence = res.Divergence
	out.Tools = res.Tools
	if out.Tools == nil {
		out.Tools = []replay.ToolCheck{}
	}
	out.Warnings = res.Warnings
	if runErr != nil {
		out.Error = runErr.Error()
	}
}
