// Package executorbin embeds the static replay-executor binaries built by
// `go generate ./sandbox/executorbin` (the Makefile's `executor` target runs
// it before building replay). In a fresh clone the bin directory holds only
// a README, so nothing is embedded and package sandbox falls back to other
// sources (see sandbox.FindExecutor).
package executorbin

import (
	"embed"
	"io/fs"
)

//go:generate env CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath "-ldflags=-s -w" -o bin/replay-executor-linux-amd64 ../../cmd/replay-executor
//go:generate env CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath "-ldflags=-s -w" -o bin/replay-executor-linux-arm64 ../../cmd/replay-executor

//go:embed bin
var bin embed.FS

// Binary returns the embedded executor for linux/arch (Go's names: amd64,
// arm64), or false when none was built into this replay binary.
func Binary(arch string) ([]byte, bool) {
	b, err := fs.ReadFile(bin, "bin/replay-executor-linux-"+arch)
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return b, true
}
