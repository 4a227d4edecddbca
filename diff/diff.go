package diff

import (
	"encoding/json"

	"github.com/agentreplay/replay/replay/trace"
)

// Schema is the version of the JSON report.
const Schema = "replay.diff/v1"

// Divergence kinds.
const (
	ToolChoice   = "tool_choice"   // the runs called different tools at the same point
	ArgsOnly     = "args_only"     // the same tool, different arguments
	OrderChange  = "order_change"  // the same call, made at another point
	Inserted     = "inserted"      // a call only B made
	Deleted      = "deleted"       // a call only A made
	ResultStatus = "result_status" // the same call, a different result or error
	FinalOutput  = "final_output"  // the same actions, a different final message
	DecisionKind = "decision"      // the same actions and message, a different decision
)

// Options tune a diff. The zero value is ready to use.
type Options struct {
	// Pricer prices the model calls that carry no priced cost (nil: only
	// the costs the runs carry are summed).
	Pricer trace.Pricer
	// SameResult, when set, says whether two results of the same call
	// are the same up to differences that carry no meaning (the engine's
	// verify normalizations: replay.CompareResults). Such pairs count as
	// equal, marked Normalized. Nil: results compare byte for byte.
	SameResult func(tool, a string, aErr bool, b string, bErr bool) bool
	// Effects, when set, reads the GitHub writes of a run that records no
	// effects (an original of another format: replay.WriteEffects), so
	// that a faithful replay's recorded writes match the original's.
	Effects func(*trace.Run) []trace.Effect
}

// Report is the difference between run A (usually the original) and run B.
// Its sections come in the order every renderer shows them.
type Report struct {
	Schema   string       `json:"schema"`
	A        RunInfo      `json:"a"`
	B        RunInfo      `json:"b"`
	Warnings []string     `json:"warnings"`
	Verdict  Verdict      `json:"verdict"`
	Decision DecisionDiff `json:"decision"`
	Steps    []StepPair   `json:"steps"`
	Children []ChildDiff  `json:"children"`
	Tools    ToolsDiff    `json:"tools"`
	Files    FilesDiff    `json:"files"`
	Cost     CostDiff     `json:"cost"`
	Final    TextDiff     `json:"final"`
}

// RunInfo says which run a side is.
type RunInfo struct {
	ID        string        `json:"id,omitempty"`
	Agent     string        `json:"agent,omitempty"`
	Format    string        `json:"format,omitempty"`
	Source    string        `json:"source,omitempty"`
	Models    []string      `json:"models"`
	Status    string        `json:"status"`            // ok, error, interrupted, unknown
	Stopped   string        `json:"stopped,omitempty"` // why a replay ended early
	StoppedAt int           `json:"stopped_at,omitempty"`
	Steps     int           `json:"steps"`
	Replay    *trace.Origin `json:"replay,omitempty"`
}

// Verdict is the one-line answer and what it rests on.
type Verdict struct {
	Line     string      `json:"line"`
	Agree    bool        `json:"agree"`    // the decisions agree
	Diverged bool        `json:"diverged"` // the actions part somewhere
	First    *Divergence `json:"first_divergence"`
	Recovery *Recovery   `json:"recovery"`
	Prefix   *Prefix     `json:"prefix"`
	Stopped  []string    `json:"stopped"` // runs that ended early, said plainly
}

// Divergence is the first point where the runs' actions part.
type Divergence struct {
	Kind     string `json:"kind"`
	Run      string `json:"run"`      // "" for the main run, else the sub-agent's key in B (or A)
	A        int    `json:"a_step"`   // 1-based step in A (0: none)
	B        int    `json:"b_step"`   // 1-based step in B (0: none)
	Step     int    `json:"step"`     // the step it is reported at: B's, else A's
	Pair     int    `json:"pair"`     // index into Steps (or the child's Steps); -1 for final_output and decision
	What     string `json:"what"`     // short, for the verdict line: "Grep → Task"
	Original string `json:"original"` // what A did there
	Replay   string `json:"replay"`   // what B did
}

// Recovery is where the runs align again after the first divergence.
type Recovery struct {
	A    int `json:"a_step"`
	B    int `json:"b_step"`
	Pair int `json:"pair"`
}

// Prefix is the reproduced part of a replay forked at step K.
type Prefix struct {
	FromStep   int `json:"from_step"`
	Reproduced int `json:"reproduced"` // steps before K equal in both
	Of         int `json:"of"`         // K-1
}

