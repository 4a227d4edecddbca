package trace_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// A run's effects survive the native format, and a version 1 file (no
// effect events) still reads.
func TestEffectsRoundTripAndVersion1(t *testing.T) {
	run := &trace.Run{Meta: trace.RunMeta{Format: "replay-run", Agent: "triage"},
		Steps: []trace.Step{{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: "c1", Name: "Bash", Status: trace.ToolOK}}},
		Effects: []trace.Effect{
			{Kind: trace.EffectLabelAdd, Target: "acme/widgets#7", Labels: []string{"bug"}, Call: "c1", Tool: "Bash", Answer: trace.EffectSimulated},
			{Kind: trace.EffectComment, Target: "acme/widgets#7", Body: "Thanks!", Call: "c2", Tool: "Bash", Answer: trace.EffectSimulated},
		}}
	var buf bytes.Buffer
	if err := trace.Encode(&buf, run); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `{"type":"effect","effect":{"kind":"label-add"`) {
		t.Fatalf("no effect event in\n%s", buf.String())
	}
	got, err := trace.DecodeRun(context.Background(), &buf, "x.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Effects) != 2 || got.Effects[0].Key() != run.Effects[0].Key() || got.Effects[1].Body != "Thanks!" {
		t.Fatalf("effects after a round trip: %+v", got.Effects)
	}

	v1 := `{"type":"header","header":{"format":"replay-run","version":1}}
{"type":"run","meta":{"agent":"review"}}
{"type":"outcome","outcome":{"status":"ok"}}
`
	old, err := trace.DecodeRun(context.Background(), strings.NewReader(v1), "old.jsonl")
	if err != nil {
		t.Fatalf("a version 1 file must still read: %v", err)
	}
	if old.Meta.Agent != "review" || len(old.Effects) != 0 {
		t.Fatalf("version 1 run: %+v", old)
	}
	v3 := strings.Replace(v1, `"version":1`, `"version":3`, 1)
	if _, err := trace.DecodeRun(context.Background(), strings.NewReader(v3), "new.jsonl"); err == nil || !strings.Contains(err.Error(), "upgrade replay") {
		t.Fatalf("a newer version must be refused with a hint, got %v", err)
	}
	bad := strings.Replace(v1, `{"type":"outcome"`, `{"type":"effect","effect":{}}`+"\n"+`{"type":"outcome"`, 1)
	if _, err := trace.DecodeRun(context.Background(), strings.NewReader(bad), "bad.jsonl"); err == nil {
		t.Fatal("an effect event without a kind must be refused")
	}
}
