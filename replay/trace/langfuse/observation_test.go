package langfuse

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/replay/trace"
)

func TestParams(t *testing.T) {
	tests := []struct {
		in   string
		want trace.Params
	}{
		{`{"temperature":0.7,"top_p":1,"max_tokens":512,"seed":42,"stop":["\n"]}`,
			trace.Params{Temperature: trace.Float(0.7), TopP: trace.Float(1), MaxTokens: trace.Int(512), Seed: trace.Int(42), Stop: []string{"\n"}}},
		// BeeAI and agno write strings, "null" and -1 for unset values.
		{`{"max_tokens":"null","top_p":"null","temperature":"0.7","seed":"","stop_sequences":"{\"arrayValue\":{}}","top_k":"null"}`,
			trace.Params{Temperature: trace.Float(0.7)}},
		{`{"max_tokens":-1,"maxTokens":null,"temperature":null}`, trace.Params{}},
		{`{"model":"gpt-4o-mini","stop":"[\"\\nObservation:\"]"}`, trace.Params{Model: "gpt-4o-mini", Stop: []string{"\nObservation:"}}},
		{`"{\"temperature\": 0}"`, trace.Params{Temperature: trace.Float(0)}},
		{`null`, trace.Params{}},
	}
	for _, tt := range tests {
		o := &observation{ModelParameters: json.RawMessage(tt.in)}
		if got := o.params(); !cmp.Equal(got, tt.want, cmpopts.EquateEmpty()) {
			t.Errorf("params(%s):\n%s", tt.in, cmp.Diff(tt.want, got, cmpopts.EquateEmpty()))
		}
	}
}

func TestToolDefs(t *testing.T) {
	o := &observation{ToolDefinitions: json.RawMessage(`{"zeta":"{\"description\":\"z\",\"parameters\":{\"type\":\"object\"}}","alpha":"{\"type\":\"function\",\"function\":{\"name\":\"alpha\",\"description\":\"a\"}}"}`)}
	want := []trace.ToolDef{{Name: "alpha", Description: "a"}, {Name: "zeta", Description: "z", Schema: json.RawMessage(`{"type":"object"}`)}}
	if got := toolDefs(o, nil); !cmp.Equal(got, want) {
		t.Errorf("toolDefs:\n%s", cmp.Diff(want, got))
	}
}

func TestToolResult(t *testing.T) {
	tests := []struct {
		in    string
		text  string
		raw   string
		isErr bool
	}{
		{`"done"`, "done", "", false},
		{`{"content":[{"type":"text","text":"Weather: sunny"}]}`, "Weather: sunny", "", false},
		{`{"lc":1,"type":"constructor","id":["langchain_core","messages","ToolMessage"],"kwargs":{"status":"error","content":"boom","tool_call_id":"c"}}`, "boom", "", true},
		{`{"location":"SF","temperature":64}`, "", `{"location":"SF","temperature":64}`, false},
		{`null`, "", "", false},
	}
	for _, tt := range tests {
		text, raw, isErr := toolResult(value(json.RawMessage(tt.in)))
		if text != tt.text || string(raw) != tt.raw || isErr != tt.isErr {
			t.Errorf("toolResult(%s) = %q, %s, %v; want %q, %s, %v", tt.in, text, raw, isErr, tt.text, tt.raw, tt.isErr)
		}
	}
}

// TestBigValuesKeptVerbatim: a value larger than maxParse is not parsed
// (it would take several times its size in memory) but kept as Raw.
func TestBigValuesKeptVerbatim(t *testing.T) {
	big := make([]byte, 0, maxParse+100)
	big = append(big, `{"messages":[{"role":"user","content":"`...)
	for len(big) < maxParse+10 {
		big = append(big, 'x')
	}
	big = append(big, `"}]}`...)
	msgs := parseMessages(value(big), roleUser)
	if len(msgs) != 1 || len(msgs[0].Parts) != 1 || msgs[0].Parts[0].Type != trace.PartOther || len(msgs[0].Parts[0].Raw) != len(big) {
		t.Fatalf("got %d messages; want one with the value verbatim as a Raw part", len(msgs))
	}
}
