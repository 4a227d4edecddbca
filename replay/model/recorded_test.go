package model

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/replay/trace"
)

func llmStep(c *trace.LLMCall) trace.Step { return trace.Step{Kind: trace.KindLLM, LLM: c} }

func toolStep(tc *trace.ToolCall) trace.Step { return trace.Step{Kind: trace.KindTool, Tool: tc} }

func assistant(parts ...trace.Part) trace.Message {
	return trace.Message{Role: "assistant", Parts: parts}
}

// reviewRun is a recorded review: the orchestrator reads a file and starts
// a security sub-agent in one response, then approves; the sub-agent greps
// (the tool fails) and answers. A synthetic response and a failed call sit
// between, as Claude Code records them.
func reviewRun() *trace.Run {
	child := &trace.Run{
		Meta: trace.RunMeta{Key: "agent-sec", Parent: "", ParentCall: "t2", Agent: "security"},
		Steps: []trace.Step{
			{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{part(trace.PartText, "Check security.")}}},
			llmStep(&trace.LLMCall{ID: "msg_s1", Model: "claude-sonnet-4-20250514", Output: assistant(toolCall("s1", "Grep", `{"pattern":"password"}`)),
				StopReason: "tool_use", Usage: &trace.Usage{Input: 10, Output: 5, CacheRead: 100}}),
			toolStep(&trace.ToolCall{CallID: "s1", Name: "Grep", Arguments: json.RawMessage(`{"pattern":"password"}`), Status: trace.ToolError, Output: "No matches found"}),
			llmStep(&trace.LLMCall{ID: "msg_s2", Model: "claude-sonnet-4-20250514", Output: assistant(part(trace.PartText, "No issues found.")), StopReason: "end_turn"}),
		},
	}
	return &trace.Run{
		Meta: trace.RunMeta{Format: "claude-code"},
		Steps: []trace.Step{
			{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{part(trace.PartText, "Review acme/widgets#42.")}}},
			llmStep(&trace.LLMCall{ID: "msg_1", Model: "claude-opus-4-1-20250805", Params: trace.Params{Model: "claude-opus-4-1"},
				Output: assistant(part(trace.PartReasoning, "Read, then delegate."), part(trace.PartText, "Reading."),
					toolCall("t1", "Read", `{"file_path":"/w/a.go"}`), toolCall("t2", "Task", `{"subagent_type":"security"}`)),
				StopReason: "tool_use", Usage: &trace.Usage{Input: 3, Output: 40, CacheRead: 2000, CacheWrite: 500},
				Cost: trace.Cost{Recorded: trace.Float(0.05)}, LatencyMS: 4000}),
			toolStep(&trace.ToolCall{CallID: "t1", Name: "Read", Status: trace.ToolOK, Output: "package a\n"}),
			toolStep(&trace.ToolCall{CallID: "t2", Name: "Task", Status: trace.ToolOK, Output: "No issues found.", Child: "agent-sec"}),
			llmStep(&trace.LLMCall{Model: "<synthetic>", Synthetic: true, Output: assistant(part(trace.PartText, "No response requested."))}),
			llmStep(&trace.LLMCall{Model: "claude-opus-4-1-20250805", Error: "overloaded_error"}),
			llmStep(&trace.LLMCall{ID: "msg_2", Model: "claude-opus-4-1-20250805", Output: assistant(part(trace.PartText, `{"action":"approve"}`)), StopReason: "end_turn"}),
		},
		Children: []*trace.Run{child},
	}
}

