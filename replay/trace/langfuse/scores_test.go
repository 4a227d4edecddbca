package langfuse

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// langfuseScore is a score as GET /api/public/traces/{id} returns it.
func langfuseScore(id, name, source, dataType string, value any, stringValue, comment, author string) map[string]any {
	s := map[string]any{"id": id, "traceId": "t1", "name": name, "source": source, "observationId": nil,
		"timestamp": "2026-03-02T10:00:0" + id + ".000Z", "createdAt": "2026-03-02T10:00:0" + id + ".100Z", "updatedAt": "2026-03-02T10:00:0" + id + ".100Z",
		"authorUserId": nil, "comment": nil, "configId": nil, "queueId": nil, "environment": "production", "dataType": dataType, "value": value}
	if stringValue != "" {
		s["stringValue"] = stringValue
	}
	if comment != "" {
		s["comment"] = comment
	}
	if author != "" {
		s["authorUserId"] = author
	}
	return s
}

// TestScores: a trace's human scores are its feedback; judges' are not.
func TestScores(t *testing.T) {
	b, err := os.ReadFile("testdata/api-trace.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["scores"] = []any{
		langfuseScore("1", "correctness", "ANNOTATION", "BOOLEAN", 0, "False", "missed the SQL injection", "user-alice"),
		langfuseScore("2", "verdict", "ANNOTATION", "CATEGORICAL", 1, "confirm", "", "user-bob"),
		langfuseScore("3", "helpfulness", "EVAL", "NUMERIC", 0.1, "", "the judge thinks it is unhelpful", ""),
		langfuseScore("4", "user-feedback", "API", "NUMERIC", 1, "", "spot on", "user-carol"),
		langfuseScore("5", "user-feedback", "API", "NUMERIC", 0, "", "", "user-dan"),            // no comment: not known to be a human's
		langfuseScore("6", "topic", "ANNOTATION", "CATEGORICAL", 2, "billing", "", "user-erin"), // no verdict
		langfuseScore("7", "quality", "ANNOTATION", "NUMERIC", 0.25, "", "", ""),
	}
	b, _ = json.Marshal(doc)
	run, sum, err := importBytes(t, "trace.json", b, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range run.Feedback {
		got = append(got, strings.Join([]string{f.At.Format("15:04:05"), f.Human, f.By, f.Note, f.Source}, " | "))
	}
	want := []string{
		"10:00:01 | override | user-alice | langfuse score correctness=False: missed the SQL injection | trace",
		"10:00:02 | confirm | user-bob | langfuse score verdict=confirm | trace",
		"10:00:04 | confirm | user-carol | langfuse score user-feedback=1: spot on | trace",
		"10:00:07 | override |  | langfuse score quality=0.25 | trace",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("feedback:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(sum.Feedback) != len(want) {
		t.Errorf("summary has %d acts, want %d", len(sum.Feedback), len(want))
	}

	// The native stream keeps them: written and read back, the run has the
	// same feedback.
	var buf strings.Builder
	if err := trace.Encode(&buf, run); err != nil {
		t.Fatal(err)
	}
	back, err := trace.DecodeRun(t.Context(), strings.NewReader(buf.String()), "native.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	bj, _ := json.Marshal(back.Feedback)
	rj, _ := json.Marshal(run.Feedback)
	if string(bj) != string(rj) {
		t.Errorf("after a round trip through the native format:\n%s\nwant\n%s", bj, rj)
	}
}

func TestScoresNotAList(t *testing.T) {
	for _, raw := range []string{`null`, `{}`, `"x"`, `[1, "a", {"source": "ANNOTATION"}]`} {
		if fb := scoreFeedback(json.RawMessage(raw)); len(fb) != 0 {
			t.Errorf("scores %s: %+v", raw, fb)
		}
	}
}
