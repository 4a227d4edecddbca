package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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

Importing the same content again prints "(already in the store)" and reads
nothing. Warnings (skipped records, a truncated last line) go to stderr. An
input that fails is reported on stderr and the others are still imported; the
exit code is then 2.

The format is detected from the content; --format forces one (valid names:
` + strings.Join(importers.Names(), ", ") + `).`,
		Example: `  # Import every Claude Code session of a project
  replay import ~/.claude/projects/-home-me-widgets/*.jsonl

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
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the results as JSON")
	cmd.Flags().StringVar(&opts.LangfuseHost, "langfuse-host", "", "fetch the arguments as trace ids from the Langfuse server at `URL` (default $LANGFUSE_HOST when set and an argument is not a file)")
	return cmd
}

// importOne imports a path (an evaluation output holding several runs as
// one trace each), or fetches a Langfuse trace by id first.
func (opts *importOptions) importOne(ctx context.Context, st *store.Store, arg string) ([]store.Result, error) {
	host := opts.LangfuseHost
	if host == "" {
		if _, err := os.Stat(arg); err == nil {
			return st.ImportAll(ctx, arg, opts.Format, trace.Options{Lenient: opts.Lenient})
		}
		host = opts.env.Getenv("LANGFUSE_HOST")
		if host == "" {
			return st.ImportAll(ctx, arg, opts.Format, trace.Options{Lenient: opts.Lenient})
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
	return st.ImportAs(ctx, f.Name(), source, langfuse.Name, trace.Options{Lenient: opts.Lenient})
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
	var results []importResult
	failed := 0
	for _, path := range opts.Paths {
		rs, err := opts.importOne(ctx, st, path)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failed++
			res := importResult{Path: path, Warnings: []string{}, Error: err.Error()}
			fmt.Fprintln(errw, "replay: "+indent(err.Error(), "  "))
			results = append(results, res)
		}
		for _, r := range rs {
			res := importResult{Path: path, Warnings: []string{}}
			res.ID, res.Format, res.Existing = r.ID, r.Format, r.Existing
			res.LLMCalls, res.ToolCalls = r.Summary.LLMCalls, r.Summary.ToolCalls
			if !r.Existing {
				res.Warnings = append(res.Warnings, r.Summary.Warnings...)
				for _, w := range r.Summary.Warnings {
					fmt.Fprintln(errw, "warning: "+w)
				}
			}
			results = append(results, res)
			if opts.JSON {
				continue
			}
			if r.Existing {
				fmt.Fprintf(out, "%s  %s  %s  (already in the store)\n", r.ID, r.Format, path)
			} else {
				fmt.Fprintf(out, "%s  %s  %s  (%s, %s)\n", r.ID, r.Format, path,
					plural(r.Summary.LLMCalls, "llm call", "llm calls"), plural(r.Summary.ToolCalls, "tool call", "tool calls"))
			}
		}
	}
	if opts.JSON {
		if err := writeJSON(out, struct {
			Version int            `json:"version"`
			Results []importResult `json:"results"`
		}{1, results}); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: ExitUsage, msg: fmt.Sprintf("%d of %d inputs failed to import", failed, len(opts.Paths))}
	}
	return nil
}
