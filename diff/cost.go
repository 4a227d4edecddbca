package diff

import (
	"github.com/agentreplay/replay/replay/trace"
)

// CostDiff compares tokens, cost and latency, in total and per aligned
// model call. Recorded and priced cost are kept apart, never mixed.
type CostDiff struct {
	A Totals `json:"a"`
	B Totals `json:"b"`
	// Delta is B minus A; Ratio B over A (nil where A is zero or unknown).
	Delta Deltas `json:"delta"`
	Ratio Ratios `json:"ratio"`
	// Steps are the aligned model calls of the main runs.
	Steps []StepCost `json:"steps"`
}

// Totals are one run's sums over its model calls and tool calls,
// sub-agents included.
type Totals struct {
	LLMCalls  int         `json:"llm_calls"`
	ToolCalls int         `json:"tool_calls"`
	Tokens    trace.Usage `json:"tokens"`
	// Recorded sums the costs the source recorded per call (nil: none
	// recorded); RecordedTotal is the source's own total for the run.
	Recorded      *float64 `json:"recorded_usd"`
	RecordedTotal *float64 `json:"recorded_total_usd,omitempty"`
	// Priced sums the priced costs (the run's own, else the pricing
	// table's); Unpriced counts calls that could not be priced.
	Priced   *float64 `json:"priced_usd"`
	Unpriced int      `json:"unpriced_calls"`
	LLMMS    int64    `json:"llm_latency_ms"`
	ToolMS   int64    `json:"tool_duration_ms"`
	WallMS   int64    `json:"wall_ms"` // ended_at - started_at, when both are known
}

// Deltas are B minus A.
type Deltas struct {
	Tokens   trace.Usage `json:"tokens"`
	Recorded *float64    `json:"recorded_usd"`
	Priced   *float64    `json:"priced_usd"`
	LLMMS    int64       `json:"llm_latency_ms"`
	WallMS   int64       `json:"wall_ms"`
}

// Ratios are B over A.
type Ratios struct {
	Tokens *float64 `json:"tokens"` // all four counts summed
	Priced *float64 `json:"priced_usd"`
	LLMMS  *float64 `json:"llm_latency_ms"`
}

// StepCost is one aligned pair of model calls (either side may be absent).
type StepCost struct {
	A         int         `json:"a_step"`
	B         int         `json:"b_step"`
	Tokens    [2]int64    `json:"tokens"` // all four counts summed
	Priced    [2]*float64 `json:"priced_usd"`
	Recorded  [2]*float64 `json:"recorded_usd"`
	LatencyMS [2]int64    `json:"latency_ms"`
}

func tokens(u *trace.Usage) int64 {
	if u == nil {
		return 0
	}
	return u.Input + u.Output + u.CacheRead + u.CacheWrite
}

func addPtr(p **float64, v float64) {
	if *p == nil {
		*p = new(float64)
	}
	**p += v
}

// price is a call's priced cost: its own, else the pricer's.
func price(l *trace.LLMCall, p trace.Pricer) *float64 {
	if l.Cost.Priced != nil {
		return l.Cost.Priced
	}
	if l.Synthetic {
		z := 0.0
		return &z
	}
	if p != nil && l.Usage != nil {
		m := l.Model
		if m == "" {
			m = l.Params.Model
		}
		if usd, ok := p.Price(m, *l.Usage); ok {
			return &usd
		}
	}
	return nil
}

func totals(r *trace.Run, p trace.Pricer, t *Totals) {
	for _, s := range r.Steps {
		switch {
		case s.LLM != nil:
			l := s.LLM
			t.LLMCalls++
			if l.Usage != nil {
				t.Tokens.Add(*l.Usage)
			}
			if l.Cost.Recorded != nil {
				addPtr(&t.Recorded, *l.Cost.Recorded)
			}
			if v := price(l, p); v != nil {
				addPtr(&t.Priced, *v)
			} else if l.Usage != nil && !l.Usage.IsZero() {
				t.Unpriced++
			}
			t.LLMMS += l.LatencyMS
		case s.Tool != nil:
			t.ToolCalls++
			t.ToolMS += s.Tool.DurationMS
		}
	}
	for _, c := range r.Children {
		totals(c, p, t)
	}
}

func sub(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	d := *b - *a
	return &d
}

func ratio(a, b float64) *float64 {
	if a == 0 {
		return nil
	}
	r := b / a
	return &r
}

func diffCost(a, b *trace.Run, ps []StepPair, p trace.Pricer) CostDiff {
	var cd CostDiff
	totals(a, p, &cd.A)
	totals(b, p, &cd.B)
	for i, r := range []*trace.Run{a, b} {
		t := &cd.A
		if i == 1 {
			t = &cd.B
		}
		if !r.Meta.StartedAt.IsZero() && r.Meta.EndedAt.After(r.Meta.StartedAt) {
			t.WallMS = r.Meta.EndedAt.Sub(r.Meta.StartedAt).Milliseconds()
		}
		if o := r.Outcome; o != nil && o.Recorded != nil {
			t.RecordedTotal = o.Recorded.CostUSD
		}
	}
	d := &cd.Delta
	d.Tokens = trace.Usage{Input: cd.B.Tokens.Input - cd.A.Tokens.Input, Output: cd.B.Tokens.Output - cd.A.Tokens.Output,
		CacheRead: cd.B.Tokens.CacheRead - cd.A.Tokens.CacheRead, CacheWrite: cd.B.Tokens.CacheWrite - cd.A.Tokens.CacheWrite,
		Reasoning: cd.B.Tokens.Reasoning - cd.A.Tokens.Reasoning}
	d.Recorded, d.Priced = sub(cd.A.Recorded, cd.B.Recorded), sub(cd.A.Priced, cd.B.Priced)
	d.LLMMS, d.WallMS = cd.B.LLMMS-cd.A.LLMMS, cd.B.WallMS-cd.A.WallMS
	ta, tb := cd.A.Tokens, cd.B.Tokens
	cd.Ratio.Tokens = ratio(float64(tokens(&ta)), float64(tokens(&tb)))
	if cd.A.Priced != nil && cd.B.Priced != nil {
		cd.Ratio.Priced = ratio(*cd.A.Priced, *cd.B.Priced)
	}
	cd.Ratio.LLMMS = ratio(float64(cd.A.LLMMS), float64(cd.B.LLMMS))
	cd.Steps = []StepCost{}
	stepLLM := func(r *trace.Run, s *Step) *trace.LLMCall {
		if s == nil || s.Kind != trace.KindLLM {
			return nil
		}
		return r.Steps[s.N-1].LLM
	}
	for _, sp := range ps {
		la, lb := stepLLM(a, sp.A), stepLLM(b, sp.B)
		if la == nil && lb == nil {
			continue
		}
		var sc StepCost
		for i, l := range []*trace.LLMCall{la, lb} {
			if l == nil {
				continue
			}
			if i == 0 {
				sc.A = sp.A.N
			} else {
				sc.B = sp.B.N
			}
			sc.Tokens[i] = tokens(l.Usage)
			sc.Priced[i] = price(l, p)
			sc.Recorded[i] = l.Cost.Recorded
			sc.LatencyMS[i] = l.LatencyMS
		}
		cd.Steps = append(cd.Steps, sc)
	}
	return cd
}
