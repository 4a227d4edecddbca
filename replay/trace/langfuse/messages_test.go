package langfuse

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/replay/trace"
)

func call(id, name, args string) trace.Part {
	return trace.Part{Type: trace.PartToolCall, ID: id, Name: name, Arguments: json.RawMessage(args)}
}

func result(id, text string) trace.Part {
	return trace.Part{Type: trace.PartToolResult, ID: id, Text: text}
}

func msg(role string, parts ...trace.Part) trace.Message {
	return trace.Message{Role: role, Parts: parts}
}

// TestParseMessages covers the input and output shapes of the frameworks
// that report to Langfuse (each case is shaped like the corpus file named).
func TestParseMessages(t *testing.T) {
	tests := []struct {
		name string
		in   string // JSON value as stored in the observation
		dflt string
		want []trace.Message
	}{
		{
			name: "chatml with tool calls (OpenAI chat, koog)",
			in: `[{"role":"system","content":"be brief"},{"role":"user","content":"weather?"},
				{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get","arguments":"{\"city\": \"Oslo\"}"}}]},
				{"role":"tool","tool_call_id":"c1","content":"rain"}]`,
			dflt: "user",
			want: []trace.Message{
				msg("system", text("be brief")), msg("user", text("weather?")),
				msg("assistant", call("c1", "get", `{"city":"Oslo"}`)), msg("tool", result("c1", "rain")),
			},
		},
		{
			name: "json-encoded string (.trace.json exports)",
			in:   `"[{\"role\":\"user\",\"content\":\"hi\"}]"`,
			dflt: "user",
			want: []trace.Message{msg("user", text("hi"))},
		},
		{
			name: "otel genai parts (pydantic-ai, microsoft agent framework ids as lists)",
			in: `[{"role":"assistant","parts":[{"type":"tool_call","id":["run_1","call_2"],"name":"get_weather","arguments":{"location":"Portland"}}]},
				{"role":"tool","parts":[{"type":"tool_call_response","id":["run_1","call_2"],"response":"stormy"}]}]`,
			dflt: "user",
			want: []trace.Message{
				msg("assistant", call("call_2", "get_weather", `{"location":"Portland"}`)),
				msg("tool", result("call_2", "stormy")),
			},
		},
		{
			name: "openai responses items (openai-agents input)",
			in: `[{"content":"weather in Tokyo?","role":"user"},
				{"arguments":"{\"city\":\"Tokyo\"}","call_id":"call_K","name":"get_weather","type":"function_call","id":"fc_1","status":"completed"},
				{"call_id":"call_K","output":"sunny","type":"function_call_output"}]`,
			dflt: "user",
			want: []trace.Message{
				msg("user", text("weather in Tokyo?")),
				msg("assistant", call("call_K", "get_weather", `{"city":"Tokyo"}`)),
				msg("tool", result("call_K", "sunny")),
			},
		},
		{
			name: "openai response object (openai-agents output)",
			in: `{"id":"resp_1","object":"response","status":"completed","output":[
				{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"think"}]},
				{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"output_text","text":"It is sunny.","annotations":[]}]},
				{"type":"function_call","call_id":"c9","name":"log","arguments":"{}"}]}`,
			dflt: "assistant",
			want: []trace.Message{msg("assistant", trace.Part{Type: trace.PartReasoning, Text: "think"}, text("It is sunny."), call("c9", "log", `{}`))},
		},
		{
			name: "chat completion object (agno wrapper output)",
			in:   `{"id":"chatcmpl-1","choices":[{"finish_reason":"stop","index":0,"message":{"content":"done","role":"assistant"}}],"usage":{"prompt_tokens":3}}`,
			dflt: "assistant",
			want: []trace.Message{msg("assistant", text("done"))},
		},
		{
			name: "anthropic message (claude agent sdk output)",
			in:   `{"content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"path":"a"}}],"role":"assistant"}`,
			dflt: "assistant",
			want: []trace.Message{msg("assistant", trace.Part{Type: trace.PartReasoning, Text: "hmm"}, call("toolu_1", "Read", `{"path":"a"}`))},
		},
		{
			name: "gemini request (google-adk input)",
			in: `{"model":"gemini-2.0-flash","config":{"system_instruction":"greet"},"contents":[{"parts":[{"text":"hi"}],"role":"user"},
				{"parts":[{"function_call":{"args":{},"name":"say_hello"}}],"role":"model"},
				{"parts":[{"function_response":{"name":"say_hello","response":{"greeting":"hello"}}}],"role":"user"}]}`,
			dflt: "user",
			want: []trace.Message{
				msg("system", text("greet")), msg("user", text("hi")),
				msg("assistant", call("", "say_hello", `{}`)),
				msg("tool", trace.Part{Type: trace.PartToolResult, Name: "say_hello", Raw: json.RawMessage(`{"greeting":"hello"}`)}),
			},
		},
		{
			name: "gemini string contents (google-gemini input)",
			in:   `{"model":"gemini-2.5-flash","contents":"What is Langfuse?"}`,
			dflt: "user",
			want: []trace.Message{msg("user", text("What is Langfuse?"))},
		},
		{
			name: "gemini response with thoughts",
			in:   `{"candidates":[{"content":{"parts":[{"text":"plan","thought":true},{"text":"answer"}],"role":"model"},"finish_reason":"STOP"}]}`,
			dflt: "assistant",
			want: []trace.Message{msg("assistant", trace.Part{Type: trace.PartReasoning, Text: "plan"}, text("answer"))},
		},
		{
			name: "adk llm response",
			in:   `{"content":{"parts":[{"text":"Hello!"}],"role":"model"},"finish_reason":"STOP","usage_metadata":{"total_token_count":45}}`,
			dflt: "assistant",
			want: []trace.Message{msg("assistant", text("Hello!"))},
		},
		{
			name: "vercel prompt and system (claude agent trace input)",
			in:   `{"prompt":"weather?","system":"be friendly"}`,
			dflt: "user",
			want: []trace.Message{msg("system", text("be friendly")), msg("user", text("weather?"))},
		},
		{
			name: "vercel content parts",
			in: `[{"role":"assistant","content":[{"type":"text","text":"checking"},{"type":"tool-call","toolCallId":"c1","toolName":"getWeather","input":{"location":"SF"}}]},
				{"role":"tool","content":[{"type":"tool-result","toolCallId":"c1","toolName":"getWeather","output":{"type":"json","value":{"t":64}}}]}]`,
			dflt: "user",
			want: []trace.Message{
				msg("assistant", text("checking"), call("c1", "getWeather", `{"location":"SF"}`)),
				msg("tool", trace.Part{Type: trace.PartToolResult, ID: "c1", Name: "getWeather", Raw: json.RawMessage(`{"type":"json","value":{"t":64}}`)}),
			},
		},
		{
			name: "vercel tool call list output",
			in:   `[{"toolCallId":"c1","toolName":"getWeather","input":"{\"location\":\"SF\"}"},{"toolCallId":"c2","toolName":"getTime","input":"{}"}]`,
			dflt: "assistant",
			want: []trace.Message{msg("assistant", call("c1", "getWeather", `{"location":"SF"}`), call("c2", "getTime", `{}`))},
		},
		{
			name: "langchain dict with additional_kwargs tool calls (langgraph output)",
			in:   `{"role":"assistant","content":"","additional_kwargs":{"tool_calls":[{"id":"c1","function":{"arguments":{"query":"x"},"name":"Web-Search"},"type":"function"}],"refusal":null}}`,
			dflt: "assistant",
			want: []trace.Message{msg("assistant", call("c1", "Web-Search", `{"query":"x"}`))},
		},
		{
			name: "langchain serialized messages",
			in: `{"messages":[{"lc":1,"type":"constructor","id":["langchain_core","messages","HumanMessage"],"kwargs":{"content":"hi"}},
				{"lc":1,"type":"constructor","id":["langchain_core","messages","AIMessage"],"kwargs":{"content":"","tool_calls":[{"name":"f","args":{"a":1},"id":"c1","type":"tool_call"}]}},
				{"lc":1,"type":"constructor","id":["langchain_core","messages","ToolMessage"],"kwargs":{"content":"ok","tool_call_id":"c1"}}]}`,
			dflt: "user",
			want: []trace.Message{msg("user", text("hi")), msg("assistant", call("c1", "f", `{"a":1}`)), msg("tool", result("c1", "ok"))},
		},
		{
			name: "langchain chunk without role (vertex output)",
			in:   `{"content":"Thank you.","additional_kwargs":{},"response_metadata":{"finish_reason":"STOP"},"type":"AIMessageChunk","id":"run-1","tool_calls":[],"invalid_tool_calls":[]}`,
			dflt: "assistant",
			want: []trace.Message{msg("assistant", text("Thank you."))},
		},
		{
			name: "tool definitions listed as tool messages (langchain handler)",
			in:   `[{"role":"user","content":"go"},{"role":"tool","content":{"type":"function","function":{"name":"search","description":"web","parameters":{"type":"object"}}}}]`,
			dflt: "user",
			want: []trace.Message{msg("user", text("go")), msg("tool", trace.Part{Type: partToolDef, Name: "search"})},
		},
		{
			name: "role-prefixed transcript (otel openai instrumentation)",
			in:   `"system: You are helpful.\nuser: Say hi\nacross two lines\nassistant: hi"`,
			dflt: "user",
			want: []trace.Message{msg("system", text("You are helpful.")), msg("user", text("Say hi\nacross two lines")), msg("assistant", text("hi"))},
		},
		{
			name: "plain text output stays text",
			in:   `"user: this is not a transcript in an output"`,
			dflt: "assistant",
			want: []trace.Message{msg("assistant", text("user: this is not a transcript in an output"))},
		},
		{
			name: "llamaindex complete args",
			in:   `{"args":["What is Langfuse?"]}`,
			dflt: "user",
			want: []trace.Message{msg("user", text("What is Langfuse?"))},
		},
		{
			name: "unknown role is a tool message named after it (langgraph.js)",
			in:   `[{"content":"sunny","additional_kwargs":{},"role":"get_weather"}]`,
			dflt: "user",
			want: []trace.Message{{Role: "tool", Name: "get_weather", Parts: []trace.Part{text("sunny")}}},
		},
		{
			name: "unknown shape kept verbatim",
			in:   `{"task":"review","depth":3}`,
			dflt: "user",
			want: []trace.Message{msg("user", trace.Part{Type: trace.PartOther, Raw: json.RawMessage(`{"depth":3,"task":"review"}`)})},
		},
		{
			name: "null",
			in:   `null`,
			dflt: "user",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeAny([]byte(tt.in))
			if err != nil {
				t.Fatalf("bad test input: %v", err)
			}
			got := parseMessages(v, tt.dflt)
			opts := []cmp.Option{cmpopts.EquateEmpty()}
			if tt.name == "tool definitions listed as tool messages (langchain handler)" {
				opts = append(opts, ignoreRaw)
			}
			if !cmp.Equal(got, tt.want, opts...) {
				t.Errorf("parseMessages:\n%s", cmp.Diff(tt.want, got, opts...))
			}
		})
	}
}

