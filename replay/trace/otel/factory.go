package otel

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// TelemetryOnly is the blocker of a run imported from the factory's
// run-telemetry.jsonl alone: its spans carry totals, not the conversation.
const TelemetryOnly = "telemetry only: the run's conversation (transcripts) is not in this file; import the whole run directory"

// FactoryRun is what the factory's own spans (run → sandbox_create, one
// agent span per iteration) record about a run.
type FactoryRun struct {
	TraceID  string
	SpanID   string // of the root "run" span
	Agent    string // fullsend.agent
	WorkItem string // fullsend.work_item_id as recorded (may be "unknown")
	// Repo is owner/repo taken from WorkItem; "" when WorkItem is not of
	// the form owner/repo#N.
	Repo      string
	Model     string // gen_ai.request.model of the root span, else of the last iteration
	Provider  string // gen_ai.provider.name / gen_ai.system of the root or an iteration
	StartedAt time.Time
	EndedAt   time.Time
	ExitCode  *int
	Status    string // trace.StatusOK or trace.StatusError
	Error     string
	// Skipped is the reason the agent did not run (fullsend.prescript.skipped).
	Skipped    string
	Totals     trace.Totals
	Iterations []FactoryIteration
	// Attributes are the fullsend.* attributes of the root span, as text.
	Attributes map[string]string
	Generator  string // instrumentation scope of the spans
}

// FactoryIteration is one agent span (one iteration of the agent).
type FactoryIteration struct {
	N         int
	SpanID    string
	Start     time.Time
	End       time.Time
	Model     string
	Usage     *trace.Usage
	CostUSD   *float64
	ToolCalls int64
	ExitCode  *int
	Status    string
}

// repoOfWorkItem returns owner/repo of a work item "owner/repo#N", or "".
func repoOfWorkItem(w string) string {
	repo, num, ok := strings.Cut(w, "#")
	if !ok || !isDigits(num) {
		return ""
	}
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !nameChars(owner) || !nameChars(name) {
		return ""
	}
	return repo
}

