package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/feedback"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/scenarios"
	"github.com/agentreplay/replay/scenarios/harness"
)

func newEvalCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Turn traces into regression suites and run them: export, run, merge",
		Long: `An eval suite is a directory of cases made from traces. A case replays its
trace in the world it ran in (the commit, the pull request as it was, packed
into the suite with --bundle so that it runs offline) with each variant under
test, and checks what every run must do: decide as the human did (the label
comes from feedback: an override, a revert, a manual fix, a confirmation),
decide as the original did, satisfy a CEL predicate, use or never use a tool,
stay under a number of steps or a cost.

  replay eval export <traces>… -o suite/     traces with feedback become cases
  replay eval run suite/ --model gpt-4o-mini   every case, with that model
  replay eval merge results-shard-*.jsonl      join a sharded run
  replay eval runner --workspace {workspace} …  agent-eval-harness's CLI runner

Suite layout: suite.yaml (name, default repeat, gate, variants), cases/*.yaml
(one case each), traces/ and worlds/ (what export pinned). Every field is in
the JSON Schema: replay eval schema.`,
		Example: `  # Runs a human overrode become a suite; run it with a candidate prompt
  replay eval export --agent review --since 30d --overridden --bundle -o evals/review
  replay eval run evals/review --system-file prompts/review-v2.md --repeat 3 --junit junit.xml

  # In CI: four shards in parallel, then one report
  replay eval run evals/review --shard 2/4 --results out/shard-2.jsonl
  replay eval merge out/shard-*.jsonl --junit junit.xml --md summary.md`,
	}
	cmd.AddCommand(newEvalExportCmd(g, nil), newEvalRunCmd(g, nil), newEvalMergeCmd(g, nil), newEvalSchemaCmd(g), newEvalRunnerCmd(g, nil))
	return cmd
}

func newEvalSchemaCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of suite and case files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := g.env.Stdout.Write(scenarios.Schema)
			return err
		},
	}
}

// export

type evalExportOptions struct {
	*globals
	worldFlags
	Targets    []string
	Out        string
	Agent      string
	Repo       string
	Since      string
	Overridden bool
	Bundle     bool
	Unlabeled  string
	Critical   bool
	Repeat     int
	Name       string
	Feedback   []string
	// OutFormat is what is written: a replay suite or an
	// agent-eval-harness eval (--format); the trace format of paths is
	// --trace-format here.
	OutFormat   string
	TraceFormat string
	Now         func() time.Time
}

