package otel

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/replay/trace"
)

func text(s string) trace.Part { return trace.Part{Type: trace.PartText, Text: s} }

func TestMessagesFrom(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want []trace.Message
	}{
		{"semconv parts", `[{"role":"user","parts":[{"type":"text","content":"hi"}]},{"role":"assistant","parts":[{"type":"reasoning","content":"think"},{"type":"tool_call","id":"c1","name":"ls","arguments":{"dir":"."}}]},{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","result":{"files":2}}]}]`,
			[]trace.Message{{Role: "user", Parts: []trace.Part{text("hi")}},
				{Role: "assistant", Parts: []trace.Part{{Type: trace.PartReasoning, Text: "think"}, {Type: trace.PartToolCall, ID: "c1", Name: "ls", Arguments: json.RawMessage(`{"dir":"."}`)}}},
				{Role: "tool", Parts: []trace.Part{{Type: trace.PartToolResult, ID: "c1", Text: `{"files":2}`}}}}},
		{"openai chat", `[{"role":"developer","content":"be brief"},{"role":"assistant","content":null,"tool_calls":[{"id":"c2","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}}]},{"role":"tool","tool_call_id":"c2","content":"ok"}]`,
			[]trace.Message{{Role: "system", Parts: []trace.Part{text("be brief")}},
				{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: "c2", Name: "f", Arguments: json.RawMessage(`{"a":1}`)}}},
				{Role: "tool", Parts: []trace.Part{{Type: trace.PartToolResult, ID: "c2", Text: "ok"}}}}},
		{"anthropic blocks", `[{"role":"assistant","content":[{"type":"thinking","thinking":"hmm"},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"a"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"text","is_error":true}]}]`,
			[]trace.Message{{Role: "assistant", Parts: []trace.Part{{Type: trace.PartReasoning, Text: "hmm"}, {Type: trace.PartToolCall, ID: "toolu_1", Name: "Read", Arguments: json.RawMessage(`{"file_path":"a"}`)}}},
				{Role: "user", Parts: []trace.Part{{Type: trace.PartToolResult, ID: "toolu_1", Text: "text", IsError: true}}}}},
		{"string parts and a blob", `[{"role":"user","parts":["look", {"type":"blob","modality":"image","mime_type":"image/png","content":"AAAA"}, {"type":"x-custom","k":1}]}]`,
			[]trace.Message{{Role: "user", Parts: []trace.Part{text("look"),
				{Type: trace.PartImage, Raw: json.RawMessage(`{"type":"blob","modality":"image","mime_type":"image/png","content":"AAAA"}`)},
				{Type: trace.PartOther, Raw: json.RawMessage(`{"type":"x-custom","k":1}`)}}}}},
		{"a blob among object parts", `[{"role":"user","parts":[{"type":"text","content":"see"},{"type":"uri","modality":"image","uri":"https://x/y.png"}]}]`,
			[]trace.Message{{Role: "user", Parts: []trace.Part{text("see"), {Type: trace.PartImage, Raw: json.RawMessage(`{"type":"uri","modality":"image","uri":"https://x/y.png"}`)}}}}},
		{"structured value", []any{map[string]any{"role": "user", "parts": []any{map[string]any{"type": "text", "content": "hey"}}}},
			[]trace.Message{{Role: "user", Parts: []trace.Part{text("hey")}}}},
		{"request envelope", `{"model":"m","messages":[{"role":"user","content":"q"}]}`,
			[]trace.Message{{Role: "user", Parts: []trace.Part{text("q")}}}},
		{"choice body", `{"index":0,"finish_reason":"stop","message":{"content":"done"}}`,
			[]trace.Message{{Role: "", Parts: []trace.Part{text("done")}}}},
		{"plain text", "just text", nil},
		{"broken JSON", `[{"role":"user"`, nil},
		{"absent", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := messagesFrom(tt.in)
			if ok != (tt.want != nil) {
				t.Fatalf("ok = %v, messages %+v", ok, got)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsageConventions(t *testing.T) {
	tests := []struct {
		name      string
		a         attrs
		anthropic bool
		want      *trace.Usage
	}{
		{"otel input includes cache", attrs{"gen_ai.usage.input_tokens": int64(1200), "gen_ai.usage.cache_read.input_tokens": int64(1000),
			"gen_ai.usage.cache_creation.input_tokens": int64(150), "gen_ai.usage.output_tokens": int64(9)}, false,
			&trace.Usage{Input: 50, Output: 9, CacheRead: 1000, CacheWrite: 150}},
		{"input smaller than cache: anthropic style", attrs{"gen_ai.usage.input_tokens": "11", "gen_ai.usage.cache_read_input_tokens": int64(109938)}, false,
			&trace.Usage{Input: 11, CacheRead: 109938}},
		{"forced anthropic", attrs{"gen_ai.usage.input_tokens": int64(5000), "gen_ai.usage.cache_read.input_tokens": int64(100)}, true,
			&trace.Usage{Input: 5000, CacheRead: 100}},
		{"older names", attrs{"gen_ai.usage.prompt_tokens": int64(30), "gen_ai.usage.completion_tokens": 7.0}, false,
			&trace.Usage{Input: 30, Output: 7}},
		{"openinference", attrs{"llm.token_count.prompt": int64(500), "llm.token_count.completion": int64(20), "llm.token_count.prompt_details.cache_read": int64(300),
			"llm.token_count.prompt_details.cache_write": int64(100), "llm.token_count.completion_details.reasoning": int64(5)}, false,
			&trace.Usage{Input: 100, Output: 20, CacheRead: 300, CacheWrite: 100, Reasoning: 5}},
		{"none", attrs{"gen_ai.request.model": "m"}, false, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, usage(tt.a, tt.anthropic)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}
