package claudecode

import (
	"context"
	"io"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// writeBenchInput writes at least size bytes of distinct transcripts built
// from the corpus sessions (else our fixtures).
func writeBenchInput(tb testing.TB, path string, size int64) int64 {
	return testutil.WriteClaudeTranscript(tb, path, testutil.ClaudeSources(tb, filepath.Join("testdata", "*.jsonl")), size)
}

// importForBench imports path the way `replay import` does: into the native
// writer (here to io.Discard) and a Summarizer.
func importForBench(tb testing.TB, path string) trace.Summary {
	nw := trace.NewWriter(io.Discard)
	var z trace.Summarizer
	if err := ImportTranscript(context.Background(), path, trace.Options{}, trace.Tee(nw, &z), RunAs{NoDiscovery: true}); err != nil {
		tb.Fatal(err)
	}
	if err := nw.Flush(); err != nil {
		tb.Fatal(err)
	}
	return z.Summary()
}

// BenchmarkImportTranscript measures `replay import` of >= 100 MB of Claude
// Code transcripts (native writer + summary), against jq extracting only the
// usage of the assistant lines of the same file.
func BenchmarkImportTranscript(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.jsonl")
	size := writeBenchInput(b, path, 100<<20)
	b.SetBytes(size)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	n := 0
	for b.Loop() {
		importForBench(b, path)
		n++
	}
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	mbs := float64(size) * float64(n) / 1e6 / elapsed.Seconds()
	b.ReportMetric(mbs, "MB/s")
	if cpu > 0 {
		// The throughput per CPU second (both stages of the pipeline and
		// the garbage collector): what one core would do.
		b.ReportMetric(float64(size)*float64(n)/1e6/cpu.Seconds(), "MB/cpu-s")
	}

	testutil.ReportVsJQ(b, mbs, path, 1, "-c", `select(.type=="assistant") | .message.usage`)
}

// BenchmarkImportMemory imports a generated 500 MB transcript and reports
// the peak heap seen while importing ("peak-heap-MB"), sampled every
// 5 ms with runtime/metrics, and the peak RSS of the process
// ("peak-rss-MB", Linux only; it includes the generation of the input).
func BenchmarkImportMemory(b *testing.B) {
	path := filepath.Join(b.TempDir(), "huge.jsonl")
	size := writeBenchInput(b, path, 500<<20)
	b.SetBytes(size)
	b.ResetTimer()
	var peak float64
	for b.Loop() {
		peak = max(peak, peakHeapMB(func() { importForBench(b, path) }))
	}
	b.ReportMetric(peak, "peak-heap-MB")
	if rss := peakRSSMB(); rss > 0 {
		b.ReportMetric(rss, "peak-rss-MB")
	}
}

// peakHeapMB runs fn and returns the highest live heap (objects in use)
// sampled meanwhile, in MB.
func peakHeapMB(fn func()) float64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	return float64(peak.Load()) / 1e6
}
