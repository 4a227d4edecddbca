package proxy

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// The conversation every test agent has: a reviewer told to review a.go
// reads it with read_file and approves.
const (
	testSystem = "You are a reviewer. Answer APPROVE or REJECT."
	testTask   = "Review a.go"
	testFile   = "package a\n\nfunc A() {}\n"
)

var testSchema = map[string]any{"type": "object", "properties": map[string]any{"path": map[string]any{"type": "string"}}, "required": []any{"path"}}

// testRecording is the recording of that conversation: two model calls,
// the first asking for read_file, the second approving.
func testRecording() *trace.Run {
	schema, _ := json.Marshal(testSchema)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &trace.Run{
		Meta: trace.RunMeta{Format: "native", Agent: "reviewer", Instr: trace.Instructions{System: testSystem,
			Tools: []trace.ToolDef{{Name: "read_file", Description: "Read a file", Schema: schema}}}},
		Steps: []trace.Step{
			{Kind: trace.KindMessage, Time: t0, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: testTask}}}},
			{Kind: trace.KindLLM, Time: t0, LLM: &trace.LLMCall{ID: "rec-1", Model: "gpt-4o", StopReason: "tool_calls",
				Output: trace.Message{Role: "assistant", Parts: []trace.Part{
					{Type: trace.PartText, Text: "Let me read it."},
					{Type: trace.PartToolCall, ID: "call_1", Name: "read_file", Arguments: json.RawMessage(`{"path":"a.go"}`)}}},
				Usage: &trace.Usage{Input: 100, CacheRead: 20, Output: 10}}},
			{Kind: trace.KindTool, Time: t0, Tool: &trace.ToolCall{CallID: "call_1", Name: "read_file", Arguments: json.RawMessage(`{"path":"a.go"}`), Status: trace.ToolOK, Output: testFile}},
			{Kind: trace.KindLLM, Time: t0, LLM: &trace.LLMCall{ID: "rec-2", Model: "gpt-4o", StopReason: "stop",
				Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartText, Text: "APPROVE: looks fine."}}},
				Usage:  &trace.Usage{Input: 150, CacheRead: 100, Output: 7}}},
		},
	}
}

// serve starts p on loopback.
func serve(t testing.TB, p *Proxy) string {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

func newProxy(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
