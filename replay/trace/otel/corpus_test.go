package otel

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

func corpusFiles(t *testing.T, sub, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testutil.RequireCorpus(t, ""), sub, pattern))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("no %s files in the corpus", sub)
	}
	return files
}

// Every corpus file of the three folders imports, with model calls (or,
// for the factory's telemetry, recorded totals), no warnings, and each
// format's Detect accepting its files.
func TestCorpusImports(t *testing.T) {
	for _, sub := range []string{"otel-genai", "openinference", "fullsend"} {
		for _, f := range corpusFiles(t, sub, "*") {
			t.Run(sub+"/"+filepath.Base(f), func(t *testing.T) {
				head, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if len(head) > trace.HeadSize {
					head = head[:trace.HeadSize]
				}
				src := &trace.Source{Path: f, Head: head}
				otlp, sdk := (OTLP{}).Detect(src), (Spans{}).Detect(src)
				if otlp == sdk || otlp != (sub == "fullsend") {
					t.Errorf("Detect: otlp-json %v, otel-spans %v", otlp, sdk)
				}
				r := mustLoad(t, f)
				s := trace.Summarize(r, nil)
				if len(s.Warnings) != 0 {
					t.Errorf("warnings: %v", s.Warnings)
				}
				if sub == "fullsend" {
					if s.Agent == "" || s.Replay.OK {
						t.Errorf("factory telemetry: agent %q, replayable %v", s.Agent, s.Replay.OK)
					}
					return
				}
				if s.LLMCalls == 0 || s.Tokens.Input == 0 || !s.Replay.OK {
					t.Errorf("llm calls %d, input tokens %d, replayable %v %v", s.LLMCalls, s.Tokens.Input, s.Replay.OK, s.Replay.Reasons)
				}
				// The conversation starts with a user message event.
				if len(r.Steps) == 0 || r.Steps[0].Kind != trace.KindMessage || r.Steps[0].Message.Role != "user" {
					t.Errorf("first step %+v", r.Steps[0])
				}
			})
		}
	}
}

// Counts derived by hand from the any-agent dumps with jq:
//
//	jq '[.spans[] | select(.attributes["gen_ai.operation.name"]=="call_llm")] | length' F
//	jq -c '[.spans[] | select(.attributes["gen_ai.operation.name"]=="execute_tool") | .attributes["gen_ai.tool.name"]]' F
//	jq '[.spans[].attributes["gen_ai.usage.input_tokens"] // 0] | add' F      (and output_tokens)
//	jq '[.spans[].attributes | (.["gen_ai.usage.input_cost"] // 0) + (.["gen_ai.usage.output_cost"] // 0)] | add' F
//
// The model comes from gen_ai.request.model; any-agent records no cache
// counts, so input stays as recorded.
func TestCorpusAnyAgentCounts(t *testing.T) {
	dir := testutil.RequireCorpus(t, "")
	tests := []struct {
		file     string
		llm      int
		tools    map[string]int
		in, out  int64
		cost     float64
		final    string
		firstTxt string
	}{
		{"anyagent__OPENAI_trace.json", 3, map[string]int{"get_current_time": 1, "write_file": 1}, 1020, 76, 0.0001248,
			`{"steps": [{"number": 1, "description": "Get current time in the America/New_York timezone."}, {"number": 2, "description": "Write the year to a file."}]}`,
			"Find what year it is in the America/New_York timezone and write the value (single number) to a file. Finally, return a list of the steps you have taken."},
		{"anyagent__LLAMA_INDEX_trace.json", 5, map[string]int{"get_current_time": 1, "write_file": 1, "final_output": 1}, 1308, 255, 0.0002073, "", ""},
		{"anyagent__GOOGLE_trace.json", 3, map[string]int{"get_current_time": 1, "write_file": 1, "final_output": 1}, 2251, 86, 0.00025089999999999997, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := mustLoad(t, filepath.Join(dir, "otel-genai", tt.file))
			s := trace.Summarize(r, nil)
			got := view{LLMCalls: s.LLMCalls, Tools: s.Tools, Tokens: s.Tokens, Cost: s.Cost.Recorded, Models: s.Models, Agent: s.Agent}
			want := view{LLMCalls: tt.llm, Tools: tt.tools, Tokens: trace.Usage{Input: tt.in, Output: tt.out}, Cost: trace.Float(tt.cost),
				Models: []string{"mistral/mistral-small-latest"}, Agent: "any_agent"}
			if diff := cmp.Diff(want, got, approx); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
			if tt.final != "" && r.Outcome.Final != tt.final {
				t.Errorf("final %q", r.Outcome.Final)
			}
			if tt.firstTxt != "" && r.Steps[0].Message.Text() != tt.firstTxt {
				t.Errorf("first message %q", r.Steps[0].Message.Text())
			}
			if r.Meta.Instr.System == "" || len(r.Meta.Instr.Tools) == 0 {
				t.Errorf("instructions %+v", r.Meta.Instr)
			}
		})
	}

	// In the GOOGLE dump the tool spans carry call ids and the model's
	// answers none: the ids are joined to the answers' tool_call parts.
	r := mustLoad(t, filepath.Join(dir, "otel-genai", "anyagent__GOOGLE_trace.json"))
	var partIDs, toolIDs []string
	for _, st := range r.Steps {
		if st.LLM != nil {
			for _, p := range st.LLM.Output.Parts {
				if p.Type == trace.PartToolCall {
					partIDs = append(partIDs, p.ID)
				}
			}
		}
		if st.Tool != nil {
			toolIDs = append(toolIDs, st.Tool.CallID)
		}
	}
	// jq -r '.spans[] | .attributes["gen_ai.tool.call.id"] // empty' anyagent__GOOGLE_trace.json
	want := []string{"jbUWqgIUr", "j5pzf0TaM", "Je755BQAS"}
	if !cmp.Equal(partIDs, want) || !cmp.Equal(toolIDs, want) {
		t.Errorf("tool_call ids %v, tool ids %v, want %v", partIDs, toolIDs, want)
	}
}

