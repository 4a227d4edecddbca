package model

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"

	"github.com/agentreplay/replay/replay/trace"
)

func part(typ, text string) trace.Part { return trace.Part{Type: typ, Text: text} }

func toolCall(id, name, args string) trace.Part {
	return trace.Part{Type: trace.PartToolCall, ID: id, Name: name, Arguments: json.RawMessage(args)}
}

func toolResult(id, text string, isErr bool) trace.Part {
	return trace.Part{Type: trace.PartToolResult, ID: id, Text: text, IsError: isErr}
}

// TestChatMessages converts canonical conversations to chat.completions
// messages and compares the JSON sent.
func TestChatMessages(t *testing.T) {
	for _, tt := range chatMessageCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chatMessages(tt.system, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(decode(t, []byte(tt.want)), decode(t, b)); d != "" {
				t.Errorf("messages (-want +got):\n%s", d)
			}
		})
	}
}

type chatMessageCase struct {
	name   string
	system string
	in     []trace.Message
	want   string // JSON of the messages array
}

func chatMessageCases() []chatMessageCase {
	return []chatMessageCase{
		{
			name:   "several tool calls in one assistant message, results as tool messages, reasoning dropped",
			system: "Review the PR.",
			in: []trace.Message{
				userText("Review acme/widgets#42."),
				{Role: "assistant", Parts: []trace.Part{
					part(trace.PartReasoning, "I should read both files."),
					part(trace.PartText, "Reading the changed files."),
					toolCall("toolu_1", "Read", `{"file_path":"/w/a.go"}`),
					toolCall("toolu_2", "Read", `{"file_path":"/w/b.go"}`),
				}},
				{Role: "tool", Parts: []trace.Part{toolResult("toolu_1", "package a", false)}},
				{Role: "tool", Parts: []trace.Part{toolResult("toolu_2", "package b", false)}},
			},
			want: `[
				{"role":"system","content":"Review the PR."},
				{"role":"user","content":"Review acme/widgets#42."},
				{"role":"assistant","content":"Reading the changed files.","tool_calls":[
					{"id":"toolu_1","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"/w/a.go\"}"}},
					{"id":"toolu_2","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"/w/b.go\"}"}}]},
				{"role":"tool","tool_call_id":"toolu_1","content":"package a"},
				{"role":"tool","tool_call_id":"toolu_2","content":"package b"}
			]`,
		},
		{
			name: "Anthropic style: results in a user message, then the user's text",
			in: []trace.Message{
				{Role: "assistant", Parts: []trace.Part{toolCall("t1", "Bash", `{"command":"go test"}`), toolCall("t2", "Bash", `{"command":"false"}`)}},
				{Role: "user", Parts: []trace.Part{
					toolResult("t1", "ok", false),
					toolResult("t2", "exit status 1", true),
					part(trace.PartText, "Continue."),
				}},
			},
			want: `[
				{"role":"assistant","tool_calls":[
					{"id":"t1","type":"function","function":{"name":"Bash","arguments":"{\"command\":\"go test\"}"}},
					{"id":"t2","type":"function","function":{"name":"Bash","arguments":"{\"command\":\"false\"}"}}]},
				{"role":"tool","tool_call_id":"t1","content":"ok"},
				{"role":"tool","tool_call_id":"t2","content":"Error: exit status 1"},
				{"role":"user","content":"Continue."}
			]`,
		},
		{
			name: "arguments: invalid JSON sent as a JSON string, none as {}, a JSON string as it is",
			in: []trace.Message{
				{Role: "assistant", Parts: []trace.Part{
					toolCall("a", "Edit", `{"path": "x.go", "old": `),
					toolCall("b", "TodoRead", ``),
					toolCall("c", "apply_patch", `"*** Begin Patch"`),
				}},
			},
			want: `[
				{"role":"assistant","tool_calls":[
					{"id":"a","type":"function","function":{"name":"Edit","arguments":"\"{\\\"path\\\": \\\"x.go\\\", \\\"old\\\": \""}},
					{"id":"b","type":"function","function":{"name":"TodoRead","arguments":"{}"}},
					{"id":"c","type":"function","function":{"name":"apply_patch","arguments":"\"*** Begin Patch\""}}]}
			]`,
		},
		{
			name: "errors keep their own prefix; empty results are not empty messages; no id becomes user text",
			in: []trace.Message{
				{Role: "tool", Parts: []trace.Part{toolResult("x", "Error: file not found", true)}},
				{Role: "tool", Parts: []trace.Part{toolResult("y", "", false)}},
				{Role: "tool", Parts: []trace.Part{toolResult("", "42", false)}},
			},
			want: `[
				{"role":"tool","tool_call_id":"x","content":"Error: file not found"},
				{"role":"tool","tool_call_id":"y","content":"(no output)"},
				{"role":"user","content":"Tool result:\n42"}
			]`,
		},
		{
			name: "text parts joined; names sent only when OpenAI accepts them; empty messages dropped",
			in: []trace.Message{
				{Role: "system", Parts: []trace.Part{part(trace.PartText, "Be brief.")}},
				{Role: "user", Name: "critic", Parts: []trace.Part{part(trace.PartText, "First."), part(trace.PartText, "Second.")}},
				{Role: "user", Name: "code reviewer", Parts: []trace.Part{part(trace.PartText, "Hi.")}},
				{Role: "assistant", Parts: []trace.Part{part(trace.PartReasoning, "thinking only")}},
				{Role: "user", Parts: []trace.Part{{Type: trace.PartOther, Name: "document"}}},
			},
			want: `[
				{"role":"system","content":"Be brief."},
				{"role":"user","name":"critic","content":"First.\nSecond."},
				{"role":"user","content":"Hi."}
			]`,
		},
		{
			name: "images: Anthropic base64 source and OpenAI image_url; unknown ones become a note",
			in: []trace.Message{
				{Role: "user", Parts: []trace.Part{
					part(trace.PartText, "What is in these?"),
					{Type: trace.PartImage, Raw: json.RawMessage(`{"type":"base64","media_type":"image/png","data":"iVBORw0"}`)},
					{Type: trace.PartImage, Raw: json.RawMessage(`{"type":"image_url","image_url":{"url":"https://example.org/a.png"}}`)},
					{Type: trace.PartImage, Raw: json.RawMessage(`{"type":"image","file_id":"f1"}`)},
				}},
			},
			want: `[
				{"role":"user","content":[
					{"type":"text","text":"What is in these?"},
					{"type":"text","text":"[image omitted]"},
					{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0"}},
					{"type":"image_url","image_url":{"url":"https://example.org/a.png"}}]}
			]`,
		},
	}
}

