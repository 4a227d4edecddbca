package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/proxy"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/sandbox"
)

// Black-box replay: the agent's own program runs in the sandbox, in the
// rebuilt world, and replay serves only the model's side through the
// proxy (replay/proxy) reached over the sandbox's program channel. verify
// answers from the recording (proxy.ModeRecorded); run forwards the
// changed requests (proxy.ModeForward, or proxy.ModeFork with a FromStep).
// The new run is the proxy's canonical run, stored as a replay of the
// original like any other, so `replay diff` compares them.

// AgentRequest is a black-box re-run of a trace.
type AgentRequest struct {
	// Request names the trace, the mode, the world and the variant (its
	// Model, SystemFile, Prompts, AddContext, Params and FromStep are
	// handed to the proxy; BaseURL is the upstream).
	Request
	// Command is the agent's command line, run at the recorded working
	// directory.
	Command string
	// AgentImage is the image with the agent installed (overrides
	// Request.Image; "" is the default image).
	AgentImage string
	// AgentTimeout ends a program that hangs (0: the run's Timeout, else
	// an hour).
	AgentTimeout time.Duration
	// Proxy is the proxy's configuration besides what the request fills
	// in (mode, recording, counterfactual): the upstream keys, the cache,
	// the pricing, the retry policy, AfterDivergence.
	Proxy proxy.Config
	// Stdout and Stderr receive the agent's output (at most OutputLimit
	// bytes, then a note).
	Stdout, Stderr io.Writer
	OutputLimit    int64
}

// AgentResult is a black-box re-run's outcome.
type AgentResult struct {
	Original   trace.Summary
	Orig       *trace.Run
	ID         string     // the new run in the store ("" when nothing was stored)
	Run        *trace.Run // the new run
	Program    AgentRun   // how the agent's program ended
	Exchanges  []proxy.Exchange
	Divergence *proxy.Divergence
	// Tools compares each tool result the agent sent with the recorded
	// one (verify).
	Tools     []ToolCheck
	Workspace string
	Warnings  []string
	// Mode is the proxy's mode.
	Mode proxy.Mode
}

// ToolCheck is one tool call of the new run against the recorded one at
// the same position.
type ToolCheck struct {
	N         int    `json:"n"` // the tool call's position, from 1
	Tool      string `json:"tool"`
	Args      string `json:"args,omitempty"`
	Status    string `json:"status"` // reproduced, differs, missing (the agent never sent its result), extra (not in the recording)
	Recorded  string `json:"recorded,omitempty"`
	Got       string `json:"got,omitempty"`
	Reason    string `json:"reason,omitempty"`
	NewStep   int    `json:"step,omitempty"`
	OrigStep  int    `json:"original_step,omitempty"`
	Different string `json:"diff,omitempty"`
}

// Statuses of a ToolCheck.
const (
	Reproduced = "reproduced"
	ToolDiffer = "differs"
	ToolMissed = "missing"
	ToolExtra  = "extra"
)

// Reproduced says whether every tool result was as recorded.
func (r *AgentResult) Reproduced() bool {
	for _, t := range r.Tools {
		if t.Status != Reproduced {
			return false
		}
	}
	return true
}