func TestStripToolDefs(t *testing.T) {
	v, _ := decodeAny([]byte(`[{"role":"user","content":"go"},{"role":"tool","content":{"type":"function","function":{"name":"search","description":"web","parameters":{"type":"object"}}}}]`))
	msgs, defs := stripToolDefs(parseMessages(v, roleUser))
	if want := []trace.Message{msg("user", text("go"))}; !cmp.Equal(msgs, want) {
		t.Errorf("messages:\n%s", cmp.Diff(want, msgs))
	}
	want := []trace.ToolDef{{Name: "search", Description: "web", Schema: json.RawMessage(`{"type":"object"}`)}}
	if !cmp.Equal(defs, want) {
		t.Errorf("tool definitions:\n%s", cmp.Diff(want, defs))
	}
}

func TestStopReason(t *testing.T) {
	tests := map[string]string{
		`{"choices":[{"finish_reason":"length","message":{}}]}`:        "length",
		`{"candidates":[{"finishReason":"MAX_TOKENS"}]}`:               "MAX_TOKENS",
		`{"content":[],"stop_reason":"end_turn"}`:                      "end_turn",
		`[{"role":"assistant","parts":[],"finish_reason":"stop"}]`:     "stop",
		`{"content":"x","response_metadata":{"finish_reason":"STOP"}}`: "STOP",
		`"plain"`: "",
	}
	for in, want := range tests {
		v, _ := decodeAny([]byte(in))
		if got := stopReason(v); got != want {
			t.Errorf("stopReason(%s) = %q, want %q", in, got, want)
		}
	}
}
