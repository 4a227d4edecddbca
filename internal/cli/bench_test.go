package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"
)

// BenchmarkImport500MBPeakRSS runs `replay import` on a single generated
// 500 MB Claude Code transcript and reports the peak resident memory of the
// replay process (from the kernel's rusage) and its throughput.
// Requirement: peak RSS under 256 MB.
func BenchmarkImport500MBPeakRSS(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "replay")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/agentreplay/replay/cmd/replay").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	input := filepath.Join(dir, "huge.jsonl")
	size := testutil.WriteClaudeTranscript(b, input, testutil.ClaudeSources(b, "../../testdata/example/run/iteration-1/transcripts/*.jsonl"), 500<<20)
	b.SetBytes(size)
	var peak int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		home := filepath.Join(dir, "home", string(rune('a'+i%26)))
		cmd := exec.Command(bin, "--home", home, "import", input)
		cmd.Env = append(os.Environ(), "GOGC=") // the command's own setting
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("replay import: %v\n%s", err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss) // KiB on Linux
		}
		b.StopTimer()
		os.RemoveAll(home)
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)*1024/1e6, "peak-rss-MB") // maxrss is in KiB
	b.ReportMetric(256, "max_peak-rss-MB")                // issue 2: a 500 MB trace under 256 MB
}
