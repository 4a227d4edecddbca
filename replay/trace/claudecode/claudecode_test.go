package claudecode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/replay/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var cmpEmpty = cmpopts.EquateEmpty()

const session2x = "testdata/session2x/33333333-3333-4333-8333-333333333333.jsonl"

func importRun(t *testing.T, path string, stream bool, as RunAs) *trace.Run {
	t.Helper()
	r, err := trace.Collect(func(e trace.Emitter) error {
		if stream {
			return ImportStream(context.Background(), path, trace.Options{}, e, as)
		}
		return ImportTranscript(context.Background(), path, trace.Options{}, e, as)
	})
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return r
}

func summarize(t *testing.T, path string, stream bool) trace.Summary {
	t.Helper()
	var z trace.Summarizer
	var err error
	if stream {
		err = ImportStream(context.Background(), path, trace.Options{}, &z, RunAs{})
	} else {
		err = ImportTranscript(context.Background(), path, trace.Options{}, &z, RunAs{})
	}
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return z.Summary()
}

// TestGolden renders every fixture and compares it with its golden file
// (go test -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		path   string
		stream bool
	}{
		{"testdata/features.jsonl", false},
		{"testdata/sidechains.jsonl", false},
		{session2x, false},
		{"testdata/stream.jsonl", true},
		{"testdata/stream_maxturns.jsonl", true},
		{"testdata/stream_iserror.jsonl", true},
	} {
		name := strings.TrimSuffix(filepath.Base(tc.path), ".jsonl")
		t.Run(name, func(t *testing.T) {
			got := render(importRun(t, tc.path, tc.stream, RunAs{}))
			golden := filepath.Join("testdata", "golden", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s (run with -update after checking):\n%s", name, golden, got)
			}
		})
	}
}

