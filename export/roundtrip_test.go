package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
	"github.com/agentreplay/replay/replay/trace/otel"
)

// The bundled example: the factory's run directory (the original) and a
// counterfactual replay of it (model fake-reviewer behind a scripted
// endpoint, priced with a pricing file that knows it), as `replay run
// --out` wrote it.
const (
	exampleRun     = "../testdata/example/run"
	counterfactual = "testdata/counterfactual.jsonl"
)

// load imports a trace file or directory with the format that detects it.
func load(t testing.TB, path string) *trace.Run {
	t.Helper()
	ctx := context.Background()
	var r *trace.Run
	r, err := trace.Collect(func(e trace.Emitter) error {
		_, err := importers.Import(ctx, path, "", trace.Options{}, e)
		return err
	})
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	if r.Meta.ID == "" {
		id, err := store.ContentID(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		r.Meta.ID = id
	}
	return r
}

// exportFile exports run to an OTLP/JSON file and returns its path.
func exportFile(t testing.TB, run *trace.Run, opts Options) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "export.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewOTLPFile(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Export(ctx, run, opts); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRoundTrip: what the OTLP export writes, replay's importer reads back
// into an equivalent run: the same runs and sub-agents, the same model and
// tool calls in the same order, the same tokens and costs (recorded and
// priced apart), tool statuses, how each result was produced, the origin
// of a replay, the refs and the recorded totals; with --content also the
// conversation's messages, tool arguments and results.
func TestRoundTrip(t *testing.T) {
	orig := load(t, exampleRun)
	cf := load(t, counterfactual)
	if cf.Meta.Replay == nil || cf.Meta.Replay.Of != orig.Meta.ID {
		t.Fatalf("the fixture must be a replay of the example run %s: %+v", orig.Meta.ID, cf.Meta.Replay)
	}
	if cf.Steps[1].LLM.Cost.Priced == nil {
		t.Fatal("the fixture's model calls must be priced")
	}
	for _, tc := range []struct {
		name string
		run  *trace.Run
	}{{"original", orig}, {"counterfactual", cf}} {
		for _, content := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/content=%v", tc.name, content), func(t *testing.T) {
				opts := Options{Content: content, Original: OriginalOf(tc.run, orig, FormatOTLP), Version: "test"}
				path := exportFile(t, tc.run, opts)
				back := load(t, path)
				if back.Meta.Format != otel.NameOTLP {
					t.Errorf("the export imports as %q, want %q", back.Meta.Format, otel.NameOTLP)
				}
				for _, w := range back.Warnings {
					t.Errorf("import warning: %s", w)
				}
				want, got := describe(tc.run, content), describe(back, content)
				noDefs(want, &got)
				if !cmp.Equal(want, got) {
					t.Errorf("the imported export differs from the run (-run +imported):\n%s", cmp.Diff(want, got))
				}
				pricing := model.DefaultPricing()
				ws, gs := trace.Summarize(tc.run, pricing), trace.Summarize(back, pricing)
				if !cmp.Equal(summaryOf(ws), summaryOf(gs)) {
					t.Errorf("summaries differ (-run +imported):\n%s", cmp.Diff(summaryOf(ws), summaryOf(gs)))
				}
			})
		}
	}
}

// runView is what a round trip keeps of a run, in a form cmp can show.
type runView struct {
	Agent, Session, Model string
	Origin                *trace.Origin
	Refs                  map[string]trace.Ref
	Steps                 []string
	Children              []runView
	Status, Stopped       string
	Recorded              *trace.Totals
	Decision              string
	System                string
	Tools                 []string
}

