package model

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// benchConversation is the request of step n of a review agent: a 4 KB
// system prompt, 20 tools with schemas, and n earlier turns, each an
// assistant message with a tool call and a 2 KB tool result.
func benchConversation(n int) Request {
	req := Request{
		System: strings.Repeat("You review pull requests carefully. ", 110),
		Params: trace.Params{Model: "gpt-4o-mini", Temperature: trace.Float(0), MaxTokens: trace.Int(4096)},
	}
	for i := range 20 {
		req.Tools = append(req.Tools, trace.ToolDef{
			Name:        fmt.Sprintf("tool_%d", i),
			Description: strings.Repeat("Does something useful with files. ", 6),
			Schema:      json.RawMessage(`{"type":"object","properties":{"path":{"type":"string","description":"absolute path"},"limit":{"type":"integer"}},"required":["path"]}`),
		})
	}
	req.Messages = append(req.Messages, userText("Review acme/widgets#42 and write output/review.json."))
	result := strings.Repeat("     42\tfunc (s *Server) Handle(w http.ResponseWriter, r *http.Request) {\n", 30)
	for i := range n {
		id := fmt.Sprintf("call_%04d", i)
		req.Messages = append(req.Messages,
			trace.Message{Role: "assistant", Parts: []trace.Part{
				part(trace.PartText, "Let me look at the next file."),
				toolCall(id, "tool_3", fmt.Sprintf(`{"path":"/sandbox/workspace/widgets/pkg/file%d.go","limit":200}`, i)),
			}},
			trace.Message{Role: "tool", Parts: []trace.Part{toolResult(id, result, false)}},
		)
	}
	return req
}

// BenchmarkClientOverhead measures what the client adds to one model call
// against a local endpoint that answers at once: building the request from
// the canonical conversation, JSON encoding, the HTTP round trip over
// loopback, parsing, pricing, and the cache (key hash and lookup; a miss
// also writes the entry; a hit answers from disk). It supports the engine's
// target of under 2 ms overhead per step; ms/op-p50 is the median call.
func BenchmarkClientOverhead(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "responses", "tool_calls.json"))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()

	for _, steps := range []int{10, 100} {
		req := benchConversation(steps)
		size := len(mustMarshal(b, req))
		for _, mode := range []string{"nocache", "cache-miss", "cache-hit"} {
			b.Run(fmt.Sprintf("steps=%d/%s", steps, mode), func(b *testing.B) {
				cfg := Config{BaseURL: srv.URL + "/v1", APIKey: "sk-bench"}
				if mode != "nocache" {
					cache, err := OpenCache(b.TempDir())
					if err != nil {
						b.Fatal(err)
					}
					cfg.Cache = cache
					cfg.NoCache = mode == "cache-miss" // every call asks the endpoint and writes the entry
				}
				c, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if _, err := c.Complete(ctx, req); err != nil { // warm the connection (and the cache)
					b.Fatal(err)
				}
				times := make([]time.Duration, 0, b.N)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for range b.N {
					start := time.Now()
					call, err := c.Complete(ctx, req)
					times = append(times, time.Since(start))
					if err != nil {
						b.Fatal(err)
					}
					if want := map[bool]string{true: ProducedCache, false: ProducedModel}[mode == "cache-hit"]; call.Produced != want {
						b.Fatalf("produced %q, want %q", call.Produced, want)
					}
				}
				b.StopTimer()
				slices.Sort(times)
				ms := func(q float64) float64 {
					return float64(times[min(len(times)-1, int(q*float64(len(times))))].Microseconds()) / 1000
				}
				b.ReportMetric(ms(0.5), "ms/op-p50")
				b.ReportMetric(ms(0.9), "ms/op-p90")
			})
		}
	}
}

// BenchmarkRecordedOverhead: answering a call from the recording, with the
// divergence check over a 100-step conversation.
func BenchmarkRecordedOverhead(b *testing.B) {
	req := benchConversation(100)
	run := &trace.Run{}
	for range 2 {
		run.Steps = append(run.Steps, llmStep(&trace.LLMCall{Output: assistant(toolCall("call_0099", "tool_3", `{}`))}))
	}
	run.Steps = append(run.Steps, toolStep(&trace.ToolCall{CallID: "call_0099", Name: "tool_3", Output: req.Messages[len(req.Messages)-1].Parts[0].Text}))
	times := make([]time.Duration, 0, b.N)
	for range b.N {
		rec := NewRecorded(run)
		rec.Complete(context.Background(), req)
		start := time.Now()
		if _, err := rec.Complete(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
		if len(rec.Divergences()) != 0 {
			b.Fatal(rec.Divergences())
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e6, "ms/op-p50")
}

func mustMarshal(b *testing.B, req Request) []byte {
	cr, err := chatRequest(req)
	if err != nil {
		b.Fatal(err)
	}
	data, err := json.Marshal(cr)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
