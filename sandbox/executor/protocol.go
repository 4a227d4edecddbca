package executor

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	json "github.com/goccy/go-json"
)

// Protocol version; the host refuses an executor that reports another.
const ProtocolVersion = 1

// MaxFrame bounds one frame. File contents larger than this go through the
// tar operations, which are chunked.
const MaxFrame = 64 << 20

// Ops a Request can carry.
const (
	OpInit     = "init"     // Config in Args; answered when the executor is ready
	OpTool     = "tool"     // run a tool call
	OpCancel   = "cancel"   // cancel the request whose id is in Target
	OpRead     = "read"     // read a workspace file
	OpWrite    = "write"    // write a workspace file
	OpChanges  = "changes"  // list what changed since init
	OpTar      = "tar"      // stream a tar of Paths in chunks
	OpShutdown = "shutdown" // stop after answering

	// The program channel (tunnel.go, spawn.go).
	OpListen = "listen" // listen on the container's loopback at Port; answered with Port, then one Accept per connection, until cancelled
	OpSpawn  = "spawn"  // run a long-running program (SpawnArgs in Args); its output streams back, then its Result
	OpData   = "data"   // Data for connection Conn (no answer; within the executor's window)
	OpWindow = "window" // the host read Window more bytes of Conn: the executor may send that much more
	OpEOF    = "eof"    // the host will write no more to Conn
	OpClose  = "close"  // the host closed Conn
)

