package otel

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// Attribute values. Span.Attrs, SpanEvent.Attrs and Span.Resource hold Go
// values of these types only, whatever the input encoding:
//
//	string, int64, float64, bool, []byte (OTLP bytesValue), []any (arrays),
//	map[string]any (OTLP kvlistValue, nested objects of plain attribute maps),
//	nil (JSON null).
//
// Integers that do not fit int64 become float64.

// wireKV is one OTLP KeyValue.
type wireKV struct {
	Key   string       `json:"key"`
	Value wireAnyValue `json:"value"`
}

// wireAnyValue is an OTLP AnyValue in either JSON field-name style
// (lowerCamelCase as the spec says, snake_case as protobuf also accepts).
type wireAnyValue struct {
	StringValue  *string         `json:"stringValue"`
	StringValue2 *string         `json:"string_value"`
	IntValue     json.RawMessage `json:"intValue"`
	IntValue2    json.RawMessage `json:"int_value"`
	DoubleValue  json.RawMessage `json:"doubleValue"`
	DoubleValue2 json.RawMessage `json:"double_value"`
	BoolValue    json.RawMessage `json:"boolValue"`
	BoolValue2   json.RawMessage `json:"bool_value"`
	ArrayValue   *wireArray      `json:"arrayValue"`
	ArrayValue2  *wireArray      `json:"array_value"`
	KvlistValue  *wireKVList     `json:"kvlistValue"`
	KvlistValue2 *wireKVList     `json:"kvlist_value"`
	BytesValue   *string         `json:"bytesValue"`
	BytesValue2  *string         `json:"bytes_value"`
}

type wireArray struct {
	Values []wireAnyValue `json:"values"`
}

type wireKVList struct {
	Values []wireKV `json:"values"`
}

// maxDepth bounds the nesting of attribute values we convert, so hostile
// input cannot exhaust the stack.
const maxDepth = 64

func (v *wireAnyValue) value(depth int) any {
	if depth > maxDepth {
		return nil
	}
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.StringValue2 != nil:
		return *v.StringValue2
	case len(v.IntValue) > 0:
		return intish(v.IntValue)
	case len(v.IntValue2) > 0:
		return intish(v.IntValue2)
	case len(v.DoubleValue) > 0:
		return floatish(v.DoubleValue)
	case len(v.DoubleValue2) > 0:
		return floatish(v.DoubleValue2)
	case len(v.BoolValue) > 0:
		return boolish(v.BoolValue)
	case len(v.BoolValue2) > 0:
		return boolish(v.BoolValue2)
	case v.ArrayValue != nil || v.ArrayValue2 != nil:
		a := v.ArrayValue
		if a == nil {
			a = v.ArrayValue2
		}
		out := make([]any, 0, len(a.Values))
		for i := range a.Values {
			out = append(out, a.Values[i].value(depth+1))
		}
		return out
	case v.KvlistValue != nil || v.KvlistValue2 != nil:
		l := v.KvlistValue
		if l == nil {
			l = v.KvlistValue2
		}
		out := make(map[string]any, len(l.Values))
		for i := range l.Values {
			out[l.Values[i].Key] = l.Values[i].Value.value(depth + 1)
		}
		return out
	case v.BytesValue != nil || v.BytesValue2 != nil:
		s := v.BytesValue
		if s == nil {
			s = v.BytesValue2
		}
		if b, err := base64.StdEncoding.DecodeString(*s); err == nil {
			return b
		}
		return *s
	}
	return nil
}

// kvAttrs converts an OTLP attribute list.
func kvAttrs(kvs []wireKV) map[string]any {
	m := make(map[string]any, len(kvs))
	for i := range kvs {
		m[kvs[i].Key] = kvs[i].Value.value(0)
	}
	return m
}

// liteKey reports whether the importers' first pass reads an attribute;
// the others only need to be known present (see liteValue).
func liteKey(k string) bool {
	switch k {
	case "gen_ai.operation.name", "openinference.span.kind", "llm.request.type",
		"gen_ai.agent.name", "agent.name", "fullsend.agent", "iteration",
		"gen_ai.tool.name", "tool.name", "tool_call.function.name", "gen_ai.tool.call.id", "tool_call.id",
		"gen_ai.tool.description", "tool.description", "gen_ai.conversation.id", "session.id":
		return true
	}
	return false
}

// present stands for an attribute value the first pass did not decode.
type present struct{}

// liteValue keeps the JSON of a small value and only notes a large one, so
// that the first pass neither unescapes nor copies message contents.
type liteValue struct {
	raw []byte
	big bool
}

const liteMax = 512

func (v *liteValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > liteMax && b[0] != '{' {
		v.big = true
		return nil
	}
	v.raw = append([]byte(nil), b...)
	return nil
}

