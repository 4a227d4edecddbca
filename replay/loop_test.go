package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/executor"
)

// localWorkspace runs the real tool executor in this process over a temp
// directory: the engine's logic is tested without a container (the Docker
// path is tested in engine_test.go).
type localWorkspace struct{ s *executor.Server }

func newLocal(t *testing.T, files map[string]string) *localWorkspace {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	s, err := executor.NewServer(executor.Config{Root: root, Shell: "/bin/sh", Version: "2.0.76"})
	if err != nil {
		t.Fatal(err)
	}
	return &localWorkspace{s}
}

func (w *localWorkspace) Exec(ctx context.Context, c sandbox.ToolCall) (sandbox.Result, error) {
	return w.s.Call(ctx, c.Name, c.Arguments, 0), nil
}

func (w *localWorkspace) ReadFile(_ context.Context, p string) ([]byte, error) {
	return w.s.ReadFile(p)
}

// script answers model calls in turn; each answer is text and tool calls
// written as "Tool {json}" lines.
type script struct {
	answers []string
	reqs    []model.Request
	usage   *trace.Usage
}

func (s *script) Complete(_ context.Context, req model.Request) (*trace.LLMCall, error) {
	s.reqs = append(s.reqs, req)
	k := len(s.reqs) - 1
	if k >= len(s.answers) {
		k = len(s.answers) - 1
	}
	a := s.answers[k]
	if strings.HasPrefix(a, "ERROR ") {
		return nil, errors.New(strings.TrimPrefix(a, "ERROR "))
	}
	out := trace.Message{Role: "assistant"}
	for i, line := range strings.Split(a, "\n") {
		name, args, ok := strings.Cut(line, " {")
		if ok && !strings.Contains(name, " ") {
			out.Parts = append(out.Parts, trace.Part{Type: trace.PartToolCall, ID: fmt.Sprintf("call_%d_%d", len(s.reqs), i), Name: name, Arguments: json.RawMessage("{" + args)})
			continue
		}
		out.Parts = append(out.Parts, trace.Part{Type: trace.PartText, Text: line})
	}
	call := &trace.LLMCall{Model: "test-model", Output: out, Produced: model.ProducedModel}
	if s.usage != nil {
		u := *s.usage
		call.Usage = &u
	}
	return call, nil
}

func origWithPrompt(prompt string) *trace.Run {
	return &trace.Run{
		Meta:  trace.RunMeta{Agent: "review", Instr: trace.Instructions{System: "recorded system"}},
		Steps: []trace.Step{{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: prompt}}}}},
	}
}

