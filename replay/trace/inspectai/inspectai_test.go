package inspectai

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

func collect(t testing.TB, path string, opts trace.Options) (*trace.Run, trace.Summary, error) {
	t.Helper()
	var z trace.Summarizer
	run, err := trace.Collect(func(e trace.Emitter) error {
		return Format{}.Import(context.Background(), &trace.Source{Path: path}, opts, trace.Tee(e, &z))
	})
	return run, z.Summary(), err
}

// TestJSONLog imports a JSON log of two samples: each a run, the eval's
// revision as refs, usage from the model events, the scorer's verdict.
func TestJSONLog(t *testing.T) {
	keys, err := Format{}.Records(context.Background(), &trace.Source{Path: "testdata/log.json"}, trace.Options{})
	if err != nil || strings.Join(keys, ",") != "a_epoch_1,2_epoch_1" {
		t.Fatalf("Records = %q, %v", keys, err)
	}
	run, sum, err := collect(t, "testdata/log.json", trace.Options{Record: "a_epoch_1"})
	if err != nil {
		t.Fatal(err)
	}
	m := run.Meta
	if m.Instance != "a" || m.Session != "E1" || m.Agent != "fix" || m.Instr.System != "Be brief." || m.Refs.Commit.Value != "abc1234" ||
		m.Refs.Repo.Value != "https://github.com/acme/evals.git" || m.Refs.Repo.From != "eval.revision.origin" || *m.Defaults.Temperature != 0.5 {
		t.Errorf("meta %+v", m)
	}
	if sum.LLMCalls != 2 || sum.ToolCalls != 2 || sum.Tools["bash"] != 1 {
		t.Errorf("%d llm %d tools %v", sum.LLMCalls, sum.ToolCalls, sum.Tools)
	}
	var tools []*trace.ToolCall
	var llms []*trace.LLMCall
	for _, s := range run.Steps {
		if s.Tool != nil {
			tools = append(tools, s.Tool)
		}
		if s.LLM != nil {
			llms = append(llms, s.LLM)
		}
		if s.Message != nil && s.Message.Text() != "List the files." {
			t.Errorf("user message %q: the attachment is not resolved", s.Message.Text())
		}
	}
	if u := llms[0].Usage; u == nil || u.Input != 300 || u.CacheRead != 600 || u.CacheWrite != 100 || llms[0].LatencyMS != 1500 || llms[0].Output.Parts[0].Type != trace.PartReasoning {
		t.Errorf("first call %+v usage %+v", llms[0], llms[0].Usage)
	}
	if u := llms[1].Usage; u.Input != 10 || u.CacheRead != 900 {
		t.Errorf("second call usage %+v: input smaller than the cache reads is kept as uncached input", u)
	}
	if tools[0].Output != "a.txt" || tools[1].Status != trace.ToolError || tools[1].Output != "ZeroDivisionError" || string(tools[0].Arguments) != `{"cmd": "ls"}` {
		t.Errorf("tools %+v %+v", tools[0], tools[1])
	}
	if sum.Resolved == nil || !*sum.Resolved || string(run.Outcome.Decision.Value) != `{"includes":"C"}` || run.Outcome.Final != "Done." {
		t.Errorf("outcome %+v", run.Outcome)
	}
	_, sum, err = collect(t, "testdata/log.json", trace.Options{Record: "2_epoch_1"})
	if err != nil || sum.Instance != "2" || sum.Resolved == nil || *sum.Resolved {
		t.Errorf("sample 2: %v %+v", err, sum)
	}
}

