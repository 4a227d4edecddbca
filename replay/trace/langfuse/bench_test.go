package langfuse

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

// writeLargeTrace writes an export with n rounds of (generation, tool) under
// one agent; each generation's input carries about inputBytes of chat
// history. It returns the number of bytes written.
func writeLargeTrace(w io.Writer, n, inputBytes int) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var size int64
	p := func(format string, args ...any) {
		k, _ := fmt.Fprintf(bw, format, args...)
		size += int64(k)
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
	return size, bw.Flush()
}

// discard counts events.
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

// peakHeap samples the heap in use while fn runs.
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

// TestLargeTraceBoundedMemory imports a 60 MB export and checks that the
// heap stays far below the file's size: observations are read one at a
// time, never all at once.
func TestLargeTraceBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and imports a 60 MB trace")
	}
	path := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	size, err := writeLargeTrace(f, 2000, 30000)
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
	if got.llm != 2000 || got.tool != 2000 {
		t.Fatalf("imported %d llm and %d tool steps, want 2000 each", got.llm, got.tool)
	}
	const limit = 40 << 20
	t.Logf("file %d MB, peak heap in use %d MB", size>>20, peak>>20)
	if peak > limit {
		t.Errorf("peak heap %d MB for a %d MB file: over the %d MB bound", peak>>20, size>>20, limit>>20)
	}
}

// BenchmarkImport measures import throughput on a 24 MB export, with
// `jq '.observations|length'` over the same file as baseline.
func BenchmarkImport(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.json")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	size, err := writeLargeTrace(f, 800, 30000)
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
	if out, err := exec.Command(jq, ".observations|length", path).CombinedOutput(); err != nil {
		b.Fatalf("jq: %v: %s", err, out)
	}
	jqMBps := float64(size) / time.Since(js).Seconds() / 1e6
	b.ReportMetric(jqMBps, "jq_MB/s")
	b.ReportMetric(mbps/jqMBps, "ratio_vs_jq")
}
