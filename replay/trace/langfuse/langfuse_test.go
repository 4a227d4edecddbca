package langfuse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// importBytes imports b as if it were the file name.
func importBytes(t *testing.T, name string, b []byte, opts trace.Options) (*trace.Run, trace.Summary, error) {
	t.Helper()
	var z trace.Summarizer
	run, err := trace.Collect(func(e trace.Emitter) error {
		return Decode(context.Background(), bytes.NewReader(b), int64(len(b)), name, opts, trace.Tee(e, &z))
	})
	return run, z.Summary(), err
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func text(s string) trace.Part { return trace.Part{Type: trace.PartText, Text: s} }

var ignoreRaw = cmpopts.IgnoreFields(trace.Part{}, "Raw")

// TestSubagents imports an export with a sub-agent started by a tool call, a
// wrapper generation, events, an unknown observation type and observations
// listed out of order, and checks every step.
func TestSubagents(t *testing.T) {
	run, sum := testutil.ImportFile(t, Format{}, "testdata/subagents.json")

	wantMeta := trace.RunMeta{
		Format: Name, Source: "testdata/subagents.json", Agent: "pr-review", Session: "sess-42",
		Instr:     trace.Instructions{System: "You review pull requests.", PromptName: "reviewer-system", PromptVersion: "3"},
		Defaults:  trace.Params{Model: "gpt-4.1-2025-04-14"},
		StartedAt: at("2026-03-02T09:00:00Z"), EndedAt: at("2026-03-02T09:00:12Z"),
		Attributes: map[string]string{
			"langfuse.trace_id": "7c1f0e5a9b2d4c3e8f6a1b2c3d4e5f60", "langfuse.release": "v1.4.2", "langfuse.version": "7",
			"langfuse.user_id": "bot@acme", "langfuse.environment": "production", "langfuse.tags": "review,acme",
		},
	}
	if !cmp.Equal(run.Meta, wantMeta, cmpopts.EquateEmpty()) {
		t.Errorf("main run meta:\n%s", cmp.Diff(wantMeta, run.Meta, cmpopts.EquateEmpty()))
	}

	delegate := json.RawMessage(`{"agent":"security"}`)
	wantMain := []trace.Step{
		{Kind: trace.KindMessage, Time: at("2026-03-02T09:00:00Z"), Message: &trace.Message{Role: "user", Parts: []trace.Part{text("Review PR acme/widgets#42")}}},
		{Kind: trace.KindLLM, Time: at("2026-03-02T09:00:00.2Z"), LLM: &trace.LLMCall{
			ID: "chatcmpl-AbC123", Model: "gpt-4.1-2025-04-14", Params: trace.Params{Temperature: trace.Float(0.2)},
			InputMode: "full",
			Input: []trace.Message{
				{Role: "system", Parts: []trace.Part{text("You review pull requests.")}},
				{Role: "user", Parts: []trace.Part{text("Review PR acme/widgets#42")}},
			},
			Output:     trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: "call_del1", Name: "delegate", Arguments: delegate}}},
			StopReason: "tool_calls",
			Usage:      &trace.Usage{Input: 900, Output: 25},
			Cost:       trace.Cost{Recorded: trace.Float(0.0009)},
			LatencyMS:  2000,
		}},
		{Kind: trace.KindTool, Time: at("2026-03-02T09:00:02.3Z"), Tool: &trace.ToolCall{
			CallID: "call_del1", Name: "delegate", Arguments: delegate, Status: trace.ToolOK,
			Output: "no secrets found", DurationMS: 7600, Child: "agent-sec",
		}},
		{Kind: trace.KindMessage, Time: at("2026-03-02T09:00:09.95Z"), Message: &trace.Message{Role: "user", Parts: []trace.Part{text("Please also check the docs.")}}},
		{Kind: trace.KindLLM, Time: at("2026-03-02T09:00:10Z"), LLM: &trace.LLMCall{
			Model:     "gpt-4.1-2025-04-14",
			Params:    trace.Params{Temperature: trace.Float(0.2), MaxTokens: trace.Int(1024), Stop: []string{"END"}},
			InputMode: "full",
			Input: []trace.Message{
				{Role: "system", Parts: []trace.Part{text("You review pull requests.")}},
				{Role: "user", Parts: []trace.Part{text("Review PR acme/widgets#42")}},
				{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: "call_del1", Name: "delegate", Arguments: delegate}}},
				{Role: "tool", Parts: []trace.Part{{Type: trace.PartToolResult, ID: "call_del1", Text: "no secrets found"}}},
			},
			Output: trace.Message{Role: "assistant", Parts: []trace.Part{text("Approved: no blocking findings.")}},
			// input 1200 includes the 1000 cached tokens: total 1240 = 1200 + 40.
			Usage:     &trace.Usage{Input: 200, Output: 40, CacheRead: 1000},
			Cost:      trace.Cost{Recorded: trace.Float(0.0007)},
			LatencyMS: 1500,
		}},
	}
	if !cmp.Equal(run.Steps, wantMain, cmpopts.EquateEmpty()) {
		t.Errorf("main run steps:\n%s", cmp.Diff(wantMain, run.Steps, cmpopts.EquateEmpty()))
	}
	wantOutcome := &trace.Outcome{Status: trace.StatusOK, Final: "Approved: no blocking findings.", Recorded: &trace.Totals{CostUSD: trace.Float(0.0123), DurationMS: 12500}}
	if !cmp.Equal(run.Outcome, wantOutcome) {
		t.Errorf("main outcome:\n%s", cmp.Diff(wantOutcome, run.Outcome))
	}

	if len(run.Children) != 1 {
		t.Fatalf("got %d child runs, want 1 (the security sub-agent)", len(run.Children))
	}
	child := run.Children[0]
	wantChildMeta := trace.RunMeta{
		Key: "agent-sec", ParentCall: "call_del1", Agent: "security",
		Instr:     trace.Instructions{System: "Find leaked secrets."},
		Defaults:  trace.Params{Model: "claude-sonnet-4-5"},
		StartedAt: at("2026-03-02T09:00:02.4Z"), EndedAt: at("2026-03-02T09:00:09.8Z"),
	}
	if !cmp.Equal(child.Meta, wantChildMeta, cmpopts.EquateEmpty()) {
		t.Errorf("child meta:\n%s", cmp.Diff(wantChildMeta, child.Meta, cmpopts.EquateEmpty()))
	}
	grep := json.RawMessage(`{"pattern":"AKIA"}`)
	wantChild := []trace.Step{
		{Kind: trace.KindLLM, Time: at("2026-03-02T09:00:02.5Z"), LLM: &trace.LLMCall{
			Model: "claude-sonnet-4-5", InputMode: "full",
			Input: []trace.Message{
				{Role: "system", Parts: []trace.Part{text("Find leaked secrets.")}},
				{Role: "user", Parts: []trace.Part{text("Scan the diff.")}},
			},
			Output:     trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: "toolu_01", Name: "grep", Arguments: grep}}},
			StopReason: "tool_call",
			// total 2380 = 50 + 30 + 2000 + 300: Langfuse's disjoint keys.
			Usage:     &trace.Usage{Input: 50, Output: 30, CacheRead: 2000, CacheWrite: 300},
			Cost:      trace.Cost{Recorded: trace.Float(0.002)},
			LatencyMS: 1500,
		}},
		{Kind: trace.KindTool, Time: at("2026-03-02T09:00:04.1Z"), Tool: &trace.ToolCall{
			CallID: "toolu_01", Name: "grep", Arguments: grep, Status: trace.ToolError,
			Output: "grep: exit status 2", DurationMS: 500,
		}},
		{Kind: trace.KindLLM, Time: at("2026-03-02T09:00:04.8Z"), LLM: &trace.LLMCall{
			Model: "claude-sonnet-4-5", InputMode: "full",
			Input: []trace.Message{
				{Role: "user", Parts: []trace.Part{text("Scan the diff.")}},
				{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: "toolu_01", Name: "grep", Arguments: grep}}},
				{Role: "tool", Parts: []trace.Part{{Type: trace.PartToolResult, ID: "toolu_01", Text: "grep: exit status 2", IsError: true}}},
			},
			// Its own output is null: the wrapper around it alone supplies it.
			Output:     trace.Message{Role: "assistant", Parts: []trace.Part{text("no secrets found")}},
			StopReason: "end_turn",
			// total 97 = 80 + 12 + 5: output excludes reasoning here.
			Usage:     &trace.Usage{Input: 80, Output: 17, Reasoning: 5},
			Cost:      trace.Cost{Recorded: trace.Float(0.001)},
			LatencyMS: 4800,
		}},
	}
	if !cmp.Equal(child.Steps, wantChild, cmpopts.EquateEmpty()) {
		t.Errorf("child steps:\n%s", cmp.Diff(wantChild, child.Steps, cmpopts.EquateEmpty()))
	}
	if want := (&trace.Outcome{Status: trace.StatusOK, Final: "no secrets found"}); !cmp.Equal(child.Outcome, want) {
		t.Errorf("child outcome:\n%s", cmp.Diff(want, child.Outcome))
	}

	wantWarnings := []string{
		"testdata/subagents.json: 1 GENERATION observation(s) wrap other generations (a framework span around the provider call): only the inner calls are counted",
		"testdata/subagents.json:492: 2 records of unknown type \"WORKFLOW\" (first at line 492)",
	}
	if !cmp.Equal(sum.Warnings, wantWarnings) {
		t.Errorf("warnings:\n%s", cmp.Diff(wantWarnings, sum.Warnings))
	}
	if sum.LLMCalls != 4 || sum.ToolCalls != 2 || sum.Runs != 2 {
		t.Errorf("summary: %d llm calls, %d tool calls, %d runs; want 4, 2, 2", sum.LLMCalls, sum.ToolCalls, sum.Runs)
	}
	wantTokens := trace.Usage{Input: 1230, Output: 112, CacheRead: 3000, CacheWrite: 300, Reasoning: 5}
	if sum.Tokens != wantTokens {
		t.Errorf("tokens = %+v, want %+v", sum.Tokens, wantTokens)
	}
	if sum.Cost.Recorded == nil || *sum.Cost.Recorded != 0.0123 {
		t.Errorf("recorded cost = %v, want the trace's totalCost 0.0123", sum.Cost.Recorded)
	}
}

