package otel

import (
	"bytes"
	"fmt"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Importers never lose data silently: a span member or a GenAI attribute
// of the wrong type, which the lenient readers would take as absent, is a
// warning naming the span (its id, else its name), its line and the field.

// spanMembers are the members of a span object with the JSON types they may
// hold (any of the letters: s string, n number, o object, a array).
var spanMembers = []struct{ key, types string }{
	{"name", "s"},
	{"traceId", "sn"}, {"trace_id", "sn"}, {"spanId", "sn"}, {"span_id", "sn"},
	{"parentSpanId", "sn"}, {"parent_span_id", "sn"}, {"parent_id", "sn"}, {"parentId", "sn"},
	{"kind", "sn"},
	{"startTimeUnixNano", "sn"}, {"start_time_unix_nano", "sn"}, {"start_time", "sn"}, {"startTime", "sn"},
	{"endTimeUnixNano", "sn"}, {"end_time_unix_nano", "sn"}, {"end_time", "sn"}, {"endTime", "sn"},
	{"context", "o"}, {"status", "o"}, {"events", "a"}, {"parent", "osn"},
}

func typesWant(types string) string {
	names := map[byte]string{'s': "a string", 'n': "a number", 'o': "an object", 'a': "an array"}
	out := ""
	for i := 0; i < len(types); i++ {
		switch {
		case i == 0:
		case i == len(types)-1:
			out += " or "
		default:
			out += ", "
		}
		out += names[types[i]]
	}
	return out
}

func typesHold(types string, raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' && bytes.Equal(raw, []byte("null")) {
		return true // absent
	}
	var k byte
	switch raw[0] {
	case '"':
		k = 's'
	case '{':
		k = 'o'
	case '[':
		k = 'a'
	case 't', 'f':
		k = 'b'
	default:
		k = 'n'
	}
	return bytes.IndexByte([]byte(types), k) >= 0
}

// checkSpanObject reports the members of the span object obj (at line) that
// hold a JSON type the reader cannot take (it reads them as absent).
func (s *scanner) checkSpanObject(obj map[string]json.RawMessage, line int) {
	var who string
	for _, m := range spanMembers {
		raw, ok := obj[m.key]
		if !ok || typesHold(m.types, raw) {
			continue
		}
		if who == "" {
			who = spanWho(obj)
		}
		s.warns = append(s.warns, trace.Warning{File: s.name, Line: line, Field: m.key,
			Message: fmt.Sprintf("%s: expected %s, found %s (read as absent)", who, typesWant(m.types), trace.JSONKind(raw))})
	}
}

// spanWho names a span object for a warning: its id, else its name.
func spanWho(obj map[string]json.RawMessage) string {
	if id := parseID(firstRaw(obj, "spanId", "span_id"), 16); id != "" {
		return "span " + id
	}
	if c := obj["context"]; isObject(c) {
		var ctx map[string]json.RawMessage
		if json.Unmarshal(c, &ctx) == nil {
			if id := parseID(firstRaw(ctx, "span_id", "spanId"), 16); id != "" {
				return "span " + id
			}
		}
	}
	if n := obj["name"]; isString(n) {
		return fmt.Sprintf("span %q", unquote(n))
	}
	return "span"
}

// Typed GenAI and OpenInference attributes: what the mapping reads with a
// typed getter, which takes a value of another type as absent.
var (
	intAttrs = []string{
		"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
		"gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
		"gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.cache_write.input_tokens",
		"gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
		"llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.prompt_details.cache_read",
		"llm.token_count.prompt_details.cache_write", "llm.token_count.completion_details.reasoning",
		"gen_ai.request.max_tokens", "gen_ai.request.seed", "gen_ai.request.top_k",
	}
	floatAttrs = []string{
		"gen_ai.request.temperature", "gen_ai.request.top_p",
		"gen_ai.usage.cost", "gen_ai.usage.input_cost", "gen_ai.usage.output_cost",
		"llm.cost.total", "llm.cost.prompt", "llm.cost.completion",
	}
	stringAttrs = []string{
		"gen_ai.operation.name", "gen_ai.request.model", "gen_ai.response.model", "gen_ai.response.id",
		"gen_ai.tool.name", "gen_ai.tool.call.id", "gen_ai.conversation.id", "gen_ai.agent.name", "gen_ai.agent.id",
		"llm.model_name", "tool.name", "session.id",
	}
	messageAttrs = []string{"gen_ai.input.messages", "gen_ai.output.messages"}
)

// checkAttrs reports the typed attributes of sp that hold a value of
// another type.
func (im *importer) checkAttrs(sp *Span) {
	a := attrs(sp.Attrs)
	who := "span " + sp.SpanID
	if sp.SpanID == "" {
		who = fmt.Sprintf("span %q", sp.Name)
	}
	bad := func(key, want string) {
		im.warns = append(im.warns, trace.Warning{File: im.name, Line: sp.Line, Field: "attributes." + key,
			Message: fmt.Sprintf("%s: expected %s, found %s (read as absent)", who, want, attrKind(a[key]))})
	}
	for _, k := range intAttrs {
		if _, ok := a.int(k); a.has(k) && !ok {
			bad(k, "an integer")
		}
	}
	for _, k := range floatAttrs {
		if _, ok := a.float(k); a.has(k) && !ok {
			bad(k, "a number")
		}
	}
	for _, k := range stringAttrs {
		switch a[k].(type) {
		case nil, string, int64, float64, bool:
		default:
			bad(k, "a string")
		}
	}
	for _, k := range messageAttrs {
		switch a[k].(type) {
		case int64, float64, bool:
			bad(k, "a list of messages")
		}
	}
}

// attrKind names the type of a decoded attribute value.
func attrKind(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case int64, float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case []byte:
		return "bytes"
	}
	return fmt.Sprintf("%T", v)
}
