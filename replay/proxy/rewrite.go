package proxy

import (
	"fmt"
	"strings"

	json "github.com/goccy/go-json"
)

// counterfactual reports whether the config changes requests at all.
func (p *Proxy) counterfactual() bool {
	c := &p.cfg
	return c.Model != "" || c.System != nil || len(c.Prompts) > 0 || len(c.ContextAdd) > 0 ||
		c.Params.Temperature != nil || c.Params.TopP != nil || c.Params.MaxTokens != nil || c.Params.Seed != nil
}

// rewrite applies the counterfactual to a request body. Without one the
// body goes as it came.
func (p *Proxy) rewrite(f Format, body []byte, req *request) ([]byte, error) {
	if !p.counterfactual() {
		return body, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	set := func(k string, v any) { top[k] = marshal(v) }
	c := &p.cfg
	if c.Model != "" {
		set("model", c.Model)
	}
	if text, ok := p.promptFor(req); ok {
		if err := setSystem(f, top, text); err != nil {
			return nil, err
		}
	}
	if c.Params.Temperature != nil {
		set("temperature", *c.Params.Temperature)
	}
	if c.Params.TopP != nil {
		set("top_p", *c.Params.TopP)
	}
	if c.Params.MaxTokens != nil {
		field := ""
		for _, k := range maxTokenFields {
			if _, ok := top[k]; ok {
				field = k
				break
			}
		}
		if field == "" {
			field = map[Format]string{FormatChat: "max_tokens", FormatResponses: "max_output_tokens", FormatMessages: "max_tokens"}[f]
		}
		set(field, *c.Params.MaxTokens)
	}
	if c.Params.Seed != nil && f == FormatChat {
		set("seed", *c.Params.Seed)
	}
	for _, text := range c.ContextAdd {
		if err := addContext(f, top, text); err != nil {
			return nil, err
		}
	}
	return json.MarshalNoEscape(top)
}

func roleOf(raw json.RawMessage) string {
	var m struct {
		Role string `json:"role"`
		Type string `json:"type"`
	}
	json.Unmarshal(raw, &m)
	if m.Type != "" && m.Type != "message" {
		return ""
	}
	return strings.ToLower(m.Role)
}

// setSystem replaces the system prompt: chat's first system or developer
// message (one is added first when there is none), Responses' instructions
// (leading system/developer input items are dropped), Anthropic's system.
func setSystem(f Format, top map[string]json.RawMessage, text string) error {
	switch f {
	case FormatChat:
		var msgs []json.RawMessage
		if err := json.Unmarshal(top["messages"], &msgs); err != nil {
			return fmt.Errorf(`field "messages": %v`, err)
		}
		replaced := false
		var out []json.RawMessage
		for i, m := range msgs {
			r := roleOf(m)
			if (r == "system" || r == "developer") && len(out) == i {
				if replaced {
					continue // the whole system prompt is replaced
				}
				out = append(out, marshal(map[string]any{"role": r, "content": text}))
				replaced = true
				continue
			}
			out = append(out, m)
		}
		if !replaced {
			out = append([]json.RawMessage{marshal(map[string]any{"role": "system", "content": text})}, out...)
		}
		top["messages"] = marshal(out)
	case FormatResponses:
		top["instructions"] = marshal(text)
		var items []json.RawMessage
		if json.Unmarshal(top["input"], &items) == nil {
			i := 0
			for i < len(items) && (roleOf(items[i]) == "system" || roleOf(items[i]) == "developer") {
				i++
			}
			if i > 0 {
				top["input"] = marshal(items[i:])
			}
		}
	case FormatMessages:
		top["system"] = marshal(text)
	}
	return nil
}

// addContext adds text after the opening user message: a user message
// after the first one (chat, Responses), a text block at the end of the
// first user message (Anthropic, which wants turns to alternate).
func addContext(f Format, top map[string]json.RawMessage, text string) error {
	field := "messages"
	if f == FormatResponses {
		field = "input"
		var s string
		if json.Unmarshal(top["input"], &s) == nil {
			top["input"] = marshal([]any{
				map[string]any{"role": "user", "content": s},
				map[string]any{"role": "user", "content": text},
			})
			return nil
		}
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(top[field], &msgs); err != nil {
		return fmt.Errorf("field %q: %v", field, err)
	}
	first := -1
	for i, m := range msgs {
		if roleOf(m) == "user" {
			first = i
			break
		}
	}
	if f == FormatMessages {
		if first < 0 {
			msgs = append(msgs, marshal(map[string]any{"role": "user", "content": text}))
		} else {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(msgs[first], &m); err != nil {
				return fmt.Errorf("field \"messages[%d]\": %v", first, err)
			}
			var blocks []json.RawMessage
			var s string
			if json.Unmarshal(m["content"], &s) == nil {
				blocks = []json.RawMessage{marshal(map[string]any{"type": "text", "text": s})}
			} else if err := json.Unmarshal(m["content"], &blocks); err != nil {
				return fmt.Errorf("field \"messages[%d].content\": %v", first, err)
			}
			blocks = append(blocks, marshal(map[string]any{"type": "text", "text": text}))
			m["content"] = marshal(blocks)
			msgs[first] = marshal(m)
		}
		top[field] = marshal(msgs)
		return nil
	}
	add := marshal(map[string]any{"role": "user", "content": text})
	at := first + 1
	if first < 0 {
		at = len(msgs)
	}
	msgs = append(msgs[:at], append([]json.RawMessage{add}, msgs[at:]...)...)
	top[field] = marshal(msgs)
	return nil
}
