package trace

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// SummaryVersion versions the JSON of `replay inspect --json`.
const SummaryVersion = 1

// Summary is what `replay inspect` shows about a trace. Counts include
// sub-agent runs.
type Summary struct {
	Version   int            `json:"version"`
	ID        string         `json:"id"`
	Format    string         `json:"format"`
	Source    string         `json:"source,omitempty"`
	Agent     string         `json:"agent,omitempty"`
	Session   string         `json:"session,omitempty"`
	Instance  string         `json:"instance,omitempty"` // benchmark instance or sample id
	Models    []string       `json:"models"`
	Runs      int            `json:"runs"` // the main run plus its sub-agent runs
	Steps     int            `json:"steps"`
	LLMCalls  int            `json:"llm_calls"`
	ToolCalls int            `json:"tool_calls"`
	Tools     map[string]int `json:"tools"`
	// Harness counts the tool results the agent's harness gave instead of
	// the tool (ToolCall.Harness: permission-aborted, rejected, …), by
	// outcome; verify answers them from the recording.
	Harness   map[string]int  `json:"harness,omitempty"`
	Tokens    Usage           `json:"tokens"`
	TokensOf  string          `json:"tokens_from"` // "steps", "recorded totals" or "none"
	Cost      CostSummary     `json:"cost_usd"`
	Refs      map[string]Ref  `json:"refs"`
	StartedAt *time.Time      `json:"started_at"`
	EndedAt   *time.Time      `json:"ended_at"`
	Status    string          `json:"status"`
	Decision  json.RawMessage `json:"decision"`
	// Resolved is the benchmark's recorded verdict (nil: none recorded).
	Resolved *bool      `json:"resolved,omitempty"`
	Replay   Replayable `json:"replayable"`
	// Instructions says what the trace holds of what the model was told
	// before the conversation: a counterfactual sends replay's own
	// substitute for what is missing (see `replay run`).
	Instructions InstructionsSummary `json:"instructions"`
	Warnings     []string            `json:"warnings"`
	Children     []ChildSummary      `json:"sub_agents,omitempty"`
	Recorded     *Totals             `json:"recorded_totals,omitempty"`
	Origin       *Origin             `json:"replay_of,omitempty"` // set on a run replay produced
	// Feedback is what humans did about the run: the trace's own feedback
	// events (and, for a stored trace, what was attached to it since).
	Feedback []Feedback `json:"feedback"`
}

// CostSummary keeps recorded and priced cost apart. Nil means unknown.
type CostSummary struct {
	Recorded *float64 `json:"recorded"`
	Priced   *float64 `json:"priced"`
	// Unpriced lists models the pricing table does not know; their calls
	// are left out of Priced.
	Unpriced []string `json:"unpriced_models,omitempty"`
}

// InstructionsSummary says whether the main run recorded its system prompt
// and how many tool definitions (with a schema) it recorded.
type InstructionsSummary struct {
	SystemPrompt bool `json:"system_prompt"`
	ToolDefs     int  `json:"tool_definitions"`
}

// Replayable says whether the trace can be replayed, and if not why.
type Replayable struct {
	OK      bool     `json:"ok"`
	Reasons []string `json:"reasons"`
}

// ChildSummary is one sub-agent run.
type ChildSummary struct {
	Key      string `json:"key"`
	Agent    string `json:"agent,omitempty"`
	LLMCalls int    `json:"llm_calls"`
	Tools    int    `json:"tool_calls"`
}

// Pricer prices a model call. ok is false for a model it does not know.
type Pricer interface {
	Price(model string, u Usage) (usd float64, ok bool)
}

// Summarizer accumulates a Summary from an event stream, in constant memory
// (apart from per-run and per-tool counters).
type Summarizer struct {
	Pricer Pricer

	s          Summary
	main       RunMeta
	mainOut    *Outcome
	stepCost   float64
	hasCost    bool
	priced     float64
	hasPriced  bool
	unpriced   map[string]bool
	children   map[string]*ChildSummary
	childOrder []string
	hasUser    bool
	hasSystem  bool
	hasUsage   bool // some model call carries its usage
	first      time.Time
	last       time.Time
}

