package otel

import (
	"encoding/json"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// Attributes replay writes on the spans it exports (package export) beside
// the GenAI ones, for what the conventions have no name for. The importer
// reads them back, so that an exported run imports as the run it was:
// recorded and priced cost kept apart, how each result was produced, tool
// statuses and exit codes, the recorded totals, the refs, and what a replay
// replays.
const (
	AttrRunID        = "replay.run.id"            // agent spans: the run's store id
	AttrRunFormat    = "replay.run.format"        // agent spans: the run's source format
	AttrProduced     = "replay.produced"          // model and tool spans: how a replay obtained the result
	AttrSynthetic    = "replay.synthetic"         // model spans: written by the harness, no spend
	AttrInputMode    = "replay.input.mode"        // model spans: "delta" when gen_ai.input.messages holds only the messages since the model's last answer
	AttrCostRecorded = "replay.cost.recorded_usd" // model spans: USD, as the source recorded it
	AttrCostPriced   = "replay.cost.priced_usd"   // model spans: USD, from the pricing table
	AttrToolStatus   = "replay.tool.status"       // tool spans: ok, error, interrupted, missing
	AttrToolExitCode = "replay.tool.exit_code"
	AttrToolHarness  = "replay.tool.harness" // tool spans: the harness outcome of an original's call (trace.Harness*)
	// AttrToolDurationMS is a tool call's duration when its span lasts
	// longer: the span of a call that started a sub-agent holds the
	// sub-agent's run.
	AttrToolDurationMS = "replay.tool.duration_ms"

	AttrOriginalTraceID = "replay.original.trace_id" // the trace of the run a replay replays
	AttrOriginalRunID   = "replay.original.run_id"   // its store id (trace.Origin.Of)
	AttrMode            = "replay.mode"              // verify or run
	AttrSample          = "replay.sample"            // repetition number
	PrefixVariant       = "replay.variant."          // + flag name: what a replay changed

	PrefixRef = "replay.ref." // + ref name (repo, commit, pr, …): the ref's value, for queries
	AttrRefs  = "replay.refs" // the refs with their provenance, as JSON

	AttrOutcomeStatus  = "replay.outcome.status"  // ok, error, interrupted, unknown
	AttrDecisionKind   = "replay.decision.kind"   // e.g. review
	AttrDecisionAction = "replay.decision.action" // a review's action (approve, …)
	AttrDecision       = "replay.decision"        // the whole decision, as JSON (with content only)
	AttrStopped        = "replay.outcome.stopped" // why a replay ended early
	PrefixRecorded     = "replay.recorded."       // + cost_usd, input_tokens, …: totals the source recorded
)

// replayCall reads replay's attributes of a model span.
func replayCall(a attrs, call *trace.LLMCall) {
	rec, rok := a.float(AttrCostRecorded)
	pri, pok := a.float(AttrCostPriced)
	if rok || pok {
		// replay's own export: gen_ai.usage.cost is whichever of the two
		// was known, for backends; these say which.
		call.Cost = trace.Cost{}
		if rok {
			call.Cost.Recorded = trace.Float(rec)
		}
		if pok {
			call.Cost.Priced = trace.Float(pri)
		}
	}
	if p := a.str(AttrProduced); p != "" {
		call.Produced = p
	}
	if a.bool(AttrSynthetic) {
		call.Synthetic = true
	}
	if a.str(AttrInputMode) == "delta" && call.InputMode == "full" {
		call.InputMode = "delta"
	}
}

// replayTool reads replay's attributes of a tool span.
func replayTool(a attrs, tc *trace.ToolCall) {
	switch s := a.str(AttrToolStatus); s {
	case trace.ToolOK, trace.ToolError, trace.ToolInterrupted, trace.ToolMissing:
		tc.Status = s
	}
	if n, ok := a.int(AttrToolExitCode); ok && n >= -1<<31 && n < 1<<31 {
		c := int(n)
		tc.ExitCode = &c
	}
	if n, ok := a.int(AttrToolDurationMS); ok && n >= 0 {
		tc.DurationMS = n
	}
	if p := a.str(AttrProduced); p != "" {
		tc.Produced = p
	}
	if h := a.str(AttrToolHarness); h != "" {
		tc.Harness = h
	}
}

// replayMeta reads replay's attributes of an agent span into its run.
func replayMeta(a attrs, m *trace.RunMeta) {
	if of := a.str(AttrOriginalRunID); of != "" {
		o := &trace.Origin{Of: of, Mode: a.str(AttrMode)}
		if n, ok := a.int(AttrSample); ok && n >= 0 && n < 1<<31 {
			o.Sample = int(n)
		}
		for k := range a {
			if name, ok := strings.CutPrefix(k, PrefixVariant); ok && name != "" {
				if o.Variant == nil {
					o.Variant = map[string]string{}
				}
				o.Variant[name] = a.str(k)
			}
		}
		m.Replay = o
	}
	if b, ok := a.rawJSON(AttrRefs); ok {
		var refs trace.Refs
		if json.Unmarshal(b, &refs) == nil {
			refs.Each(func(_ string, r *trace.Ref) {
				if r.Provenance == "" {
					r.Provenance = trace.Recorded
				}
			})
			m.Refs.Merge(refs)
		}
	}
}

// replayOutcome reads replay's attributes of an agent span into its
// outcome.
func replayOutcome(a attrs, out *trace.Outcome) {
	switch s := a.str(AttrOutcomeStatus); s {
	case trace.StatusOK, trace.StatusError, trace.StatusInterrupted, trace.StatusUnknown:
		out.Status = s
	}
	if s := a.str(AttrStopped); s != "" {
		out.Stopped = s
	}
	if b, ok := a.rawJSON(AttrDecision); ok && json.Valid(b) {
		out.Decision = &trace.Decision{Kind: a.str(AttrDecisionKind), Source: "span attribute " + AttrDecision, Value: append(json.RawMessage(nil), b...)}
	} else if act := a.str(AttrDecisionAction); act != "" {
		// Without content only the action was exported.
		v, _ := json.Marshal(map[string]string{"action": act})
		out.Decision = &trace.Decision{Kind: a.str(AttrDecisionKind), Source: "span attribute " + AttrDecisionAction, Value: v}
	}
	if !hasPrefix(a, PrefixRecorded) {
		return
	}
	t := &trace.Totals{}
	if c, ok := a.float(PrefixRecorded + "cost_usd"); ok {
		t.CostUSD = trace.Float(c)
	}
	u := trace.Usage{}
	hasUsage := false
	for key, dst := range map[string]*int64{"input_tokens": &u.Input, "output_tokens": &u.Output,
		"cache_read_tokens": &u.CacheRead, "cache_write_tokens": &u.CacheWrite, "reasoning_tokens": &u.Reasoning} {
		if n, ok := a.int(PrefixRecorded + key); ok {
			*dst, hasUsage = n, true
		}
	}
	if hasUsage {
		t.Usage = &u
	}
	t.Turns, _ = a.int(PrefixRecorded + "turns")
	t.ToolCalls, _ = a.int(PrefixRecorded + "tool_calls")
	t.DurationMS, _ = a.int(PrefixRecorded + "duration_ms")
	out.Recorded = t
}
