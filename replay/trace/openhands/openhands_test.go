package openhands

import (
	"context"
	"encoding/json"
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

// TestEvents imports an event-stream trajectory whose one model response
// made two tool calls: one model call, two tools paired with their
// observations by cause; the system action is the system prompt.
func TestEvents(t *testing.T) {
	run, sum := testutil.ImportFile(t, Format{}, "testdata/events.json")
	if sum.LLMCalls != 2 || sum.ToolCalls != 3 {
		t.Errorf("%d llm, %d tools; want 2 responses and 3 calls", sum.LLMCalls, sum.ToolCalls)
	}
	m := run.Meta
	if m.Instr.System != "You are OpenHands agent." || len(m.Instr.Tools) != 1 || m.Agent != "CodeActAgent" || m.Generator != "OpenHands 0.39.0" {
		t.Errorf("meta %+v", m)
	}
	var tools []*trace.ToolCall
	for _, s := range run.Steps {
		if s.Tool != nil {
			tools = append(tools, s.Tool)
		}
		if s.LLM != nil && s.LLM.ID == "resp-1" {
			if u := s.LLM.Usage; u == nil || u.Input != 100 || u.CacheRead != 300 || u.CacheWrite != 600 || u.Output != 40 {
				t.Errorf("usage %+v: prompt_tokens include cache reads and writes", u)
			}
		}
	}
	if tools[0].Output != "a.py" || *tools[0].ExitCode != 0 || tools[0].DurationMS != 3000 ||
		tools[1].Name != "str_replace_editor" || string(tools[1].Arguments) != `{"command": "view", "path": "/workspace/a.py"}` || tools[1].Output != "     1\tprint(1)\n" {
		t.Errorf("tools %+v %+v", tools[0], tools[1])
	}
	if run.Outcome.Status != trace.StatusOK || run.Outcome.Final != "Nothing to fix." {
		t.Errorf("outcome %+v", run.Outcome)
	}
}

// TestRecords imports an output file of two records, one a run each; the
// resolver record has no base commit: a warning names it and the field, and
// the other record still imports.
func TestRecords(t *testing.T) {
	keys, err := Format{}.Records(context.Background(), &trace.Source{Path: "testdata/output.jsonl"}, trace.Options{})
	if err != nil || strings.Join(keys, ",") != "acme__widgets-7,acme/widgets#8" {
		t.Fatalf("Records = %q, %v", keys, err)
	}
	run, sum, err := collect(t, "testdata/output.jsonl", trace.Options{Record: keys[0]})
	if err != nil {
		t.Fatal(err)
	}
	m := run.Meta
	if m.Refs.Repo.Value != "acme/widgets" || m.Refs.BaseCommit.Value != "0123456789abcdef0123456789abcdef01234567" || m.Refs.BaseCommit.From != "instance.base_commit" ||
		m.Instance != "acme__widgets-7" || m.Session != "output" || m.Defaults.Model != "openai/gpt-4o" {
		t.Errorf("meta %+v", m)
	}
	if o := run.Outcome; o.Resolved == nil || *o.Resolved || o.Patch != "diff --git a/x.go b/x.go\n" || *sum.Resolved {
		t.Errorf("outcome %+v", o)
	}
	if len(sum.Warnings) != 0 {
		t.Errorf("warnings %q", sum.Warnings)
	}
	run, sum, err = collect(t, "testdata/output.jsonl", trace.Options{Record: keys[1]})
	if err != nil {
		t.Fatal(err)
	}
	if sum.LLMCalls != 2 || sum.ToolCalls != 2 || run.Meta.Refs.Issue.Value != "acme/widgets#8" || *run.Outcome.Resolved != true || run.Meta.Session != "output" {
		t.Errorf("record 2: %d llm %d tools, refs %+v, outcome %+v", sum.LLMCalls, sum.ToolCalls, run.Meta.Refs, run.Outcome)
	}
	if len(sum.Warnings) != 1 || !strings.Contains(sum.Warnings[0], `output.jsonl:2: record "acme/widgets#8": no base commit (base_commit is missing or empty)`) {
		t.Errorf("warnings %q", sum.Warnings)
	}
	// Without a record: the first, and a warning naming the others.
	_, sum, err = collect(t, "testdata/output.jsonl", trace.Options{})
	if err != nil || sum.Instance != "acme__widgets-7" || !strings.Contains(strings.Join(sum.Warnings, "\n"), "holds 2 records") {
		t.Errorf("no record: %v %q", err, sum.Warnings)
	}
	if _, _, err := collect(t, "testdata/output.jsonl", trace.Options{Record: "nope"}); err == nil || !strings.Contains(err.Error(), `no record "nope"`) {
		t.Errorf("unknown record: %v", err)
	}
}

// TestCorpus imports every real trajectory and output; counts come from the
// raw files: a tool call per agent action other than a message, a model
// call per distinct model response (or per action without one).
func TestCorpus(t *testing.T) {
	dir := testutil.RequireCorpus(t, "openhands")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatalf("no files in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			type rec struct {
				History  []map[string]any `json:"history"`
				Instance *struct {
					BaseCommit string `json:"base_commit"`
				} `json:"instance"`
				BaseCommit *string `json:"base_commit"`
			}
			var recs []rec
			if strings.HasSuffix(f, ".jsonl") {
				for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
					var r rec
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						t.Fatal(err)
					}
					recs = append(recs, r)
				}
			} else {
				var r rec
				if err := json.Unmarshal(b, &r.History); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			keys, err := Format{}.Records(context.Background(), &trace.Source{Path: f}, trace.Options{})
			if err != nil || len(keys) != len(recs) {
				t.Fatalf("Records = %q, %v; the file has %d records", keys, err, len(recs))
			}
			for i, r := range recs {
				wantTools, wantLLM := 0, 0
				resp := map[string]bool{}
				for _, ev := range r.History {
					action, _ := ev["action"].(string)
					if action == "" || ev["source"] == "user" || ev["source"] == "environment" || action == "system" || action == "recall" {
						continue
					}
					if action == "message" && ev["source"] == nil && i >= 0 && wantLLM == 0 && wantTools == 0 {
						continue // the old layout's first message is the user's
					}
					if action != "message" {
						wantTools++
					}
					id := ""
					if tcm, ok := ev["tool_call_metadata"].(map[string]any); ok {
						if mr, ok := tcm["model_response"].(map[string]any); ok {
							id, _ = mr["id"].(string)
						}
					}
					if id == "" || !resp[id] {
						wantLLM++
					}
					if id != "" {
						resp[id] = true
					}
				}
				opts := trace.Options{}
				if len(keys) > 1 {
					opts.Record = keys[i]
				}
				run, sum, err := collect(t, f, opts)
				if err != nil {
					t.Fatalf("record %q: %v", keys[i], err)
				}
				if sum.ToolCalls != wantTools || sum.LLMCalls != wantLLM {
					t.Errorf("record %q: %d llm calls, %d tool calls; the file has %d and %d", keys[i], sum.LLMCalls, sum.ToolCalls, wantLLM, wantTools)
				}
				base := ""
				if r.Instance != nil {
					base = r.Instance.BaseCommit
				} else if r.BaseCommit != nil {
					base = *r.BaseCommit
				}
				if strings.HasSuffix(f, ".jsonl") {
					switch {
					case base != "" && (run.Meta.Refs.BaseCommit == nil || run.Meta.Refs.BaseCommit.Value != base):
						t.Errorf("record %q: base commit %+v, want %s", keys[i], run.Meta.Refs.BaseCommit, base)
					case base == "" && !strings.Contains(strings.Join(sum.Warnings, "\n"), "record "+`"`+keys[i]+`": no base commit`):
						t.Errorf("record %q: no base commit and no warning naming it: %q", keys[i], sum.Warnings)
					}
					if run.Outcome.Patch == "" && run.Outcome.Decision == nil {
						t.Errorf("record %q: no patch", keys[i])
					}
				}
			}
		})
	}
}

func FuzzImport(f *testing.F) {
	for _, p := range []string{"testdata/events.json", "testdata/output.jsonl"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[{"id":1,"source":"agent","action":"run","tool_call_metadata":{"model_response":{"choices":[]}}},{"observation":"run","cause":1}]`))
	f.Add([]byte(`{"instance_id":"x","history":[{"observation":"error","content":"bad"},{"action":"finish"}],"metrics":{"accumulated_token_usage":{"prompt_tokens":-5}}}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		src := &trace.Source{Path: p, Head: b[:min(len(b), trace.HeadSize)]}
		if !(Format{}).Detect(src) {
			return
		}
		keys, err := Format{}.Records(context.Background(), src, trace.Options{Lenient: true})
		if err != nil {
			return
		}
		for _, k := range keys {
			var z trace.Summarizer
			if err := (Format{}).Import(context.Background(), src, trace.Options{Lenient: true, Record: k}, &z); err != nil {
				continue
			}
			if s := z.Summary(); s.Tokens.Input < 0 {
				t.Fatalf("negative input tokens %+v", s.Tokens)
			}
		}
	})
}
