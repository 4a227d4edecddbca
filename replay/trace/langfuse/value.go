package langfuse

import (
	"bytes"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
)

// Helpers over generic JSON values (map[string]any, []any, string,
// json.Number, bool, nil): Langfuse inputs, outputs and metadata are opaque,
// shaped by whichever framework produced them, so they are read generically.

// decodeAny decodes b into a generic value, numbers kept as json.Number so
// that values re-encoded as Raw keep their digits.
func decodeAny(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// unwrapString returns the JSON value a string holds when the string is
// itself JSON (Langfuse exports often store input, output and metadata as
// JSON-encoded strings, sometimes twice). Plain text is returned unchanged.
func unwrapString(v any) any {
	for range 3 {
		s, ok := v.(string)
		if !ok {
			return v
		}
		t := strings.TrimSpace(s)
		if len(t) < 2 {
			return v
		}
		switch {
		case t[0] == '{' && t[len(t)-1] == '}', t[0] == '[' && t[len(t)-1] == ']', t[0] == '"' && t[len(t)-1] == '"':
		default:
			return v
		}
		d, err := decodeAny([]byte(t))
		if err != nil {
			return v
		}
		v = d
	}
	return v
}

// rawOf encodes v back to JSON.
func rawOf(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// str returns m[k] when it is a string.
func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// firstStr returns the first of keys whose value is a non-empty string.
func firstStr(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s := str(m, k); s != "" {
			return s
		}
	}
	return ""
}

// num returns v as a float64: JSON numbers, and strings holding one.
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// idOf normalizes a tool call id: a string, a number, or (Microsoft Agent
// Framework) a list whose last element is the call id.
func idOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case []any:
		for i := len(x) - 1; i >= 0; i-- {
			if s := idOf(x[i]); s != "" {
				return s
			}
		}
	}
	return ""
}

// argsOf normalizes tool call arguments to JSON: a string that holds JSON is
// used as is, other strings become a JSON string, structured values are
// encoded.
func argsOf(v any) json.RawMessage {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		t := strings.TrimSpace(x)
		if t == "" {
			return nil
		}
		if json.Valid([]byte(t)) {
			var b bytes.Buffer
			if json.Compact(&b, []byte(t)) == nil {
				return b.Bytes()
			}
			return json.RawMessage(t)
		}
		return rawOf(x)
	}
	return rawOf(v)
}

// textOf renders a tool result or content value as text: strings as they
// are, lists of text blocks joined, anything else as compact JSON.
func textOf(v any) string {
	v = unwrapString(v)
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		var parts []string
		for _, e := range x {
			m := asMap(e)
			if m == nil {
				if s, ok := e.(string); ok {
					parts = append(parts, s)
					continue
				}
				return string(rawOf(v))
			}
			t, ok := m["text"].(string)
			if !ok {
				return string(rawOf(v))
			}
			parts = append(parts, t)
		}
		return strings.Join(parts, "\n")
	case map[string]any:
		// MCP CallToolResult and similar: {"content":[{type:text,text}]}.
		if c, ok := x["content"].([]any); ok && len(x) <= 3 {
			if t := textOf(c); t != "" && !strings.HasPrefix(t, "[") {
				return t
			}
		}
	}
	return string(rawOf(v))
}

// jsonEqual reports whether a and b encode the same JSON value.
func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	va, err1 := decodeAny(a)
	vb, err2 := decodeAny(b)
	if err1 != nil || err2 != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(rawOf(va), rawOf(vb))
}