func steps(r *trace.Run, kind string) []trace.Step {
	var out []trace.Step
	for _, s := range r.Steps {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

func toolByID(t *testing.T, r *trace.Run, id string) *trace.ToolCall {
	t.Helper()
	var found *trace.ToolCall
	r.Walk(func(r *trace.Run) {
		for _, s := range r.Steps {
			if s.Tool != nil && s.Tool.CallID == id {
				found = s.Tool
			}
		}
	})
	if found == nil {
		t.Fatalf("no tool event for call %s", id)
	}
	return found
}

// TestOneResponseSplitOverLines: the lines sharing a message.id, even with
// tool results between them, make one llm event with the last line's usage,
// followed by the tool events.
func TestOneResponseSplitOverLines(t *testing.T) {
	r := importRun(t, "testdata/features.jsonl", false, RunAs{})
	var kinds []string
	for _, s := range r.Steps {
		if s.Kind == trace.KindLLM {
			kinds = append(kinds, "llm:"+s.LLM.ID)
		} else if s.Kind == trace.KindTool {
			kinds = append(kinds, "tool:"+s.Tool.CallID)
		}
	}
	want := []string{
		"llm:msg_A", "tool:toolu_bash", "tool:toolu_read",
		"llm:msg_B", "tool:toolu_grep", "tool:toolu_edit", // results in the order they arrived
		"llm:msg_C", "tool:toolu_bash2",
		"llm:msg_D", "tool:toolu_img",
		"llm:msg_E", "llm:synthetic-1",
		"tool:toolu_never", // never answered: at the end
	}
	if !cmp.Equal(kinds, want) {
		t.Errorf("step order:\n got %v\nwant %v", kinds, want)
	}
	a := steps(r, trace.KindLLM)[0].LLM
	if a.Usage == nil || a.Usage.Output != 42 || a.Usage.Input != 10 || a.Usage.CacheRead != 1000 || a.Usage.CacheWrite != 100 {
		t.Errorf("msg_A usage = %+v, want the last line's: in 10, out 42, cache read 1000, write 100", a.Usage)
	}
	var types []string
	for _, p := range a.Output.Parts {
		types = append(types, p.Type)
	}
	if want := []string{"reasoning", "text", "tool_call", "tool_call"}; !cmp.Equal(types, want) {
		t.Errorf("msg_A parts = %v, want %v", types, want)
	}
}

func TestToolResults(t *testing.T) {
	r := importRun(t, "testdata/features.jsonl", false, RunAs{})
	bash := toolByID(t, r, "toolu_bash")
	if bash.Status != trace.ToolError || bash.ExitCode == nil || *bash.ExitCode != 1 {
		t.Errorf("failed Bash: status %s exit %v, want error, exit 1", bash.Status, bash.ExitCode)
	}
	grep := toolByID(t, r, "toolu_grep")
	if grep.Output != "Found 1 file\npkg/a/a_test.go" || grep.DurationMS != 12 {
		t.Errorf("Grep: output %q duration %d, want the text blocks joined and durationMs 12", grep.Output, grep.DurationMS)
	}
	edit := toolByID(t, r, "toolu_edit")
	for _, bulky := range []string{"originalFile", "oldString", "newString", "structuredPatch", "replaceAll"} {
		if strings.Contains(string(edit.Detail), bulky) {
			t.Errorf("Edit detail keeps %s: %s", bulky, edit.Detail)
		}
	}
	if !strings.Contains(string(edit.Detail), `"filePath"`) {
		t.Errorf("Edit detail lost filePath: %s", edit.Detail)
	}
	read := toolByID(t, r, "toolu_read")
	if strings.Contains(string(read.Detail), "package a") {
		t.Errorf("Read detail keeps the file content: %s", read.Detail)
	}
	bash2 := toolByID(t, r, "toolu_bash2")
	if string(bash2.Detail) != `{"stdout":"ok  \tpkg/a\t0.01s","stderr":"","interrupted":false,"isImage":false}` {
		t.Errorf("Bash detail = %s", bash2.Detail)
	}
	img := toolByID(t, r, "toolu_img")
	if img.Output != "" || !strings.Contains(string(img.OutputRaw), `"image"`) {
		t.Errorf("image result: output %q raw %s, want the image block in OutputRaw", img.Output, img.OutputRaw)
	}
	if never := toolByID(t, r, "toolu_never"); never.Status != trace.ToolMissing {
		t.Errorf("unanswered call: status %s, want missing", never.Status)
	}
	if got := string(toolByID(t, r, "toolu_read").Arguments); got != `{"file_path":"/work/demo/pkg/a/a_test.go"}` {
		t.Errorf("arguments = %s, want the tool_use input verbatim", got)
	}
}

func TestMeta(t *testing.T) {
	r := importRun(t, "testdata/features.jsonl", false, RunAs{})
	m := r.Meta
	want := trace.RunMeta{
		Key:       "",
		Format:    TranscriptName,
		Source:    "testdata/features.jsonl",
		Session:   "11111111-1111-4111-8111-111111111111",
		Sessions:  []string{"22222222-2222-4222-8222-222222222222"},
		Generator: "claude-code 1.0.98",
		Refs: trace.Refs{
			Repo:   &trace.Ref{Value: "acme/widgets", Provenance: trace.Recorded, From: "pr-link.prRepository"},
			Branch: &trace.Ref{Value: "feature/x", Provenance: trace.Recorded, From: "gitBranch"},
			PR:     &trace.Ref{Value: "42", Provenance: trace.Recorded, From: "pr-link.prNumber"},
			Cwd:    &trace.Ref{Value: "/work/demo", Provenance: trace.Recorded, From: "cwd"}, // the first cwd
		},
		Defaults:  trace.Params{Model: "claude-sonnet-4-20250514"},
		StartedAt: m.StartedAt,
		EndedAt:   m.EndedAt,
	}
	if !cmp.Equal(m, want) {
		t.Errorf("meta:\n%s", cmp.Diff(want, m))
	}
	if m.StartedAt.Format("15:04:05.000") != "10:00:00.000" || m.EndedAt.Format("15:04:05.000") != "10:00:10.000" {
		t.Errorf("times %v .. %v", m.StartedAt, m.EndedAt)
	}
	msgs := steps(r, trace.KindMessage)
	if len(msgs) != 5 {
		t.Fatalf("%d message steps, want 5 (summary, prompt, meta prompt, system note, user)", len(msgs))
	}
	if !msgs[0].Message.Meta || msgs[0].Message.Parts[0].Text != "Fix the flaky test" {
		t.Errorf("summary message = %+v", msgs[0].Message)
	}
	if msgs[1].Message.Meta || !msgs[2].Message.Meta {
		t.Errorf("isMeta not kept: %+v %+v", msgs[1].Message, msgs[2].Message)
	}
	if o := r.Outcome; o.Status != trace.StatusError || !strings.Contains(o.Error, "429") || o.Final != "The test passes now." {
		t.Errorf("outcome = %+v, want error (429) with the last real assistant text", o)
	}
	syn := steps(r, trace.KindLLM)[5].LLM
	if !syn.Synthetic || syn.Usage != nil || syn.Error == "" {
		t.Errorf("synthetic line = %+v, want Synthetic, no usage, Error set", syn)
	}
	var warnings []string
	for _, w := range r.Warnings {
		warnings = append(warnings, w.Message)
	}
	wantW := []string{
		`2 records of unknown type "mystery-record" (first at line 12)`,
		`1 records of unknown type "other-mystery" (first at line 19)`,
		`a tool call without a recorded result (kept, marked missing)`,
	}
	if !cmp.Equal(warnings, wantW) {
		t.Errorf("warnings = %q, want %q", warnings, wantW)
	}
}

// TestSubagents: sidechains in the same file, sub-agent files and stream-json
// sub-agents become child runs linked to the call that started them.
func TestSubagents(t *testing.T) {
	type link struct{ Key, Parent, Call, Agent, Child string }
	for _, tc := range []struct {
		name   string
		path   string
		stream bool
		as     RunAs
		want   []link
	}{
		{"sidechains matched by prompt", "testdata/sidechains.jsonl", false, RunAs{}, []link{
			{"sidechain-1", "", "toolu_T2", "general-purpose", "sidechain-1"},
			{"sidechain-2", "", "toolu_T1", "Explore", "sidechain-2"},
		}},
		{"sub-agent files: by agentId, by prompt, by meta file; compaction unlinked", session2x, false, RunAs{}, []link{
			{"agent-a111", "", "toolu_A", "correctness", "agent-a111"},
			{"agent-acompact-9f", "", "", "compact", ""},
			{"agent-b222", "", "toolu_B", "security", "agent-b222"},
			{"agent-c333", "", "toolu_C", "docs-currency", "agent-c333"},
		}},
		{"run key prefixes the children", "testdata/sidechains.jsonl", false, RunAs{Key: "it1", Agent: "review"}, []link{
			{"it1/sidechain-1", "it1", "toolu_T2", "general-purpose", "it1/sidechain-1"},
			{"it1/sidechain-2", "it1", "toolu_T1", "Explore", "it1/sidechain-2"},
		}},
		{"stream-json parent_tool_use_id", "testdata/stream.jsonl", true, RunAs{}, []link{
			{"task-toolu_task", "", "toolu_task", "security", "task-toolu_task"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := importRun(t, tc.path, tc.stream, tc.as)
			if tc.as.Key != "" {
				r = r.Children[0] // the collector's main run "" holds ours
			}
			var got []link
			for _, c := range r.Children {
				l := link{Key: c.Meta.Key, Parent: c.Meta.Parent, Call: c.Meta.ParentCall, Agent: c.Meta.Agent}
				if l.Call != "" {
					l.Child = toolByID(t, r, l.Call).Child
				}
				got = append(got, l)
			}
			if !cmp.Equal(got, tc.want) {
				t.Errorf("children:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestFlattenedSubagents: the factory's flattened <agent>-agent-<id>.jsonl
// files, given explicitly, are linked like the files beside a session.
func TestFlattenedSubagents(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Dir(session2x)
	sub := filepath.Join(src, "33333333-3333-4333-8333-333333333333", "subagents")
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "review-33333333-3333-4333-8333-333333333333.jsonl")
	copyFile(session2x, main)
	var agents []string
	for _, id := range []string{"a111", "b222"} {
		p := filepath.Join(dir, "review-agent-"+id+".jsonl")
		copyFile(filepath.Join(sub, "agent-"+id+".jsonl"), p)
		agents = append(agents, p)
	}
	r := importRun(t, main, false, RunAs{Key: "review", Agent: "review", Subagents: agents})
	if r.Meta.Key != "" {
		// The collector's main run is "": ours is a child of it.
		t.Fatalf("unexpected main key %q", r.Meta.Key)
	}
	var review *trace.Run
	for _, c := range r.Children {
		if c.Meta.Key == "review" {
			review = c
		}
	}
	if review == nil {
		t.Fatalf("no run %q in %v", "review", r.Children)
	}
	var keys []string
	for _, c := range review.Children {
		keys = append(keys, c.Meta.Key+"<-"+c.Meta.ParentCall)
	}
	if want := []string{"review/agent-a111<-toolu_A", "review/agent-b222<-toolu_B"}; !cmp.Equal(keys, want) {
		t.Errorf("children of review = %v, want %v", keys, want)
	}
	if c := toolByID(t, review, "toolu_C").Child; c != "" {
		t.Errorf("toolu_C child = %q, want none (its file was not given)", c)
	}
}

func TestStream(t *testing.T) {
	r := importRun(t, "testdata/stream.jsonl", true, RunAs{})
	m := r.Meta
	if m.Format != StreamName || m.Session != "44444444-4444-4444-8444-444444444444" || m.Defaults.Model != "claude-sonnet-4-5-20250929" ||
		m.Refs.Cwd == nil || m.Refs.Cwd.Value != "/github/workspace" || len(m.Instr.Tools) != 5 || m.Generator != "claude-code 2.0.52" {
		t.Errorf("meta = %+v", m)
	}
	if !strings.Contains(m.Attributes["claude.model_usage"], "claude-haiku-4-5-20251001") {
		t.Errorf("modelUsage not kept: %v", m.Attributes)
	}
	o := r.Outcome
	if o.Status != trace.StatusOK || o.Final != "Requesting changes: SQL injection in db.go." || o.Recorded == nil ||
		o.Recorded.CostUSD == nil || *o.Recorded.CostUSD != 0.1234 || o.Recorded.Turns != 4 || o.Recorded.DurationMS != 30100 ||
		o.Recorded.Usage == nil || o.Recorded.Usage.Output != 104 {
		t.Errorf("outcome = %+v recorded %+v", o, o.Recorded)
	}
	z := summarize(t, "testdata/stream.jsonl", true)
	if z.LLMCalls != 5 || z.ToolCalls != 3 || z.Tokens.Output != 60+25+15+22+30 || z.Cost.Recorded == nil || *z.Cost.Recorded != 0.1234 {
		t.Errorf("summary: llm %d tools %d output %d cost %v", z.LLMCalls, z.ToolCalls, z.Tokens.Output, z.Cost.Recorded)
	}
	if len(z.Warnings) != 1 || !strings.Contains(z.Warnings[0], "API retry") {
		t.Errorf("warnings = %q, want one about the API retry", z.Warnings)
	}
	for _, tc := range []struct{ path, status, err string }{
		{"testdata/stream_maxturns.jsonl", trace.StatusError, "error_max_turns"},
		{"testdata/stream_iserror.jsonl", trace.StatusError, "Claude AI usage limit reached|1790000000"},
	} {
		o := importRun(t, tc.path, true, RunAs{}).Outcome
		if o.Status != tc.status || o.Error != tc.err {
			t.Errorf("%s: outcome %s %q, want %s %q", tc.path, o.Status, o.Error, tc.status, tc.err)
		}
	}
}

func TestReadResult(t *testing.T) {
	res, err := ReadResult(context.Background(), "testdata/stream.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := &Result{
		Status: trace.StatusOK, Subtype: "success", Final: "Requesting changes: SQL injection in db.go.",
		Session: "44444444-4444-4444-8444-444444444444",
		Totals: trace.Totals{CostUSD: trace.Float(0.1234), Turns: 4, DurationMS: 30100,
			Usage: &trace.Usage{Input: 9, Output: 104, CacheRead: 36000, CacheWrite: 1500}},
	}
	if !cmp.Equal(res, want) {
		t.Errorf("result:\n%s", cmp.Diff(want, res))
	}
	res, err = ReadResult(context.Background(), "testdata/features.jsonl")
	if err != nil || res != nil {
		t.Errorf("a transcript has no result: got %+v, %v", res, err)
	}
}

func TestDetect(t *testing.T) {
	head := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b[:min(len(b), trace.HeadSize)]
	}
	long := `{"parentUuid":null,"isSidechain":false,"sessionId":"s","type":"user","message":{"role":"user","content":"` + strings.Repeat("x", trace.HeadSize) + `"}}`
	for _, tc := range []struct {
		name string
		head []byte
		want kind
	}{
		{"transcript", head("testdata/features.jsonl"), kindTranscript},
		{"transcript 2.x starting with bookkeeping", head(session2x), kindTranscript},
		{"stream-json", head("testdata/stream.jsonl"), kindStream},
		{"stream-json without init", []byte(`{"type":"assistant","message":{"id":"m"},"parent_tool_use_id":null,"session_id":"s"}` + "\n"), kindStream},
		{"snapshot first", []byte(`{"type":"file-history-snapshot","messageId":"m","snapshot":{"messageId":"m"},"isSnapshotUpdate":false}` + "\n"), kindTranscript},
		{"a first line longer than the head", []byte(long[:trace.HeadSize]), kindTranscript},
		{"native", []byte(`{"type":"header","header":{"format":"replay-run","version":1}}` + "\n"), kindNone},
		{"codex rollout", []byte(`{"timestamp":"2025-01-01T00:00:00Z","type":"session_meta","payload":{"id":"x"}}` + "\n"), kindNone},
		{"otlp", []byte(`{"resourceSpans":[]}` + "\n"), kindNone},
		{"not json", []byte("hello\n"), kindNone},
		{"empty", nil, kindNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &trace.Source{Path: "x.jsonl", Head: tc.head}
			if got := sniff(tc.head); got != tc.want {
				t.Errorf("sniff = %d, want %d", got, tc.want)
			}
			if (Transcript{}).Detect(src) != (tc.want == kindTranscript) || (Stream{}).Detect(src) != (tc.want == kindStream) {
				t.Errorf("Detect disagrees with sniff")
			}
		})
	}
	if (Transcript{}).Detect(&trace.Source{Path: "d", IsDir: true, Head: head("testdata/features.jsonl")}) {
		t.Error("a directory detected as a transcript")
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"type":"user","sessionId":"s","uuid":"u","message":{"role":"user","content":"hi"}}` + "\n"
	asst := `{"type":"assistant","sessionId":"s","uuid":"a","message":{"id":"m","model":"x","content":[{"type":"text","text":"yo"}],"usage":{"output_tokens":3}}}` + "\n"
	for _, tc := range []struct {
		name    string
		content string
		opts    trace.Options
		wantErr string // substring; "" means success
		notRun  bool   // errors.Is(err, trace.ErrNotTrace)
		warn    string // substring of a warning
	}{
		{name: "empty", content: "", wantErr: "no Claude Code transcript records", notRun: true},
		{name: "blank lines", content: "\n\n  \n", wantErr: "no Claude Code", notRun: true},
		{name: "bookkeeping only", content: `{"type":"file-history-snapshot","snapshot":{}}` + "\n", wantErr: "no Claude Code", notRun: true},
		{name: "bad line", content: good + "{not json\n" + asst, wantErr: "bad line.jsonl:2: invalid JSON"},
		{name: "bad line lenient", content: good + "{not json\n" + asst, opts: trace.Options{Lenient: true}, warn: "skipped 1 line(s)"},
		{name: "truncated last line", content: good + asst + `{"type":"assistant","message":{"id":"m2","content":[{"type":"te`, warn: "last line is truncated"},
		{name: "unknown types only warn", content: good + `{"type":"brand-new"}` + "\n" + asst, warn: `1 records of unknown type "brand-new"`},
		{name: "wrong field types are ignored", content: good + `{"type":"assistant","sessionId":1,"message":{"id":"m","usage":"lots","content":"text?"}}` + "\n"},
		{name: "result for no call", content: good + `{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"nope","content":"x"}]}}` + "\n", warn: "answer no recorded tool call"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.name+".jsonl", tc.content)
			var c trace.Collector
			err := ImportTranscript(context.Background(), p, tc.opts, &c, RunAs{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			case tc.notRun && !errors.Is(err, trace.ErrNotTrace):
				t.Fatalf("error %v does not wrap ErrNotTrace", err)
			}
			if tc.warn != "" {
				var all []string
				for _, w := range c.Run().Warnings {
					all = append(all, w.String())
				}
				if !strings.Contains(strings.Join(all, "\n"), tc.warn) {
					t.Errorf("warnings %q lack %q", all, tc.warn)
				}
			}
		})
	}
	var le *trace.LineError
	err := ImportTranscript(context.Background(), write("bad2.jsonl", good+"[1,2\n"+asst), trace.Options{}, &trace.Collector{}, RunAs{})
	if !errors.As(err, &le) || le.Line != 2 || !strings.HasSuffix(le.File, "bad2.jsonl") {
		t.Errorf("error %v is not a LineError at bad2.jsonl:2", err)
	}
	if err := ImportTranscript(context.Background(), filepath.Join(dir, "missing.jsonl"), trace.Options{}, &trace.Collector{}, RunAs{}); err == nil {
		t.Error("a missing file imported")
	}
}

// TestEmitterError: an error of the emitter stops the import and is returned.
func TestEmitterError(t *testing.T) {
	boom := errors.New("disk full")
	n := 0
	err := ImportTranscript(context.Background(), "testdata/features.jsonl", trace.Options{}, trace.EmitterFunc(func(ev *trace.Event) error {
		n++
		if n == 5 {
			return boom
		}
		return nil
	}), RunAs{})
	if !errors.Is(err, boom) {
		t.Errorf("error = %v, want the emitter's", err)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := filepath.Join(t.TempDir(), "big.jsonl")
	writeBenchInput(t, path, 4<<20)
	err := ImportTranscript(ctx, path, trace.Options{}, &trace.Summarizer{}, RunAs{NoDiscovery: true})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

// TestBoundedHoldBack: a response whose lines are separated by more lines
// than a run holds back is emitted early; its later lines make a second
// response that counts only the tokens not counted yet.
func TestBoundedHoldBack(t *testing.T) {
	var sb strings.Builder
	line := func(s string) { sb.WriteString(s + "\n") }
	line(`{"type":"assistant","sessionId":"s","message":{"id":"m1","model":"x","content":[{"type":"text","text":"a"}],"usage":{"input_tokens":5,"cache_read_input_tokens":7,"output_tokens":3}}}`)
	for range maxQueue + 10 {
		line(`{"type":"user","sessionId":"s","isMeta":true,"message":{"role":"user","content":"note"}}`)
	}
	line(`{"type":"assistant","sessionId":"s","message":{"id":"m1","model":"x","content":[{"type":"text","text":"b"}],"usage":{"input_tokens":5,"cache_read_input_tokens":7,"output_tokens":10}}}`)
	p := filepath.Join(t.TempDir(), "long.jsonl")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var z trace.Summarizer
	if err := ImportTranscript(context.Background(), p, trace.Options{}, &z, RunAs{}); err != nil {
		t.Fatal(err)
	}
	s := z.Summary()
	if want := (trace.Usage{Input: 5, CacheRead: 7, Output: 10}); s.Tokens != want {
		t.Errorf("tokens %+v, want %+v (counted once)", s.Tokens, want)
	}
	if s.LLMCalls != 2 || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "continued after too many interleaved lines") {
		t.Errorf("llm calls %d, warnings %q: want 2 and a warning", s.LLMCalls, s.Warnings)
	}
}

// TestInlineAgentID: sidechain lines that carry an agentId form the run
// agent-<id>, linked by the agentId of the Task result; lines of an agent
// whose own file is imported are not counted twice.
func TestInlineAgentID(t *testing.T) {
	dir := t.TempDir()
	main := `{"type":"user","sessionId":"s","message":{"role":"user","content":"go"}}
{"type":"assistant","sessionId":"s","message":{"id":"m1","model":"opus","content":[{"type":"tool_use","id":"t1","name":"Task","input":{"prompt":"look","subagent_type":"Explore"}}],"usage":{"output_tokens":5}}}
{"type":"user","sessionId":"s","isSidechain":true,"agentId":"ab12","parentUuid":null,"message":{"role":"user","content":"a different prompt"}}
{"type":"assistant","sessionId":"s","isSidechain":true,"agentId":"ab12","message":{"id":"m2","model":"haiku","content":[{"type":"text","text":"found"}],"usage":{"output_tokens":7}}}
{"type":"assistant","sessionId":"s","isSidechain":true,"agentId":"cd34","message":{"id":"m3","model":"haiku","content":[{"type":"text","text":"dup"}],"usage":{"output_tokens":100}}}
{"type":"user","sessionId":"s","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"found"}]},"toolUseResult":{"agentId":"ab12","status":"completed"}}
`
	p := filepath.Join(dir, "s.jsonl")
	if err := os.WriteFile(p, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "s", "subagents"), 0o755); err != nil {
		t.Fatal(err)
	}
	agent := `{"type":"user","sessionId":"s","isSidechain":true,"agentId":"cd34","parentUuid":null,"message":{"role":"user","content":"other"}}
{"type":"assistant","sessionId":"s","isSidechain":true,"agentId":"cd34","message":{"id":"m3","model":"haiku","content":[{"type":"text","text":"dup"}],"usage":{"output_tokens":100}}}
`
	if err := os.WriteFile(filepath.Join(dir, "s", "subagents", "agent-cd34.jsonl"), []byte(agent), 0o644); err != nil {
		t.Fatal(err)
	}
	r := importRun(t, p, false, RunAs{})
	var got []string
	for _, c := range r.Children {
		got = append(got, c.Meta.Key+"<-"+c.Meta.ParentCall+":"+c.Meta.Agent)
	}
	if want := []string{"agent-ab12<-t1:Explore", "agent-cd34<-:"}; !cmp.Equal(got, want) {
		t.Errorf("children %v, want %v", got, want)
	}
	var out int64
	r.Walk(func(r *trace.Run) {
		for _, s := range r.Steps {
			if s.LLM != nil {
				out += s.LLM.Usage.Output
			}
		}
	})
	if out != 5+7+100 {
		t.Errorf("output tokens %d, want 112 (the inline copy of agent cd34 left out)", out)
	}
	if c := toolByID(t, r, "t1").Child; c != "agent-ab12" {
		t.Errorf("Task child = %q", c)
	}
}

// TestWrongTypesAreWarned: a value of the wrong type never vanishes in
// silence. Each is named in a warning with its file, line and field; the
// rest of its record is still imported; a record whose message is not an
// object is no model call.
func TestWrongTypesAreWarned(t *testing.T) {
	const sess = `"sessionId":"s","timestamp":"2025-01-01T10:00:00Z"`
	lines := []string{
		`{"type":"user",` + sess + `,"uuid":"u1","message":{"role":"user","content":"go"}}`,
		// usage a string: the tool call on the same line is still imported.
		`{"type":"assistant",` + sess + `,"uuid":"a1","message":{"id":"m1","model":"claude-x","usage":"lots","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]}}`,
		`{"type":"user",` + sess + `,"uuid":"u2","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"a\nb"}]}}`,
		// content an object: the usage is still counted.
		`{"type":"assistant",` + sess + `,"uuid":"a2","message":{"id":"m2","model":"claude-x","usage":{"input_tokens":5,"output_tokens":7},"content":{"type":"text","text":"hi"}}}`,
		`{"type":"assistant","message":5}`,
		`{"type":"assistant",` + sess + `,"uuid":"a3","message":{"id":"m3","model":"claude-x","usage":{"input_tokens":"9","output_tokens":1},"content":[{"type":"text","text":"done"}]}}`,
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "s.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var c trace.Collector
	var z trace.Summarizer
	if err := ImportTranscript(context.Background(), p, trace.Options{}, trace.Tee(&c, &z), RunAs{}); err != nil {
		t.Fatal(err)
	}
	s := z.Summary()
	if s.LLMCalls != 3 || s.ToolCalls != 1 || s.Tokens.Output != 8 || s.Tokens.Input != 5 {
		t.Errorf("llm calls %d, tool calls %d, tokens %+v; want 3 calls (not the message:5 line), 1 tool call, 8 output and 5 input tokens",
			s.LLMCalls, s.ToolCalls, s.Tokens)
	}
	var got []string
	for _, w := range c.Run().Warnings {
		got = append(got, fmt.Sprintf("%d %s: %s", w.Line, w.Field, w.Message))
	}
	want := []string{
		"2 message.usage: expected an object, found a string; ignored",
		"4 message.content: expected an array, found an object; ignored",
		"5 message: expected an object, found a number; the record is skipped",
		"6 message.usage.input_tokens: expected an integer, found a string; ignored",
	}
	if !cmp.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHarnessOutcome: the result texts Claude Code's harness writes in
// place of a tool's are told from the tool's own errors.
func TestHarnessOutcome(t *testing.T) {
	for _, tt := range []struct {
		out         string
		interrupted bool
		isErr       bool
		want        string
	}{
		{"Permission prompt was aborted.", false, true, trace.HarnessAborted},
		{"Claude requested permissions to write to /p/CLAUDE.md, but you haven't granted it yet.", false, true, trace.HarnessNoPermission},
		{"The user doesn't want to proceed with this tool use. The tool use was rejected.", false, true, trace.HarnessRejected},
		{"[Request interrupted by user for tool use]", true, true, trace.HarnessInterrupted},
		{"PreToolUse:Bash hook blocked this command", false, true, trace.HarnessHook},
		{"Exit code 1\nls: cannot access 'x'", false, true, ""},
		{"Permission prompt was aborted.", false, false, ""}, // a tool's own output that happens to say so
	} {
		if got := harnessOutcome(tt.out, tt.interrupted, tt.isErr); got != tt.want {
			t.Errorf("harnessOutcome(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}
