package otel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/replay/trace"
)

// formatOf picks the format whose Detect accepts path, otel-spans when
// neither does (both formats read every shape; names and Detect differ).
func formatOf(t *testing.T, path string) trace.Format {
	t.Helper()
	head, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(head) > trace.HeadSize {
		head = head[:trace.HeadSize]
	}
	if (OTLP{}).Detect(&trace.Source{Path: path, Head: head}) {
		return OTLP{}
	}
	return Spans{}
}

// load imports path with the format that detects it.
func load(t *testing.T, path string, opts trace.Options) (*trace.Run, error) {
	t.Helper()
	src := &trace.Source{Path: path}
	f := formatOf(t, path)
	return trace.Collect(func(e trace.Emitter) error { return f.Import(context.Background(), src, opts, e) })
}

func mustLoad(t *testing.T, path string) *trace.Run {
	t.Helper()
	r, err := load(t, path, trace.Options{})
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return r
}

// loadHeld imports data as a stream that cannot be read twice (a pipe), so
// every span is kept in memory instead of being read again.
func loadHeld(t *testing.T, name string, data []byte) (*trace.Run, error) {
	t.Helper()
	return trace.Collect(func(e trace.Emitter) error {
		return importSpans(context.Background(), bytes.NewReader(data), nil, name, formatOf(t, name).Name(), trace.Options{}, e)
	})
}

// view is the part of `replay inspect` these tests check.
type view struct {
	LLMCalls   int
	Tools      map[string]int
	Tokens     trace.Usage
	Cost       *float64
	Models     []string
	Agent      string
	Session    string
	Runs       int
	Status     string
	Final      string
	Warnings   int
	Replayable bool
}

func viewOf(r *trace.Run) view {
	s := trace.Summarize(r, nil)
	v := view{LLMCalls: s.LLMCalls, Tools: s.Tools, Tokens: s.Tokens, Cost: s.Cost.Recorded, Models: s.Models, Agent: s.Agent,
		Session: s.Session, Runs: s.Runs, Status: s.Status, Warnings: len(s.Warnings), Replayable: s.Replay.OK}
	if r.Outcome != nil {
		v.Final = r.Outcome.Final
	}
	return v
}

var approx = cmpopts.EquateApprox(0, 1e-12)