// ReplayAgent rebuilds the trace's world, runs the agent's program in a
// sandbox behind the proxy and stores the run the proxy saw. The run is
// stored even when the agent fails (exits non-zero, hangs past its
// timeout, floods its output, sends what the proxy cannot answer): the
// result then comes with an *AgentError, and the sandbox is removed
// either way.
func (s *Session) ReplayAgent(ctx context.Context, ar AgentRequest) (*AgentResult, error) {
	req := ar.Request
	if strings.TrimSpace(ar.Command) == "" {
		return nil, errors.New("replay the agent: no command (--agent-cmd)")
	}
	if s.Sandboxes == nil {
		return nil, errors.New("replay the agent: its program runs in a Docker sandbox: Docker is not available")
	}
	id, sum, orig, err := s.Load(ctx, req.Trace, req.Format, req.Lenient)
	if err != nil {
		return nil, err
	}
	p := &prepared{req: req, id: id, sum: sum, orig: orig}
	if err := s.rebuildWorld(ctx, p); err != nil {
		return nil, err
	}
	if ar.AgentImage != "" {
		p.image = ar.AgentImage
	} else if p.image, err = s.chooseImage(ctx, p); err != nil {
		return nil, err
	}
	cfg, err := s.proxyConfig(ctx, ar, p)
	if err != nil {
		return nil, err
	}
	px, err := proxy.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("replay the agent: %w", err)
	}
	res := &AgentResult{Original: sum, Orig: orig, Workspace: p.cwd, Mode: cfg.Mode}

	rctx := ctx
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	sb, err := s.startSandbox(ctx, rctx, p)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := sb.Close(cctx); err != nil {
			w := fmt.Sprintf("%v (replay sandbox prune removes what is left)", err)
			res.Warnings = append(res.Warnings, w)
			fmt.Fprintln(s.logw(), "warning: "+w)
		}
	}()
	psb, ok := programSandbox(sb)
	if !ok {
		return nil, errNotProgramSandbox
	}
	timeout := ar.AgentTimeout
	if timeout <= 0 {
		timeout = req.Timeout
	}
	fmt.Fprintf(s.logw(), "agent: running %q in %s (proxy: %s)\n", ar.Command, p.cwd, cfg.Mode)
	run, runErr := RunAgent(rctx, psb, px, AgentOptions{Command: ar.Command, Timeout: timeout, Stdout: ar.Stdout, Stderr: ar.Stderr, OutputLimit: ar.OutputLimit})
	res.Program = run
	res.Exchanges = px.Exchanges()
	res.Divergence = px.Divergence()

	meta := trace.RunMeta{Agent: orig.Meta.Agent, Replay: req.origin(id, req.Sample), Refs: orig.Meta.Refs, Generator: "replay (black-box: " + ar.Command + ")"}
	nr := px.Run(meta)
	if nr.Outcome == nil {
		nr.Outcome = &trace.Outcome{}
	}
	why := run.Failed()
	if runErr != nil {
		why = runErr.Error()
	}
	if run.Dropped > 0 {
		w := fmt.Sprintf("the agent's output was cut at the output limit (%d bytes dropped)", run.Dropped)
		res.Warnings = append(res.Warnings, w)
		nr.Warnings = append(nr.Warnings, trace.Warning{Message: w})
	}
	if why != "" {
		nr.Outcome.Status, nr.Outcome.Error = trace.StatusError, why
		nr.Warnings = append(nr.Warnings, trace.Warning{Message: why})
	}
	for _, ex := range res.Exchanges {
		if ex.Fault == proxy.FaultPath || ex.Fault == proxy.FaultRequest {
			w := fmt.Sprintf("the agent sent %s: %s", ex.Path, ex.Error)
			res.Warnings = append(res.Warnings, w)
		}
	}
	res.Run = nr
	if req.Mode == ModeVerify {
		res.Tools = CompareTools(orig, nr)
		if d := res.Divergence; d != nil {
			for i := range res.Tools {
				if res.Tools[i].Status == ToolMissed {
					res.Tools[i].Reason = fmt.Sprintf("not checked: the agent diverged at model call %d (what it sent instead is in the divergence's request diff)", d.Step)
				}
			}
		}
	}
	if err := s.storeRun(ctx, nr, p.id, res); err != nil {
		return res, errors.Join(runErr, err)
	}
	if runErr != nil {
		return res, &AgentError{Reason: runErr.Error(), Err: runErr}
	}
	if why != "" {
		return res, &AgentError{Reason: why, Program: &run}
	}
	return res, nil
}

// AgentError says the agent's run did not end cleanly: its program
// failed, or the sandbox did. The partial run is stored.
type AgentError struct {
	Reason  string
	Program *AgentRun
	Err     error
}

func (e *AgentError) Error() string { return e.Reason }
func (e *AgentError) Unwrap() error { return e.Err }

func programSandbox(sb sandbox.Sandbox) (sandbox.ProgramSandbox, bool) {
	if n, ok := sb.(*noted); ok {
		sb = n.Sandbox
	}
	ps, ok := sb.(sandbox.ProgramSandbox)
	return ps, ok
}

