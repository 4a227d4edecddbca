package testutil

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"
)

// PeakHeapInuse runs fn and returns the highest heap in use
// (runtime.MemStats.HeapInuse) sampled every 10 ms meanwhile and once after.
func PeakHeapInuse(fn func()) uint64 {
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

// JQBaseline times jq with args over file (file comes last on its command
// line, its output is discarded), keeps the best of runs runs, and returns
// jq's throughput in MB/s (10^6 bytes a second). Without jq on the PATH the
// benchmark fails: its headline figure is a ratio to jq, and must not
// change meaning silently.
func JQBaseline(b *testing.B, file string, runs int, args ...string) (mbPerSec float64, ok bool) {
	b.Helper()
	jq, err := exec.LookPath("jq")
	if err != nil {
		b.Fatalf("jq not found: the baseline needs it (apt-get install jq): %v", err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	var best time.Duration
	for range max(runs, 1) {
		var stderr bytes.Buffer
		cmd := exec.Command(jq, append(args[:len(args):len(args)], file)...)
		cmd.Stdout = io.Discard
		cmd.Stderr = &stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("jq: %v: %s", err, stderr.Bytes())
		}
		if d := time.Since(t0); best == 0 || d < best {
			best = d
		}
	}
	return float64(fi.Size()) / 1e6 / best.Seconds(), true
}

// ReportVsJQ reports the jq baseline of JQBaseline beside a benchmark's own
// throughput mbPerSec (MB/s, 10^6 bytes a second) over the same file:
// "jq_MB/s" and "ratio_vs_jq" (mbPerSec over jq's). Without jq it fails.
func ReportVsJQ(b *testing.B, mbPerSec float64, file string, runs int, args ...string) {
	b.Helper()
	jq, ok := JQBaseline(b, file, runs, args...)
	if !ok {
		return
	}
	b.ReportMetric(jq, "jq_MB/s")
	b.ReportMetric(mbPerSec/jq, "ratio_vs_jq")
}
