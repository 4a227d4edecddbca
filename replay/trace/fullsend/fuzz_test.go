package fullsend_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/fullsend"
)

// FuzzRunDirectory writes fuzzed bytes as each of the run directory's own
// files (telemetry, metrics, result) beside the example's transcripts: the
// importer may fail, but with an error, never a panic or a silent empty run.
func FuzzRunDirectory(f *testing.F) {
	for _, name := range []string{"run-telemetry.jsonl", "metrics.json", "iteration-1/output/review-result.json"} {
		b, err := os.ReadFile(filepath.Join(example, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, b, b)
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"AAAA","spanId":"x","attributes":[{"key":"fullsend.work_item_id","value":{"stringValue":"a/b#0"}}]}]}]}]}`), []byte(`{"token_usage":null}`), []byte(`{"action":"approve","head_sha":"ZZ","pr_number":"-1"}`))
	transcripts := filepath.Join(example, "iteration-1", "transcripts")
	f.Fuzz(func(t *testing.T, telemetry, metrics, result []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "iteration-1", "output"), 0o755)
		os.Symlink(mustAbs(t, transcripts), filepath.Join(dir, "iteration-1", "transcripts"))
		os.WriteFile(filepath.Join(dir, "run-telemetry.jsonl"), telemetry, 0o644)
		os.WriteFile(filepath.Join(dir, "metrics.json"), metrics, 0o644)
		os.WriteFile(filepath.Join(dir, "iteration-1", "output", "review-result.json"), result, 0o644)
		z := &trace.Summarizer{}
		err := (fullsend.Format{}).Import(context.Background(), &trace.Source{Path: dir, IsDir: true}, trace.Options{}, z)
		if err != nil {
			return
		}
		if s := z.Summary(); s.LLMCalls != 10 {
			t.Fatalf("the transcripts were imported with %d llm calls, want 10", s.LLMCalls)
		}
	})
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