// Emit implements Emitter.
func (z *Summarizer) Emit(ev *Event) error {
	s := &z.s
	if s.Tools == nil {
		s.Tools = map[string]int{}
	}
	if !ev.Time.IsZero() {
		if z.first.IsZero() || ev.Time.Before(z.first) {
			z.first = ev.Time
		}
		if ev.Time.After(z.last) {
			z.last = ev.Time
		}
	}
	switch ev.Type {
	case EvRun:
		if ev.Run == "" {
			z.main.Merge(ev.Meta)
		} else {
			c := z.child(ev.Run)
			if ev.Meta.Agent != "" {
				c.Agent = ev.Meta.Agent
			}
		}
	case EvMessage:
		s.Steps++
		if ev.Message.Role == "user" {
			z.hasUser = true
		}
		if ev.Message.Role == "system" && ev.Run == "" {
			z.hasSystem = true
		}
	case EvLLM:
		s.Steps++
		l := ev.LLM
		if l.Synthetic {
			break
		}
		s.LLMCalls++
		if ev.Run != "" {
			z.child(ev.Run).LLMCalls++
		}
		m := l.Model
		if m == "" {
			m = l.Params.Model
		}
		if m != "" && !slices.Contains(s.Models, m) {
			s.Models = append(s.Models, m)
		}
		if l.Cost.Recorded != nil {
			z.stepCost += *l.Cost.Recorded
			z.hasCost = true
		}
		if l.Usage != nil {
			z.hasUsage = true
			s.Tokens.Add(*l.Usage)
			z.price(m, *l.Usage, l.Cost.Priced)
		}
	case EvTool:
		s.Steps++
		s.ToolCalls++
		s.Tools[ev.Tool.Name]++
		if h := ev.Tool.Harness; h != "" {
			if s.Harness == nil {
				s.Harness = map[string]int{}
			}
			s.Harness[h]++
		}
		if ev.Run != "" {
			z.child(ev.Run).Tools++
		}
	case EvOutcome:
		if ev.Run == "" {
			z.mainOut = ev.Outcome
		}
	case EvWarning:
		s.Warnings = append(s.Warnings, ev.Warning.String())
	case EvFeedback:
		if ev.Feedback != nil {
			s.Feedback = append(s.Feedback, *ev.Feedback)
		}
	}
	return nil
}

func (z *Summarizer) price(model string, u Usage, given *float64) {
	if given != nil {
		z.priced += *given
		z.hasPriced = true
		return
	}
	if z.Pricer == nil || model == "" {
		return
	}
	if usd, ok := z.Pricer.Price(model, u); ok {
		z.priced += usd
		z.hasPriced = true
	} else {
		if z.unpriced == nil {
			z.unpriced = map[string]bool{}
		}
		z.unpriced[model] = true
	}
}

func (z *Summarizer) child(key string) *ChildSummary {
	if z.children == nil {
		z.children = map[string]*ChildSummary{}
	}
	c, ok := z.children[key]
	if !ok {
		c = &ChildSummary{Key: key}
		z.children[key] = c
		z.childOrder = append(z.childOrder, key)
	}
	return c
}

