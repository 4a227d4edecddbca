package executor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
)

// Main is the executor program: `replay-executor serve` speaks the framed
// protocol on stdin/stdout until stdin ends; `replay-executor version`
// prints the protocol and program versions. It returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 1 {
		cmd = args[1]
	}
	switch cmd {
	case "serve":
		reserveThreads(24)
		role, err := harden()
		if err != nil {
			fmt.Fprintf(stderr, "replay-executor: %v\n", err)
			return 1
		}
		ctx := context.Background()
		if role == nil {
			// Not the container's init (run by hand): end on SIGTERM and
			// SIGINT. As init, signals from commands are discarded.
			var stop context.CancelFunc
			ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
			defer stop()
		}
		if err := serve(ctx, stdin, stdout, stderr, os.Environ(), role); err != nil {
			fmt.Fprintf(stderr, "replay-executor: %v\n", err)
			return 1
		}
		return 0
	case "chown":
		// chown UID:GID DIR: used once, as root with only CAP_CHOWN, to give
		// a top-level workspace volume's root to the sandbox user.
		if len(args) != 4 {
			fmt.Fprintln(stderr, "replay-executor: usage: chown UID:GID DIR")
			return 2
		}
		var uid, gid int
		if _, err := fmt.Sscanf(args[2], "%d:%d", &uid, &gid); err != nil {
			fmt.Fprintf(stderr, "replay-executor: chown: bad owner %q\n", args[2])
			return 2
		}
		if err := os.Chown(args[3], uid, gid); err != nil {
			fmt.Fprintf(stderr, "replay-executor: %v\n", err)
			return 1
		}
		if err := os.Chmod(args[3], 0o755); err != nil {
			fmt.Fprintf(stderr, "replay-executor: %v\n", err)
			return 1
		}
		return 0
	case "version":
		fmt.Fprintf(stdout, "replay-executor %s (protocol %d)\n", Version, ProtocolVersion)
		return 0
	default:
		fmt.Fprintf(stderr, "replay-executor: unknown command %q (want serve or version)\n", cmd)
		return 2
	}
}

// reserveThreads makes the Go runtime create n OS threads now and keep them
// idle, so that the executor still has threads when a fork bomb has used up
// the container's pids limit (a runtime that cannot create a thread dies).
func reserveThreads(n int) {
	var ready, release sync.WaitGroup
	ready.Add(n)
	release.Add(1)
	var done sync.WaitGroup
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			ready.Done()
			release.Wait()
			runtime.UnlockOSThread()
		}()
	}
	ready.Wait()
	release.Done()
	done.Wait()
}
