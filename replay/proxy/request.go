package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// request is a model request of any wire format in canonical terms.
type request struct {
	Format Format
	Model  string
	Stream bool
	// System is the system prompt: chat's leading system/developer
	// messages, Responses' instructions, Anthropic's system, texts joined
	// by newlines.
	System   string
	Messages []trace.Message // the conversation after the system prompt
	Tools    []trace.ToolDef
	Params   trace.Params
	// includeUsage: chat stream_options.include_usage (a usage chunk ends
	// the stream).
	includeUsage bool
}

// peekRequest reads what forwarding a request needs: the model, whether it
// streams, and that the body is an object with the fields its format
// requires. It is what forward mode checks before sending a request on;
// the full parse runs beside the upstream call (parseRequest's 1 ms for
// a 200 KB request would be most of the proxy's overhead).
func peekRequest(f Format, body []byte) (*request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty body: want a JSON object")
	}
	if body[0] != '{' {
		return nil, errors.New("the body is not a JSON object")
	}
	var v struct {
		Model         json.RawMessage `json:"model"`
		Stream        json.RawMessage `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		Messages json.RawMessage `json:"messages"`
		Input    json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("the body is not valid JSON: %v", err)
	}
	r := &request{Format: f}
	if !isNull(v.Model) && json.Unmarshal(v.Model, &r.Model) != nil {
		return nil, fmt.Errorf("field \"model\": want a string, got %s", clip(string(v.Model), 40))
	}
	if strings.TrimSpace(r.Model) == "" {
		return nil, errors.New(`field "model": missing: the request must name a model`)
	}
	if !isNull(v.Stream) && json.Unmarshal(v.Stream, &r.Stream) != nil {
		return nil, fmt.Errorf(`field "stream": want true or false, got %s`, clip(string(v.Stream), 40))
	}
	if v.StreamOptions != nil {
		r.includeUsage = v.StreamOptions.IncludeUsage
	}
	r.Params.Model = r.Model
	switch f {
	case FormatChat, FormatMessages:
		if isNull(v.Messages) {
			return nil, errors.New(`field "messages": missing: the request needs its messages`)
		}
		if v.Messages[0] != '[' {
			return nil, errors.New(`field "messages": want a list of {role, content} objects`)
		}
	case FormatResponses:
		if isNull(v.Input) {
			return nil, errors.New(`field "input": missing: a Responses request needs its input`)
		}
		if v.Input[0] != '[' && v.Input[0] != '"' {
			return nil, errors.New(`field "input": want a string or a list of items`)
		}
	}
	return r, nil
}

// parseRequest reads a request body of format f. Errors name the field.
func parseRequest(f Format, body []byte) (*request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty body: want a JSON object")
	}
	if body[0] != '{' {
		return nil, errors.New("the body is not a JSON object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("the body is not valid JSON: %v", err)
	}
	r := &request{Format: f}
	if err := str(top, "model", &r.Model); err != nil {
		return nil, err
	}
	if strings.TrimSpace(r.Model) == "" {
		return nil, errors.New(`field "model": missing: the request must name a model`)
	}
	if v, ok := top["stream"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &r.Stream); err != nil {
			return nil, fmt.Errorf(`field "stream": want true or false, got %s`, clip(string(v), 40))
		}
	}
	if v, ok := top["stream_options"]; ok && !isNull(v) {
		var so struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if err := json.Unmarshal(v, &so); err != nil {
			return nil, fmt.Errorf(`field "stream_options": want an object: %v`, err)
		}
		r.includeUsage = so.IncludeUsage
	}
	var err error
	switch f {
	case FormatChat:
		err = r.parseChat(top)
	case FormatResponses:
		err = r.parseResponses(top)
	case FormatMessages:
		err = r.parseMessages(top)
	}
	if err != nil {
		return nil, err
	}
	if err := r.parseParams(top); err != nil {
		return nil, err
	}
	return r, nil
}

func isNull(v json.RawMessage) bool { return len(v) == 0 || string(v) == "null" }

func str(top map[string]json.RawMessage, field string, dst *string) error {
	v, ok := top[field]
	if !ok || isNull(v) {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("field %q: want a string, got %s", field, clip(string(v), 40))
	}
	return nil
}

func (r *request) parseParams(top map[string]json.RawMessage) error {
	num := func(field string, dst **float64) error {
		v, ok := top[field]
		if !ok || isNull(v) {
			return nil
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("field %q: want a number, got %s", field, clip(string(v), 40))
		}
		*dst = &f
		return nil
	}
	integer := func(field string, dst **int64) error {
		v, ok := top[field]
		if !ok || isNull(v) {
			return nil
		}
		var n int64
		if err := json.Unmarshal(v, &n); err != nil {
			return fmt.Errorf("field %q: want an integer, got %s", field, clip(string(v), 40))
		}
		*dst = &n
		return nil
	}
	p := &r.Params
	p.Model = r.Model
	if err := num("temperature", &p.Temperature); err != nil {
		return err
	}
	if err := num("top_p", &p.TopP); err != nil {
		return err
	}
	if err := integer("seed", &p.Seed); err != nil {
		return err
	}
	if err := integer("top_k", &p.TopK); err != nil {
		return err
	}
	for _, f := range maxTokenFields {
		if err := integer(f, &p.MaxTokens); err != nil {
			return err
		}
		if p.MaxTokens != nil {
			break
		}
	}
	for _, f := range []string{"stop", "stop_sequences"} {
		v, ok := top[f]
		if !ok || isNull(v) {
			continue
		}
		var one string
		if json.Unmarshal(v, &one) == nil {
			p.Stop = []string{one}
		} else if err := json.Unmarshal(v, &p.Stop); err != nil {
			return fmt.Errorf("field %q: want a string or a list of strings", f)
		}
	}
	return nil
}

var maxTokenFields = []string{"max_completion_tokens", "max_tokens", "max_output_tokens"}

// --- OpenAI Chat Completions

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
	Reasoning        string `json:"reasoning_content"`
	FunctionCallName *struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function_call"`
}

