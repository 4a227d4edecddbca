package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/export"
	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
	"github.com/agentreplay/replay/replay/trace/langfuse"
)

// exportOptions are the flags of replay export; request turns them, with
// the environment, into what the export does.
type exportOptions struct {
	*globals
	Targets      []string
	Format       string
	Out          string
	Endpoint     string
	LangfuseHost string
	Content      bool
	Since        string
	Agent        string
	Repo         string
	Timeout      time.Duration
	JSON         bool
	Now          func() time.Time
}

func newExportCmd(g *globals, runF func(context.Context, *exportOptions) error) *cobra.Command {
	if runF == nil {
		runF = runExport
	}
	opts := &exportOptions{globals: g, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "export [<run>...] --format otlp|langfuse",
		Short: "Send runs to an OpenTelemetry collector or to Langfuse, linked to the runs they replay",
		Long: `Export sends runs where operators already look.

--format otlp (the default) writes OpenTelemetry spans following the GenAI
semantic conventions: an "invoke_agent {agent}" span per run and sub-agent,
a "chat {model}" span per model call (gen_ai.* model, parameters, usage;
cost in gen_ai.usage.cost, replay.cost.recorded_usd and priced_usd) and an
"execute_tool {name}" span per tool call. They go over OTLP/HTTP to
--endpoint URL, else $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
$OTEL_EXPORTER_OTLP_ENDPOINT (a base URL: /v1/traces is appended; headers
from $OTEL_EXPORTER_OTLP_HEADERS, protobuf unless
$OTEL_EXPORTER_OTLP_PROTOCOL is http/json, gzip when
$OTEL_EXPORTER_OTLP_COMPRESSION is gzip), or as OTLP/JSON Lines to -o FILE
(one line per run), or to stdout when no endpoint is set.

--format langfuse sends a trace per run through Langfuse's ingestion API to
--langfuse-host URL (else $LANGFUSE_HOST), with the keys in
$LANGFUSE_PUBLIC_KEY and $LANGFUSE_SECRET_KEY: observations for the agent,
each model call (usage and cost) and each tool call, tagged "replay". -o FILE
writes the ingestion request bodies instead.

A replay links to the run it replays: a span link and
replay.original.trace_id (the original's trace id where it came from OTLP or
Langfuse, else the id an export of the original has: export it too), with
replay.original.run_id, replay.mode and replay.variant.* (what changed).

Message content (prompts, answers, tool arguments and results) is left out
unless --content: traces often hold code and secrets.

A run is a path (file or run directory), a stored id, or a unique id prefix;
--since, --agent and --repo export the stored runs they select instead.
Trace and span ids are derived from the run's id, so exporting a run again
does not duplicate it. The store is only read.

Exit codes: 0 exported, 2 usage or input error, 3 some runs were not
exported (the backend was unreachable or refused them).`,
		Example: `  # A replay to the local collector
  replay export 28e5f9b4 --endpoint http://localhost:4318

  # To a file, with the conversation
  replay export 28e5f9b4 --content -o replay.otlp.jsonl

  # This week's review runs to Langfuse
  LANGFUSE_PUBLIC_KEY=pk-lf-… LANGFUSE_SECRET_KEY=sk-lf-… \
    replay export --since 7d --agent review --format langfuse --langfuse-host https://cloud.langfuse.com`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Targets = args
			return runF(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", export.FormatOTLP, "export as `FORMAT`: otlp or langfuse")
	f.StringVarP(&opts.Out, "output", "o", "", "write to `FILE` instead of sending (- for stdout)")
	f.StringVar(&opts.Endpoint, "endpoint", "", "send OTLP to the collector at `URL` (default $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else $OTEL_EXPORTER_OTLP_ENDPOINT)")
	f.StringVar(&opts.LangfuseHost, "langfuse-host", "", "send to the Langfuse server at `URL` (default $LANGFUSE_HOST)")
	f.BoolVar(&opts.Content, "content", false, "include message content: prompts, answers, tool arguments and results")
	f.StringVar(&opts.Since, "since", "", "export the stored runs started since `WHEN` (30m, 12h, 7d, 2w, or a date)")
	f.StringVar(&opts.Agent, "agent", "", "export the stored runs of agent `NAME`")
	f.StringVar(&opts.Repo, "repo", "", "export the stored runs of repository `REPO`")
	f.DurationVar(&opts.Timeout, "timeout", 30*time.Second, "give up on a request after `DURATION`, and on a run's export (retries included) after twice that")
	f.BoolVar(&opts.JSON, "json", false, "print what was exported as JSON")
	return cmd
}

// exportRequest is what an export will do, decided from the flags and the
// environment without I/O.
type exportRequest struct {
	Format  string
	Targets []string     // the runs given, or none
	Filter  store.Filter // else the stored runs these select
	Content bool
	JSON    bool
	Timeout time.Duration
	Dest    exportDest
}

// exportDest is where the runs go: one of File, OTLP and Langfuse.
type exportDest struct {
	File     string              // a file to write ("-": stdout)
	OTLP     *export.HTTPOptions // a collector
	Langfuse *langfuse.Client    // a Langfuse server
}

// String names the destination in messages.
func (d exportDest) String() string {
	switch {
	case d.OTLP != nil:
		return d.OTLP.URL
	case d.Langfuse != nil:
		return d.Langfuse.Host
	case d.File == "-":
		return "stdout"
	}
	return d.File
}

// request checks the flags and the environment and says what the export
// will do.
func (opts *exportOptions) request() (exportRequest, error) {
	filters := opts.Since != "" || opts.Agent != "" || opts.Repo != ""
	switch {
	case len(opts.Targets) == 0 && !filters:
		return exportRequest{}, usage(errors.New("give the runs to export (a path, an id or an id prefix), or select stored runs with --since, --agent or --repo"))
	case len(opts.Targets) > 0 && filters:
		return exportRequest{}, usage(errors.New("give runs or --since/--agent/--repo, not both"))
	}
	req := exportRequest{Format: opts.Format, Targets: opts.Targets, Content: opts.Content, JSON: opts.JSON, Timeout: opts.Timeout,
		Filter: store.Filter{Agent: opts.Agent, Repo: opts.Repo}}
	if opts.Since != "" {
		t, err := parseSince(opts.Since, opts.Now())
		if err != nil {
			return exportRequest{}, usage(err)
		}
		req.Filter.Since = t
	}
	d, err := opts.destination()
	if err != nil {
		return exportRequest{}, err
	}
	if opts.JSON && d.File == "-" {
		return exportRequest{}, usage(errors.New("--json prints a report on stdout, where the export goes too: send it to a file (-o) or an endpoint"))
	}
	req.Dest = d
	return req, nil
}

// destination is where --format, -o, --endpoint, --langfuse-host and the
// environment ($OTEL_EXPORTER_OTLP_*, $LANGFUSE_*) send the runs.
func (opts *exportOptions) destination() (exportDest, error) {
	getenv := opts.env.Getenv
	if opts.Timeout <= 0 {
		return exportDest{}, usage(fmt.Errorf("--timeout %s: want a positive duration", opts.Timeout))
	}
	if opts.Out != "" && (opts.Endpoint != "" || opts.LangfuseHost != "") {
		return exportDest{}, usage(errors.New("-o writes a file: it does not go with --endpoint or --langfuse-host"))
	}
	switch opts.Format {
	case export.FormatOTLP:
		if opts.LangfuseHost != "" {
			return exportDest{}, usage(errors.New("--langfuse-host goes with --format langfuse"))
		}
		if opts.Out != "" {
			return exportDest{File: opts.Out}, nil
		}
		url, err := export.TracesURL(opts.Endpoint, getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
		if err != nil {
			return exportDest{}, usage(err)
		}
		if url == "" {
			return exportDest{File: "-"}, nil
		}
		// The signal's variable wins over the general one, as in the SDK.
		env := func(name string) (string, string) {
			if v := getenv("OTEL_EXPORTER_OTLP_TRACES_" + name); v != "" {
				return v, "OTEL_EXPORTER_OTLP_TRACES_" + name
			}
			return getenv("OTEL_EXPORTER_OTLP_" + name), "OTEL_EXPORTER_OTLP_" + name
		}
		hv, from := env("HEADERS")
		headers, err := export.ParseHeaders(hv)
		if err != nil {
			return exportDest{}, usage(fmt.Errorf("%s: %w", from, err))
		}
		proto, from := env("PROTOCOL")
		if proto != "" && proto != "http/protobuf" && proto != "http/json" {
			return exportDest{}, usage(fmt.Errorf("%s %q: replay sends OTLP over HTTP: http/protobuf or http/json", from, proto))
		}
		comp, from := env("COMPRESSION")
		if comp != "" && comp != "gzip" && comp != "none" {
			return exportDest{}, usage(fmt.Errorf("%s %q: want gzip or none", from, comp))
		}
		return exportDest{OTLP: &export.HTTPOptions{URL: url, Headers: headers, Timeout: opts.Timeout, RetryFor: opts.Timeout,
			JSON: proto == "http/json", Gzip: comp == "gzip"}}, nil
	case export.FormatLangfuse:
		if opts.Endpoint != "" {
			return exportDest{}, usage(errors.New("--endpoint goes with --format otlp; Langfuse's server is --langfuse-host"))
		}
		if opts.Out != "" {
			return exportDest{File: opts.Out}, nil
		}
		host, from := opts.LangfuseHost, "--langfuse-host"
		if host == "" {
			host, from = getenv("LANGFUSE_HOST"), "LANGFUSE_HOST"
		}
		if host == "" {
			return exportDest{}, usage(errors.New("--format langfuse: give the server with --langfuse-host URL or $LANGFUSE_HOST (or write a file with -o)"))
		}
		if _, err := langfuse.ParseHost(host); err != nil {
			return exportDest{}, usage(fmt.Errorf("%s: %w", from, err))
		}
		c := &langfuse.Client{Host: host, PublicKey: getenv("LANGFUSE_PUBLIC_KEY"), SecretKey: getenv("LANGFUSE_SECRET_KEY"),
			HTTP: &http.Client{Timeout: opts.Timeout}}
		if c.PublicKey == "" || c.SecretKey == "" {
			return exportDest{}, usage(fmt.Errorf("send to langfuse at %s: set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (the project's API keys)", host))
		}
		return exportDest{Langfuse: c}, nil
	}
	return exportDest{}, usage(fmt.Errorf("--format %q: want otlp or langfuse", opts.Format))
}

// exportSink is where runs go: a collector, Langfuse, or a file.
type exportSink struct {
	format string
	dest   string // for messages
	otlp   *export.OTLP
	lf     *export.Langfuse
	w      io.Writer // a Langfuse file
	close  func(context.Context) error
}

func (s *exportSink) export(ctx context.Context, run *trace.Run, opts export.Options) (export.Result, error) {
	switch {
	case s.otlp != nil:
		return s.otlp.Export(ctx, run, opts)
	case s.lf != nil:
		return s.lf.Export(ctx, run, opts)
	}
	return export.WriteLangfuse(s.w, run, opts)
}

// openSink opens the destination: creates the file, or sets up the
// exporter.
func openSink(ctx context.Context, env Env, format string, d exportDest) (*exportSink, error) {
	s := &exportSink{format: format, dest: d.String(), close: func(context.Context) error { return nil }}
	switch {
	case d.OTLP != nil:
		x, err := export.NewOTLPHTTP(ctx, *d.OTLP)
		if err != nil {
			return nil, err
		}
		s.otlp, s.close = x, x.Close
		return s, nil
	case d.Langfuse != nil:
		s.lf = &export.Langfuse{Client: d.Langfuse}
		return s, nil
	}
	w := env.Stdout
	if d.File != "-" {
		f, err := os.Create(d.File)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		w = f
		s.close = func(context.Context) error { return f.Close() }
	}
	if format == export.FormatLangfuse {
		s.w = w
		return s, nil
	}
	x, err := export.NewOTLPFile(ctx, w)
	if err != nil {
		s.close(ctx)
		return nil, err
	}
	closeFile := s.close
	s.otlp, s.close = x, func(ctx context.Context) error { return errors.Join(x.Close(ctx), closeFile(ctx)) }
	return s, nil
}

// exportTarget is one run to export: a path, or a stored id.
type exportTarget struct {
	arg  string // as given
	path string // a path to read, or ""
	id   string // a stored id, or ""
}

// exportFailure is one run that was not exported, in --json.
type exportFailure struct {
	Run   string `json:"run"`
	Error string `json:"error"`
}

func runExport(ctx context.Context, opts *exportOptions) error {
	req, err := opts.request()
	if err != nil {
		return err
	}
	// The store, when there is one, finds stored runs and the originals of
	// replays. It is only read.
	st, closeStore, err := opts.storeIfAny(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	targets, err := resolveTargets(ctx, st, req)
	if err != nil {
		return err
	}
	sink, err := openSink(ctx, opts.env, req.Format, req.Dest)
	if err != nil {
		return err
	}
	done, failed, err := exportAll(ctx, opts.globals, st, sink, targets, req.Content, req.Timeout)
	if cerr := sink.close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = fmt.Errorf("export: %w", cerr)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if req.JSON {
		out := struct {
			Version     int             `json:"version"`
			Format      string          `json:"format"`
			Destination string          `json:"destination"`
			Exported    []export.Result `json:"exported"`
			Failed      []exportFailure `json:"failed"`
		}{1, req.Format, sink.dest, done, failed}
		if out.Exported == nil {
			out.Exported = []export.Result{}
		}
		if out.Failed == nil {
			out.Failed = []exportFailure{}
		}
		if werr := writeJSON(opts.env.Stdout, out); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return &exitError{code: ExitIncomplete, msg: fmt.Sprintf("%d of %d runs were not exported", len(failed), len(targets))}
	}
	return nil
}

// resolveTargets resolves the arguments, or the filters, to runs. A path that
// exists wins over an id, as in inspect.
func resolveTargets(ctx context.Context, st *store.Store, req exportRequest) ([]exportTarget, error) {
	if len(req.Targets) == 0 {
		if st == nil {
			return nil, fmt.Errorf("export: no stored runs to select (the store is empty)")
		}
		rows, err := st.List(ctx, req.Filter)
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return nil, fmt.Errorf("export: no stored run matches (see replay ls)")
		}
		out := make([]exportTarget, 0, len(rows))
		for i := len(rows) - 1; i >= 0; i-- { // oldest first: originals before their replays
			out = append(out, exportTarget{arg: rows[i].ID, id: rows[i].ID})
		}
		return out, nil
	}
	var out []exportTarget
	for _, arg := range req.Targets {
		t, err := store.ParseTarget("export", arg)
		if err != nil {
			return nil, err
		}
		if t.IsPath {
			out = append(out, exportTarget{arg: arg, path: arg})
			continue
		}
		if st == nil {
			return nil, fmt.Errorf("export %q: no such file, and the store is empty", arg)
		}
		e, err := st.Find(ctx, t, store.ResolveOptions{})
		if err != nil {
			return nil, err
		}
		out = append(out, exportTarget{arg: arg, id: e.ID})
	}
	return out, nil
}

// exportAll exports the targets in turn, reporting each on stderr. A run
// the backend refused in part is counted and the next one tried; a failed
// request (unreachable, refused credentials) stops the batch: the next
// runs would fail alike.
func exportAll(ctx context.Context, g *globals, st *store.Store, sink *exportSink, targets []exportTarget, content bool, timeout time.Duration) ([]export.Result, []exportFailure, error) {
	var (
		done   []export.Result
		failed []exportFailure
	)
	for i, t := range targets {
		run, err := loadRun(ctx, st, t)
		if err != nil {
			return done, failed, err
		}
		opts := export.Options{Content: content, Version: replayVersion(), Original: export.OriginalOf(run, originalRun(ctx, st, run), sink.format)}
		rctx, cancel := context.WithTimeout(ctx, 2*timeout)
		res, err := sink.export(rctx, run, opts)
		cancel()
		if ctx.Err() != nil {
			return done, failed, ctx.Err()
		}
		var partial *export.EventErrors
		if err != nil {
			failed = append(failed, exportFailure{Run: run.Meta.ID, Error: err.Error()})
			fmt.Fprintln(g.env.Stderr, "replay: "+indent(err.Error(), "  "))
			if !errors.As(err, &partial) {
				for _, rest := range targets[i+1:] {
					failed = append(failed, exportFailure{Run: rest.arg, Error: "not attempted: the export before failed"})
				}
				if n := len(targets) - i - 1; n > 0 {
					fmt.Fprintf(g.env.Stderr, "replay: %s not attempted\n", plural(n, "more run", "more runs"))
				}
				return done, failed, nil
			}
			continue
		}
		done = append(done, res)
		what := plural(res.Spans, "span", "spans")
		if sink.format == export.FormatLangfuse {
			what = plural(res.Events, "event", "events")
		}
		line := fmt.Sprintf("exported %s as trace %s (%s) to %s", shortID(res.Run), res.TraceID, what, sink.dest)
		if o := res.Original; o != nil {
			line += fmt.Sprintf("; replay of %s, linked to trace %s", shortID(o.RunID), o.TraceID)
		}
		fmt.Fprintln(g.env.Stderr, line)
	}
	return done, failed, nil
}

// loadRun reads a target's run with its id: the stored id, the id a native
// file carries (that of the store it came from), or the id its content
// would have in the store.
func loadRun(ctx context.Context, st *store.Store, t exportTarget) (*trace.Run, error) {
	if t.id != "" {
		f, err := st.OpenRun(ctx, t.id)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		run, err := trace.DecodeRun(ctx, f, st.Path(t.id))
		if err != nil {
			return nil, fmt.Errorf("read run %s: %w", t.id, err)
		}
		run.Meta.ID = t.id
		return run, nil
	}
	run, err := trace.Collect(func(e trace.Emitter) error {
		_, err := importers.Import(ctx, t.path, "", trace.Options{}, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	if run.Meta.Format == trace.NativeName && store.LooksLikeID(run.Meta.ID) && len(run.Meta.ID) == store.IDLen {
		return run, nil
	}
	if run.Meta.ID, err = store.ContentID(ctx, t.path); err != nil {
		return nil, err
	}
	return run, nil
}

// originalRun reads the original of a replay from the store; nil when the
// run is not a replay or its original is not stored.
func originalRun(ctx context.Context, st *store.Store, run *trace.Run) *trace.Run {
	o := run.Meta.Replay
	if st == nil || o == nil || len(o.Of) != store.IDLen {
		return nil
	}
	f, err := st.OpenRun(ctx, o.Of)
	if err != nil {
		return nil
	}
	defer f.Close()
	orig, err := trace.DecodeRun(ctx, f, filepath.Base(st.Path(o.Of)))
	if err != nil {
		return nil
	}
	return orig
}

// replayVersion is the module version replay was built at.
func replayVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return ""
}

// --- replay run --export ---

// runExportFlag is the --export flag of replay run: the new runs go to a
// backend when the run ends. The destination comes from the environment
// ($OTEL_EXPORTER_OTLP_ENDPOINT, $LANGFUSE_HOST and keys), checked before
// the run starts.
type runExportFlag struct {
	format string
	dest   exportDest // set by check
}

func (e *runExportFlag) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&e.format, "export", "", "when the run ends, export the new run as `FORMAT` (otlp to $OTEL_EXPORTER_OTLP_ENDPOINT, langfuse to $LANGFUSE_HOST)")
}

// runExportTimeout bounds each request of an export after a run.
const runExportTimeout = 30 * time.Second

// check fails before the run when the export could not happen after it,
// and keeps the destination for after.
func (e *runExportFlag) check(g *globals) error {
	switch e.format {
	case "":
		return nil
	case export.FormatOTLP:
		if g.env.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && g.env.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
			return usage(errors.New("--export otlp: set OTEL_EXPORTER_OTLP_ENDPOINT to the collector (e.g. http://localhost:4318), or export later with replay export"))
		}
	case export.FormatLangfuse:
		if g.env.Getenv("LANGFUSE_HOST") == "" || g.env.Getenv("LANGFUSE_PUBLIC_KEY") == "" || g.env.Getenv("LANGFUSE_SECRET_KEY") == "" {
			return usage(errors.New("--export langfuse: set LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"))
		}
	default:
		return usage(fmt.Errorf("--export %q: want otlp or langfuse", e.format))
	}
	d, err := (&exportOptions{globals: g, Format: e.format, Timeout: runExportTimeout}).destination()
	if err != nil {
		return fmt.Errorf("--export %s: %w", e.format, err)
	}
	e.dest = d
	return nil
}

// resultIDs are the ids of the runs a replay stored.
func resultIDs(results []*replay.Result) []string {
	var ids []string
	for _, r := range results {
		if r != nil && r.ID != "" {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// after exports the stored runs ids once the run has ended; runErr is the
// run's own error, which wins. A failed export leaves the runs stored and
// exits 3.
func (e *runExportFlag) after(ctx context.Context, g *globals, st *store.Store, ids []string, runErr error) error {
	if e.format == "" || len(ids) == 0 || ctx.Err() != nil {
		return runErr
	}
	stored := "the new run is stored"
	if len(ids) > 1 {
		stored = "the new runs are stored"
	}
	sink, err := openSink(ctx, g.env, e.format, e.dest)
	if err != nil {
		if runErr != nil {
			return runErr
		}
		return &exitError{code: ExitIncomplete, msg: fmt.Sprintf("%s; it was not exported: %v (replay export %s retries)", stored, err, shortID(ids[0]))}
	}
	targets := make([]exportTarget, len(ids))
	for i, id := range ids {
		targets[i] = exportTarget{arg: id, id: id}
	}
	_, failed, err := exportAll(ctx, g, st, sink, targets, false, runExportTimeout)
	if cerr := sink.close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = cerr
	}
	switch {
	case runErr != nil:
		return runErr
	case err != nil:
		return &exitError{code: ExitIncomplete, msg: fmt.Sprintf("%s; it was not exported: %v", stored, err)}
	case len(failed) > 0:
		return &exitError{code: ExitIncomplete, msg: fmt.Sprintf("%s; %d of %d runs were not exported (replay export %s retries)", stored, len(failed), len(ids), shortID(ids[0]))}
	}
	return nil
}

// storeIfAny opens the store when one exists, for commands that only read
// it (a path target needs none); st is nil when there is no store.
func (g *globals) storeIfAny(ctx context.Context) (st *store.Store, closeStore func(), err error) {
	if _, exists, err := g.storeExists(); err != nil || !exists {
		return nil, func() {}, nil
	}
	if st, err = g.openStore(ctx, nil); err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}
