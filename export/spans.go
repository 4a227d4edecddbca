package export

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/otel"
)

// ScopeName is the instrumentation scope of the spans an export makes.
const ScopeName = "github.com/agentreplay/replay/export"

// Options say what an export carries.
type Options struct {
	// Content adds message content: the system prompt, the tool
	// definitions, each model call's input and output messages, tool
	// arguments and results, the decision. Off by default: traces hold
	// code, documents and sometimes secrets.
	Content bool
	// Original is the trace of the run a replay replays (see OriginalOf);
	// nil when the run is not a replay.
	Original *Original
	// Version is replay's version, written as the instrumentation scope's
	// and the service's version.
	Version string
}

// Spans turns a run into OpenTelemetry spans following the GenAI semantic
// conventions: an "invoke_agent {agent}" span per run (sub-agents nested in
// the tool call that started them), under it a "chat {model}" span per model
// call and an "execute_tool {name}" span per tool call, in step order. Ids
// are derived from the run's store id (run.Meta.ID, required) and the step
// positions, so exporting a run again gives the same spans. The spans are
// made by the OpenTelemetry SDK and returned in the order they ended (each
// run's agent span after its steps).
func Spans(ctx context.Context, run *trace.Run, opts Options) ([]sdktrace.ReadOnlySpan, error) {
	if run == nil || run.Meta.ID == "" {
		return nil, fmt.Errorf("export run: the run has no store id")
	}
	rec := &recorder{}
	resAttrs := []attribute.KeyValue{semconv.ServiceName("replay")}
	if opts.Version != "" {
		resAttrs = append(resAttrs, semconv.ServiceVersion(opts.Version))
	}
	res, err := sdkresource.New(ctx, sdkresource.WithAttributes(resAttrs...), sdkresource.WithSchemaURL(semconv.SchemaURL))
	if err != nil {
		return nil, fmt.Errorf("export run %s: resource: %w", run.Meta.ID, err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithIDGenerator(fixedIDs{}),
		sdktrace.WithSpanProcessor(rec),
		// A run's spans are few and their attributes the run's own: no
		// limit cuts them (the defaults, or OTEL_SPAN_* in the
		// environment, would drop attributes past 128).
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
			AttributeValueLengthLimit: -1, AttributeCountLimit: -1, EventCountLimit: -1,
			LinkCountLimit: -1, AttributePerEventCountLimit: -1, AttributePerLinkCountLimit: -1,
			AttributeValueDepthLimit: -1,
		}),
	)
	defer tp.Shutdown(context.WithoutCancel(ctx))
	b := &spanBuilder{
		tracer: tp.Tracer(ScopeName, oteltrace.WithInstrumentationVersion(opts.Version), oteltrace.WithSchemaURL(semconv.SchemaURL)),
		runID:  run.Meta.ID,
		opts:   opts,
	}
	b.agent(ctx, run, true)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rec.spans, nil
}

// recorder keeps the spans the SDK ends, in order.
type recorder struct{ spans []sdktrace.ReadOnlySpan }

