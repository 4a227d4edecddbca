package otel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/replay/trace"
)

// A span file as replay's export writes it: replay.* attributes beside the
// GenAI ones. What the conventions cannot say comes back from them.
const replaySpans = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"replay"}}]},"scopeSpans":[{"scope":{"name":"github.com/agentreplay/replay/export"},"spans":[
{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"chat gpt-4o","kind":3,"startTimeUnixNano":"1764064801000000000","endTimeUnixNano":"1764064802000000000","parentSpanId":"00f067aa0ba902b7",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
  {"key":"gen_ai.usage.input_tokens","value":{"intValue":"120"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":"7"}},{"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":"100"}},
  {"key":"gen_ai.usage.cost","value":{"doubleValue":0.25}},{"key":"replay.cost.priced_usd","value":{"doubleValue":0.25}},{"key":"replay.produced","value":{"stringValue":"model"}}]},
{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"c7ad6b7169203331","name":"execute_tool Bash","kind":1,"startTimeUnixNano":"1764064803000000000","endTimeUnixNano":"1764064803500000000","parentSpanId":"00f067aa0ba902b7","status":{"code":2},
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},{"key":"gen_ai.tool.name","value":{"stringValue":"Bash"}},{"key":"gen_ai.tool.call.id","value":{"stringValue":"call_1"}},
  {"key":"replay.tool.status","value":{"stringValue":"interrupted"}},{"key":"replay.tool.exit_code","value":{"intValue":"130"}},{"key":"replay.produced","value":{"stringValue":"exec"}}]},
{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","name":"invoke_agent review","kind":1,"startTimeUnixNano":"1764064800000000000","endTimeUnixNano":"1764064810000000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"invoke_agent"}},{"key":"gen_ai.agent.name","value":{"stringValue":"review"}},
  {"key":"replay.original.run_id","value":{"stringValue":"5c737df208441331f47b41c414394b5c"}},{"key":"replay.mode","value":{"stringValue":"run"}},{"key":"replay.sample","value":{"intValue":"2"}},
  {"key":"replay.variant.model","value":{"stringValue":"gpt-4o"}},
  {"key":"replay.refs","value":{"stringValue":"{\"repo\":{\"value\":\"acme/widgets\",\"provenance\":\"recorded\",\"from\":\"review-result.json repo\"},\"commit\":{\"value\":\"072bdd28\",\"provenance\":\"inferred\"}}"}},
  {"key":"replay.decision.kind","value":{"stringValue":"review"}},{"key":"replay.decision.action","value":{"stringValue":"approve"}},
  {"key":"replay.outcome.status","value":{"stringValue":"interrupted"}},{"key":"replay.outcome.stopped","value":{"stringValue":"max-steps"}},
  {"key":"replay.recorded.cost_usd","value":{"doubleValue":0.5}},{"key":"replay.recorded.input_tokens","value":{"intValue":"20"}},{"key":"replay.recorded.turns","value":{"intValue":"3"}}]}
]}]}]}
`

func TestReplayAttributes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(path, []byte(replaySpans), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustLoad(t, path)
	if len(r.Steps) != 2 || r.Steps[0].LLM == nil || r.Steps[1].Tool == nil {
		t.Fatalf("steps: %+v", r.Steps)
	}
	l := r.Steps[0].LLM
	// gen_ai.usage.cost alone would be read as recorded; replay's attributes
	// say it was priced.
	if l.Cost.Recorded != nil || l.Cost.Priced == nil || *l.Cost.Priced != 0.25 || l.Produced != "model" {
		t.Errorf("llm cost %+v produced %q", l.Cost, l.Produced)
	}
	if want := (trace.Usage{Input: 20, Output: 7, CacheRead: 100}); l.Usage == nil || *l.Usage != want {
		t.Errorf("usage %+v, want %+v", l.Usage, want)
	}
	tc := r.Steps[1].Tool
	if tc.Status != trace.ToolInterrupted || tc.ExitCode == nil || *tc.ExitCode != 130 || tc.Produced != "exec" || tc.DurationMS != 500 {
		t.Errorf("tool %+v", tc)
	}
	want := &trace.Origin{Of: "5c737df208441331f47b41c414394b5c", Mode: "run", Sample: 2, Variant: map[string]string{"model": "gpt-4o"}}
	if !cmp.Equal(r.Meta.Replay, want) {
		t.Errorf("origin %+v, want %+v", r.Meta.Replay, want)
	}
	if r.Meta.Refs.Repo == nil || r.Meta.Refs.Repo.Value != "acme/widgets" || r.Meta.Refs.Repo.From != "review-result.json repo" ||
		r.Meta.Refs.Commit == nil || r.Meta.Refs.Commit.Provenance != trace.Inferred {
		t.Errorf("refs %+v %+v", r.Meta.Refs.Repo, r.Meta.Refs.Commit)
	}
	o := r.Outcome
	if o.Status != trace.StatusInterrupted || o.Stopped != "max-steps" || o.Recorded == nil || o.Recorded.CostUSD == nil || *o.Recorded.CostUSD != 0.5 ||
		o.Recorded.Usage == nil || o.Recorded.Usage.Input != 20 || o.Recorded.Turns != 3 {
		t.Errorf("outcome %+v recorded %+v", o, o.Recorded)
	}
	if d := o.Decision; d == nil || d.Kind != "review" || string(d.Value) != `{"action":"approve"}` {
		t.Errorf("decision %+v", d)
	}
}

// A tool call before the first model call is a span of replay's export and
// a result in the first request: one call, not two.
func TestReplayExportToolsAreSpans(t *testing.T) {
	const spans = `{"resourceSpans":[{"scopeSpans":[{"spans":[
{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"c7ad6b7169203331","parentSpanId":"00f067aa0ba902b7","name":"execute_tool Read","startTimeUnixNano":"1764064801000000000","endTimeUnixNano":"1764064801000000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},{"key":"gen_ai.tool.name","value":{"stringValue":"Read"}},{"key":"gen_ai.tool.call.id","value":{"stringValue":"c1"}}]},
{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","parentSpanId":"00f067aa0ba902b7","name":"chat m","startTimeUnixNano":"1764064802000000000","endTimeUnixNano":"1764064802000000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
  {"key":"gen_ai.input.messages","value":{"stringValue":"[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]},{\"role\":\"tool\",\"parts\":[{\"type\":\"tool_call_response\",\"id\":\"c1\",\"response\":\"x\"}]}]"}}]},
{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","name":"invoke_agent a","startTimeUnixNano":"1764064800000000000","endTimeUnixNano":"1764064803000000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"invoke_agent"}},{"key":"replay.run.id","value":{"stringValue":"0123456789abcdef0123456789abcdef"}}]}
]}]}]}
`
	path := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(path, []byte(spans), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustLoad(t, path)
	var kinds []string
	for _, s := range r.Steps {
		kinds = append(kinds, s.Kind)
	}
	if !cmp.Equal(kinds, []string{"tool", "message", "llm"}) {
		t.Errorf("steps %v, want the tool span, the user message, the call", kinds)
	}
	// Without replay.run.id the result in the request is a call of its own
	// (a producer that records no tool spans).
	if err := os.WriteFile(path, []byte(strings.Replace(spans, "replay.run.id", "other.id", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := mustLoad(t, path); len(r.Steps) != 4 {
		t.Errorf("%d steps without replay.run.id, want 4", len(r.Steps))
	}
}

// TestReplayInputDelta: a model span whose input replay's export cut to the
// messages since the model's last answer imports with InputMode "delta";
// one without the mark holds the whole request.
func TestReplayInputDelta(t *testing.T) {
	span := func(id, mode string) string {
		s := `{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"` + id + `","name":"chat m","kind":3,"startTimeUnixNano":"17640648` + id[:2] + `000000000","endTimeUnixNano":"17640648` + id[:2] + `500000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"m"}},
  {"key":"gen_ai.input.messages","value":{"stringValue":"[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"go on ` + id + `\"}]}]"}}`
		if mode != "" {
			s += `,{"key":"replay.input.mode","value":{"stringValue":"` + mode + `"}}`
		}
		return s + `]}`
	}
	data := `{"resourceSpans":[{"scopeSpans":[{"spans":[` + span("10ad6b7169203331", "") + `,` + span("20ad6b7169203331", "delta") + `]}]}]}` + "\n"
	path := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, s := range mustLoad(t, path).Steps {
		if s.LLM != nil {
			modes = append(modes, s.LLM.InputMode)
		}
	}
	if want := []string{"full", "delta"}; !cmp.Equal(modes, want) {
		t.Errorf("input modes %v, want %v", modes, want)
	}
}
