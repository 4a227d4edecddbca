package proxy

import (
	"regexp"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// A normalized request is text, one item a line or block, independent of
// the wire format: what recorded mode compares and what a divergence's diff
// shows.
//
//	system:
//	  <system prompt>
//	tools: Read, Bash
//	user:
//	  <text>
//	assistant:
//	  <text>
//	  tool_call Read {"file_path":"a.go"}
//	tool_result:
//	  <text>
//	tool_result (error):
//	  <text>
//
// Left out: ids (tool call ids, message ids), cache_control markers, the
// model and parameters, reasoning (formats differ on sending it back), the
// wire format. Timestamps and UUIDs inside texts are replaced by <time> and
// <uuid>. Consecutive entries of one role are one block whatever message
// they came in (Anthropic puts tool results in user messages, OpenAI in
// tool messages; Responses has one item per call).

var (
	timestampRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?`)
	uuidRE      = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
)

func normText(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if strings.IndexByte(s, '-') >= 0 {
		s = timestampRE.ReplaceAllString(s, "<time>")
		s = uuidRE.ReplaceAllString(s, "<uuid>")
	}
	return s
}

// normArgs renders tool call arguments canonically (keys sorted, compact).
func normArgs(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	if s, ok := v.(string); ok { // arguments sent as a JSON string of JSON
		var inner any
		if json.Unmarshal([]byte(s), &inner) == nil {
			v = inner
		}
	}
	b, err := json.MarshalNoEscape(v)
	if err != nil {
		return string(raw)
	}
	return string(b)
}

type normOptions struct {
	system bool // compare the system prompt
	tools  bool // compare the tool names
}

// normalize renders a request in the normalized form.
func normalize(system string, msgs []trace.Message, tools []trace.ToolDef, o normOptions) string {
	var b strings.Builder
	if o.system {
		block(&b, "system", normText(system))
	}
	if o.tools {
		names := make([]string, len(tools))
		for i, t := range tools {
			names[i] = t.Name
		}
		b.WriteString("tools: " + strings.Join(names, ", ") + "\n")
	}
	head := ""
	for _, m := range msgs {
		role := strings.ToLower(m.Role)
		for _, p := range m.Parts {
			var h, line string
			switch p.Type {
			case trace.PartText:
				t := normText(p.Text)
				if t == "" {
					continue
				}
				h, line = role+":", t
			case trace.PartToolCall:
				h, line = "assistant:", "tool_call "+p.Name+" "+normArgs(p.Arguments)
			case trace.PartToolResult:
				h = "tool_result:"
				if p.IsError {
					h = "tool_result (error):"
				}
				line = normText(p.Text)
				if line == "" {
					line = "(empty)"
				}
			case trace.PartImage:
				h, line = role+":", "[image]"
			case trace.PartReasoning:
				continue
			default:
				h, line = role+":", "[other "+otherType(p.Raw)+"]"
			}
			// every tool result is its own block: two results of one turn
			// stay apart.
			if h != head || strings.HasPrefix(h, "tool_result") {
				b.WriteString(h + "\n")
				head = h
			}
			b.WriteString("  " + strings.ReplaceAll(line, "\n", "\n  ") + "\n")
		}
	}
	return b.String()
}

func block(b *strings.Builder, head, text string) {
	b.WriteString(head + ":\n")
	if text != "" {
		b.WriteString("  " + strings.ReplaceAll(text, "\n", "\n  ") + "\n")
	}
}

func otherType(raw json.RawMessage) string {
	var h struct {
		Type string `json:"type"`
	}
	json.Unmarshal(raw, &h)
	if h.Type == "" {
		return "part"
	}
	return h.Type
}

// firstDifference describes the first line where the normalized requests
// differ.
func firstDifference(recorded, got string) string {
	rl := strings.Split(recorded, "\n")
	gl := strings.Split(got, "\n")
	section := ""
	for i := 0; ; i++ {
		if i < len(rl) && i < len(gl) && rl[i] == gl[i] {
			if !strings.HasPrefix(rl[i], "  ") {
				section = strings.TrimSuffix(rl[i], ":")
			}
			continue
		}
		switch {
		case i >= len(rl) || (i == len(rl)-1 && rl[i] == ""):
			return "the request has more than the recorded one: " + quoteLine(gl, i)
		case i >= len(gl) || (i == len(gl)-1 && gl[i] == ""):
			return "the request lacks part of the recorded one: " + quoteLine(rl, i)
		}
		where := "line " + itoa(i+1)
		if section != "" && strings.HasPrefix(rl[i], "  ") {
			where = "in " + section + ", line " + itoa(i+1)
		}
		return where + ": recorded " + quote(strings.TrimSpace(rl[i])) + ", got " + quote(strings.TrimSpace(gl[i]))
	}
}

func quoteLine(lines []string, i int) string {
	if i < len(lines) {
		return quote(strings.TrimSpace(lines[i]))
	}
	return `""`
}

func quote(s string) string {
	b, _ := json.MarshalNoEscape(clip(s, 120))
	return string(b)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// diffText is the unified diff of the normalized requests.
func diffText(recorded, got string) string {
	return udiff.Unified("recorded", "request", recorded, got)
}