// describe renders a run for comparison: the facts a user relies on, in a
// stable text form per step. Content (messages, arguments, results, the
// system prompt) only when the export carried it.
func describe(r *trace.Run, content bool) runView {
	v := runView{Agent: r.Meta.Agent, Session: r.Meta.Session, Model: r.Meta.Defaults.Model, Origin: r.Meta.Replay, Refs: map[string]trace.Ref{}}
	r.Meta.Refs.Each(func(name string, ref *trace.Ref) { v.Refs[name] = *ref })
	if r.Outcome != nil {
		v.Status, v.Stopped, v.Recorded = r.Outcome.Status, r.Outcome.Stopped, r.Outcome.Recorded
		if d := r.Outcome.Decision; d != nil {
			// Without content only the kind and a review's action travel.
			v.Decision = d.Kind + " " + decisionAction(d.Value)
			if content {
				v.Decision += " " + compactJSON(d.Value)
			}
		}
	}
	if content {
		v.System = r.Meta.Instr.System
		for _, d := range r.Meta.Instr.Tools {
			v.Tools = append(v.Tools, d.Name+" "+d.Description+" "+compactJSON(d.Schema))
		}
	}
	children := map[string]*trace.Run{}
	for _, c := range r.Children {
		children[c.Meta.Key] = c
	}
	for _, s := range r.Steps {
		switch {
		case s.Message != nil:
			if content {
				v.Steps = append(v.Steps, fmt.Sprintf("message %s %q", s.Message.Role, s.Message.Text()))
			}
		case s.LLM != nil:
			l := s.LLM
			line := fmt.Sprintf("llm model=%s usage=%+v recorded=%s priced=%s produced=%s synthetic=%v error=%q stop=%q latency=%d",
				l.Model, deref(l.Usage), usd(l.Cost.Recorded), usd(l.Cost.Priced), l.Produced, l.Synthetic, l.Error, l.StopReason, l.LatencyMS)
			if content {
				line += fmt.Sprintf(" output=%s", partsText(l.Output.Parts))
			}
			v.Steps = append(v.Steps, line)
		case s.Tool != nil:
			tc := s.Tool
			line := fmt.Sprintf("tool %s id=%s status=%s exit=%s produced=%s duration=%d", tc.Name, tc.CallID, tc.Status, intp(tc.ExitCode), tc.Produced, tc.DurationMS)
			if c := children[tc.Child]; c != nil {
				line += " child=" + c.Meta.Agent
			}
			if content {
				line += fmt.Sprintf(" args=%s output=%q", compactJSON(tc.Arguments), tc.Output)
			}
			v.Steps = append(v.Steps, line)
		}
	}
	for _, c := range r.Children {
		v.Children = append(v.Children, describe(c, content))
	}
	return v
}

// noDefs drops the tool definitions the importer infers from the tool
// calls where the run recorded none (Claude Code transcripts do not).
func noDefs(want runView, got *runView) {
	if want.Tools == nil {
		got.Tools = nil
	}
	for i := range got.Children {
		if i < len(want.Children) {
			noDefs(want.Children[i], &got.Children[i])
		}
	}
}

