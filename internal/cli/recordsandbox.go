package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/proxy"
	"github.com/agentreplay/replay/sandbox"
)

// recordSandboxOptions are the flags of `replay record --sandbox -- CMD`:
// the agent's program run in a sandbox whose workspace is the current
// directory (its git working tree), behind the proxy in forward mode.
// runRecordSandbox is what `replay record` calls with --sandbox; the host
// mode is the proxy's side of the command.
type recordSandboxOptions struct {
	Command      string
	Dir          string
	Agent        string
	Image        string
	Executor     string
	Disk         string
	Timeout      time.Duration
	BaseURL      string
	AnthropicURL string
	Out          string // also write the trace to this file
	JSON         bool
	NoCache      bool
}

func (o *recordSandboxOptions) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.Dir, "dir", "", "with --sandbox, the directory the agent works in, copied into the sandbox at the same path (default: the current directory)")
	fl.StringVar(&o.Agent, "agent", "", "name the agent `NAME` in the trace")
	fl.StringVar(&o.Image, "agent-image", "", "with --sandbox, run the agent in image `IMG` (one with the agent installed; default "+sandbox.DefaultImage+")")
	fl.StringVar(&o.Executor, "executor", "", "with --sandbox, use the static replay-executor binary at `PATH`")
	fl.StringVar(&o.Disk, "disk", "4GiB", "with --sandbox, cap the sandbox's workspace at `SIZE`")
	fl.DurationVar(&o.Timeout, "agent-timeout", time.Hour, "end an agent that runs longer than `DURATION` (the partial trace is kept)")
	fl.StringVar(&o.BaseURL, "base-url", "", "forward OpenAI requests to `URL` (default $OPENAI_BASE_URL, else https://api.openai.com/v1); the key is $OPENAI_API_KEY")
	fl.StringVar(&o.AnthropicURL, "anthropic-base-url", "", "forward Anthropic requests to `URL` (default $ANTHROPIC_BASE_URL, else https://api.anthropic.com); the key is $ANTHROPIC_API_KEY")
	fl.StringVar(&o.Out, "trace-out", "", "also write the trace, in replay's native format, to `FILE`")
	fl.BoolVar(&o.JSON, "json", false, "print the result as JSON")
	fl.BoolVar(&o.NoCache, "no-cache", false, "ask the upstream even when the response cache has the answer")
}

// runRecordSandbox records an agent run in a sandbox.
func runRecordSandbox(ctx context.Context, g *globals, o *recordSandboxOptions) error {
	if o.Command == "" {
		return usage(errors.New("record: give the agent's command after --, e.g. replay record --sandbox -- ./agent --task review"))
	}
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return err
		}
	}
	disk, err := units.RAMInBytes(o.Disk)
	if err != nil || disk <= 0 {
		return usage(fmt.Errorf("--disk %q: want a size such as 500MiB or 8GiB", o.Disk))
	}
	ro := &runOptions{globals: g, NoCache: o.NoCache}
	ro.agent.AnthropicURL = o.AnthropicURL
	pcfg, err := ro.proxyConfig()
	if err != nil {
		return err
	}
	pcfg.Upstream = o.BaseURL
	if pcfg.Upstream == "" {
		pcfg.Upstream = g.env.Getenv("OPENAI_BASE_URL")
	}
	s, done, err := g.session(ctx, &replayFlags{}, nil)
	if err != nil {
		return err
	}
	defer done()
	res, runErr := s.RecordAgent(ctx, replay.RecordRequest{
		Command: o.Command, Dir: dir, Agent: o.Agent, Image: o.Image, ExecutorPath: o.Executor, DiskBytes: disk,
		Timeout: o.Timeout, Proxy: pcfg, Stdout: g.env.Stderr, Stderr: g.env.Stderr,
	})
	if res == nil {
		return runErr
	}
	if o.Out != "" && res.ID != "" {
		b, err := os.ReadFile(s.Store.Path(res.ID))
		if err != nil {
			return fmt.Errorf("--trace-out: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
			return fmt.Errorf("--trace-out: %w", err)
		}
		if err := os.WriteFile(o.Out, b, 0o644); err != nil {
			return fmt.Errorf("--trace-out: %w", err)
		}
	}
	if o.JSON {
		out := agentJSON{Version: 1, Run: res.ID, Mode: string(proxy.ModeForward)}
		out.fill(res, runErr)
		if err := writeJSON(g.env.Stdout, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(g.env.Stdout, res.ID)
		w := g.env.Stderr
		writeAgentLine(w, res, runErr)
		fmt.Fprintf(w, "record: %d model requests recorded in %s (replay inspect %s; replay verify %s --agent-cmd %q)\n", len(res.Exchanges), shortID(res.ID), shortID(res.ID), shortID(res.ID), o.Command)
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
