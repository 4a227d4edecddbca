package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// longRun is a run of n model calls, each asking for a tool whose result
// is size bytes: a long agent session.
func longRun(n, size int) *trace.Run {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := &trace.Run{Meta: trace.RunMeta{ID: strings.Repeat("ab", 16), Agent: "review", Defaults: trace.Params{Model: "claude-sonnet-4-5"}},
		Outcome: &trace.Outcome{Status: trace.StatusOK}}
	r.Steps = append(r.Steps, trace.Step{Kind: trace.KindMessage, Time: t0, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: "Review the PR."}}}})
	out := strings.Repeat("x", size)
	for i := range n {
		id := fmt.Sprintf("call_%d", i)
		args, _ := json.Marshal(map[string]string{"file_path": fmt.Sprintf("/w/f%d.go", i)})
		at := t0.Add(time.Duration(i) * time.Second)
		r.Steps = append(r.Steps,
			trace.Step{Kind: trace.KindLLM, Time: at, LLM: &trace.LLMCall{Model: "claude-sonnet-4-5", LatencyMS: 800,
				Usage:  &trace.Usage{Input: 10, CacheRead: int64(1000 * i), Output: 50},
				Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartText, Text: "Reading."}, {Type: trace.PartToolCall, ID: id, Name: "Read", Arguments: args}}}}},
			trace.Step{Kind: trace.KindTool, Time: at.Add(900 * time.Millisecond), Tool: &trace.ToolCall{CallID: id, Name: "Read", Arguments: args, Output: out, Status: trace.ToolOK, DurationMS: 5}})
	}
	return r
}

// BenchmarkExportFile: a long run to OTLP/JSON, with and without content.
func BenchmarkExportFile(b *testing.B) {
	for _, n := range []int{50, 200} {
		for _, content := range []bool{false, true} {
			b.Run(fmt.Sprintf("calls=%d/content=%v", n, content), func(b *testing.B) {
				run := longRun(n, 4<<10)
				var size int64
				for b.Loop() {
					cw := &countWriter{}
					x, err := NewOTLPFile(context.Background(), cw)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := x.Export(context.Background(), run, Options{Content: content}); err != nil {
						b.Fatal(err)
					}
					size = cw.n
				}
				b.ReportMetric(float64(size)/(1<<20), "MiB/export")
			})
		}
	}
}

// BenchmarkLangfuseEvents: the same run as Langfuse ingestion events.
func BenchmarkLangfuseEvents(b *testing.B) {
	for _, content := range []bool{false, true} {
		b.Run(fmt.Sprintf("calls=200/content=%v", content), func(b *testing.B) {
			run := longRun(200, 4<<10)
			var size int
			for b.Loop() {
				evs, err := LangfuseEvents(run, Options{Content: content})
				if err != nil {
					b.Fatal(err)
				}
				size = 0
				for _, e := range evs {
					size += len(e.Body)
				}
			}
			b.ReportMetric(float64(size)/(1<<20), "MiB/export")
		})
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
