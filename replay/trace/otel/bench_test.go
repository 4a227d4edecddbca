package otel

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// writeAgentTrace writes an OTLP/JSON Lines trace of one agent making
// calls model calls, each followed by a tool call, until the file reaches
// about size bytes. Each model call records its whole request, so content
// grows as in real traces; spans are batched several to a line, and lines
// are written children first as exporters do.
func writeAgentTrace(w io.Writer, size int64) (calls int, err error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw}
	kv := func(k string, v any) map[string]any {
		switch x := v.(type) {
		case int:
			return map[string]any{"key": k, "value": map[string]any{"intValue": fmt.Sprint(x)}}
		default:
			return map[string]any{"key": k, "value": map[string]any{"stringValue": x}}
		}
	}
	const traceID = "5b8efff798038103d269b633813fc60c"
	base := time.Unix(1700000000, 0)
	history := []map[string]any{{"role": "user", "parts": []map[string]any{{"type": "text", "content": "Fix the failing test in pkg/"}}}}
	var batch []map[string]any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		line := map[string]any{"resourceSpans": []any{map[string]any{
			"resource":   map[string]any{"attributes": []any{kv("service.name", "bench")}},
			"scopeSpans": []any{map[string]any{"scope": map[string]any{"name": "bench"}, "spans": batch}}}}}
		b, err := json.Marshal(line)
		if err != nil {
			return err
		}
		batch = batch[:0]
		_, err = cw.Write(append(b, '\n'))
		return err
	}
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 40)
	for i := 0; cw.n < size; i++ {
		t := base.Add(time.Duration(i) * 2 * time.Second)
		callID := fmt.Sprintf("call_%d", i)
		out := []map[string]any{{"role": "assistant", "parts": []map[string]any{
			{"type": "text", "content": "step " + fmt.Sprint(i)},
			{"type": "tool_call", "id": callID, "name": "read_file", "arguments": map[string]any{"path": fmt.Sprintf("f%d.go", i)}}}}}
		in, _ := json.Marshal(history)
		outb, _ := json.Marshal(out)
		batch = append(batch, map[string]any{
			"traceId": traceID, "spanId": fmt.Sprintf("%016x", 2*i+2), "parentSpanId": "0000000000000001", "name": "chat m", "kind": 3,
			"startTimeUnixNano": fmt.Sprint(t.UnixNano()), "endTimeUnixNano": fmt.Sprint(t.Add(time.Second).UnixNano()),
			"attributes": []any{kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", "m"),
				kv("gen_ai.usage.input_tokens", 1000+i*50), kv("gen_ai.usage.cache_read.input_tokens", 900+i*50), kv("gen_ai.usage.output_tokens", 40),
				kv("gen_ai.input.messages", string(in)), kv("gen_ai.output.messages", string(outb))}})
		result := filler
		batch = append(batch, map[string]any{
			"traceId": traceID, "spanId": fmt.Sprintf("%016x", 2*i+3), "parentSpanId": "0000000000000001", "name": "execute_tool read_file", "kind": 1,
			"startTimeUnixNano": fmt.Sprint(t.Add(1100 * time.Millisecond).UnixNano()), "endTimeUnixNano": fmt.Sprint(t.Add(1900 * time.Millisecond).UnixNano()),
			"attributes": []any{kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", "read_file"), kv("gen_ai.tool.call.id", callID),
				kv("gen_ai.tool.call.result", result)}})
		history = append(history, out[0], map[string]any{"role": "tool", "parts": []map[string]any{{"type": "tool_call_response", "id": callID, "response": result}}})
		if len(history) > 60 { // a compacting agent: the request stops growing
			history = append(history[:1:1], history[len(history)-40:]...)
		}
		calls++
		if len(batch) >= 8 {
			if err := flush(); err != nil {
				return calls, err
			}
		}
	}
	root := map[string]any{"traceId": traceID, "spanId": "0000000000000001", "name": "invoke_agent fixer", "kind": 1,
		"startTimeUnixNano": fmt.Sprint(base.UnixNano()), "endTimeUnixNano": fmt.Sprint(base.Add(time.Duration(calls) * 2 * time.Second).UnixNano()),
		"attributes": []any{kv("gen_ai.operation.name", "invoke_agent"), kv("gen_ai.agent.name", "fixer")}}
	batch = append(batch, root)
	if err := flush(); err != nil {
		return calls, err
	}
	return calls, bw.Flush()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// BenchmarkImportOTLP measures import throughput of a ~32 MB OTLP/JSON
// Lines trace (both passes, events counted, not kept). The baseline is jq
// extracting every span's name from the same file: one pass of a fast JSON
// parser that builds nothing.
func BenchmarkImportOTLP(b *testing.B) {
	path := filepath.Join(b.TempDir(), "trace.jsonl")
	var calls int
	size := testutil.WriteInput(b, path, func(w io.Writer) (err error) {
		calls, err = writeAgentTrace(w, 32<<20)
		return err
	})
	mb := float64(size) / 1e6
	src := &trace.Source{Path: path}

	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var c testutil.EventCounter
		if err := (OTLP{}).Import(context.Background(), src, trace.Options{}, &c); err != nil {
			b.Fatal(err)
		}
		if c.LLM != calls || c.Tool != calls {
			b.Fatalf("imported %d calls and %d tools, wrote %d", c.LLM, c.Tool, calls)
		}
	}
	ours := time.Since(start).Seconds() / float64(b.N)
	b.StopTimer()
	mbps := mb / ours // MB/s: 10^6 bytes a second, as jq's
	b.ReportMetric(mbps, "MB/s")
	testutil.ReportVsJQ(b, mbps, path, 3, "-r", ".resourceSpans[].scopeSpans[].spans[].name")
}
