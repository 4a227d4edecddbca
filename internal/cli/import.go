package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
	"github.com/agentreplay/replay/replay/trace/langfuse"
)

type importOptions struct {
	*globals
	Paths        []string
	Format       string
	Lenient      bool
	Strict       bool
	JSON         bool
	LangfuseHost string
}

func newImportCmd(g *globals, runF func(context.Context, *importOptions) error) *cobra.Command {
	if runF == nil {
		runF = runImport
	}
	opts := &importOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "import <path>...",
		Short: "Add traces to the store and print their ids",
		Long: `Import reads each trace (a file, or a run directory), stores it in replay's
native format under an id derived from its content, and indexes it.

One line per input goes to stdout:

  <id>  <format>  <path>  (<n> llm calls, <m> tool calls)

A folder that is not itself a run directory stands for every trace in it,
recursively: a Claude Code project folder (sub-agent files go with their
session), all of ~/.claude/projects, Codex's ~/.codex/sessions, any mix.
Each file it skips is named on stderr with the reason ("skipped" in --json).
Traces are parsed in parallel and indexed in one transaction; on a terminal
a progress bar shows on stderr.

Importing the same content again prints "(already in the store)" and reads
nothing. Warnings (a field of the wrong type, an unknown record type, a tool
result without its call, a call without its result, a truncated last line)
go to stderr, each with file, line and field; --strict makes them an error
and stores nothing. An input that fails is reported on stderr and the others
are still imported; the exit code is then 2.

The format is detected from the content; --format forces one (valid names:
` + strings.Join(importers.Names(), ", ") + `).`,
		Example: `  # Import every Claude Code session of a project, or of all projects
  replay import ~/.claude/projects/-home-me-widgets/
  replay import ~/.claude/projects ~/.codex/sessions

  # Refuse a trace that would import with warnings
  replay import --strict session.jsonl

  # A file whose first line is damaged: skip invalid lines instead of failing
  replay import --lenient session.jsonl

  # Machine-readable results
  replay import --json runs/*.jsonl | jq -r '.results[].id'

  # Fetch traces by id from a Langfuse server (keys from LANGFUSE_PUBLIC_KEY
  # and LANGFUSE_SECRET_KEY)
  replay import --langfuse-host https://cloud.langfuse.com 8f0e2c7d-trace-id`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Paths = args
			return runF(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Format, "format", "", "read the inputs as `FORMAT` instead of detecting it: "+strings.Join(importers.Names(), ", "))
	cmd.Flags().BoolVar(&opts.Lenient, "lenient", false, "skip lines that are not valid JSON (counted in one warning) instead of failing")
	cmd.Flags().BoolVar(&opts.Strict, "strict", false, "fail an input that has any warning (a field of the wrong type, an unknown record, a tool call without result, …) instead of storing it")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the results as JSON")
	cmd.Flags().StringVar(&opts.LangfuseHost, "langfuse-host", "", "fetch the arguments as trace ids from the Langfuse server at `URL` (default $LANGFUSE_HOST when set and an argument is not a file)")
	return cmd
}

// importOne imports a path (an evaluation output holding several runs as
// one trace each), or fetches a Langfuse trace by id first.
func (opts *importOptions) importOne(ctx context.Context, st *store.Store, arg string, topts trace.Options) ([]store.Result, error) {
	host := opts.LangfuseHost
	if host == "" {
		if _, err := os.Stat(arg); err == nil {
			return st.ImportRecords(ctx, arg, opts.Format, topts)
		}
		host = opts.env.Getenv("LANGFUSE_HOST")
		if host == "" {
			return st.ImportRecords(ctx, arg, opts.Format, topts)
		}
	}
	r, err := opts.fetchLangfuse(ctx, st, arg, host)
	if err != nil {
		return nil, err
	}
	return []store.Result{r}, nil
}

