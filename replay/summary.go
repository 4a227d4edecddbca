package replay

import (
	"encoding/json"

	"github.com/agentreplay/replay/replay/trace"
)

// Summary is a replay beside its original, in a few numbers: the
// decision, the calls, tokens and cost, how the tool results were
// produced. (`replay run --json` prints it beside the diff package's first
// divergence; `replay diff` compares two runs in full.)
type Summary struct {
	Original  string          `json:"original"`
	Run       string          `json:"run"`
	Sample    int             `json:"sample"`
	Variant   Record          `json:"-"`
	Stopped   string          `json:"stopped,omitempty"`
	Decision  json.RawMessage `json:"decision"`
	Was       json.RawMessage `json:"original_decision"`
	LLMCalls  [2]int          `json:"llm_calls"`  // original, new
	ToolCalls [2]int          `json:"tool_calls"` // original, new
	Tokens    [2]trace.Usage  `json:"tokens"`
	CostUSD   [2]*float64     `json:"cost_usd"` // original (recorded, else priced), new (priced)
	Produced  map[string]int  `json:"tool_results"`
}

// Record is a variant as the stored run records it: flag name -> value.
type Record = map[string]string

// Summarize sets a replay beside its original.
func Summarize(r *Result) Summary {
	o, n := r.Original, r.New
	c := Summary{Original: o.ID, Run: r.ID, Stopped: r.Report.Stopped, Decision: n.Decision, Was: o.Decision,
		LLMCalls: [2]int{o.LLMCalls, n.LLMCalls}, ToolCalls: [2]int{o.ToolCalls, n.ToolCalls}, Tokens: [2]trace.Usage{o.Tokens, n.Tokens},
		Produced: map[string]int{}}
	if run := r.Report.Run; run != nil && run.Meta.Replay != nil {
		c.Sample = run.Meta.Replay.Sample
		c.Variant = run.Meta.Replay.Variant
	}
	c.CostUSD[0] = o.Cost.Recorded
	if c.CostUSD[0] == nil {
		c.CostUSD[0] = o.Cost.Priced
	}
	c.CostUSD[1] = n.Cost.Priced // nil when no call could be priced
	for _, call := range r.Report.Calls {
		c.Produced[call.Produced]++
	}
	return c
}
