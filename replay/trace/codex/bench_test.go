package codex

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// writeLargeRollout writes a rollout of n model responses in the "after"
// ordering, each a reasoning item, a shell call and its output of about
// outBytes.
func writeLargeRollout(w io.Writer, n, outBytes int) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var size int64
	p := func(format string, args ...any) {
		k, _ := fmt.Fprintf(bw, format+"\n", args...)
		size += int64(k)
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
	return size, bw.Flush()
}

type discard struct{ llm, tool int }

func (d *discard) Emit(ev *trace.Event) error {
	switch ev.Type {
	case trace.EvLLM:
		d.llm++
	case trace.EvTool:
		d.tool++
	}
	return nil
}

func peakHeap(fn func()) uint64 {
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		peak = max(peak, ms.HeapInuse)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	sample()
	return peak
}

// TestLargeRolloutBoundedMemory imports a 60 MB rollout and checks that the
// heap stays far below the file's size.
func TestLargeRolloutBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and imports a 60 MB rollout")
	}
	path := filepath.Join(t.TempDir(), "rollout-big.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	size, err := writeLargeRollout(f, 5000, 10000)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var got discard
	var ierr error
	peak := peakHeap(func() {
		ierr = Format{}.Import(context.Background(), &trace.Source{Path: path}, trace.Options{}, &got)
	})
	if ierr != nil {
		t.Fatal(ierr)
	}
	if got.llm != 5000 || got.tool != 5000 {
		t.Fatalf("imported %d llm and %d tool steps, want 5000 each", got.llm, got.tool)
	}
	const limit = 40 << 20
	t.Logf("file %d MB, peak heap in use %d MB", size>>20, peak>>20)
	if peak > limit {
		t.Errorf("peak heap %d MB for a %d MB file: over the %d MB bound", peak>>20, size>>20, limit>>20)
	}
}

// BenchmarkImport measures import throughput on a 25 MB rollout, with
// `jq -c .type` over the same file as baseline.
func BenchmarkImport(b *testing.B) {
	path := filepath.Join(b.TempDir(), "rollout-bench.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	size, err := writeLargeRollout(f, 2000, 10000)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := (Format{}).Import(context.Background(), &trace.Source{Path: path}, trace.Options{}, &discard{}); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	mbps := float64(size) * float64(b.N) / elapsed.Seconds() / 1e6
	b.ReportMetric(mbps, "MB/s")

	jq, err := exec.LookPath("jq")
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatal("jq not found: the baseline needs it")
		}
		b.Log("jq not found: no baseline")
		return
	}
	js := time.Now()
	cmd := exec.Command(jq, "-c", ".type", path)
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		b.Fatalf("jq: %v", err)
	}
	jqMBps := float64(size) / time.Since(js).Seconds() / 1e6
	b.ReportMetric(jqMBps, "jq_MB/s")
	b.ReportMetric(mbps/jqMBps, "ratio_vs_jq")
}
