package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

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

// BenchmarkImportFolder120Sessions imports a folder of 120 generated Claude
// Code sessions (about 95 MB) with `replay import DIR`, and times beside it,
// on the same files, `cat DIR/*.jsonl | jq -c 'select(.type=="assistant") |
// .message.usage'`. Requirement: the import takes at most a third of jq's
// time (ratio_vs_jq, jq's time over ours, at least 3).
func BenchmarkImportFolder120Sessions(b *testing.B) {
	jq, err := exec.LookPath("jq")
	if err != nil {
		b.Fatalf("jq not found: the baseline needs it (apt-get install jq): %v", err)
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "replay")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/agentreplay/replay/cmd/replay").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	srcs := testutil.ClaudeSources(b, "../../testdata/example/run/iteration-1/transcripts/*.jsonl")
	sessions := filepath.Join(dir, "sessions")
	if err := os.Mkdir(sessions, 0o755); err != nil {
		b.Fatal(err)
	}
	const files, total = 120, 95_000_000
	var size int64
	for i := range files {
		own := make([][]byte, len(srcs))
		for j, s := range srcs {
			own[j] = bytes.ReplaceAll(s, []byte(`"sessionId":"`), []byte(fmt.Sprintf(`"sessionId":"f%d-`, i)))
		}
		size += testutil.WriteClaudeTranscript(b, filepath.Join(sessions, fmt.Sprintf("s%03d.jsonl", i)), own, total/files)
	}
	b.SetBytes(size)
	run := func(name string, cmd *exec.Cmd) time.Duration {
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s: %v\n%s", name, err, stderr.Bytes())
		}
		return time.Since(t0)
	}
	// The two run side by side, alternately, each iteration; the machine is
	// shared and noisy, so the ratio reported is the median of the
	// iterations' ratios (run with -benchtime=5x or more), not a ratio of
	// times measured apart.
	var ours, base, ratios []float64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		home := filepath.Join(dir, "home", strconv.Itoa(i))
		d := run("replay import", exec.Command(bin, "--home", home, "import", sessions))
		b.StopTimer()
		os.RemoveAll(home)
		jqd := run("cat | jq", exec.Command("sh", "-c", `cat "$1"/*.jsonl | "$2" -c 'select(.type=="assistant") | .message.usage'`, "sh", sessions, jq))
		ours, base = append(ours, d.Seconds()), append(base, jqd.Seconds())
		ratios = append(ratios, jqd.Seconds()/d.Seconds())
		b.StartTimer()
	}
	b.ReportMetric(median(ours), "import_s")
	b.ReportMetric(median(base), "jq_s")
	b.ReportMetric(median(ratios), "ratio_vs_jq")
	b.ReportMetric(3, "min_ratio_vs_jq") // issue 10: at most a third of jq's time
}

// BenchmarkImportLongRecord imports a trace whose first record is a single
// 150 MB line (a model response with one huge text) and reports the peak
// resident memory of the replay process over the record's size.
// Requirement: under 2× the record's size.
func BenchmarkImportLongRecord(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "replay")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/agentreplay/replay/cmd/replay").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	input := filepath.Join(dir, "long.jsonl")
	const record = 150_000_000
	size := testutil.WriteInput(b, input, func(w io.Writer) error {
		head := `{"type":"assistant","sessionId":"s","uuid":"a1","timestamp":"2025-01-01T10:00:00Z","message":{"id":"m1","model":"claude-x","usage":{"input_tokens":1,"output_tokens":1},"content":[{"type":"text","text":"`
		tail := `"}]}}` + "\n"
		if _, err := io.WriteString(w, head); err != nil {
			return err
		}
		chunk := bytes.Repeat([]byte("all work and no play "), 1<<14)
		for n := len(head) + len(tail); n < record; n += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), record-n)]); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, tail+`{"type":"user","sessionId":"s","uuid":"u1","parentUuid":"a1","timestamp":"2025-01-01T10:00:01Z","message":{"role":"user","content":"thanks"}}`+"\n")
		return err
	})
	b.SetBytes(size)
	var peak int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		home := filepath.Join(dir, "home", strconv.Itoa(i))
		cmd := exec.Command(bin, "--home", home, "import", input)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("replay import: %v\n%s", err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss*1024) // KiB on Linux
		}
		b.StopTimer()
		os.RemoveAll(home)
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/float64(record), "rss_per_record_byte")
	b.ReportMetric(2, "max_rss_per_record_byte") // issue 10: under 2× the record's size
}

// median returns the median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
