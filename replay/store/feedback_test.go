package store

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// withFeedbackEvent writes a copy of testdata/review.jsonl with one
// feedback event of its own.
func withFeedbackEvent(t *testing.T, fb trace.Feedback) string {
	t.Helper()
	b, err := os.ReadFile("testdata/review.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	line, err := json.Marshal(trace.Event{Type: trace.EvFeedback, Feedback: &fb})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "review-fb.jsonl")
	if err := os.WriteFile(p, append(append(b, line...), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFeedback(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	own := trace.Feedback{Human: trace.HumanConfirm, By: "carol", At: t0.Add(-time.Hour), Source: "trace"}
	r, err := s.Import(ctx, withFeedbackEvent(t, own), "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Import(ctx, "testdata/triage.jsonl", "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	override := trace.Feedback{Human: trace.HumanOverride, Decision: json.RawMessage(`{"action": "request-changes"}`),
		By: "alice", At: t0, URL: "https://github.com/acme/widgets/pull/42", Source: "file:fb.jsonl:1"}
	earlier := trace.Feedback{Human: trace.HumanManualFix, By: "bob", At: t0.Add(-2 * time.Hour), Source: "github"}

	// The same act twice (its decision spaced otherwise, from another
	// source) is stored once; the trace's own act is known already.
	sameAct := override
	sameAct.Decision, sameAct.Source, sameAct.Note = json.RawMessage(`{"action":"request-changes"}`), "github", "again"
	n, err := s.AddFeedback(ctx, r.ID, []trace.Feedback{override, earlier, sameAct, own})
	if err != nil || n != 2 {
		t.Fatalf("AddFeedback = %d, %v; want 2 added", n, err)
	}
	if n, err := s.AddFeedback(ctx, r.ID, []trace.Feedback{override}); err != nil || n != 0 {
		t.Fatalf("AddFeedback again = %d, %v; want 0 added", n, err)
	}

	want := []string{"bob manual-fix", "carol confirm", "alice override"} // oldest first
	got := func(fbs []trace.Feedback) string {
		var out []string
		for _, f := range fbs {
			out = append(out, f.By+" "+f.Human)
		}
		return strings.Join(out, ", ")
	}
	fb, err := s.Feedback(ctx, r.ID)
	if err != nil || got(fb) != strings.Join(want, ", ") {
		t.Errorf("Feedback = %q, %v; want %q", got(fb), err, want)
	}
	run, err := s.Run(ctx, r.ID)
	if err != nil || got(run.Feedback) != strings.Join(want, ", ") {
		t.Errorf("Run.Feedback = %q, %v; want %q", got(run.Feedback), err, want)
	}
	if run.Feedback[2].Source != "file:fb.jsonl:1" || run.Feedback[1].Source != "trace" {
		t.Errorf("sources %q, %q: the first act stored keeps its source", run.Feedback[2].Source, run.Feedback[1].Source)
	}
	sum, err := s.Summary(ctx, r.ID)
	if err != nil || got(sum.Feedback) != strings.Join(want, ", ") {
		t.Errorf("Summary.Feedback = %q, %v; want %q", got(sum.Feedback), err, want)
	}
	if fb, err := s.Feedback(ctx, other.ID); err != nil || len(fb) != 0 {
		t.Errorf("feedback of a run without any: %v, %v", fb, err)
	}

	// --overridden: the run with an override, not the other one.
	rows, err := s.List(ctx, Filter{Overridden: true})
	if err != nil || len(rows) != 1 || rows[0].ID != r.ID {
		t.Errorf("List(Overridden) = %v, %v; want only %s", rows, err, r.ID)
	}

	if _, err := s.AddFeedback(ctx, r.ID, []trace.Feedback{{Human: "approve"}}); err == nil || !strings.Contains(err.Error(), `human "approve"`) {
		t.Errorf("a bad human value: %v", err)
	}
	if _, err := s.AddFeedback(ctx, strings.Repeat("0", IDLen), []trace.Feedback{override}); err == nil {
		t.Error("feedback for a run not stored: no error")
	}

	// Removing the run removes its feedback: imported again, it has only
	// its own.
	if _, err := s.Remove(ctx, []string{r.ID}); err != nil {
		t.Fatal(err)
	}
	if fb, _ := s.Feedback(ctx, r.ID); len(fb) != 0 {
		t.Errorf("feedback left after remove: %v", got(fb))
	}
	if rows, _ := s.List(ctx, Filter{Overridden: true}); len(rows) != 0 {
		t.Errorf("List(Overridden) after remove: %v", rows)
	}
}

func TestFeedbackKey(t *testing.T) {
	a := trace.Feedback{Human: "override", By: "a", At: t0, URL: "u", Decision: json.RawMessage(`{"action":"approve"}`)}
	tests := []struct {
		name string
		b    func(f *trace.Feedback)
		same bool
	}{
		{"note and source do not count", func(f *trace.Feedback) { f.Note, f.Source = "n", "github" }, true},
		{"the same time in another zone", func(f *trace.Feedback) { f.At = t0.In(time.FixedZone("x", 3600)) }, true},
		{"decision spacing", func(f *trace.Feedback) { f.Decision = json.RawMessage(`{ "action" : "approve" }`) }, true},
		{"another decision", func(f *trace.Feedback) { f.Decision = json.RawMessage(`{"action":"reject"}`) }, false},
		{"another time", func(f *trace.Feedback) { f.At = t0.Add(time.Second) }, false},
		{"another human", func(f *trace.Feedback) { f.By = "b" }, false},
		{"another act", func(f *trace.Feedback) { f.Human = "revert" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := a
			tt.b(&b)
			if got := FeedbackKey(a) == FeedbackKey(b); got != tt.same {
				t.Errorf("same key = %v, want %v", got, tt.same)
			}
		})
	}
}
