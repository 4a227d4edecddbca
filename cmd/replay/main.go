// Command replay rebuilds an LLM agent run from its trace, re-executes it
// with a changed prompt or model, and diffs the result. See internal/cli.
//
// Called as replay-executor, it is the sandbox's in-container tool
// executor instead (see cmd/replay-executor): a replay built as a static
// binary (CGO_ENABLED=0) then serves as its own executor when no separate
// one was embedded.
package main

import (
	"os"
	"path/filepath"

	"github.com/agentreplay/replay/internal/cli"
	"github.com/agentreplay/replay/sandbox/executor"
)

func main() {
	if filepath.Base(os.Args[0]) == "replay-executor" {
		os.Exit(executor.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(cli.Main())
}
