package scenarios

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

func planOf(cases ...*Case) *Plan {
	s := &Suite{Name: "s", Cases: cases}
	p, err := NewPlan(s, PlanOptions{})
	if err != nil {
		panic(err)
	}
	return p
}

func recsOf(p *Plan, statuses ...string) []Record {
	var out []Record
	for i, c := range p.Cells {
		if i < len(statuses) && statuses[i] != "" {
			out = append(out, Record{Key: c.Key(), VariantName: c.Variant.Name, Status: statuses[i], Error: map[bool]string{true: "boom"}[statuses[i] == Error]})
		}
	}
	return out
}

func TestVerdictsOverRepeats(t *testing.T) {
	tests := []struct {
		name     string
		c        Case
		statuses []string
		want     string
		exit     int
	}{
		{"all pass", Case{Repeat: 3}, []string{Pass, Pass, Pass}, Pass, 0},
		{"some pass below the gate", Case{Repeat: 3}, []string{Pass, Fail, Pass}, Flaky, 1},
		{"gate reached", Case{Repeat: 4, Gate: 0.75}, []string{Pass, Fail, Pass, Pass}, Pass, 0},
		{"critical ignores the gate", Case{Repeat: 4, Gate: 0.5, Critical: true}, []string{Pass, Fail, Pass, Pass}, Flaky, 1},
		{"none pass", Case{Repeat: 2}, []string{Fail, Fail}, Fail, 1},
		{"an error is never a pass", Case{Repeat: 2}, []string{Pass, Error}, Error, 3},
		{"not run", Case{Repeat: 2}, []string{Pass, ""}, Skipped, 3},
		{"quarantined does not gate", Case{Repeat: 1, Quarantine: "known bug #12"}, []string{Fail}, Quarantined, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.ID = "c"
			p := planOf(&c)
			rep := NewReport("s", Shard{}, p, recsOf(p, tt.statuses...), nil)
			if len(rep.Cases) != 1 || rep.Cases[0].Status != tt.want || rep.ExitCode != tt.exit {
				t.Errorf("verdict %+v exit %d, want %s exit %d", rep.Cases, rep.ExitCode, tt.want, tt.exit)
			}
		})
	}
	// A quarantined failure beside a passing case: the suite passes.
	a, b := &Case{ID: "a"}, &Case{ID: "b", Quarantine: "flaky upstream"}
	p := planOf(a, b)
	if rep := NewReport("s", Shard{}, p, recsOf(p, Pass, Fail), nil); rep.ExitCode != 0 || rep.Totals.Quarantined != 1 || rep.Cases[1].Outcome != Fail {
		t.Errorf("quarantined beside a pass: %+v", rep)
	}
}

