package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// benchRequest is a chat request of about size bytes: a system prompt, the
// tools, and turns of tool calls and results of ~2 KB each, as an agent's
// request late in a run.
func benchRequest(size int) ([]byte, *trace.Run) {
	run := &trace.Run{Meta: trace.RunMeta{Instr: trace.Instructions{System: "You are a coding agent."}}}
	msgs := []any{
		map[string]any{"role": "system", "content": "You are a coding agent."},
		map[string]any{"role": "user", "content": "Fix the failing test."},
	}
	run.Steps = append(run.Steps, trace.Step{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: "Fix the failing test."}}}})
	line := strings.Repeat("func f() { return 42 } // some code of the file\n", 40) // ~2 KB
	for i := 0; ; i++ {
		b, _ := json.Marshal(map[string]any{"model": "gpt-4o", "messages": msgs})
		if len(b) >= size {
			break
		}
		id := fmt.Sprintf("call_%d", i)
		args := fmt.Sprintf(`{"path":"f%d.go"}`, i)
		msgs = append(msgs,
			map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": id, "type": "function", "function": map[string]any{"name": "read_file", "arguments": args}}}},
			map[string]any{"role": "tool", "tool_call_id": id, "content": line})
		run.Steps = append(run.Steps,
			trace.Step{Kind: trace.KindLLM, LLM: &trace.LLMCall{Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: id, Name: "read_file", Arguments: json.RawMessage(args)}}}}},
			trace.Step{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: id, Name: "read_file", Status: trace.ToolOK, Output: line}})
	}
	run.Steps = append(run.Steps, trace.Step{Kind: trace.KindLLM, LLM: &trace.LLMCall{Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartText, Text: "Done."}}}}})
	b, _ := json.Marshal(map[string]any{"model": "gpt-4o", "messages": msgs})
	return b, run
}

func p50(ts []time.Duration) float64 {
	slices.Sort(ts)
	return float64(ts[len(ts)/2].Nanoseconds()) / 1e6
}

// BenchmarkProxyOverhead measures what the proxy adds to one model call of
// a 200 KB request, against a baseline in the same run: each iteration
// posts the request to a local upstream that answers at once, directly and
// through the proxy in forward mode (parse, rewrite-free pass, upstream
// call, parse of the answer, the exchange kept). overhead-ms-p50 is the
// median through the proxy minus the median direct; the target is < 2 ms.
// BenchmarkProxyOverhead/recorded measures recorded mode answering the last
// call of a recording after matching the 200 KB request.
func BenchmarkProxyOverhead(b *testing.B) {
	body, rec := benchRequest(200 << 10)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, chatAnswer)
	}))
	defer up.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	call := func(b *testing.B, url string) time.Duration {
		start := time.Now()
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return d
	}

	b.Run("forward", func(b *testing.B) {
		p := newProxy(b, Config{Mode: ModeForward, Upstream: up.URL})
		srv := httptest.NewServer(p)
		defer srv.Close()
		direct, via := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
		call(b, up.URL+"/chat/completions") // warm both connections
		call(b, srv.URL+"/v1/chat/completions")
		b.SetBytes(int64(len(body)))
		b.ResetTimer()
		for range b.N {
			direct = append(direct, call(b, up.URL+"/chat/completions"))
			via = append(via, call(b, srv.URL+"/v1/chat/completions"))
		}
		b.StopTimer()
		d, v := p50(direct), p50(via)
		b.ReportMetric(d, "ms/op-p50-direct")
		b.ReportMetric(v, "ms/op-p50-proxy")
		b.ReportMetric(v-d, "overhead-ms-p50")
		if v-d >= 2 && b.N >= 100 { // a p50 of few samples says little
			b.Errorf("proxy overhead at p50 is %.2f ms for a %d KB request: the target is < 2 ms", v-d, len(body)>>10)
		}
	})

	b.Run("recorded", func(b *testing.B) {
		times := make([]time.Duration, 0, b.N)
		b.SetBytes(int64(len(body)))
		for range b.N {
			b.StopTimer()
			p := newProxy(b, Config{Mode: ModeRecorded, Recording: rec})
			// bring the recording to its last call, as an agent would
			p.rec.runs[0].next = len(p.rec.runs[0].calls) - 1
			srv := httptest.NewServer(p)
			b.StartTimer()
			times = append(times, call(b, srv.URL+"/v1/chat/completions"))
			b.StopTimer()
			if p.Divergence() != nil {
				b.Fatal(p.Divergence())
			}
			srv.Close()
			b.StartTimer()
		}
		b.ReportMetric(p50(times), "ms/op-p50")
	})
}