func TestRunLoop(t *testing.T) {
	ws := newLocal(t, map[string]string{"a.txt": "alpha\n"})
	m := &script{answers: []string{
		"Let me look.\nBash {\"command\":\"cat a.txt; echo beta > b.txt\"}",
		"Read {\"file_path\":\"b.txt\"}",
		"Done. ```json\n{\"action\":\"approve\",\"findings\":[]}\n```",
	}}
	rep, err := replay.Run(context.Background(), origWithPrompt("review it"), replay.Config{Mode: replay.ModeRun, Model: m, Workspace: ws, Params: trace.Params{Model: "test-model"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LLMCalls != 3 || len(rep.Calls) != 2 || rep.Stopped != "" {
		t.Fatalf("llm calls %d, tool calls %d, stopped %q", rep.LLMCalls, len(rep.Calls), rep.Stopped)
	}
	if c := rep.Calls[0]; c.Produced != replay.ProducedExec || c.Policy != replay.Exec {
		t.Errorf("Bash call: %+v", c)
	}
	steps := rep.Run.Steps
	if len(steps) != 6 || steps[2].Tool.Output != "alpha" || !strings.Contains(steps[4].Tool.Output, "beta") {
		t.Fatalf("steps: %+v", steps)
	}
	// The second request carries the system prompt, the prompt, the first
	// answer and its tool result.
	req := m.reqs[1]
	if req.System != "recorded system" || len(req.Messages) != 3 || req.Messages[2].Parts[0].Type != trace.PartToolResult || req.Messages[2].Parts[0].Text != "alpha" {
		t.Errorf("second request: %+v", req)
	}
	if d := rep.Run.Outcome.Decision; d == nil || d.Kind != "review" {
		t.Errorf("decision %+v", d)
	}
	if rep.Run.Outcome.Final == "" || rep.Run.Outcome.Status != trace.StatusOK {
		t.Errorf("outcome %+v", rep.Run.Outcome)
	}
}

func TestPoliciesInRun(t *testing.T) {
	orig := origWithPrompt("review PR 42")
	orig.Steps = append(orig.Steps,
		trace.Step{Kind: trace.KindLLM, LLM: &trace.LLMCall{Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: "t1", Name: "Bash", Arguments: json.RawMessage(`{"command":"gh pr diff 42"}`)}}}}},
		trace.Step{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: "t1", Name: "Bash", Arguments: json.RawMessage(`{"command": "gh pr diff 42"}`), Status: trace.ToolOK, Output: "diff --git a/x b/x"}},
	)
	m := &script{answers: []string{
		"Bash {\"command\":\"gh pr diff 42\"}\nBash {\"command\":\"gh pr comment 42 --body LGTM\"}\nmcp__github__merge {\"pr\":42}",
		"ok",
	}}
	rep, err := replay.Run(context.Background(), orig, replay.Config{Mode: replay.ModeRun, Model: m, Workspace: newLocal(t, nil), Params: trace.Params{Model: "m"}})
	if err != nil {
		t.Fatal(err)
	}
	got := rep.Run.Steps
	if t1 := got[2].Tool; t1.Produced != replay.ProducedRecorded || t1.Output != "diff --git a/x b/x" {
		t.Errorf("the recorded gh read: %+v", t1)
	}
	if t2 := got[3].Tool; t2.Produced != replay.ProducedDenied || t2.Status != trace.ToolError || !strings.Contains(t2.Output, "no identical call") {
		t.Errorf("an unrecorded gh write must be denied: %+v", t2)
	}
	if t3 := got[4].Tool; t3.Produced != replay.ProducedDenied {
		t.Errorf("an unrecorded MCP call must be denied: %+v", t3)
	}

	// --tool-policy Bash=deny
	m = &script{answers: []string{"Bash {\"command\":\"ls\"}", "ok"}}
	rep, err = replay.Run(context.Background(), origWithPrompt("x"), replay.Config{Mode: replay.ModeRun, Model: m, Workspace: newLocal(t, nil), Params: trace.Params{Model: "m"},
		Policies: replay.NewPolicySet(map[string]replay.Policy{"Bash": replay.Deny})})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Calls[0]; c.Produced != replay.ProducedDenied || !strings.Contains(rep.Run.Steps[2].Tool.Output, "denied") {
		t.Errorf("Bash=deny: %+v", c)
	}
}

