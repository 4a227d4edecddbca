package testutil

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// ImportFile imports the file at path with f, after checking that f detects
// it from its head, and returns the run and its summary; any error fails tb.
func ImportFile(tb testing.TB, f trace.Format, path string) (*trace.Run, trace.Summary) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	src := &trace.Source{Path: path, Head: b[:min(len(b), trace.HeadSize)]}
	if !f.Detect(src) {
		tb.Fatalf("Detect(%s) = false, want true", path)
	}
	var z trace.Summarizer
	run, err := trace.Collect(func(e trace.Emitter) error {
		return f.Import(context.Background(), src, trace.Options{}, trace.Tee(e, &z))
	})
	if err != nil {
		tb.Fatalf("import %s: %v", path, err)
	}
	return run, z.Summary()
}

// EventCounter is an emitter that counts model calls and tool calls and
// keeps nothing.
type EventCounter struct{ LLM, Tool int }

// Emit counts ev.
func (c *EventCounter) Emit(ev *trace.Event) error {
	switch ev.Type {
	case trace.EvLLM:
		c.LLM++
	case trace.EvTool:
		c.Tool++
	}
	return nil
}

// ImportWithinHeap imports path with f into an EventCounter, sampling the
// heap in use meanwhile (PeakHeapInuse, after a GC), logs the file's size
// and the peak, and fails tb when the peak is over limit bytes. It returns
// the counts.
func ImportWithinHeap(tb testing.TB, f trace.Format, path string, limit uint64) EventCounter {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	size := fi.Size()
	runtime.GC()
	var got EventCounter
	var ierr error
	peak := PeakHeapInuse(func() {
		ierr = f.Import(context.Background(), &trace.Source{Path: path}, trace.Options{}, &got)
	})
	if ierr != nil {
		tb.Fatal(ierr)
	}
	tb.Logf("file %d MB, peak heap in use %d MB", size>>20, peak>>20)
	if peak > limit {
		tb.Errorf("peak heap %d MB for a %d MB file: over the %d MB bound", peak>>20, size>>20, limit>>20)
	}
	return got
}

// BenchImport imports path with f b.N times, events counted and not kept,
// reports the throughput as "MB/s" (10^6 bytes a second) and returns it.
func BenchImport(b *testing.B, f trace.Format, path string) (mbPerSec float64) {
	b.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	size := fi.Size()
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := f.Import(context.Background(), &trace.Source{Path: path}, trace.Options{}, &EventCounter{}); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	mbPerSec = float64(size) * float64(b.N) / elapsed.Seconds() / 1e6
	b.ReportMetric(mbPerSec, "MB/s")
	return mbPerSec
}
