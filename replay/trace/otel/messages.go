package otel

import (
	"bytes"
	stdjson "encoding/json"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// lstr is a string that also accepts JSON numbers and booleans (ids are
// sometimes numbers) and ignores other values, so one odd field does not
// make a whole message unreadable.
type lstr string

func (s *lstr) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		*s = lstr(b[1 : len(b)-1])
		return nil
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == '{' || b[0] == '[' || string(b) == "null" {
		*s = ""
		return nil
	}
	*s = lstr(unquote(b))
	return nil
}

// wireMsg is a chat message in any of the shapes GenAI instrumentations
// write: semconv parts ({role, parts}), OpenAI chat ({role, content,
// tool_calls, tool_call_id}), the older event bodies ({content, id} for a
// tool message, {index, finish_reason, message} for a choice).
type wireMsg struct {
	Role         lstr            `json:"role"`
	Name         lstr            `json:"name"`
	Parts        []wirePart      `json:"parts"`
	Content      json.RawMessage `json:"content"`
	ToolCalls    []wireToolCall  `json:"tool_calls"`
	ToolCallID   lstr            `json:"tool_call_id"`
	ID           lstr            `json:"id"`
	FinishReason lstr            `json:"finish_reason"`
	Message      *wireMsg        `json:"message"`

	rawParts []json.RawMessage // the parts verbatim, read only when a part needs them
}

