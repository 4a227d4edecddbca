// Package replay is the engine: it runs an agent again from its trace.
//
// Run takes an original run and a Config (the model, the variant, the tool
// policies, the sandbox) and drives the agent loop: model call, tool calls
// answered by policy, results fed back, until the agent gives its final
// answer or a limit ends the run. Sub-agents started through Claude Code's
// Task tool run as nested loops and are recorded as child runs. The new
// run's events go to Config.Emit as they happen, so a run that fails part
// way is kept up to where it stopped.
//
// In ModeVerify the model's answers come from the recording and every tool
// call that runs in the sandbox is compared with its recorded result: the
// Report's Calls are the fidelity report.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/sandbox"
)

// Modes.
const (
	ModeVerify = "verify" // recorded model, re-executed tools, fidelity report
	ModeRun    = "run"    // counterfactual: a live model, the variant applied
)

// Workspace is what the engine needs of a sandbox (sandbox.Sandbox has it).
type Workspace interface {
	Exec(ctx context.Context, call sandbox.ToolCall) (sandbox.Result, error)
	ReadFile(ctx context.Context, path string) ([]byte, error)
}

// Config is one replay.
type Config struct {
	Mode string
	// Model answers the model calls in ModeRun. In ModeVerify the original
	// run answers (model.Recorded) and Model is not used.
	Model model.Model
	// System replaces the main run's system prompt when not nil.
	System *string
	// Prompts replace sub-agents' system prompts, by sub-agent name
	// (the Task call's subagent_type, or the recorded sub-agent's agent).
	Prompts map[string]string
	// Params override the recorded request parameters (set fields win).
	Params trace.Params
	// SubagentModel, when set, is the model of every sub-agent (the main
	// run keeps Params.Model).
	SubagentModel string
	// Tools are offered to the model when the trace recorded no tool
	// definitions (Claude Code transcripts record none).
	Tools []trace.ToolDef
	// Policies answer tool calls; the zero value applies the defaults.
	Policies PolicySet
	// Workspace runs the calls whose policy is exec; nil denies them.
	Workspace Workspace
	// GitHub is the run's GitHub snapshot: read-only gh commands the
	// recording cannot answer are answered from it (nil: they are denied).
	GitHub GitHubFiles
	// FromStep K (1-based, counted over the main run's steps): steps before
	// K come from the recording at no cost (workspace tools among them are
	// run again, silently, so the workspace is as it was); the model takes
	// over at K. 0 or 1: from the start.
	FromStep int
	// AddContext messages are added after the run's opening messages.
	AddContext []trace.Message
	// DropSteps are main-run steps (1-based) whose messages are left out of
	// the conversation.
	DropSteps []int
	// MaxSteps bounds the model calls, sub-agents included (0: 200).
	MaxSteps int
	// MaxCostUSD bounds the priced cost of the new model calls (0: none).
	MaxCostUSD float64
	// Decision says where the new run's decision is (see DecisionSpec).
	Decision DecisionSpec
	// Pricer prices new model calls that come without a priced cost.
	Pricer trace.Pricer
	// Sample tells repetitions apart (--repeat): it enters the model's
	// response cache key.
	Sample int
	// Meta is the new run's declaration: the engine fills in what it knows
	// (refs, instructions, parameters, times) where Meta leaves it empty.
	Meta trace.RunMeta
	// Emit receives the new run's events as they happen.
	Emit trace.Emitter
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Report is what Run returns besides the events it emitted.
type Report struct {
	// Run is the new run, as emitted.
	Run *trace.Run
	// Calls are the tool calls of the new run, sub-agents included, in the
	// order they were answered. In ModeVerify each carries its fidelity.
	Calls []CallReport
	// Divergences are what the recorded model was fed differently from the
	// recording (ModeVerify).
	Divergences []model.Divergence
	// Stopped is why the run ended early ("" when the agent finished).
	Stopped string
	// LLMCalls counts the model calls made, CostUSD their priced cost.
	LLMCalls int
	CostUSD  float64
	// GitHub is the run's copy of the GitHub snapshot at the end, the
	// run's effects applied.
	GitHub *GitHubState `json:"-"`
	// Unreplayed, in ModeVerify, lists the recorded runs whose model calls
	// the replay did not all reach (it stopped, or the agent ended before
	// the original did): what the verify could not check.
	Unreplayed []Unreplayed `json:"unreplayed,omitempty"`
}

// Unreplayed is a recorded run the verify did not follow to its end.
type Unreplayed struct {
	Run      string `json:"run,omitempty"` // run key ("" is the main run)
	Answered int    `json:"answered"`      // recorded model calls answered
	Recorded int    `json:"recorded"`      // recorded model calls in all
}

func (u Unreplayed) String() string {
	run := "the main run"
	if u.Run != "" {
		run = fmt.Sprintf("sub-agent run %q", u.Run)
	}
	return fmt.Sprintf("%s replayed %d of its %d recorded model calls", run, u.Answered, u.Recorded)
}

// Diverged reports whether a verify found a re-executed call whose result
// differs from the recording.
func (r *Report) Diverged() bool {
	for _, c := range r.Calls {
		if c.Fidelity.Status == Differs {
			return true
		}
	}
	return false
}

// CallReport is one tool call of the new run.
type CallReport struct {
	Run      string     `json:"run,omitempty"` // run key ("" is the main run)
	Step     int        `json:"step"`          // 1-based step number in its run
	CallID   string     `json:"call_id"`
	Tool     string     `json:"tool"`
	Args     string     `json:"arguments"` // canonical JSON
	Policy   Policy     `json:"policy"`
	Why      string     `json:"why"`      // why that policy
	Produced string     `json:"produced"` // exec, recorded, denied, agent
	IsError  bool       `json:"is_error,omitempty"`
	Fault    string     `json:"fault,omitempty"` // the sandbox limit or failure the call met (trace.ToolCall.Fault)
	Fidelity Comparison `json:"fidelity"`
}

// Produced values of tool results in new runs.
const (
	ProducedExec     = "exec"     // run in the sandbox
	ProducedRecorded = "recorded" // the recorded result of the identical call
	ProducedDenied   = "denied"   // an error the model saw; the call did not run
	ProducedAgent    = "agent"    // a nested agent loop answered
	ProducedHarness  = "harness"  // the recorded outcome of the agent's harness (an aborted prompt, a refusal, an interrupt)
)

// StopError ends a run before the agent finished.
type StopError struct {
	Reason string // max-steps, max-cost, timeout, interrupted, model-error, sandbox-fault
	Run    string // run key where it stopped
	Step   int    // 1-based step in that run
	Err    error
}

func (e *StopError) Error() string {
	where := "main run"
	if e.Run != "" {
		where = fmt.Sprintf("sub-agent run %q", e.Run)
	}
	if e.Err != nil {
		return fmt.Sprintf("stopped (%s) at step %d of the %s: %v", e.Reason, e.Step, where, e.Err)
	}
	return fmt.Sprintf("stopped (%s) at step %d of the %s", e.Reason, e.Step, where)
}

func (e *StopError) Unwrap() error { return e.Err }

// limitReasons end a run cleanly: the run is complete up to the limit.
var limitReasons = []string{"max-steps", "max-cost", "timeout"}

type engine struct {
	cfg      Config
	col      trace.Collector
	out      trace.Emitter
	calls    []CallReport
	recs     []*model.Recorded
	llmCalls int
	cost     float64
	// gh is the in-run copy of the GitHub snapshot: reads are answered
	// from it, writes applied to it (effects).
	gh *GitHubState
}

// agent is one agent loop: the main run or a sub-agent.
type agent struct {
	key    string
	orig   *trace.Run // the recorded run (nil for a sub-agent the original never started)
	model  model.Model
	rec    *model.Recorded // ModeVerify
	system string
	tools  []trace.ToolDef
	params trace.Params
	msgs   []trace.Message
	queued []trace.Message // the original's later user turns, fed at turn ends
	steps  int
	// recorded results, for the recorded policy: by call id, and by call
	// key (name + canonical arguments) in the order recorded.
	byID   map[string]*trace.ToolCall
	byKey  map[string][]*trace.ToolCall
	usedCh map[string]bool // recorded children already matched
}

// Run replays orig as cfg says. The new run's events go to cfg.Emit as they
// happen; the returned Report holds the run as a whole. A limit ends the
// run cleanly (Report.Stopped); a failure that stops it part way (a model
// error after retries, a sandbox fault, ctx cancelled) returns the Report
// of the partial run with a *StopError, after its outcome was emitted.
func Run(ctx context.Context, orig *trace.Run, cfg Config) (*Report, error) {
	if cfg.Mode != ModeVerify && cfg.Mode != ModeRun {
		return nil, fmt.Errorf("replay: unknown mode %q", cfg.Mode)
	}
	if cfg.Mode == ModeRun && cfg.Model == nil {
		return nil, errors.New("replay: no model to answer the new run's calls")
	}
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = 200
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Policies = cfg.Policies.WithRecording(orig)
	e := &engine{cfg: cfg}
	repo, num := RunTarget(orig)
	e.gh = NewGitHubState(cfg.GitHub, repo, num, cfg.Now)
	e.gh.PR = orig.Meta.Refs.PR != nil
	e.out = &e.col
	if cfg.Emit != nil {
		e.out = trace.Tee(cfg.Emit, &e.col)
	}

	main := e.newAgent("", orig)
	if cfg.Mode == ModeVerify {
		main.rec = model.NewRecorded(orig)
		main.rec.Equal = resultsEqual
		main.model = main.rec
		e.recs = append(e.recs, main.rec)
	}
	if cfg.System != nil {
		main.system = *cfg.System
	}
	meta := e.mainMeta(orig, main)
	if err := e.emit(&trace.Event{Type: trace.EvRun, Meta: &meta}); err != nil {
		return nil, err
	}

	final, err := e.start(ctx, main)
	rep := &Report{Calls: e.calls, LLMCalls: e.llmCalls, CostUSD: e.cost, GitHub: e.gh}
	for _, r := range e.recs {
		rep.Divergences = append(rep.Divergences, r.Divergences()...)
		if n, k := r.Len(), r.Answered(); k < n {
			rep.Unreplayed = append(rep.Unreplayed, Unreplayed{Run: r.Key(), Answered: k, Recorded: n})
		}
	}
	out := &trace.Outcome{Status: trace.StatusOK, Final: final}
	var stop *StopError
	switch {
	case errors.As(err, &stop):
		out.Stopped, out.StoppedAt, out.Error = stop.Reason, stop.Step, stop.Error()
		out.Status = trace.StatusError
		if slices.Contains(limitReasons, stop.Reason) || stop.Reason == "interrupted" {
			out.Status = trace.StatusInterrupted
		}
		rep.Stopped = stop.Reason
	case err != nil:
		return nil, err
	}
	if d := e.decision(ctx, main); d != nil {
		out.Decision = d
	} else if p, d := e.workspacePatch(ctx, orig); d != nil {
		out.Patch, out.Decision = p, d
	}
	end := &trace.RunMeta{EndedAt: e.cfg.Now().UTC()}
	if eerr := e.emit(&trace.Event{Type: trace.EvRun, Meta: end}); eerr != nil {
		return nil, eerr
	}
	if eerr := e.emit(&trace.Event{Type: trace.EvOutcome, Outcome: out}); eerr != nil {
		return nil, eerr
	}
	rep.Run = e.col.Run()
	if stop != nil && !slices.Contains(limitReasons, stop.Reason) {
		return rep, stop
	}
	return rep, nil
}

// mainMeta declares the new run: what cfg.Meta says, then the original's
// refs, instructions and parameters where it says nothing.
func (e *engine) mainMeta(orig *trace.Run, main *agent) trace.RunMeta {
	m := trace.RunMeta{
		Format:    trace.NativeName,
		Agent:     orig.Meta.Agent,
		Refs:      orig.Meta.Refs,
		Instr:     orig.Meta.Instr,
		Defaults:  main.params,
		StartedAt: e.cfg.Now().UTC(),
	}
	m.Instr.System = main.system
	if len(m.Instr.Tools) == 0 {
		m.Instr.Tools = main.tools
	}
	m.Merge(&e.cfg.Meta)
	m.Key, m.ID = "", ""
	return m
}

func (e *engine) emit(ev *trace.Event) error { return e.out.Emit(ev) }

// newAgent prepares the loop of a recorded run: its system prompt, tools,
// parameters, opening messages and later user turns, and its recorded tool
// results for the recorded policy.
func (e *engine) newAgent(key string, orig *trace.Run) *agent {
	a := &agent{key: key, orig: orig, model: e.cfg.Model, byID: map[string]*trace.ToolCall{}, byKey: map[string][]*trace.ToolCall{}, usedCh: map[string]bool{}}
	if orig == nil {
		a.params = e.cfg.Params
		a.tools = e.cfg.Tools
		return a
	}
	a.system = orig.Meta.Instr.System
	a.tools = orig.Meta.Instr.Tools
	if !hasSchemas(a.tools) && len(e.cfg.Tools) > 0 {
		a.tools = e.cfg.Tools
	}
	a.params = orig.Meta.Defaults
	for _, s := range orig.Steps {
		if s.LLM != nil && !s.LLM.Synthetic {
			a.params = mergeParams(s.LLM.Params, trace.Params{Model: s.LLM.Model})
			a.params = mergeParams(orig.Meta.Defaults, a.params)
			break
		}
	}
	a.params = mergeParams(a.params, e.cfg.Params)
	for _, s := range orig.Steps {
		if t := s.Tool; t != nil {
			if t.CallID != "" {
				a.byID[t.CallID] = t
			}
			k := callKey(t.Name, t.Arguments)
			a.byKey[k] = append(a.byKey[k], t)
		}
	}
	return a
}

func hasSchemas(tools []trace.ToolDef) bool {
	for _, t := range tools {
		if len(t.Schema) > 0 {
			return true
		}
	}
	return false
}

func mergeParams(base, over trace.Params) trace.Params {
	base.Merge(over)
	return base
}

// start sets up the main run's conversation (and replays the steps before
// FromStep) and runs its loop.
func (e *engine) start(ctx context.Context, a *agent) (string, error) {
	from := e.cfg.FromStep
	if e.cfg.Mode == ModeVerify {
		from = 0
	}
	first := len(a.orig.Steps)
	for i, s := range a.orig.Steps {
		if s.Kind == trace.KindLLM {
			first = i
			break
		}
	}
	// The opening messages, then the later user turns.
	for i, s := range a.orig.Steps {
		if s.Kind != trace.KindMessage || slices.Contains(e.cfg.DropSteps, i+1) || (from > 1 && i < from-1) {
			continue
		}
		if i < first {
			if err := e.message(a, *s.Message); err != nil {
				return "", err
			}
		} else {
			a.queued = append(a.queued, *s.Message)
		}
	}
	if from > 1 {
		if err := e.replayPrefix(ctx, a, from-1); err != nil {
			return "", err
		}
	}
	for _, m := range e.cfg.AddContext {
		if err := e.message(a, m); err != nil {
			return "", err
		}
	}
	return e.loop(ctx, a)
}

// message adds a message step to the run and the conversation.
func (e *engine) message(a *agent, m trace.Message) error {
	a.steps++
	a.msgs = append(a.msgs, m)
	msg := m
	return e.emit(&trace.Event{Type: trace.EvMessage, Run: a.key, Time: e.cfg.Now().UTC(), Message: &msg})
}

// replayPrefix takes the main run's first n steps from the recording, at no
// cost: their model answers and tool results as recorded. Workspace tools
// among them run again in the sandbox (their results unused) so that the
// workspace is where it was at step n+1. A tool call left unanswered by the
// prefix is answered by policy before the model takes over.
func (e *engine) replayPrefix(ctx context.Context, a *agent, n int) error {
	var pending []trace.Part
	for i := 0; i < n && i < len(a.orig.Steps); i++ {
		s := a.orig.Steps[i]
		switch s.Kind {
		case trace.KindMessage:
			if slices.Contains(e.cfg.DropSteps, i+1) {
				continue
			}
			if err := e.message(a, *s.Message); err != nil {
				return err
			}
		case trace.KindLLM:
			if s.LLM.Synthetic {
				continue
			}
			call := *s.LLM
			call.Produced, call.Usage, call.Cost, call.LatencyMS = ProducedRecorded, nil, trace.Cost{Priced: trace.Float(0)}, 0
			a.steps++
			if err := e.emit(&trace.Event{Type: trace.EvLLM, Run: a.key, Time: e.cfg.Now().UTC(), LLM: &call}); err != nil {
				return err
			}
			a.msgs = append(a.msgs, call.Output)
			pending = toolCalls(call.Output)
		case trace.KindTool:
			t := *s.Tool
			if p, _ := e.cfg.Policies.Decide(t.Name, t.Arguments); p == Exec && e.cfg.Workspace != nil {
				if _, err := e.cfg.Workspace.Exec(ctx, sandbox.ToolCall{ID: t.CallID, Name: t.Name, Arguments: t.Arguments}); err != nil {
					return &StopError{Reason: "sandbox-fault", Step: a.steps + 1, Err: err}
				}
			}
			t.Produced = ProducedRecorded
			a.steps++
			if err := e.emit(&trace.Event{Type: trace.EvTool, Run: a.key, Time: e.cfg.Now().UTC(), Tool: &t}); err != nil {
				return err
			}
			a.msgs = append(a.msgs, resultMessage(t.CallID, t.Output, t.Status != trace.ToolOK))
			pending = slices.DeleteFunc(pending, func(p trace.Part) bool { return p.ID == t.CallID })
		}
	}
	if len(pending) > 0 {
		return e.answer(ctx, a, pending)
	}
	return nil
}

func toolCalls(m trace.Message) []trace.Part {
	var out []trace.Part
	for _, p := range m.Parts {
		if p.Type == trace.PartToolCall {
			out = append(out, p)
		}
	}
	return out
}

func resultMessage(id, text string, isErr bool) trace.Message {
	return trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartToolResult, ID: id, Text: text, IsError: isErr}}}
}