type liteKV struct {
	Key   string    `json:"key"`
	Value liteValue `json:"value"`
}

// decodeLiteAttrs is decodeAttrs for the first pass: the keys liteKey
// accepts are decoded, the others become present{}. Objects of plain attribute
// maps are still flattened, as their keys matter.
func decodeLiteAttrs(raw []byte) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	switch raw[0] {
	case '[':
		var kvs []liteKV
		if err := json.Unmarshal(raw, &kvs); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(kvs))
		for i := range kvs {
			kv := &kvs[i]
			if !liteKey(kv.Key) || kv.Value.big {
				m[kv.Key] = present{}
				continue
			}
			var v wireAnyValue
			if err := json.Unmarshal(kv.Value.raw, &v); err != nil {
				return nil, err
			}
			m[kv.Key] = v.value(0)
		}
		return m, nil
	case '{':
		var obj map[string]liteValue
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(obj))
		for k, v := range obj {
			switch {
			case v.big:
				m[k] = present{}
			case len(v.raw) > 0 && v.raw[0] == '{':
				if o, ok := plainValue(v.raw, 0).(map[string]any); ok {
					flattenInto(m, k, o, 0)
				}
			case liteKey(k):
				m[k] = plainValue(v.raw, 0)
			default:
				m[k] = present{}
			}
		}
		return m, nil
	}
	return nil, errors.New("attributes are neither a list nor an object")
}

// decodeAttrs decodes attributes in either form: an OTLP KeyValue list or a
// plain JSON object (SDK dumps, bare attribute maps).
func decodeAttrs(raw []byte) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	switch raw[0] {
	case '[':
		var kvs []wireKV
		if err := json.Unmarshal(raw, &kvs); err != nil {
			return nil, err
		}
		return kvAttrs(kvs), nil
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, err
		}
		return plainAttrs(obj), nil
	}
	return nil, errors.New("attributes are neither a list nor an object")
}

// plainAttrs converts a plain attribute object. OTel attributes cannot hold
// objects, so nested objects are flattened into dotted keys, and lists of
// objects inside them into indexed keys: Phoenix exports nest OpenInference
// attributes ({"llm":{"input_messages":[{"message":{…}}]}}), which become
// llm.input_messages.0.message.…, the flat form the mapping reads.
// Top-level lists are kept as lists.
func plainAttrs(obj map[string]json.RawMessage) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		val := plainValue(v, 0)
		if m, ok := val.(map[string]any); ok {
			flattenInto(out, k, m, 0)
			continue
		}
		out[k] = val
	}
	return out
}

func flattenInto(out map[string]any, prefix string, m map[string]any, depth int) {
	if depth > maxDepth {
		return
	}
	for k, v := range m {
		key := prefix + "." + k
		switch x := v.(type) {
		case map[string]any:
			flattenInto(out, key, x, depth+1)
		case []any:
			if !allMaps(x) {
				out[key] = x
				continue
			}
			for i, e := range x {
				flattenInto(out, key+"."+strconv.Itoa(i), e.(map[string]any), depth+1)
			}
		default:
			out[key] = v
		}
	}
}

func allMaps(l []any) bool {
	for _, e := range l {
		if _, ok := e.(map[string]any); !ok {
			return false
		}
	}
	return len(l) > 0
}

func plainObject(obj map[string]json.RawMessage, depth int) map[string]any {
	m := make(map[string]any, len(obj))
	for k, v := range obj {
		m[k] = plainValue(v, depth)
	}
	return m
}

// plainValue converts a JSON value to an attribute value (see above).
func plainValue(raw []byte, depth int) any {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || depth > maxDepth {
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return nil
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return nil
	case '[':
		var a []json.RawMessage
		if json.Unmarshal(raw, &a) != nil {
			return nil
		}
		out := make([]any, 0, len(a))
		for _, e := range a {
			out = append(out, plainValue(e, depth+1))
		}
		return out
	case '{':
		var o map[string]json.RawMessage
		if json.Unmarshal(raw, &o) != nil {
			return nil
		}
		return plainObject(o, depth+1)
	}
	return number(string(raw))
}

// number parses a JSON number literal: int64 when it is an integer that
// fits, else float64; nil when it is not a number.
func number(s string) any {
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return nil
}

// intish decodes an OTLP intValue: a decimal string (the spec) or a number.
func intish(raw []byte) any {
	s := unquote(raw)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if v := number(s); v != nil {
		return v
	}
	return s
}