// Step is one step of a run, as the diff shows it. Output is complete in
// the JSON report; the other renderers cut it.
type Step struct {
	N         int             `json:"n"` // 1-based in its run
	Kind      string          `json:"kind"`
	Role      string          `json:"role,omitempty"`
	Tool      string          `json:"tool,omitempty"`
	Args      json.RawMessage `json:"arguments,omitempty"`
	Status    string          `json:"status,omitempty"`
	Output    string          `json:"output,omitempty"`
	Text      string          `json:"text,omitempty"`
	Calls     []string        `json:"calls,omitempty"` // llm: the tools it called
	Produced  string          `json:"produced,omitempty"`
	Model     string          `json:"model,omitempty"`
	Usage     *trace.Usage    `json:"usage,omitempty"`
	Cost      trace.Cost      `json:"cost,omitzero"`
	LatencyMS int64           `json:"latency_ms,omitempty"`
	Child     string          `json:"child,omitempty"`
	Error     string          `json:"error,omitempty"`
	callKey   string
}

// StepPair is one position of the alignment.
type StepPair struct {
	Op   Op     `json:"op"`
	Kind string `json:"kind,omitempty"` // a divergence kind, when this pair is one
	A    *Step  `json:"a"`
	B    *Step  `json:"b"`
	// Normalized marks an equal pair whose results differ only in ways
	// Options.SameResult discounts.
	Normalized bool `json:"normalized,omitempty"`
	// ArgChanges are the argument changes of an args_only pair.
	ArgChanges []Change `json:"arg_changes,omitempty"`
}

// Change is one difference of two JSON values at a path (".a.b[2]").
type Change struct {
	Path string          `json:"path"`
	Op   string          `json:"op"` // added, removed, changed
	A    json.RawMessage `json:"a,omitempty"`
	B    json.RawMessage `json:"b,omitempty"`
}

// ChildDiff is the alignment of two sub-agent runs (or a sub-agent only one
// run started).
type ChildDiff struct {
	Agent    string      `json:"agent"`
	A        string      `json:"a_key,omitempty"` // the child's key in A ("" : only in B)
	B        string      `json:"b_key,omitempty"`
	Match    string      `json:"matched_by"` // parent call, agent, none
	First    *Divergence `json:"first_divergence"`
	Steps    []StepPair  `json:"steps"`
	Children []ChildDiff `json:"children,omitempty"`
}

// TextDiff is a unified diff of two texts ("" when they are equal).
type TextDiff struct {
	Equal bool   `json:"equal"`
	A     string `json:"a"`
	B     string `json:"b"`
	Diff  string `json:"diff,omitempty"`
}

// Runs compares run a with run b. It does no I/O.
func Runs(a, b *trace.Run, opts Options) *Report {
	if a == nil {
		a = &trace.Run{}
	}
	if b == nil {
		b = &trace.Run{}
	}
	r := &Report{Schema: Schema, A: info(a), B: info(b), Warnings: []string{}, Children: []ChildDiff{}}
	r.Warnings = warnings(a, b)
	sa, sb := views(a), views(b)
	r.Steps = alignSteps(sa, sb)
	normalize(r.Steps, opts.SameResult)
	from := forkStep(b)
	r.Verdict.Prefix = prefix(r.Steps, from)
	first, firstIdx := firstDivergence(r.Steps, from)
	r.Children = alignChildren(a, b, r.Steps, opts.SameResult)
	if first == nil {
		for _, c := range r.Children {
			if c.First != nil {
				first = c.First
				break
			}
		}
	} else {
		r.Verdict.Recovery = recovery(r.Steps, firstIdx)
	}
	r.Decision = diffDecision(a, b, opts)
	r.Tools = diffTools(a, b, r.Steps)
	r.Files = diffFiles(a, b)
	r.Cost = diffCost(a, b, r.Steps, opts.Pricer)
	r.Final = textDiff(final(a), final(b), "a/final", "b/final")
	if first == nil && !r.Final.Equal {
		first = &Divergence{Kind: FinalOutput, A: len(sa), B: len(sb), Pair: -1, What: "the final message differs",
			Original: clip(oneLine(r.Final.A), 80), Replay: clip(oneLine(r.Final.B), 80)}
	}
	if first == nil && !r.Decision.Agree {
		first = &Divergence{Kind: DecisionKind, A: len(sa), B: len(sb), Pair: -1, What: "the decision differs",
			Original: r.Decision.Label[0], Replay: r.Decision.Label[1]}
	}
	if first != nil {
		first.Step = stepOf(first)
	}
	r.Verdict.First = first
	r.Verdict.Diverged = first != nil
	r.Verdict.Agree = r.Decision.Agree
	r.Verdict.Stopped = append(stopped(r.A, "A"), stopped(r.B, "B")...)
	r.Verdict.Line = verdictLine(r)
	return r
}
