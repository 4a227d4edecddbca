package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay/proxy"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
)

// DummyKey is the API key an agent behind the proxy is given: the proxy
// drops it and adds the real one on the host side.
const DummyKey = "replay-proxy-dummy-key"

type recordOptions struct {
	*globals
	Command          []string
	Out              string
	Agent            string
	BaseURL          string
	AnthropicBaseURL string
	RequestTimeout   time.Duration
	JSON             bool
	set              func(string) bool
	// Sandbox: the agent runs in a sandbox (recordsandbox.go).
	Sandbox bool
	sandbox recordSandboxFlags
}

func newRecordCmd(g *globals, runF func(context.Context, *recordOptions) error) *cobra.Command {
	if runF == nil {
		runF = runRecord
	}
	opts := &recordOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "record [flags] -- <command> [args...]",
		Short: "Run an agent behind replay's model proxy and write a complete trace of it",
		Long: `Record runs an agent's own program, unchanged, with its model calls going
through replay's proxy on 127.0.0.1, and writes a native trace with every
request and response in full: system prompt, tool definitions, parameters,
the messages, streamed text, tool calls, usage and latency, plus the git
state of the working directory at the start (remote, commit, branch, the
uncommitted diff). Such a trace replays with all of the model's side known;
agents whose own traces lack the system prompt (Claude Code transcripts have
none) should be recorded this way.

The agent is started with these variables pointing at the proxy:

  OPENAI_BASE_URL     http://127.0.0.1:PORT/v1  (chat completions, responses)
  ANTHROPIC_BASE_URL  http://127.0.0.1:PORT     (messages)
  OPENAI_API_KEY, ANTHROPIC_API_KEY   a dummy key

The proxy sends the requests on, unchanged, to --base-url (else
$OPENAI_BASE_URL, else OpenAI) and --anthropic-base-url (else
$ANTHROPIC_BASE_URL, else Anthropic) with the real keys from replay's own
$OPENAI_API_KEY and $ANTHROPIC_API_KEY: the agent never sees them. Streamed
answers are passed through event by event. Rate limits and server errors
are retried as replay run does.

The agent's stdout and stderr pass through (with --json its stdout goes to
stderr, so that stdout is the JSON result). When it exits, the trace goes to
--out FILE, else into the store, whose id is printed. The exit code is the
agent's; the trace, with what it holds so far, is written also when the agent
fails or replay is interrupted (exit 130).

With --sandbox the agent runs in a sandbox instead of on this machine: its
workspace is the working directory's tree (--dir; tracked and untracked files
git does not ignore, uncommitted changes included) at the same path, in
--agent-image (default: replay's busybox image), with no network. The proxy
stays on the host and is reached over the executor's channel (a port on the
container's loopback); the real keys never enter the container. Such a trace
is what replay verify --agent-cmd re-runs against. See docs/agent-image.md.`,
		Example: `  # Record a Claude Code review in this repository
  replay record -- claude -p "review the last commit" --output-format stream-json

  # Record a team's own Python agent into a file, against a local model server
  replay record --out run.jsonl --base-url http://localhost:11434/v1 -- python agent.py --task 42

  # In a sandbox: the workspace is this directory's tree, the agent has no network
  replay record --sandbox --agent-image acme/reviewer:1.4 -- python -m reviewer --pr 42

  # Then look at it and replay it with another prompt
  replay inspect run.jsonl
  replay run run.jsonl --system-file prompts/v2.md`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Command = args
			opts.set = func(name string) bool { return cmd.Flags().Changed(name) }
			return runF(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false) // flags after the command are the agent's
	fl.StringVarP(&opts.Out, "out", "o", "", "write the trace to `FILE` instead of the store")
	fl.StringVar(&opts.Agent, "agent", "", "the agent's `NAME` in the trace (default: the command's base name)")
	fl.StringVar(&opts.BaseURL, "base-url", "", "send OpenAI-format requests to `URL` (default $OPENAI_BASE_URL, else "+proxy.DefaultUpstream+")")
	fl.StringVar(&opts.AnthropicBaseURL, "anthropic-base-url", "", "send Anthropic requests to `URL` (default $ANTHROPIC_BASE_URL, else "+proxy.DefaultAnthropicUpstream+")")
	fl.DurationVar(&opts.RequestTimeout, "request-timeout", 0, "let the upstream stay silent up to `DURATION` before an answer starts and between its bytes (default $REPLAY_REQUEST_TIMEOUT, else 2m to start, 1m between bytes)")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as JSON (the agent's stdout then goes to stderr)")
	fl.BoolVar(&opts.Sandbox, "sandbox", false, "run the agent in a sandbox whose workspace is the working directory's tree (no network; the proxy is reached over the executor's channel)")
	opts.sandbox.bind(cmd)
	return cmd
}

// recordJSON is `replay record --json` (versioned).
type recordJSON struct {
	Version   int          `json:"version"`
	ID        string       `json:"id,omitempty"`   // in the store
	Path      string       `json:"path,omitempty"` // --out
	ExitCode  int          `json:"exit_code"`
	Calls     int          `json:"llm_calls"`
	ToolCalls int          `json:"tool_calls"`
	Faults    int          `json:"faults"`
	Usage     *trace.Usage `json:"tokens,omitempty"`
	Commit    string       `json:"commit,omitempty"`
	Branch    string       `json:"branch,omitempty"`
}

func (opts *recordOptions) timeout() (time.Duration, error) {
	if opts.set != nil && opts.set("request-timeout") {
		if opts.RequestTimeout <= 0 {
			return 0, usage(fmt.Errorf("--request-timeout %s: want a positive duration, e.g. 90s or 10m", opts.RequestTimeout))
		}
		return opts.RequestTimeout, nil
	}
	if v := opts.env.Getenv("REPLAY_REQUEST_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return 0, usage(fmt.Errorf("REPLAY_REQUEST_TIMEOUT=%q: want a positive duration, e.g. 90s or 10m", v))
		}
		return d, nil
	}
	return 0, nil
}