// The expectations were derived by hand from the generator of each fixture
// (the values written into the spans), not from the importer's output.
func TestImportFixtures(t *testing.T) {
	tests := []struct {
		file string
		want view
	}{
		{"otlp_agent.jsonl", view{
			LLMCalls: 4, Tools: map[string]int{"read_file": 1, "delegate": 1},
			// input: (1200-1000) + (1300-1200) + 300 + (1400-1300); output 50+20+5+3;
			// cache_read 1000+1200+1300; reasoning 10 (part of output).
			Tokens: trace.Usage{Input: 700, Output: 78, CacheRead: 3500, Reasoning: 10},
			Models: []string{"gpt-4.1-2025-04-14", "gpt-4.1"}, Agent: "reviewer", Session: "conv-42", Runs: 2,
			Status: "ok", Final: "LGTM", Warnings: 1, Replayable: true}},
		{"otlp_base64.json", view{
			LLMCalls: 1, Tools: map[string]int{"ls": 1},
			// input 40 is below cache_read+cache_creation (1000): it excludes them.
			Tokens: trace.Usage{Input: 40, Output: 12, CacheRead: 100, CacheWrite: 900},
			Models: []string{"claude-sonnet-4-5"}, Agent: "helper", Runs: 1, Status: "error", Replayable: true}},
		{"sdk_flat_prompts.json", view{
			LLMCalls: 2, Tools: map[string]int{"calc": 1}, Tokens: trace.Usage{Input: 90, Output: 12},
			Models: []string{"gpt-4o-2024-08-06"}, Runs: 1, Status: "ok", Final: "4, and 6.", Replayable: true}},
		{"console_events.json", view{
			LLMCalls: 2, Tools: map[string]int{}, Tokens: trace.Usage{Input: 65, Output: 13},
			Models: []string{"gpt-4o"}, Runs: 1, Status: "ok", Final: "Hi again!", Replayable: true}},
		{"openinference_spans.jsonl", view{
			LLMCalls: 2, Tools: map[string]int{"add_label": 1},
			// prompt 500 includes cache_read 300 and cache_write 100.
			Tokens: trace.Usage{Input: 700, Output: 28, CacheRead: 300, CacheWrite: 100},
			Cost:   trace.Float(0.0012 + 0.001 + 0.0001), Models: []string{"gpt-4o-mini"}, Agent: "triager", Session: "sess-9",
			Runs: 1, Status: "ok", Final: "Labeled as bug.", Replayable: true}},
		{"two_traces.jsonl", view{
			LLMCalls: 2, Tools: map[string]int{}, Tokens: trace.Usage{Input: 16, Output: 2},
			Models: []string{"m"}, Runs: 1, Status: "ok", Final: "second b", Warnings: 1, Replayable: true}},
		{"factory_failed.jsonl", view{
			Tools: map[string]int{},
			// Anthropic convention: 11+4 input, 1505+40 output, 109938+900 read, 38832+200 written.
			Tokens: trace.Usage{Input: 15, Output: 1545, CacheRead: 110838, CacheWrite: 39032},
			Cost:   trace.Float(0.39), Models: []string{"claude-opus-4-6"}, Agent: "review", Runs: 1, Status: "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := mustLoad(t, filepath.Join("testdata", tt.file))
			if diff := cmp.Diff(tt.want, viewOf(r), approx); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if r.Meta.Format != formatOf(t, filepath.Join("testdata", tt.file)).Name() || r.Meta.Source == "" {
				t.Errorf("main run format %q source %q", r.Meta.Format, r.Meta.Source)
			}
		})
	}
}

func kinds(r *trace.Run) []string {
	var k []string
	for _, s := range r.Steps {
		k = append(k, s.Kind)
	}
	return k
}

func TestImportAgentTree(t *testing.T) {
	r := mustLoad(t, filepath.Join("testdata", "otlp_agent.jsonl"))
	if r.Meta.Format != NameOTLP || r.Meta.Generator != "opentelemetry.instrumentation.openai_v2 2.1b0" {
		t.Errorf("format %q generator %q", r.Meta.Format, r.Meta.Generator)
	}

	// The first request's user message comes first, so that a replay can
	// start from the steps alone; steps follow start times across lines.
	want := []string{"message", "llm", "tool", "llm", "tool", "llm"}
	if diff := cmp.Diff(want, kinds(r)); diff != "" {
		t.Fatalf("main steps (-want +got):\n%s", diff)
	}
	if got := r.Steps[0].Message.Text(); got != "Review PR 42" {
		t.Errorf("first message %q", got)
	}
	if r.Meta.Instr.System != "You review pull requests." {
		t.Errorf("system %q", r.Meta.Instr.System)
	}
	if len(r.Meta.Instr.Tools) != 2 || r.Meta.Instr.Tools[0].Name != "read_file" || r.Meta.Instr.Tools[0].Description != "Read a file" ||
		string(r.Meta.Instr.Tools[0].Schema) != `{"type":"object","properties":{"path":{"type":"string"}}}` {
		t.Errorf("tools %+v", r.Meta.Instr.Tools)
	}
	if d := r.Meta.Defaults; d.Model != "gpt-4.1" || d.Temperature == nil || *d.Temperature != 0.2 || d.MaxTokens == nil || *d.MaxTokens != 1024 {
		t.Errorf("defaults %+v", d)
	}

	first := r.Steps[1].LLM
	if first.InputMode != "full" || len(first.Input) != 2 || first.Input[0].Role != "system" || first.ID != "chatcmpl-1" || first.StopReason != "tool_calls" {
		t.Errorf("first call: mode %q, %d input messages, id %q, stop %q", first.InputMode, len(first.Input), first.ID, first.StopReason)
	}
	if diff := cmp.Diff(&trace.Usage{Input: 200, Output: 50, CacheRead: 1000, Reasoning: 10}, first.Usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
	if first.LatencyMS != 1000 || !r.Steps[1].Time.Equal(t0.Add(1e9)) {
		t.Errorf("latency %d time %v", first.LatencyMS, r.Steps[1].Time)
	}
	if last := r.Steps[5].LLM; last.InputMode != "" || last.Input != nil {
		t.Errorf("a call without recorded input has mode %q", last.InputMode)
	}

	// The sub-agent started by the delegate tool call.
	delegate := r.Steps[4].Tool
	if len(r.Children) != 1 {
		t.Fatalf("%d children", len(r.Children))
	}
	child := r.Children[0]
	if delegate.Name != "delegate" || delegate.Child != child.Meta.Key || child.Meta.Key != "f0000000000000f1" {
		t.Errorf("tool %q child %q, child key %q", delegate.Name, delegate.Child, child.Meta.Key)
	}
	if child.Meta.ParentCall != "call_2" || child.Meta.Parent != "" || child.Meta.Agent != "security" || child.Meta.Instr.System != "You check security." {
		t.Errorf("child meta %+v", child.Meta)
	}
	if diff := cmp.Diff([]string{"message", "llm"}, kinds(child)); diff != "" {
		t.Errorf("child steps (-want +got):\n%s", diff)
	}
	if child.Outcome == nil || child.Outcome.Final != "no issues" {
		t.Errorf("child outcome %+v", child.Outcome)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].Message, `operation "embeddings"`) || r.Warnings[0].Line != 2 {
		t.Errorf("warnings %v", r.Warnings)
	}
}

