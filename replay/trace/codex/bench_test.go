package codex

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

// writeLargeRollout writes a rollout of n model responses in the "after"
// ordering, each a reasoning item, a shell call and its output of about
// outBytes.
func writeLargeRollout(w io.Writer, n, outBytes int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	p := func(format string, args ...any) {
		fmt.Fprintf(bw, format+"\n", args...)
	}
	out := strings.Repeat("ok  \\tacme/pkg\\t0.01s\\n", outBytes/22+1)[:outBytes]
	out = strings.TrimRight(out, "\\") // not cut inside an escape
	p(`{"timestamp":"2026-01-01T00:00:00.000Z","type":"session_meta","payload":{"id":"big","cwd":"/w","cli_version":"0.98.0","model_provider":"openai","base_instructions":{"text":"be useful"}}}`)
	p(`{"timestamp":"2026-01-01T00:00:00.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"run the tests"}]}}`)
	p(`{"timestamp":"2026-01-01T00:00:00.000Z","type":"turn_context","payload":{"cwd":"/w","model":"gpt-5.2-codex","effort":"high"}}`)
	t0 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	var in, cached, outT int
	for i := range n {
		ts := t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		in, cached, outT = in+1000, cached+800, outT+50
		p(`{"timestamp":%q,"type":"response_item","payload":{"type":"reasoning","summary":[{"type":"summary_text","text":"step %d"}],"content":null,"encrypted_content":"gAAAA%s"}}`, ts, i, strings.Repeat("Q", 400))
		p(`{"timestamp":%q,"type":"response_item","payload":{"type":"function_call","name":"shell_command","arguments":"{\"command\":\"go test ./pkg%d\"}","call_id":"call_%d"}}`, ts, i, i)
		p(`{"timestamp":%q,"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":%d,"cached_input_tokens":%d,"output_tokens":%d,"reasoning_output_tokens":0,"total_tokens":%d},"last_token_usage":{"input_tokens":1000,"cached_input_tokens":800,"output_tokens":50,"reasoning_output_tokens":0,"total_tokens":1050}}}}`, ts, in, cached, outT, in+outT)
		p(`{"timestamp":%q,"type":"response_item","payload":{"type":"function_call_output","call_id":"call_%d","output":"Exit code: 0\nWall time: 0.5 seconds\nOutput:\n%s"}}`, ts, i, out)
	}
	return bw.Flush()
}

// TestLargeRolloutBoundedMemory imports a 60 MB rollout and checks that the
// heap stays far below the file's size.
func TestLargeRolloutBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and imports a 60 MB rollout")
	}
	path := filepath.Join(t.TempDir(), "rollout-big.jsonl")
	testutil.WriteInput(t, path, func(w io.Writer) error { return writeLargeRollout(w, 5000, 10000) })
	got := testutil.ImportWithinHeap(t, Format{}, path, 40<<20)
	if got.LLM != 5000 || got.Tool != 5000 {
		t.Fatalf("imported %d llm and %d tool steps, want 5000 each", got.LLM, got.Tool)
	}
}

// BenchmarkImport measures import throughput on a 25 MB rollout, with
// `jq -c .type` over the same file as baseline.
func BenchmarkImport(b *testing.B) {
	path := filepath.Join(b.TempDir(), "rollout-bench.jsonl")
	testutil.WriteInput(b, path, func(w io.Writer) error { return writeLargeRollout(w, 2000, 10000) })
	mbps := testutil.BenchImport(b, Format{}, path)
	testutil.ReportVsJQ(b, mbps, path, 1, "-c", ".type")
}
