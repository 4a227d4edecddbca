package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRecordCmd is `replay record [--sandbox] -- CMD`. The host mode (the
// agent run on this machine behind the proxy) is the proxy branch's; this
// file binds --sandbox (recordsandbox.go) so that the command exists on
// this branch, and is to be merged into theirs.
func newRecordCmd(g *globals) *cobra.Command {
	opts := &recordSandboxOptions{}
	var inSandbox bool
	cmd := &cobra.Command{
		Use:   "record [--sandbox] -- CMD [ARG...]",
		Short: "Run an agent behind the recording proxy and write a native trace with every model request and answer",
		Long: `Record runs an agent's program unchanged behind replay's model proxy in forward
mode, and stores a native trace with every request and response in full (system
prompt, tool definitions, parameters, streamed text, usage, latency), the tool
results the agent sent, and the git state at the start (repo, commit, branch,
what was uncommitted). Such a trace replays with all of the model's side known:
replay verify --agent-cmd re-runs the same program against it.

With --sandbox the program runs in a sandbox (no network; the proxy is reached
through the executor's channel) whose workspace is the current directory (--dir):
its git working tree, uncommitted and untracked files included, at the same
path. The program gets OPENAI_BASE_URL, ANTHROPIC_BASE_URL and dummy keys; the
real keys ($OPENAI_API_KEY, $ANTHROPIC_API_KEY) stay on the host, added by the
proxy. The trace id is printed on stdout.`,
		Example: `  replay record --sandbox -- ./review-agent --pr 42
  replay record --sandbox --agent-image replay-claude:latest -- claude -p "review the diff"
  replay record --sandbox --base-url http://localhost:11434/v1 --trace-out run.jsonl -- python agent.py`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() < 0 && len(args) > 0 {
				return usage(errors.New("record: put the agent's command after --, e.g. replay record --sandbox -- ./agent"))
			}
			if len(args) == 0 {
				return usage(errors.New("record: give the agent's command after --"))
			}
			if !inSandbox {
				return usage(errors.New("record: this build records in a sandbox only: pass --sandbox"))
			}
			opts.Command = commandLine(args)
			return runRecordSandbox(cmd.Context(), g, opts)
		},
	}
	cmd.Flags().BoolVar(&inSandbox, "sandbox", false, "run the agent in a sandbox with the current directory as its workspace")
	opts.bind(cmd)
	return cmd
}
