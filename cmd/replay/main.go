// Command replay rebuilds an LLM agent run from its trace, re-executes it
// with a changed prompt or model, and diffs the result. See internal/cli.
package main

import (
	"os"

	"github.com/agentreplay/replay/internal/cli"
)

func main() { os.Exit(cli.Main()) }
