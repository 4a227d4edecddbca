package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/export/exporttest"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/langfuse"
	"github.com/agentreplay/replay/replay/trace/otel"
)

const (
	testPK = "pk-lf-test"
	testSK = "sk-lf-test"
)

func lfClient(l *exporttest.Langfuse) *langfuse.Client {
	return &langfuse.Client{Host: l.URL, PublicKey: testPK, SecretKey: testSK, MaxRetries: 1}
}

// TestLangfuse: a replay arrives as one trace tagged replay, its metadata
// linking the original, with an agent observation per run, a generation
// per model call (usage and cost) and a tool observation per tool call,
// nested as the run was. Sending it again changes nothing.
func TestLangfuse(t *testing.T) {
	orig := load(t, exampleRun)
	cf := load(t, counterfactual)
	l := exporttest.NewLangfuse(testPK, testSK)
	defer l.Close()
	x := &Langfuse{Client: lfClient(l)}
	opts := Options{Original: OriginalOf(cf, orig, FormatLangfuse)}
	res, err := x.Export(context.Background(), cf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 1+2+7+5 || res.TraceID != TraceID(cf.Meta.ID) {
		t.Errorf("result %+v", res)
	}
	if ids := l.Traces(); len(ids) != 1 || ids[0] != TraceID(cf.Meta.ID) {
		t.Fatalf("traces %v", ids)
	}
	tr, obs := l.Trace(TraceID(cf.Meta.ID))
	if tr["name"] != "review" || !cmp.Equal(tr["tags"], []any{"replay", "replay:run"}) {
		t.Errorf("trace name %v tags %v", tr["name"], tr["tags"])
	}
	meta, _ := tr["metadata"].(map[string]any)
	for k, want := range map[string]any{
		otel.AttrOriginalTraceID: TraceID(orig.Meta.ID), otel.AttrOriginalRunID: orig.Meta.ID,
		otel.AttrMode: "run", otel.PrefixVariant + "model": "fake-reviewer", otel.AttrRunID: cf.Meta.ID,
		"replay.decision.action": "approve",
	} {
		if meta[k] != want {
			t.Errorf("trace metadata %s = %v, want %v", k, meta[k], want)
		}
	}
	types := map[string]int{}
	byID := map[string]map[string]any{}
	for _, o := range obs {
		types[o["type"].(string)]++
		byID[o["id"].(string)] = o
	}
	if !cmp.Equal(types, map[string]int{"AGENT": 2, "GENERATION": 7, "TOOL": 5}) {
		t.Errorf("observation types %v", types)
	}
	var gen, sec map[string]any
	for _, o := range obs {
		if o["type"] == "GENERATION" && gen == nil {
			gen = o
		}
		if o["type"] == "AGENT" && o["name"] == "security" {
			sec = o
		}
	}
	if gen["model"] != "fake-reviewer" || !cmp.Equal(gen["usageDetails"], map[string]any{"input": 131.0, "output": 22.0,
		"input_cache_read": 0.0, "input_cache_creation": 0.0, "total": 153.0}) || !cmp.Equal(gen["costDetails"], map[string]any{"total": 0.000723}) {
		t.Errorf("first generation: model %v usage %v cost %v", gen["model"], gen["usageDetails"], gen["costDetails"])
	}
	if p := byID[sec["parentObservationId"].(string)]; p == nil || p["type"] != "TOOL" || p["name"] != "Task" {
		t.Errorf("the security agent must hang from the Task call that started it: %v", p)
	}
	for _, o := range obs {
		if o["input"] != nil || o["output"] != nil {
			t.Errorf("%v %v carries content without --content", o["type"], o["name"])
		}
	}

	// Again: the same events, nothing new.
	before := len(l.Events())
	if _, err := x.Export(context.Background(), cf, opts); err != nil {
		t.Fatal(err)
	}
	evs := l.Events()
	if len(evs) != 2*before {
		t.Fatalf("%d events after the second export, want %d", len(evs), 2*before)
	}
	for i := range before {
		if evs[i].ID != evs[before+i].ID || !bytes.Equal(evs[i].Body, evs[before+i].Body) {
			t.Errorf("event %d differs between exports: %s vs %s", i, evs[i].ID, evs[before+i].ID)
		}
	}
	if _, obs2 := l.Trace(TraceID(cf.Meta.ID)); len(obs2) != len(obs) || len(l.Traces()) != 1 {
		t.Errorf("a second export must not add observations: %d, then %d", len(obs), len(obs2))
	}
}

// TestLangfuseFetchBack: what the export sent, fetched back from the server
// and imported with the Langfuse importer, is the same run: calls, tools,
// tokens; the cost comes back as Langfuse holds it (costDetails, which the
// importer reads as recorded).
func TestLangfuseFetchBack(t *testing.T) {
	cf := load(t, counterfactual)
	l := exporttest.NewLangfuse(testPK, testSK)
	defer l.Close()
	c := lfClient(l)
	if _, err := (&Langfuse{Client: c}).Export(context.Background(), cf, Options{Content: true}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.Fetch(context.Background(), TraceID(cf.Meta.ID), &buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trace.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back := load(t, path)
	if back.Meta.Format != langfuse.Name {
		t.Fatalf("imported as %q", back.Meta.Format)
	}
	p := model.DefaultPricing()
	ws, gs := trace.Summarize(cf, p), trace.Summarize(back, p)
	if ws.LLMCalls != gs.LLMCalls || ws.ToolCalls != gs.ToolCalls || !cmp.Equal(ws.Tools, gs.Tools) || ws.Tokens != gs.Tokens ||
		ws.Runs != gs.Runs || usd(ws.Cost.Priced) != usd(gs.Cost.Recorded) || gs.Agent != "review" {
		t.Errorf("run:      %d llm, %d tools %v, tokens %+v, %d runs, priced %s\nimported: %d llm, %d tools %v, tokens %+v, %d runs, recorded %s, agent %q",
			ws.LLMCalls, ws.ToolCalls, ws.Tools, ws.Tokens, ws.Runs, usd(ws.Cost.Priced),
			gs.LLMCalls, gs.ToolCalls, gs.Tools, gs.Tokens, gs.Runs, usd(gs.Cost.Recorded), gs.Agent)
	}
	var first *trace.LLMCall
	for _, s := range back.Steps {
		if s.LLM != nil {
			first = s.LLM
			break
		}
	}
	if first == nil || len(first.Input) == 0 || first.Input[len(first.Input)-1].Role != "user" {
		t.Errorf("with --content the generation's input is the conversation: %+v", first)
	}
}

// TestLangfuseFailures: refused events and refused requests are errors that
// name the server and what it refused.
func TestLangfuseFailures(t *testing.T) {
	cf := load(t, counterfactual)
	t.Run("207 with per-event errors", func(t *testing.T) {
		l := exporttest.NewLangfuse(testPK, testSK)
		defer l.Close()
		l.Refuse = func(ev exporttest.Event) string {
			if ev.Type == "tool-create" {
				return "Invalid observation type"
			}
			return ""
		}
		res, err := (&Langfuse{Client: lfClient(l)}).Export(context.Background(), cf, Options{})
		var ee *EventErrors
		if !errors.As(err, &ee) || len(ee.Errors) != 5 || ee.Accepted != 10 || res.Events != 15 {
			t.Fatalf("err %v", err)
		}
		msg := err.Error()
		for _, want := range []string{"langfuse at " + l.URL, "refused 5 of 15 events", "tool-create ", "400 Invalid observation type", "and 2 more"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q lacks %q", msg, want)
			}
		}
	})
	for _, tt := range []struct {
		name   string
		status int
		keys   [2]string
		want   string
	}{
		{"wrong keys", 0, [2]string{testPK, "nope"}, "401 Unauthorized: the API keys were refused"},
		{"500", http.StatusInternalServerError, [2]string{testPK, testSK}, "500 Internal Server Error"},
		{"413", http.StatusRequestEntityTooLarge, [2]string{testPK, testSK}, "try without --content"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := exporttest.NewLangfuse(testPK, testSK)
			defer l.Close()
			l.Status = tt.status
			c := lfClient(l)
			c.PublicKey, c.SecretKey = tt.keys[0], tt.keys[1]
			_, err := (&Langfuse{Client: c}).Export(context.Background(), cf, Options{})
			if err == nil || !strings.Contains(err.Error(), "export run "+cf.Meta.ID+": send to langfuse at "+l.Listener.Addr().String()) ||
				!strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v", err)
			}
			if len(l.Traces()) != 0 {
				t.Error("nothing may be stored")
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		l := exporttest.NewLangfuse(testPK, testSK)
		defer l.Close()
		l.Delay = 2 * time.Second
		c := lfClient(l)
		c.HTTP = &http.Client{Timeout: 100 * time.Millisecond}
		c.MaxRetries = 1
		_, err := (&Langfuse{Client: c}).Export(context.Background(), cf, Options{})
		if err == nil || !strings.Contains(err.Error(), l.Listener.Addr().String()) || !strings.Contains(err.Error(), "Timeout exceeded") {
			t.Errorf("err %v", err)
		}
	})
}

// TestLangfuseEventsValidate: every event the export makes passes the
// ingestion schema's checks (the fake's, after Langfuse's), with content
// and without.
func TestLangfuseEventsValidate(t *testing.T) {
	for _, path := range []string{exampleRun, counterfactual} {
		run := load(t, path)
		for _, content := range []bool{false, true} {
			evs, err := LangfuseEvents(run, Options{Content: content})
			if err != nil {
				t.Fatal(err)
			}
			l := exporttest.NewLangfuse(testPK, testSK)
			res, err := lfClient(l).Ingest(context.Background(), evs)
			l.Close()
			if err != nil || len(res.Errors) != 0 || res.Accepted != len(evs) {
				t.Errorf("%s content=%v: %v %+v", path, content, err, res.Errors)
			}
			seen := map[string]bool{}
			for _, e := range evs {
				if seen[e.ID] {
					t.Errorf("%s: event id %s twice", path, e.ID)
				}
				seen[e.ID] = true
			}
		}
	}
}

func TestWriteLangfuse(t *testing.T) {
	cf := load(t, counterfactual)
	var buf bytes.Buffer
	res, err := WriteLangfuse(&buf, cf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Batch []langfuse.IngestEvent `json:"batch"`
	}
	if err := json.Unmarshal(buf.Bytes(), &body); err != nil || len(body.Batch) != res.Events || body.Batch[0].Type != "trace-create" ||
		bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Errorf("err %v, %d events", err, len(body.Batch))
	}
}
