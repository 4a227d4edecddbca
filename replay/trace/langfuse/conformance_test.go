package langfuse

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// TestCorpus imports every real Langfuse export of the corpus: each must
// import without error, with at least one model call, a model, a format and
// a session of steps in time order.
func TestCorpus(t *testing.T) {
	dir := testutil.RequireCorpus(t, "langfuse")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s (%v)", dir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			run, sum := testutil.ImportFile(t, Format{}, f)
			if sum.LLMCalls == 0 || len(sum.Models) == 0 {
				t.Errorf("%d llm calls, models %v: every corpus trace has generations", sum.LLMCalls, sum.Models)
			}
			if sum.Format != Name || !sum.Replay.OK {
				t.Errorf("format %q, replayable %v %v", sum.Format, sum.Replay.OK, sum.Replay.Reasons)
			}
			for i := 1; i < len(run.Steps); i++ {
				if run.Steps[i].Time.Before(run.Steps[i-1].Time) {
					t.Errorf("step %d (%s) is earlier than step %d", i, run.Steps[i].Time, i-1)
				}
			}
			for _, s := range run.Steps {
				if s.LLM != nil && s.LLM.Usage == nil {
					t.Errorf("a model call without usage: every corpus generation records tokens")
				}
			}
		})
	}
}

// TestCorpusCounts checks counts derived by hand from the files.
func TestCorpusCounts(t *testing.T) {
	dir := testutil.RequireCorpus(t, "langfuse")
	tests := []struct {
		file   string
		llm    int
		tools  map[string]int
		tokens trace.Usage
		models []string
		cost   float64
	}{
		{
			// jq '[.observations[]|select(.type=="GENERATION")]|length' → 4 (none nested)
			// jq '[.observations[]|select(.type=="TOOL")|.metadata.attributes["gen_ai.tool.name"]]' → the 3 suggestion tools
			// jq '[.observations[]|select(.type=="GENERATION")|.usageDetails.input]|add' → 1315 (output: 209; total = input+output)
			// jq '[.observations[]|select(.type=="GENERATION")|.costDetails.total]|add' → 0.000322649999
			file: "langfuse__pydantic-ai-tools-2025-12-04.json", llm: 4,
			tools:  map[string]int{"get_pun_suggestion": 1, "get_dad_joke_suggestion": 1, "get_one_liner_suggestion": 1},
			tokens: trace.Usage{Input: 1315, Output: 209}, models: []string{"gpt-4o-mini-2024-07-18"}, cost: 0.000322649999,
		},
		{
			// 4 GENERATION (claude.assistant.turn), 2 TOOL mcp__weather__get_weather;
			// jq '[.observations[]|select(.type=="GENERATION")|.usageDetails|.input,.output]' → inputs 19+5+5+5, outputs 29+53+56+94
			file: "langfuse__claude-agent-2025-12-22.trace.json", llm: 4,
			tools:  map[string]int{"mcp__weather__get_weather": 2},
			tokens: trace.Usage{Input: 34, Output: 232}, models: []string{"claude-sonnet-4-5-20250929"}, cost: 0.003582,
		},
		{
			// 2 GENERATION ChatOpenAI; the get_weather SPAN outputs a ToolMessage (a tool step).
			// usageDetails: {input 142, output 24, total 166} and {input 179, output 35,
			// output_reasoning 64, total 278}: 179+35+64 = 278, so reasoning is apart from
			// output and is added to it: output 24 + 35 + 64 = 123.
			file: "langfuse__langgraph-js-2025-10-30.trace.json", llm: 2,
			tools:  map[string]int{"get_weather": 1},
			tokens: trace.Usage{Input: 321, Output: 123, Reasoning: 64}, models: []string{"gpt-5-mini-2025-08-07"}, cost: 0.00032625,
		},
		{
			// 4 GENERATION, but each OpenAIChat.invoke wraps a "chat gpt-4o-mini"
			// generation: 2 calls, usage of the inner ones (163+663 in, 20+225 out);
			// the duckduckgo_search SPAN carries tool.name: 1 tool step.
			file: "langfuse__agno-2025-06-11.json", llm: 2,
			tools:  map[string]int{"duckduckgo_search": 1},
			tokens: trace.Usage{Input: 826, Output: 245}, models: []string{"gpt-4o-mini"}, cost: 0.000270899999,
		},
		{
			// google-gemini: usageDetails {input 6, output 2055, completion_details.reasoning
			// 1104, total 2061}: 6 + 2055 = 2061, so reasoning is inside output.
			file: "langfuse__google-gemini-2025-08-01.json", llm: 1, tools: map[string]int{},
			tokens: trace.Usage{Input: 6, Output: 2055, Reasoning: 1104}, models: []string{"gemini-2.5-flash"}, cost: 0.005139299999,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, sum := testutil.ImportFile(t, Format{}, filepath.Join(dir, tt.file))
			if sum.LLMCalls != tt.llm {
				t.Errorf("llm calls = %d, want %d", sum.LLMCalls, tt.llm)
			}
			if !cmp.Equal(sum.Tools, tt.tools, cmpopts.EquateEmpty()) {
				t.Errorf("tools:\n%s", cmp.Diff(tt.tools, sum.Tools, cmpopts.EquateEmpty()))
			}
			if sum.Tokens != tt.tokens {
				t.Errorf("tokens = %+v, want %+v", sum.Tokens, tt.tokens)
			}
			if !cmp.Equal(sum.Models, tt.models) {
				t.Errorf("models = %v, want %v", sum.Models, tt.models)
			}
			if sum.Cost.Recorded == nil || !cmp.Equal(*sum.Cost.Recorded, tt.cost, cmpopts.EquateApprox(0, 1e-12)) {
				t.Errorf("recorded cost = %v, want %v", sum.Cost.Recorded, tt.cost)
			}
		})
	}
}
