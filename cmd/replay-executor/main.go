// Command replay-executor is the in-container tool executor of the replay
// sandbox. It is built as a static Linux binary (CGO_ENABLED=0), copied into
// each sandbox container at start, and speaks the framed protocol of
// package sandbox/executor on stdin/stdout. It is not meant to be run by
// hand.
package main

import (
	"os"

	"github.com/agentreplay/replay/sandbox/executor"
)

func main() {
	os.Exit(executor.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