// nameChars reports whether s is a GitHub owner or repository name.
func nameChars(s string) bool {
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

// FactoryTotals reads the factory's totals from its spans (as ReadSpans
// returns them from run-telemetry.jsonl). The root is the span with
// fullsend.* attributes that has no parent among spans (the "run" span);
// its iterations are its child spans named "agent" (or invoke_agent spans
// with an iteration attribute).
//
// Token counts follow Anthropic's convention when the provider is
// anthropic (fullsend's input_tokens exclude cached tokens: a real agent
// span records input 11 beside cache_read 109938); otherwise OTel's (input
// includes cached tokens, which are subtracted).
//
// It returns an error wrapping trace.ErrNotTrace when no span carries
// fullsend.* attributes.
func FactoryTotals(spans []Span) (*FactoryRun, error) {
	byID := map[string]*Span{}
	for i := range spans {
		if spans[i].SpanID != "" {
			byID[spans[i].TraceID+"/"+spans[i].SpanID] = &spans[i]
		}
	}
	var root *Span
	for i := range spans {
		sp := &spans[i]
		if !hasPrefix(sp.Attrs, "fullsend.") {
			continue
		}
		if sp.ParentID != "" && byID[sp.TraceID+"/"+sp.ParentID] != nil {
			continue
		}
		if root == nil || (sp.Name == "run" && root.Name != "run") {
			root = sp
		}
	}
	if root == nil {
		return nil, fmt.Errorf("read factory totals: %w: no span carries fullsend.* attributes", trace.ErrNotTrace)
	}
	a := attrs(root.Attrs)
	f := &FactoryRun{
		TraceID:   root.TraceID,
		SpanID:    root.SpanID,
		Agent:     a.first("fullsend.agent", "gen_ai.agent.name"),
		WorkItem:  a.str("fullsend.work_item_id"),
		Model:     a.str("gen_ai.request.model"),
		Provider:  a.first("gen_ai.provider.name", "gen_ai.system"),
		StartedAt: root.Start,
		EndedAt:   root.End,
		Status:    trace.StatusOK,
		Generator: root.Scope,
	}
	f.Repo = repoOfWorkItem(f.WorkItem)
	for k, v := range root.Attrs {
		if strings.HasPrefix(k, "fullsend.") {
			if f.Attributes == nil {
				f.Attributes = map[string]string{}
			}
			f.Attributes[k] = valueText(v)
		}
	}
	if n, ok := a.int("exit_code"); ok {
		c := int(n)
		f.ExitCode = &c
	}
	if a.bool("fullsend.prescript.skipped") {
		f.Skipped = a.str("fullsend.prescript.skip_reason")
		if f.Skipped == "" {
			f.Skipped = "skipped by the pre-script"
		}
	}

	for i := range spans {
		sp := &spans[i]
		if sp == root || sp.TraceID != root.TraceID || sp.ParentID != root.SpanID || root.SpanID == "" {
			continue
		}
		ia := attrs(sp.Attrs)
		if sp.Name != "agent" && !(strings.EqualFold(ia.str("gen_ai.operation.name"), "invoke_agent") && ia.has("iteration")) {
			continue
		}
		it := FactoryIteration{SpanID: sp.SpanID, Start: sp.Start, End: sp.End, Model: ia.str("gen_ai.request.model"), Status: trace.StatusOK}
		if n, ok := ia.int("iteration"); ok {
			it.N = int(n)
		}
		if p := ia.first("gen_ai.provider.name", "gen_ai.system"); p != "" && f.Provider == "" {
			f.Provider = p
		}
		if c, ok := ia.float("fullsend.cost_usd"); ok && !ia.bool("fullsend.cost_unavailable") {
			it.CostUSD = trace.Float(c)
		}
		it.ToolCalls, _ = ia.int("fullsend.tool_calls")
		if n, ok := ia.int("exit_code"); ok {
			c := int(n)
			it.ExitCode = &c
		}
		if sp.StatusCode == StatusError || (it.ExitCode != nil && *it.ExitCode != 0) {
			it.Status = trace.StatusError
		}
		f.Iterations = append(f.Iterations, it)
	}
	sort.SliceStable(f.Iterations, func(i, j int) bool {
		if f.Iterations[i].N != f.Iterations[j].N {
			return f.Iterations[i].N < f.Iterations[j].N
		}
		return f.Iterations[i].Start.Before(f.Iterations[j].Start)
	})
	anthropic := strings.EqualFold(f.Provider, "anthropic")
	for i := range f.Iterations {
		sp := findSpan(spans, root.TraceID, f.Iterations[i].SpanID)
		if sp != nil {
			f.Iterations[i].Usage = usage(attrs(sp.Attrs), anthropic)
		}
		if f.Model == "" && f.Iterations[i].Model != "" && i == len(f.Iterations)-1 {
			f.Model = f.Iterations[i].Model
		}
	}

	t := &f.Totals
	t.Usage = usage(a, anthropic)
	if t.Usage == nil {
		var sum trace.Usage
		seen := false
		for _, it := range f.Iterations {
			if it.Usage != nil {
				sum.Add(*it.Usage)
				seen = true
			}
		}
		if seen {
			t.Usage = &sum
		}
	}
	if c, ok := a.float("fullsend.cost_usd"); ok && !a.bool("fullsend.cost_unavailable") {
		t.CostUSD = trace.Float(c)
	} else if !a.bool("fullsend.cost_unavailable") && len(f.Iterations) > 0 {
		sum, all := 0.0, true
		for _, it := range f.Iterations {
			if it.CostUSD == nil {
				all = false
				break
			}
			sum += *it.CostUSD
		}
		if all {
			t.CostUSD = trace.Float(sum)
		}
	}
	t.Turns, _ = a.int("fullsend.num_turns")
	t.ToolCalls, _ = a.int("fullsend.tool_calls")
	t.DurationMS = root.Duration().Milliseconds()

	switch {
	case root.StatusCode == StatusError:
		f.Status = trace.StatusError
		f.Error = root.StatusMessage
		if f.Error == "" {
			f.Error = "the run span ended with an error status"
		}
	case f.ExitCode != nil && *f.ExitCode != 0:
		f.Status = trace.StatusError
		f.Error = fmt.Sprintf("exit code %d", *f.ExitCode)
	}
	return f, nil
}

func findSpan(spans []Span, traceID, spanID string) *Span {
	for i := range spans {
		if spans[i].TraceID == traceID && spans[i].SpanID == spanID {
			return &spans[i]
		}
	}
	return nil
}

// Meta returns the run metadata the spans give: agent, refs from the work
// item, model, times, fullsend.* attributes. It sets no Format, Source or
// blocker: the caller knows what else it imports.
func (f *FactoryRun) Meta() trace.RunMeta {
	m := trace.RunMeta{
		Agent:     f.Agent,
		Generator: f.Generator,
		Defaults:  trace.Params{Model: f.Model, Provider: f.Provider},
		StartedAt: f.StartedAt,
		EndedAt:   f.EndedAt,
	}
	if len(f.Attributes) > 0 {
		m.Attributes = make(map[string]string, len(f.Attributes))
		for k, v := range f.Attributes {
			m.Attributes[k] = v
		}
	}
	if f.Repo != "" {
		m.Refs.WorkItem = &trace.Ref{Value: f.WorkItem, Provenance: trace.Recorded, From: "fullsend.work_item_id"}
		m.Refs.Repo = &trace.Ref{Value: f.Repo, Provenance: trace.Recorded, From: "fullsend.work_item_id"}
	}
	if f.Skipped != "" {
		m.Blockers = append(m.Blockers, "the agent did not run: "+f.Skipped)
	}
	return m
}

// Outcome returns the run's status and the totals the factory recorded.
func (f *FactoryRun) Outcome() *trace.Outcome {
	t := f.Totals
	if t.Usage != nil {
		u := *t.Usage
		t.Usage = &u
	}
	return &trace.Outcome{Status: f.Status, Error: f.Error, Recorded: &t}
}