// TestAPITrace imports the API's trace object (observations inside, model
// as providedModelName) whose last generation failed.
func TestAPITrace(t *testing.T) {
	run, sum := testutil.ImportFile(t, Format{}, "testdata/api-trace.json")
	want := []trace.Step{
		{Kind: trace.KindMessage, Time: at("2026-03-03T10:00:00Z"), Message: &trace.Message{Role: "user", Parts: []trace.Part{text("Triage issue #7")}}},
		{Kind: trace.KindLLM, Time: at("2026-03-03T10:00:00.1Z"), LLM: &trace.LLMCall{
			Model: "gemini-2.5-flash", Params: trace.Params{Temperature: trace.Float(0)}, InputMode: "full",
			Input: []trace.Message{
				{Role: "system", Parts: []trace.Part{text("You triage issues.")}},
				{Role: "user", Parts: []trace.Part{text("Triage issue #7")}},
			},
			Output: trace.Message{Role: "assistant", Parts: []trace.Part{
				{Type: trace.PartReasoning, Text: "Looks like a bug."},
				{Type: trace.PartToolCall, Name: "label", Arguments: json.RawMessage(`{"name":"bug"}`)},
			}},
			StopReason: "STOP",
			// OpenInference-style reasoning key: inside output (120 + 40 = 160).
			Usage:     &trace.Usage{Input: 120, Output: 40, Reasoning: 10},
			Cost:      trace.Cost{Recorded: trace.Float(0.0012)},
			LatencyMS: 900,
		}},
		{Kind: trace.KindTool, Time: at("2026-03-03T10:00:01.1Z"), Tool: &trace.ToolCall{
			Name: "label", Arguments: json.RawMessage(`{"name":"bug"}`), Status: trace.ToolOK,
			OutputRaw: json.RawMessage(`{"ok":true}`), DurationMS: 200,
		}},
		{Kind: trace.KindLLM, Time: at("2026-03-03T10:00:01.4Z"), LLM: &trace.LLMCall{
			Model: "gemini-2.5-flash", Output: trace.Message{Role: "assistant"}, LatencyMS: 1800,
			Error: "429 RESOURCE_EXHAUSTED",
		}},
	}
	if !cmp.Equal(run.Steps, want, cmpopts.EquateEmpty()) {
		t.Errorf("steps:\n%s", cmp.Diff(want, run.Steps, cmpopts.EquateEmpty()))
	}
	wantOutcome := &trace.Outcome{Status: trace.StatusError, Error: "429 RESOURCE_EXHAUSTED", Recorded: &trace.Totals{CostUSD: trace.Float(0.0042), DurationMS: 3200}}
	if !cmp.Equal(run.Outcome, wantOutcome) {
		t.Errorf("outcome:\n%s", cmp.Diff(wantOutcome, run.Outcome))
	}
	if sum.Status != trace.StatusError || sum.Agent != "triage" || len(sum.Warnings) != 0 {
		t.Errorf("summary status %q agent %q warnings %q", sum.Status, sum.Agent, sum.Warnings)
	}
}

