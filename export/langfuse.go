package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/langfuse"
	"github.com/agentreplay/replay/replay/trace/otel"
)

// Tag is the tag every trace replay exports to Langfuse carries.
const Tag = "replay"

// LangfuseEvents turns a run into Langfuse ingestion events: a
// "trace-create" for the run (named after the agent, tagged "replay", its
// metadata linking the original), an "agent-create" observation per run
// and sub-agent, a "generation-create" per model call (model, parameters,
// usage as Langfuse's disjoint counts, cost) and a "tool-create" per tool
// call, nested as the spans of the OTLP export are. Trace and observation
// ids are the OTLP export's trace and span ids, and event ids derive from
// them: sending the events again changes nothing in Langfuse.
func LangfuseEvents(run *trace.Run, opts Options) ([]langfuse.IngestEvent, error) {
	if run == nil || run.Meta.ID == "" {
		return nil, fmt.Errorf("export run: the run has no store id")
	}
	b := &lfBuilder{runID: run.Meta.ID, traceID: TraceID(run.Meta.ID), opts: opts}
	times := timesOf(run)
	meta := map[string]any{otel.AttrRunID: run.Meta.ID}
	if run.Meta.Format != "" {
		meta[otel.AttrRunFormat] = run.Meta.Format
	}
	tags := []string{Tag}
	if o := run.Meta.Replay; o != nil {
		meta[otel.AttrOriginalRunID] = o.Of
		meta[otel.AttrMode] = o.Mode
		meta[otel.AttrSample] = o.Sample
		for k, v := range o.Variant {
			meta[otel.PrefixVariant+k] = v
		}
		if o.Mode != "" {
			tags = append(tags, Tag+":"+o.Mode)
		}
	}
	if orig := opts.Original; orig != nil {
		meta[otel.AttrOriginalTraceID] = orig.TraceID
	}
	run.Meta.Refs.Each(func(name string, r *trace.Ref) { meta[otel.PrefixRef+name] = r.Value })
	for _, kv := range outcomeAttrs(run.Outcome, opts.Content) {
		meta[string(kv.Key)] = kv.Value.AsInterface()
	}
	name := run.Meta.Agent
	if name == "" {
		name = "replay"
	}
	tr := map[string]any{
		"id": b.traceID, "timestamp": stamp(times.first), "name": name, "tags": tags, "metadata": meta,
	}
	if run.Meta.Session != "" {
		tr["sessionId"] = run.Meta.Session
	}
	if v := run.Meta.Instr.PromptVersion; v != "" {
		tr["version"] = v
	}
	if opts.Content {
		if in := firstUserText(run); in != "" {
			tr["input"] = in
		}
		if run.Outcome != nil && run.Outcome.Final != "" {
			tr["output"] = run.Outcome.Final
		}
	}
	if err := b.add("trace-create", b.traceID, times.first, tr); err != nil {
		return nil, err
	}
	if err := b.agent(run, "", times); err != nil {
		return nil, err
	}
	return b.events, nil
}

type lfBuilder struct {
	runID, traceID string
	opts           Options
	events         []langfuse.IngestEvent
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (b *lfBuilder) add(typ, bodyID string, at time.Time, body map[string]any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("export run %s: encode %s %s: %w", b.runID, typ, bodyID, err)
	}
	b.events = append(b.events, langfuse.IngestEvent{ID: eventID(b.runID, typ, bodyID), Type: typ, Timestamp: stamp(at), Body: raw})
	return nil
}

// observation is the body every observation shares.
func (b *lfBuilder) observation(id, parent, name string, start, end time.Time) map[string]any {
	o := map[string]any{"id": id, "traceId": b.traceID, "name": name, "startTime": stamp(start), "endTime": stamp(end)}
	if parent != "" {
		o["parentObservationId"] = parent
	}
	return o
}