// loop runs model calls and their tool calls until the agent answers
// without calling a tool and no user turn of the original is left.
func (e *engine) loop(ctx context.Context, a *agent) (string, error) {
	for {
		if err := e.limits(ctx, a); err != nil {
			return "", err
		}
		req := model.Request{System: a.system, Messages: a.msgs, Tools: a.tools, Params: a.params, Sample: e.cfg.Sample}
		call, err := a.model.Complete(ctx, req)
		if err != nil {
			if errors.Is(err, model.ErrRecordingExhausted) && e.cfg.Mode == ModeVerify {
				return lastText(a.msgs), nil // the original ended here
			}
			if ctx.Err() != nil {
				return "", e.ctxStop(ctx, a)
			}
			return "", &StopError{Reason: "model-error", Run: a.key, Step: a.steps + 1, Err: err}
		}
		if call.Cost.Priced == nil && call.Usage != nil && e.cfg.Pricer != nil {
			if usd, ok := e.cfg.Pricer.Price(firstNonEmpty(call.Model, a.params.Model), *call.Usage); ok {
				call.Cost.Priced = trace.Float(usd)
			}
		}
		if call.Cost.Priced != nil {
			e.cost += *call.Cost.Priced
		}
		e.llmCalls++
		a.steps++
		if err := e.emit(&trace.Event{Type: trace.EvLLM, Run: a.key, Time: e.cfg.Now().UTC(), LLM: call}); err != nil {
			return "", err
		}
		a.msgs = append(a.msgs, call.Output)
		calls := toolCalls(call.Output)
		if len(calls) == 0 {
			if len(a.queued) > 0 {
				next := a.queued[0]
				a.queued = a.queued[1:]
				if err := e.message(a, next); err != nil {
					return "", err
				}
				continue
			}
			if a.rec != nil && a.rec.Answered() < a.rec.Len() {
				// The original went on after this answer: a later user
				// turn recorded only in the next request (Langfuse,
				// OTel), or a framework's next step. Follow it to the
				// end, feeding that turn as recorded.
				for _, m := range a.rec.NextTurn() {
					if err := e.message(a, m); err != nil {
						return "", err
					}
				}
				continue
			}
			return textOf(call.Output), nil
		}
		if err := e.answer(ctx, a, calls); err != nil {
			return "", err
		}
	}
}

