package replay

import (
	"fmt"

	"github.com/agentreplay/replay/replay/trace"
)

// Divergence is the first point where a replay's actions part from the
// original's.
type Divergence struct {
	Step     int    `json:"step"`     // 1-based step of the main run where it happens (in the new run)
	Original string `json:"original"` // what the original did there
	Replay   string `json:"replay"`   // what the replay did
}

// FirstDivergence compares the main runs' actions, in order: the tool calls
// made (name and arguments, up to key order and cosmetic fields), then
// whether the run went on. Nil when they did the same.
func FirstDivergence(orig, replayed *trace.Run) *Divergence {
	type action struct {
		step int
		key  string
		text string
	}
	actions := func(r *trace.Run) []action {
		var out []action
		for i, s := range r.Steps {
			if s.Tool != nil {
				text := s.Tool.Name + " " + compactArgs(s.Tool.Arguments)
				if r := []rune(text); len(r) > 200 {
					text = string(r[:199]) + "…"
				}
				out = append(out, action{i + 1, callKey(s.Tool.Name, s.Tool.Arguments), text})
			}
		}
		return out
	}
	a, b := actions(orig), actions(replayed)
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].key != b[i].key {
			return &Divergence{Step: b[i].step, Original: a[i].text, Replay: b[i].text}
		}
	}
	switch {
	case len(a) > len(b):
		step := len(replayed.Steps)
		return &Divergence{Step: step, Original: a[len(b)].text, Replay: fmt.Sprintf("ended after %d tool calls", len(b))}
	case len(b) > len(a):
		return &Divergence{Step: b[len(a)].step, Original: fmt.Sprintf("ended after %d tool calls", len(a)), Replay: b[len(a)].text}
	}
	return nil
}
