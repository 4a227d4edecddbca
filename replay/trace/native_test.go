package trace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/replay/trace"
)

func sampleRun() *trace.Run {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	exit := 1
	return &trace.Run{
		Meta: trace.RunMeta{
			ID: "abc", Format: "claude-code", Source: "s.jsonl", Agent: "review", Session: "s1", Sessions: []string{"s2"},
			Refs: trace.Refs{
				Repo:     &trace.Ref{Value: "acme/widgets", Provenance: trace.Recorded, From: "fullsend.work_item_id"},
				Commit:   &trace.Ref{Value: "0123456789abcdef0123456789abcdef01234567", Provenance: trace.Inferred, From: "result head_sha"},
				WorkItem: &trace.Ref{Value: "acme/widgets#42", Provenance: trace.Recorded},
			},
			Instr:      trace.Instructions{System: "be kind", Tools: []trace.ToolDef{{Name: "Bash", Schema: json.RawMessage(`{"type":"object"}`)}}},
			Defaults:   trace.Params{Model: "claude-sonnet-4-5", Temperature: trace.Float(0.2), Seed: trace.Int(7)},
			StartedAt:  t0,
			Blockers:   []string{"x"},
			Attributes: map[string]string{"fullsend.agent": "review"},
		},
		Steps: []trace.Step{
			{Kind: trace.KindMessage, Time: t0, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: "review PR 42 — ünïcode <&>"}}}},
			{Kind: trace.KindLLM, Time: t0.Add(time.Second), LLM: &trace.LLMCall{ID: "msg_1", Model: "claude-sonnet-4-5",
				Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartReasoning, Text: "hmm"}, {Type: trace.PartToolCall, ID: "t1", Name: "Bash", Arguments: json.RawMessage(`{"command":"ls"}`)}}},
				Usage:  &trace.Usage{Input: 3, Output: 20, CacheRead: 1000, CacheWrite: 50}, Cost: trace.Cost{Recorded: trace.Float(0.01)}}},
			{Kind: trace.KindTool, Time: t0.Add(2 * time.Second), Tool: &trace.ToolCall{CallID: "t1", Name: "Bash", Arguments: json.RawMessage(`{"command":"ls"}`), Status: trace.ToolError, Output: "Exit code 1", ExitCode: &exit, Child: "a1"}},
		},
		Children: []*trace.Run{{
			Meta:    trace.RunMeta{Key: "a1", Agent: "security", ParentCall: "t1"},
			Steps:   []trace.Step{{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m", Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartText, Text: "ok"}}}}}},
			Outcome: &trace.Outcome{Status: trace.StatusOK, Final: "ok"},
		}},
		Outcome:  &trace.Outcome{Status: trace.StatusOK, Final: "done", Decision: &trace.Decision{Kind: "review", Value: json.RawMessage(`{"action":"approve"}`)}},
		Warnings: []trace.Warning{{File: "s.jsonl", Line: 3, Message: "unknown record type \"x\""}},
	}
}

func TestNativeRoundTrip(t *testing.T) {
	want := sampleRun()
	var buf bytes.Buffer
	if err := trace.Encode(&buf, want); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), `{"type":"header","header":{"format":"replay-run","version":2}}`+"\n") {
		t.Fatalf("native file must open with its versioned header, got %.80q", buf.String())
	}
	got, err := trace.DecodeRun(context.Background(), &buf, "x.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(want, got, cmpopts.EquateEmpty()) {
		t.Errorf("round trip changed the run:\n%s", cmp.Diff(want, got, cmpopts.EquateEmpty()))
	}
}