func partsText(ps []trace.Part) string {
	var out []string
	for _, p := range ps {
		switch p.Type {
		case trace.PartToolCall:
			out = append(out, fmt.Sprintf("tool_call(%s %s %s)", p.ID, p.Name, compactJSON(p.Arguments)))
		default:
			out = append(out, fmt.Sprintf("%s(%q)", p.Type, p.Text))
		}
	}
	return strings.Join(out, ",")
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

func deref(u *trace.Usage) any {
	if u == nil {
		return nil
	}
	return *u
}

func usd(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.9f", *f)
}

func intp(n *int) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

type summaryView struct {
	LLMCalls, ToolCalls, Runs int
	Tools                     map[string]int
	Tokens                    trace.Usage
	Recorded, Priced          string
	Models                    []string
	Status                    string
}

func summaryOf(s trace.Summary) summaryView {
	return summaryView{LLMCalls: s.LLMCalls, ToolCalls: s.ToolCalls, Runs: s.Runs, Tools: s.Tools, Tokens: s.Tokens,
		Recorded: usd(s.Cost.Recorded), Priced: usd(s.Cost.Priced), Models: s.Models, Status: s.Status}
}

// TestFileIsOTLP: the file is OTLP/JSON as a collector decodes it (the
// collector's own decoder), one TracesData per line: GenAI spans with hex
// ids, the trace id derived from the run, the sub-agent nested in the call
// that started it, and a link to the original's trace.
func TestFileIsOTLP(t *testing.T) {
	orig := load(t, exampleRun)
	cf := load(t, counterfactual)
	o := OriginalOf(cf, orig, FormatOTLP)
	path := exportFile(t, cf, Options{Original: o})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("%d lines, want one TracesData", len(lines))
	}
	if !bytes.Contains(bytes.ToLower(lines[0]), []byte(`"traceid":"`+TraceID(cf.Meta.ID)+`"`)) {
		t.Errorf("trace ids are not hex: %.300s", lines[0])
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(lines[0])
	if err != nil {
		t.Fatalf("the collector's OTLP/JSON decoder refuses the file: %v", err)
	}
	spans := spansOf(td)
	// 1 main agent + 7 model calls + 5 tool calls, and the sub-agent: 1
	// agent + 2 model calls + 1 tool call (it is counted among them).
	if len(spans) != 1+5+4+1+2+1 {
		var names []string
		for _, s := range spans {
			names = append(names, s.Name())
		}
		t.Fatalf("%d spans: %v", len(spans), names)
	}
	byName := map[string][]ptrace.Span{}
	byID := map[string]ptrace.Span{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
		byID[s.SpanID().String()] = s
		if s.TraceID().String() != TraceID(cf.Meta.ID) {
			t.Errorf("span %s in trace %s", s.Name(), s.TraceID())
		}
	}
	main := byName["invoke_agent review"]
	if len(main) != 1 || !main[0].ParentSpanID().IsEmpty() {
		t.Fatalf("main agent spans: %d", len(main))
	}
	attrs := main[0].Attributes().AsRaw()
	for k, want := range map[string]any{
		"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "review",
		otel.AttrOriginalTraceID: TraceID(orig.Meta.ID), otel.AttrOriginalRunID: orig.Meta.ID,
		otel.AttrMode: "run", otel.PrefixVariant + "model": "fake-reviewer", otel.AttrRunID: cf.Meta.ID,
		otel.PrefixRef + "work_item": "acme/widgets#42",
	} {
		if attrs[k] != want {
			t.Errorf("agent span %s = %v, want %v", k, attrs[k], want)
		}
	}
	if l := main[0].Links(); l.Len() != 1 || l.At(0).TraceID().String() != TraceID(orig.Meta.ID) || l.At(0).SpanID().String() != o.SpanID {
		t.Errorf("the agent span must link to the original's trace %s", TraceID(orig.Meta.ID))
	}
	sec := byName["invoke_agent security"]
	if len(sec) != 1 {
		t.Fatal("no security sub-agent span")
	}
	parent, ok := byID[sec[0].ParentSpanID().String()]
	if !ok || parent.Name() != "execute_tool Task" || parent.StartTimestamp() > sec[0].StartTimestamp() || parent.EndTimestamp() < sec[0].EndTimestamp() {
		t.Errorf("the sub-agent must nest in the Task call that started it, within its time: parent %q", parent.Name())
	}
	chat := byName["chat fake-reviewer"]
	if len(chat) != 7 {
		t.Fatalf("%d chat spans", len(chat))
	}
	a := chat[0].Attributes().AsRaw()
	if a["gen_ai.usage.input_tokens"] != int64(131) || a["gen_ai.usage.output_tokens"] != int64(22) || a[otel.AttrCostPriced] != 0.000723 ||
		a["gen_ai.usage.cost"] != 0.000723 || chat[0].Kind() != ptrace.SpanKindClient {
		t.Errorf("first chat span: kind %v, attributes %v", chat[0].Kind(), a)
	}
	// Content is opt-in: without it, no message, argument or result.
	for _, s := range spans {
		for k := range s.Attributes().AsRaw() {
			if k == "gen_ai.input.messages" || k == "gen_ai.output.messages" || k == "gen_ai.tool.call.arguments" ||
				k == "gen_ai.tool.call.result" || k == "gen_ai.system_instructions" || k == "replay.decision" {
				t.Errorf("span %s carries %s without --content", s.Name(), k)
			}
		}
	}
}

// TestFileDecodesWithOTLPProtoTypes: a line of the file is a TracesData
// that the OTLP protobuf types read with protojson (unknown fields refused;
// trace and span ids in hex, as OTLP/JSON has them), and it holds exactly
// what the protobuf encoding sends a collector.
func TestFileDecodesWithOTLPProtoTypes(t *testing.T) {
	cf := load(t, counterfactual)
	opts := Options{Content: true, Original: OriginalOf(cf, nil, FormatOTLP), Version: "test"}
	line := bytes.TrimSpace([]byte(readFile(t, exportFile(t, cf, opts))))
	var td tracepb.TracesData
	if err := (protojson.UnmarshalOptions{}).Unmarshal(hexIDsToBase64(t, line), &td); err != nil {
		t.Fatalf("protojson refuses the line: %v", err)
	}
	reqs, err := protoBodies(t, cf, opts)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%d requests: %v", len(reqs), err)
	}
	if want := (&tracepb.TracesData{ResourceSpans: reqs[0].ResourceSpans}); !proto.Equal(&td, want) {
		t.Errorf("the file and the protobuf request differ:\nfile %v\nprotobuf %v", &td, want)
	}
	spans := td.ResourceSpans[0].ScopeSpans[0].Spans
	if root := spans[len(spans)-1]; len(root.TraceId) != 16 || hex.EncodeToString(root.TraceId) != TraceID(cf.Meta.ID) ||
		len(root.SpanId) != 8 || len(root.Links) != 1 || root.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
		t.Errorf("agent span %v", root)
	}
}

