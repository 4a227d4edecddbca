package trace

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Event types. Each native JSONL line after the header is one Event.
const (
	EvHeader  = "header"
	EvRun     = "run"
	EvMessage = KindMessage
	EvLLM     = KindLLM
	EvTool    = KindTool
	EvOutcome = "outcome"
	EvWarning = "warning"
	// EvFeedback carries a human act about the main run (Feedback).
	EvFeedback = "feedback"
)

// Event is one item of a run's event stream. Type says which pointer is set.
// Run is the local key of the run the event belongs to ("" is the main run).
type Event struct {
	Type     string    `json:"type"`
	Run      string    `json:"run,omitempty"`
	Time     time.Time `json:"time,omitzero"` // step time (message, llm, tool)
	Header   *Header   `json:"header,omitempty"`
	Meta     *RunMeta  `json:"meta,omitempty"`
	Message  *Message  `json:"message,omitempty"`
	LLM      *LLMCall  `json:"llm,omitempty"`
	Tool     *ToolCall `json:"tool,omitempty"`
	Outcome  *Outcome  `json:"outcome,omitempty"`
	Warning  *Warning  `json:"warning,omitempty"`
	Feedback *Feedback `json:"feedback,omitempty"`
	Effect   *Effect   `json:"effect,omitempty"`
}

// Emitter receives a run's events in order. Importers hand each event over
// once and do not touch it afterwards; emitters may keep it.
type Emitter interface {
	Emit(ev *Event) error
}

// EmitterFunc adapts a function to Emitter.
type EmitterFunc func(*Event) error

// Emit calls f.
func (f EmitterFunc) Emit(ev *Event) error { return f(ev) }