func lastText(msgs []trace.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "assistant" {
			if t := textOf(msgs[i]); t != "" {
				return t
			}
		}
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (e *engine) limits(ctx context.Context, a *agent) error {
	if ctx.Err() != nil {
		return e.ctxStop(ctx, a)
	}
	if e.llmCalls >= e.cfg.MaxSteps {
		return &StopError{Reason: "max-steps", Run: a.key, Step: a.steps + 1, Err: fmt.Errorf("%d model calls made (--max-steps)", e.llmCalls)}
	}
	if e.cfg.MaxCostUSD > 0 && e.cost >= e.cfg.MaxCostUSD {
		return &StopError{Reason: "max-cost", Run: a.key, Step: a.steps + 1, Err: fmt.Errorf("$%.4f spent, the limit is $%.4f (--max-cost)", e.cost, e.cfg.MaxCostUSD)}
	}
	return nil
}

func (e *engine) ctxStop(ctx context.Context, a *agent) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &StopError{Reason: "timeout", Run: a.key, Step: a.steps + 1, Err: errors.New("the run's time limit passed (--timeout)")}
	}
	return &StopError{Reason: "interrupted", Run: a.key, Step: a.steps + 1, Err: ctx.Err()}
}

// answer answers the tool calls of one model response, in order, and feeds
// their results back as one message.
func (e *engine) answer(ctx context.Context, a *agent, calls []trace.Part) error {
	results := trace.Message{Role: "user"}
	for _, c := range calls {
		t, err := e.tool(ctx, a, c)
		if err != nil {
			return err
		}
		results.Parts = append(results.Parts, trace.Part{Type: trace.PartToolResult, ID: t.CallID, Text: t.Output, IsError: t.Status != trace.ToolOK})
	}
	a.msgs = append(a.msgs, results)
	return nil
}

