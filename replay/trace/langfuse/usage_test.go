package langfuse

import (
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

func TestNormalizeUsage(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]float64
		want *trace.Usage
	}{
		{"no tokens", map[string]float64{}, nil},
		{"plain", map[string]float64{"input": 10, "output": 5, "total": 15}, &trace.Usage{Input: 10, Output: 5}},
		{"input only (beeai)", map[string]float64{"input": 1195, "total": 1195}, &trace.Usage{Input: 1195}},
		{
			// Langfuse's own convention: cache keys are disjoint from input.
			"langfuse disjoint cache keys, total agrees",
			map[string]float64{"input": 50, "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 300, "output": 30, "total": 2380},
			&trace.Usage{Input: 50, Output: 30, CacheRead: 2000, CacheWrite: 300},
		},
		{
			// The TS OpenAI wrapper copies prompt_tokens (cache included):
			// the total shows it.
			"input includes cache, total says so",
			map[string]float64{"input": 17903, "input_cached_tokens": 17817, "output": 10, "total": 17913},
			&trace.Usage{Input: 86, Output: 10, CacheRead: 17817},
		},
		{
			"langfuse name without total: disjoint",
			map[string]float64{"input": 86, "input_cache_read": 17817, "output": 10},
			&trace.Usage{Input: 86, Output: 10, CacheRead: 17817},
		},
		{
			"openinference name without total: included",
			map[string]float64{"input": 2000, "prompt_details.cache_read": 1500, "output": 10},
			&trace.Usage{Input: 500, Output: 10, CacheRead: 1500},
		},
		{
			// A name that says "included" but a total that says otherwise:
			// the total wins.
			"total overrides the name",
			map[string]float64{"input": 500, "prompt_details.cache_read": 1500, "output": 10, "total": 2010},
			&trace.Usage{Input: 500, Output: 10, CacheRead: 1500},
		},
		{
			"cache larger than input cannot be inside it",
			map[string]float64{"input": 5, "input_cached_tokens": 100, "output": 1},
			&trace.Usage{Input: 5, Output: 1, CacheRead: 100},
		},
		{
			"reasoning apart from output (langchain handler)",
			map[string]float64{"input": 179, "output": 35, "output_reasoning": 64, "total": 278},
			&trace.Usage{Input: 179, Output: 99, Reasoning: 64},
		},
		{
			"reasoning inside output (openinference, gemini)",
			map[string]float64{"input": 6, "output": 2055, "completion_details.reasoning": 1104, "total": 2061},
			&trace.Usage{Input: 6, Output: 2055, Reasoning: 1104},
		},
		{
			"openai names",
			map[string]float64{"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
			&trace.Usage{Input: 100, Output: 20},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := normalizeUsage(tt.in)
			switch {
			case got == nil && tt.want == nil:
			case got == nil || tt.want == nil || *got != *tt.want:
				t.Errorf("normalizeUsage(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}