// fetchLangfuse fetches the Langfuse trace arg from host and imports it.
func (opts *importOptions) fetchLangfuse(ctx context.Context, st *store.Store, arg, host string) (store.Result, error) {
	topts := trace.Options{Lenient: opts.Lenient, Strict: opts.Strict}
	c := &langfuse.Client{Host: host, PublicKey: opts.env.Getenv("LANGFUSE_PUBLIC_KEY"), SecretKey: opts.env.Getenv("LANGFUSE_SECRET_KEY")}
	if c.PublicKey == "" || c.SecretKey == "" {
		return store.Result{}, fmt.Errorf("fetch Langfuse trace %q from %s: set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (the project's API keys)", arg, host)
	}
	dir := filepath.Join(st.Root(), "tmp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return store.Result{}, err
	}
	f, err := os.CreateTemp(dir, "langfuse-*.json")
	if err != nil {
		return store.Result{}, err
	}
	defer os.Remove(f.Name())
	err = c.Fetch(ctx, arg, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return store.Result{}, err
	}
	source := strings.TrimSuffix(host, "/") + "/api/public/traces/" + arg
	if !strings.Contains(host, "://") {
		source = "https://" + source
	}
	return st.ImportAs(ctx, f.Name(), source, langfuse.Name, topts)
}

// importResult is one input in `replay import --json`.
type importResult struct {
	Path      string   `json:"path"`
	ID        string   `json:"id,omitempty"`
	Format    string   `json:"format,omitempty"`
	Existing  bool     `json:"existing"`
	LLMCalls  int      `json:"llm_calls"`
	ToolCalls int      `json:"tool_calls"`
	Warnings  []string `json:"warnings"`
	Error     string   `json:"error,omitempty"`
}

// skippedFile is a file of a folder that was not imported, and why.
type skippedFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// importItem is one trace to import: a path given, or found in a folder.
type importItem struct {
	path    string
	local   bool // a file or directory to read (else a Langfuse id, or a path that fails)
	results []importResult
	done    bool
	found   *importers.Found // as a folder's walk detected it
}

// expand turns the arguments into the traces to import: a folder that no
// format reads as a whole stands for every trace found in it, recursively.
func (opts *importOptions) expand(ctx context.Context) ([]*importItem, []skippedFile, error) {
	var items []*importItem
	var skipped []skippedFile
	for _, arg := range opts.Paths {
		fi, err := os.Stat(arg)
		if err != nil || !fi.IsDir() {
			items = append(items, &importItem{path: arg, local: err == nil})
			continue
		}
		if opts.readsDir(arg) {
			items = append(items, &importItem{path: arg, local: true})
			continue
		}
		found, skip, err := importers.Walk(ctx, arg, opts.Format)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range skip {
			skipped = append(skipped, skippedFile{Path: s.Path, Reason: s.Reason})
		}
		if len(found) == 0 {
			items = append(items, &importItem{path: arg, done: true, results: []importResult{{Path: arg, Warnings: []string{},
				Error: fmt.Sprintf("import %q: no trace found in this folder (%d files skipped)", arg, len(skip))}}})
		}
		for _, f := range found {
			items = append(items, &importItem{path: f.Path, local: true, found: &f})
		}
	}
	return items, skipped, nil
}

// readsDir reports whether a format reads the folder dir as one trace (a run
// directory).
func (opts *importOptions) readsDir(dir string) bool {
	src := &trace.Source{Path: dir, IsDir: true}
	if opts.Format != "" {
		f, err := importers.Lookup(opts.Format)
		return err == nil && f.Detect(src)
	}
	_, err := importers.Detect(src, "")
	return err == nil
}