// tool answers one tool call by its policy and records it.
func (e *engine) tool(ctx context.Context, a *agent, c trace.Part) (*trace.ToolCall, error) {
	policy, why := e.cfg.Policies.Decide(c.Name, c.Arguments)
	t := &trace.ToolCall{CallID: c.ID, Name: c.Name, Arguments: c.Arguments, Status: trace.ToolOK}
	rep := CallReport{Run: a.key, CallID: c.ID, Tool: c.Name, Args: compactArgs(c.Arguments), Policy: policy, Why: why}
	start := time.Now()
	// A call the agent's harness answered in the original (the user
	// aborted the prompt, refused, interrupted, a hook blocked it) gets
	// the same outcome: the tool never ran for the agent, so it does not
	// run here either.
	if r := a.harnessed(c); r != nil {
		t.Produced, t.Status, t.Output, t.Harness = ProducedHarness, r.Status, r.Output, r.Harness
		rep.Fidelity = Comparison{Status: Harness, Reason: "the agent's harness answered in the original (" + r.Harness + "); answered as recorded"}
		return e.record(a, t, rep, start)
	}
	switch policy {
	case Exec:
		if e.cfg.Workspace == nil {
			deny(t, "replay: no sandbox is running, so "+c.Name+" could not run")
			rep.Fidelity = Comparison{Status: NotReexecuted, Reason: "no sandbox"}
			break
		}
		res, err := e.cfg.Workspace.Exec(ctx, sandbox.ToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments})
		if err != nil {
			if ctx.Err() != nil {
				return nil, e.ctxStop(ctx, a)
			}
			// The call that broke the sandbox is part of the partial run:
			// its arguments and the fault.
			t.Produced, t.Status, t.Output = ProducedExec, trace.ToolError, "replay: the sandbox failed during this call: "+err.Error()
			t.Fault = "sandbox"
			var fe *sandbox.FaultError
			if errors.As(err, &fe) {
				t.Fault = fe.Kind
			}
			rep.Fidelity = Comparison{Status: NotReexecuted, Reason: "the sandbox failed during the call (" + t.Fault + ")"}
			if _, eerr := e.record(a, t, rep, start); eerr != nil {
				return nil, eerr
			}
			return nil, &StopError{Reason: "sandbox-fault", Run: a.key, Step: a.steps, Err: err}
		}
		t.Produced, t.Output, t.ExitCode, t.Fault = ProducedExec, res.Output, res.ExitCode, res.Fault
		if res.IsError {
			t.Status = trace.ToolError
		}
		if len(res.Detail) > 0 {
			t.Detail = res.Detail
		}
		if e.cfg.Mode == ModeVerify {
			rep.Fidelity = e.compare(a, t)
		}
	case Recorded:
		shell := c.Name == "Bash" || c.Name == "shell"
		if r := a.recordedFor(c); r != nil {
			t.Produced, t.Output, t.OutputRaw, t.Status, t.ExitCode = ProducedRecorded, r.Output, r.OutputRaw, r.Status, r.ExitCode
			rep.Fidelity = Comparison{Status: NotReexecuted, Reason: "answered from the recording: " + why}
			if a.orig != nil {
				if cmp, ok := harnessCommand(a.orig.Meta.Format, c.Name); ok {
					rep.Fidelity = cmp
				}
			}
			// A recorded write keeps its recorded answer (a faithful
			// verify) and is still an effect of the run.
			if shell && r.Status == trace.ToolOK {
				if effs, _, ok := e.gh.ApplyWrite(commandOf(c.Arguments)); ok {
					if err := e.effects(a, c, effs, trace.EffectRecorded); err != nil {
						return nil, err
					}
				}
			}
		} else if out, ok := ghAnswer(e.gh, commandOf(c.Arguments)); ok && shell {
			t.Produced, t.Output = ProducedSnapshot, out
			rep.Fidelity = Comparison{Status: NotReexecuted, Reason: "a gh read answered from the GitHub snapshot"}
		} else if effs, out, ok := e.gh.ApplyWrite(commandOf(c.Arguments)); ok && shell {
			t.Produced, t.Output = ProducedEffect, out
			rep.Fidelity = Comparison{Status: NotReexecuted, Reason: "a GitHub write answered as GitHub would and applied to the run's copy of the snapshot; never sent"}
			if err := e.effects(a, c, effs, trace.EffectSimulated); err != nil {
				return nil, err
			}
		} else {
			deny(t, fmt.Sprintf("replay: %s was not run: %s, and the original run made no identical call to answer it with", c.Name, why))
			rep.Fidelity = Comparison{Status: NotReexecuted, Reason: "not in the recording, denied: " + why}
		}
	case Deny:
		deny(t, fmt.Sprintf("replay: %s is denied in this replay (%s)", c.Name, why))
		rep.Fidelity = Comparison{Status: NotReexecuted, Reason: "denied: " + why}
	case Agent:
		if err := e.subAgent(ctx, a, c, t); err != nil {
			return nil, err
		}
		rep.Fidelity = Comparison{Status: NotReexecuted, Reason: "a sub-agent answered (its own calls are listed under its run)"}
		if e.cfg.Mode == ModeVerify {
			if r := a.byID[c.ID]; r != nil {
				if cmp := CompareResults(c.Name, r.Output, r.Status == trace.ToolError, t.Output, false); cmp.Status == Differs {
					rep.Fidelity = Comparison{Status: Differs, Diff: cmp.Diff, Reason: "the sub-agent's answer differs from the recorded one"}
				}
			}
		}
	}
	return e.record(a, t, rep, start)
}