// agent adds the observation of run r (under parent) and of its steps.
func (b *lfBuilder) agent(r *trace.Run, parent string, times stepTimes) error {
	id := spanIDOf(b.runID, r.Meta.Key, -1).String()
	name := r.Meta.Agent
	if name == "" {
		name = "agent"
	}
	o := b.observation(id, parent, name, times.first, times.last)
	meta := map[string]any{"gen_ai.operation.name": "invoke_agent"}
	if r.Meta.Agent != "" {
		meta["gen_ai.agent.name"] = r.Meta.Agent
	}
	if m := r.Meta.Defaults.Model; m != "" {
		meta["gen_ai.request.model"] = m
	}
	if r.Outcome != nil {
		meta[otel.AttrOutcomeStatus] = r.Outcome.Status
		if r.Outcome.Status == trace.StatusError {
			o["level"] = "ERROR"
			if r.Outcome.Error != "" {
				o["statusMessage"] = r.Outcome.Error
			}
		}
		if b.opts.Content && r.Outcome.Final != "" {
			o["output"] = r.Outcome.Final
		}
	}
	o["metadata"] = meta
	if err := b.add("agent-create", id, times.first, o); err != nil {
		return err
	}
	children := childrenByKey(r)
	started := map[string]bool{}
	var conv conversation
	for i, s := range r.Steps {
		sid := spanIDOf(b.runID, r.Meta.Key, i).String()
		switch {
		case s.Message != nil:
			conv.add(*s.Message)
		case s.LLM != nil:
			if err := b.generation(r, s.LLM, sid, id, &conv, times.start[i], times.end[i]); err != nil {
				return err
			}
			conv.add(s.LLM.Output)
		case s.Tool != nil:
			if err := b.tool(s.Tool, sid, id, times.start[i], times.end[i]); err != nil {
				return err
			}
			conv.add(toolMessage(s.Tool))
			c := children[s.Tool.Child]
			if c == nil && s.Tool.CallID != "" {
				for _, cc := range r.Children {
					if !started[cc.Meta.Key] && cc.Meta.ParentCall == s.Tool.CallID {
						c = cc
						break
					}
				}
			}
			if c != nil && !started[c.Meta.Key] {
				started[c.Meta.Key] = true
				if err := b.agent(c, sid, timesOf(c)); err != nil {
					return err
				}
			}
		}
	}
	for _, c := range r.Children {
		if !started[c.Meta.Key] {
			if err := b.agent(c, id, timesOf(c)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *lfBuilder) generation(r *trace.Run, call *trace.LLMCall, id, parent string, conv *conversation, start, end time.Time) error {
	model := call.Model
	if model == "" {
		model = call.Params.Model
	}
	if model == "" {
		model = r.Meta.Defaults.Model
	}
	name := "chat"
	if model != "" {
		name += " " + model
	}
	o := b.observation(id, parent, name, start, end)
	if model != "" {
		o["model"] = model
	}
	params := map[string]any{}
	p := call.Params
	if p.Temperature != nil {
		params["temperature"] = *p.Temperature
	}
	if p.TopP != nil {
		params["top_p"] = *p.TopP
	}
	if p.TopK != nil {
		params["top_k"] = *p.TopK
	}
	if p.MaxTokens != nil {
		params["max_tokens"] = *p.MaxTokens
	}
	if p.Seed != nil {
		params["seed"] = *p.Seed
	}
	if len(p.Stop) > 0 {
		params["stop"] = p.Stop
	}
	if len(params) > 0 {
		o["modelParameters"] = params
	}
	meta := map[string]any{"gen_ai.operation.name": "chat"}
	if u := call.Usage; u != nil {
		// Langfuse prices each key apart: the counts are disjoint, and
		// reasoning, inside output, is only metadata.
		o["usageDetails"] = map[string]int64{"input": u.Input, "output": u.Output,
			"input_cache_read": u.CacheRead, "input_cache_creation": u.CacheWrite,
			"total": u.Input + u.Output + u.CacheRead + u.CacheWrite}
		if u.Reasoning > 0 {
			meta["gen_ai.usage.reasoning.output_tokens"] = u.Reasoning
		}
	}
	switch c := call.Cost; {
	case c.Recorded != nil:
		o["costDetails"] = map[string]float64{"total": *c.Recorded}
	case c.Priced != nil:
		o["costDetails"] = map[string]float64{"total": *c.Priced}
	}
	for _, kv := range costAttrs(call.Cost) {
		if kv.Key != "gen_ai.usage.cost" {
			meta[string(kv.Key)] = kv.Value.AsFloat64()
		}
	}
	if call.ID != "" {
		meta["gen_ai.response.id"] = call.ID
	}
	if call.StopReason != "" {
		meta["gen_ai.response.finish_reasons"] = []string{call.StopReason}
	}
	if call.Produced != "" {
		meta[otel.AttrProduced] = call.Produced
	}
	if call.Synthetic {
		meta[otel.AttrSynthetic] = true
	}
	o["metadata"] = meta
	if call.Error != "" {
		o["level"], o["statusMessage"] = "ERROR", call.Error
	}
	if b.opts.Content {
		in := conv.input(call)
		if sys := r.Meta.Instr.System; sys != "" {
			in = append([]trace.Message{{Role: "system", Parts: []trace.Part{{Type: trace.PartText, Text: sys}}}}, in...)
		}
		var delta bool
		o["input"], delta = boundedHistory(in, chatMessages)
		if delta {
			meta[otel.AttrInputMode] = "delta"
		}
		if out := chatMessages([]trace.Message{call.Output}); len(out) == 1 {
			o["output"] = out[0]
		}
	}
	return b.add("generation-create", id, start, o)
}

func (b *lfBuilder) tool(tc *trace.ToolCall, id, parent string, start, end time.Time) error {
	name := tc.Name
	if name == "" {
		name = "tool"
	}
	o := b.observation(id, parent, name, start, end)
	meta := map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tc.Name}
	if tc.CallID != "" {
		meta["gen_ai.tool.call.id"] = tc.CallID
	}
	if tc.Status != "" {
		meta[otel.AttrToolStatus] = tc.Status
	}
	if tc.ExitCode != nil {
		meta[otel.AttrToolExitCode] = *tc.ExitCode
	}
	if tc.Produced != "" {
		meta[otel.AttrProduced] = tc.Produced
	}
	o["metadata"] = meta
	switch tc.Status {
	case trace.ToolError, trace.ToolInterrupted:
		o["level"] = "ERROR"
		o["statusMessage"] = "tool " + tc.Status
	}
	if b.opts.Content {
		if a := jsonArgs(tc.Arguments); a != nil {
			o["input"] = a
		}
		if out := toolOutput(tc); out != "" {
			o["output"] = out
		}
	}
	return b.add("tool-create", id, start, o)
}

func firstUserText(r *trace.Run) string {
	for _, s := range r.Steps {
		if s.Message != nil && s.Message.Role == "user" {
			if t := s.Message.Text(); t != "" {
				return t
			}
		}
	}
	return ""
}

// Langfuse delivers runs to a Langfuse server through its ingestion API.
type Langfuse struct {
	Client *langfuse.Client
}

// EventErrors is an export some of whose events Langfuse refused.
type EventErrors struct {
	Run      string
	Host     string
	Accepted int
	Errors   []langfuse.IngestError
	types    map[string]string // event id -> type and body id, for the message
}

func (e *EventErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "export run %s to langfuse at %s: the server refused %d of %d events", e.Run, e.Host, len(e.Errors), len(e.Errors)+e.Accepted)
	for i, ev := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Errors)-3)
			break
		}
		sep := ": "
		if i > 0 {
			sep = "; "
		}
		what := e.types[ev.ID]
		if what == "" {
			what = "event " + ev.ID
		}
		fmt.Fprintf(&b, "%s%s: %d %s", sep, what, ev.Status, ev.Message)
		if d := errorDetail(ev.Error); d != "" {
			fmt.Fprintf(&b, " (%s)", d)
		}
	}
	return b.String()
}