// hexIDsToBase64 rewrites the hex ids of OTLP/JSON (traceId, spanId,
// parentSpanId) in the base64 that protojson expects of bytes fields.
func hexIDsToBase64(t *testing.T, line []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "traceId" || k == "spanId" || k == "parentSpanId") {
					b, err := hex.DecodeString(s)
					if err != nil {
						t.Fatalf("%s %q is not hex", k, s)
					}
					x[k] = base64.StdEncoding.EncodeToString(b)
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func spansOf(td ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				out = append(out, ss.Spans().At(k))
			}
		}
	}
	return out
}

// TestExportIsDeterministic: exporting a run again writes the same bytes:
// ids, times and attribute order are functions of the run alone.
func TestExportIsDeterministic(t *testing.T) {
	cf := load(t, counterfactual)
	opts := Options{Content: true, Original: OriginalOf(cf, nil, FormatOTLP)}
	a, err := os.ReadFile(exportFile(t, cf, opts))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exportFile(t, cf, opts))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two exports of one run differ")
	}
	// Another run gets other ids.
	other := *cf
	other.Meta.ID = strings.Repeat("ab", 16)
	c, err := os.ReadFile(exportFile(t, &other, opts))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(c))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(TraceID(cf.Meta.ID))) {
			t.Error("another run's export reuses the trace id")
		}
	}
}

// TestLongRunContent: with content, a long run's export grows with its
// length, not its square: past maxHistoryBytes a model call carries only
// the messages since the model's last answer, marked delta, which the
// importer reads as such; the tool results, calls and messages all come
// back. A file splits a run larger than a request into lines.
func TestLongRunContent(t *testing.T) {
	run := longRun(100, 4<<10) // the whole history of the last call: ~420 KiB
	for _, maxRequest := range []int{0, 64 << 10} {
		path := filepath.Join(t.TempDir(), "long.jsonl")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		x, err := NewOTLPFile(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if maxRequest > 0 {
			x.maxRequest = maxRequest
		}
		if _, err := x.Export(context.Background(), run, Options{Content: true}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		data := readFile(t, path)
		lines := strings.Count(data, "\n")
		if len(data) > 2<<20 || (maxRequest == 0) != (lines == 1) {
			t.Errorf("maxRequest %d: %d bytes in %d lines (the whole history each time would be ~20 MiB)", maxRequest, len(data), lines)
		}
		back := load(t, path)
		var deltas, outputs int
		for _, s := range back.Steps {
			if s.LLM != nil && s.LLM.InputMode == "delta" {
				deltas++
				if n := len(s.LLM.Input); n != 1 || s.LLM.Input[0].Role != "tool" {
					t.Fatalf("a delta input of %d messages: %+v", n, s.LLM.Input)
				}
			}
			if s.Tool != nil && len(s.Tool.Output) == 4<<10 {
				outputs++
			}
		}
		if deltas < 80 || deltas > 95 || outputs != 100 {
			t.Errorf("maxRequest %d: %d calls with a delta input, %d whole tool results", maxRequest, deltas, outputs)
		}
		if want, got := describe(run, true), describe(back, true); !cmp.Equal(want.Steps, got.Steps) {
			t.Errorf("maxRequest %d: steps differ (-run +imported):\n%s", maxRequest, cmp.Diff(want.Steps, got.Steps))
		}
	}
	evs, err := LangfuseEvents(run, Options{Content: true})
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, e := range evs {
		size += len(e.Body)
	}
	if size > 2<<20 {
		t.Errorf("Langfuse events: %d bytes", size)
	}
}
