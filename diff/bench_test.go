package diff

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// bigPair is a run of n steps and a replay of it that differs every
// `every` steps: a changed argument, an inserted call, a deleted call,
// in turn (deterministic).
func bigPair(n, every int) (*trace.Run, *trace.Run) {
	rng := rand.New(rand.NewPCG(1, 2))
	tools := []string{"Read", "Grep", "Bash", "Glob", "Edit"}
	var sa []trace.Step
	sa = append(sa, msg("user", "review the change"))
	for len(sa) < n {
		name := tools[rng.IntN(len(tools))]
		args := fmt.Sprintf(`{"path":"f%d.go","n":%d}`, rng.IntN(n), len(sa))
		sa = append(sa, llm("", name), tool(name, args, fmt.Sprintf("result %d of %s", len(sa), name)))
	}
	sa = sa[:n]
	var sb []trace.Step
	for i, s := range sa {
		if i > 0 && i%every == 0 && s.Tool != nil {
			switch (i / every) % 3 {
			case 0:
				c := *s.Tool
				c.Arguments = []byte(fmt.Sprintf(`{"path":"g%d.go"}`, i))
				sb = append(sb, trace.Step{Kind: trace.KindTool, Tool: &c})
				continue
			case 1:
				sb = append(sb, tool("Task", fmt.Sprintf(`{"prompt":"look at %d"}`, i), "ok"))
			case 2:
				continue
			}
		}
		sb = append(sb, s)
	}
	a, b := run("a", sa...), run("b", sb...)
	return a, replayOf(a, "b", b.Steps...)
}

// BenchmarkDiff10k: two 10,000-step runs diff in under a second, in memory
// linear in the runs.
func BenchmarkDiff10k(b *testing.B) {
	a, r := bigPair(10_000, 50)
	var ms float64
	for b.Loop() {
		start := time.Now()
		rep := Runs(a, r, Options{})
		ms = float64(time.Since(start).Microseconds()) / 1000
		if rep.Verdict.First == nil {
			b.Fatal("no divergence found")
		}
	}
	peak := testutil.PeakHeapInuse(func() { runtime.KeepAlive(Runs(a, r, Options{})) })
	b.ReportMetric(ms, "ms/diff")
	b.ReportMetric(1000, "max_ms/diff")
	b.ReportMetric(float64(peak)/1e6, "MB-peak-heap")
	b.ReportMetric(64, "max_MB-peak-heap")
}

// BenchmarkDiff10kUnrelated: the worst case, two 10,000-step runs with no
// step in common (no anchor): Hirschberg's linear-space alignment.
func BenchmarkDiff10kUnrelated(b *testing.B) {
	a, _ := bigPair(10_000, 50)
	c, _ := bigPair(10_000, 50)
	for i := range c.Steps {
		if t := c.Steps[i].Tool; t != nil {
			x := *t
			x.Output = "other " + x.Output
			x.Arguments = []byte(fmt.Sprintf(`{"path":"z%d.go"}`, i))
			c.Steps[i].Tool = &x
		}
	}
	var ms float64
	for b.Loop() {
		start := time.Now()
		Runs(a, c, Options{})
		ms = float64(time.Since(start).Microseconds()) / 1000
	}
	peak := testutil.PeakHeapInuse(func() { runtime.KeepAlive(Runs(a, c, Options{})) })
	b.ReportMetric(ms, "ms/diff")
	b.ReportMetric(float64(peak)/1e6, "MB-peak-heap")
	b.ReportMetric(64, "max_MB-peak-heap")
}