// errorDetail renders the "error" of a refused event: a string, or JSON.
func errorDetail(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clip(s, 200)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	return clip(string(raw), 200)
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// Export sends one run.
func (l *Langfuse) Export(ctx context.Context, run *trace.Run, opts Options) (Result, error) {
	evs, err := LangfuseEvents(run, opts)
	if err != nil {
		return Result{}, err
	}
	res := Result{Run: run.Meta.ID, TraceID: TraceID(run.Meta.ID), Events: len(evs), Original: opts.Original}
	ir, err := l.Client.Ingest(ctx, evs)
	if err != nil {
		return Result{}, fmt.Errorf("export run %s: %w", run.Meta.ID, err)
	}
	if len(ir.Errors) > 0 {
		types := map[string]string{}
		for _, e := range evs {
			var body struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(e.Body, &body)
			types[e.ID] = e.Type + " " + body.ID
		}
		return res, &EventErrors{Run: run.Meta.ID, Host: l.Client.Host, Accepted: ir.Accepted, Errors: ir.Errors, types: types}
	}
	return res, nil
}

// WriteLangfuse writes a run's ingestion events to w as one line: the body
// of a POST /api/public/ingestion ({"batch":[…]}), for a look before
// sending, or to send with another tool.
func WriteLangfuse(w io.Writer, run *trace.Run, opts Options) (Result, error) {
	evs, err := LangfuseEvents(run, opts)
	if err != nil {
		return Result{}, err
	}
	b, err := json.Marshal(struct {
		Batch []langfuse.IngestEvent `json:"batch"`
	}{evs})
	if err != nil {
		return Result{}, fmt.Errorf("export run %s: %w", run.Meta.ID, err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return Result{}, fmt.Errorf("export run %s: write: %w", run.Meta.ID, err)
	}
	return Result{Run: run.Meta.ID, TraceID: TraceID(run.Meta.ID), Events: len(evs), Original: opts.Original}, nil
}