// The two OpenInference corpus files hold the same model call, once as
// OpenInference attributes and once as GenAI attributes. Both give the same
// call (usage 97 in / 52 out, gpt-4-0613, temperature 0.5, top_p 0.9, 200
// max tokens, three request messages) and the same get_weather tool call
// taken from the request history.
func TestCorpusOpenInferencePair(t *testing.T) {
	dir := testutil.RequireCorpus(t, "")
	oi := mustLoad(t, filepath.Join(dir, "openinference", "openinference__openinference_client_span_tool_calls.json"))
	ga := mustLoad(t, filepath.Join(dir, "openinference", "openinference__otel_genai_client_span_tool_calls.json"))

	call := func(r *trace.Run) *trace.LLMCall {
		for _, s := range r.Steps {
			if s.LLM != nil {
				return s.LLM
			}
		}
		t.Fatal("no model call")
		return nil
	}
	// gen_ai records the response id and finish reason, OpenInference not.
	ignore := cmpopts.IgnoreFields(trace.LLMCall{}, "ID", "StopReason")
	if diff := cmp.Diff(call(oi), call(ga), ignore); diff != "" {
		t.Errorf("OpenInference (-) vs GenAI (+):\n%s", diff)
	}
	c := call(ga)
	temp, topP, maxTok := 0.5, 0.9, int64(200)
	wantParams := trace.Params{Model: "gpt-4", Provider: "openai", Temperature: &temp, TopP: &topP, MaxTokens: &maxTok}
	if c.Model != "gpt-4-0613" || !cmp.Equal(c.Params, wantParams) || len(c.Input) != 3 ||
		!cmp.Equal(c.Usage, &trace.Usage{Input: 97, Output: 52}) {
		t.Errorf("call: model %q params %+v, %d inputs, usage %+v", c.Model, c.Params, len(c.Input), c.Usage)
	}

	tools := func(r *trace.Run) []trace.ToolCall {
		var out []trace.ToolCall
		for _, s := range r.Steps {
			if s.Tool != nil {
				out = append(out, *s.Tool)
			}
		}
		return out
	}
	if diff := cmp.Diff(tools(oi), tools(ga)); diff != "" {
		t.Errorf("tool calls differ (-oi +genai):\n%s", diff)
	}
	if tl := tools(ga); len(tl) != 1 || tl[0].Name != "get_weather" || tl[0].CallID != "1234" || tl[0].Output != "rainy, 57°F" {
		t.Errorf("tools %+v", tl)
	}
}

// Totals of the factory's fixtures, read by hand from their single lines:
// the root "run" span's gen_ai.usage.*, fullsend.cost_usd, num_turns,
// tool_calls, work item and times (1 s to 7 s).
func TestCorpusFactoryTotals(t *testing.T) {
	dir := testutil.RequireCorpus(t, "")
	ctx := context.Background()
	tests := []struct {
		file     string
		cost     *float64
		repo     string
		turns    int64
		usage    *trace.Usage
		skipped  string
		duration int64
	}{
		{"run-telemetry__complete.jsonl", trace.Float(0.54), "acme/demo", 8, &trace.Usage{Input: 100, Output: 20}, "", 6000},
		{"run-telemetry__split.jsonl", trace.Float(0.54), "acme/demo", 8, &trace.Usage{Input: 100, Output: 20}, "", 6000},
		{"run-telemetry__missing-cost.jsonl", nil, "acme/demo", 8, &trace.Usage{Input: 100, Output: 20}, "", 6000},
		{"run-telemetry__review-unknown-workitem.jsonl", trace.Float(0.54), "", 8, &trace.Usage{Input: 100, Output: 20}, "", 6000},
		{"run-telemetry__prescript-skipped.jsonl", nil, "acme/demo", 0, nil, "already handled", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			spans, _, err := ReadSpans(ctx, filepath.Join(dir, "fullsend", tt.file), trace.Options{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := FactoryTotals(spans)
			if err != nil {
				t.Fatal(err)
			}
			got := struct {
				Cost     *float64
				Repo     string
				Turns    int64
				Usage    *trace.Usage
				Skipped  string
				Duration int64
			}{f.Totals.CostUSD, f.Repo, f.Totals.Turns, f.Totals.Usage, f.Skipped, f.Totals.DurationMS}
			want := got
			want.Cost, want.Repo, want.Turns, want.Usage, want.Skipped, want.Duration = tt.cost, tt.repo, tt.turns, tt.usage, tt.skipped, tt.duration
			if diff := cmp.Diff(want, got, approx); diff != "" {
				t.Errorf("totals (-want +got):\n%s", diff)
			}
			meta := f.Meta()
			if (tt.repo != "") != (meta.Refs.WorkItem != nil) {
				t.Errorf("work item ref %+v", meta.Refs.WorkItem)
			}
		})
	}
}