// Summary returns the summary of everything emitted so far.
func (z *Summarizer) Summary() Summary {
	s := z.s
	if s.Tools == nil {
		s.Tools = map[string]int{}
	} else {
		s.Tools = maps.Clone(s.Tools)
	}
	s.Harness = maps.Clone(s.Harness)
	s.Version = SummaryVersion
	s.ID = z.main.ID
	s.Format = z.main.Format
	s.Source = z.main.Source
	s.Agent = z.main.Agent
	s.Session = z.main.Session
	s.Instance = z.main.Instance
	s.Origin = z.main.Replay
	s.Instructions.SystemPrompt = z.hasSystem || z.main.Instr.System != "" || z.main.Instr.SystemRef != ""
	for _, d := range z.main.Instr.Tools {
		if len(d.Schema) > 0 {
			s.Instructions.ToolDefs++
		}
	}
	s.Runs = 1 + len(z.childOrder)
	for _, k := range z.childOrder {
		s.Children = append(s.Children, *z.children[k])
	}
	if s.Models == nil {
		s.Models = []string{}
	} else {
		s.Models = slices.Clone(s.Models)
	}
	s.Warnings = slices.Clone(s.Warnings)
	s.Feedback = append([]Feedback{}, s.Feedback...)
	if s.Warnings == nil {
		s.Warnings = []string{}
	}
	s.Refs = map[string]Ref{}
	z.main.Refs.Each(func(name string, r *Ref) { s.Refs[name] = *r })

	start, end := z.main.StartedAt, z.main.EndedAt
	if start.IsZero() {
		start = z.first
	}
	if end.IsZero() {
		end = z.last
	}
	if !start.IsZero() {
		s.StartedAt = &start
	}
	if !end.IsZero() {
		s.EndedAt = &end
	}

	var rec *Totals
	s.Status = StatusUnknown
	if o := z.mainOut; o != nil {
		s.Status = o.Status
		rec = o.Recorded
		if o.Decision != nil {
			s.Decision = o.Decision.Value
		}
		s.Resolved = o.Resolved
	}
	s.Recorded = rec

	s.TokensOf = "steps"
	if s.LLMCalls > 0 && !z.hasUsage && rec != nil && rec.Usage != nil {
		// The source records usage per run only (SWE-agent's model_stats).
		s.Tokens = *rec.Usage
		s.TokensOf = "recorded totals"
	}
	if s.LLMCalls == 0 {
		s.TokensOf = "none"
		if rec != nil && rec.Usage != nil {
			s.Tokens = *rec.Usage
			s.TokensOf = "recorded totals"
			if len(s.Models) == 0 && z.main.Defaults.Model != "" {
				s.Models = append(s.Models, z.main.Defaults.Model)
			}
			if len(s.Models) == 1 {
				z.price(s.Models[0], s.Tokens, nil)
			}
		}
	}
	if len(s.Models) == 0 && z.main.Defaults.Model != "" {
		s.Models = append(s.Models, z.main.Defaults.Model)
	}

	// Recorded cost: the source's own total when it has one, else the sum of
	// the per-call costs it recorded.
	switch {
	case rec != nil && rec.CostUSD != nil:
		s.Cost.Recorded = Float(*rec.CostUSD)
	case z.hasCost:
		s.Cost.Recorded = Float(z.stepCost)
	}
	if z.hasPriced {
		s.Cost.Priced = Float(z.priced)
	}
	for m := range z.unpriced {
		s.Cost.Unpriced = append(s.Cost.Unpriced, m)
	}
	slices.Sort(s.Cost.Unpriced)

	s.Replay = Replayable{OK: true, Reasons: []string{}}
	s.Replay.Reasons = append(s.Replay.Reasons, z.main.Blockers...)
	if s.LLMCalls == 0 && !z.hasUser && len(z.main.Blockers) == 0 {
		s.Replay.Reasons = append(s.Replay.Reasons, "no conversation recorded: the trace has no model calls and no user message to start from")
	}
	s.Replay.OK = len(s.Replay.Reasons) == 0
	return s
}

// Summarize returns the summary of a run built in memory.
func Summarize(r *Run, p Pricer) Summary {
	z := &Summarizer{Pricer: p}
	if err := r.Emit(z); err != nil {
		panic(fmt.Sprintf("summarizer cannot fail: %v", err))
	}
	return z.Summary()
}
