package replay

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

func runWith(final string, tools ...*trace.ToolCall) *trace.Run {
	r := &trace.Run{Outcome: &trace.Outcome{Status: trace.StatusOK, Final: final}}
	for _, t := range tools {
		r.Steps = append(r.Steps, trace.Step{Kind: trace.KindTool, Tool: t})
	}
	return r
}

func write(path, content string) *trace.ToolCall {
	b, _ := json.Marshal(map[string]string{"file_path": path, "content": content})
	return &trace.ToolCall{Name: "Write", Arguments: b, Status: trace.ToolOK}
}

func TestExtractDecision(t *testing.T) {
	review := `{"action":"request-changes","pr_number":42,"findings":[]}`
	tests := []struct {
		name     string
		run      *trace.Run
		spec     DecisionSpec
		read     func(string) ([]byte, error)
		kind     string
		source   string
		wantNone bool
	}{
		{"result file written by the agent", runWith("done", write("/sandbox/workspace/output/review-result.json", review)), "auto", nil, "review", "file /sandbox/workspace/output/review-result.json", false},
		{"the file as it is at the end wins over what Write wrote", runWith("done", write("/w/output/r.json", `{"action":"approve"}`)), "auto",
			func(string) ([]byte, error) { return []byte(review), nil }, "review", "file /w/output/r.json", false},
		{"unreadable file falls back to the Write content", runWith("done", write("/w/output/r.json", review)), "auto",
			func(string) ([]byte, error) { return nil, errors.New("gone") }, "review", "file /w/output/r.json", false},
		{"fenced JSON in the final message", runWith("Verdict:\n```json\n" + review + "\n```\nthanks"), "auto", nil, "review", "final message", false},
		{"bare JSON at the end of the final message", runWith(`I approve. {"action":"approve","findings":[{"a":{"b":1}}]}`), "final", nil, "review", "final message", false},
		{"another object is a decision without a kind", runWith(`{"label":"bug"}`), "auto", nil, "", "final message", false},
		{"no JSON", runWith("looks good to me"), "auto", nil, "", "", true},
		{"file glob on the base name", runWith("", write("/w/out/triage.json", `{"label":"bug"}`), write("/w/other.json", `{"x":1}`)), "file:triage*.json", nil, "", "file /w/out/triage.json", false},
		{"named tool call", runWith("", &trace.ToolCall{Name: "submit_review", Arguments: json.RawMessage(review), Status: trace.ToolOK}), "tool:submit_review", nil, "review", "tool call submit_review", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ExtractDecision(tt.run, tt.spec, tt.read)
			if tt.wantNone {
				if d != nil {
					t.Fatalf("got %+v, want none", d)
				}
				return
			}
			if d == nil || d.Kind != tt.kind || d.Source != tt.source || !json.Valid(d.Value) {
				t.Fatalf("got %+v, want kind %q from %q", d, tt.kind, tt.source)
			}
		})
	}
}

func TestParseDecisionSpec(t *testing.T) {
	for _, ok := range []string{"", "auto", "final", "file:*.json", "tool:submit"} {
		if _, err := ParseDecisionSpec(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"file:", "file:[", "json", "tool:"} {
		if _, err := ParseDecisionSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
