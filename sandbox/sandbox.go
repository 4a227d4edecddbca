package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/agentreplay/replay/sandbox/executor"
)

// Sandbox is where tool calls are re-executed. The Docker backend
// (*Container) implements it; the replay engine accepts anything that
// does, so other backends (a remote Docker host, Kubernetes Jobs) can sit
// beside it. All methods are safe for concurrent use.
type Sandbox interface {
	// Exec runs one tool call. A tool that fails (non-zero exit, a refused
	// path, a string not found) is a Result with IsError, not an error; an
	// error means the sandbox itself failed (see FaultError) or ctx ended.
	Exec(ctx context.Context, call ToolCall) (Result, error)
	// ReadFile and WriteFile reach workspace files by absolute path inside
	// the workspace or by a path relative to it.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) error
	// Changes lists what was added, modified or deleted in the workspace
	// since the sandbox started (the "files touched").
	Changes(ctx context.Context) ([]Change, error)
	// CopyOut writes a tar of the given workspace paths (all of it when
	// none) to w, names relative to the workspace root, symlinks as links.
	CopyOut(ctx context.Context, w io.Writer, paths ...string) error
	// WorkDir is the absolute workspace directory inside the sandbox.
	WorkDir() string
	// Close removes the sandbox. It runs even when ctx is already cancelled
	// and may be called more than once.
	Close(ctx context.Context) error
}

// ToolCall is a tool invocation to run: Claude Code's Bash, Read, Write,
// Edit, MultiEdit, Glob, Grep and LS with their argument schemas, or the
// generic set (shell, read_file, write_file, edit_file, glob, grep,
// list_dir; see GenericTools).
type ToolCall struct {
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Timeout caps this call below the sandbox's CallTimeout (a Bash
	// call's own timeout argument is honoured too; the smallest wins).
	Timeout time.Duration `json:"-"`
}

// Result is the result of a tool call: Output is what the model sees, in
// the tool's result format; IsError marks a failed call; ExitCode is set for
// shell commands; Truncated says output was cut at the output limit; Fault
// names the sandbox limit that ended the call (FaultTimeout, FaultOOM,
// FaultPids); Detail carries side data shaped like Claude Code's
// toolUseResult.
type Result = executor.Result

// Change is one added, modified or deleted workspace entry.
type Change = executor.Change

// Faults reported in Result.Fault.
const (
	FaultTimeout = executor.FaultTimeout
	FaultOOM     = executor.FaultOOM
	FaultPids    = executor.FaultPids
	FaultDisk    = executor.FaultDisk
)

// Change kinds.
const (
	Added    = executor.Added
	Modified = executor.Modified
	Deleted  = executor.Deleted
)

// Errors callers can test with errors.Is.
var (
	// ErrFault: the sandbox itself failed (out of memory, the executor
	// died, the run's time limit passed); see FaultError for which.
	ErrFault = errors.New("sandbox fault")
	// ErrClosed: the sandbox was closed.
	ErrClosed = errors.New("sandbox closed")
	// ErrDockerUnavailable: the Docker daemon could not be reached.
	ErrDockerUnavailable = errors.New("docker is not reachable")
	// ErrImageNotFound: the sandbox image is not present locally.
	ErrImageNotFound = errors.New("image not found")
	// ErrOutside: a path names something outside the workspace.
	ErrOutside = errors.New("outside the workspace")
	// ErrNotFound: a workspace file does not exist.
	ErrNotFound = errors.New("file not found")
)

// Fault kinds of a FaultError.
const (
	FaultKindOOM          = "oom"          // the container ran out of memory and the executor was killed
	FaultKindExited       = "exited"       // the executor or container ended unexpectedly
	FaultKindRunTimeout   = "run_timeout"  // the run's time limit passed
	FaultKindUnresponsive = "unresponsive" // the executor stopped answering
	FaultKindRemoved      = "removed"      // the container was removed (by prune or a cancelled context)
	FaultKindProtocol     = "protocol"     // the executor's channel carried what the executor did not send
)

// FaultError is a failure of the sandbox rather than of a tool. After a
// fault the sandbox is unusable; Close still removes it.
type FaultError struct {
	Kind      string // one of the FaultKind constants
	Container string // container id
	Detail    string // what Docker or the executor said
	Call      string // the tool call it ended ("Bash toolu_01"), when one did
}

func (e *FaultError) Error() string {
	msg := fmt.Sprintf("sandbox %.12s: %s", e.Container, faultText(e.Kind))
	if e.Call != "" {
		msg += " (during " + e.Call + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is makes errors.Is(err, ErrFault) true for every FaultError.
func (e *FaultError) Is(target error) bool { return target == ErrFault }

func faultText(kind string) string {
	switch kind {
	case FaultKindOOM:
		return "out of memory (the memory limit was reached and the executor was killed)"
	case FaultKindExited:
		return "the executor exited unexpectedly"
	case FaultKindRunTimeout:
		return "the run's time limit passed"
	case FaultKindUnresponsive:
		return "the executor stopped answering"
	case FaultKindRemoved:
		return "the container was removed"
	case FaultKindProtocol:
		return "the executor's channel was corrupted"
	}
	return kind
}
