package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/scenarios"
)

// variantFlags are replay run's counterfactual flags as a suite variant
// takes them: eval run's variant under test (on its command line) and each
// of compare's --variant NAME="FLAGS" (on a flag set of their own).
type variantFlags struct {
	Model, BaseURL, SystemFile string
	Prompts, Context, Policies []string
	Temperature, TopP          float64
	MaxTokens, Seed            int64
}

// bind adds the flags; withPolicy adds --tool-policy as a variant's own
// (compare) rather than the whole run's (eval run binds it apart).
func (f *variantFlags) bind(fs *pflag.FlagSet, withPolicy bool) {
	fs.StringVar(&f.Model, "model", "", "the variant calls model `M`")
	fs.StringVar(&f.BaseURL, "base-url", "", "OpenAI-compatible endpoint `URL` (default $OPENAI_BASE_URL, else https://api.openai.com/v1)")
	fs.StringVar(&f.SystemFile, "system-file", "", "replace the system prompt with `FILE` (a path, or owner/repo@ref:path)")
	fs.StringArrayVar(&f.Prompts, "prompt", nil, "replace sub-agent `NAME=FILE`'s system prompt (repeatable)")
	fs.StringArrayVar(&f.Context, "context", nil, "add=FILE adds the file as a user message after the opening ones (repeatable)")
	fs.Float64Var(&f.Temperature, "temperature", 0, "sampling temperature")
	fs.Float64Var(&f.TopP, "top-p", 0, "nucleus sampling")
	fs.Int64Var(&f.MaxTokens, "max-tokens", 0, "cap each answer at `N` tokens")
	fs.Int64Var(&f.Seed, "seed", 0, "sampling seed, where the endpoint supports one")
	if withPolicy {
		fs.StringArrayVar(&f.Policies, "tool-policy", nil, "answer tool `NAME=POLICY` (repeatable)")
	}
}

// variant is the variant the flags make, relative paths relative to the
// working directory; set says whether any flag was given. changed tells
// the flags given (a zero temperature is a setting).
func (f *variantFlags) variant(name string, changed func(string) bool) (v scenarios.Variant, set bool, err error) {
	v = scenarios.Variant{Name: name, Model: f.Model, BaseURL: f.BaseURL, SystemFile: f.SystemFile}
	set = v.Model != "" || v.BaseURL != "" || v.SystemFile != ""
	for _, p := range f.Prompts {
		n, file, ok := strings.Cut(p, "=")
		if !ok || n == "" || file == "" {
			return v, set, fmt.Errorf("--prompt %q: want NAME=FILE", p)
		}
		if v.Prompts == nil {
			v.Prompts = map[string]string{}
		}
		v.Prompts[n] = file
		set = true
	}
	for _, c := range f.Context {
		op, arg, _ := strings.Cut(c, "=")
		if op != "add" || arg == "" {
			return v, set, fmt.Errorf("--context %q: want add=FILE (a case forks with fork.from_step in its file)", c)
		}
		v.Context = append(v.Context, arg)
		set = true
	}
	for _, p := range f.Policies {
		n, pol, ok := strings.Cut(p, "=")
		if _, err := replay.ParsePolicy(pol); !ok || n == "" || err != nil {
			return v, set, fmt.Errorf("--tool-policy %q: want NAME=exec|recorded|deny", p)
		}
		if v.ToolPolicy == nil {
			v.ToolPolicy = map[string]string{}
		}
		v.ToolPolicy[n] = pol
		set = true
	}
	if changed("temperature") {
		v.Temperature, set = trace.Float(f.Temperature), true
	}
	if changed("top-p") {
		v.TopP, set = trace.Float(f.TopP), true
	}
	if changed("max-tokens") {
		v.MaxTokens, set = trace.Int(f.MaxTokens), true
	}
	if changed("seed") {
		v.Seed, set = trace.Int(f.Seed), true
	}
	wd, _ := os.Getwd()
	return v.WithDir(wd), set, nil
}

// bindBatch adds what eval run and compare take alike: the limits of one
// run, the sandbox, the batch (parallelism, results file, budgets) and the
// reports.
func (opts *evalRunOptions) bindBatch(fl *pflag.FlagSet) {
	fl.IntVar(&opts.MaxSteps, "max-steps", 200, "end a run after `N` model calls (a run that hits it fails)")
	fl.BoolVar(&opts.NoCache, "no-cache", false, "ask the endpoint even when the response cache has the answer")
	fl.DurationVar(&opts.RequestTimeout, "request-timeout", 0, "let a model request stay silent up to `DURATION` (default $REPLAY_REQUEST_TIMEOUT, else 2m to start, 1m between bytes)")
	fl.StringVar(&opts.Image, "image", "", "run tools in image `IMG`")
	fl.StringVar(&opts.Executor, "executor", "", "use the static replay-executor binary at `PATH`")
	fl.StringVar(&opts.Disk, "disk", "4GiB", "cap each sandbox's workspace at `SIZE`")
	fl.DurationVar(&opts.Timeout, "timeout", 30*time.Minute, "end one run after `DURATION` (it is then an error)")
	fl.StringVar(&opts.Decision, "decision", "auto", "where a new run's decision is: auto, final, file:GLOB, tool:NAME")
	fl.BoolVar(&opts.Offline, "offline", false, "use only the cache and the suite's files")
	fl.IntVar(&opts.Parallel, "parallel", 2, "run `N` replays at a time (one sandbox each)")
	fl.BoolVar(&opts.Resume, "resume", false, "continue the results file: runs already finished are not run again")
	fl.Float64Var(&opts.MaxCost, "max-cost", 0, "stop before the batch would cost more than `USD` (estimated before it starts)")
	fl.DurationVar(&opts.MaxTime, "max-time", 0, "stop before the batch would take longer than `DURATION`")
	fl.StringVar(&opts.Markdown, "md", "", "write a Markdown summary to `FILE` (under GitHub Actions also appended to $GITHUB_STEP_SUMMARY)")
}
