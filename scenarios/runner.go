package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/agentreplay/replay/diff"
	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
)

// Replayer makes one replay (a replay.Session).
type Replayer interface {
	Replay(ctx context.Context, req replay.Request) (*replay.Result, error)
}

// RunLoader reads a stored run (the store).
type RunLoader interface {
	Run(ctx context.Context, id string) (*trace.Run, error)
}

// Runner runs a plan's cells.
type Runner struct {
	Replayer Replayer
	Runs     RunLoader
	// Base is what every cell's request starts from: the image, the
	// executor, the limits of one run, the policies of the command line.
	Base replay.Request
	// BaseURL is the endpoint of variants that name none ($OPENAI_BASE_URL
	// at the command line; "" is OpenAI's).
	BaseURL  string
	Parallel int
	Pricer   trace.Pricer
	Results  *ResultsFile
	// MaxCostUSD and MaxTime bound the whole suite: checked against the
	// estimate of the remaining cells before anything runs, then before
	// each cell starts (cells past the budget are skipped).
	MaxCostUSD float64
	MaxTime    time.Duration
	// Originals reads a case's original run for the estimates (nil: the
	// case's trace file is read).
	Originals func(ctx context.Context, c *Case) (*trace.Run, error)
	// Progress is called as each cell ends, in order of ending.
	Progress func(done, total int, r Record)
	Now      func() time.Time
}

// Estimate is what the remaining cells are expected to cost, from the
// originals' steps that each cell will ask the model again (those from the
// fork step on).
type Estimate struct {
	Cells    int                  `json:"cells"`
	Tokens   int64                `json:"tokens"`
	CostUSD  float64              `json:"cost_usd"`
	Duration time.Duration        `json:"duration_ns"` // wall time at the planned parallelism
	Unpriced int                  `json:"unpriced_cells,omitempty"`
	PerCell  map[Key]CellEstimate `json:"-"`
}

// CellEstimate is one cell's part.
type CellEstimate struct {
	Tokens   int64
	CostUSD  float64
	Duration time.Duration
}

// BudgetError says the estimate exceeds a budget before anything ran.
type BudgetError struct {
	What      string // "--max-cost" or "--max-time"
	Estimate  string
	Budget    string
	Remaining int
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("%s %s: the %d remaining cells are estimated at %s: nothing was run (raise the budget, or run a part: --shard, --case, --repeat)", e.What, e.Budget, e.Remaining, e.Estimate)
}

// Estimate prices the cells that are not done.
func (r *Runner) Estimate(ctx context.Context, p *Plan, done map[Key]Record) (*Estimate, error) {
	est := &Estimate{PerCell: map[Key]CellEstimate{}}
	origs := map[string]*trace.Run{}
	var serial time.Duration
	for _, c := range p.Cells {
		if _, ok := done[c.Key()]; ok {
			continue
		}
		o, ok := origs[c.Case.ID]
		if !ok {
			var err error
			o, err = r.original(ctx, c.Case)
			if err != nil {
				return nil, err
			}
			origs[c.Case.ID] = o
		}
		ce, priced := r.cellEstimate(o, c)
		if !priced {
			est.Unpriced++
		}
		est.PerCell[c.Key()] = ce
		est.Cells++
		est.Tokens += ce.Tokens
		est.CostUSD += ce.CostUSD
		serial += ce.Duration
	}
	est.Duration = serial / time.Duration(max(r.Parallel, 1))
	return est, nil
}

func (r *Runner) original(ctx context.Context, c *Case) (*trace.Run, error) {
	if r.Originals != nil {
		return r.Originals(ctx, c)
	}
	f, err := os.Open(c.TracePath())
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.ID, err)
	}
	defer f.Close()
	run, err := trace.DecodeRun(ctx, f, c.TracePath())
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.ID, err)
	}
	return run, nil
}

