package otel

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
)

// attrs is a span's attribute map with typed getters that accept the
// loose typing of real exporters (numbers as strings, JSON in strings).
type attrs map[string]any

func (a attrs) has(key string) bool {
	v, ok := a[key]
	return ok && v != nil
}

// str returns a string attribute; scalars of other types are formatted.
func (a attrs) str(key string) string {
	return scalarText(a[key])
}

// first returns the first of keys whose value is a non-empty string.
func (a attrs) first(keys ...string) string {
	for _, k := range keys {
		if s := a.str(k); s != "" {
			return s
		}
	}
	return ""
}

func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return string(x)
	}
	return ""
}

// int returns an integer attribute given as an integer, an integral float or
// a decimal string.
func (a attrs) int(key string) (int64, bool) {
	switch x := a[key].(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) && math.Abs(x) < 1<<62 {
			return int64(x), true
		}
	case string:
		s := strings.TrimSpace(x)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<62 {
			return int64(f), true
		}
	}
	return 0, false
}

// firstInt returns the first of keys holding an integer.
func (a attrs) firstInt(keys ...string) (int64, bool) {
	for _, k := range keys {
		if n, ok := a.int(k); ok {
			return n, true
		}
	}
	return 0, false
}

func (a attrs) float(key string) (float64, bool) {
	switch x := a[key].(type) {
	case int64:
		return float64(x), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, false
		}
		return x, true
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	return 0, false
}

func (a attrs) bool(key string) bool {
	switch x := a[key].(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	case int64:
		return x != 0
	}
	return false
}

// strings returns a string list attribute: an array, a JSON array in a
// string, or a single string.
func (a attrs) strings(key string) []string {
	switch x := a[key].(type) {
	case []any:
		var out []string
		for _, e := range x {
			if s := scalarText(e); s != "" {
				out = append(out, s)
			}
		}
		return out
	case string:
		t := strings.TrimSpace(x)
		if strings.HasPrefix(t, "[") {
			var l []string
			if json.Unmarshal([]byte(t), &l) == nil {
				return l
			}
		}
		if t != "" {
			return []string{x}
		}
	}
	return nil
}

// rawJSON returns an attribute as JSON bytes: a string that holds JSON is
// returned as is, structured values are encoded. ok is false when the
// attribute is absent, or is a string that is not JSON.
func (a attrs) rawJSON(key string) ([]byte, bool) {
	return valueJSON(a[key])
}

func valueJSON(v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		t := strings.TrimSpace(x)
		if t == "" || !json.Valid([]byte(t)) {
			return nil, false
		}
		return []byte(t), true
	case []byte:
		if json.Valid(x) {
			return x, true
		}
		return nil, false
	}
	b, err := json.Marshal(jsonable(v, 0))
	if err != nil {
		return nil, false
	}
	return b, true
}

// jsonable replaces values encoding/json cannot encode (NaN, ±Inf, []byte
// as base64 is fine) so Marshal never fails on attribute values.
func jsonable(v any, depth int) any {
	if depth > maxDepth {
		return nil
	}
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = jsonable(x[i], depth+1)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e, depth+1)
		}
		return out
	}
	return v
}

// argsJSON turns tool-call arguments into JSON: a JSON text is kept
// (compacted), any other text becomes a JSON string, structured values are
// encoded.
func argsJSON(v any) stdjson.RawMessage {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		t := strings.TrimSpace(x)
		if t == "" {
			return nil
		}
		if json.Valid([]byte(t)) {
			return compact([]byte(t))
		}
		b, _ := json.Marshal(x)
		return b
	}
	b, ok := valueJSON(v)
	if !ok {
		return nil
	}
	return compact(b)
}

// rawArgs is argsJSON for JSON bytes from a decoded message: a JSON string
// that holds JSON is unwrapped (OpenAI sends arguments as a string).
func rawArgs(raw []byte) stdjson.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		return argsJSON(unquote(raw))
	}
	return compact(raw)
}

func compact(b []byte) stdjson.RawMessage {
	var buf bytes.Buffer
	if stdjson.Compact(&buf, b) != nil {
		return stdjson.RawMessage(b)
	}
	return buf.Bytes()
}

// text renders an attribute as text: strings as they are, structured
// values as compact JSON.
func (a attrs) text(key string) (string, bool) {
	v, ok := a[key]
	if !ok || v == nil {
		return "", false
	}
	return valueText(v), true
}

func valueText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64, float64, bool:
		return scalarText(x)
	case []byte:
		return string(x)
	}
	b, ok := valueJSON(v)
	if !ok {
		return fmt.Sprint(v)
	}
	return string(b)
}

// flat is a group of flattened attributes under one index, with the prefix
// removed: for "llm.input_messages.3.message.role" under prefix
// "llm.input_messages.", the group 3 holds "message.role".
type flat map[string]any

// indexed groups the attributes named prefix+N+"."+rest by N, in order of N.
func indexed(a map[string]any, prefix string) []flat {
	groups := map[int]flat{}
	for k, v := range a {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		num, sub, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > 1<<20 {
			continue
		}
		g := groups[n]
		if g == nil {
			g = flat{}
			groups[n] = g
		}
		g[sub] = v
	}
	if len(groups) == 0 {
		return nil
	}
	keys := make([]int, 0, len(groups))
	for n := range groups {
		keys = append(keys, n)
	}
	sort.Ints(keys)
	out := make([]flat, 0, len(keys))
	for _, n := range keys {
		out = append(out, groups[n])
	}
	return out
}

func (f flat) str(key string) string { return attrs(f).str(key) }

func (f flat) list(prefix string) []flat { return indexed(f, prefix) }

// hasPrefix reports whether any attribute key starts with prefix.
func hasPrefix(a map[string]any, prefix string) bool {
	for k := range a {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