// proxyConfig is the proxy of a black-box run: verify answers from the
// recording; run forwards with the counterfactual (or forks at FromStep).
func (s *Session) proxyConfig(ctx context.Context, ar AgentRequest, p *prepared) (proxy.Config, error) {
	cfg := ar.Proxy
	cfg.Recording = p.orig
	v := p.req.Variant
	if p.req.Mode == ModeVerify {
		cfg.Mode = proxy.ModeRecorded
		return cfg, nil
	}
	cfg.Mode = proxy.ModeForward
	if v.FromStep > 1 {
		cfg.Mode, cfg.ForkStep = proxy.ModeFork, v.FromStep
	}
	if v.BaseURL != "" {
		cfg.Upstream = v.BaseURL
	}
	cfg.Model = v.Model
	cfg.Params = proxy.Overrides{Temperature: v.Params.Temperature, TopP: v.Params.TopP, MaxTokens: v.Params.MaxTokens, Seed: v.Params.Seed}
	cfg.Sample = p.req.Sample
	vt, err := s.variantTexts(ctx, v)
	if err != nil {
		return cfg, err
	}
	cfg.System, cfg.Prompts, cfg.ContextAdd = vt.system, vt.prompts, vt.context
	if len(v.DropSteps) > 0 {
		return cfg, errors.New("--context drop=STEP: a black-box run cannot drop a step of the agent's own program")
	}
	return cfg, nil
}

// storeRun stores a new run as a replay of the original.
func (s *Session) storeRun(ctx context.Context, nr *trace.Run, of string, res *AgentResult) error {
	tmpDir := filepath.Join(s.Store.Root(), "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(tmpDir, "agent-*.jsonl")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := trace.Encode(tmp, nr); err != nil {
		tmp.Close()
		return fmt.Errorf("write the new run: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	stored, err := s.Store.ImportAs(context.WithoutCancel(ctx), tmp.Name(), "replay of "+of, trace.NativeName, trace.Options{})
	if err != nil {
		return fmt.Errorf("store the new run: %w", err)
	}
	res.ID = stored.ID
	return nil
}

// CompareTools compares the tool calls of the new run with the recorded
// ones, in order over the main run and its sub-agents: the same tool with
// the same arguments and the same result text (trailing blanks aside) is
// reproduced.
func CompareTools(orig, nr *trace.Run) []ToolCheck {
	type call struct {
		step int
		tc   *trace.ToolCall
	}
	collect := func(r *trace.Run) []call {
		var out []call
		r.Walk(func(r *trace.Run) {
			for i := range r.Steps {
				if t := r.Steps[i].Tool; t != nil {
					out = append(out, call{i + 1, t})
				}
			}
		})
		return out
	}
	a, b := collect(orig), collect(nr)
	var out []ToolCheck
	for i := 0; i < max(len(a), len(b)); i++ {
		c := ToolCheck{N: i + 1}
		switch {
		case i >= len(b):
			c.Tool, c.Args, c.OrigStep = a[i].tc.Name, string(a[i].tc.Arguments), a[i].step
			c.Status, c.Reason = ToolMissed, "the agent made no such call (it stopped, or diverged before)"
		case i >= len(a):
			c.Tool, c.Args, c.NewStep = b[i].tc.Name, string(b[i].tc.Arguments), b[i].step
			c.Status, c.Reason = ToolExtra, "not in the recording"
			c.Got = b[i].tc.Output
		default:
			o, n := a[i].tc, b[i].tc
			c.Tool, c.Args, c.OrigStep, c.NewStep = n.Name, string(n.Arguments), a[i].step, b[i].step
			c.Recorded, c.Got = o.Output, n.Output
			switch {
			case o.Name != n.Name:
				c.Status, c.Reason = ToolDiffer, fmt.Sprintf("the agent called %s where the recording has %s", n.Name, o.Name)
			case n.Status == trace.ToolMissing:
				c.Status, c.Reason = ToolMissed, "the agent never sent this call's result (it ended, or diverged, before the next request)"
			case strings.TrimRight(o.Output, " \t\r\n") != strings.TrimRight(n.Output, " \t\r\n"):
				c.Status, c.Reason = ToolDiffer, "the result differs"
				c.Different = lineDiff(o.Output, n.Output)
			default:
				c.Status = Reproduced
			}
		}
		out = append(out, c)
	}
	return out
}

// lineDiff is a short diff of two texts: the first differing line of each.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %s\n+ %s\n", i+1, x, y)
		}
	}
	return ""
}
