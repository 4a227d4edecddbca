package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/fakemodel"
	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
)

const (
	benchSteps    = 10
	benchLatency  = 100 * time.Millisecond
	benchParallel = 8
)

// benchTrace is a run of benchSteps model calls: benchSteps-1 of them call
// a tool of the agent's own (answered from the recording), the last one
// answers.
func benchTrace(i int) *trace.Run {
	r := &trace.Run{Meta: trace.RunMeta{Agent: "bench", StartedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}}
	r.Steps = append(r.Steps, trace.Step{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: fmt.Sprintf("case %d: look up the keys", i)}}}})
	for s := 0; s < benchSteps-1; s++ {
		id := fmt.Sprintf("call_%d", s)
		args := json.RawMessage(fmt.Sprintf(`{"key":"k%d"}`, s))
		r.Steps = append(r.Steps,
			trace.Step{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "bench-model", LatencyMS: benchLatency.Milliseconds(),
				Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: id, Name: "lookup", Arguments: args}}},
				Usage:  &trace.Usage{Input: 500, Output: 20}}},
			trace.Step{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: id, Name: "lookup", Arguments: args, Status: trace.ToolOK, Output: fmt.Sprintf("value %d", s)}})
	}
	r.Steps = append(r.Steps, trace.Step{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "bench-model", LatencyMS: benchLatency.Milliseconds(),
		Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartText, Text: "done"}}}, Usage: &trace.Usage{Input: 600, Output: 5}}})
	r.Outcome = &trace.Outcome{Status: trace.StatusOK, Final: "done"}
	return r
}

// slowModel answers like the trace, each answer after benchLatency.
func slowModel(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var answers []fakemodel.Answer
	for s := 0; s < benchSteps-1; s++ {
		answers = append(answers, fakemodel.Answer{ToolCalls: []fakemodel.ToolCall{{Name: "lookup", Arguments: json.RawMessage(fmt.Sprintf(`{"key":"k%d"}`, s))}}})
	}
	answers = append(answers, fakemodel.Answer{Content: "done"})
	fake := &fakemodel.Server{Script: fakemodel.Script{{Match: "", Answers: answers}}}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(benchLatency)
		n.Add(1)
		fake.ServeHTTP(w, r)
	}))
	b.Cleanup(srv.Close)
	return srv, &n
}

func benchSuite(b *testing.B, dir string, cases int) *Suite {
	s := &Suite{Name: "bench", Dir: dir}
	for i := 0; i < cases; i++ {
		p := filepath.Join(dir, fmt.Sprintf("t%d.jsonl", i))
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := trace.Encode(f, benchTrace(i)); err != nil {
			b.Fatal(err)
		}
		f.Close()
		c := &Case{ID: fmt.Sprintf("case-%03d", i), Trace: TraceRef{Path: filepath.Base(p)}, Dir: dir, Expect: Expect{MaxSteps: benchSteps}}
		s.Cases = append(s.Cases, c)
	}
	return s
}

// baseline: the same number of requests to the same server, benchParallel
// at a time, nothing else: what a suite would take if replay cost nothing.
func baseline(b *testing.B, url string, cases int) time.Duration {
	jobs := make(chan int)
	var wg sync.WaitGroup
	body := `{"model":"bench-model","messages":[{"role":"user","content":"x"}]}`
	t0 := time.Now()
	for w := 0; w < benchParallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				for s := 0; s < benchSteps; s++ {
					resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
				}
			}
		}()
	}
	for i := 0; i < cases; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return time.Since(t0)
}

// BenchmarkEvalBatch runs suites of 50 and 200 cases of benchSteps model
// calls each against a local OpenAI-compatible server that answers in
// 100 ms, --parallel 8, through the real session (store, engine, model
// client, results file; no sandbox: the agent's tool is answered from the
// recording), and reports the wall time against a baseline measured in
// the same run (the same requests, 8 at a time, nothing else) and the peak
// heap of each size: it must stay flat as the batch grows.
func BenchmarkEvalBatch(b *testing.B) {
	for _, cases := range []int{50, 200} {
		b.Run(fmt.Sprintf("cases=%d", cases), func(b *testing.B) {
			srv, served := slowModel(b)
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				suite := benchSuite(b, dir, cases)
				st, err := store.Open(context.Background(), filepath.Join(dir, "home"), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				sess := &replay.Session{Store: st, Log: ioDiscard{}, Models: func(base string) (model.Model, error) {
					return model.New(model.Config{BaseURL: srv.URL + "/v1"})
				}}
				plan, err := NewPlan(suite, PlanOptions{})
				if err != nil {
					b.Fatal(err)
				}
				rf, _, err := CreateResults(filepath.Join(dir, "results.jsonl"), Header{Suite: "bench", Cells: len(plan.Cells)})
				if err != nil {
					b.Fatal(err)
				}
				r := &Runner{Replayer: sess, Runs: st, Parallel: benchParallel, Results: rf,
					Base: replay.Request{MaxSteps: 50, Policies: map[string]replay.Policy{"lookup": replay.Recorded}}}
				runtime.GC()
				peak := samplePeakHeap()
				served.Store(0)
				t0 := time.Now()
				recs, err := r.Run(context.Background(), plan, nil)
				elapsed := time.Since(t0)
				heap := peak()
				rf.Close()
				st.Close()
				if err != nil {
					b.Fatal(err)
				}
				for _, rec := range recs {
					if rec.Status != Pass {
						b.Fatalf("cell %+v: %s %s %v", rec.Key, rec.Status, rec.Error, rec.Failures)
					}
				}
				if got := served.Load(); got != int64(cases*benchSteps) {
					b.Fatalf("%d model requests, want %d", got, cases*benchSteps)
				}
				base := baseline(b, srv.URL, cases)
				ideal := time.Duration(cases*benchSteps) * benchLatency / benchParallel
				b.ReportMetric(elapsed.Seconds(), "s/suite")
				b.ReportMetric(float64(elapsed)/float64(base), "x_baseline")
				b.ReportMetric(float64(elapsed)/float64(ideal), "x_ideal")
				b.ReportMetric(float64(heap)/(1<<20), "peak_heap_MB")
			}
		})
	}
}

// samplePeakHeap samples the heap in use until the returned func is
// called, which returns the peak.
func samplePeakHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }
