package store

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// BenchmarkImportClaudeCode100MB measures what `replay import` does with
// >= 100 MB of Claude Code transcripts (built from the corpus sessions with
// renamed ids): hash, detect, parse, write the native file, summarize and
// index, into a fresh store each time. The baseline, measured in the same
// run over the same bytes, is jq extracting the usage of the assistant
// lines. Requirement: at least 3x faster than jq.
func BenchmarkImportClaudeCode100MB(b *testing.B) {
	ctx := context.Background()
	// As the replay command does (internal/cli.Main).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	input := filepath.Join(b.TempDir(), "sessions.jsonl")
	size := testutil.WriteClaudeTranscript(b, input, testutil.ClaudeSources(b, "../../testdata/example/run/iteration-1/transcripts/*.jsonl"), 100<<20)
	b.SetBytes(size)
	var elapsed time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		root := b.TempDir()
		s, err := Open(ctx, root, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		r, err := s.Import(ctx, input, "", trace.Options{})
		elapsed += time.Since(t0)
		n++
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if r.Existing || r.Summary.LLMCalls == 0 {
			b.Fatalf("imported %+v", r.Summary)
		}
		s.Close()
		os.RemoveAll(root)
		b.StartTimer()
	}
	b.StopTimer()
	mbs := float64(size) * float64(n) / 1e6 / elapsed.Seconds()
	b.ReportMetric(mbs, "MB/s")

	testutil.ReportVsJQ(b, mbs, input, 2, "-c", `select(.type=="assistant") | .message.usage`)
	b.ReportMetric(3, "min_ratio_vs_jq") // issue 2: at least 3x jq
}
