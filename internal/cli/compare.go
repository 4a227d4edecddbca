package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/shlex"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/scenarios"
)

type compareOptions struct {
	evalRunOptions
	Targets  []string
	Variants []string
	Baseline string
	AA       bool
	Plan     bool
	FailIf   []string
	Alpha    float64
	Seed     uint64
	repos    []string
	fixture  string
	commit   string
	// --prompt-refs FROM..TO over --prompt-path in --prompt-repo.
	HTML       string
	PromptRefs string
	PromptPath string
	PromptRepo string
}

func newCompareCmd(g *globals, runF func(context.Context, *compareOptions) error) *cobra.Command {
	if runF == nil {
		runF = runCompare
	}
	opts := &compareOptions{evalRunOptions: evalRunOptions{runOptions: runOptions{globals: g}}}
	cmd := &cobra.Command{
		Use:   "compare <suite|trace…> --variant NAME=FLAGS…",
		Short: "Compare prompt versions or models over many traces, with paired statistics and a noise floor",
		Long: `Compare runs every variant over the same cases (a suite directory, or traces:
each trace a case whose expectation is the human's decision where the trace
has feedback, else the original's), from the same pinned worlds and fork
step, --repeat K times each, and compares every variant with the baseline
case by case.

A variant is NAME="FLAGS": replay run's counterfactual flags, e.g.
  --variant v2="--system-file acme/prompts@v2:review.md"
  --variant mini="--model gpt-4o-mini --temperature 0"
The unchanged configuration is always available as "original" (the default
baseline).

Statistics (formulas and sources in scenarios/stats):
  one repeat    the 2×2 table of cases, exact McNemar (and mid-p), Newcombe's
                interval on the difference of paired proportions
  k repeats     per case pass rates (Wilson), pass@k, pass^k; the suite delta
                by an exact sign-flip permutation test over per-case
                differences (Monte Carlo past 20 cases, seeded) and a case-level
                bootstrap interval: cases are resampled, never the n·k runs
  cost, latency the paired geometric-mean ratio with a bootstrap interval,
                p50/p95 per arm
  many variants Holm's correction; variants that cannot be told apart are
                tied (inconclusive), not ranked
The noise floor: how often the baseline disagrees with itself over its
repeats, how often each case passes at all, and the smallest difference this
many cases and repeats can detect; --aa also runs a second copy of the
baseline (other samples) as a variant. --plan prints the cells, the estimate
and that smallest difference before spending anything.

--fail-if turns results into an exit code for CI: pass_rate<baseline
(significantly lower at --alpha), cost>1.2x, latency>1.5x, tokens>2x (the
geometric-mean ratio), critical_newly_fails. Exit 0 when no gate trips, 1
when one does, 2 on bad usage, 3 when the data is incomplete (errors,
skipped runs): never a pass.`,
		Example: `  replay compare evals/review --variant v2="--system-file prompts/v2.md" --repeat 5
  replay compare evals/review --variant mini="--model gpt-4o-mini" --variant v2="--system-file acme/prompts@v2:review.md" --repeat 3 --fail-if pass_rate<baseline --fail-if cost>1.2x
  replay compare 5ef49dd6 3f2a91c0 --variant strict="--system-file strict.md" --repeat 5 --aa --plan`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Targets = args
			opts.set = func(name string) bool { return cmd.Flags().Changed(name) }
			return runF(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Variants, "variant", nil, "a variant `NAME=FLAGS` (replay run's flags, quoted; repeatable)")
	fl.StringVar(&opts.Baseline, "baseline", scenarios.OriginalVariant, "compare every variant with `NAME`")
	fl.IntVar(&opts.Repeat, "repeat", 1, "run every case and variant `K` times")
	fl.BoolVar(&opts.AA, "aa", false, "also run the baseline against a copy of itself (other samples): an A/A comparison")
	fl.BoolVar(&opts.Plan, "plan", false, "print the cells, the estimate and the smallest detectable difference; run nothing")
	fl.StringArrayVar(&opts.FailIf, "fail-if", nil, "exit 1 when `COND` holds for a variant: pass_rate<baseline, cost>1.2x, latency>1.5x, tokens>2x, critical_newly_fails (repeatable)")
	fl.Float64Var(&opts.Alpha, "alpha", 0.05, "significance level")
	fl.Uint64Var(&opts.Seed, "seed", 1, "seed of the permutation test and the bootstraps (the same seed, the same report)")
	opts.bindBatch(fl)
	fl.StringVar(&opts.Results, "results", "", "append results to `FILE` (default: compare-results.jsonl in the suite, or in the current directory for traces)")
	fl.BoolVar(&opts.JSON, "json", false, "print the comparison as JSON (replay.compare/v1)")
	fl.StringArrayVar(&opts.Policies, "tool-policy", nil, "answer tool `NAME=POLICY` in every run (repeatable)")
	fl.StringArrayVar(&opts.repos, "repo", nil, "for traces: take the repository from `SOURCE` (as replay run --repo)")
	fl.StringVar(&opts.commit, "commit", "", "for traces: use commit `REV`")
	fl.StringVar(&opts.fixture, "github-fixture", "", "for traces: read the pull request or issue from `DIR`")
	fl.StringVar(&opts.HTML, "html", "", "write a self-contained HTML report with the grid of cases × variants to `FILE`")
	fl.StringVar(&opts.PromptRefs, "prompt-refs", "", "compare every version of --prompt-path between `FROM..TO` (git's range, FROM itself first: the baseline), each a variant whose system prompt is that version")
	fl.StringVar(&opts.PromptPath, "prompt-path", "", "the prompt file `PATH` in --prompt-repo (with --prompt-refs)")
	fl.StringVar(&opts.PromptRepo, "prompt-repo", "", "the repository `REPO` holding the prompt (owner/name, a URL, a local repository or a bundle; with --prompt-refs)")
	return cmd
}

// parseVariant reads NAME=FLAGS with replay run's counterfactual flags.
func parseVariant(spec string) (scenarios.Variant, error) {
	name, flags, ok := strings.Cut(spec, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " /\\") {
		return scenarios.Variant{}, usage(fmt.Errorf("--variant %q: want NAME=\"FLAGS\", e.g. v2=\"--system-file prompts/v2.md\"", spec))
	}
	words, err := shlex.Split(flags)
	if err != nil {
		return scenarios.Variant{}, usage(fmt.Errorf("--variant %s: %v", name, err))
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	var f variantFlags
	f.bind(fs, true)
	if err := fs.Parse(words); err != nil {
		return scenarios.Variant{}, usage(fmt.Errorf("--variant %s: %v (a variant takes --model, --base-url, --system-file, --prompt NAME=FILE, --context add=FILE, --temperature, --top-p, --max-tokens, --seed, --tool-policy NAME=POLICY)", name, err))
	}
	if fs.NArg() > 0 {
		return scenarios.Variant{}, usage(fmt.Errorf("--variant %s: unexpected %q", name, fs.Args()))
	}
	v, _, err := f.variant(name, fs.Changed)
	if err != nil {
		return v, usage(fmt.Errorf("--variant %s: %w", name, err))
	}
	return v, nil
}

// compareSuite is the suite the targets make: a suite directory or file
// as it is, else one case per trace.
func (opts *compareOptions) compareSuite(ctx context.Context) (*scenarios.Suite, error) {
	if len(opts.Targets) == 1 {
		if st, err := os.Stat(opts.Targets[0]); err == nil && (st.IsDir() || strings.HasSuffix(opts.Targets[0], ".yaml") || strings.HasSuffix(opts.Targets[0], ".yml")) {
			s, err := scenarios.Load(opts.Targets[0])
			if err != nil {
				return nil, usage(fmt.Errorf("compare: %w", err))
			}
			return s, nil
		}
	}
	pricing, err := opts.pricing()
	if err != nil {
		return nil, err
	}
	st, err := opts.openStore(ctx, pricing)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	wd, _ := os.Getwd()
	s := &scenarios.Suite{Name: "compare", Dir: wd}
	seen := map[string]bool{}
	for _, t := range opts.Targets {
		e, err := st.ResolveAs(ctx, "compare", t, store.ResolveOptions{Import: true})
		if err != nil {
			return nil, err
		}
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		run, err := st.Run(ctx, e.ID)
		if err != nil {
			return nil, err
		}
		s.Cases = append(s.Cases, scenarios.CaseOfRun(shortID(e.ID), st.Path(e.ID), wd, run))
	}
	return s, nil
}

func runCompare(ctx context.Context, opts *compareOptions) error {
	var gates []scenarios.Gate
	for _, f := range opts.FailIf {
		g, err := scenarios.ParseGate(f)
		if err != nil {
			return usage(err)
		}
		gates = append(gates, g)
	}
	if opts.Repeat < 1 {
		return usage(fmt.Errorf("--repeat %d: want 1 or more", opts.Repeat))
	}
	if opts.Alpha <= 0 || opts.Alpha >= 1 {
		return usage(fmt.Errorf("--alpha %g: want a level between 0 and 1, e.g. 0.05", opts.Alpha))
	}
	arms := []scenarios.Variant{}
	names := map[string]bool{}
	if opts.PromptRefs != "" || opts.PromptPath != "" || opts.PromptRepo != "" {
		pv, err := opts.promptVariants(ctx)
		if err != nil {
			return err
		}
		for _, v := range pv {
			names[v.Name] = true
		}
		arms = append(arms, pv...)
		if !opts.set("baseline") {
			opts.Baseline = pv[0].Name
		}
	}
	for _, spec := range opts.Variants {
		v, err := parseVariant(spec)
		if err != nil {
			return err
		}
		if names[v.Name] {
			return usage(fmt.Errorf("--variant %s is given twice", v.Name))
		}
		names[v.Name] = true
		arms = append(arms, v)
	}
	if !names[opts.Baseline] {
		if opts.Baseline != scenarios.OriginalVariant {
			return usage(fmt.Errorf("--baseline %s: no --variant has that name (the unchanged configuration is %q)", opts.Baseline, scenarios.OriginalVariant))
		}
		wd, _ := os.Getwd()
		arms = append([]scenarios.Variant{scenarios.Variant{Name: scenarios.OriginalVariant}.WithDir(wd)}, arms...)
	}
	if len(arms) < 2 && !opts.AA {
		return usage(errors.New("compare: give at least one --variant to compare with the baseline (or --aa for the baseline against itself)"))
	}
	aaName := ""
	if opts.AA {
		for _, v := range arms {
			if v.Name == opts.Baseline {
				aa := v
				aa.Name = v.Name + "~aa"
				aa.SampleOffset = 1 << 20 // other samples than the baseline's repeats
				arms = append(arms, aa)
				aaName = aa.Name
			}
		}
	}
	suite, err := opts.compareSuite(ctx)
	if err != nil {
		return err
	}
	if len(suite.Cases) == 0 {
		return usage(errors.New("compare: no cases: nothing to compare is never a pass"))
	}
	for _, c := range suite.Cases {
		c.Variants = nil // every case runs exactly the compared arms
	}
	suite.Variants = arms
	plan, err := scenarios.NewPlan(suite, scenarios.PlanOptions{Repeat: opts.Repeat})
	if err != nil {
		return usage(err)
	}
	base, err := opts.replayFlags.request("", replay.ModeRun)
	if err != nil {
		return err
	}
	if len(opts.repos) > 0 || opts.fixture != "" || opts.commit != "" {
		wf := worldFlags{Repos: opts.repos, Fixture: opts.fixture, Commit: opts.commit}
		if base.Fetch, err = wf.fetchOptions(); err != nil {
			return err
		}
	}
	resultsPath := opts.Results
	if resultsPath == "" {
		resultsPath = filepath.Join(suite.Dir, "compare-results.jsonl")
	}
	if opts.Plan {
		if _, err := opts.runPlan(ctx, plan, base, scenarios.Header{}, resultsPath, true); err != nil {
			return err
		}
		fmt.Fprintf(opts.env.Stdout, "%d case(s) × %d repeat(s) can detect %s (alpha %.2g, power 0.8, a baseline passing half the time)\n",
			len(plan.Cases), opts.Repeat, scenarios.MinDetectableText(len(plan.Cases), opts.Repeat, opts.Alpha, 0.8, 0.5), opts.Alpha)
		return nil
	}
	header := scenarios.Header{Suite: suite.Name, Cases: len(plan.Cases), Cells: len(plan.Cells)}
	recs, err := opts.runPlan(ctx, plan, base, header, resultsPath, false)
	if err != nil {
		return err
	}
	cmp, err := scenarios.Compare(suite.Name, plan, recs, scenarios.CompareOptions{Baseline: opts.Baseline, AA: aaName, Alpha: opts.Alpha, Seed: opts.Seed})
	if err != nil {
		return err
	}
	if opts.JSON {
		err = cmp.WriteJSON(opts.env.Stdout)
	} else {
		err = cmp.WriteText(opts.env.Stdout)
	}
	if err != nil {
		return err
	}
	var md bytes.Buffer
	cmp.WriteMarkdown(&md)
	if opts.Markdown != "" {
		if err := writeReport(opts.env.Stdout, opts.Markdown, md.Bytes()); err != nil {
			return err
		}
	}
	if err := appendStepSummary(opts.globals, md.Bytes()); err != nil {
		return err
	}
	if opts.HTML != "" {
		var h bytes.Buffer
		if err := cmp.WriteHTML(&h, plan, recs); err != nil {
			return err
		}
		if err := writeReport(opts.env.Stdout, opts.HTML, h.Bytes()); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failed := cmp.Failed(gates); len(failed) > 0 {
		return &exitError{code: ExitCheckFailed, msg: "compare: --fail-if: " + strings.Join(failed, "; ")}
	}
	if len(cmp.Incomplete) > 0 {
		return &exitError{code: ExitIncomplete, msg: "compare: incomplete: " + strings.Join(cmp.Incomplete, "; ")}
	}
	return nil
}

// promptVariants are the versions of the prompt file in the range, one
// variant each (named p-SHA, the system prompt REPO@SHA:PATH).
func (opts *compareOptions) promptVariants(ctx context.Context) ([]scenarios.Variant, error) {
	from, to, ok := strings.Cut(opts.PromptRefs, "..")
	if !ok || from == "" || to == "" || opts.PromptPath == "" || opts.PromptRepo == "" {
		return nil, usage(errors.New("--prompt-refs FROM..TO needs --prompt-path PATH and --prompt-repo REPO (e.g. --prompt-refs v1..v2 --prompt-path prompts/review.md --prompt-repo acme/prompts)"))
	}
	w, err := opts.openWorld(opts.Offline)
	if err != nil {
		return nil, err
	}
	revs, err := w.FileHistory(ctx, opts.PromptRepo, from, to, opts.PromptPath)
	if err != nil {
		return nil, err
	}
	if len(revs) < 2 {
		return nil, &exitError{code: ExitIncomplete, msg: fmt.Sprintf("compare: %s did not change in %s: one version, nothing to compare", opts.PromptPath, opts.PromptRefs)}
	}
	wd, _ := os.Getwd()
	var out []scenarios.Variant
	for _, r := range revs {
		v := scenarios.Variant{Name: "p-" + r.SHA[:8], SystemFile: opts.PromptRepo + "@" + r.SHA + ":" + opts.PromptPath}
		out = append(out, v.WithDir(wd))
		fmt.Fprintf(opts.env.Stderr, "prompt version %s (%s): %s\n", r.SHA[:8], r.When.Format("2006-01-02"), r.Subject)
	}
	return out, nil
}