func TestRecordedFaithful(t *testing.T) {
	run := reviewRun()
	rec := NewRecorded(run)
	ctx := context.Background()
	if rec.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (synthetic and failed calls are not answers)", rec.Len())
	}
	conv := []trace.Message{userText("Review acme/widgets#42.")}
	c1, err := rec.Complete(ctx, Request{Messages: conv, Params: trace.Params{Model: "ignored"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &trace.LLMCall{ID: "msg_1", Model: "claude-opus-4-1-20250805", Params: trace.Params{Model: "claude-opus-4-1"},
		Output: run.Steps[1].LLM.Output, StopReason: "tool_use", Usage: &trace.Usage{Input: 3, Output: 40, CacheRead: 2000, CacheWrite: 500},
		Cost: trace.Cost{Priced: trace.Float(0)}, Produced: ProducedRecorded}
	if d := cmp.Diff(want, c1); d != "" {
		t.Errorf("first answer (-want +got):\n%s", d)
	}
	// The answer is a copy: changing it leaves the recording alone.
	c1.Output.Parts[1].Text = "changed"
	c1.Usage.Input = 99
	if run.Steps[1].LLM.Output.Parts[1].Text != "Reading." || run.Steps[1].LLM.Usage.Input != 3 {
		t.Error("changing an answer changed the recording")
	}

	// The Task call runs the sub-agent from its own recording.
	sub, err := rec.Sub("t2")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Key() != "agent-sec" || sub.Len() != 2 {
		t.Fatalf("Sub(t2) = run %q with %d calls, want agent-sec with 2", sub.Key(), sub.Len())
	}
	s1, _ := sub.Complete(ctx, Request{Messages: []trace.Message{userText("Check security.")}})
	subConv := []trace.Message{userText("Check security."), s1.Output, {Role: "user", Parts: []trace.Part{toolResult("s1", "No matches found", true)}}}
	s2, err := sub.Complete(ctx, Request{Messages: subConv})
	if err != nil || s2.ID != "msg_s2" {
		t.Fatalf("sub-agent second answer: %v, %v", s2, err)
	}
	if _, err := sub.Complete(ctx, Request{}); !errors.Is(err, ErrRecordingExhausted) || !strings.Contains(err.Error(), `"agent-sec" recorded 2 model calls and call 3 was asked`) {
		t.Errorf("third sub-agent call: error = %v, want ErrRecordingExhausted naming the run and counts", err)
	}

	conv = append(conv, c1.Output, trace.Message{Role: "tool", Parts: []trace.Part{toolResult("t1", "package a\n", false)}},
		trace.Message{Role: "tool", Parts: []trace.Part{toolResult("t2", "No issues found.", false)}})
	c2, err := rec.Complete(ctx, Request{Messages: conv})
	if err != nil || c2.ID != "msg_2" {
		t.Fatalf("second answer: %+v, %v", c2, err)
	}
	if d := append(rec.Divergences(), sub.Divergences()...); len(d) != 0 {
		t.Errorf("faithful replay diverged: %v", d)
	}
	if rec.Answered() != rec.Len() {
		t.Errorf("answered %d of %d", rec.Answered(), rec.Len())
	}
}

// TestRecordedDivergence: results fed back that differ from the recording
// are reported with the call, the tool and both results.
func TestRecordedDivergence(t *testing.T) {
	ctx := context.Background()
	rec := NewRecorded(reviewRun())
	c1, _ := rec.Complete(ctx, Request{})
	conv := []trace.Message{c1.Output, {Role: "tool", Parts: []trace.Part{toolResult("t1", "package a // changed\n", false)}}}
	if _, err := rec.Complete(ctx, Request{Messages: conv}); err != nil {
		t.Fatal(err)
	}
	want := []Divergence{
		{Call: 1, CallID: "t1", Tool: "Read", Kind: DivergedResult, Recorded: "package a\n", Got: "package a // changed\n"},
		{Call: 1, CallID: "t2", Tool: "Task", Kind: DivergedMissing},
	}
	if d := cmp.Diff(want, rec.Divergences()); d != "" {
		t.Errorf("divergences (-want +got):\n%s", d)
	}
	if s := rec.Divergences()[0].String(); !strings.Contains(s, "main run, model call 2: Read call t1 was fed a different result") {
		t.Errorf("String() = %q", s)
	}

	// The error flag counts too.
	sub, _ := rec.Sub("t2")
	s1, _ := sub.Complete(ctx, Request{})
	sub.Complete(ctx, Request{Messages: []trace.Message{s1.Output, {Role: "tool", Parts: []trace.Part{toolResult("s1", "No matches found", false)}}}})
	wantSub := []Divergence{{Run: "agent-sec", Call: 1, CallID: "s1", Tool: "Grep", Kind: DivergedResult,
		Recorded: "No matches found", RecordedError: true, Got: "No matches found"}}
	if d := cmp.Diff(wantSub, sub.Divergences()); d != "" {
		t.Errorf("sub-agent divergences (-want +got):\n%s", d)
	}
}

// TestRecordedEqual: the engine's normalizations decide what differs.
func TestRecordedEqual(t *testing.T) {
	ctx := context.Background()
	rec := NewRecorded(reviewRun())
	rec.Equal = func(_, a, b string) bool { return strings.TrimSpace(a) == strings.TrimSpace(b) }
	c1, _ := rec.Complete(ctx, Request{})
	conv := []trace.Message{c1.Output, {Role: "user", Parts: []trace.Part{toolResult("t1", "package a   ", false), toolResult("t2", "No issues found.\n", false)}}}
	rec.Complete(ctx, Request{Messages: conv})
	if d := rec.Divergences(); len(d) != 0 {
		t.Errorf("divergences despite Equal: %v", d)
	}
	sub, _ := rec.Sub("t2")
	if sub.Equal == nil {
		t.Error("Sub does not inherit Equal")
	}
}

func TestRecordedSubErrors(t *testing.T) {
	rec := NewRecorded(reviewRun())
	if _, err := rec.Sub("t1"); err == nil || !strings.Contains(err.Error(), `"t1"`) {
		t.Errorf("Sub of a call that started no sub-agent: %v", err)
	}
	// A child found by ParentCall alone (the tool step lacks Child).
	run := reviewRun()
	run.Steps[3].Tool.Child = ""
	if sub, err := NewRecorded(run).Sub("t2"); err != nil || sub.Key() != "agent-sec" {
		t.Errorf("Sub by ParentCall: %v, %v", sub, err)
	}
}

// TestRecordedIsModel: the engine can hold either behind Model.
func TestRecordedIsModel(t *testing.T) {
	var m Model = NewRecorded(&trace.Run{})
	if _, err := m.Complete(context.Background(), Request{}); !errors.Is(err, ErrRecordingExhausted) {
		t.Errorf("empty recording: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := NewRecorded(reviewRun())
	if _, err := rec.Complete(ctx, Request{}); !errors.Is(err, context.Canceled) || rec.Answered() != 0 {
		t.Errorf("cancelled: %v, answered %d; want context.Canceled and nothing answered", err, rec.Answered())
	}
	m = Func(func(context.Context, Request) (*trace.LLMCall, error) { return &trace.LLMCall{Produced: "fake"}, nil })
	if c, _ := m.Complete(context.Background(), Request{}); c.Produced != "fake" {
		t.Error("Func does not call its function")
	}
}
