package export

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/replay/trace"
)

func TestOriginalOf(t *testing.T) {
	const of = "fedcba9876543210fedcba9876543210"
	replay := &trace.Run{Meta: trace.RunMeta{ID: strings.Repeat("1", 32), Replay: &trace.Origin{Of: of, Mode: "run"}}}
	derived := &Original{RunID: of, TraceID: TraceID(of), SpanID: spanIDOf(of, "", -1).String(), From: FromExport}
	orig := func(attrs map[string]string) *trace.Run {
		return &trace.Run{Meta: trace.RunMeta{ID: of, Attributes: attrs}}
	}
	tests := []struct {
		name    string
		run     *trace.Run
		orig    *trace.Run
		backend string
		want    *Original
	}{
		{"not a replay", &trace.Run{Meta: trace.RunMeta{ID: of}}, nil, FormatOTLP, nil},
		{"original not stored", replay, nil, FormatOTLP, derived},
		{"original exported by replay", replay, orig(nil), FormatLangfuse, derived},
		{"original from OTLP", replay, orig(map[string]string{"otel.trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736"}), FormatOTLP,
			&Original{RunID: of, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", From: FromOTel}},
		{"original from OTLP, with its span", replay, orig(map[string]string{"otel.trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "otel.span_id": "00f067aa0ba902b7"}), FormatOTLP,
			&Original{RunID: of, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", From: FromOTel}},
		{"original from Langfuse, to Langfuse", replay, orig(map[string]string{"langfuse.trace_id": "trace-42", "otel.trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}), FormatLangfuse,
			&Original{RunID: of, TraceID: "trace-42", From: FromLangfuse}},
		{"original from OTLP, to Langfuse (which keeps OTel ids)", replay, orig(map[string]string{"otel.trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}), FormatLangfuse,
			&Original{RunID: of, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", From: FromOTel}},
		{"Langfuse id that is an OTel id, to OTLP", replay, orig(map[string]string{"langfuse.trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}), FormatOTLP,
			&Original{RunID: of, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", From: FromLangfuse}},
		{"Langfuse id that is no OTel id, to OTLP", replay, orig(map[string]string{"langfuse.trace_id": "trace-42"}), FormatOTLP, derived},
		{"a zero OTel id is none", replay, orig(map[string]string{"otel.trace_id": strings.Repeat("0", 32)}), FormatOTLP, derived},
	}
	for _, tt := range tests {
		if got := OriginalOf(tt.run, tt.orig, tt.backend); !cmp.Equal(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	// The derived link is the agent span of the original's own export.
	spans, err := Spans(context.Background(), orig(nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := spans[len(spans)-1].SpanContext()
	if root.TraceID().String() != derived.TraceID || root.SpanID().String() != derived.SpanID {
		t.Errorf("the original's export is %s/%s, the link points at %s/%s", root.TraceID(), root.SpanID(), derived.TraceID, derived.SpanID)
	}
}

// TestStepOrderSurvives: steps without a time, or recorded out of order,
// keep their order through an export and an import (spans are ordered by
// start time).
func TestStepOrderSurvives(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	llm := func(at time.Time, model string) trace.Step {
		return trace.Step{Kind: trace.KindLLM, Time: at, LLM: &trace.LLMCall{Model: model, Output: trace.Message{Role: "assistant"}}}
	}
	tool := func(at time.Time, name string) trace.Step {
		return trace.Step{Kind: trace.KindTool, Time: at, Tool: &trace.ToolCall{Name: name, Status: trace.ToolOK}}
	}
	run := &trace.Run{Meta: trace.RunMeta{ID: strings.Repeat("ab", 16), Agent: "a"}, Steps: []trace.Step{
		llm(t0.Add(5*time.Second), "m1"), tool(time.Time{}, "T1"), llm(t0, "m2"), tool(t0.Add(time.Second), "T2"), llm(time.Time{}, "m3"),
	}, Outcome: &trace.Outcome{Status: trace.StatusOK}}
	back := load(t, exportFile(t, run, Options{}))
	var got []string
	for _, s := range back.Steps {
		if s.LLM != nil {
			got = append(got, s.LLM.Model)
		} else {
			got = append(got, s.Tool.Name)
		}
	}
	if want := []string{"m1", "T1", "m2", "T2", "m3"}; !cmp.Equal(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	// A run without any time still exports the same way twice.
	run.Steps[0].Time, run.Steps[2].Time, run.Steps[3].Time = time.Time{}, time.Time{}, time.Time{}
	if a, b := exportFile(t, run, Options{}), exportFile(t, run, Options{}); readFile(t, a) != readFile(t, b) {
		t.Error("a run without times exports differently twice")
	}
}

func TestSpansNeedARunID(t *testing.T) {
	if _, err := Spans(context.Background(), &trace.Run{}, Options{}); err == nil || !strings.Contains(err.Error(), "no store id") {
		t.Errorf("err %v", err)
	}
	if _, err := LangfuseEvents(&trace.Run{}, Options{}); err == nil {
		t.Error("no error")
	}
}

// TestIDs: ids are valid, fixed for a run and position, and differ between
// runs, positions and sub-runs.
func TestIDs(t *testing.T) {
	a, b := strings.Repeat("a", 32), strings.Repeat("b", 32)
	if TraceID(a) != TraceID(a) || TraceID(a) == TraceID(b) || len(TraceID(a)) != 32 {
		t.Error("trace ids")
	}
	seen := map[string]bool{}
	for _, key := range []string{"", "agent-1", "agent-2"} {
		for step := -1; step < 50; step++ {
			id := spanIDOf(a, key, step).String()
			if seen[id] || !spanIDOf(a, key, step).IsValid() {
				t.Fatalf("span id %s (key %q, step %d) repeats or is invalid", id, key, step)
			}
			seen[id] = true
		}
	}
	// Parts cannot run into each other: ("a1", 2) is not ("a", 12).
	if spanIDOf(a, "1", 2) == spanIDOf(a, "", 12) || eventID(a, "x", "yz") == eventID(a, "xy", "z") {
		t.Error("ids of different parts collide")
	}
	if e := eventID(a, "trace-create", TraceID(a)); len(e) != 36 || e[14] != '8' {
		t.Errorf("event id %q is not a version 8 UUID", e)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
