package langfuse

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/testutil"
)

// writeLargeTrace writes an export with n rounds of (generation, tool) under
// one agent; each generation's input carries about inputBytes of chat
// history.
func writeLargeTrace(w io.Writer, n, inputBytes int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	p := func(format string, args ...any) {
		fmt.Fprintf(bw, format, args...)
	}
	filler := strings.Repeat("lorem ipsum dolor sit amet ", inputBytes/27+1)[:inputBytes]
	p(`{"trace":{"id":"big","name":"load","timestamp":"2026-01-01T00:00:00.000Z","sessionId":"s"},"observations":[`)
	p(`{"id":"root","type":"AGENT","name":"agent","startTime":"2026-01-01T00:00:00.000Z","endTime":"2026-01-02T00:00:00.000Z"}`)
	t0 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	for i := range n {
		ts := t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		te := t0.Add(time.Duration(i)*time.Second + 500*time.Millisecond).Format(time.RFC3339Nano)
		p(`,{"id":"g%d","type":"GENERATION","name":"chat","parentObservationId":"root","startTime":%q,"endTime":%q,"model":"gpt-4.1",`+
			`"input":[{"role":"system","content":"be useful"},{"role":"user","content":"%s %d"}],`+
			`"output":{"role":"assistant","content":null,"tool_calls":[{"id":"c%d","type":"function","function":{"name":"grep","arguments":"{\"q\":\"x%d\"}"}}]},`+
			`"usageDetails":{"input":%d,"input_cached_tokens":100,"output":20,"total":%d},"costDetails":{"total":0.001}}`,
			i, ts, te, filler, i, i, i, 1000+i, 1020+i)
		p(`,{"id":"t%d","type":"TOOL","name":"grep","parentObservationId":"root","startTime":%q,"endTime":%q,"input":{"q":"x%d"},"output":"match %d","metadata":{"attributes":{"gen_ai.tool.call.id":"c%d"}}}`,
			i, te, te, i, i, i)
	}
	p("]}\n")
	return bw.Flush()
}

// TestLargeTraceBoundedMemory imports a 60 MB export and checks that the
// heap stays far below the file's size: observations are read one at a
// time, never all at once.
func TestLargeTraceBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and imports a 60 MB trace")
	}
	path := filepath.Join(t.TempDir(), "big.json")
	testutil.WriteInput(t, path, func(w io.Writer) error { return writeLargeTrace(w, 2000, 30000) })
	got := testutil.ImportWithinHeap(t, Format{}, path, 40<<20)
	if got.LLM != 2000 || got.Tool != 2000 {
		t.Fatalf("imported %d llm and %d tool steps, want 2000 each", got.LLM, got.Tool)
	}
}

// BenchmarkImport measures import throughput on a 24 MB export, with
// `jq '.observations|length'` over the same file as baseline.
func BenchmarkImport(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.json")
	testutil.WriteInput(b, path, func(w io.Writer) error { return writeLargeTrace(w, 800, 30000) })
	mbps := testutil.BenchImport(b, Format{}, path)
	testutil.ReportVsJQ(b, mbps, path, 1, ".observations|length")
}