func TestImportLinksToolSpansToCalls(t *testing.T) {
	r := mustLoad(t, filepath.Join("testdata", "otlp_base64.json"))
	// The ls span has neither call id nor arguments: both come from the
	// model's tool_call part it answers. Its error status and exception
	// event make a failed tool call.
	var tool *trace.ToolCall
	for _, s := range r.Steps {
		if s.Tool != nil {
			tool = s.Tool
		}
	}
	want := &trace.ToolCall{CallID: "toolu_1", Name: "ls", Arguments: json.RawMessage(`{"dir":"."}`), Status: trace.ToolError,
		Output: "permission denied", DurationMS: 100}
	if diff := cmp.Diff(want, tool); diff != "" {
		t.Errorf("tool (-want +got):\n%s", diff)
	}
	if r.Outcome.Status != trace.StatusError || r.Outcome.Error != "tool failed" {
		t.Errorf("outcome %+v", r.Outcome)
	}
	// gen_ai.input.messages given as a structured (kvlist) value.
	if in := r.Steps[1].LLM.Input; len(in) != 1 || in[0].Text() != "list files" {
		t.Errorf("structured input: %+v", in)
	}
}

func TestImportSynthesizesMissingToolSpans(t *testing.T) {
	r := mustLoad(t, filepath.Join("testdata", "sdk_flat_prompts.json"))
	want := []string{"message", "llm", "tool", "message", "llm"}
	if diff := cmp.Diff(want, kinds(r)); diff != "" {
		t.Fatalf("steps (-want +got):\n%s", diff)
	}
	tool := r.Steps[2].Tool
	if tool.CallID != "call_a" || tool.Name != "calc" || string(tool.Arguments) != `{"expr":"2+2"}` || tool.Output != "4" || tool.Detail == nil {
		t.Errorf("synthesized tool %+v", tool)
	}
	if got := r.Steps[3].Message.Text(); got != "And 3+3?" {
		t.Errorf("new user message %q", got)
	}
	if r.Meta.Instr.System != "You are terse." || r.Meta.Generator != "opentelemetry-python 1.27.0" {
		t.Errorf("system %q generator %q", r.Meta.Instr.System, r.Meta.Generator)
	}
	if l := r.Steps[4].LLM; len(l.Input) != 5 || l.StopReason != "stop" || l.Input[3].Parts[0].Type != trace.PartToolResult {
		t.Errorf("second call: %d input messages, stop %q", len(l.Input), l.StopReason)
	}
}