func TestChatMessagesUnknownRole(t *testing.T) {
	_, err := chatMessages("", []trace.Message{{Role: "narrator", Parts: []trace.Part{part(trace.PartText, "x")}}})
	if err == nil || !strings.Contains(err.Error(), `"narrator"`) {
		t.Errorf("error = %v, want one naming the role", err)
	}
}

func TestObjectSchema(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"", `{"type":"object","properties":{}}`, ""},
		{"null", `{"type":"object","properties":{}}`, ""},
		{"{}", `{"type":"object","properties":{}}`, ""},
		{`{"properties":{"a":{"type":"string"}}}`, `{"type":"object","properties":{"a":{"type":"string"}}}`, ""},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{}}`, `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{}}`, ""},
		{`[1]`, "", "not a JSON object"},
		{`{"type":`, "", "not a JSON object"},
	}
	for _, tt := range tests {
		got, err := objectSchema(json.RawMessage(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("objectSchema(%s) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("objectSchema(%s): %v", tt.in, err)
			continue
		}
		if d := cmp.Diff(decode(t, []byte(tt.want)), decode(t, got)); d != "" {
			t.Errorf("objectSchema(%s) (-want +got):\n%s", tt.in, d)
		}
	}
}

func TestChatRequestErrors(t *testing.T) {
	if _, err := chatRequest(Request{Messages: []trace.Message{userText("hi")}}); err == nil || !strings.Contains(err.Error(), "no model") {
		t.Errorf("no model: error = %v", err)
	}
	_, err := chatRequest(Request{Params: trace.Params{Model: "m"}, Tools: []trace.ToolDef{{Name: "Bad", Schema: json.RawMessage(`"x"`)}}})
	if err == nil || !strings.Contains(err.Error(), `tool "Bad"`) {
		t.Errorf("bad schema: error = %v, want one naming the tool", err)
	}
}

// TestResponseArguments: what a model writes as arguments is kept valid
// JSON, and sent back as it came.
func TestResponseArguments(t *testing.T) {
	for _, s := range []string{`{"a": 1}`, `{"a": `, `ls -la`, ``} {
		raw := rawArguments(s)
		if len(raw) > 0 && !json.Valid(raw) {
			t.Errorf("rawArguments(%q) = %s, not valid JSON", s, raw)
		}
		back := argumentsText(raw)
		if !json.Valid([]byte(back)) {
			t.Errorf("argumentsText(rawArguments(%q)) = %s, not valid JSON", s, back)
		}
		if json.Valid([]byte(s)) && back != s {
			t.Errorf("valid arguments %q sent back as %q", s, back)
		}
	}
}

func TestUsageOf(t *testing.T) {
	if u := usageOf(openaiUsage(0, 0, 0, 0)); u != nil {
		t.Errorf("no usage = %+v, want nil", u)
	}
	got := usageOf(openaiUsage(100, 20, 80, 5))
	want := &trace.Usage{Input: 20, CacheRead: 80, Output: 20, Reasoning: 5}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("usage (-want +got):\n%s", d)
	}
	// A server that reports more cached than prompt tokens must not make
	// input negative.
	if u := usageOf(openaiUsage(10, 1, 50, 0)); u.Input != 0 || u.CacheRead != 10 {
		t.Errorf("cached > prompt: %+v", u)
	}
}

func openaiUsage(prompt, completion, cached, reasoning int) openai.Usage {
	return openai.Usage{
		PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion,
		PromptTokensDetails:     &openai.PromptTokensDetails{CachedTokens: cached},
		CompletionTokensDetails: &openai.CompletionTokensDetails{ReasoningTokens: reasoning},
	}
}

// TestWireMatchesGoOpenAI: the body the client sends (wire.go) is the JSON
// go-openai itself would send for the same request.
func TestWireMatchesGoOpenAI(t *testing.T) {
	reqs := map[string]Request{
		"sailing":   sailingRequest(),
		"agent run": benchConversation(3),
		"reasoning": {Messages: []trace.Message{userText("x")}, Params: trace.Params{Model: "o4-mini", MaxTokens: trace.Int(10), Seed: trace.Int(1)}},
	}
	for _, tc := range chatMessageCases() {
		reqs[tc.name] = Request{System: tc.system, Messages: tc.in, Params: trace.Params{Model: "gpt-4o", TopP: trace.Float(0.5), Stop: []string{"a", "b"}}}
	}
	for name, req := range reqs {
		cr, err := chatRequest(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		theirs, err := json.Marshal(cr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ours, err := encodeRequest(&cr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(decode(t, theirs), decode(t, ours)); d != "" {
			t.Errorf("%s: body differs from go-openai's (-go-openai +ours):\n%s", name, d)
		}
	}
	// go-openai's rule: content and parts together are refused.
	cr := openai.ChatCompletionRequest{Model: "m", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "a", MultiContent: []openai.ChatMessagePart{{Type: "text", Text: "b"}}}}}
	if _, err := encodeRequest(&cr); err == nil {
		t.Error("content and parts together were encoded")
	}
}