func TestShardsAreStableAndCoverEveryCase(t *testing.T) {
	var cases []*Case
	for i := 0; i < 200; i++ {
		cases = append(cases, &Case{ID: fmt.Sprintf("case-%d", i)})
	}
	owner := map[string]int{}
	for i := 1; i <= 4; i++ {
		sh := Shard{I: i, N: 4}
		n := 0
		for _, c := range cases {
			if sh.Holds(c.ID) {
				if o, ok := owner[c.ID]; ok {
					t.Fatalf("%s in shards %d and %d", c.ID, o, i)
				}
				owner[c.ID] = i
				n++
			}
		}
		if n < 30 || n > 70 {
			t.Errorf("shard %d holds %d of 200 cases: not spread", i, n)
		}
	}
	if len(owner) != 200 {
		t.Errorf("%d of 200 cases in some shard", len(owner))
	}
	// Adding cases moves none of the old ones.
	for _, c := range cases[:50] {
		if !(Shard{I: owner[c.ID], N: 4}).Holds(c.ID) {
			t.Errorf("%s changed shard", c.ID)
		}
	}
	for _, bad := range []string{"0/4", "5/4", "a/b", "1", "2/0"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

func TestVariantHashFollowsThePromptsContent(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.md"), []byte("v1"), 0o644)
	v := Variant{Name: "a", SystemFile: "p.md"}.WithDir(dir)
	h1 := v.Hash()
	renamed := v
	renamed.Name = "b"
	if renamed.Hash() != h1 {
		t.Error("the name changed the hash: results would not be found under another name")
	}
	os.WriteFile(filepath.Join(dir, "p.md"), []byte("v2"), 0o644)
	if v.Hash() == h1 {
		t.Error("an edited prompt kept the hash: --resume would reuse the old prompt's results")
	}
	m := v
	m.Model = "gpt-4o-mini"
	if m.Hash() == v.Hash() {
		t.Error("another model, the same hash")
	}
}

func TestResultsFileSurvivesATornLineAndResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	rf, kept, err := CreateResults(path, Header{Suite: "s", Shard: "1/2"})
	if err != nil || kept != "" {
		t.Fatal(err, kept)
	}
	k := func(i int) Key { return Key{Case: "c", Variant: "v", Repeat: i} }
	rf.Append(Record{Key: k(0), Status: Pass})
	rf.Append(Record{Key: k(1), Status: Error, Error: "docker"})
	rf.Close()
	// A kill in the middle of a write.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"case":"c","variant_hash":"v","repe`)
	f.Close()
	h, recs, err := ReadResults(path)
	if err != nil || h.Suite != "s" || len(recs) != 2 {
		t.Fatalf("read: %v %+v %+v", err, h, recs)
	}
	rf, recs, err = OpenResults(path, Header{Suite: "s", Shard: "1/2"})
	if err != nil {
		t.Fatal(err)
	}
	rf.Append(Record{Key: k(1), Status: Pass}) // the errored cell, run again
	rf.Close()
	_, recs, err = ReadResults(path)
	if err != nil || len(recs) != 2 || recs[1].Status != Pass {
		t.Fatalf("after resume: %v %+v (the torn line must be gone, the rerun must replace the error)", err, recs)
	}
	if _, _, err := OpenResults(path, Header{Suite: "other", Shard: "1/2"}); err == nil {
		t.Error("resumed another suite's results")
	}
	// Starting afresh keeps the old file.
	rf, kept, err = CreateResults(path, Header{Suite: "s"})
	if err != nil || kept == "" {
		t.Fatalf("create over an existing file: %v %q", err, kept)
	}
	rf.Close()
	if _, old, err := ReadResults(kept); err != nil || len(old) != 2 {
		t.Errorf("the kept file: %v %d records", err, len(old))
	}
}

func TestMergeRefusesMissingAndDuplicateShards(t *testing.T) {
	dir := t.TempDir()
	write := func(name, suite, shard string, repeat int) string {
		p := filepath.Join(dir, name)
		rf, _, err := CreateResults(p, Header{Suite: suite, Shard: shard, Cells: 1})
		if err != nil {
			t.Fatal(err)
		}
		rf.Append(Record{Key: Key{Case: "c" + shard, Variant: "v", Repeat: repeat}, Status: Pass})
		rf.Close()
		return p
	}
	a, b, c := write("a", "s", "1/3", 0), write("b", "s", "2/3", 0), write("c", "s", "3/3", 0)
	h, recs, err := Merge([]string{a, b, c})
	if err != nil || len(recs) != 3 || h.Cells != 3 {
		t.Fatalf("merge: %v %d %+v", err, len(recs), h)
	}
	_, _, err = Merge([]string{a, c})
	var m *MissingShardsError
	if !errors.As(err, &m) || len(m.Missing) != 1 || m.Missing[0] != "2/3" {
		t.Errorf("a missing shard: %v", err)
	}
	if _, _, err := Merge([]string{a, a, b, c}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("a shard twice: %v", err)
	}
	other := write("d", "t", "2/3", 0)
	if _, _, err := Merge([]string{a, other, c}); err == nil || !strings.Contains(err.Error(), `suite "t"`) {
		t.Errorf("another suite: %v", err)
	}
}

func run(decision string, tools ...string) *trace.Run {
	r := &trace.Run{Outcome: &trace.Outcome{Status: "ok"}}
	if decision != "" {
		r.Outcome.Decision = &trace.Decision{Kind: "review", Value: json.RawMessage(decision)}
	}
	for _, t := range tools {
		name, cmd, _ := strings.Cut(t, ":")
		args, _ := json.Marshal(map[string]string{"command": cmd})
		r.Steps = append(r.Steps, trace.Step{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m", Cost: trace.Cost{Priced: trace.Float(0.01)}}},
			trace.Step{Kind: trace.KindTool, Tool: &trace.ToolCall{Name: name, Arguments: args, Status: "ok"}})
	}
	return r
}

func TestExpectations(t *testing.T) {
	orig := run(`{"action":"approve"}`)
	human := &Feedback{Human: "override", Decision: map[string]any{"action": "request-changes"}}
	tests := []struct {
		name   string
		expect Expect
		got    *trace.Run
		fails  []string
	}{
		{"human met, extra fields fine", Expect{Decision: ExpectHuman}, run(`{"action":"request-changes","findings":[{"file":"a.py"}]}`), nil},
		{"human missed", Expect{Decision: ExpectHuman}, run(`{"action":"approve"}`), []string{"decided approve; the human decided request-changes"}},
		{"no decision", Expect{Decision: ExpectHuman}, run(""), []string{"the run made no decision"}},
		{"original kept", Expect{Decision: ExpectOriginal}, run(`{"action":"approve"}`), nil},
		{"original lost", Expect{Decision: ExpectOriginal}, run(`{"action":"comment"}`), []string{"decided comment; the original decided approve"}},
		{"not original", Expect{Decision: ExpectNotOriginal}, run(`{"action":"approve"}`), []string{"decided approve again"}},
		{"predicate over findings", Expect{Predicates: []string{`findings.exists(f, f.category == "security" && f.file == "src/auth.py")`}},
			run(`{"action":"request-changes","findings":[{"category":"security","file":"src/auth.py"}]}`), nil},
		{"predicate false", Expect{Predicates: []string{`decision.action in ["request-changes", "reject"]`}}, run(`{"action":"approve"}`),
			[]string{`decision.action in ["request-changes", "reject"] is false`}},
		{"predicate on a missing field", Expect{Predicates: []string{`decision.labels.size() > 0`}}, run(`{"action":"approve"}`), []string{"no such key"}},
		{"tool never used", Expect{ToolsNeverUsed: []string{"Bash:git push --force"}}, run(`{}`, "Bash:git status", "Bash:git push --force origin main"),
			[]string{"Bash:git push --force was called 1 time(s)"}},
		{"tool used", Expect{ToolsUsed: []string{"Read", "bash:git status"}}, run(`{}`, "Bash:git status"), []string{"Read was never called"}},
		{"steps and cost", Expect{MaxSteps: 1, MaxCostUSD: 0.015}, run(`{}`, "Bash:a", "Bash:b"), []string{"2 model calls, more than 1", "cost $0.0200, more than $0.0150"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Case{ID: "c", Feedback: human, Expect: tt.expect}
			for _, src := range tt.expect.Predicates {
				p, err := compilePredicate(src)
				if err != nil {
					t.Fatal(err)
				}
				c.preds = append(c.preds, p)
			}
			fails := c.Check(tt.got, orig, nil)
			if len(fails) != len(tt.fails) {
				t.Fatalf("failures %+v, want %d: %v", fails, len(tt.fails), tt.fails)
			}
			for i, w := range tt.fails {
				if !strings.Contains(fails[i].Msg, w) {
					t.Errorf("failure %q lacks %q", fails[i].Msg, w)
				}
			}
		})
	}
}

func TestReportsJUnitAndMarkdown(t *testing.T) {
	a := &Case{ID: "a", Repeat: 2, Critical: true}
	b := &Case{ID: "b<script>", Repeat: 1}
	p := planOf(a, b)
	recs := recsOf(p, Pass, Fail, Error)
	recs[1].Failures = []Failure{{Expect: "decision", Msg: "decided approve; the human decided request-changes"}}
	recs[1].Divergence = "step 7: Grep → Read"
	rep := NewReport("s", Shard{}, p, recs, nil)
	var x bytes.Buffer
	if err := rep.WriteJUnit(&x); err != nil {
		t.Fatal(err)
	}
	var ju struct {
		Tests, Failures, Errors int `xml:",attr"`
	}
	var parsed struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
	}
	_ = ju
	if err := xml.Unmarshal(x.Bytes(), &parsed); err != nil || parsed.Tests != 2 || parsed.Failures != 1 || parsed.Errors != 1 {
		t.Fatalf("junit %v %+v:\n%s", err, parsed, x.String())
	}
	for _, w := range []string{`message="1/2 repeats passed: decided approve; the human decided request-changes"`, `type="flaky"`, "first divergence: step 7: Grep → Read", `<property name="critical" value="true">`} {
		if !strings.Contains(x.String(), w) {
			t.Errorf("junit lacks %s:\n%s", w, x.String())
		}
	}
	var m bytes.Buffer
	rep.WriteMarkdown(&m)
	if strings.Contains(m.String(), "<script>") || !strings.Contains(m.String(), "first divergence: step 7") {
		t.Errorf("markdown:\n%s", m.String())
	}
	// Under GitHub's step summary limit whatever the suite's size.
	var many []*Case
	for i := 0; i < 20000; i++ {
		many = append(many, &Case{ID: fmt.Sprintf("case-with-a-rather-long-name-%05d", i)})
	}
	big := planOf(many...)
	var bm bytes.Buffer
	NewReport("big", Shard{}, big, recsOf(big), nil).WriteMarkdown(&bm)
	if bm.Len() > MarkdownLimit || !strings.Contains(bm.String(), "more case(s) left out") {
		t.Errorf("markdown of 20000 cases: %d bytes", bm.Len())
	}
}

func TestPlanOfRecords(t *testing.T) {
	s := &Suite{Name: "s", Cases: []*Case{{ID: "a", Repeat: 3}, {ID: "b"}}}
	recs := []Record{
		{Key: Key{Case: "a", Variant: "h1", Repeat: 0}, VariantName: "v", Status: Pass},
		{Key: Key{Case: "a", Variant: "h1", Repeat: 1}, VariantName: "v", Status: Pass},
		{Key: Key{Case: "b", Variant: "h1", Repeat: 0}, VariantName: "v", Status: Fail},
	}
	p, err := PlanOfRecords(s, recs)
	if err != nil {
		t.Fatal(err)
	}
	// a planned 3 repeats (its file says so) though 2 ran: the third is
	// skipped, not forgotten.
	if len(p.Cells) != 4 || len(p.Cases) != 2 {
		t.Fatalf("%d cells over %d cases, want 4 over 2", len(p.Cells), len(p.Cases))
	}
	rep := NewReport("s", Shard{}, p, recs, nil)
	if rep.Cases[0].Status != Skipped || rep.Cases[1].Status != Fail {
		t.Errorf("verdicts %+v", rep.Cases)
	}
	if _, err := PlanOfRecords(s, []Record{{Key: Key{Case: "zzz"}}}); err == nil {
		t.Error("a case the suite lacks")
	}
	if _, err := PlanOfRecords(s, nil); err == nil {
		t.Error("no records is never a pass")
	}
}
