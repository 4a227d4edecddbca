package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/sandbox"
)

// recordSandboxFlags are the flags of `replay record --sandbox`: the
// agent's program run in a sandbox whose workspace is the working
// directory's tree, behind the proxy in forward mode (record.go is the
// command; its flags --out, --agent, --base-url, --anthropic-base-url,
// --request-timeout and --json apply too).
type recordSandboxFlags struct {
	Dir      string
	Image    string
	Executor string
	Disk     string
	Timeout  time.Duration
}

func (f *recordSandboxFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.Dir, "dir", "", "with --sandbox, the directory the agent works in, copied into the sandbox at the same path (default: the working directory)")
	fl.StringVar(&f.Image, "agent-image", "", "with --sandbox, run the agent in image `IMG` (one with the agent installed; default "+sandbox.DefaultImage+")")
	fl.StringVar(&f.Executor, "executor", "", "with --sandbox, use the static replay-executor binary at `PATH` (default: the one built into replay)")
	fl.StringVar(&f.Disk, "disk", "4GiB", "with --sandbox, cap the sandbox's workspace at `SIZE`")
	fl.DurationVar(&f.Timeout, "agent-timeout", time.Hour, "with --sandbox, end an agent that runs longer than `DURATION` (the partial trace is kept)")
}

// check refuses the sandbox's flags without --sandbox.
func (f *recordSandboxFlags) check(set func(string) bool) error {
	for _, name := range []string{"dir", "agent-image", "executor", "disk", "agent-timeout"} {
		if set != nil && set(name) {
			return usage(fmt.Errorf("--%s goes with --sandbox", name))
		}
	}
	return nil
}

// runRecordSandbox is `replay record --sandbox -- CMD`.
func runRecordSandbox(ctx context.Context, opts *recordOptions) error {
	f := &opts.sandbox
	dir := f.Dir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	disk, err := units.RAMInBytes(f.Disk)
	if err != nil || disk <= 0 {
		return usage(fmt.Errorf("--disk %q: want a size such as 500MiB or 8GiB", f.Disk))
	}
	if f.Timeout <= 0 {
		return usage(fmt.Errorf("--agent-timeout %s: want a positive duration", f.Timeout))
	}
	cfg, err := opts.proxyConfig()
	if err != nil {
		return err
	}
	if opts.Out != "" {
		// Fail before the agent runs, not after.
		fh, err := os.OpenFile(opts.Out, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("record: --out %q: %w", opts.Out, err)
		}
		fh.Close()
	}
	warn := func(s string) { fmt.Fprintln(opts.env.Stderr, "warning: "+s) }
	meta := recordMeta(opts, dir, time.Now(), warn)
	meta.Generator = "replay record --sandbox"
	s, done, err := opts.session(ctx, &replayFlags{}, nil)
	if err != nil {
		return err
	}
	defer done()
	command := commandLine(opts.Command)
	res, runErr := s.RecordAgent(ctx, replay.RecordRequest{
		Command: command, Dir: dir, Meta: meta, Image: f.Image, ExecutorPath: f.Executor, DiskBytes: disk,
		Timeout: f.Timeout, Proxy: cfg, Stdout: opts.env.Stderr, Stderr: opts.env.Stderr,
	})
	if res == nil {
		return runErr
	}
	if opts.Out != "" && res.Run != nil {
		if err := writeTraceFile(opts.Out, res.Run); err != nil {
			return fmt.Errorf("record: write %q: %w", opts.Out, err)
		}
	}
	if opts.JSON {
		out := agentJSON{Version: 1, Run: res.ID, Mode: string(res.Mode)}
		out.fill(res, runErr)
		if err := writeJSON(opts.env.Stdout, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(opts.env.Stdout, res.ID)
		writeAgentLine(opts.env.Stderr, res, runErr)
		fmt.Fprintf(opts.env.Stderr, "record: %d model requests recorded in %s (replay inspect %s; replay verify %s --agent-cmd %q)\n", len(res.Exchanges), shortID(res.ID), shortID(res.ID), shortID(res.ID), command)
	}
	var ae *replay.AgentError
	switch {
	case runErr == nil:
		return nil
	case errors.As(runErr, &ae) && ae.Program != nil && ae.Program.Fault == "" && ae.Program.ExitCode != 0:
		// The exit code is the agent's, as on the host.
		return &exitError{code: ae.Program.ExitCode}
	}
	return agentExit(res, runErr)
}

// commandLine joins the words after -- into one command line: a single
// word is taken as a command line already; several are quoted for sh.
func commandLine(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@+%") == "" {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