// floatish decodes an OTLP doubleValue: a number, or a string such as "NaN"
// or "Infinity" (proto3 JSON).
func floatish(raw []byte) any {
	s := unquote(raw)
	switch s {
	case "NaN":
		return math.NaN()
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}

func boolish(raw []byte) any {
	switch unquote(raw) {
	case "true":
		return true
	case "false":
		return false
	}
	return nil
}

// unquote returns the text of a JSON scalar: a string's content, or the
// literal itself.
func unquote(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 &&
		bytes.IndexByte(raw[1:len(raw)-1], '"') < 0 {
		return string(raw[1 : len(raw)-1]) // nothing to unescape
	}
	if len(raw) >= 2 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// parseID turns a trace or span id into lowercase hex of width hex digits.
// It accepts hex (the OTLP/JSON spec), base64 (some exporters), "0x" hex
// strings and decimal integers (Python SDK dumps), possibly wider than 64
// bits. null and empty give "".
func parseID(raw []byte, width int) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] != '"' {
		// A JSON number: decimal, up to 128 bits.
		n, ok := new(big.Int).SetString(string(raw), 10)
		if !ok || n.Sign() < 0 {
			return strings.ToLower(string(raw))
		}
		return padHex(n.Text(16), width)
	}
	return idString(unquote(raw), width)
}

func idString(s string, width int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return padHex(strings.ToLower(s[2:]), width)
	}
	if len(s) == width && isHex(s) {
		return strings.ToLower(s)
	}
	// base64 of 16 (trace) or 8 (span) bytes: 24 or 12 characters.
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b)*2 == width {
			return hex.EncodeToString(b)
		}
	}
	if isDigits(s) && len(s) > width {
		// Too long for hex of this width: a decimal integer.
		if n, ok := new(big.Int).SetString(s, 10); ok {
			return padHex(n.Text(16), width)
		}
	}
	if isHex(s) {
		return padHex(strings.ToLower(s), width)
	}
	return s
}

func padHex(s string, width int) string {
	if len(s) < width {
		return strings.Repeat("0", width-len(s)) + s
	}
	return s
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseNanos reads an OTLP *UnixNano field: nanoseconds since the epoch as
// a decimal string (the spec) or a number.
func parseNanos(raw []byte) time.Time {
	s := unquote(raw)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return time.Time{}
		}
		return time.Unix(0, n).UTC()
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil && u > 0 {
		return time.Unix(0, int64(u>>1)).UTC() // beyond 2262: keep it ordered
	}
	return parseTime(raw)
}

// parseTime reads a timestamp of an SDK dump: an ISO 8601 string (Python
// to_json), or a number of nanoseconds since the epoch (any-agent). Smaller
// numbers are taken as micro-, milli- or plain seconds by magnitude.
func parseTime(raw []byte) time.Time {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}
	}
	s := unquote(raw)
	if s == "" {
		return time.Time{}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return epoch(float64(n), n)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}
		}
		return epoch(f, 0)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// epoch interprets a number of nanoseconds, microseconds, milliseconds or
// seconds since 1970 by its magnitude; exact holds the integer when known.
func epoch(f float64, exact int64) time.Time {
	switch {
	case f <= 0:
		return time.Time{}
	case f >= 1e17:
		if exact != 0 {
			return time.Unix(0, exact).UTC()
		}
		return time.Unix(0, int64(f)).UTC()
	case f >= 1e14:
		return time.Unix(0, int64(f*1e3)).UTC()
	case f >= 1e11:
		return time.Unix(0, int64(f*1e6)).UTC()
	case f < 1e11:
		return time.Unix(0, int64(f*1e9)).UTC()
	}
	return time.Time{}
}

// Span kinds (OTLP SpanKind).
const (
	KindUnspecified = 0
	KindInternal    = 1
	KindServer      = 2
	KindClient      = 3
	KindProducer    = 4
	KindConsumer    = 5
)

func parseKind(raw []byte) int {
	s := strings.ToLower(unquote(raw))
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 5 {
		return n
	}
	s = strings.TrimPrefix(s, "span_kind_")
	s = strings.TrimPrefix(s, "spankind.")
	switch s {
	case "internal":
		return KindInternal
	case "server":
		return KindServer
	case "client":
		return KindClient
	case "producer":
		return KindProducer
	case "consumer":
		return KindConsumer
	}
	return KindUnspecified
}

// Span status codes (OTLP StatusCode).
const (
	StatusUnset = 0
	StatusOK    = 1
	StatusError = 2
)

func parseStatusCode(raw []byte) int {
	s := strings.ToLower(unquote(raw))
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 2 {
		return n
	}
	s = strings.TrimPrefix(s, "status_code_")
	s = strings.TrimPrefix(s, "statuscode.")
	switch s {
	case "ok":
		return StatusOK
	case "error":
		return StatusError
	}
	return StatusUnset
}