func newEvalExportCmd(g *globals, runF func(context.Context, *evalExportOptions) error) *cobra.Command {
	if runF == nil {
		runF = runEvalExport
	}
	opts := &evalExportOptions{globals: g, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "export [<trace>…] -o DIR",
		Short: "Make eval cases from traces with human feedback, their worlds pinned",
		Long: `Export writes a case for every given trace (a path, a stored id or prefix) and
every stored original the query selects (--agent, --repo, --since,
--overridden). The case's label comes from the latest human act on the run
(feedback events in the trace, or those --feedback FILE attaches):

  override with a decision   the new run must decide as the human did
  override, revert, fix      the new run must not decide as the original did
  confirm                    the new run must decide as the original did

Runs without feedback are skipped (--unlabeled original makes their own
decision the expectation). The world is pinned now: the commit resolved to a
full SHA, the pull request or issue saved as GitHub REST files under
worlds/ID/github, and with --bundle the commit packed into worlds/ID.bundle,
so that the suite replays the same way next month, offline. Exporting a run
again rewrites its case (its id is stable); edit the expectations freely.

--format agent-eval-harness writes the suite as an agent-eval-harness eval
instead: eval.yaml (its runner is replay eval runner) and cases/ID/ with
input.yaml (the fixture and the trace's hash), annotations.yaml (the human's
decision as the expected state, labels and review decision; the original's
turns and cost with headroom), repo/repo.bundle, trace.jsonl and github/.`,
		Example: `  replay eval export 5ef49dd6 -o evals/review
  replay eval export --agent review --since 30d --overridden --bundle -o evals/review
  replay eval export run.jsonl --repo acme/widgets --unlabeled original -o evals/smoke

  # An agent-eval-harness eval whose runner is replay eval runner
  replay eval export --feedback overrides.jsonl --format agent-eval-harness -o eval/review-replays`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Targets = args
			return runF(cmd.Context(), opts)
		},
	}
	opts.worldFlags.bind(cmd, true)
	fl := cmd.Flags()
	// --format is the output's format here (the spelling the harness's
	// docs use); a trace path's format is --trace-format.
	if f := fl.Lookup("format"); f != nil {
		f.Usage = "write `FORMAT`: replay (a suite: suite.yaml, cases/*.yaml) or agent-eval-harness (eval.yaml and a directory per case for the harness's CLI runner; implies --bundle)"
		f.DefValue = ""
	}
	fl.StringVar(&opts.TraceFormat, "trace-format", "", "read a trace path as `FORMAT` instead of detecting it")
	fl.StringVarP(&opts.Out, "output", "o", "", "write the suite to `DIR` (created, or added to)")
	fl.StringVar(&opts.Agent, "agent", "", "select the stored originals of agent `NAME`")
	fl.StringVar(&opts.Repo, "repo-filter", "", "select the stored originals of repository `REPO` (owner/name)")
	fl.StringVar(&opts.Since, "since", "", "select the stored originals started since `WHEN` (30m, 12h, 7d, 2w, or a date)")
	fl.BoolVar(&opts.Overridden, "overridden", false, "select only runs a human overrode, reverted or fixed")
	fl.BoolVar(&opts.Bundle, "bundle", false, "pack each case's commit into the suite (worlds/ID.bundle) so that it replays without the repository")
	fl.StringVar(&opts.Unlabeled, "unlabeled", "skip", "what becomes of a run without feedback: skip, or original (its decision is the expectation)")
	fl.BoolVar(&opts.Critical, "critical", false, "mark the cases critical (every repeat must pass)")
	fl.IntVar(&opts.Repeat, "repeat", 0, "the suite's default repeat count (written to a new suite.yaml)")
	fl.StringVar(&opts.Name, "name", "", "the suite's name (default: the directory's)")
	fl.StringArrayVar(&opts.Feedback, "feedback", nil, "attach the human acts of feedback `FILE` (JSONL: replay feedback --help) first; without traces or a query, export the runs it names (repeatable)")
	return cmd
}