func (r *request) parseChat(top map[string]json.RawMessage) error {
	raw, ok := top["messages"]
	if !ok || isNull(raw) {
		return errors.New(`field "messages": missing: a chat completion request needs its messages`)
	}
	var msgs []chatMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return fmt.Errorf(`field "messages": want a list of {role, content} objects: %v`, err)
	}
	var system []string
	leading := true
	for i, m := range msgs {
		role := strings.ToLower(m.Role)
		if role == "" {
			return fmt.Errorf(`field "messages[%d].role": missing`, i)
		}
		if (role == "system" || role == "developer") && leading {
			system = append(system, contentText(m.Content))
			continue
		}
		leading = false
		switch role {
		case "tool":
			r.Messages = append(r.Messages, trace.Message{Role: "tool", Parts: []trace.Part{{
				Type: trace.PartToolResult, ID: m.ToolCallID, Text: contentText(m.Content)}}})
		case "assistant":
			msg := trace.Message{Role: "assistant", Name: m.Name}
			if m.Reasoning != "" {
				msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartReasoning, Text: m.Reasoning})
			}
			if t := contentText(m.Content); t != "" {
				msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartText, Text: t})
			}
			for _, c := range m.ToolCalls {
				msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartToolCall, ID: c.ID, Name: c.Function.Name, Arguments: rawArgs(c.Function.Arguments)})
			}
			r.Messages = append(r.Messages, msg)
		default:
			msg := trace.Message{Role: role, Name: m.Name}
			msg.Parts = contentParts(m.Content)
			r.Messages = append(r.Messages, msg)
		}
	}
	r.System = strings.Join(system, "\n")
	if raw, ok := top["tools"]; ok && !isNull(raw) {
		var tools []struct {
			Type     string `json:"type"`
			Function struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Parameters  json.RawMessage `json:"parameters"`
			} `json:"function"`
		}
		if err := json.Unmarshal(raw, &tools); err != nil {
			return fmt.Errorf(`field "tools": want a list of {type: "function", function: {name, description, parameters}}: %v`, err)
		}
		for _, t := range tools {
			r.Tools = append(r.Tools, trace.ToolDef{Name: t.Function.Name, Description: t.Function.Description, Schema: nonNull(t.Function.Parameters)})
		}
	}
	return nil
}