// cellEstimate: the original's model calls from the fork step on, priced
// for the variant's model where the table knows it, else at the recorded
// or priced cost of the original calls.
func (r *Runner) cellEstimate(o *trace.Run, c Cell) (CellEstimate, bool) {
	var ce CellEstimate
	priced := true
	from := 0
	if c.Case.Fork != nil {
		from = c.Case.Fork.FromStep
	}
	o.Walk(func(x *trace.Run) {
		for i, s := range x.Steps {
			if x == o && i+1 < from {
				continue
			}
			switch {
			case s.LLM != nil && !s.LLM.Synthetic:
				ce.Duration += time.Duration(s.LLM.LatencyMS) * time.Millisecond
				if s.LLM.Usage == nil {
					priced = false
					continue
				}
				u := *s.LLM.Usage
				ce.Tokens += u.Input + u.Output + u.CacheRead + u.CacheWrite
				model := c.Variant.Model
				if model == "" {
					model = s.LLM.Model
				}
				if usd, ok := r.price(model, u); ok {
					ce.CostUSD += usd
				} else if usd := stepCost(s.LLM, r.Pricer); usd > 0 {
					ce.CostUSD += usd
				} else {
					priced = false
				}
			case s.Tool != nil:
				ce.Duration += time.Duration(s.Tool.DurationMS) * time.Millisecond
			}
		}
	})
	return ce, priced
}

func (r *Runner) price(model string, u trace.Usage) (float64, bool) {
	if r.Pricer == nil || model == "" {
		return 0, false
	}
	return r.Pricer.Price(model, u)
}

// Run runs the plan's cells that are not in done, at most Parallel at a
// time, each written to the results file as it ends. It returns every
// record of the plan (done ones included) plus a skipped record for each
// cell a budget or an interrupt left out. An interrupt (ctx) stops
// starting cells; the running ones end as the context tells them.
func (r *Runner) Run(ctx context.Context, p *Plan, done map[Key]Record) ([]Record, error) {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	est, err := r.Estimate(ctx, p, done)
	if err != nil {
		return nil, err
	}
	if r.MaxCostUSD > 0 && est.CostUSD > r.MaxCostUSD {
		return nil, &BudgetError{What: "--max-cost", Budget: fmt.Sprintf("$%.2f", r.MaxCostUSD), Estimate: fmt.Sprintf("$%.2f", est.CostUSD), Remaining: est.Cells}
	}
	if r.MaxTime > 0 && est.Duration > r.MaxTime {
		return nil, &BudgetError{What: "--max-time", Budget: r.MaxTime.String(), Estimate: est.Duration.Round(time.Second).String(), Remaining: est.Cells}
	}
	start := now()
	var (
		mu      sync.Mutex
		spent   float64
		out     []Record
		ended   int
		failErr error
	)
	for _, c := range p.Cells {
		if rec, ok := done[c.Key()]; ok {
			out = append(out, rec)
		}
	}
	total := len(p.Cells)
	ended = len(out)
	sem := make(chan struct{}, max(r.Parallel, 1))
	var wg sync.WaitGroup
	skip := func(c Cell, why string) {
		mu.Lock()
		out = append(out, Record{Key: c.Key(), VariantName: c.Variant.Name, Status: Skipped, Error: why, At: now()})
		mu.Unlock()
	}
	for _, c := range p.Cells {
		if _, ok := done[c.Key()]; ok {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			skip(c, "interrupted before it started")
			continue
		}
		ce := est.PerCell[c.Key()]
		mu.Lock()
		overCost := r.MaxCostUSD > 0 && spent+ce.CostUSD > r.MaxCostUSD
		mu.Unlock()
		overTime := r.MaxTime > 0 && now().Sub(start)+ce.Duration/time.Duration(max(r.Parallel, 1)) > r.MaxTime
		if overCost || overTime {
			<-sem
			why := fmt.Sprintf("--max-cost $%.2f: spent so far and this cell's estimate exceed it", r.MaxCostUSD)
			if overTime {
				why = fmt.Sprintf("--max-time %s: elapsed and this cell's estimate exceed it", r.MaxTime)
			}
			skip(c, why)
			continue
		}
		wg.Add(1)
		go func(c Cell) {
			defer wg.Done()
			defer func() { <-sem }()
			rec, ok := r.runCell(ctx, c, now)
			if !ok { // interrupted: not a result; --resume runs it again
				skip(c, "interrupted")
				return
			}
			var werr error
			if r.Results != nil {
				werr = r.Results.Append(rec)
			}
			mu.Lock()
			spent += rec.CostUSD
			out = append(out, rec)
			ended++
			n := ended
			if werr != nil && failErr == nil {
				failErr = werr
			}
			mu.Unlock()
			if r.Progress != nil {
				r.Progress(n, total, rec)
			}
		}(c)
	}
	wg.Wait()
	order := map[Key]int{}
	for i, c := range p.Cells {
		order[c.Key()] = i
	}
	slices.SortStableFunc(out, func(a, b Record) int { return order[a.Key] - order[b.Key] })
	if failErr != nil {
		return out, failErr
	}
	return out, ctx.Err()
}