func TestImportOlderEvents(t *testing.T) {
	r := mustLoad(t, filepath.Join("testdata", "console_events.json"))
	want := []string{"message", "llm", "message", "llm"}
	if diff := cmp.Diff(want, kinds(r)); diff != "" {
		t.Fatalf("steps (-want +got):\n%s", diff)
	}
	first := r.Steps[1].LLM
	if len(first.Input) != 2 || first.Input[0].Role != "system" || first.Output.Text() != "Hi!" || first.StopReason != "stop" {
		t.Errorf("events call: %+v", first)
	}
	second := r.Steps[3].LLM
	if len(second.Input) != 4 || second.Output.Text() != "Hi again!" {
		t.Errorf("details-event call: %d inputs, output %q", len(second.Input), second.Output.Text())
	}
}

func TestImportOpenInference(t *testing.T) {
	r := mustLoad(t, filepath.Join("testdata", "openinference_spans.jsonl"))
	if diff := cmp.Diff([]string{"message", "llm", "tool", "llm"}, kinds(r)); diff != "" {
		t.Fatalf("steps (-want +got):\n%s", diff)
	}
	if tools := r.Meta.Instr.Tools; len(tools) != 1 || tools[0].Name != "add_label" || tools[0].Description != "Add a label" || tools[0].Schema == nil {
		t.Errorf("tools %+v", tools)
	}
	if d := r.Meta.Defaults; d.Temperature == nil || *d.Temperature != 0 || d.Seed == nil || *d.Seed != 7 {
		t.Errorf("invocation parameters %+v", d)
	}
	tool := r.Steps[2].Tool
	if tool.CallID != "call_x" || string(tool.Arguments) != `{"label":"bug"}` || tool.Output != "labeled" {
		t.Errorf("tool %+v", tool)
	}
}

func TestImportFactoryTelemetry(t *testing.T) {
	r := mustLoad(t, filepath.Join("testdata", "factory_failed.jsonl"))
	m := r.Meta
	if !cmp.Equal(m.Blockers, []string{TelemetryOnly}) {
		t.Errorf("blockers %q", m.Blockers)
	}
	wantRefs := trace.Refs{
		Repo:     &trace.Ref{Value: "acme/widgets", Provenance: trace.Recorded, From: "fullsend.work_item_id"},
		WorkItem: &trace.Ref{Value: "acme/widgets#42", Provenance: trace.Recorded, From: "fullsend.work_item_id"},
	}
	if diff := cmp.Diff(wantRefs, m.Refs); diff != "" {
		t.Errorf("refs (-want +got):\n%s", diff)
	}
	if m.Attributes["fullsend.num_turns"] != "7" || m.Attributes["fullsend.work_item_id"] != "acme/widgets#42" {
		t.Errorf("attributes %v", m.Attributes)
	}
	if len(r.Children) != 0 || len(r.Steps) != 0 {
		t.Errorf("iterations became %d child runs and %d steps", len(r.Children), len(r.Steps))
	}
	o := r.Outcome
	if o.Status != trace.StatusError || o.Error != "exit code 1" || o.Recorded == nil || o.Recorded.Turns != 7 || o.Recorded.ToolCalls != 14 {
		t.Errorf("outcome %+v", o)
	}
	if s := trace.Summarize(r, nil); s.TokensOf != "recorded totals" || s.Replay.OK {
		t.Errorf("tokens from %q, replayable %v", s.TokensOf, s.Replay.OK)
	}
}

// Reading spans again by offset (two passes) and keeping them whole (a
// stream that cannot be read twice) must give the same run.
func TestImportTwoPassesMatchOnePass(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json*"))
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			twice := mustLoad(t, f)
			once, err := loadHeld(t, f, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(once, twice); diff != "" {
				t.Errorf("held (-) vs read again (+):\n%s", diff)
			}
		})
	}
}