func TestDetect(t *testing.T) {
	export, _ := os.ReadFile("testdata/subagents.json")
	api, _ := os.ReadFile("testdata/api-trace.json")
	tests := []struct {
		name string
		head string
		dir  bool
		want bool
	}{
		{"export", string(export), false, true},
		{"api trace", string(api), false, true},
		{"v2 page shape written by Fetch", `{"observations":[{"id":"o1","traceId":"t","type":"SPAN","startTime":"2026-01-01T00:00:00Z","projectId":"p","parentObservationId":null}],"trace":{"id":"t"}}`, false, true},
		{"directory", string(export), true, false},
		{"jsonl transcript", `{"type":"user","message":{"role":"user","content":"hi"},"sessionId":"s"}` + "\n", false, false},
		{"otlp", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"ab","parentObservationId":"x"}]}]}]}`, false, false},
		{"native", `{"type":"header","header":{"format":"replay-run","version":1}}`, false, false},
		{"array", `[{"id":"o1"}]`, false, false},
		{"empty", ``, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &trace.Source{Path: "x.json", IsDir: tt.dir, Head: []byte(tt.head)}
			if got := (Format{}).Detect(src); got != tt.want {
				t.Errorf("Detect = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBadInput checks that bad input gives clear errors (file and line),
// never a silent empty run, and that --lenient imports what precedes a
// truncation.
func TestBadInput(t *testing.T) {
	export, err := os.ReadFile("testdata/subagents.json")
	if err != nil {
		t.Fatal(err)
	}
	cut := bytes.Index(export, []byte(`"id": "tool-grep"`))
	truncated := export[:cut]
	tests := []struct {
		name     string
		in       string
		lenient  bool
		notTrace bool   // the error wraps trace.ErrNotTrace
		errHas   string // the error contains this
		steps    int    // with no error: main run steps
	}{
		{name: "empty", in: "  \n", notTrace: true, errHas: "empty file"},
		{name: "not an object", in: `"hello"`, notTrace: true, errHas: "not a Langfuse trace"},
		{name: "no trace no observations", in: `{"foo":1}`, notTrace: true, errHas: "no Langfuse trace and no observations"},
		{name: "bad json", in: "{\n\"trace\": {\"id\": \"t\"},\n\"observations\": [\n{\"id\": \"a\", \"type\": \"SPAN\"},\n{\"id\": ]\n}", errHas: "bad.json:5: invalid JSON"},
		{name: "observations not a list", in: `{"trace":{"id":"t"},"observations":{"a":1}}`, errHas: "not a list"},
		{name: "truncated", in: string(truncated), errHas: "use --lenient"},
		{name: "truncated lenient", in: string(truncated), lenient: true, steps: 4},
		{name: "trace only", in: `{"trace":{"id":"t","name":"n","input":"hello"},"observations":[]}`, steps: 1},
		{name: "non-object observations skipped", in: `{"trace":{"id":"t"},"observations":[1,"x",null,{"id":"g","type":"GENERATION","startTime":"2026-01-01T00:00:00Z","input":"hi","output":"ho"}]}`, steps: 1},
		{name: "parent loop", in: `{"observations":[{"id":"a","type":"AGENT","parentObservationId":"b","startTime":"2026-01-01T00:00:00Z"},{"id":"b","type":"AGENT","parentObservationId":"a","startTime":"2026-01-01T00:00:01Z"},{"id":"g","type":"GENERATION","parentObservationId":"a","startTime":"2026-01-01T00:00:02Z","output":"x"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, _, err := importBytes(t, "bad.json", []byte(tt.in), trace.Options{Lenient: tt.lenient})
			if tt.errHas != "" {
				if err == nil {
					t.Fatalf("no error, want one containing %q", tt.errHas)
				}
				if !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error %q does not contain %q", err, tt.errHas)
				}
				if got := errors.Is(err, trace.ErrNotTrace); got != tt.notTrace {
					t.Errorf("errors.Is(err, ErrNotTrace) = %v, want %v", got, tt.notTrace)
				}
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if run.Meta.Format != Name {
				t.Errorf("format = %q, want %q", run.Meta.Format, Name)
			}
			if tt.steps > 0 && len(run.Steps) != tt.steps {
				t.Errorf("got %d main-run steps, want %d", len(run.Steps), tt.steps)
			}
			if tt.lenient && len(run.Warnings) == 0 {
				t.Errorf("--lenient import of a truncated file gave no warning")
			}
		})
	}
}