func runImport(ctx context.Context, opts *importOptions) error {
	if opts.Format != "" {
		if _, err := importers.Lookup(opts.Format); err != nil {
			return usage(fmt.Errorf("--format: %w", err))
		}
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

	out, errw := opts.env.Stdout, opts.env.Stderr
	items, skipped, err := opts.expand(ctx)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintf(errw, "skipped %s: %s\n", s.Path, s.Reason)
	}
	topts := trace.Options{Lenient: opts.Lenient, Strict: opts.Strict}

	// Local inputs are parsed in parallel and indexed in one transaction;
	// an input holding several runs (an evaluation output) is imported
	// below, a trace per record.
	var local []*importItem
	var inputs []store.Input
	for _, it := range items {
		if !it.local || it.done {
			continue
		}
		in := store.Input{Path: it.path, Format: opts.Format, Options: topts}
		if it.found != nil {
			// Detected by the walk already.
			if _, multi := it.found.Format.(trace.Multi); multi {
				continue
			}
			in.Detected, in.Head = it.found.Format, it.found.Source
		} else if store.HoldsRecords(it.path, opts.Format) {
			continue
		}
		local = append(local, it)
		inputs = append(inputs, in)
	}
	bar := opts.progress(len(inputs))
	res, errs := st.ImportAll(ctx, inputs, runtime.GOMAXPROCS(0), func(int) {
		if bar != nil {
			bar.Add(1)
		}
	})
	if bar != nil {
		bar.Finish()
		bar.Clear()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for i, it := range local {
		it.results, it.done = []importResult{opts.result(it.path, res[i], errs[i])}, true
	}

	var results []importResult
	failed := 0
	var all []importResult
	for _, it := range items {
		if !it.done {
			rs, err := opts.importOne(ctx, st, it.path, topts)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			for _, r := range rs {
				it.results = append(it.results, opts.result(it.path, r, nil))
			}
			if err != nil {
				it.results = append(it.results, opts.result(it.path, store.Result{}, err))
			}
		}
		all = append(all, it.results...)
	}
	for _, res := range all {
		results = append(results, res)
		if res.Error != "" {
			failed++
			fmt.Fprintln(errw, "replay: "+indent(res.Error, "  "))
			continue
		}
		if !res.Existing {
			for _, w := range res.Warnings {
				fmt.Fprintln(errw, "warning: "+w)
			}
		}
		if opts.JSON {
			continue
		}
		if res.Existing {
			fmt.Fprintf(out, "%s  %s  %s  (already in the store)\n", res.ID, res.Format, res.Path)
		} else {
			fmt.Fprintf(out, "%s  %s  %s  (%s, %s)\n", res.ID, res.Format, res.Path,
				plural(res.LLMCalls, "llm call", "llm calls"), plural(res.ToolCalls, "tool call", "tool calls"))
		}
	}
	if opts.JSON {
		if skipped == nil {
			skipped = []skippedFile{}
		}
		if err := writeJSON(out, struct {
			Version int            `json:"version"`
			Results []importResult `json:"results"`
			Skipped []skippedFile  `json:"skipped"`
		}{1, results, skipped}); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: ExitUsage, msg: fmt.Sprintf("%d of %d inputs failed to import", failed, len(items))}
	}
	return nil
}

// result describes the import of one input.
func (opts *importOptions) result(path string, r store.Result, err error) importResult {
	res := importResult{Path: path, Warnings: []string{}}
	if err == nil && opts.Strict && r.Existing && len(r.Summary.Warnings) > 0 {
		err = fmt.Errorf("import %q: %d warning(s) and --strict (already in the store, imported without --strict):\n  %s",
			path, len(r.Summary.Warnings), strings.Join(r.Summary.Warnings, "\n  "))
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.ID, res.Format, res.Existing = r.ID, r.Format, r.Existing
	res.LLMCalls, res.ToolCalls = r.Summary.LLMCalls, r.Summary.ToolCalls
	if !r.Existing {
		res.Warnings = append(res.Warnings, r.Summary.Warnings...)
	}
	return res
}

// progress returns a progress bar on stderr for n inputs, or nil when stderr
// is not a terminal or there are too few inputs to bother.
func (opts *importOptions) progress(n int) *progressbar.ProgressBar {
	f, ok := opts.env.Stderr.(*os.File)
	if !ok || n < 2 || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
