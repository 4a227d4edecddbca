package trace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/replay/trace"
)

// TestFeedbackRoundTrip: a run's feedback is written as feedback events of
// the native stream and read back as it was, in order; the summary has it.
func TestFeedbackRoundTrip(t *testing.T) {
	run := sampleRun()
	run.Feedback = []trace.Feedback{
		{Human: trace.HumanOverride, Decision: json.RawMessage(`{"action":"request-changes"}`), By: "alice",
			At: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), URL: "https://github.com/acme/widgets/pull/42#pullrequestreview-9", Note: "nil check", Source: "github"},
		{Human: trace.HumanConfirm, By: "bob", Source: "trace"},
	}
	var buf bytes.Buffer
	if err := trace.Encode(&buf, run); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), `{"type":"feedback",`); n != 2 {
		t.Errorf("%d feedback events written, want 2:\n%s", n, buf.String())
	}
	back, err := trace.DecodeRun(context.Background(), bytes.NewReader(buf.Bytes()), "run.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(back.Feedback, run.Feedback) {
		t.Errorf("feedback after the round trip:\n%s", cmp.Diff(run.Feedback, back.Feedback))
	}
	var z trace.Summarizer
	if err := trace.Decode(context.Background(), bytes.NewReader(buf.Bytes()), "run.jsonl", trace.Options{}, &z); err != nil {
		t.Fatal(err)
	}
	if s := z.Summary(); len(s.Feedback) != 2 || s.Feedback[0].By != "alice" {
		t.Errorf("summary feedback %+v", s.Feedback)
	}

	// A feedback event whose act is unknown is refused, with its line.
	bad := strings.Replace(buf.String(), `"human":"confirm"`, `"human":"approve"`, 1)
	if _, err := trace.DecodeRun(context.Background(), strings.NewReader(bad), "run.jsonl"); err == nil || !strings.Contains(err.Error(), `human "approve"`) {
		t.Errorf("an unknown act: %v", err)
	}
}