// TestOrderingIsStable: observations are emitted by start time, ties in file
// order, whatever order the file lists them in.
func TestOrderingIsStable(t *testing.T) {
	in := `{"trace":{"id":"t"},"observations":[
{"id":"c","type":"TOOL","name":"c","startTime":"2026-01-01T00:00:02Z"},
{"id":"a","type":"TOOL","name":"a","startTime":"2026-01-01T00:00:01Z"},
{"id":"b","type":"TOOL","name":"b","startTime":"2026-01-01T00:00:01Z"},
{"id":"z","type":"TOOL","name":"z"}]}`
	run, _, err := importBytes(t, "order.json", []byte(in), trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range run.Steps {
		got = append(got, s.Tool.Name)
	}
	if want := []string{"a", "b", "c", "z"}; !cmp.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

// TestDuplicateObservations: UI exports list observations twice (under
// trace.observations, sometimes stripped of input and output): one step
// each, from the fuller copy.
func TestDuplicateObservations(t *testing.T) {
	in := `{"trace":{"id":"t","observations":[{"id":"g","type":"GENERATION","startTime":"2026-01-01T00:00:00Z","output":null}]},
"observations":[{"id":"g","type":"GENERATION","startTime":"2026-01-01T00:00:00Z","input":"hi","output":"hello there","usageDetails":{"input":3,"output":2}}]}`
	run, sum, err := importBytes(t, "dup.json", []byte(in), trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.LLMCalls != 1 {
		t.Fatalf("llm calls = %d, want 1", sum.LLMCalls)
	}
	if got := run.Steps[0].LLM.Output.Text(); got != "hello there" {
		t.Errorf("output %q, want the fuller copy's %q", got, "hello there")
	}
}

// TestWrongTypesWarn: fields of the wrong type in the trace and its
// observations are warnings naming line and field, never silence.
func TestWrongTypesWarn(t *testing.T) {
	b, err := os.ReadFile("testdata/wrong-types.json")
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := importBytes(t, "wrong-types.json", b, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{ // field → line
		"trace.sessionId":    1,
		"usageDetails.input": 3,
		"startTime":          4,
		"model":              4,
		"usageDetails":       4,
	}
	got := map[string]int{}
	for _, w := range r.Warnings {
		if w.Field != "" {
			got[w.Field] = w.Line
		}
	}
	if !cmp.Equal(got, want) {
		t.Errorf("field warnings (field → line) = %v, want %v\nall: %v", got, want, r.Warnings)
	}
}
