package diff

import (
	"sort"

	"github.com/agentreplay/replay/replay/trace"
)

// Many is an original beside several replays of it (the samples of
// `replay run --repeat N`): each replay diffed against the original, the
// distribution of their decisions, how often they flip the original's,
// and where the replays part from each other.
type Many struct {
	Schema   string    `json:"schema"`
	Original RunInfo   `json:"original"`
	Runs     []*Report `json:"runs"` // replay i against the original
	// Decisions are the replays' decisions with how many gave each, most
	// frequent first; Runs lists them (1-based, in the order given).
	Decisions []DecisionCount `json:"decisions"`
	// Flips counts the replays whose decision does not agree with the
	// original's; FlipRate is Flips over the replays.
	Flips    int     `json:"flips"`
	FlipRate float64 `json:"flip_rate"`
	// Parting is where the replays' actions first part from each other,
	// against the first replay (nil when they all do the same).
	Parting *Parting `json:"parting"`
	Line    string   `json:"line"`
}

// DecisionCount is one decision and the replays that made it.
type DecisionCount struct {
	Decision string `json:"decision"`
	Count    int    `json:"count"`
	Runs     []int  `json:"runs"`
	Original bool   `json:"original"` // the original made it too
}

// Parting is the earliest divergence of a replay from the first replay.
type Parting struct {
	Run        int         `json:"run"` // the replay (1-based) that parts first from replay 1
	Divergence *Divergence `json:"divergence"`
}

// RunsMany diffs each replay against the original.
func RunsMany(orig *trace.Run, replays []*trace.Run, opts Options) *Many {
	m := &Many{Schema: Schema, Decisions: []DecisionCount{}, Runs: []*Report{}}
	if orig == nil {
		orig = &trace.Run{}
	}
	m.Original = info(orig)
	byLabel := map[string]*DecisionCount{}
	var order []string
	for i, r := range replays {
		rep := Runs(orig, r, opts)
		m.Runs = append(m.Runs, rep)
		l := rep.Decision.Label[1]
		dc := byLabel[l]
		if dc == nil {
			dc = &DecisionCount{Decision: l, Original: l == rep.Decision.Label[0]}
			byLabel[l] = dc
			order = append(order, l)
		}
		dc.Count++
		dc.Runs = append(dc.Runs, i+1)
		if !rep.Decision.Agree {
			m.Flips++
		}
	}
	for _, l := range order {
		m.Decisions = append(m.Decisions, *byLabel[l])
	}
	sort.SliceStable(m.Decisions, func(i, j int) bool { return m.Decisions[i].Count > m.Decisions[j].Count })
	if len(replays) > 0 {
		m.FlipRate = float64(m.Flips) / float64(len(replays))
	}
	for i := 1; i < len(replays); i++ {
		d := Runs(replays[0], replays[i], opts).Verdict.First
		if d == nil || d.Kind == FinalOutput || d.Kind == DecisionKind {
			continue
		}
		if m.Parting == nil || stepOf(d) < stepOf(m.Parting.Divergence) {
			m.Parting = &Parting{Run: i + 1, Divergence: d}
		}
	}
	m.Line = manyLine(m)
	return m
}
