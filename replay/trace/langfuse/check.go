package langfuse

import (
	"bytes"
	"fmt"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Importers never lose data silently: a field of an observation or of the
// trace whose JSON type the reader cannot take (it reads it as absent) is a
// warning naming the line, the observation and the field.

// observationProblems returns the fields of the observation b whose types
// the reader does not take.
func observationProblems(b []byte) []trace.FieldProblem {
	if i := bytes.IndexByte(b, '{'); i > 0 {
		b = b[i:]
	}
	var o observation
	ps, err := trace.DecodeLoose(b, &o)
	if err != nil {
		return nil // not JSON: an error of its own
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return ps
	}
	for _, k := range []string{"startTime", "endTime", "completionStartTime"} {
		if raw := m[k]; !isNull(raw) && trace.JSONKind(raw) == "a string" {
			var s string
			if json.Unmarshal(raw, &s) == nil && s != "" && parseTime(s).IsZero() {
				ps = append(ps, trace.FieldProblem{Field: k, Want: "an ISO 8601 time", Got: fmt.Sprintf("%q", s)})
			}
		}
	}
	// Maps of numbers: an entry that is no number is left out of usage
	// and cost.
	for _, k := range []string{"usageDetails", "usage", "costDetails"} {
		raw := m[k]
		if isNull(raw) {
			continue
		}
		v := value(raw)
		mm, ok := v.(map[string]any)
		if !ok {
			ps = append(ps, trace.FieldProblem{Field: k, Want: "an object of numbers", Got: trace.JSONKind(raw)})
			continue
		}
		for name, x := range mm {
			if _, ok := num(x); !ok && x != nil {
				ps = append(ps, trace.FieldProblem{Field: k + "." + name, Want: "a number", Got: valueKind(x)})
			}
		}
	}
	for _, k := range []string{"totalCost", "calculatedTotalCost", "promptTokens", "completionTokens", "totalTokens"} {
		if raw := m[k]; !isNull(raw) {
			if _, ok := num(value(raw)); !ok {
				ps = append(ps, trace.FieldProblem{Field: k, Want: "a number", Got: trace.JSONKind(raw)})
			}
		}
	}
	if raw := m["modelParameters"]; !isNull(raw) {
		if _, ok := value(raw).(map[string]any); !ok {
			ps = append(ps, trace.FieldProblem{Field: "modelParameters", Want: "an object", Got: trace.JSONKind(raw)})
		}
	}
	return ps
}

// valueKind names the type of a generic value.
func valueKind(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// checkObservation warns, once per observation, about its fields of the
// wrong type.
func (d *decoder) checkObservation(i int, b []byte) {
	if d.checked == nil {
		d.checked = make([]bool, len(d.ix.entries))
	}
	if d.checked[i] {
		return
	}
	d.checked[i] = true
	ps := observationProblems(b)
	if len(ps) == 0 {
		return
	}
	line := lineAt(d.r, d.objectStart(i))
	for _, p := range ps {
		d.warnings = append(d.warnings, trace.Warning{File: d.name, Line: line, Field: p.Field,
			Message: fmt.Sprintf("observation %q: %s (read as absent)", d.ix.entries[i].ID, p)})
	}
}

// traceFieldTypes are the trace object's fields read as strings or numbers.
var traceFieldTypes = map[string]string{
	"id": "a string", "name": "a string", "timestamp": "a string", "sessionId": "a string", "userId": "a string",
	"release": "a string", "version": "a string", "environment": "a string", "tags": "an array",
	"totalCost": "a number", "latency": "a number",
}