// Request is the replay a cell makes.
func (r *Runner) Request(c Cell) replay.Request {
	req := r.Base
	req.Trace = c.Case.TracePath()
	req.Format = ""
	req.Mode = replay.ModeRun
	req.Sample = c.Variant.SampleOffset + c.Repeat
	req.Repeat = 1
	w := c.Case.World
	if w.Repo != "" {
		repo := w.Repo
		if p := resolvePath(c.Case.Dir, repo); p != repo {
			if _, err := os.Stat(p); err == nil {
				repo = p
			}
		}
		req.Fetch.Repo = repo
	}
	if w.Commit != "" {
		req.Fetch.Commit = w.Commit
		req.Fetch.CommitSearch = "off"
	}
	if w.GitHub != "" {
		req.Fetch.GitHubFixture = resolvePath(c.Case.Dir, w.GitHub)
	}
	v := c.Variant
	rv := replay.Variant{Model: v.Model, BaseURL: v.BaseURL}
	if rv.BaseURL == "" {
		rv.BaseURL = r.BaseURL
	}
	if v.SystemFile != "" {
		rv.SystemFile = v.promptPath(v.SystemFile)
	}
	for name, f := range v.Prompts {
		if rv.Prompts == nil {
			rv.Prompts = map[string]string{}
		}
		rv.Prompts[name] = v.promptPath(f)
	}
	for _, f := range v.Context {
		rv.AddContext = append(rv.AddContext, resolvePath(v.dir, f))
	}
	rv.Params = trace.Params{Temperature: v.Temperature, TopP: v.TopP, MaxTokens: v.MaxTokens, Seed: v.Seed}
	if c.Case.Fork != nil {
		rv.FromStep = c.Case.Fork.FromStep
	}
	req.Variant = rv
	if len(v.ToolPolicy) > 0 {
		pol := map[string]replay.Policy{}
		for k, p := range r.Base.Policies {
			pol[k] = p
		}
		for k, p := range v.ToolPolicy {
			pol[k] = replay.Policy(p)
		}
		req.Policies = pol
	}
	return req
}

func (v Variant) promptPath(p string) string {
	if isGitRef(p) {
		return p
	}
	return resolvePath(v.dir, p)
}

// runCell makes one replay and checks it. ok is false when the context
// ended it (an interrupt): that is no result.
func (r *Runner) runCell(ctx context.Context, c Cell, now func() time.Time) (Record, bool) {
	rec := Record{Key: c.Key(), VariantName: c.Variant.Name}
	t0 := now()
	res, err := r.Replayer.Replay(ctx, r.Request(c))
	rec.DurationMS = now().Sub(t0).Milliseconds()
	rec.At = now().UTC()
	if ctx.Err() != nil {
		return rec, false
	}
	var stop *replay.StopError
	limit := errors.As(err, &stop) && (stop.Reason == "max-steps" || stop.Reason == "max-cost")
	if res != nil {
		rec.Run, rec.Original = res.ID, res.Original.ID
	}
	if err != nil && !limit {
		rec.Status, rec.Error = Error, err.Error()
		return rec, true
	}
	newRun, lerr := r.Runs.Run(ctx, res.ID)
	if lerr != nil {
		rec.Status, rec.Error = Error, fmt.Sprintf("read the new run %s: %v", res.ID, lerr)
		return rec, true
	}
	o := Observe(newRun, r.Pricer)
	rec.Steps, rec.CostUSD = o.Steps, o.CostUSD
	rec.Decision = label(o.Decision)
	newRun.Walk(func(x *trace.Run) {
		for _, s := range x.Steps {
			if s.LLM != nil && s.LLM.Usage != nil {
				rec.Tokens.Add(*s.LLM.Usage)
			}
		}
	})
	rec.Failures = c.Case.Check(newRun, res.Orig, r.Pricer)
	rec.NotChecked = c.Case.NotChecked()
	if limit {
		rec.Failures = append([]Failure{{Expect: "limit", Msg: "the run " + stop.Error()}}, rec.Failures...)
	}
	rec.Status = Pass
	if len(rec.Failures) > 0 {
		rec.Status = Fail
		if res.Orig != nil {
			rep := diff.Runs(res.Orig, newRun, diff.Options{Pricer: r.Pricer})
			if f := rep.Verdict.First; f != nil {
				rec.Divergence = fmt.Sprintf("step %d: %s", f.Step, f.What)
			}
		}
	}
	return rec, true
}