func TestLimitsEndTheRunCleanly(t *testing.T) {
	loop := []string{"Bash {\"command\":\"echo again\"}"}
	t.Run("max-steps", func(t *testing.T) {
		rep, err := replay.Run(context.Background(), origWithPrompt("x"), replay.Config{Mode: replay.ModeRun, Model: &script{answers: loop}, Workspace: newLocal(t, nil), Params: trace.Params{Model: "m"}, MaxSteps: 3})
		if err != nil {
			t.Fatal(err)
		}
		o := rep.Run.Outcome
		if rep.Stopped != "max-steps" || rep.LLMCalls != 3 || o.Status != trace.StatusInterrupted || o.Stopped != "max-steps" || o.StoppedAt != 8 {
			t.Errorf("stopped %q after %d calls; outcome %+v", rep.Stopped, rep.LLMCalls, o)
		}
	})
	t.Run("max-cost", func(t *testing.T) {
		m := &script{answers: loop, usage: &trace.Usage{Input: 1000, Output: 1000}}
		price := trace.Pricer(pricerFunc(func(string, trace.Usage) (float64, bool) { return 0.25, true }))
		rep, err := replay.Run(context.Background(), origWithPrompt("x"), replay.Config{Mode: replay.ModeRun, Model: m, Workspace: newLocal(t, nil), Params: trace.Params{Model: "m"}, MaxCostUSD: 0.6, Pricer: price})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Stopped != "max-cost" || rep.LLMCalls != 3 || rep.CostUSD != 0.75 {
			t.Errorf("stopped %q after %d calls costing %v", rep.Stopped, rep.LLMCalls, rep.CostUSD)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		slow := model.Func(func(ctx context.Context, req model.Request) (*trace.LLMCall, error) {
			time.Sleep(120 * time.Millisecond)
			return (&script{answers: loop}).Complete(ctx, req)
		})
		rep, err := replay.Run(ctx, origWithPrompt("x"), replay.Config{Mode: replay.ModeRun, Model: slow, Workspace: newLocal(t, nil), Params: trace.Params{Model: "m"}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Stopped != "timeout" || rep.Run.Outcome.Status != trace.StatusInterrupted {
			t.Errorf("stopped %q, outcome %+v", rep.Stopped, rep.Run.Outcome)
		}
	})
}

type pricerFunc func(string, trace.Usage) (float64, bool)

func (f pricerFunc) Price(m string, u trace.Usage) (float64, bool) { return f(m, u) }

func TestModelErrorKeepsThePartialRun(t *testing.T) {
	var c trace.Collector
	m := &script{answers: []string{"Bash {\"command\":\"echo one\"}", "ERROR 500 after 4 attempts"}}
	rep, err := replay.Run(context.Background(), origWithPrompt("x"), replay.Config{Mode: replay.ModeRun, Model: m, Workspace: newLocal(t, nil), Params: trace.Params{Model: "m"}, Emit: &c})
	var stop *replay.StopError
	if !errors.As(err, &stop) || stop.Reason != "model-error" || stop.Step != 4 || !strings.Contains(err.Error(), "500 after 4 attempts") {
		t.Fatalf("got %v", err)
	}
	emitted := c.Run()
	if rep == nil || len(emitted.Steps) != 3 || emitted.Outcome == nil || emitted.Outcome.Status != trace.StatusError || emitted.Outcome.StoppedAt != 4 {
		t.Fatalf("the partial run must be emitted with its outcome: %+v", emitted)
	}
}

func TestSubAgentRunsNested(t *testing.T) {
	m := model.Func(func(ctx context.Context, req model.Request) (*trace.LLMCall, error) {
		s := &script{}
		switch {
		case req.System == "be paranoid" && len(req.Messages) == 1:
			s.answers = []string{"Grep {\"pattern\":\"eval\"}"}
		case req.System == "be paranoid":
			s.answers = []string{"No eval anywhere."}
		case len(req.Messages) == 1:
			s.answers = []string{"Task {\"description\":\"sec\",\"prompt\":\"look for eval\",\"subagent_type\":\"security\"}"}
		default:
			s.answers = []string{"All clear: " + req.Messages[len(req.Messages)-1].Parts[0].Text}
		}
		return s.Complete(ctx, req)
	})
	rep, err := replay.Run(context.Background(), origWithPrompt("review"), replay.Config{Mode: replay.ModeRun, Model: m, Workspace: newLocal(t, map[string]string{"x.py": "print(1)\n"}),
		Params: trace.Params{Model: "m"}, Prompts: map[string]string{"security": "be paranoid"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Run.Children) != 1 {
		t.Fatalf("want one sub-agent run, got %d", len(rep.Run.Children))
	}
	ch := rep.Run.Children[0]
	if ch.Meta.Agent != "security" || ch.Meta.ParentCall == "" || ch.Meta.Instr.System != "be paranoid" || len(ch.Steps) != 4 {
		t.Errorf("sub-agent run: %+v with %d steps", ch.Meta, len(ch.Steps))
	}
	task := rep.Run.Steps[2].Tool
	if task.Name != "Task" || task.Produced != replay.ProducedAgent || task.Child != ch.Meta.Key || task.Output != "No eval anywhere." {
		t.Errorf("Task step: %+v", task)
	}
	if rep.Run.Outcome.Final != "All clear: No eval anywhere." || rep.LLMCalls != 4 {
		t.Errorf("final %q after %d calls", rep.Run.Outcome.Final, rep.LLMCalls)
	}
}

func TestVariantSystemContextAndFromStep(t *testing.T) {
	orig := loadRun(t, exampleRun)
	ws := newLocal(t, nil)
	m := &script{answers: []string{"I would approve."}}
	sys := "You are strict."
	rep, err := replay.Run(context.Background(), orig, replay.Config{Mode: replay.ModeRun, Model: m, Workspace: ws, System: &sys,
		FromStep: 5, AddContext: []trace.Message{{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: "Style guide: be brief."}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// Steps 1-4 (prompt, diff call and its recorded result, the Read call)
	// come from the recording at no cost; the Read is answered by policy
	// before the model takes over.
	st := rep.Run.Steps
	if st[1].LLM.Produced != replay.ProducedRecorded || st[1].LLM.Usage != nil || st[2].Tool.Produced != replay.ProducedRecorded {
		t.Errorf("prefix steps not from the recording: %+v %+v", st[1].LLM, st[2].Tool)
	}
	if rep.LLMCalls != 1 || len(m.reqs) != 1 {
		t.Fatalf("%d model calls", rep.LLMCalls)
	}
	req := m.reqs[0]
	last := req.Messages[len(req.Messages)-1]
	if req.System != sys || last.Parts[0].Text != "Style guide: be brief." {
		t.Errorf("request: system %q, last message %+v", req.System, last)
	}
	if req.Params.Model != "claude-sonnet-4-5-20250929" {
		t.Errorf("the recorded model is the default: %q", req.Params.Model)
	}
}