func (r *recorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (r *recorder) OnEnd(s sdktrace.ReadOnlySpan)                   { r.spans = append(r.spans, s) }
func (r *recorder) Shutdown(context.Context) error                  { return nil }
func (r *recorder) ForceFlush(context.Context) error                { return nil }

// fixedIDs is an IDGenerator that hands out the ids the builder put in the
// context: the SDK makes the spans, replay decides their ids.
type fixedIDs struct{}

type wantIDs struct {
	trace oteltrace.TraceID
	span  oteltrace.SpanID
}

type idsKey struct{}

func withIDs(ctx context.Context, t oteltrace.TraceID, s oteltrace.SpanID) context.Context {
	return context.WithValue(ctx, idsKey{}, wantIDs{t, s})
}

func (fixedIDs) NewIDs(ctx context.Context) (oteltrace.TraceID, oteltrace.SpanID) {
	w, _ := ctx.Value(idsKey{}).(wantIDs)
	return w.trace, w.span
}

func (fixedIDs) NewSpanID(ctx context.Context, _ oteltrace.TraceID) oteltrace.SpanID {
	w, _ := ctx.Value(idsKey{}).(wantIDs)
	return w.span
}

type spanBuilder struct {
	tracer oteltrace.Tracer
	runID  string
	opts   Options
}

// epoch stands in for the time of a run that recorded none: the SDK would
// otherwise take the current time, and a second export would differ.
func epoch() time.Time { return time.Unix(0, 0).UTC() }

// stepTimes places the steps of a run in time: a step starts at its
// recorded time, never before the step before it (so that the order of the
// steps survives a sort by start time), and lasts its recorded latency or
// duration. A tool call that started a sub-agent spans the sub-agent's run.
type stepTimes struct {
	start, end []time.Time
	first      time.Time // the run's start
	last       time.Time // the run's end
}

func timesOf(r *trace.Run) stepTimes {
	st := stepTimes{start: make([]time.Time, len(r.Steps)), end: make([]time.Time, len(r.Steps))}
	first := r.Meta.StartedAt
	if first.IsZero() {
		for _, s := range r.Steps {
			if !s.Time.IsZero() {
				first = s.Time
				break
			}
		}
	}
	if first.IsZero() {
		first = epoch()
	}
	children := childrenByKey(r)
	cursor := first
	last := first
	for i, s := range r.Steps {
		t := s.Time
		if t.IsZero() || t.Before(cursor) {
			t = cursor
		}
		var d time.Duration
		switch {
		case s.LLM != nil:
			d = time.Duration(max(s.LLM.LatencyMS, 0)) * time.Millisecond
		case s.Tool != nil:
			d = time.Duration(max(s.Tool.DurationMS, 0)) * time.Millisecond
		}
		end := t.Add(d)
		if s.Tool != nil {
			if c := children[s.Tool.Child]; c != nil {
				ct := timesOf(c)
				if ct.first.Before(t) {
					t = cursor
					if ct.first.After(cursor) {
						t = ct.first
					}
				}
				if ct.last.After(end) {
					end = ct.last
				}
			}
		}
		st.start[i], st.end[i] = t, end
		cursor = t
		if end.After(last) {
			last = end
		}
	}
	if r.Meta.EndedAt.After(last) {
		last = r.Meta.EndedAt
	}
	st.first, st.last = first, last
	return st
}

func childrenByKey(r *trace.Run) map[string]*trace.Run {
	m := make(map[string]*trace.Run, len(r.Children))
	for _, c := range r.Children {
		m[c.Meta.Key] = c
	}
	return m
}

// agent makes the invoke_agent span of run r and the spans of its steps;
// ctx carries the parent span (the tool call that started a sub-agent).
func (b *spanBuilder) agent(ctx context.Context, r *trace.Run, main bool) {
	tid := traceIDOf(b.runID)
	times := timesOf(r)
	name := "invoke_agent"
	if r.Meta.Agent != "" {
		name += " " + r.Meta.Agent
	}
	attrs := []attribute.KeyValue{semconv.GenAIOperationNameInvokeAgent}
	attrs = appendStr(attrs, string(semconv.GenAIAgentNameKey), r.Meta.Agent)
	attrs = appendStr(attrs, string(semconv.GenAIConversationIDKey), r.Meta.Session)
	attrs = appendStr(attrs, string(semconv.GenAIRequestModelKey), r.Meta.Defaults.Model)
	attrs = appendStr(attrs, string(semconv.GenAIProviderNameKey), r.Meta.Defaults.Provider)
	attrs = appendStr(attrs, string(semconv.GenAIPromptNameKey), r.Meta.Instr.PromptName)
	attrs = appendStr(attrs, "replay.prompt.version", r.Meta.Instr.PromptVersion)
	attrs = appendStr(attrs, "replay.prompt.ref", r.Meta.Instr.SystemRef)
	var links []oteltrace.Link
	if main {
		attrs = append(attrs, attribute.String(otel.AttrRunID, b.runID))
		attrs = appendStr(attrs, otel.AttrRunFormat, r.Meta.Format)
		if o := r.Meta.Replay; o != nil {
			attrs = append(attrs, attribute.String(otel.AttrOriginalRunID, o.Of), attribute.String(otel.AttrMode, o.Mode),
				attribute.Int(otel.AttrSample, o.Sample))
			for _, k := range sortedKeys(o.Variant) {
				attrs = append(attrs, attribute.String(otel.PrefixVariant+k, o.Variant[k]))
			}
		}
		if orig := b.opts.Original; orig != nil {
			attrs = append(attrs, attribute.String(otel.AttrOriginalTraceID, orig.TraceID))
			if l, ok := originalLink(orig); ok {
				links = append(links, l)
			}
		}
	}
	attrs = append(attrs, refAttrs(r.Meta.Refs)...)
	attrs = append(attrs, outcomeAttrs(r.Outcome, b.opts.Content)...)
	startOpts := []oteltrace.SpanStartOption{oteltrace.WithSpanKind(oteltrace.SpanKindInternal),
		oteltrace.WithTimestamp(times.first), oteltrace.WithAttributes(validAttrs(attrs)...), oteltrace.WithLinks(links...)}
	if main {
		// The export is a trace of its own, whatever span ctx carries.
		startOpts = append(startOpts, oteltrace.WithNewRoot())
	}
	ctx, span := b.tracer.Start(withIDs(ctx, tid, spanIDOf(b.runID, r.Meta.Key, -1)), validUTF8(name), startOpts...)
	if o := r.Outcome; o != nil && o.Status == trace.StatusError {
		span.SetStatus(codes.Error, validUTF8(o.Error))
	}

	children := childrenByKey(r)
	started := map[string]bool{}
	var conv conversation
	for i, s := range r.Steps {
		switch {
		case s.Message != nil:
			conv.add(*s.Message)
		case s.LLM != nil:
			b.chat(ctx, r, i, s.LLM, &conv, times.start[i], times.end[i])
			conv.add(s.LLM.Output)
		case s.Tool != nil:
			var child *trace.Run
			if c := children[s.Tool.Child]; c != nil && !started[c.Meta.Key] {
				child = c
			} else if s.Tool.CallID != "" {
				for _, c := range r.Children {
					if !started[c.Meta.Key] && c.Meta.ParentCall == s.Tool.CallID {
						child = c
						break
					}
				}
			}
			if child != nil {
				started[child.Meta.Key] = true
			}
			b.tool(ctx, r, i, s.Tool, child, times.start[i], times.end[i])
			conv.add(toolMessage(s.Tool))
		}
	}
	// Sub-agents no recorded tool call started hang from their agent.
	for _, c := range r.Children {
		if !started[c.Meta.Key] {
			b.agent(ctx, c, false)
		}
	}
	span.End(oteltrace.WithTimestamp(times.last))
}

func (b *spanBuilder) chat(ctx context.Context, r *trace.Run, i int, call *trace.LLMCall, conv *conversation, start, end time.Time) {
	model := call.Params.Model
	if model == "" {
		model = call.Model
	}
	if model == "" {
		model = r.Meta.Defaults.Model
	}
	name := "chat"
	if model != "" {
		name += " " + model
	}
	p := call.Params
	p.Model = ""
	merged := r.Meta.Defaults
	merged.Merge(p)
	provider := merged.Provider
	attrs := []attribute.KeyValue{semconv.GenAIOperationNameChat}
	attrs = appendStr(attrs, string(semconv.GenAIProviderNameKey), provider)
	attrs = appendStr(attrs, string(semconv.GenAIRequestModelKey), model)
	attrs = appendStr(attrs, string(semconv.GenAIResponseModelKey), call.Model)
	attrs = appendStr(attrs, string(semconv.GenAIResponseIDKey), call.ID)
	if call.StopReason != "" {
		attrs = append(attrs, semconv.GenAIResponseFinishReasons(call.StopReason))
	}
	if v := call.Params.Temperature; v != nil {
		attrs = append(attrs, semconv.GenAIRequestTemperature(*v))
	}
	if v := call.Params.TopP; v != nil {
		attrs = append(attrs, semconv.GenAIRequestTopP(*v))
	}
	if v := call.Params.TopK; v != nil {
		attrs = append(attrs, attribute.Int64(string(semconv.GenAIRequestTopKKey), *v))
	}
	if v := call.Params.MaxTokens; v != nil {
		attrs = append(attrs, attribute.Int64(string(semconv.GenAIRequestMaxTokensKey), *v))
	}
	if v := call.Params.Seed; v != nil {
		attrs = append(attrs, attribute.Int64(string(semconv.GenAIRequestSeedKey), *v))
	}
	if len(call.Params.Stop) > 0 {
		attrs = append(attrs, semconv.GenAIRequestStopSequences(call.Params.Stop...))
	}
	if u := call.Usage; u != nil {
		// GenAI's input count includes the cached tokens.
		attrs = append(attrs,
			attribute.Int64(string(semconv.GenAIUsageInputTokensKey), u.Input+u.CacheRead+u.CacheWrite),
			attribute.Int64(string(semconv.GenAIUsageOutputTokensKey), u.Output),
			attribute.Int64(string(semconv.GenAIUsageCacheReadInputTokensKey), u.CacheRead),
			attribute.Int64(string(semconv.GenAIUsageCacheCreationInputTokensKey), u.CacheWrite))
		if u.Reasoning > 0 {
			attrs = append(attrs, attribute.Int64("gen_ai.usage.reasoning.output_tokens", u.Reasoning))
		}
	}
	attrs = append(attrs, costAttrs(call.Cost)...)
	attrs = appendStr(attrs, otel.AttrProduced, call.Produced)
	if call.Synthetic {
		attrs = append(attrs, attribute.Bool(otel.AttrSynthetic, true))
	}
	if b.opts.Content {
		if sys := r.Meta.Instr.System; sys != "" {
			attrs = append(attrs, attribute.String(string(semconv.GenAISystemInstructionsKey), systemInstructions(sys)))
		}
		if len(r.Meta.Instr.Tools) > 0 {
			attrs = append(attrs, attribute.String(string(semconv.GenAIToolDefinitionsKey), toolDefinitions(r.Meta.Instr.Tools)))
		}
		in, delta := boundedHistory(conv.input(call), genaiMessages)
		attrs = append(attrs,
			attribute.String(string(semconv.GenAIInputMessagesKey), mustJSON(in)),
			attribute.String(string(semconv.GenAIOutputMessagesKey), mustJSON([]genaiMessage{genaiMsg(call.Output, call.StopReason)})))
		if delta {
			attrs = append(attrs, attribute.String(otel.AttrInputMode, "delta"))
		}
	}
	_, span := b.tracer.Start(withIDs(ctx, traceIDOf(b.runID), spanIDOf(b.runID, r.Meta.Key, i)), validUTF8(name),
		oteltrace.WithSpanKind(oteltrace.SpanKindClient), oteltrace.WithTimestamp(start), oteltrace.WithAttributes(validAttrs(attrs)...))
	if call.Error != "" {
		span.SetAttributes(semconv.ErrorTypeOther)
		span.SetStatus(codes.Error, validUTF8(call.Error))
	}
	span.End(oteltrace.WithTimestamp(end))
}

func (b *spanBuilder) tool(ctx context.Context, r *trace.Run, i int, tc *trace.ToolCall, child *trace.Run, start, end time.Time) {
	name := "execute_tool"
	if tc.Name != "" {
		name += " " + tc.Name
	}
	attrs := []attribute.KeyValue{semconv.GenAIOperationNameExecuteTool, semconv.GenAIToolTypeKey.String("function")}
	attrs = appendStr(attrs, string(semconv.GenAIToolNameKey), tc.Name)
	attrs = appendStr(attrs, string(semconv.GenAIToolCallIDKey), tc.CallID)
	attrs = appendStr(attrs, otel.AttrToolStatus, tc.Status)
	if tc.ExitCode != nil {
		attrs = append(attrs, attribute.Int(otel.AttrToolExitCode, *tc.ExitCode))
	}
	if d := tc.DurationMS; end.Sub(start) != time.Duration(d)*time.Millisecond {
		// The span was widened to hold the sub-agent the call started.
		attrs = append(attrs, attribute.Int64(otel.AttrToolDurationMS, d))
	}
	attrs = appendStr(attrs, otel.AttrProduced, tc.Produced)
	attrs = appendStr(attrs, otel.AttrToolHarness, tc.Harness)
	if b.opts.Content {
		if a := jsonArgs(tc.Arguments); a != nil {
			attrs = append(attrs, attribute.String(string(semconv.GenAIToolCallArgumentsKey), string(a)))
		}
		if out := toolOutput(tc); out != "" {
			attrs = append(attrs, attribute.String(string(semconv.GenAIToolCallResultKey), out))
		}
	}
	ctx, span := b.tracer.Start(withIDs(ctx, traceIDOf(b.runID), spanIDOf(b.runID, r.Meta.Key, i)), validUTF8(name),
		oteltrace.WithSpanKind(oteltrace.SpanKindInternal), oteltrace.WithTimestamp(start), oteltrace.WithAttributes(validAttrs(attrs)...))
	switch tc.Status {
	case trace.ToolError, trace.ToolInterrupted:
		// The description stays empty: a tool's error text is its output,
		// which is content.
		span.SetAttributes(attribute.String(string(semconv.ErrorTypeKey), "tool_"+tc.Status))
		span.SetStatus(codes.Error, "")
	}
	if child != nil {
		b.agent(ctx, child, false)
	}
	span.End(oteltrace.WithTimestamp(end))
}

// originalLink is the span link to the original's trace.
func originalLink(o *Original) (oteltrace.Link, bool) {
	tid, err := oteltrace.TraceIDFromHex(o.TraceID)
	if err != nil {
		return oteltrace.Link{}, false // a Langfuse id that is no OTel id
	}
	cfg := oteltrace.SpanContextConfig{TraceID: tid, TraceFlags: oteltrace.FlagsSampled}
	if sid, err := oteltrace.SpanIDFromHex(o.SpanID); err == nil {
		cfg.SpanID = sid
	}
	return oteltrace.Link{SpanContext: oteltrace.NewSpanContext(cfg), Attributes: validAttrs([]attribute.KeyValue{
		attribute.String("replay.link", "original"), attribute.String(otel.AttrOriginalRunID, o.RunID),
	})}, true
}

func refAttrs(refs trace.Refs) []attribute.KeyValue {
	var out []attribute.KeyValue
	refs.Each(func(name string, r *trace.Ref) {
		out = append(out, attribute.String(otel.PrefixRef+name, r.Value))
	})
	if len(out) > 0 {
		b, err := json.Marshal(refs)
		if err == nil {
			out = append(out, attribute.String(otel.AttrRefs, string(b)))
		}
	}
	return out
}

func outcomeAttrs(o *trace.Outcome, content bool) []attribute.KeyValue {
	if o == nil {
		return nil
	}
	out := []attribute.KeyValue{attribute.String(otel.AttrOutcomeStatus, o.Status)}
	out = appendStr(out, otel.AttrStopped, o.Stopped)
	if d := o.Decision; d != nil {
		out = appendStr(out, otel.AttrDecisionKind, d.Kind)
		if a := decisionAction(d.Value); a != "" {
			out = append(out, attribute.String(otel.AttrDecisionAction, a))
		}
		if content && len(d.Value) > 0 {
			out = append(out, attribute.String(otel.AttrDecision, string(d.Value)))
		}
	}
	if t := o.Recorded; t != nil {
		if t.CostUSD != nil {
			out = append(out, attribute.Float64(otel.PrefixRecorded+"cost_usd", *t.CostUSD))
		}
		if u := t.Usage; u != nil {
			out = append(out,
				attribute.Int64(otel.PrefixRecorded+"input_tokens", u.Input),
				attribute.Int64(otel.PrefixRecorded+"output_tokens", u.Output),
				attribute.Int64(otel.PrefixRecorded+"cache_read_tokens", u.CacheRead),
				attribute.Int64(otel.PrefixRecorded+"cache_write_tokens", u.CacheWrite),
				attribute.Int64(otel.PrefixRecorded+"reasoning_tokens", u.Reasoning))
		}
		for _, kv := range []struct {
			k string
			v int64
		}{{"turns", t.Turns}, {"tool_calls", t.ToolCalls}, {"duration_ms", t.DurationMS}} {
			if kv.v != 0 {
				out = append(out, attribute.Int64(otel.PrefixRecorded+kv.k, kv.v))
			}
		}
	}
	return out
}

// decisionAction is a review decision's action ("approve", …), else "".
func decisionAction(v json.RawMessage) string {
	var d struct {
		Action string `json:"action"`
	}
	if json.Unmarshal(v, &d) == nil && len(d.Action) <= 64 {
		return d.Action
	}
	return ""
}

// costAttrs are a model call's cost: gen_ai.usage.cost (the recorded cost,
// else the priced one) for backends, and replay's two attributes saying
// which is which.
func costAttrs(c trace.Cost) []attribute.KeyValue {
	var out []attribute.KeyValue
	switch {
	case c.Recorded != nil:
		out = append(out, attribute.Float64("gen_ai.usage.cost", *c.Recorded))
	case c.Priced != nil:
		out = append(out, attribute.Float64("gen_ai.usage.cost", *c.Priced))
	}
	if c.Recorded != nil {
		out = append(out, attribute.Float64(otel.AttrCostRecorded, *c.Recorded))
	}
	if c.Priced != nil {
		out = append(out, attribute.Float64(otel.AttrCostPriced, *c.Priced))
	}
	return out
}

// validUTF8 replaces the invalid UTF-8 in s (a tool's raw output, say)
// with U+FFFD: protobuf refuses such strings, and the OTLP/HTTP exporter
// would fail the whole request. The JSON encodings do the same.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// validAttrs makes the keys and string values of attrs valid UTF-8.
func validAttrs(attrs []attribute.KeyValue) []attribute.KeyValue {
	for i, a := range attrs {
		key := attribute.Key(validUTF8(string(a.Key)))
		switch a.Value.Type() {
		case attribute.STRING:
			attrs[i] = key.String(validUTF8(a.Value.AsString()))
		case attribute.STRINGSLICE:
			ss := slices.Clone(a.Value.AsStringSlice())
			for j := range ss {
				ss[j] = validUTF8(ss[j])
			}
			attrs[i] = key.StringSlice(ss)
		default:
			attrs[i].Key = key
		}
	}
	return attrs
}

func appendStr(attrs []attribute.KeyValue, key, v string) []attribute.KeyValue {
	if v == "" {
		return attrs
	}
	return append(attrs, attribute.String(key, v))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