// Leading blanks on a JSON Lines line shift every offset in it.
func TestImportIndentedLines(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "otlp_agent.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	indented := bytes.ReplaceAll(data, []byte("\n{"), []byte("\n \t\u00a0{"))
	path := filepath.Join(t.TempDir(), "indented.jsonl")
	if err := os.WriteFile(path, append([]byte("  "), indented...), 0o644); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(viewOf(mustLoad(t, filepath.Join("testdata", "otlp_agent.jsonl"))), viewOf(mustLoad(t, path))); diff != "" {
		t.Errorf("indented (-want +got):\n%s", diff)
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const goodLine = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"b0000000000000b1","name":"chat m","startTimeUnixNano":"1","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"3"}}]}]}]}]}`

func TestImportBadInput(t *testing.T) {
	tests := []struct {
		name, file, content string
		lenient             bool
		wantLine            int    // >0: a LineError at this line
		notTrace            bool   // an error wrapping trace.ErrNotTrace
		warning             string // success with a warning containing this
	}{
		{name: "bad line", file: "a.jsonl", content: goodLine + "\n{\"resourceSpans\": [\n" + goodLine + "\n", wantLine: 2},
		{name: "bad line lenient", file: "a.jsonl", content: goodLine + "\n{\"resourceSpans\": [\n" + goodLine + "\n", lenient: true, warning: "skipped 1 line"},
		{name: "truncated last line", file: "a.jsonl", content: goodLine + "\n" + goodLine[:80], warning: "truncated"},
		{name: "records without spans", file: "a.jsonl", content: `{"kind":"heartbeat"}` + "\n" + goodLine + "\n" + `{"kind":"heartbeat"}` + "\n42\n",
			warning: `2 records of unknown type "object without span members or GenAI attributes" (first at line 1)`},
		{name: "one span per line in an array", file: "a.json", content: "[\n" + `{"name":"chat m","context":{"span_id":"0x1"},"attributes":{"gen_ai.operation.name":"chat","gen_ai.usage.input_tokens":3}}` + "\n]\n",
			warning: ""},
		{name: "bad attributes", file: "a.jsonl", content: goodLine + "\n" + `{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"01","attributes":5}]}]}]}` + "\n", wantLine: 2},
		{name: "bad document", file: "a.json", content: "{\n  \"resourceSpans\": [\n    {\n      \"scopeSpans\": [\n        {\"spans\": [}\n      ]\n    }\n  ]\n}\n", wantLine: 5},
		{name: "cut document", file: "a.json", content: "[\n  {\"name\": \"x\",\n   \"context\": {\"trace_id\": 1, \"span_id\": 2},\n", wantLine: 2},
		{name: "empty", file: "a.json", content: "", notTrace: true},
		{name: "blank", file: "a.json", content: "\n \n", notTrace: true},
		{name: "other JSON Lines", file: "a.jsonl", content: `{"type":"user","message":{"role":"user","content":"hi"}}` + "\n", notTrace: true},
		{name: "numbers", file: "a.json", content: "[1, 2, 3]\n", notTrace: true},
		{name: "binary", file: "a.bin", content: "\x00\x01\x02PK\x03\x04", notTrace: true},
		{name: "empty traces", file: "a.jsonl", content: `{"resourceSpans":[]}` + "\n", notTrace: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.file, tt.content)
			r, err := load(t, path, trace.Options{Lenient: tt.lenient})
			switch {
			case tt.wantLine > 0:
				var le *trace.LineError
				if !errors.As(err, &le) || le.Line != tt.wantLine || le.File != path {
					t.Fatalf("error %v, want a LineError at %s:%d", err, path, tt.wantLine)
				}
			case tt.notTrace:
				if !errors.Is(err, trace.ErrNotTrace) {
					t.Fatalf("error %v, want ErrNotTrace", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				found := tt.warning == "" && len(r.Warnings) == 0
				for _, w := range r.Warnings {
					found = found || (tt.warning != "" && strings.Contains(w.String(), tt.warning))
				}
				if !found || trace.Summarize(r, nil).LLMCalls != 1 {
					t.Errorf("warnings %v, want one containing %q and the good span imported", r.Warnings, tt.warning)
				}
			}
		})
	}
}

func TestImportCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := &trace.Source{Path: filepath.Join("testdata", "otlp_agent.jsonl")}
	err := Spans{}.Import(ctx, src, trace.Options{}, &trace.Collector{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestDetect(t *testing.T) {
	head := func(t *testing.T, path string) []byte {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > trace.HeadSize {
			b = b[:trace.HeadSize]
		}
		return b
	}
	bigSpans := `{"spans": [{"name": "call_llm", "context": {"span_id": 1}, "attributes": {"gen_ai.input.messages": "` + strings.Repeat("x", trace.HeadSize) + `"}}]}`
	tests := []struct {
		name      string
		head      []byte
		otlp, sdk bool
	}{
		{"otlp lines", head(t, filepath.Join("testdata", "otlp_agent.jsonl")), true, false},
		{"otlp document", head(t, filepath.Join("testdata", "otlp_base64.json")), true, false},
		{"sdk dump", head(t, filepath.Join("testdata", "sdk_flat_prompts.json")), false, true},
		{"console", head(t, filepath.Join("testdata", "console_events.json")), false, true},
		{"openinference lines", head(t, filepath.Join("testdata", "openinference_spans.jsonl")), false, true},
		{"any-agent head cut inside a value", []byte(bigSpans)[:trace.HeadSize], false, true},
		{"attribute map", []byte(`{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4"}`), false, true},
		{"claude code", []byte(`{"type":"user","uuid":"u1","message":{"role":"user","content":"mention gen_ai.usage here"}}` + "\n"), false, false},
		{"langfuse export", []byte(`{"trace":{"id":"t","metadata":{"gen_ai.system":"openai"}},"observations":[{"id":"o"}]}`), false, false},
		{"native", []byte(`{"type":"header","header":{"format":"replay-run","version":1}}` + "\n"), false, false},
		{"not json", []byte("hello"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &trace.Source{Path: "x", Head: tt.head}
			if got := (OTLP{}).Detect(src); got != tt.otlp {
				t.Errorf("otlp-json Detect = %v", got)
			}
			if got := (Spans{}).Detect(src); got != tt.sdk {
				t.Errorf("otel-spans Detect = %v", got)
			}
			if (OTLP{}).Detect(&trace.Source{Path: "d", IsDir: true, Head: tt.head}) {
				t.Error("a directory was detected")
			}
		})
	}
}

func TestFactoryTotals(t *testing.T) {
	spans, _, err := ReadSpans(context.Background(), filepath.Join("testdata", "factory_failed.jsonl"), trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := FactoryTotals(spans)
	if err != nil {
		t.Fatal(err)
	}
	one, zero := 1, 0
	want := &FactoryRun{
		TraceID: "ffffffffffffffffffffffffffffffff", SpanID: "1000000000000001", Agent: "review", WorkItem: "acme/widgets#42", Repo: "acme/widgets",
		Model: "claude-opus-4-6", Provider: "anthropic", StartedAt: spans[3].Start, EndedAt: spans[3].End, ExitCode: &one,
		Status: trace.StatusError, Error: "exit code 1",
		Totals: trace.Totals{CostUSD: trace.Float(0.39), Usage: &trace.Usage{Input: 15, Output: 1545, CacheRead: 110838, CacheWrite: 39032},
			Turns: 7, ToolCalls: 14, DurationMS: 8000},
		Iterations: []FactoryIteration{
			{N: 1, SpanID: "1000000000000003", Start: spans[1].Start, End: spans[1].End, Model: "claude-opus-4-6",
				Usage: &trace.Usage{Input: 11, Output: 1505, CacheRead: 109938, CacheWrite: 38832}, CostUSD: trace.Float(0.34), ToolCalls: 11, ExitCode: &zero, Status: "ok"},
			{N: 2, SpanID: "1000000000000004", Start: spans[2].Start, End: spans[2].End, Model: "claude-opus-4-6",
				Usage: &trace.Usage{Input: 4, Output: 40, CacheRead: 900, CacheWrite: 200}, CostUSD: trace.Float(0.05), ToolCalls: 3, ExitCode: &one, Status: "error"},
		},
		Attributes: map[string]string{"fullsend.agent": "review", "fullsend.work_item_id": "acme/widgets#42", "fullsend.num_turns": "7",
			"fullsend.tool_calls": "14", "fullsend.iterations": "2"},
		Generator: "github.com/fullsend-ai/fullsend/internal/telemetry 1.2.0",
	}
	if diff := cmp.Diff(want, f, approx); diff != "" {
		t.Errorf("factory run (-want +got):\n%s", diff)
	}

	if _, err := FactoryTotals([]Span{{SpanID: "01", Attrs: map[string]any{"gen_ai.operation.name": "chat"}}}); !errors.Is(err, trace.ErrNotTrace) {
		t.Errorf("spans without fullsend attributes: %v", err)
	}
}

func jsonl(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestImportSpanTrees(t *testing.T) {
	span := func(id, parent, name, attrs string, start int) string {
		return `{"name":"` + name + `","context":{"trace_id":"0x1","span_id":"` + id + `"},"parent_id":` + parent +
			`,"start_time":170000000` + string(rune('0'+start)) + `000000000,"attributes":{` + attrs + `}}`
	}
	tests := []struct {
		name     string
		content  string
		llm      int
		runs     int
		warning  string
		children []string // agents of the child runs
	}{
		{"wrapped model call counts once", jsonl(
			span("0x1", "null", "ChatOpenAI", `"openinference.span.kind":"LLM","llm.token_count.prompt":5`, 1),
			span("0x2", `"0x1"`, "chat gpt-4o", `"gen_ai.operation.name":"chat","gen_ai.usage.input_tokens":5`, 2),
		), 1, 1, "wrap other model-call spans", nil},
		{"parent loop", jsonl(
			span("0x1", `"0x2"`, "invoke_agent a", `"gen_ai.operation.name":"invoke_agent","gen_ai.agent.name":"a"`, 1),
			span("0x2", `"0x1"`, "invoke_agent b", `"gen_ai.operation.name":"invoke_agent","gen_ai.agent.name":"b"`, 2),
			span("0x3", `"0x2"`, "chat m", `"gen_ai.operation.name":"chat"`, 3),
		), 1, 2, "", []string{"a"}}, // the loop is cut where it closes: b becomes the root
		{"agents nested without a tool span", jsonl(
			span("0x1", "null", "invoke_agent lead", `"gen_ai.operation.name":"invoke_agent","gen_ai.agent.name":"lead"`, 1),
			span("0x2", `"0x1"`, "invoke_agent helper", `"gen_ai.operation.name":"invoke_agent","gen_ai.agent.name":"helper"`, 2),
			span("0x3", `"0x2"`, "invoke_agent sub", `"gen_ai.operation.name":"invoke_agent","gen_ai.agent.name":"sub"`, 3),
			span("0x4", `"0x3"`, "chat m", `"gen_ai.operation.name":"chat"`, 4),
			span("0x5", `"0x9"`, "chat m", `"gen_ai.operation.name":"chat"`, 5),
		), 2, 3, "", []string{"helper", "sub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := load(t, writeTemp(t, "spans.jsonl", tt.content), trace.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s := trace.Summarize(r, nil)
			if s.LLMCalls != tt.llm || s.Runs != tt.runs {
				t.Errorf("%d model calls in %d runs, want %d in %d", s.LLMCalls, s.Runs, tt.llm, tt.runs)
			}
			var agents []string
			r.Walk(func(c *trace.Run) {
				if c != r {
					agents = append(agents, c.Meta.Agent)
				}
			})
			if !cmp.Equal(agents, tt.children, cmpopts.EquateEmpty()) {
				t.Errorf("child runs %v, want %v", agents, tt.children)
			}
			found := tt.warning == "" && len(s.Warnings) == 0
			for _, w := range s.Warnings {
				found = found || (tt.warning != "" && strings.Contains(w, tt.warning))
			}
			if !found {
				t.Errorf("warnings %v, want %q", s.Warnings, tt.warning)
			}
		})
	}
}

// When the first model call did not record its request, the conversation's
// opening messages come from the next call that did.
func TestImportOpeningFromLaterCall(t *testing.T) {
	msgs := `[{\"role\":\"system\",\"content\":\"Be kind.\"},{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello\"},{\"role\":\"user\",\"content\":\"bye\"}]`
	content := jsonl(
		`{"name":"chat m","context":{"trace_id":"0x1","span_id":"0x1"},"start_time":1700000001000000000,"attributes":{"gen_ai.operation.name":"chat","gen_ai.output.messages":"[{\"role\":\"assistant\",\"content\":\"hello\"}]"}}`,
		`{"name":"chat m","context":{"trace_id":"0x1","span_id":"0x2"},"start_time":1700000002000000000,"attributes":{"gen_ai.operation.name":"chat","gen_ai.input.messages":"`+msgs+`"}}`,
	)
	r := mustLoad(t, writeTemp(t, "spans.jsonl", content))
	if diff := cmp.Diff([]string{"message", "llm", "message", "llm"}, kinds(r)); diff != "" {
		t.Fatalf("steps (-want +got):\n%s", diff)
	}
	if r.Steps[0].Message.Text() != "hi" || r.Steps[2].Message.Text() != "bye" || r.Meta.Instr.System != "Be kind." {
		t.Errorf("messages %q, %q, system %q", r.Steps[0].Message.Text(), r.Steps[2].Message.Text(), r.Meta.Instr.System)
	}
	if r.Steps[1].LLM.InputMode != "" {
		t.Errorf("the first call's request was not recorded, mode %q", r.Steps[1].LLM.InputMode)
	}
}

// TestImportWrongTypesWarn: a span member or a typed GenAI attribute of the
// wrong type is a warning naming its line and field, never silence.
func TestImportWrongTypesWarn(t *testing.T) {
	path := filepath.Join("testdata", "wrong_types.jsonl")
	r := mustLoad(t, path)
	want := map[string]int{ // field → line
		"startTimeUnixNano":                     2,
		"status":                                2,
		"attributes.gen_ai.usage.input_tokens":  2,
		"attributes.gen_ai.request.temperature": 2,
	}
	got := map[string]int{}
	for _, w := range r.Warnings {
		if w.Field != "" {
			got[w.Field] = w.Line
			if w.File != path || !strings.Contains(w.Message, "b000000000000002") {
				t.Errorf("warning %v: want file %s and the span's id", w, path)
			}
		}
	}
	if !cmp.Equal(got, want) {
		t.Errorf("field warnings (field → line) = %v, want %v\nall: %v", got, want, r.Warnings)
	}
}

// TestImportCallWithoutResultWarns: a tool call no tool span and no later
// request answers is kept, marked missing, with a warning naming its line.
func TestImportCallWithoutResultWarns(t *testing.T) {
	line := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"b0000000000000b1","name":"chat m","startTimeUnixNano":"1","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.output.messages","value":{"stringValue":"[{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"c1\",\"name\":\"grep\",\"arguments\":{\"q\":\"x\"}}]}]"}}]}]}]}]}`
	path := filepath.Join(t.TempDir(), "call.jsonl")
	if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := load(t, path, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var missing int
	for _, s := range r.Steps {
		if s.Tool != nil && s.Tool.Status == trace.ToolMissing && s.Tool.CallID == "c1" {
			missing++
		}
	}
	warned := false
	for _, w := range r.Warnings {
		warned = warned || (w.Line == 1 && strings.Contains(w.Message, "without a recorded result"))
	}
	if missing != 1 || !warned {
		t.Errorf("missing tool events = %d, warned = %v; warnings: %v", missing, warned, r.Warnings)
	}
}
