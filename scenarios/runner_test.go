package scenarios

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
)

// fakeReplayer answers every replay with a run deciding "approve" that
// cost what the original's calls cost, counting how many run at once.
type fakeReplayer struct {
	mu      sync.Mutex
	runs    map[string]*trace.Run
	active  atomic.Int32
	maxSeen atomic.Int32
	calls   atomic.Int32
	cancel  func() // called at the n-th replay (an interrupt)
	at      int32
	fail    map[string]error // case trace path -> error
}

func (f *fakeReplayer) Replay(ctx context.Context, req replay.Request) (*replay.Result, error) {
	n := f.active.Add(1)
	defer f.active.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	k := f.calls.Add(1)
	time.Sleep(5 * time.Millisecond) // long enough for the others to start
	if f.cancel != nil && k == f.at {
		f.cancel()
		return nil, ctx.Err()
	}
	if err := f.fail[req.Trace]; err != nil {
		return nil, err
	}
	id := fmt.Sprintf("run-%d", k)
	r := &trace.Run{Outcome: &trace.Outcome{Status: "ok", Decision: &trace.Decision{Value: []byte(`{"action":"approve"}`)}},
		Steps: []trace.Step{{Kind: trace.KindLLM, LLM: &trace.LLMCall{Cost: trace.Cost{Priced: trace.Float(1)}}}}}
	f.mu.Lock()
	f.runs[id] = r
	f.mu.Unlock()
	return &replay.Result{ID: id, Orig: run(`{"action":"approve"}`)}, nil
}

func (f *fakeReplayer) Run(ctx context.Context, id string) (*trace.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[id], nil
}