// contentParts reads an OpenAI content value: a string or a list of parts
// (text / input_text / output_text are text; images and the rest kept raw).
func contentParts(raw json.RawMessage) []trace.Part {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return []trace.Part{{Type: trace.PartText, Text: s}}
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return nil
	}
	var out []trace.Part
	for _, p := range parts {
		var h struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		json.Unmarshal(p, &h)
		switch h.Type {
		case "text", "input_text", "output_text":
			out = append(out, trace.Part{Type: trace.PartText, Text: h.Text})
		case "image_url", "input_image", "image":
			out = append(out, trace.Part{Type: trace.PartImage, Raw: compact(p)})
		default:
			out = append(out, trace.Part{Type: trace.PartOther, Raw: compact(p)})
		}
	}
	return out
}

func nonNull(v json.RawMessage) json.RawMessage {
	if isNull(v) {
		return nil
	}
	return compact(v)
}

// rawArgs keeps tool call arguments as JSON: valid JSON as it is, anything
// else as a JSON string.
func rawArgs(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	if t == "" {
		return json.RawMessage("{}")
	}
	if json.Valid([]byte(t)) {
		return compact([]byte(t))
	}
	b, _ := json.Marshal(s)
	return b
}

// argsText is the arguments as the OpenAI formats carry them: a JSON text.
func argsText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	return string(raw)
}

// --- OpenAI Responses

type responsesItem struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
	Summary   []struct {
		Text string `json:"text"`
	} `json:"summary"`
}

func (r *request) parseResponses(top map[string]json.RawMessage) error {
	if err := str(top, "instructions", &r.System); err != nil {
		return err
	}
	raw, ok := top["input"]
	if !ok || isNull(raw) {
		return errors.New(`field "input": missing: a Responses request needs its input`)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		r.Messages = append(r.Messages, trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: s}}})
	} else {
		var items []responsesItem
		if err := json.Unmarshal(raw, &items); err != nil {
			return fmt.Errorf(`field "input": want a string or a list of items (%s)`, jsonErr(err))
		}
		for i, it := range items {
			typ := it.Type
			if typ == "" && it.Role != "" {
				typ = "message"
			}
			switch typ {
			case "message":
				role := strings.ToLower(it.Role)
				if role == "" {
					return fmt.Errorf(`field "input[%d].role": missing`, i)
				}
				if (role == "system" || role == "developer") && len(r.Messages) == 0 {
					r.System = joinNonEmpty(r.System, contentText(it.Content))
					continue
				}
				r.appendMsg(role, contentParts(it.Content)...)
			case "function_call":
				r.appendMsg("assistant", trace.Part{Type: trace.PartToolCall, ID: it.CallID, Name: it.Name, Arguments: rawArgs(it.Arguments)})
			case "function_call_output":
				r.Messages = append(r.Messages, trace.Message{Role: "tool", Parts: []trace.Part{{Type: trace.PartToolResult, ID: it.CallID, Text: outputText(it.Output)}}})
			case "reasoning":
				var texts []string
				for _, s := range it.Summary {
					texts = append(texts, s.Text)
				}
				r.appendMsg("assistant", trace.Part{Type: trace.PartReasoning, Text: strings.Join(texts, "\n")})
			default:
				b, _ := json.Marshal(it)
				r.appendMsg("user", trace.Part{Type: trace.PartOther, Raw: b})
			}
		}
	}
	if raw, ok := top["tools"]; ok && !isNull(raw) {
		var tools []struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		}
		if err := json.Unmarshal(raw, &tools); err != nil {
			return fmt.Errorf(`field "tools": want a list of {type: "function", name, description, parameters}: %v`, err)
		}
		for _, t := range tools {
			name := t.Name
			if name == "" {
				name = t.Type // built-in tools: web_search, file_search, …
			}
			r.Tools = append(r.Tools, trace.ToolDef{Name: name, Description: t.Description, Schema: nonNull(t.Parameters)})
		}
	}
	return nil
}

// appendMsg adds parts to the conversation, to the last message when it has
// the same role (Responses items are one part each).
func (r *request) appendMsg(role string, parts ...trace.Part) {
	if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == role && role == "assistant" {
		r.Messages[n-1].Parts = append(r.Messages[n-1].Parts, parts...)
		return
	}
	r.Messages = append(r.Messages, trace.Message{Role: role, Parts: parts})
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + "\n" + b
}

// outputText reads a function_call_output's output: a string or content
// parts.
func outputText(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	return contentText(raw)
}

// --- Anthropic Messages

type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

func (r *request) parseMessages(top map[string]json.RawMessage) error {
	if raw, ok := top["system"]; ok && !isNull(raw) {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			r.System = s
		} else {
			var blocks []anthropicBlock
			if err := json.Unmarshal(raw, &blocks); err != nil {
				return fmt.Errorf(`field "system": want a string or a list of text blocks: %v`, err)
			}
			var texts []string
			for _, b := range blocks {
				texts = append(texts, b.Text)
			}
			r.System = strings.Join(texts, "\n")
		}
	}
	raw, ok := top["messages"]
	if !ok || isNull(raw) {
		return errors.New(`field "messages": missing: a Messages request needs its messages`)
	}
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return fmt.Errorf(`field "messages": want a list of {role, content} objects: %v`, err)
	}
	for i, m := range msgs {
		role := strings.ToLower(m.Role)
		if role != "user" && role != "assistant" {
			return fmt.Errorf(`field "messages[%d].role": %q: want user or assistant`, i, m.Role)
		}
		msg := trace.Message{Role: role}
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			msg.Parts = []trace.Part{{Type: trace.PartText, Text: s}}
		} else {
			var blocks []json.RawMessage
			if err := json.Unmarshal(m.Content, &blocks); err != nil {
				return fmt.Errorf(`field "messages[%d].content": want a string or a list of blocks`, i)
			}
			for j, braw := range blocks {
				var b anthropicBlock
				if err := json.Unmarshal(braw, &b); err != nil {
					return fmt.Errorf(`field "messages[%d].content[%d]": %v`, i, j, err)
				}
				switch b.Type {
				case "text":
					msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartText, Text: b.Text})
				case "thinking":
					msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartReasoning, Text: b.Thinking})
				case "redacted_thinking":
					msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartReasoning, Raw: compact(braw)})
				case "tool_use":
					args := nonNull(b.Input)
					if args == nil {
						args = json.RawMessage("{}")
					}
					msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartToolCall, ID: b.ID, Name: b.Name, Arguments: args})
				case "tool_result":
					msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartToolResult, ID: b.ToolUseID, Text: contentText(b.Content), IsError: b.IsError})
				case "image":
					msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartImage, Raw: compact(braw)})
				default:
					msg.Parts = append(msg.Parts, trace.Part{Type: trace.PartOther, Raw: compact(braw)})
				}
			}
		}
		r.Messages = append(r.Messages, msg)
	}
	if raw, ok := top["tools"]; ok && !isNull(raw) {
		var tools []struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"input_schema"`
		}
		if err := json.Unmarshal(raw, &tools); err != nil {
			return fmt.Errorf(`field "tools": want a list of {name, description, input_schema}: %v`, err)
		}
		for _, t := range tools {
			r.Tools = append(r.Tools, trace.ToolDef{Name: t.Name, Description: t.Description, Schema: nonNull(t.InputSchema)})
		}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// jsonErr describes a decoding error without the Go types involved.
func jsonErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, " into Go"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimPrefix(s, "json: ")
}

// contentText is trace.ContentText decoded with go-json (a 200 KB request's
// contents are most of its parse time): a string, or the texts of a list of
// parts joined by newlines.
func contentText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		json.Unmarshal(raw, &s)
		return s
	case '[':
		var parts []struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(raw, &parts) != nil {
			return ""
		}
		var texts []string
		for _, p := range parts {
			if p.Text != "" {
				texts = append(texts, p.Text)
			}
		}
		return strings.Join(texts, "\n")
	}
	return ""
}
