package diff

import (
	"sort"

	"github.com/agentreplay/replay/replay/trace"
)

// ToolsDiff compares the runs' tool calls, sub-agents included.
type ToolsDiff struct {
	Tools []ToolCount `json:"tools"` // by name
	// OnlyA are calls A made that B never made with the same arguments
	// (and the other way round).
	OnlyA []CallRef `json:"only_a"`
	OnlyB []CallRef `json:"only_b"`
	// ArgChanges are aligned calls of the same tool whose arguments differ.
	ArgChanges []ArgChange `json:"arg_changes"`
	// Failed are the calls that ended in error (or were interrupted or
	// never answered) in each run.
	Failed []CallRef `json:"failed"`
	// Produced counts how each run's tool results were produced (in a
	// replay: exec, recorded, snapshot, denied, agent; "recorded" for an
	// original's own results).
	Produced [2]map[string]int `json:"produced"`
}

// ToolCount is one tool's calls in each run.
type ToolCount struct {
	Name   string   `json:"name"`
	Count  [2]int   `json:"count"`
	Failed [2]int   `json:"failed"`
	Steps  [2][]Ref `json:"steps"` // where the calls are
}

// Ref is a step of a run: its run key ("" is the main run) and 1-based
// step number.
type Ref struct {
	Run  string `json:"run,omitempty"`
	Step int    `json:"step"`
}

// CallRef is one call.
type CallRef struct {
	Side   string `json:"side,omitempty"` // a or b (failed calls)
	Run    string `json:"run,omitempty"`
	Step   int    `json:"step"`
	Tool   string `json:"tool"`
	Call   string `json:"call"` // the call in a few words
	Status string `json:"status,omitempty"`
}

// ArgChange is an aligned pair of calls whose arguments differ.
type ArgChange struct {
	Tool    string   `json:"tool"`
	A       int      `json:"a_step"`
	B       int      `json:"b_step"`
	Changes []Change `json:"changes"`
}

type call struct {
	run  string
	step *Step
}

func allCalls(r *trace.Run, out []call) []call {
	for _, s := range views(r) {
		if s.Kind == trace.KindTool {
			out = append(out, call{r.Meta.Key, s})
		}
	}
	for _, c := range r.Children {
		out = allCalls(c, out)
	}
	return out
}

func diffTools(a, b *trace.Run, ps []StepPair) ToolsDiff {
	td := ToolsDiff{Tools: []ToolCount{}, OnlyA: []CallRef{}, OnlyB: []CallRef{}, ArgChanges: []ArgChange{}, Failed: []CallRef{},
		Produced: [2]map[string]int{{}, {}}}
	counts := map[string]*ToolCount{}
	calls := [2][]call{allCalls(a, nil), allCalls(b, nil)}
	keys := [2]map[string]int{{}, {}}
	for side, cs := range calls {
		for _, c := range cs {
			s := c.step
			tc := counts[s.Tool]
			if tc == nil {
				tc = &ToolCount{Name: s.Tool, Steps: [2][]Ref{{}, {}}}
				counts[s.Tool] = tc
			}
			tc.Count[side]++
			tc.Steps[side] = append(tc.Steps[side], Ref{Run: c.run, Step: s.N})
			if s.Status != trace.ToolOK && s.Status != "" {
				tc.Failed[side]++
				td.Failed = append(td.Failed, CallRef{Side: "ab"[side : side+1], Run: c.run, Step: s.N, Tool: s.Tool, Call: callText(s), Status: s.Status})
			}
			p := s.Produced
			if p == "" {
				p = "recorded"
			}
			td.Produced[side][p]++
			keys[side][s.callKey]++
		}
	}
	for _, tc := range counts {
		td.Tools = append(td.Tools, *tc)
	}
	sort.Slice(td.Tools, func(i, j int) bool { return td.Tools[i].Name < td.Tools[j].Name })
	// Only in one run: the multiset difference of identical calls.
	only := func(cs []call, other map[string]int) []CallRef {
		left := map[string]int{}
		for k, n := range other {
			left[k] = n
		}
		out := []CallRef{}
		for _, c := range cs {
			if left[c.step.callKey] > 0 {
				left[c.step.callKey]--
				continue
			}
			out = append(out, CallRef{Run: c.run, Step: c.step.N, Tool: c.step.Tool, Call: callText(c.step)})
		}
		return out
	}
	td.OnlyA, td.OnlyB = only(calls[0], keys[1]), only(calls[1], keys[0])
	for _, sp := range ps {
		if sp.Kind == ArgsOnly {
			td.ArgChanges = append(td.ArgChanges, ArgChange{Tool: sp.A.Tool, A: sp.A.N, B: sp.B.N, Changes: sp.ArgChanges})
		}
	}
	return td
}
