package export

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// Message content in the shapes of the OTel GenAI conventions
// (gen_ai.input.messages, gen_ai.output.messages,
// gen_ai.system_instructions, gen_ai.tool.definitions): JSON, written only
// with Options.Content.

// genaiMessage is one chat message: {role, parts, name?, finish_reason?}.
type genaiMessage struct {
	Role         string `json:"role"`
	Name         string `json:"name,omitempty"`
	Parts        []any  `json:"parts"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// genaiPart is a text, reasoning, tool_call or tool_call_response part.
type genaiPart struct {
	Type      string          `json:"type"`
	Content   string          `json:"content,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Response  *string         `json:"response,omitempty"`
	IsError   bool            `json:"is_error,omitempty"` // not in the conventions; Anthropic's name, read by replay's importer
}

func genaiParts(parts []trace.Part) []any {
	out := make([]any, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case trace.PartText:
			out = append(out, genaiPart{Type: "text", Content: p.Text})
		case trace.PartReasoning:
			out = append(out, genaiPart{Type: "reasoning", Content: p.Text})
		case trace.PartToolCall:
			out = append(out, genaiPart{Type: "tool_call", ID: p.ID, Name: p.Name, Arguments: jsonArgs(p.Arguments)})
		case trace.PartToolResult:
			text := p.Text
			out = append(out, genaiPart{Type: "tool_call_response", ID: p.ID, Response: &text, IsError: p.IsError})
		default:
			// Images and parts replay keeps verbatim travel as they were
			// recorded, when that is a JSON object with a type.
			if raw := bytes.TrimSpace(p.Raw); len(raw) > 0 && raw[0] == '{' && json.Valid(raw) {
				out = append(out, json.RawMessage(raw))
			}
		}
	}
	return out
}

// jsonArgs keeps tool arguments that are JSON as they are and turns
// anything else into a JSON string.
func jsonArgs(a json.RawMessage) json.RawMessage {
	a = bytes.TrimSpace(a)
	if len(a) == 0 {
		return nil
	}
	if json.Valid(a) {
		return a
	}
	b, _ := json.Marshal(string(a))
	return b
}

func genaiMsg(m trace.Message, finish string) genaiMessage {
	return genaiMessage{Role: m.Role, Name: m.Name, Parts: genaiParts(m.Parts), FinishReason: finish}
}

// toolMessage is the conversation entry a tool step adds: its result.
func toolMessage(tc *trace.ToolCall) trace.Message {
	return trace.Message{Role: "tool", Parts: []trace.Part{{Type: trace.PartToolResult, ID: tc.CallID, Text: toolOutput(tc),
		IsError: tc.Status == trace.ToolError}}}
}

func toolOutput(tc *trace.ToolCall) string {
	if tc.Output == "" && len(tc.OutputRaw) > 0 {
		return string(tc.OutputRaw)
	}
	return tc.Output
}

// conversation accumulates the messages of a run step by step, for the
// chat history of each model call whose request was not recorded whole.
type conversation struct {
	msgs []trace.Message
}

func (c *conversation) add(m trace.Message) { c.msgs = append(c.msgs, m) }

// input is the chat history sent with call: the recorded request when it
// is whole, else the conversation so far. System messages are left to the
// system instructions.
func (c *conversation) input(call *trace.LLMCall) []trace.Message {
	src := c.msgs
	if call.InputMode == "full" && len(call.Input) > 0 {
		src = call.Input
	}
	out := make([]trace.Message, 0, len(src))
	for _, m := range src {
		if m.Role != "system" {
			out = append(out, m)
		}
	}
	return out
}

// maxHistoryBytes bounds the chat history a model call carries whole
// (gen_ai.input.messages, a generation's input). Past it the call carries
// only the messages since the model's last answer (tool results, a user's
// reply), marked replay.input.mode "delta": the history of every call of a
// long run, each whole, grows with the square of its length (200 calls
// with 4 KiB tool results made 80 MiB).
const maxHistoryBytes = 64 << 10

// boundedHistory converts the input messages of a call with conv, whole
// when that stays within maxHistoryBytes, else those after the last
// assistant message (delta true).
func boundedHistory[T any](in []trace.Message, conv func([]trace.Message) T) (out T, delta bool) {
	last := -1
	for i, m := range in {
		if m.Role == "assistant" {
			last = i
		}
	}
	if last < 0 || contentSize(in) <= maxHistoryBytes {
		return conv(in), false // within bounds, or nothing the model saw before to leave out
	}
	return conv(in[last+1:]), true
}

// contentSize estimates the encoded size of messages from their content,
// without encoding them.
func contentSize(ms []trace.Message) int {
	n := 0
	for _, m := range ms {
		n += 32 + len(m.Role) + len(m.Name)
		for _, p := range m.Parts {
			n += 48 + len(p.Text) + len(p.ID) + len(p.Name) + len(p.Arguments) + len(p.Raw)
		}
	}
	return n
}

// genaiMessages converts messages to the GenAI shape.
func genaiMessages(ms []trace.Message) []genaiMessage {
	out := make([]genaiMessage, 0, len(ms))
	for _, m := range ms {
		out = append(out, genaiMsg(m, ""))
	}
	return out
}

// chatMessage is a message in OpenAI's chat shape, which Langfuse shows as
// a conversation.
type chatMessage struct {
	Role       string         `json:"role"`
	Name       string         `json:"name,omitempty"`
	Content    *string        `json:"content"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// chatMessages converts messages to the chat shape: tool results become
// tool messages of their own; reasoning and binary parts are left out.
func chatMessages(ms []trace.Message) []chatMessage {
	var out []chatMessage
	for _, m := range ms {
		cm := chatMessage{Role: m.Role, Name: m.Name}
		var texts []string
		results := false
		for _, p := range m.Parts {
			switch p.Type {
			case trace.PartText:
				texts = append(texts, p.Text)
			case trace.PartToolCall:
				tc := chatToolCall{ID: p.ID, Type: "function"}
				tc.Function.Name = p.Name
				tc.Function.Arguments = string(bytes.TrimSpace(p.Arguments))
				cm.ToolCalls = append(cm.ToolCalls, tc)
			case trace.PartToolResult:
				text := p.Text
				out = append(out, chatMessage{Role: "tool", ToolCallID: p.ID, Content: &text})
				results = true
			}
		}
		if (len(texts) == 0 && len(cm.ToolCalls) == 0) || (cm.Role == "tool" && results) {
			continue
		}
		if len(texts) > 0 {
			text := strings.Join(texts, "\n")
			cm.Content = &text
		}
		out = append(out, cm)
	}
	return out
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only values built from valid JSON and strings get here.
		panic("export: encode content: " + err.Error())
	}
	return string(b)
}

// systemInstructions is gen_ai.system_instructions: [{type:text, content}].
func systemInstructions(s string) string {
	return mustJSON([]genaiPart{{Type: "text", Content: s}})
}

// toolDefinitions is gen_ai.tool.definitions.
func toolDefinitions(defs []trace.ToolDef) string {
	type def struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	}
	out := make([]def, 0, len(defs))
	for _, d := range defs {
		var params json.RawMessage
		if s := bytes.TrimSpace(d.Schema); len(s) > 0 && json.Valid(s) {
			params = s
		}
		out = append(out, def{Type: "function", Name: d.Name, Description: d.Description, Parameters: params})
	}
	return mustJSON(out)
}