// proxyConfig is the forward-mode proxy of a recording.
func (opts *recordOptions) proxyConfig() (proxy.Config, error) {
	d, err := opts.timeout()
	if err != nil {
		return proxy.Config{}, err
	}
	pricing, err := opts.pricing()
	if err != nil {
		return proxy.Config{}, err
	}
	first := func(vs ...string) string {
		for _, v := range vs {
			if strings.TrimSpace(v) != "" {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	return proxy.Config{
		Mode:              proxy.ModeForward,
		Upstream:          first(opts.BaseURL, opts.env.Getenv("OPENAI_BASE_URL")),
		AnthropicUpstream: first(opts.AnthropicBaseURL, opts.env.Getenv("ANTHROPIC_BASE_URL")),
		APIKey:            opts.env.Getenv("OPENAI_API_KEY"),
		AnthropicKey:      opts.env.Getenv("ANTHROPIC_API_KEY"),
		Pricing:           pricing,
		FirstByteTimeout:  d,
		IdleTimeout:       d,
		Warn:              func(err error) { fmt.Fprintln(opts.env.Stderr, "warning: "+err.Error()) },
	}, nil
}

// agentEnv is the agent's environment: replay's, with the model variables
// pointing at the proxy and the real keys replaced by a dummy.
func agentEnv(base []string, addr string) []string {
	set := map[string]string{
		"OPENAI_BASE_URL":    "http://" + addr + "/v1",
		"OPENAI_API_BASE":    "http://" + addr + "/v1",
		"ANTHROPIC_BASE_URL": "http://" + addr,
		"OPENAI_API_KEY":     DummyKey,
		"ANTHROPIC_API_KEY":  DummyKey,
	}
	drop := map[string]bool{"ANTHROPIC_AUTH_TOKEN": true}
	var out []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok || drop[k] {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

// recordMeta is the run's metadata: the agent, the command, the git state
// of dir at the start.
func recordMeta(opts *recordOptions, dir string, start time.Time, warn func(string)) trace.RunMeta {
	name := opts.Agent
	if name == "" {
		name = filepath.Base(opts.Command[0])
	}
	meta := trace.RunMeta{Format: proxy.RunFormat, Source: "replay record", Agent: name, Generator: "replay record",
		StartedAt: start.UTC(), Attributes: map[string]string{"record.command": strings.Join(opts.Command, " ")}}
	meta.Refs.Cwd = &trace.Ref{Value: dir, Provenance: trace.Recorded, From: "replay record"}
	lg, err := world.Local(dir)
	switch {
	case errors.Is(err, world.ErrNotRepo):
		warn(fmt.Sprintf("%s is not in a git repository: the trace records no repository or commit", dir))
	case err != nil:
		warn(err.Error())
	default:
		ref := func(v, from string) *trace.Ref {
			if v == "" {
				return nil
			}
			return &trace.Ref{Value: v, Provenance: trace.Recorded, From: from}
		}
		meta.Refs.Repo = ref(lg.Remote, "git remote")
		if meta.Refs.Repo == nil {
			meta.Refs.Repo = ref(lg.Root, "git work tree")
		}
		meta.Refs.Commit = ref(lg.Commit, "git HEAD")
		meta.Refs.Branch = ref(lg.Branch, "git HEAD")
		if lg.Dirty != "" {
			meta.Attributes["git.dirty_diff"] = lg.Dirty
			meta.Attributes["git.dirty_files"] = strings.Join(lg.DirtyFiles, "\n")
		}
		if rel, err := filepath.Rel(lg.Root, dir); err == nil && rel != "." {
			meta.Attributes["git.subdir"] = filepath.ToSlash(rel)
		}
	}
	return meta
}

func runRecord(ctx context.Context, opts *recordOptions) error {
	if opts.Sandbox {
		return runRecordSandbox(ctx, opts)
	}
	if err := opts.sandbox.check(opts.set); err != nil {
		return err
	}
	cfg, err := opts.proxyConfig()
	if err != nil {
		return err
	}
	p, err := proxy.New(cfg)
	if err != nil {
		return usage(err)
	}
	if opts.Out != "" {
		// Fail before the agent runs, not after.
		f, err := os.OpenFile(opts.Out, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("record: --out %q: %w", opts.Out, err)
		}
		f.Close()
	}
	dir, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	warn := func(s string) { fmt.Fprintln(opts.env.Stderr, "warning: "+s) }
	start := time.Now()
	meta := recordMeta(opts, dir, start, warn)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("record: start the proxy: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	stdout := opts.env.Stdout
	if opts.JSON {
		stdout = opts.env.Stderr
	}
	code, runErr := runAgent(ctx, opts.Command, agentEnv(os.Environ(), ln.Addr().String()), stdout, opts.env.Stderr)
	interrupted := ctx.Err() != nil

	// Requests still in flight end with the agent; the trace is written
	// even when interrupted.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	srv.Shutdown(sctx)
	cancel()

	meta.EndedAt = time.Now().UTC()
	meta.Attributes["record.exit_code"] = fmt.Sprint(code)
	run := p.Run(meta)
	switch {
	case interrupted:
		run.Outcome.Status, run.Outcome.Stopped = trace.StatusInterrupted, "interrupted"
	case runErr != nil:
		run.Outcome.Status, run.Outcome.Error = trace.StatusError, runErr.Error()
	case code != 0:
		run.Outcome.Status, run.Outcome.Error = trace.StatusError, fmt.Sprintf("the agent exited with status %d", code)
	}
	res := recordJSON{Version: 1, ExitCode: code}
	faults := 0
	for _, ex := range p.Exchanges() {
		if ex.Fault != "" {
			faults++
		}
	}
	res.Faults = faults
	var total trace.Usage
	run.Walk(func(r *trace.Run) {
		for _, s := range r.Steps {
			switch {
			case s.LLM != nil:
				res.Calls++
				if s.LLM.Usage != nil {
					total.Add(*s.LLM.Usage)
				}
			case s.Tool != nil:
				res.ToolCalls++
			}
		}
	})
	res.Usage = &total
	if meta.Refs.Commit != nil {
		res.Commit = meta.Refs.Commit.Value
	}
	if meta.Refs.Branch != nil {
		res.Branch = meta.Refs.Branch.Value
	}
	wctx := context.WithoutCancel(ctx)
	if err := writeRecorded(wctx, opts, run, &res); err != nil {
		return err
	}
	fmt.Fprintf(opts.env.Stderr, "recorded %s, %s, %d faulted request(s); the agent exited %d\n",
		plural(res.Calls, "model call", "model calls"), plural(res.ToolCalls, "tool call", "tool calls"), faults, code)
	if opts.JSON {
		if err := writeJSON(opts.env.Stdout, res); err != nil {
			return err
		}
	} else if res.ID != "" {
		fmt.Fprintln(opts.env.Stdout, res.ID)
	} else {
		fmt.Fprintln(opts.env.Stdout, res.Path)
	}
	switch {
	case interrupted:
		return context.Canceled
	case runErr != nil:
		return fmt.Errorf("record: %w", runErr)
	case code != 0:
		return &exitError{code: code}
	}
	return nil
}

// runAgent runs the agent's command and returns its exit code. An
// interrupt is passed on to the agent, which gets 10s to end.
func runAgent(ctx context.Context, argv []string, env []string, stdout, stderr io.Writer) (int, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if c := ee.ExitCode(); c >= 0 {
			return c, nil
		}
		return 128 + 2, nil // killed by a signal
	case ctx.Err() != nil:
		return ExitInterrupted, nil
	}
	return 127, fmt.Errorf("start %q: %w", argv[0], err)
}

// writeRecorded writes the run to --out or into the store.
func writeRecorded(ctx context.Context, opts *recordOptions, run *trace.Run, res *recordJSON) error {
	if opts.Out != "" {
		if err := writeTraceFile(opts.Out, run); err != nil {
			return fmt.Errorf("record: write %q: %w", opts.Out, err)
		}
		res.Path = opts.Out
		return nil
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
	dir := filepath.Join(st.Root(), "tmp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "record-*.jsonl")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	if err := writeTraceFile(tmp, run); err != nil {
		return fmt.Errorf("record: write the trace: %w", err)
	}
	r, err := st.ImportAs(ctx, tmp, "replay record: "+strings.Join(opts.Command, " "), "", trace.Options{})
	if err != nil {
		return fmt.Errorf("record: store the trace: %w", err)
	}
	res.ID = r.ID
	return nil
}

func writeTraceFile(path string, run *trace.Run) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := trace.Encode(f, run); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