func runEvalExport(ctx context.Context, opts *evalExportOptions) error {
	if opts.Out == "" {
		return usage(errors.New("eval export: give the suite's directory with -o DIR"))
	}
	switch opts.Format {
	case "", scenarios.FormatNative, scenarios.FormatHarness:
		opts.OutFormat = opts.Format
	default:
		// A trace format, as --format meant here before it named the
		// output's.
		if !slices.Contains(importers.Names(), opts.Format) {
			return usage(fmt.Errorf("eval export --format %q: want %s or %s (a trace path's format is --trace-format)", opts.Format, scenarios.FormatNative, scenarios.FormatHarness))
		}
		fmt.Fprintf(opts.env.Stderr, "eval export: --format %s reads the traces as %s; --trace-format says so (--format names the output's format)\n", opts.Format, opts.Format)
		opts.TraceFormat = opts.Format
	}
	opts.Format = opts.TraceFormat
	query := opts.Agent != "" || opts.Repo != "" || opts.Since != "" || opts.Overridden
	if len(opts.Targets) == 0 && !query && len(opts.Feedback) == 0 {
		return usage(errors.New("eval export: name traces (paths or stored ids), select stored runs with --agent, --repo-filter, --since or --overridden, or give --feedback FILE (the runs it names)"))
	}
	// Feedback files are read whole before anything is attached: a bad
	// line attaches nothing.
	var entries []feedback.Entry
	var ferrs []error
	for _, name := range opts.Feedback {
		es, err := feedback.ReadFile(name)
		if err != nil {
			ferrs = append(ferrs, err)
			continue
		}
		entries = append(entries, es...)
	}
	if len(ferrs) > 0 {
		return usage(fmt.Errorf("eval export: bad feedback file, nothing exported:\n%w", errors.Join(ferrs...)))
	}
	if opts.Unlabeled != "skip" && opts.Unlabeled != "original" {
		return usage(fmt.Errorf("--unlabeled %q: want skip or original", opts.Unlabeled))
	}
	fetch, err := opts.fetchOptions()
	if err != nil {
		return err
	}
	pricing, err := opts.pricing()
	if err != nil {
		return err
	}
	st, err := opts.openStore(ctx, pricing)
	if err != nil {
		return err
	}
	defer st.Close()
	var ids []string
	seen := map[string]bool{}
	addID := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, t := range opts.Targets {
		e, err := st.ResolveAs(ctx, "eval export", t, store.ResolveOptions{Import: true, Format: opts.Format, Lenient: opts.Lenient})
		if err != nil {
			return err
		}
		addID(e.ID)
	}
	if len(entries) > 0 {
		frep, err := feedback.Attach(ctx, st, entries)
		if err != nil {
			return err
		}
		for _, l := range frep.Lines {
			if l.Problem != "" {
				fmt.Fprintf(opts.env.Stderr, "%s: %s: %s\n", strings.TrimPrefix(l.Source, "file:"), l.Trace, l.Problem)
				continue
			}
			if len(opts.Targets) == 0 && !query {
				for _, id := range l.Runs {
					addID(id)
				}
			}
		}
		fmt.Fprintf(opts.env.Stderr, "feedback: %d act(s) newly attached, %d line(s) matched no stored run\n", frep.Added, frep.Unmatched)
	}
	if opts.Agent != "" || opts.Repo != "" || opts.Since != "" || (opts.Overridden && len(opts.Targets) == 0) {
		f := store.Filter{Agent: opts.Agent, Repo: opts.Repo, Kind: store.Originals, Overridden: opts.Overridden}
		if opts.Since != "" {
			if f.Since, err = parseSince(opts.Since, opts.Now()); err != nil {
				return err
			}
		}
		es, err := st.List(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range es {
			addID(e.ID)
		}
	}
	var inputs []scenarios.ExportInput
	for _, id := range ids {
		run, err := st.Run(ctx, id)
		if err != nil {
			return err
		}
		if opts.Overridden && !overridden(run.Feedback) {
			continue
		}
		sum, err := st.Summary(ctx, id)
		if err != nil {
			return err
		}
		inputs = append(inputs, scenarios.ExportInput{ID: id, Summary: sum, Run: run})
	}
	if len(inputs) == 0 {
		return &exitError{code: ExitIncomplete, msg: "eval export: no run selected (an empty suite is never a pass)"}
	}
	w, err := opts.openWorld(opts.Offline)
	if err != nil {
		return err
	}
	x := &scenarios.Exporter{World: w, Fetch: fetch, Bundle: opts.Bundle, Unlabeled: opts.Unlabeled, Critical: opts.Critical,
		Repeat: opts.Repeat, Name: opts.Name, Now: opts.Now, Log: opts.env.Stderr, Format: opts.OutFormat, Pricer: pricing}
	rep, err := x.Export(ctx, opts.Out, inputs)
	if rep != nil {
		for _, s := range rep.Skipped {
			fmt.Fprintf(opts.env.Stderr, "skipped %s\n", s)
		}
	}
	if err != nil {
		return &exitError{code: ExitIncomplete, msg: err.Error()}
	}
	if opts.OutFormat == scenarios.FormatHarness {
		for _, c := range rep.Cases {
			fmt.Fprintln(opts.env.Stdout, filepath.Join(opts.Out, c))
		}
		fmt.Fprintf(opts.env.Stderr, "%d case(s) and %s in %s; run them with the harness (its runner is replay eval runner), or with: replay eval run %s\n", len(rep.Cases), harness.EvalFile, opts.Out, opts.Out)
		return nil
	}
	for _, c := range rep.Cases {
		fmt.Fprintln(opts.env.Stdout, filepath.Join(opts.Out, scenarios.CasesDir, c+".yaml"))
	}
	fmt.Fprintf(opts.env.Stderr, "%d case(s) in %s; run them with: replay eval run %s\n", len(rep.Cases), opts.Out, opts.Out)
	return nil
}

func overridden(fb []trace.Feedback) bool {
	for _, f := range fb {
		if f.Human == trace.HumanOverride || f.Human == trace.HumanRevert || f.Human == trace.HumanManualFix {
			return true
		}
	}
	return false
}

// run

type evalRunOptions struct {
	runOptions
	variant     variantFlags
	Suite       string
	VariantName string
	Parallel    int
	Shard       string
	Cases       []string
	Results     string
	Resume      bool
	DryRun      bool
	MaxTime     time.Duration
	JUnit       string
	Markdown    string
	Offline     bool
}

func newEvalRunCmd(g *globals, runF func(context.Context, *evalRunOptions) error) *cobra.Command {
	if runF == nil {
		runF = runEvalRun
	}
	opts := &evalRunOptions{runOptions: runOptions{globals: g}}
	cmd := &cobra.Command{
		Use:   "run <suite-dir|file>",
		Short: "Run an eval suite: cases × variants × repeats, each a replay in its pinned world",
		Long: `Run replays every case of the suite with every variant (the suite's and the
case's, plus the one the command line's counterfactual flags make, named by
--variant-name; with none at all, the recorded model and prompts), each
--repeat times, --parallel at a time (one sandbox per run), and checks the
case's expectations on every run.

Verdicts per case and variant, over the repeats: pass (the pass rate reaches
the case's gate, default every repeat), flaky (some pass, fewer than the gate
asks), fail, error (the world, the sandbox or the endpoint failed: never a
pass, reported apart), skipped (a budget stopped the suite first),
quarantined (known failing: reported, not gating). Critical cases need every
repeat.

Results are appended, one line per finished run, to --results (default
results.jsonl in the suite, results-shard-I-of-N.jsonl for a shard); a
run's key is the case id, the variant's hash and the repeat index, and the
repeat index enters the model cache's key, so repeats are separate samples.
--resume continues an interrupted suite without redoing or duplicating a
finished run (runs that errored are run again). Without --resume an earlier
results file is kept, renamed with its time.

--max-cost and --max-time are checked against the estimate for the remaining
runs (the originals' tokens from the fork step on, priced for the variant's
model) before anything runs, then before each run starts. --dry-run prints
the plan and the estimate and runs nothing.

Reports: the table on stdout (--json: replay.eval/v1), --junit FILE, --md
FILE; under GitHub Actions the Markdown is appended to $GITHUB_STEP_SUMMARY.
Exit codes: 0 every gating case passed, 1 a case failed or is flaky, 2 a bad
suite or usage (nothing ran), 3 incomplete (errors, skipped runs, budget).`,
		Example: `  replay eval run evals/review
  replay eval run evals/review --model gpt-4o-mini --base-url http://localhost:11434/v1 --parallel 4
  replay eval run evals/review --system-file prompts/v2.md --variant-name v2 --repeat 5 --junit junit.xml
  replay eval run evals/review --dry-run --max-cost 20
  replay eval run evals/review --shard 1/4 --results out/shard-1.jsonl
  replay eval run evals/review --resume`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Suite = args[0]
			opts.set = func(name string) bool { return cmd.Flags().Changed(name) }
			return runF(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	// The counterfactual flags of replay run: the variant under test.
	opts.variant.bind(fl, false)
	fl.StringVar(&opts.VariantName, "variant-name", "cli", "the name of the variant the flags above make")
	fl.IntVar(&opts.Repeat, "repeat", 0, "run every case and variant `N` times (default: the case's, else the suite's, else 1)")
	fl.StringArrayVar(&opts.Policies, "tool-policy", nil, "answer tool `NAME=POLICY` (exec, recorded, deny) in every run (repeatable)")
	opts.bindBatch(fl)
	fl.StringVar(&opts.Shard, "shard", "", "run shard `I/N` of the cases (by a hash of the case id, stable as the suite grows)")
	fl.StringArrayVar(&opts.Cases, "case", nil, "run only the cases whose id matches `PATTERN` (* matches anything; repeatable)")
	fl.StringVar(&opts.Results, "results", "", "append results to `FILE` (default results.jsonl in the suite)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the plan and its estimate; run nothing")
	fl.BoolVar(&opts.JSON, "json", false, "print the report as JSON (replay.eval/v1)")
	fl.StringVar(&opts.JUnit, "junit", "", "write a JUnit XML report to `FILE`")
	return cmd
}

// extraVariant is the variant the command line's counterfactual flags
// make, nil when none is set.
func (opts *evalRunOptions) extraVariant() (*scenarios.Variant, error) {
	changed := opts.set
	if changed == nil {
		changed = func(string) bool { return false }
	}
	v, set, err := opts.variant.variant(opts.VariantName, changed)
	if err != nil {
		return nil, usage(err)
	}
	if !set {
		return nil, nil
	}
	if v.Name == "" || strings.ContainsAny(v.Name, " /\\") {
		return nil, usage(fmt.Errorf("--variant-name %q: want a name (letters, digits, . _ -)", v.Name))
	}
	return &v, nil
}

func runEvalRun(ctx context.Context, opts *evalRunOptions) error {
	suite, err := scenarios.Load(opts.Suite)
	if err != nil {
		return usage(fmt.Errorf("eval run: %w", err))
	}
	extra, err := opts.extraVariant()
	if err != nil {
		return err
	}
	var shard scenarios.Shard
	if opts.Shard != "" {
		if shard, err = scenarios.ParseShard(opts.Shard); err != nil {
			return usage(err)
		}
	}
	if opts.Parallel < 1 {
		return usage(fmt.Errorf("--parallel %d: want 1 or more", opts.Parallel))
	}
	plan, err := scenarios.NewPlan(suite, scenarios.PlanOptions{Extra: extra, Repeat: opts.Repeat, Shard: shard, Cases: opts.Cases})
	if err != nil {
		return usage(err)
	}
	base, err := opts.replayFlags.request("", replay.ModeRun)
	if err != nil {
		return err
	}
	resultsPath := opts.Results
	if resultsPath == "" {
		resultsPath = scenarios.DefaultResultsPath(suite, shard)
	}
	header := scenarios.Header{Suite: suite.Name, Shard: shard.String(), Cases: len(plan.Cases), Cells: len(plan.Cells)}
	recs, err := opts.runPlan(ctx, plan, base, header, resultsPath, opts.DryRun)
	if err != nil || recs == nil {
		return err
	}
	var incomplete []string
	if ctx.Err() != nil {
		incomplete = append(incomplete, "interrupted: replay eval run --resume continues it")
	}
	rep := scenarios.NewReport(suite.Name, shard, plan, recs, incomplete)
	if err := opts.writeEvalReports(rep); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rep.ExitCode != 0 {
		return &exitError{code: rep.ExitCode}
	}
	return nil
}

// runPlan is what eval run and compare share: the endpoints checked, the
// finished runs of the results file read (--resume), the plan and its
// estimate printed (dryRun; no records then), else the results file opened
// or started, the session, the cells run with a line (or a bar) each, and
// the sandboxes dead replays left removed (--resume). An interrupt returns
// the records so far with no error: the caller reports them as
// incomplete.
func (opts *evalRunOptions) runPlan(ctx context.Context, plan *scenarios.Plan, base replay.Request, header scenarios.Header, resultsPath string, dryRun bool) ([]scenarios.Record, error) {
	base.MaxSteps = opts.MaxSteps
	// Every endpoint a variant calls is checked now (a missing key), not
	// after the first world is rebuilt.
	for _, b := range endpoints(plan, opts.env.Getenv("OPENAI_BASE_URL")) {
		if _, err := opts.modelConfig(b); err != nil {
			return nil, usage(err)
		}
	}
	pricing, err := opts.pricing()
	if err != nil {
		return nil, err
	}
	runner := &scenarios.Runner{Parallel: opts.Parallel, Pricer: pricing, MaxCostUSD: opts.MaxCost, MaxTime: opts.MaxTime, Base: base,
		BaseURL: opts.env.Getenv("OPENAI_BASE_URL")}
	done := map[scenarios.Key]scenarios.Record{}
	if opts.Resume {
		if _, recs, err := scenarios.ReadResults(resultsPath); err == nil {
			for _, r := range recs {
				if r.Status == scenarios.Pass || r.Status == scenarios.Fail {
					done[r.Key] = r
				}
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, usage(err)
		}
	}
	if dryRun {
		est, err := runner.Estimate(ctx, plan, done)
		if err != nil {
			return nil, err
		}
		return nil, writePlan(opts.env.Stdout, plan, est, done, resultsPath)
	}
	header.CreatedAt = time.Now().UTC()
	var rf *scenarios.ResultsFile
	if opts.Resume {
		if _, err := os.Stat(resultsPath); err == nil {
			if rf, _, err = scenarios.OpenResults(resultsPath, header); err != nil {
				return nil, usage(err)
			}
			fmt.Fprintf(opts.env.Stderr, "resuming %s: %d of %d runs done\n", resultsPath, len(done), len(plan.Cells))
		}
	}
	if rf == nil {
		var kept string
		if rf, kept, err = scenarios.CreateResults(resultsPath, header); err != nil {
			return nil, err
		}
		if kept != "" {
			fmt.Fprintf(opts.env.Stderr, "the earlier results are kept as %s (--resume continues a results file)\n", kept)
		}
	}
	defer rf.Close()
	runner.Results = rf

	models, err := opts.models()
	if err != nil {
		return nil, err
	}
	opts.replayFlags.Offline = opts.Offline
	s, closeSession, err := opts.session(ctx, &opts.replayFlags, models)
	if err != nil {
		return nil, err
	}
	defer closeSession()
	if !opts.verbose {
		s.Log = io.Discard // one line per run below; -v for the replays' own status
	}
	runner.Replayer, runner.Runs = s, s.Store
	if opts.Resume {
		opts.pruneLeftovers(ctx)
	}
	bar := evalProgress(opts.env.Stderr, len(plan.Cells)-len(done))
	runner.Progress = func(n, total int, r scenarios.Record) {
		if bar != nil {
			bar.Add(1)
			return
		}
		line := fmt.Sprintf("[%d/%d] %s %s #%d: %s", n, total, r.Case, r.VariantName, r.Repeat+1, r.Status)
		switch {
		case r.Status == scenarios.Fail && len(r.Failures) > 0:
			line += " (" + r.Failures[0].Msg + ")"
		case r.Status == scenarios.Error:
			line += " (" + firstLineOf(r.Error) + ")"
		}
		fmt.Fprintf(opts.env.Stderr, "%s in %s\n", line, (time.Duration(r.DurationMS) * time.Millisecond).Round(100*time.Millisecond))
	}
	recs, runErr := runner.Run(ctx, plan, done)
	if bar != nil {
		bar.Finish()
	}
	if opts.Resume && ctx.Err() == nil {
		// Again at the end: a sandbox the killed process had asked for may
		// have been created after it died (the daemon finishes a create
		// its client abandoned), after the first prune.
		opts.pruneLeftovers(ctx)
	}
	fmt.Fprintf(opts.env.Stderr, "results: %s\n", resultsPath)
	var be *scenarios.BudgetError
	switch {
	case errors.As(runErr, &be):
		return nil, &exitError{code: ExitIncomplete, msg: runErr.Error()}
	case runErr != nil && ctx.Err() == nil:
		return nil, runErr
	}
	return recs, nil
}

// pruneLeftovers removes the sandboxes of replays that are gone (a suite
// killed outright leaves its running cells' sandboxes): --resume starts
// clean. Those of live replays, here or on other hosts, are kept.
func (opts *evalRunOptions) pruneLeftovers(ctx context.Context) {
	cli, err := sandbox.NewClient(ctx, sandbox.ClientOptionsFromEnv(opts.env.Getenv))
	if err != nil {
		return
	}
	defer cli.Close()
	rep, err := sandbox.Prune(ctx, cli, sandbox.PruneOptions{})
	if err != nil {
		fmt.Fprintf(opts.env.Stderr, "warning: remove the sandboxes an interrupted run left: %v (replay sandbox prune)\n", err)
		return
	}
	if n := len(rep.Containers); n > 0 {
		fmt.Fprintf(opts.env.Stderr, "removed %d sandbox(es) that replays no longer running left\n", n)
	}
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:159] + "…"
	}
	return s
}

// endpoints are the base URLs the plan's variants call.
func endpoints(p *scenarios.Plan, def string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range p.Cells {
		b := c.Variant.BaseURL
		if b == "" {
			b = def
		}
		if !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out
}

func evalProgress(w io.Writer, n int) *progressbar.ProgressBar {
	if !isTerminal(w) || n < 2 {
		return nil
	}
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("eval"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
	)
}

func writePlan(w io.Writer, p *scenarios.Plan, est *scenarios.Estimate, done map[scenarios.Key]scenarios.Record, results string) error {
	type row struct{ cells, cases int }
	per := map[string]*row{}
	var names []string
	seenCase := map[string]bool{}
	for _, c := range p.Cells {
		r := per[c.Variant.Name]
		if r == nil {
			r = &row{}
			per[c.Variant.Name] = r
			names = append(names, c.Variant.Name)
		}
		r.cells++
		if k := c.Variant.Name + "\x00" + c.Case.ID; !seenCase[k] {
			seenCase[k] = true
			r.cases++
		}
	}
	sort.Strings(names)
	fmt.Fprintf(w, "suite %s: %d case(s), %d run(s)", p.Suite.Name, len(p.Cases), len(p.Cells))
	if p.Shard.N > 1 {
		fmt.Fprintf(w, " in shard %s", p.Shard)
	}
	fmt.Fprintln(w)
	for _, n := range names {
		var flags string
		for _, c := range p.Cells {
			if c.Variant.Name == n {
				flags = c.Variant.Flags()
				break
			}
		}
		fmt.Fprintf(w, "  variant %-12s %d case(s) × repeats = %d run(s)  %s\n", n, per[n].cases, per[n].cells, flags)
	}
	if len(done) > 0 {
		fmt.Fprintf(w, "  %d run(s) already in %s (--resume)\n", len(done), results)
	}
	took := "about " + est.Duration.Round(time.Second).String()
	if est.Duration > 0 && est.Duration < time.Second {
		took = "under a second"
	}
	if est.Duration == 0 {
		took = "time unknown (the originals record no latencies)"
	}
	fmt.Fprintf(w, "estimate for the %d run(s) to make: %s tokens, $%.4f, %s\n", est.Cells, thousands(est.Tokens), est.CostUSD, took)
	if est.Unpriced > 0 {
		fmt.Fprintf(w, "  (%d run(s) have model calls the pricing table does not know or that recorded no usage: the cost is a lower bound)\n", est.Unpriced)
	}
	fmt.Fprintf(w, "results would go to %s\n", results)
	return nil
}

// writeEvalReports prints the table (or the JSON) and writes --junit,
// --md and the GitHub step summary.
func (opts *evalRunOptions) writeEvalReports(rep *scenarios.Report) error {
	return writeEvalReports(opts.globals, rep, opts.JSON, opts.JUnit, opts.Markdown)
}

func writeEvalReports(g *globals, rep *scenarios.Report, asJSON bool, junit, mdFile string) error {
	if asJSON {
		if err := rep.WriteJSON(g.env.Stdout); err != nil {
			return err
		}
	} else if err := rep.WriteText(g.env.Stdout); err != nil {
		return err
	}
	if junit != "" {
		var b bytes.Buffer
		if err := rep.WriteJUnit(&b); err != nil {
			return err
		}
		if err := writeReport(g.env.Stdout, junit, b.Bytes()); err != nil {
			return err
		}
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	if mdFile != "" {
		if err := writeReport(g.env.Stdout, mdFile, md.Bytes()); err != nil {
			return err
		}
	}
	return appendStepSummary(g, md.Bytes())
}

// appendStepSummary appends Markdown to the job's step summary under
// GitHub Actions ($GITHUB_STEP_SUMMARY); elsewhere it does nothing.
func appendStepSummary(g *globals, md []byte) error {
	p := g.env.Getenv("GITHUB_STEP_SUMMARY")
	if g.env.Getenv("GITHUB_ACTIONS") != "true" || p == "" {
		return nil
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("append to $GITHUB_STEP_SUMMARY: %w", err)
	}
	_, err = f.Write(append(md, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to $GITHUB_STEP_SUMMARY: %w", err)
	}
	return nil
}

// merge

type evalMergeOptions struct {
	*globals
	Files    []string
	Suite    string
	JSON     bool
	JUnit    string
	Markdown string
}

func newEvalMergeCmd(g *globals, runF func(context.Context, *evalMergeOptions) error) *cobra.Command {
	if runF == nil {
		runF = runEvalMerge
	}
	opts := &evalMergeOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "merge <results.jsonl>… --suite DIR",
		Short: "Join the results of a sharded suite run into one report",
		Long: `Merge reads the results files of every shard (replay eval run --shard I/N)
and reports the suite as one run would: the table, --json, --junit, --md,
and the GitHub step summary. It fails (exit 3) when a shard is missing or
given twice, or when the files are of different suites: a merged report is
never silently partial. --suite (default: the directory of the first file)
gives the cases' gates and repeats.`,
		Example: `  replay eval merge out/shard-*.jsonl --suite evals/review --junit junit.xml --md summary.md`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			return runF(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Suite, "suite", "", "the suite the results are of (`DIR`; default: the first file's directory)")
	fl.BoolVar(&opts.JSON, "json", false, "print the report as JSON (replay.eval/v1)")
	fl.StringVar(&opts.JUnit, "junit", "", "write a JUnit XML report to `FILE`")
	fl.StringVar(&opts.Markdown, "md", "", "write a Markdown summary to `FILE`")
	return cmd
}

func runEvalMerge(ctx context.Context, opts *evalMergeOptions) error {
	h, recs, err := scenarios.Merge(opts.Files)
	var missing *scenarios.MissingShardsError
	if err != nil && !errors.As(err, &missing) {
		return usage(err)
	}
	dir := opts.Suite
	if dir == "" {
		dir = filepath.Dir(opts.Files[0])
	}
	suite, lerr := scenarios.Load(dir)
	if lerr != nil {
		return usage(fmt.Errorf("eval merge: the suite (--suite): %w", lerr))
	}
	if suite.Name != h.Suite {
		return usage(fmt.Errorf("eval merge: the results are of suite %q, %s holds %q (--suite)", h.Suite, dir, suite.Name))
	}
	plan, perr := scenarios.PlanOfRecords(suite, recs)
	if perr != nil {
		return usage(perr)
	}
	var incomplete []string
	if missing != nil {
		incomplete = append(incomplete, err.Error())
	}
	ran := map[string]bool{}
	for _, r := range recs {
		ran[r.Case] = true
	}
	var none []string
	for _, c := range suite.Cases {
		if !ran[c.ID] {
			none = append(none, c.ID)
		}
	}
	if len(none) > 0 {
		incomplete = append(incomplete, fmt.Sprintf("%d case(s) of the suite have no result in any file: %s", len(none), strings.Join(none, ", ")))
	}
	rep := scenarios.NewReport(suite.Name, scenarios.Shard{}, plan, recs, incomplete)
	if err := writeEvalReports(opts.globals, rep, opts.JSON, opts.JUnit, opts.Markdown); err != nil {
		return err
	}
	if rep.ExitCode != 0 {
		return &exitError{code: rep.ExitCode}
	}
	return nil
}
