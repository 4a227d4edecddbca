package diff_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentreplay/replay/diff"
	"github.com/agentreplay/replay/replay/trace"
)

// GitHub writes are part of the decision: an effect only one run made makes
// the decisions differ, and every renderer names it.
func TestEffectsArePartOfTheDecision(t *testing.T) {
	label := trace.Effect{Kind: trace.EffectLabelAdd, Target: "acme/widgets#7", Labels: []string{"bug"}, Answer: trace.EffectSimulated}
	comment := trace.Effect{Kind: trace.EffectComment, Target: "acme/widgets#7", Body: "Looks like a bug in the parser."}
	a := &trace.Run{Meta: trace.RunMeta{ID: "a"}, Effects: []trace.Effect{comment}}
	b := &trace.Run{Meta: trace.RunMeta{ID: "b", Replay: &trace.Origin{Of: "a", Mode: "run"}}, Effects: []trace.Effect{label, comment}}
	r := diff.Runs(a, b, diff.Options{})
	e := r.Decision.Effects
	if e == nil || e.Same != 1 || len(e.Added) != 1 || e.Added[0].Kind != trace.EffectLabelAdd || len(e.Removed) != 0 {
		t.Fatalf("effects diff: %+v", e)
	}
	if r.Decision.Agree || !r.Verdict.Diverged {
		t.Errorf("an added label must make the decisions differ: %+v", r.Verdict)
	}
	for _, f := range []string{diff.FormatText, diff.FormatMarkdown, diff.FormatJSON, diff.FormatHTML} {
		var buf bytes.Buffer
		if err := diff.Render(&buf, f, r, diff.RenderOptions{}); err != nil {
			t.Fatal(err)
		}
		want := "label-add acme/widgets"
		if f == diff.FormatMarkdown {
			want = `label\-add acme/widgets`
		}
		if f == diff.FormatJSON {
			want = `"kind": "label-add"`
		}
		if !strings.Contains(buf.String(), want) {
			t.Errorf("%s report does not show the added label:\n%s", f, buf.String())
		}
	}
	// The same effects in both: agree; an original that records none is
	// read through Options.Effects.
	same := diff.Runs(&trace.Run{}, &trace.Run{Meta: trace.RunMeta{Replay: &trace.Origin{}}, Effects: []trace.Effect{comment}},
		diff.Options{Effects: func(*trace.Run) []trace.Effect { return []trace.Effect{comment} }})
	if !same.Decision.Agree || same.Decision.Effects.Same != 1 {
		t.Errorf("the original's effects read from its calls: %+v", same.Decision)
	}
}