// writeEval writes a .eval archive from the JSON log: header.json, one
// member per sample and summaries.json, leaving out the members named in
// drop.
func writeEval(t testing.TB, dir string, drop ...string) string {
	b, err := os.ReadFile("testdata/log.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var samples []map[string]json.RawMessage
	json.Unmarshal(doc["samples"], &samples)
	delete(doc, "samples")
	p := filepath.Join(dir, "log.eval")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	put := func(name string, v any) {
		for _, d := range drop {
			if d == name {
				return
			}
		}
		w, err := z.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		json.NewEncoder(w).Encode(v)
	}
	put("_journal/start.json", map[string]any{"version": 2, "eval": doc["eval"]})
	var summaries []map[string]json.RawMessage
	for _, s := range samples {
		var id any
		json.Unmarshal(s["id"], &id)
		put("samples/"+strings.Trim(string(s["id"]), `"`)+"_epoch_1.json", s)
		summaries = append(summaries, map[string]json.RawMessage{"id": s["id"], "epoch": s["epoch"]})
	}
	put("summaries.json", summaries)
	put("header.json", doc)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// TestEvalArchive reads the same log as a .eval archive; a sample member
// missing from it is a warning naming the record and the member, and the
// other sample still imports; a missing header.json falls back to the
// journal with a warning.
func TestEvalArchive(t *testing.T) {
	p := writeEval(t, t.TempDir())
	head, _ := os.ReadFile(p)
	if !(Format{}).Detect(&trace.Source{Path: p, Head: head[:min(len(head), trace.HeadSize)]}) {
		t.Fatal("Detect(.eval) = false")
	}
	keys, err := Format{}.Records(context.Background(), &trace.Source{Path: p}, trace.Options{})
	if err != nil || strings.Join(keys, ",") != "a_epoch_1,2_epoch_1" {
		t.Fatalf("Records = %q, %v", keys, err)
	}
	_, sum, err := collect(t, p, trace.Options{Record: "a_epoch_1"})
	if err != nil || sum.LLMCalls != 2 || sum.ToolCalls != 2 || sum.Refs["commit"].Value != "abc1234" {
		t.Errorf("archive sample a: %v %+v", err, sum)
	}

	p = writeEval(t, t.TempDir(), "samples/a_epoch_1.json", "header.json")
	keys, err = Format{}.Records(context.Background(), &trace.Source{Path: p}, trace.Options{})
	if err != nil || strings.Join(keys, ",") != "2_epoch_1" {
		t.Fatalf("Records = %q, %v; want the sample still there", keys, err)
	}
	run, sum, err := collect(t, p, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(sum.Warnings, "\n")
	if run.Meta.Instance != "2" || !strings.Contains(w, `record "a_epoch_1": member samples/a_epoch_1.json is missing from the .eval archive`) ||
		!strings.Contains(w, "member header.json is missing") || run.Meta.Defaults.Model != "anthropic/claude-sonnet-4-20250514" {
		t.Errorf("instance %q model %q warnings %q", run.Meta.Instance, run.Meta.Defaults.Model, sum.Warnings)
	}
}

// TestCorpus imports every sample of the real logs; counts come from the
// raw files: a model call per assistant message, a tool call per tool call
// it makes, a run per sample.
func TestCorpus(t *testing.T) {
	dir := testutil.RequireCorpus(t, "inspect")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatalf("no logs in %s", dir)
	}
	type sampleDoc struct {
		ID       json.RawMessage `json:"id"`
		Epoch    int             `json:"epoch"`
		Messages []struct {
			Role      string            `json:"role"`
			ToolCalls []json.RawMessage `json:"tool_calls"`
		} `json:"messages"`
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var samples []sampleDoc
			var revision json.RawMessage
			if strings.HasSuffix(f, ".eval") {
				z, err := zip.OpenReader(f)
				if err != nil {
					t.Fatal(err)
				}
				defer z.Close()
				for _, m := range z.File {
					if !strings.HasPrefix(m.Name, "samples/") && m.Name != "header.json" {
						continue
					}
					rc, _ := m.Open()
					b, _ := io.ReadAll(rc)
					rc.Close()
					if m.Name == "header.json" {
						var h struct {
							Eval struct {
								Revision json.RawMessage `json:"revision"`
							} `json:"eval"`
						}
						json.Unmarshal(b, &h)
						revision = h.Eval.Revision
						continue
					}
					var s sampleDoc
					if err := json.Unmarshal(b, &s); err != nil {
						t.Fatal(err)
					}
					samples = append(samples, s)
				}
			} else {
				b, _ := os.ReadFile(f)
				var doc struct {
					Eval struct {
						Revision json.RawMessage `json:"revision"`
					} `json:"eval"`
					Samples []sampleDoc `json:"samples"`
				}
				if err := json.Unmarshal(b, &doc); err != nil {
					t.Fatal(err)
				}
				samples, revision = doc.Samples, doc.Eval.Revision
			}
			keys, err := Format{}.Records(context.Background(), &trace.Source{Path: f}, trace.Options{})
			if err != nil || len(keys) != len(samples) {
				t.Fatalf("Records = %q, %v; the log has %d samples", keys, err, len(samples))
			}
			for _, s := range samples {
				key := sampleKey(s.ID, s.Epoch)
				llm, tools := 0, 0
				for _, m := range s.Messages {
					if m.Role == "assistant" {
						llm++
						tools += len(m.ToolCalls)
					}
				}
				run, sum, err := collect(t, f, trace.Options{Record: key})
				if err != nil {
					t.Fatalf("sample %q: %v", key, err)
				}
				if sum.LLMCalls != llm || sum.ToolCalls != tools {
					t.Errorf("sample %q: %d llm calls, %d tool calls; the log has %d and %d", key, sum.LLMCalls, sum.ToolCalls, llm, tools)
				}
				for _, st := range run.Steps {
					if st.Tool != nil && st.Tool.Status == trace.ToolMissing {
						t.Errorf("sample %q: tool call %s without its result", key, st.Tool.CallID)
					}
				}
				hasRev := len(revision) > 0 && string(revision) != "null"
				if hasRev != (run.Meta.Refs.Commit != nil) {
					t.Errorf("sample %q: revision %s, commit ref %+v", key, revision, run.Meta.Refs.Commit)
				}
			}
		})
	}
}

func FuzzImport(f *testing.F) {
	b, err := os.ReadFile("testdata/log.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	eval, _ := os.ReadFile(writeEval(f, f.TempDir()))
	f.Add(eval)
	f.Add([]byte(`{"version":2,"eval":{"task":"x"},"samples":[{"id":1,"messages":[{"role":"tool","tool_call_id":"z"},{"role":"assistant","tool_calls":[{"id":"z"}]}],"scores":{"a":{"value":true},"b":{"value":"I"}}}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		src := &trace.Source{Path: p, Head: b[:min(len(b), trace.HeadSize)]}
		keys, err := Format{}.Records(context.Background(), src, trace.Options{})
		if err != nil {
			return
		}
		for _, k := range keys {
			if err := (Format{}).Import(context.Background(), src, trace.Options{Record: k}, &trace.Collector{}); err != nil && !strings.Contains(err.Error(), p) {
				t.Fatalf("error without the file's name: %v", err)
			}
		}
	})
}
