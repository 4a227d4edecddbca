// Package sandbox re-executes an agent's tool calls in a hardened Docker
// container, through a fast in-container executor.
//
// # Use
//
//	docker, err := sandbox.NewDocker(ctx, sandbox.ClientOptionsFromEnv(os.Getenv))
//	sb, err := docker.Start(ctx, sandbox.Options{
//		WorkDir:   "/home/runner/work/widgets/widgets", // the recorded cwd
//		Workspace: tarOfTheRepo,                        // an io.Reader of a tar
//	})
//	defer sb.Close(ctx)
//	res, err := sb.Exec(ctx, sandbox.ToolCall{Name: "Bash", Arguments: args})
//	changes, err := sb.Changes(ctx) // the files touched
//
// New's ctx bounds the sandbox's life: when it is cancelled (SIGINT and
// SIGTERM cancel cmd/replay's root context) the container is removed on a
// context that outlives it, even if Close is never reached. A panic that
// unwinds through a deferred Close removes it too. A process killed with
// SIGKILL cannot clean up: its container's stdin closes, the executor
// exits and the stopped container waits for Prune (`replay sandbox prune`),
// which removes containers and volumes by the label io.replay.managed=true.
//
// A black-box re-run (the agent's own program in the sandbox) uses the
// program channel (below):
//
//	ln, err := sb.ListenInside(ctx, 4141)   // 127.0.0.1:4141 inside, a net.Listener here
//	go (&http.Server{Handler: modelProxy}).Serve(ln)
//	p, err := sb.StartProgram(ctx, sandbox.Program{
//		Command: "python -m reviewer",
//		Env:     []string{"OPENAI_BASE_URL=http://127.0.0.1:4141/v1"},
//		Timeout: 15 * time.Minute, Stdout: os.Stderr, Stderr: os.Stderr,
//	})
//	res, err := p.Wait() // exit code, Fault "timeout", output dropped
//
// The replay engine consumes the Sandbox interface and starts sandboxes
// through a Backend; Docker (backend.go) is the Docker backend, whose
// containers are *Container (start.go: how one starts; containerSpec: the
// hardening, unit-tested without a daemon). sandboxtest.Run is the
// conformance suite any other backend must pass; a backend whose
// sandboxes also run programs (ProgramSandbox: ListenInside,
// StartProgram) passes sandboxtest.RunProgram too. The tools are one list,
// executor.Tools (executor/registry.go).
//
// # The executor and how replay gets it
//
// replay-executor (cmd/replay-executor, package sandbox/executor) is a
// static Go program (CGO_ENABLED=0) that runs as the container's first
// process (see "Integrity" below for why there is no init beside it). It
// speaks length-prefixed JSON frames over
// the container's attach stream (stdin, and stdout demultiplexed from
// Docker's stream framing), many calls in flight at once, so a tool call
// costs one process spawn inside the container (Bash) or none (Read,
// Write, Edit, Glob, Grep, LS are implemented in Go), never a `docker exec`.
// It imitates Claude Code's tools and their result texts (per Claude Code
// version, Options.ToolVersion) and a generic set (GenericTools).
//
// The executor is copied into every container before it starts, into a
// volume at /.replay owned by root and read-only to the sandbox user, so it
// works in any image (--image), even one without a shell. FindExecutor
// locates it, in order: an explicit path (Options.ExecutorPath, a flag);
// the binaries embedded in replay at build time (package
// sandbox/executorbin: `go generate ./sandbox/executorbin`, run by `make`,
// builds linux/amd64 and linux/arm64 into its bin directory, whose README
// placeholder is what a fresh clone embeds); a replay-executor file beside
// the running program. A binary from `go install` or a plain `go build`
// embeds none, so New goes on (resolveExecutor): replay itself when it is
// a static Linux binary (CGO_ENABLED=0; cmd/replay runs as the executor
// when called replay-executor), else one built once with the Go toolchain
// from the source the binary was built from (the checkout, or the module
// cache for `go install …@version`), kept in the cache keyed by the
// binary's hash, with a progress line. Each candidate must be a static
// Linux ELF for the image's architecture; only when every way fails does
// New stop, with an error saying how to get one. Tests build it with `go build` into a temporary directory
// (sandboxtest.BuildExecutor), so `go test ./...` works on a fresh clone.
//
// # Integrity: the code under replay cannot lie to replay
//
// Tool commands run as the same user as the executor, so what keeps them
// from forging, reordering, dropping or stalling the executor's answers is
// not a uid but where the channel lives and who can reach it:
//
//   - The executor is the container's PID 1 (Docker's --init is off). An
//     init beside it would hold the attach stream's stdin and stdout too,
//     and a command could write frames into /proc/1/fd/1.
//   - The executor is not dumpable (prctl PR_SET_DUMPABLE 0): its /proc
//     entries belong to root and ptrace is refused, so no command can open
//     its file descriptors or read its memory. The descriptors it gives a
//     command are pipes of that command's own; the protocol's are never
//     inherited.
//   - As PID 1 of the container's PID namespace it cannot be killed or
//     stopped from inside (the kernel drops SIGKILL and SIGSTOP sent to a
//     namespace's init by its members; every other signal it takes and
//     discards), so `kill -9 -1` ends the command, not the executor.
//   - Between calls it ends every other process (kill(-1, SIGKILL) spares
//     only the caller) and reaps the orphans: nothing a call started —
//     setsid, nohup, a double fork — survives to change what later calls
//     see.
//   - On the host, every frame is bound to its call: an answer to a request
//     that was never sent, a second answer to one, a frame that does not
//     decode, or a header whose body does not follow within FrameTime (10 s)
//     ends the sandbox at once with a FaultError of kind "protocol" naming
//     the call, never at the run's timeout. A call's own deadline is
//     enforced on the host too (its limit plus a grace period).
//
// # The program channel
//
// An agent's own program (Claude Code, a team's Python agent) runs in the
// sandbox while replay serves its model calls on the host (replay/proxy).
// The sandbox has no network, and none is added for this: no published
// port, no bridge. The program reaches replay over the executor's own
// channel instead:
//
//   - OpListen makes the executor listen on the container's loopback
//     (127.0.0.1:PORT; lo is the one interface of network mode none). Each
//     connection it accepts gets an id (1, 2, 3, … in order), announced on
//     the listen request before any of its bytes; on the host ListenInside
//     returns a net.Listener whose Accept yields a net.Conn per
//     connection (deadlines, half-close), so http.Server serves the proxy
//     on it unchanged.
//   - A connection's bytes travel as stream frames (OpData, OpWindow,
//     OpEOF, OpClose one way; Response frames with Conn the other), with
//     no request id and no answer, multiplexed with the tool calls on the
//     same stdin/stdout. Flow control is by credit: each side may have at
//     most StreamWindow (256 KiB) of a connection unacknowledged, in
//     frames of at most StreamChunk (32 KiB), and at most MaxStreams (128)
//     connections are open (the executor refuses more). So the host's
//     reader never waits on a connection's consumer — a program that
//     floods a connection, or stops reading one, stalls that connection
//     only — and each side buffers at most MaxStreams × StreamWindow.
//   - A connection ends with one Close from each side; the host's is
//     graceful (what it wrote is delivered first, within closeGrace), and
//     the id is free once both were sent.
//   - OpSpawn runs the program (sh -c when the image has a shell, else
//     the command split into words) in the workspace with the environment
//     the host names (the proxy's base URLs and dummy keys: the real key
//     never enters the container). Its output streams back as it comes,
//     up to a limit (1 MiB by default); beyond it the rest is counted and
//     dropped inside, so a flood costs the host nothing. It ends at its
//     time limit (Fault "timeout"), by cancel (Process.Kill, ctx), or by
//     itself, with its exit code. While it runs it counts as a call in
//     flight, so the sweep between tool calls spares it; when it ends,
//     everything it started ends too.
//
// The integrity rules hold for the channel: the listener and the
// connections are the executor's descriptors (close-on-exec, never
// inherited; the executor stays non-dumpable, so a program cannot reach
// them through /proc), and the program's own output goes through pipes of
// its own, never the protocol's stdout. On the host every stream frame is
// bound to a connection the executor announced, to that connection's
// state (nothing after its EOF or Close) and to the window the host gave
// it: data for a connection never announced, beyond its window, larger
// than a chunk or after its close, credit for bytes never sent, an
// announcement out of order or on a request that is no listener — each is
// a desync that ends the sandbox with a FaultError of kind "protocol", as
// for tool calls. Measured on a 2-core machine through Docker's attach
// stream: ~30-60 MB/s for one connection, a small HTTP request and answer
// in ~0.5 ms at p50.
//
// Resources hold for every write path: memory, pids and CPU are cgroup
// limits; /tmp is a capped tmpfs; the workspace volume (Docker's local
// volumes have no size limit) is capped by the executor: every file a
// command writes is capped at the disk limit (RLIMIT_FSIZE), a running
// command is watched and stopped once the workspace passes the limit, and
// the file tools check before they write (Options.DiskBytes, default 4 GiB;
// the call's result says so, with Fault "disk", and the replay goes on).
//
// The attacks are tests against a real daemon (attack_test.go): a forged
// frame and a 64 MiB header written to every reachable descriptor, kill -9
// -1, SIGSTOP and SIGTERM to the executor, setsid/nohup/double-fork
// survivors, a 200 MB write into a 64 MB workspace.
//
// # Images
//
// No registry is assumed. BuildImage (`replay sandbox build`) makes
// DefaultImage locally from a static busybox found on the host (Debian:
// busybox-static) plus /etc/passwd with the sandbox user 1000, written as a
// root filesystem tar and imported through the Engine API (what `docker
// import` does). New builds replay's own image (the repository
// replay-sandbox, any tag) on first use when it is missing, with a progress
// line. Any local image works as well (Options.Image).
//
// # Hardening (defaults)
//
// No network (network mode none: only a loopback interface); all
// capabilities dropped; no-new-privileges; read-only root filesystem with a
// writable workspace volume and a tmpfs /tmp (nosuid, nodev, but programs
// may run from it, as `go test` needs); a non-root user (1000:1000);
// pids, memory (no swap) and CPU limits; per-call time limits (enforced in
// the container, backed by a host-side watchdog) and a per-run limit; no
// host environment or secrets passed in; logging off (the protocol is not a
// log); labels io.replay.managed=true and io.replay.run=<id>; no bind
// mounts. File tools refuse paths outside the workspace, lexically or
// through symlinks. Command output beyond the output limit is dropped
// inside the container, so a command printing a gigabyte costs the runner
// nothing. A fork bomb hits the pids limit (the executor keeps spare
// threads so it survives it); a memory hog is reported as Result.Fault
// "oom", or a FaultError when the executor itself was killed.
//
// # Workspace
//
// The workspace enters as a tar stream through the Engine API's copy
// (modes, times and symlinks kept; entries owned by the sandbox user; names
// climbing out and device files refused). Docker cannot copy into a
// read-only root filesystem, only into a volume, and keeps a volume's root
// owned by root; so the volume is mounted on the work directory's parent
// and the work directory comes from the tar. A top-level work directory
// (/work) gets its own volume, handed to the sandbox user by a one-shot
// helper container (root with only CAP_CHOWN and CAP_FOWNER, no network).
//
// Changes compares the workspace with a metadata snapshot the executor
// takes at start (a file is modified when its size, mode, mtime, inode or
// link target changed). CopyOut streams a tar of chosen paths back.
package sandbox