// record adds an answered tool call to the run and the report.
func (e *engine) record(a *agent, t *trace.ToolCall, rep CallReport, start time.Time) (*trace.ToolCall, error) {
	t.DurationMS = time.Since(start).Milliseconds()
	a.steps++
	rep.Step, rep.Produced, rep.IsError, rep.Fault = a.steps, t.Produced, t.Status != trace.ToolOK, t.Fault
	e.calls = append(e.calls, rep)
	if err := e.emit(&trace.Event{Type: trace.EvTool, Run: a.key, Time: e.cfg.Now().UTC(), Tool: t}); err != nil {
		return nil, err
	}
	return t, nil
}

// effects records the GitHub writes of a tool call as effect events of its
// run.
func (e *engine) effects(a *agent, c trace.Part, effs []trace.Effect, answer string) error {
	for i := range effs {
		eff := effs[i]
		eff.Call, eff.Tool, eff.Answer = c.ID, c.Name, answer
		if err := e.emit(&trace.Event{Type: trace.EvEffect, Run: a.key, Effect: &eff}); err != nil {
			return err
		}
	}
	return nil
}

// RunTarget is the repository (owner/name) and the issue or pull request
// number a run's refs name.
func RunTarget(r *trace.Run) (string, int) {
	refs := r.Meta.Refs
	repo := ""
	if refs.Repo != nil {
		repo = refs.Repo.Value
		if u := repoOfURL(repo); u != "" && strings.Contains(repo, "://") {
			repo = u
		}
		repo = strings.TrimSuffix(repo, ".git")
	}
	n := 0
	for _, ref := range []*trace.Ref{refs.PR, refs.Issue} {
		if ref != nil {
			if x, err := strconv.Atoi(strings.TrimPrefix(ref.Value, "#")); err == nil {
				n = x
				break
			}
		}
	}
	if refs.WorkItem != nil {
		if rp, num, ok := strings.Cut(refs.WorkItem.Value, "#"); ok {
			if repo == "" {
				repo = rp
			}
			if x, err := strconv.Atoi(num); err == nil && n == 0 {
				n = x
			}
		}
	}
	return repo, n
}

