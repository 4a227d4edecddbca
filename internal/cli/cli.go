// Package cli is the replay command line: flags become options, options go to
// the packages that do the work. Each command is an options struct, a
// constructor that binds its flags, and a run function that does not know
// cobra.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
)

// Exit codes: the contract scripts rely on.
const (
	ExitOK          = 0   // success
	ExitCheckFailed = 1   // a check failed: divergence, eval failure
	ExitUsage       = 2   // usage or input error (and any other failure)
	ExitIncomplete  = 3   // incomplete: a run stopped early (a limit, a model or sandbox failure), missing parts, nothing to compare
	ExitInterrupted = 130 // SIGINT or SIGTERM
)

// Main runs replay with the process's arguments, environment and standard
// streams, and returns the exit code.
func Main() int {
	if os.Getenv("GOGC") == "" {
		// Imports allocate briskly but keep little alive (a 500 MB trace
		// peaks at ~40 MB of live heap): collecting less often is a third
		// faster, and the heap stays well under 256 MB.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process the usual way
	}()
	return Run(ctx, os.Args[1:], Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
}

// Env is what a command may use of the process: its output streams and its
// environment variables.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Run runs replay with args and returns the exit code. It is Main without
// the process: tests call it directly.
func Run(ctx context.Context, args []string, env Env) int {
	g := &globals{env: env}
	root := newRootCmd(g)
	root.SetArgs(defaultRun(root, args))
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	return exitCode(ctx, cmd, err, env.Stderr)
}

// defaultRun makes `replay <trace> [flags]` mean `replay run <trace>
// [flags]`: when the first argument is not a command but a path or an id.
func defaultRun(root *cobra.Command, args []string) []string {
	// The first argument that is not a global flag (or its value).
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if (args[i] == "--home" || args[i] == "--pricing") && i+1 < len(args) {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	first := args[i]
	for _, c := range root.Commands() {
		if c.Name() == first || slices.Contains(c.Aliases, first) {
			return args
		}
	}
	if first == "help" || first == "completion" {
		return args
	}
	if _, err := os.Stat(first); err != nil && !store.LooksLikeID(first) {
		return args // a mistyped command, reported as such
	}
	return slices.Concat(args[:i], []string{"run"}, args[i:])
}

// exitError carries an exit code; an empty message means the reason was
// printed already.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError marks a usage mistake (bad flag, wrong arguments); the hint
// names the --help of the command that failed.
type usageError struct {
	err error
}

// usage marks err as a usage mistake.
func usage(err error) error { return &usageError{err: err} }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitCode is the one place that maps errors to exit codes, and prints them.
// cmd is the command that ran (its --help is the usage hint).
func exitCode(ctx context.Context, cmd *cobra.Command, err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var stop *replay.StopError
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || (errors.As(err, &stop) && stop.Reason == "interrupted") {
		fmt.Fprintln(stderr, "replay: interrupted")
		return ExitInterrupted
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "replay: "+ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "replay: "+err.Error())
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		help := "replay"
		if cmd != nil {
			help = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", help)
		return ExitUsage
	case errors.As(err, &stop):
		// A limit, a model error, a sandbox fault: the run is incomplete
		// (its partial run is stored).
		return ExitIncomplete
	}
	return ExitUsage
}

// globals are the flags and environment every command shares.
type globals struct {
	env         Env
	home        string // --home
	pricingFile string // --pricing
	verbose     bool   // --verbose
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "replay",
		Short: "Rebuild an LLM agent run from its trace, replay it with changes, and diff",
		Long: `replay reads agent traces (Claude Code transcripts, OpenTelemetry GenAI spans,
Langfuse exports, Codex rollouts, replay's own files), keeps them in a local
store, and tells what a run did: models, steps, tools, tokens, cost, the refs
it points to and whether it can be replayed.

The store lives in --home, else $REPLAY_HOME, else $XDG_DATA_HOME/replay, else
~/.local/share/replay. Prices come from --pricing FILE, else pricing.json in
the store directory when it exists, else the table built into replay.

Exit codes: 0 ok, 1 a check failed, 2 usage or input error, 3 incomplete, 130 interrupted.
Incomplete: a run stopped early (--max-steps, --max-cost, --timeout, a model or
sandbox failure); its partial run is stored.
Data goes to stdout, status and warnings to stderr.`,
		Example: `  # Add traces to the store, then list and inspect them
  replay import ~/.claude/projects/-home-me-widgets/*.jsonl
  replay ls --since 7d
  replay inspect 3f2a91c0

  # Inspect a file without storing it
  replay inspect run-telemetry.jsonl --json | jq .cost_usd`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.home, "home", "", "store `DIR` (default $REPLAY_HOME, else $XDG_DATA_HOME/replay, else ~/.local/share/replay)")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "print more status on stderr (the sandbox's run id, for replay sandbox prune --run)")
	root.PersistentFlags().StringVar(&g.pricingFile, "pricing", "", "pricing table `FILE` merged over the built-in one (default $REPLAY_HOME/pricing.json if present)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usage(err)
	})
	root.AddCommand(newImportCmd(g, nil), newLsCmd(g, nil), newInspectCmd(g, nil), newRmCmd(g, nil), newGcCmd(g, nil),
		newSandboxCmd(g), newVerifyCmd(g, nil), newRunCmd(g, nil), newWorldCmd(g), newExportCmd(g, nil), newDiffCmd(g, nil),
		newEvalCmd(g), newFeedbackCmd(g), newCompareCmd(g, nil), newRecordCmd(g, nil))
	for _, c := range root.Commands() {
		args := c.Args
		c.Args = func(c *cobra.Command, a []string) error {
			if args == nil {
				return nil
			}
			if err := args(c, a); err != nil {
				return usage(err)
			}
			return nil
		}
	}
	return root
}

// homeDir resolves the store root: --home, $REPLAY_HOME,
// $XDG_DATA_HOME/replay, ~/.local/share/replay.
func (g *globals) homeDir() (string, error) {
	if g.home != "" {
		return g.home, nil
	}
	if h := g.env.Getenv("REPLAY_HOME"); h != "" {
		return h, nil
	}
	if x := g.env.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "replay"), nil
	}
	if h := g.env.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "replay"), nil
	}
	return "", errors.New("find the store: set --home or $REPLAY_HOME (no $HOME to default to)")
}

// pricing loads the pricing table: --pricing, else <home>/pricing.json when
// present, else the embedded table.
func (g *globals) pricing() (*model.Pricing, error) {
	if g.pricingFile != "" {
		return model.LoadPricing(g.pricingFile)
	}
	home, err := g.homeDir()
	if err != nil {
		return model.DefaultPricing(), nil
	}
	p := filepath.Join(home, "pricing.json")
	if _, err := os.Stat(p); err == nil {
		return model.LoadPricing(p)
	}
	return model.DefaultPricing(), nil
}

// openStore opens (creating it when asked) the store.
func (g *globals) openStore(ctx context.Context, pricer trace.Pricer) (*store.Store, error) {
	home, err := g.homeDir()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, home, store.Options{Pricer: pricer})
}

// storeExists reports whether a store has been created at the home
// directory, so that read-only commands do not create one.
func (g *globals) storeExists() (string, bool, error) {
	home, err := g.homeDir()
	if err != nil {
		return "", false, err
	}
	_, err = os.Stat(filepath.Join(home, "index.db"))
	if errors.Is(err, fs.ErrNotExist) {
		return home, false, nil
	}
	return home, err == nil, err
}

// writeJSON prints v as the indented JSON every --json output uses.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// indent prefixes every line but the first of s.
func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}