type wireToolCall struct {
	ID        lstr            `json:"id"`
	Name      lstr            `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Function  *struct {
		Name      lstr            `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// wirePart is one content part: semconv parts, OpenAI content parts and
// Anthropic content blocks share this union.
type wirePart struct {
	Type      lstr            `json:"type"`
	Text      json.RawMessage `json:"text"`
	Content   json.RawMessage `json:"content"`
	Thinking  lstr            `json:"thinking"`
	ID        lstr            `json:"id"`
	CallID    lstr            `json:"call_id"`
	ToolUseID lstr            `json:"tool_use_id"`
	Name      lstr            `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Input     json.RawMessage `json:"input"`
	Response  json.RawMessage `json:"response"`
	Result    json.RawMessage `json:"result"`
	Output    json.RawMessage `json:"output"`
	IsError   bool            `json:"is_error"`
	Modality  lstr            `json:"modality"`
	MimeType  lstr            `json:"mime_type"`
}

// normRole maps the role names of the various producers to the canonical
// ones.
func normRole(r string) string {
	switch strings.ToLower(strings.TrimSpace(r)) {
	case "system", "developer":
		return "system"
	case "user", "human":
		return "user"
	case "assistant", "model", "ai", "bot":
		return "assistant"
	case "tool", "function", "ipython", "tool_result":
		return "tool"
	case "":
		return ""
	}
	return strings.ToLower(strings.TrimSpace(r))
}

// messagesFrom reads a list of messages from an attribute value: a JSON
// string or a structured value holding a list of messages, one message, or
// an object with a "messages" member. ok is false when v holds none.
func messagesFrom(v any) ([]trace.Message, bool) {
	if s, ok := v.(string); ok {
		// Parsing tells JSON from text; no need to validate first.
		return messagesJSON([]byte(s))
	}
	b, ok := valueJSON(v)
	if !ok {
		return nil, false
	}
	return messagesJSON(b)
}

func messagesJSON(b []byte) ([]trace.Message, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, false
	}
	var wms []wireMsg
	switch b[0] {
	case '[':
		if json.Unmarshal(b, &wms) == nil {
			break
		}
		wms = wms[:0]
		var raws []json.RawMessage
		if json.Unmarshal(b, &raws) != nil {
			return nil, false
		}
		for _, r := range raws {
			if m, ok := lenientMsg(r); ok {
				wms = append(wms, m)
			}
		}
	case '{':
		var env struct {
			Messages json.RawMessage `json:"messages"`
		}
		if json.Unmarshal(b, &env) == nil && isArray(env.Messages) {
			return messagesJSON(env.Messages)
		}
		m, ok := lenientMsg(b)
		if !ok {
			return nil, false
		}
		wms = append(wms, m)
	default:
		return nil, false
	}
	if partsNeedRaw(wms) {
		// Keep unknown and binary parts verbatim: read the parts again.
		var again []struct {
			Parts []json.RawMessage `json:"parts"`
		}
		if b[0] == '{' {
			again = make([]struct {
				Parts []json.RawMessage `json:"parts"`
			}, 1)
			_ = json.Unmarshal(b, &again[0])
		} else {
			_ = json.Unmarshal(b, &again)
		}
		if len(again) == len(wms) {
			for i := range wms {
				if len(again[i].Parts) == len(wms[i].Parts) {
					wms[i].rawParts = again[i].Parts
				}
			}
		}
	}
	out := make([]trace.Message, 0, len(wms))
	for i := range wms {
		if m, ok := wms[i].message(""); ok {
			out = append(out, m)
		}
	}
	return out, len(out) > 0
}

// lenientMsg decodes one message whose parts may not all be objects.
func lenientMsg(b []byte) (wireMsg, bool) {
	var m wireMsg
	if !isObject(b) {
		return m, false
	}
	if json.Unmarshal(b, &m) == nil {
		return m, true
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return m, false
	}
	parts := obj["parts"]
	delete(obj, "parts")
	rest, err := json.Marshal(obj)
	if err != nil || json.Unmarshal(rest, &m) != nil {
		return wireMsg{}, false
	}
	if isArray(parts) {
		_ = json.Unmarshal(parts, &m.rawParts)
	}
	return m, true
}

// message converts one wire message; role is the default role (from an
// event name) when the message has none.
func (w *wireMsg) message(role string) (trace.Message, bool) {
	if w.Message != nil && len(w.Parts) == 0 && len(w.rawParts) == 0 && len(w.Content) == 0 {
		// A gen_ai.choice body: {index, finish_reason, message}.
		inner := *w.Message
		if inner.FinishReason == "" {
			inner.FinishReason = w.FinishReason
		}
		return inner.message(role)
	}
	m := trace.Message{Role: normRole(string(w.Role)), Name: string(w.Name)}
	if m.Role == "" {
		m.Role = role
	}
	for i := 0; i < max(len(w.Parts), len(w.rawParts)); i++ {
		var raw []byte
		if i < len(w.rawParts) {
			raw = w.rawParts[i]
		}
		var (
			p  trace.Part
			ok bool
		)
		if i < len(w.Parts) {
			p, ok = w.Parts[i].part(raw)
		} else {
			p, ok = partOf(raw)
		}
		if ok {
			m.Parts = append(m.Parts, p)
		}
	}
	callID := string(w.ToolCallID)
	if callID == "" && m.Role == "tool" {
		callID = string(w.ID)
	}
	if c := bytes.TrimSpace(w.Content); len(c) > 0 && string(c) != "null" {
		switch {
		case m.Role == "tool" && (c[0] != '[' || !contentParts(c)):
			m.Parts = append(m.Parts, trace.Part{Type: trace.PartToolResult, ID: callID, Text: textOf(c)})
		case c[0] == '[':
			var raws []json.RawMessage
			if json.Unmarshal(c, &raws) == nil {
				for _, r := range raws {
					if p, ok := partOf(r); ok {
						if p.Type == trace.PartToolResult && p.ID == "" {
							p.ID = callID
						}
						m.Parts = append(m.Parts, p)
					}
				}
			}
		default:
			if t := textOf(c); t != "" {
				m.Parts = append(m.Parts, trace.Part{Type: trace.PartText, Text: t})
			}
		}
	}
	for i := range w.ToolCalls {
		tc := &w.ToolCalls[i]
		p := trace.Part{Type: trace.PartToolCall, ID: string(tc.ID), Name: string(tc.Name), Arguments: rawArgs(tc.Arguments)}
		if tc.Function != nil {
			if p.Name == "" {
				p.Name = string(tc.Function.Name)
			}
			if p.Arguments == nil {
				p.Arguments = rawArgs(tc.Function.Arguments)
			}
		}
		m.Parts = append(m.Parts, p)
	}
	if m.Role == "" && len(m.Parts) == 0 {
		return m, false
	}
	return m, true
}

// contentParts reports whether a JSON array looks like a list of content
// parts (objects with a type).
func contentParts(b []byte) bool {
	var raws []map[string]json.RawMessage
	if json.Unmarshal(b, &raws) != nil || len(raws) == 0 {
		return false
	}
	_, ok := raws[0]["type"]
	return ok
}

// partOf converts one content part. Unknown parts are kept verbatim.
func partOf(raw []byte) (trace.Part, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return trace.Part{}, false
	}
	if raw[0] == '"' {
		return trace.Part{Type: trace.PartText, Text: unquote(raw)}, true
	}
	var p wirePart
	if raw[0] != '{' || json.Unmarshal(raw, &p) != nil {
		return trace.Part{Type: trace.PartOther, Raw: compact(raw)}, true
	}
	return p.part(raw)
}

// commonPart reports whether parts of type t convert without their JSON.
func commonPart(t string) bool {
	switch strings.ToLower(t) {
	case "text", "input_text", "output_text", "reasoning", "thinking", "redacted_thinking",
		"tool_call", "function_call", "tool_use", "server_tool_call",
		"tool_call_response", "tool_result", "function_call_output", "function_response", "server_tool_call_response":
		return true
	}
	return false
}

func partsNeedRaw(wms []wireMsg) bool {
	for i := range wms {
		for j := range wms[i].Parts {
			p := &wms[i].Parts[j]
			if !commonPart(string(p.Type)) && (p.Type != "" || (len(p.Text) == 0 && len(p.Content) == 0)) {
				return true
			}
		}
	}
	return false
}

// part converts a decoded part; raw is its JSON, kept for parts that are
// stored verbatim (nil when not at hand: the part is encoded again).
func (p *wirePart) part(raw []byte) (trace.Part, bool) {
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && raw[0] != '{' {
		return partOf(raw) // a bare string (or other value) in a list of parts
	}
	verbatim := func() stdjson.RawMessage {
		if raw != nil {
			return compact(raw)
		}
		b, _ := json.Marshal(p)
		return b
	}
	text := func(rs ...json.RawMessage) string {
		for _, r := range rs {
			if t := textOf(r); t != "" {
				return t
			}
		}
		return ""
	}
	switch t := strings.ToLower(string(p.Type)); t {
	case "text", "input_text", "output_text", "":
		s := text(p.Text, p.Content)
		if t == "" && s == "" {
			return trace.Part{Type: trace.PartOther, Raw: verbatim()}, true
		}
		return trace.Part{Type: trace.PartText, Text: s}, true
	case "reasoning", "thinking", "redacted_thinking":
		s := string(p.Thinking)
		if s == "" {
			s = text(p.Content, p.Text)
		}
		return trace.Part{Type: trace.PartReasoning, Text: s}, true
	case "tool_call", "function_call", "tool_use", "server_tool_call":
		args := rawArgs(p.Arguments)
		if args == nil {
			args = rawArgs(p.Input)
		}
		id := string(p.ID)
		if id == "" {
			id = string(p.CallID)
		}
		return trace.Part{Type: trace.PartToolCall, ID: id, Name: string(p.Name), Arguments: args}, true
	case "tool_call_response", "tool_result", "function_call_output", "function_response", "server_tool_call_response":
		id := string(p.ID)
		for _, alt := range []lstr{p.ToolUseID, p.CallID} {
			if id == "" {
				id = string(alt)
			}
		}
		return trace.Part{Type: trace.PartToolResult, ID: id, Text: text(p.Response, p.Result, p.Content, p.Output), IsError: p.IsError}, true
	case "image", "image_url", "input_image":
		return trace.Part{Type: trace.PartImage, Raw: verbatim()}, true
	case "blob", "file", "uri":
		if strings.EqualFold(string(p.Modality), "image") || strings.HasPrefix(string(p.MimeType), "image/") {
			return trace.Part{Type: trace.PartImage, Raw: verbatim()}, true
		}
	}
	return trace.Part{Type: trace.PartOther, Raw: verbatim()}, true
}

// systemText reads gen_ai.system_instructions: a list of parts (JSON or
// structured), or plain text.
func systemText(v any) string {
	if s, ok := v.(string); ok {
		t := strings.TrimSpace(s)
		if !strings.HasPrefix(t, "[") && !strings.HasPrefix(t, "{") {
			return s
		}
	}
	b, ok := valueJSON(v)
	if !ok {
		return scalarText(v)
	}
	b = bytes.TrimSpace(b)
	var raws []json.RawMessage
	if len(b) > 0 && b[0] == '{' {
		raws = []json.RawMessage{b}
	} else if json.Unmarshal(b, &raws) != nil {
		return ""
	}
	var texts []string
	for _, r := range raws {
		if p, ok := partOf(r); ok && (p.Type == trace.PartText) && p.Text != "" {
			texts = append(texts, p.Text)
		} else if ms, ok := messagesJSON(r); ok {
			for _, m := range ms {
				texts = append(texts, m.Text())
			}
		}
	}
	return strings.Join(texts, "\n\n")
}

// flatMessages reads messages flattened into indexed attributes, in either
// the older GenAI form (gen_ai.prompt.N.{role,content,tool_calls.M.{id,name,
// arguments},tool_call_id}) or OpenInference's (llm.input_messages.N.
// message.{role,content,contents.M.message_content.*,tool_calls.K.tool_call.
// {id,function.name,function.arguments},tool_call_id,name}).
func flatMessages(a map[string]any, prefix string) []trace.Message {
	var out []trace.Message
	for _, g := range indexed(a, prefix) {
		oi := false
		if hasPrefix(g, "message.") {
			oi = true
			g = trimFlat(g, "message.")
		}
		m := trace.Message{Role: normRole(g.str("role")), Name: g.str("name")}
		callID := g.str("tool_call_id")
		if content, ok := g["content"]; ok && content != nil {
			text := valueText(content)
			if ps := jsonParts(text); ps != nil && !(m.Role == "tool") {
				m.Parts = append(m.Parts, ps...)
			} else if m.Role == "tool" {
				m.Parts = append(m.Parts, trace.Part{Type: trace.PartToolResult, ID: callID, Text: text})
			} else if text != "" {
				m.Parts = append(m.Parts, trace.Part{Type: trace.PartText, Text: text})
			}
		}
		for _, c := range g.list("contents.") {
			c = trimFlat(c, "message_content.")
			switch strings.ToLower(c.str("type")) {
			case "image":
				b, _ := json.Marshal(map[string]string{"type": "image", "url": c.str("image.image.url")})
				m.Parts = append(m.Parts, trace.Part{Type: trace.PartImage, Raw: b})
			default:
				if t := c.str("text"); t != "" {
					if m.Role == "tool" {
						m.Parts = append(m.Parts, trace.Part{Type: trace.PartToolResult, ID: callID, Text: t})
					} else {
						m.Parts = append(m.Parts, trace.Part{Type: trace.PartText, Text: t})
					}
				}
			}
		}
		for _, tc := range g.list("tool_calls.") {
			if oi || hasPrefix(tc, "tool_call.") {
				tc = trimFlat(tc, "tool_call.")
			}
			name := tc.str("function.name")
			if name == "" {
				name = tc.str("name")
			}
			args, ok := tc["function.arguments"]
			if !ok {
				args = tc["arguments"]
			}
			m.Parts = append(m.Parts, trace.Part{Type: trace.PartToolCall, ID: tc.str("id"), Name: name, Arguments: argsJSON(args)})
		}
		if m.Role == "" && len(m.Parts) == 0 {
			continue
		}
		if m.Role == "" {
			m.Role = "user"
		}
		out = append(out, m)
	}
	return out
}

// trimFlat removes prefix from the keys of g that have it.
func trimFlat(g flat, prefix string) flat {
	out := make(flat, len(g))
	for k, v := range g {
		out[strings.TrimPrefix(k, prefix)] = v
	}
	return out
}

// jsonParts reads a content string that holds a JSON list of content parts
// (openllmetry writes multimodal content so); nil when it does not.
func jsonParts(s string) []trace.Part {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "[") || !contentParts([]byte(t)) {
		return nil
	}
	var raws []json.RawMessage
	if json.Unmarshal([]byte(t), &raws) != nil {
		return nil
	}
	var out []trace.Part
	for _, r := range raws {
		if p, ok := partOf(r); ok {
			out = append(out, p)
		}
	}
	return out
}

// eventMessage reads the message an older GenAI event carries: its body is
// in the gen_ai.event.content attribute (JSON) or spread over attributes
// (content, tool_calls, id, role, message, finish_reason).
func eventMessage(ev *SpanEvent, role string) (trace.Message, bool) {
	a := attrs(ev.Attrs)
	var body []byte
	if b, ok := a.rawJSON("gen_ai.event.content"); ok && isObject(b) {
		body = b
	} else {
		fields := map[string]any{}
		for _, k := range []string{"role", "name", "content", "tool_calls", "id", "tool_call_id", "message", "finish_reason", "index"} {
			v, ok := ev.Attrs[k]
			if !ok {
				continue
			}
			// Structured members may arrive as JSON strings.
			if k == "tool_calls" || k == "message" {
				if b, ok := valueJSON(v); ok {
					fields[k] = stdjson.RawMessage(b)
					continue
				}
			}
			fields[k] = jsonable(v, 0)
		}
		if len(fields) == 0 {
			return trace.Message{}, false
		}
		b, err := json.Marshal(fields)
		if err != nil {
			return trace.Message{}, false
		}
		body = b
	}
	var w wireMsg
	if json.Unmarshal(body, &w) != nil {
		return trace.Message{}, false
	}
	return w.message(role)
}

// anyAgentOutput reads any-agent's gen_ai.output on an LLM span: a JSON
// list of {"tool.name", "tool.args"} when the model called tools, else the
// model's text.
func anyAgentOutput(v any) (trace.Message, bool) {
	m := trace.Message{Role: "assistant"}
	s, isStr := v.(string)
	if b, ok := valueJSON(v); ok && isArray(b) {
		var calls []map[string]json.RawMessage
		if json.Unmarshal(b, &calls) == nil && len(calls) > 0 {
			all := true
			for _, c := range calls {
				if _, ok := c["tool.name"]; !ok {
					all = false
					break
				}
			}
			if all {
				for _, c := range calls {
					m.Parts = append(m.Parts, trace.Part{Type: trace.PartToolCall, Name: unquote(c["tool.name"]), ID: unquote(c["tool.id"]),
						Arguments: rawArgs(c["tool.args"])})
				}
				return m, true
			}
		}
	}
	if !isStr {
		s = valueText(v)
	}
	if s == "" {
		return m, false
	}
	m.Parts = append(m.Parts, trace.Part{Type: trace.PartText, Text: s})
	return m, true
}