func deny(t *trace.ToolCall, msg string) {
	t.Produced, t.Status, t.Output = ProducedDenied, trace.ToolError, msg
}

func compactArgs(b json.RawMessage) string { return string(canonicalJSON(b)) }

// harnessed is the recorded call identical to c that the agent's harness
// answered (the same call id in a verify, else the same name and
// arguments), or nil.
func (a *agent) harnessed(c trace.Part) *trace.ToolCall {
	k := callKey(c.Name, c.Arguments)
	if r := a.byID[c.ID]; r != nil && r.Harness != "" && callKey(r.Name, r.Arguments) == k {
		return r
	}
	for _, r := range a.byKey[k] {
		if r.Harness != "" {
			return r
		}
	}
	return nil
}

// recordedFor finds the recorded result of the identical call: the same
// call id when the call is the recorded one (a verify), else the first
// unused recorded call with the same name and arguments.
func (a *agent) recordedFor(c trace.Part) *trace.ToolCall {
	k := callKey(c.Name, c.Arguments)
	if r := a.byID[c.ID]; r != nil && callKey(r.Name, r.Arguments) == k && r.Status != trace.ToolMissing {
		a.byKey[k] = slices.DeleteFunc(a.byKey[k], func(x *trace.ToolCall) bool { return x == r })
		return r
	}
	for i, r := range a.byKey[k] {
		if r.Status == trace.ToolMissing {
			continue
		}
		a.byKey[k] = slices.Delete(a.byKey[k], i, i+1)
		return r
	}
	return nil
}