// Request is a frame from the host to the executor.
type Request struct {
	ID     uint64          `json:"id"`
	Op     string          `json:"op"`
	Tool   string          `json:"tool,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
	Path   string          `json:"path,omitempty"`
	Paths  []string        `json:"paths,omitempty"`
	Data   []byte          `json:"data,omitempty"`
	Mode   uint32          `json:"mode,omitempty"`
	Target uint64          `json:"target,omitempty"`
	// TimeoutMS caps a tool call; 0 means the executor's default.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// Port is OpListen's port on 127.0.0.1 (0: any free one).
	Port int `json:"port,omitempty"`
	// Conn names the tunnelled connection of OpData, OpWindow, OpEOF and
	// OpClose (these carry no ID and get no answer); Window is OpWindow's
	// credit in bytes.
	Conn   uint64 `json:"conn,omitempty"`
	Window int    `json:"window,omitempty"`
}

// Response is a frame from the executor to the host. A tar stream is sent as
// several responses with the same ID; the last one has More false.
type Response struct {
	ID      uint64   `json:"id"`
	Result  *Result  `json:"result,omitempty"`
	Data    []byte   `json:"data,omitempty"`
	Changes []Change `json:"changes,omitempty"`
	Ready   *Ready   `json:"ready,omitempty"`
	More    bool     `json:"more,omitempty"`
	// Err is set when the operation itself failed (not a tool error, which
	// is a Result with IsError).
	Err     string `json:"err,omitempty"`
	ErrKind string `json:"err_kind,omitempty"` // one of the ErrKind constants

	// OpListen's answers (More set): first Port, where it listens; then
	// Accept, the id of each new connection (1, 2, 3, … in order).
	Port   int    `json:"port,omitempty"`
	Accept uint64 `json:"accept,omitempty"`
	// Stream frames of a tunnelled connection have ID 0 and name Conn:
	// Data (at most StreamChunk bytes, within the host's window), Window
	// (credit for the host), EOF (the program will write no more) or Close
	// (the connection is gone; sent once).
	Conn   uint64 `json:"conn,omitempty"`
	Window int    `json:"window,omitempty"`
	EOF    bool   `json:"eof,omitempty"`
	Close  bool   `json:"close,omitempty"`
	// Stream names the output an OpSpawn frame's Data is ("stdout",
	// "stderr").
	Stream string `json:"stream,omitempty"`
	// Dropped is how many bytes of a spawned program's output were
	// dropped past its output limit (in its final answer).
	Dropped int64 `json:"dropped,omitempty"`
}

// Flow control of tunnelled connections: each side may have at most
// StreamWindow unacknowledged bytes in flight per connection, in frames of
// at most StreamChunk; at most MaxStreams connections are open at once
// (the executor refuses more). So a program that floods a connection, or
// opens thousands, costs each side at most MaxStreams × StreamWindow of
// buffer, and the channel never waits on a connection's reader.
const (
	StreamWindow = 256 << 10
	StreamChunk  = 32 << 10
	MaxStreams   = 128
)

// SpawnArgs is what OpSpawn runs.
type SpawnArgs struct {
	// Argv is the program and its arguments (Argv[0] is looked up in
	// PATH).
	Argv []string `json:"argv,omitempty"`
	// Command, when Argv is empty, is a command line: run by the shell
	// when the image has one, else split into words (quotes '…' and "…"
	// group, nothing else is interpreted).
	Command string `json:"command,omitempty"`
	// Dir is where it runs ("": the working directory of commands).
	Dir string `json:"dir,omitempty"`
	// Env is added to the commands' environment (KEY=VALUE).
	Env []string `json:"env,omitempty"`
	// OutputLimit is how many bytes of output (stdout and stderr
	// together) stream back; the rest is counted and dropped (0:
	// DefaultSpawnOutput).
	OutputLimit int64 `json:"output_limit,omitempty"`
}

// DefaultSpawnOutput is how much of a spawned program's output streams
// back by default.
const DefaultSpawnOutput = 1 << 20

// Error kinds of a Response.
const (
	ErrKindNotFound = "not_found"
	ErrKindOutside  = "outside_workspace"
	ErrKindInvalid  = "invalid"
	ErrKindIO       = "io"
	ErrKindTooLarge = "too_large"
)

// Ready answers OpInit.
type Ready struct {
	Protocol int    `json:"protocol"`
	Version  string `json:"version"`
	Root     string `json:"root"`
	Files    int    `json:"files"` // entries in the initial snapshot
	UID      int    `json:"uid"`
	Shell    string `json:"shell"`
}

// Config is what the host tells the executor in OpInit.
type Config struct {
	// Root is the absolute workspace directory; file tools refuse paths
	// outside it.
	Root string `json:"root"`
	// Cwd is where shell commands start and relative paths are taken from
	// ("" = Root). It must be Root or inside it; it is created if missing.
	Cwd string `json:"cwd,omitempty"`
	// Shell runs Bash commands ("" = /bin/bash when present, else /bin/sh).
	Shell string `json:"shell,omitempty"`
	// DefaultTimeoutMS and MaxTimeoutMS bound a shell command (Claude Code:
	// 120000 and 600000).
	DefaultTimeoutMS int64 `json:"default_timeout_ms,omitempty"`
	MaxTimeoutMS     int64 `json:"max_timeout_ms,omitempty"`
	// RunDeadlineMS is how long the executor lives (ms after init); it exits
	// past it, whatever the host does.
	RunDeadlineMS int64 `json:"run_deadline_ms,omitempty"`
	// OutputLimit is the number of characters of a command's output kept
	// (Claude Code: 30000); the rest is counted and dropped.
	OutputLimit int `json:"output_limit,omitempty"`
	// Version is the Claude Code version whose result texts to imitate
	// ("" = the newest known).
	Version string `json:"version,omitempty"`
	// ReadBeforeWrite makes Write/Edit refuse to change an existing file
	// that was not read first, as Claude Code does.
	ReadBeforeWrite bool `json:"read_before_write,omitempty"`
	// Env is the complete environment of commands (the host's is never
	// passed in).
	Env []string `json:"env,omitempty"`
	// DiskLimit bounds the workspace's size in bytes (0: none). A command
	// that takes it past the limit is stopped; a file tool refuses to.
	DiskLimit int64 `json:"disk_limit,omitempty"`
	// Remap, when set, says the workspace was recorded at From but lives
	// at To: paths the tools are given under From are taken under To, and
	// To is shown as From in what they answer.
	Remap *Remap `json:"remap,omitempty"`
}

// Remap moves a recorded directory.
type Remap struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Result is the result of one tool call.
type Result struct {
	// Output is the text the model sees, in the tool's result format.
	Output  string `json:"output"`
	IsError bool   `json:"is_error,omitempty"`
	// ExitCode is set for shell commands that ran.
	ExitCode   *int  `json:"exit_code,omitempty"`
	DurationMS int64 `json:"duration_ms"`
	// Truncated says output was cut at the output limit.
	Truncated bool `json:"truncated,omitempty"`
	// Fault names a sandbox limit that ended the call: FaultTimeout,
	// FaultOOM, FaultPids. Empty for ordinary results and tool errors.
	Fault string `json:"fault,omitempty"`
	// Detail is tool-specific side data shaped like Claude Code's
	// toolUseResult where it applies (Bash: stdout, stderr, interrupted).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Faults a Result can report.
const (
	FaultTimeout = "timeout" // killed at its time limit
	FaultOOM     = "oom"     // killed by the out-of-memory killer
	FaultPids    = "pids"    // could not start a process: pids limit reached
	FaultDisk    = "disk"    // the workspace went over its disk limit
)

// Change kinds.
const (
	Added    = "added"
	Modified = "modified"
	Deleted  = "deleted"
)

// Change is one workspace entry that differs from the snapshot taken at
// init. Path is slash-separated and relative to the workspace root.
type Change struct {
	Path string `json:"path"`
	Kind string `json:"kind"`
	Mode uint32 `json:"mode,omitempty"` // fs.FileMode bits of the new entry
	Size int64  `json:"size,omitempty"`
	Link string `json:"link,omitempty"` // symlink target
}

// ErrFrameTooLarge is returned for a frame longer than MaxFrame.
var ErrFrameTooLarge = errors.New("frame too large")

// ErrBadFrame is returned (wrapped) for a frame whose body is not a valid
// message.
var ErrBadFrame = errors.New("bad frame")

type decodeError struct{ err error }

func (e *decodeError) Error() string        { return "decode frame: " + e.err.Error() }
func (e *decodeError) Unwrap() error        { return e.err }
func (e *decodeError) Is(target error) bool { return target == ErrBadFrame }

// WriteFrame writes v as one frame: a 4-byte big-endian length, then JSON.
func WriteFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	if len(b) > MaxFrame {
		return fmt.Errorf("encode frame: %w (%d bytes)", ErrFrameTooLarge, len(b))
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

// FrameReader reads frames.
type FrameReader struct {
	r *bufio.Reader
	// BodyStarted, when set, is called once a frame's header is read,
	// with the length it announces; the func it returns is called when the
	// body has been read. The host uses it to bound how long a frame may
	// take once begun: a header that never gets its body is a desync.
	BodyStarted func(n uint32) (finished func())
}

// NewFrameReader returns a FrameReader reading from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next reads the next frame into v. It returns io.EOF at a clean end of
// stream and io.ErrUnexpectedEOF inside a frame.
func (f *FrameReader) Next(v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return fmt.Errorf("read frame: %w (%d bytes)", ErrFrameTooLarge, n)
	}
	if f.BodyStarted != nil {
		finished := f.BodyStarted(n)
		defer finished()
	}
	// A fresh buffer per frame: decoded RawMessages may alias it.
	b := make([]byte, n)
	if _, err := io.ReadFull(f.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &decodeError{err}
	}
	return nil
}