// costlyOriginal: each case's original made one call that cost $1.
func costlyOriginal(context.Context, *Case) (*trace.Run, error) {
	return &trace.Run{Steps: []trace.Step{{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m", Usage: &trace.Usage{Input: 10}, Cost: trace.Cost{Priced: trace.Float(1)}}}}}, nil
}

func cases(n int) *Suite {
	s := &Suite{Name: "s"}
	for i := 0; i < n; i++ {
		s.Cases = append(s.Cases, &Case{ID: fmt.Sprintf("c%d", i), Trace: TraceRef{Path: fmt.Sprintf("t%d", i)}, Dir: "/suite", Expect: Expect{Decision: ExpectOriginal}})
	}
	return s
}

func TestRunnerBoundsParallelismAndWritesEveryCell(t *testing.T) {
	f := &fakeReplayer{runs: map[string]*trace.Run{}}
	p, _ := NewPlan(cases(12), PlanOptions{Repeat: 2})
	rf, _, _ := CreateResults(filepath.Join(t.TempDir(), "r.jsonl"), Header{Suite: "s"})
	r := &Runner{Replayer: f, Runs: f, Parallel: 3, Results: rf, Originals: costlyOriginal}
	recs, err := r.Run(context.Background(), p, nil)
	rf.Close()
	if err != nil || len(recs) != 24 {
		t.Fatalf("%v, %d records", err, len(recs))
	}
	if m := f.maxSeen.Load(); m > 3 || m < 2 {
		t.Errorf("%d replays at once with --parallel 3", m)
	}
	_, written, _ := ReadResults(rf.Path)
	if len(written) != 24 {
		t.Errorf("%d cells in the results file, want 24", len(written))
	}
	for i, rec := range recs {
		if rec.Key != p.Cells[i].Key() || rec.Status != Pass {
			t.Errorf("record %d %+v, want %+v passing (records in plan order)", i, rec.Key, p.Cells[i].Key())
		}
	}
}

func TestRunnerBudgets(t *testing.T) {
	f := &fakeReplayer{runs: map[string]*trace.Run{}}
	p, _ := NewPlan(cases(10), PlanOptions{})
	r := &Runner{Replayer: f, Runs: f, Parallel: 1, Originals: costlyOriginal, MaxCostUSD: 5}
	_, err := r.Run(context.Background(), p, nil)
	var be *BudgetError
	if !errors.As(err, &be) || f.calls.Load() != 0 || be.Remaining != 10 {
		t.Fatalf("estimate $10 over --max-cost $5: %v, %d replays made", err, f.calls.Load())
	}
	// The finished cells do not count: 6 of 10 done, $4 left to spend.
	done := map[Key]Record{}
	for _, c := range p.Cells[:6] {
		done[c.Key()] = Record{Key: c.Key(), Status: Pass}
	}
	recs, err := r.Run(context.Background(), p, done)
	if err != nil || f.calls.Load() != 4 || len(recs) != 10 {
		t.Fatalf("resume within the budget: %v, %d replays, %d records", err, f.calls.Load(), len(recs))
	}
}

func TestRunnerErrorsAndInterrupts(t *testing.T) {
	f := &fakeReplayer{runs: map[string]*trace.Run{}, fail: map[string]error{"/suite/t1": errors.New("rebuild the world: no such bundle")}}
	p, _ := NewPlan(cases(3), PlanOptions{})
	r := &Runner{Replayer: f, Runs: f, Parallel: 1, Originals: costlyOriginal}
	recs, err := r.Run(context.Background(), p, nil)
	if err != nil || recs[1].Status != Error || recs[1].Error != "rebuild the world: no such bundle" || recs[0].Status != Pass || recs[2].Status != Pass {
		t.Fatalf("%v %+v", err, recs)
	}
	// An interrupt: the cell it cut is no result, the rest never start.
	ctx, cancel := context.WithCancel(context.Background())
	f2 := &fakeReplayer{runs: map[string]*trace.Run{}, cancel: cancel, at: 2}
	rf, _, _ := CreateResults(filepath.Join(t.TempDir(), "r.jsonl"), Header{Suite: "s"})
	r = &Runner{Replayer: f2, Runs: f2, Parallel: 1, Originals: costlyOriginal, Results: rf}
	recs, err = r.Run(ctx, p, nil)
	rf.Close()
	if !errors.Is(err, context.Canceled) || recs[0].Status != Pass || recs[1].Status != Skipped || recs[2].Status != Skipped {
		t.Fatalf("interrupt: %v %+v", err, recs)
	}
	if _, written, _ := ReadResults(rf.Path); len(written) != 1 {
		t.Errorf("%d cells written, want only the one that finished", len(written))
	}
}

// TestRequestFromCell: what a cell asks the session for.
func TestRequestFromCell(t *testing.T) {
	c := &Case{ID: "c", Dir: "/suite/cases", Trace: TraceRef{Path: "../traces/t.jsonl"}, Fork: &Fork{FromStep: 4},
		World: World{Repo: "acme/widgets", Commit: "072bdd28f8409b602018042d087e7b7fa184dc79", GitHub: "../worlds/c/github"}}
	temp := 0.0
	v := Variant{Name: "v2", Model: "m", SystemFile: "prompts/v2.md", Prompts: map[string]string{"security": "acme/prompts@v2:sec.md"}, Temperature: &temp,
		ToolPolicy: map[string]string{"Bash": "deny"}}.WithDir("/suite/cases")
	r := &Runner{Base: replay.Request{MaxSteps: 40, Policies: map[string]replay.Policy{"Task": replay.Recorded}}}
	req := r.Request(Cell{Case: c, Variant: v, VariantHash: v.Hash(), Repeat: 3})
	if req.Trace != "/suite/traces/t.jsonl" || req.Mode != replay.ModeRun || req.Sample != 3 || req.MaxSteps != 40 {
		t.Errorf("request %+v", req)
	}
	if req.Fetch.Repo != "acme/widgets" || req.Fetch.CommitSearch != "off" || req.Fetch.GitHubFixture != "/suite/worlds/c/github" {
		t.Errorf("world %+v", req.Fetch)
	}
	if req.Variant.SystemFile != "/suite/cases/prompts/v2.md" || req.Variant.Prompts["security"] != "acme/prompts@v2:sec.md" || req.Variant.FromStep != 4 || *req.Variant.Params.Temperature != 0 {
		t.Errorf("variant %+v", req.Variant)
	}
	if req.Policies["Bash"] != replay.Deny || req.Policies["Task"] != replay.Recorded {
		t.Errorf("policies %v", req.Policies)
	}
}