// compare sets the fidelity of a re-executed call against the recorded
// result of the same call.
func (e *engine) compare(a *agent, t *trace.ToolCall) Comparison {
	r := a.byID[t.CallID]
	if r == nil || r.Status == trace.ToolMissing {
		return Comparison{Status: NotReexecuted, Reason: "the original recorded no result for this call to compare with"}
	}
	if r.Status == trace.ToolInterrupted {
		return Comparison{Status: NotReexecuted, Reason: "the original call was interrupted"}
	}
	return environmentOf(t.Name, r.Output, t.Output, CompareResults(t.Name, r.Output, r.Status == trace.ToolError, t.Output, t.Status == trace.ToolError))
}

// resultsEqual is how the recorded model judges a fed-back result: equal
// up to the fidelity report's normalizations.
func resultsEqual(tool, recorded, got string) bool {
	return CompareResults(tool, recorded, false, got, false).Status == Match
}

// subAgent runs the nested agent a Task call starts and records it as a
// child run; its final answer is the tool result.
func (e *engine) subAgent(ctx context.Context, a *agent, c trace.Part, t *trace.ToolCall) error {
	var args struct {
		Description  string `json:"description"`
		Prompt       string `json:"prompt"`
		SubagentType string `json:"subagent_type"`
		Model        string `json:"model"`
	}
	_ = json.Unmarshal(c.Arguments, &args)
	orig := a.recordedChild(c, args.SubagentType)
	key := "agent-" + c.ID
	if a.key != "" {
		key = a.key + "/" + key
	}
	sub := e.newAgent(key, orig)
	name := args.SubagentType
	if name == "" && orig != nil {
		name = orig.Meta.Agent
	}
	if p, ok := e.cfg.Prompts[name]; ok {
		sub.system = p
	}
	if orig == nil {
		sub.params = a.params
		sub.tools = a.tools
	}
	sub.tools = slices.DeleteFunc(slices.Clone(sub.tools), func(d trace.ToolDef) bool { return slices.Contains(agentTools, d.Name) })
	if e.cfg.SubagentModel != "" && e.cfg.Mode == ModeRun {
		sub.params.Model = e.cfg.SubagentModel
	}
	switch {
	case e.cfg.Mode == ModeVerify && a.rec != nil:
		rec, err := a.rec.Sub(c.ID)
		if err != nil {
			// No recorded sub-agent run: answer from the recording.
			if r := a.recordedFor(c); r != nil {
				t.Produced, t.Output, t.Status = ProducedRecorded, r.Output, r.Status
				return nil
			}
			deny(t, "replay: the recorded sub-agent of this call is not in the trace")
			return nil
		}
		sub.rec, sub.model = rec, rec
		e.recs = append(e.recs, rec)
	default:
		sub.model = e.cfg.Model
	}
	meta := trace.RunMeta{Parent: a.key, ParentCall: c.ID, Agent: name, StartedAt: e.cfg.Now().UTC(), Defaults: sub.params}
	meta.Instr.System = sub.system
	if err := e.emit(&trace.Event{Type: trace.EvRun, Run: key, Meta: &meta}); err != nil {
		return err
	}
	prompt := args.Prompt
	if prompt == "" && orig != nil {
		for _, s := range orig.Steps {
			if s.Kind == trace.KindMessage && s.Message.Role == "user" {
				prompt = textOf(*s.Message)
				break
			}
		}
	}
	if err := e.message(sub, trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: prompt}}}); err != nil {
		return err
	}
	final, err := e.loop(ctx, sub)
	out := &trace.Outcome{Status: trace.StatusOK, Final: final}
	var stop *StopError
	if errors.As(err, &stop) {
		out.Status, out.Stopped, out.StoppedAt, out.Error = trace.StatusError, stop.Reason, stop.Step, stop.Error()
	} else if err != nil {
		return err
	}
	if eerr := e.emit(&trace.Event{Type: trace.EvRun, Run: key, Meta: &trace.RunMeta{EndedAt: e.cfg.Now().UTC()}}); eerr != nil {
		return eerr
	}
	if eerr := e.emit(&trace.Event{Type: trace.EvOutcome, Run: key, Outcome: out}); eerr != nil {
		return eerr
	}
	if err != nil {
		return err
	}
	t.Produced, t.Output, t.Child = ProducedAgent, final, key
	return nil
}