// Tee sends every event to each emitter in turn, stopping at the first error.
func Tee(es ...Emitter) Emitter {
	return EmitterFunc(func(ev *Event) error {
		for _, e := range es {
			if err := e.Emit(ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// StepEvent returns the event that carries step s of run key.
func StepEvent(key string, s Step) *Event {
	return &Event{Type: s.Kind, Run: key, Time: s.Time, Message: s.Message, LLM: s.LLM, Tool: s.Tool}
}

// Step returns the step an event of kind message, llm or tool carries.
func (ev *Event) Step() (Step, bool) {
	switch ev.Type {
	case EvMessage, EvLLM, EvTool:
		return Step{Kind: ev.Type, Time: ev.Time, Message: ev.Message, LLM: ev.LLM, Tool: ev.Tool}, true
	}
	return Step{}, false
}

// Merge folds a later declaration of the same run into m: every field that is
// set in o replaces the one in m; list fields gain the entries they lack;
// attribute maps are merged.
func (m *RunMeta) Merge(o *RunMeta) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&m.ID, o.ID)
	set(&m.Parent, o.Parent)
	set(&m.ParentCall, o.ParentCall)
	set(&m.Format, o.Format)
	set(&m.Source, o.Source)
	set(&m.Agent, o.Agent)
	set(&m.Session, o.Session)
	set(&m.Generator, o.Generator)
	set(&m.Instance, o.Instance)
	for _, s := range o.Sessions {
		if !slices.Contains(m.Sessions, s) {
			m.Sessions = append(m.Sessions, s)
		}
	}
	for _, s := range o.Blockers {
		if !slices.Contains(m.Blockers, s) {
			m.Blockers = append(m.Blockers, s)
		}
	}
	m.Refs.Merge(o.Refs)
	set(&m.Instr.System, o.Instr.System)
	set(&m.Instr.SystemRef, o.Instr.SystemRef)
	set(&m.Instr.PromptName, o.Instr.PromptName)
	set(&m.Instr.PromptVersion, o.Instr.PromptVersion)
	if len(o.Instr.Tools) > 0 {
		m.Instr.Tools = o.Instr.Tools
	}
	m.Defaults.Merge(o.Defaults)
	if !o.StartedAt.IsZero() {
		m.StartedAt = o.StartedAt
	}
	if !o.EndedAt.IsZero() {
		m.EndedAt = o.EndedAt
	}
	if o.Replay != nil {
		m.Replay = o.Replay
	}
	if len(o.Attributes) > 0 {
		if m.Attributes == nil {
			m.Attributes = map[string]string{}
		}
		maps.Copy(m.Attributes, o.Attributes)
	}
}

// Merge sets every ref of o that is set.
func (r *Refs) Merge(o Refs) {
	for i, p := range r.fields() {
		if q := o.fields()[i]; *q != nil {
			*p = *q
		}
	}
}

// fields lists the refs in a fixed order, for code that treats them alike.
func (r *Refs) fields() [9]**Ref {
	return [9]**Ref{&r.Repo, &r.Commit, &r.BaseCommit, &r.Branch, &r.PR, &r.Issue, &r.WorkItem, &r.Cwd, &r.Image}
}

// RefNames are the JSON names of the refs, in the order of Refs.Each.
var refNames = [9]string{"repo", "commit", "base_commit", "branch", "pr", "issue", "work_item", "cwd", "image"}

// Each calls fn for every ref that is set, in a fixed order.
func (r *Refs) Each(fn func(name string, ref *Ref)) {
	for i, p := range r.fields() {
		if *p != nil {
			fn(refNames[i], *p)
		}
	}
}

// Merge sets every parameter of o that is set.
func (p *Params) Merge(o Params) {
	if o.Model != "" {
		p.Model = o.Model
	}
	if o.Provider != "" {
		p.Provider = o.Provider
	}
	if o.Temperature != nil {
		p.Temperature = o.Temperature
	}
	if o.TopP != nil {
		p.TopP = o.TopP
	}
	if o.TopK != nil {
		p.TopK = o.TopK
	}
	if o.MaxTokens != nil {
		p.MaxTokens = o.MaxTokens
	}
	if o.Seed != nil {
		p.Seed = o.Seed
	}
	if len(o.Stop) > 0 {
		p.Stop = o.Stop
	}
	if o.Effort != "" {
		p.Effort = o.Effort
	}
}

// Collector builds Runs from an event stream. The zero value is ready to use.
type Collector struct {
	runs     map[string]*Run
	order    []string
	outcomes map[string]*Outcome
	warnings []Warning
	feedback []Feedback
}

func (c *Collector) run(key string) *Run {
	if c.runs == nil {
		c.runs = map[string]*Run{}
	}
	r, ok := c.runs[key]
	if !ok {
		r = &Run{Meta: RunMeta{Key: key}}
		c.runs[key] = r
		c.order = append(c.order, key)
	}
	return r
}

// Emit implements Emitter.
func (c *Collector) Emit(ev *Event) error {
	switch ev.Type {
	case EvHeader:
	case EvRun:
		r := c.run(ev.Run)
		if ev.Meta != nil {
			r.Meta.Merge(ev.Meta)
		}
		r.Meta.Key = ev.Run
	case EvMessage, EvLLM, EvTool:
		s, _ := ev.Step()
		if (s.Message == nil) == (ev.Type == EvMessage) || (s.LLM == nil) == (ev.Type == EvLLM) || (s.Tool == nil) == (ev.Type == EvTool) {
			return fmt.Errorf("%s event without its %s field, or with another step's field", ev.Type, ev.Type)
		}
		r := c.run(ev.Run)
		r.Steps = append(r.Steps, s)
	case EvOutcome:
		r := c.run(ev.Run)
		if ev.Outcome != nil {
			r.Outcome = ev.Outcome
		}
	case EvWarning:
		if ev.Warning != nil {
			c.warnings = append(c.warnings, *ev.Warning)
		}
	case EvFeedback:
		if ev.Feedback != nil {
			c.feedback = append(c.feedback, *ev.Feedback)
		}
	case EvEffect:
		if ev.Effect != nil {
			r := c.run(ev.Run)
			r.Effects = append(r.Effects, *ev.Effect)
		}
	default:
		return fmt.Errorf("unknown event type %q", ev.Type)
	}
	return nil
}

// Run returns the main run with its children linked. Runs whose parent is
// missing, or whose parent chain loops, are attached to the main run.
func (c *Collector) Run() *Run {
	main := c.run("")
	for _, key := range c.order {
		c.runs[key].Children = nil // Run may be called again
	}
	for _, key := range c.order {
		if key == "" {
			continue
		}
		r := c.runs[key]
		parent := c.runs[r.Meta.Parent]
		if parent == nil || c.loops(key) {
			r.Meta.Parent = ""
			parent = main
		}
		parent.Children = append(parent.Children, r)
	}
	main.Warnings = append(main.Warnings[:0:0], c.warnings...)
	main.Feedback = append(main.Feedback[:0:0], c.feedback...)
	return main
}

// loops reports whether following parents from key never reaches the main run.
func (c *Collector) loops(key string) bool {
	seen := map[string]bool{}
	for k := key; k != ""; {
		if seen[k] {
			return true
		}
		seen[k] = true
		r := c.runs[k]
		if r == nil {
			return false // a missing parent is handled by the caller
		}
		k = r.Meta.Parent
	}
	return false
}

// Collect runs fn with a Collector and returns the main run it built.
func Collect(fn func(Emitter) error) (*Run, error) {
	var c Collector
	if err := fn(&c); err != nil {
		return nil, err
	}
	return c.Run(), nil
}

// Emit sends the run, its children and warnings as events: each run's
// declaration, its steps, its children, then its outcome.
func (r *Run) Emit(e Emitter) error {
	if err := r.emit(e); err != nil {
		return err
	}
	for i := range r.Feedback {
		if err := e.Emit(&Event{Type: EvFeedback, Feedback: &r.Feedback[i]}); err != nil {
			return err
		}
	}
	for i := range r.Warnings {
		if err := e.Emit(&Event{Type: EvWarning, Warning: &r.Warnings[i]}); err != nil {
			return err
		}
	}
	return nil
}

func (r *Run) emit(e Emitter) error {
	key := r.Meta.Key
	meta := r.Meta
	if err := e.Emit(&Event{Type: EvRun, Run: key, Meta: &meta}); err != nil {
		return err
	}
	for _, s := range r.Steps {
		if err := e.Emit(StepEvent(key, s)); err != nil {
			return err
		}
	}
	for i := range r.Effects {
		if err := e.Emit(&Event{Type: EvEffect, Run: key, Effect: &r.Effects[i]}); err != nil {
			return err
		}
	}
	for _, c := range r.Children {
		if err := c.emit(e); err != nil {
			return err
		}
	}
	if r.Outcome != nil {
		if err := e.Emit(&Event{Type: EvOutcome, Run: key, Outcome: r.Outcome}); err != nil {
			return err
		}
	}
	return nil
}

// Walk calls fn for r and every descendant, parents first.
func (r *Run) Walk(fn func(*Run)) {
	fn(r)
	for _, c := range r.Children {
		c.Walk(fn)
	}
}
