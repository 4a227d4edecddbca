package harness_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/scenarios/harness"
)

func TestReadInput(t *testing.T) {
	in, err := harness.ReadInput("testdata/input.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if in.Fixture.Type != harness.Issue || in.Fixture.Number != 7 || in.Replay.Trace != "trace.jsonl" || in.Replay.FromStep != 1 || in.Fixture.Labels[0] != "triage" {
		t.Errorf("%+v", in)
	}
	// The factory's own cases read too (no replay section: the runner
	// says so, not the reader).
	in, err = harness.ReadInput("testdata/input-factory.yaml")
	if err != nil || in.Fixture.Type != harness.PullRequest || in.Replay.Trace != "" {
		t.Errorf("%v %+v", err, in)
	}
}

// Errors name file:line: field, every one of them.
func TestReadInputErrors(t *testing.T) {
	_, err := harness.ReadInput("testdata/bad-input.yaml")
	if err == nil {
		t.Fatal("a bad input.yaml must be refused")
	}
	msg := err.Error()
	for _, want := range []string{
		"testdata/bad-input.yaml:3: fixture.type:",
		"testdata/bad-input.yaml:4: fixture.title:",
		"testdata/bad-input.yaml:6: replay.trace:",
		"testdata/bad-input.yaml:7: replay.from_step:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if _, err := harness.ParseInput("x.yaml", []byte("fixture: [\n")); err == nil || !strings.HasPrefix(err.Error(), "x.yaml:") {
		t.Errorf("bad YAML: %v", err)
	}
	if _, err := harness.ParseInput("x.yaml", nil); err == nil {
		t.Error("an empty input.yaml must be refused")
	}
}

func TestReadAnnotations(t *testing.T) {
	a, err := harness.ReadAnnotations("testdata/annotations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a.State != "open" || a.Labels.Required[0] != "bug" || len(a.Labels.Forbidden) != 2 || a.MaxTurns != 12 || a.MaxCostUSD != 0.5 || a.Decision == nil {
		t.Errorf("%+v", a)
	}
	// What replay does not check is listed, never dropped.
	if strings.Join(a.Unchecked, ",") != "labels.preferred,triage_expectations" {
		t.Errorf("unchecked %v", a.Unchecked)
	}
	if _, err := harness.ParseAnnotations("a.yaml", []byte("max_turns: many\n")); err == nil || !strings.Contains(err.Error(), "a.yaml:1: max_turns:") {
		t.Errorf("a bad max_turns: %v", err)
	}
}

func TestReadEval(t *testing.T) {
	e, err := harness.ReadEval("testdata/eval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if e.Skill != "triage" || e.Runner.Type != "cli" || e.Runner.Command[0] != "replay" || e.Dataset.Path != "cases" || e.Judges[0].Name != "required_labels" {
		t.Errorf("%+v", e)
	}
	if _, err := harness.ParseEval("e.yaml", []byte("name: x\nrunner: {type: cli}\n")); err == nil || !strings.Contains(err.Error(), "skill") {
		t.Errorf("an eval without its skill: %v", err)
	}
}

func snapshot(t *testing.T, files map[string]string) harness.DirFiles {
	dir := t.TempDir()
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return harness.DirFiles(dir)
}

// The fixture state is the snapshot with the run's effects and decision
// applied, in the factory's shape, and valid against its schema.
func TestFixtureState(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	pr := snapshot(t, map[string]string{
		"pr.json":      `{"number": 42, "title": "Add page_count", "state": "open", "mergeable": false, "html_url": "https://github.com/acme/widgets/pull/42", "labels": [{"name": "enhancement"}]}`,
		"reviews.json": `[{"user": {"login": "bob"}, "state": "CHANGES_REQUESTED", "body": "no"}, {"user": {"login": "bob"}, "state": "APPROVED", "body": "ok now"}]`,
	})
	st := replay.NewGitHubState(pr, "", 0, now)
	if st.Target() != "acme/widgets#42" || !st.IsPR() {
		t.Fatalf("target %q", st.Target())
	}
	dec := &trace.Decision{Value: json.RawMessage(`{"action": "request-changes", "body": "needs a test"}`)}
	applied := harness.ApplyDecision(st, dec, nil)
	if len(applied) != 1 || applied[0].Review != "REQUEST_CHANGES" {
		t.Fatalf("applied %+v", applied)
	}
	fs := harness.FixtureStateOf(st)
	b, _ := json.Marshal(fs)
	if err := harness.Validate("fixture_state", b); err != nil {
		t.Errorf("%v\n%s", err, b)
	}
	if *fs.ReviewDecision != "CHANGES_REQUESTED" || *fs.Mergeable != "CONFLICTING" || len(*fs.Reviews) != 3 || (*fs.Reviews)[2].Author != replay.AgentLogin {
		t.Errorf("%s", b)
	}
	// A run that reviewed by itself is not reviewed again by its decision.
	if again := harness.ApplyDecision(st, dec, []trace.Effect{{Kind: trace.EffectReview}}); len(again) != 0 {
		t.Errorf("applied twice: %+v", again)
	}

	issue := snapshot(t, map[string]string{
		"issue.json": `{"number": 7, "title": "crash", "state": "open", "html_url": "https://github.com/acme/widgets/issues/7", "labels": [{"name": "triage"}], "milestone": {"title": "v1"}}`,
	})
	st = replay.NewGitHubState(issue, "", 0, now)
	for _, cmd := range []string{"gh issue edit 7 --add-label bug,p1 --remove-label triage", "gh issue comment 7 --body 'Reproduced.'", "gh issue close 7 --reason 'not planned'"} {
		if _, _, ok := st.ApplyWrite(cmd); !ok {
			t.Fatalf("%q not understood", cmd)
		}
	}
	harness.ApplyDecision(st, &trace.Decision{Value: json.RawMessage(`{"labels": ["bug", {"name": "needs-info"}]}`)}, nil)
	fs = harness.FixtureStateOf(st)
	b, _ = json.Marshal(fs)
	if err := harness.Validate("fixture_state", b); err != nil {
		t.Errorf("%v\n%s", err, b)
	}
	if fs.FixtureType != harness.Issue || fs.State != "CLOSED" || strings.Join(fs.Labels, ",") != "bug,p1,needs-info" || *fs.Milestone != "v1" ||
		len(fs.Comments) != 1 || fs.Comments[0].CreatedAt != "2026-01-02T03:04:05Z" || fs.Reviews != nil || fs.ReviewDecision != nil {
		t.Errorf("%s", b)
	}
	ann := &harness.Annotations{State: "open", Labels: harness.LabelsExpect{Required: []string{"bug", "docs"}, Forbidden: []string{"P1"}}, MaxTurns: 3}
	n := 5
	fails := ann.Check(fs, harness.Metrics{NumTurns: &n})
	var names []string
	for _, f := range fails {
		names = append(names, f.Expect)
	}
	if strings.Join(names, ",") != "labels.required,labels.forbidden,state,max_turns" {
		t.Errorf("failures %+v", fails)
	}
}

func TestMetrics(t *testing.T) {
	r := &trace.Run{Steps: []trace.Step{
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m1", Usage: &trace.Usage{Input: 10, CacheRead: 90, Output: 5}, Cost: trace.Cost{Priced: trace.Float(0.01)}}},
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m1", Synthetic: true}},
	}, Children: []*trace.Run{{Steps: []trace.Step{{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m2", Usage: &trace.Usage{Input: 7, Output: 3}, Cost: trace.Cost{Recorded: trace.Float(0.002)}}}}}}}
	m := harness.MetricsOf(r, nil)
	b, _ := json.Marshal(m)
	if err := harness.Validate("metrics", b); err != nil {
		t.Error(err)
	}
	if *m.NumTurns != 2 || m.TokenUsage.Input != 107 || m.TokenUsage.Output != 8 || m.Model != "m1" || strings.Join(m.ModelsUsed, ",") != "m1,m2" ||
		m.PerModelTurns["m2"] != 1 || m.PerModelUsage["m1"].Input != 100 || *m.TotalCostUSD != *m.CostUSD || *m.CostUSD < 0.0119 || *m.CostUSD > 0.0121 {
		t.Errorf("%s", b)
	}
	if err := harness.Validate("metrics", []byte(`{"num_turns": -1}`)); err == nil {
		t.Error("a negative turn count must not validate")
	}
}