// recordedChild finds the recorded sub-agent run for a Task call: the one
// the same call started, else the one an identical recorded call started,
// else the first unused one of the same sub-agent type.
func (a *agent) recordedChild(c trace.Part, typ string) *trace.Run {
	if a.orig == nil {
		return nil
	}
	pick := func(match func(*trace.Run) bool) *trace.Run {
		for _, ch := range a.orig.Children {
			if !a.usedCh[ch.Meta.Key] && match(ch) {
				a.usedCh[ch.Meta.Key] = true
				return ch
			}
		}
		return nil
	}
	if ch := pick(func(r *trace.Run) bool { return r.Meta.ParentCall == c.ID }); ch != nil {
		return ch
	}
	k := callKey(c.Name, c.Arguments)
	for _, r := range a.byKey[k] {
		if r.Child != "" {
			if ch := pick(func(x *trace.Run) bool { return x.Meta.Key == r.Child }); ch != nil {
				return ch
			}
		}
	}
	if typ != "" {
		return pick(func(r *trace.Run) bool { return r.Meta.Agent == typ })
	}
	return nil
}

// decision extracts the new run's decision, reading result files from the
// workspace as they are at the end.
func (e *engine) decision(ctx context.Context, main *agent) *trace.Decision {
	run := e.col.Run()
	var read func(string) ([]byte, error)
	if ws := e.cfg.Workspace; ws != nil {
		read = func(p string) ([]byte, error) {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			return ws.ReadFile(rctx, p)
		}
	}
	return ExtractDecision(run, e.cfg.Decision, read)
}
