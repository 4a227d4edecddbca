package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentreplay/replay/sandbox/executor"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	json "github.com/goccy/go-json"
)

// Labels every sandbox container (and its volumes) carries.
const (
	LabelManaged = "io.replay.managed" // "true"
	LabelRun     = "io.replay.run"     // the run id
	LabelCreated = "io.replay.created" // unix seconds
)

// Defaults of Options.
const (
	DefaultWorkDir     = "/sandbox/workspace"
	DefaultUser        = "1000:1000"
	DefaultMemory      = 2 << 30 // bytes
	DefaultPids        = 512
	DefaultCPUs        = 1.0
	DefaultTmpSize     = 512 << 20 // bytes
	DefaultDisk        = 4 << 30   // bytes of workspace
	DefaultCallTimeout = 2 * time.Minute
	DefaultRunTimeout  = time.Hour
	DefaultOutputLimit = executor.DefaultOutputLimit

	// RemapRoot holds a workspace whose recorded directory collides with
	// the image's or the sandbox's own (see Container.Remapped).
	RemapRoot = "/sandbox/remap"

	executorDir  = "/.replay"
	executorPath = executorDir + "/" + executorName
)

// Options configure one sandbox. The zero value is a hardened sandbox of
// the default image with an empty workspace at DefaultWorkDir.
type Options struct {
	// Image is any local image (the agent's own, say); default DefaultImage
	// (build it with BuildImage / `replay sandbox build`). It needs no
	// shell for the file tools; Bash needs /bin/sh or /bin/bash.
	Image string
	// RunID labels the container io.replay.run=<RunID> (default: random).
	RunID string
	// Labels are added to the container's labels.
	Labels map[string]string
	// Owner is the replay process the sandbox belongs to (default: this
	// one): prune removes a sandbox by default only once its owner is gone.
	Owner Owner
	// WorkDir is the absolute workspace directory inside the container,
	// e.g. the agent's recorded cwd, so that recorded absolute paths work.
	WorkDir string
	// Cwd is where commands start and relative paths are resolved: WorkDir
	// (the default) or a directory inside it. A run whose agent worked in a
	// repository but also wrote beside it (/sandbox/workspace/widgets and
	// /sandbox/workspace/output) gets the parent as WorkDir, the repository
	// as Cwd.
	Cwd string
	// Workspace is a tar stream copied into WorkDir before start (modes,
	// times and symlinks kept; entries are owned by the sandbox user). Nil
	// means an empty workspace.
	Workspace io.Reader
	// User runs the executor and every command, as numeric "uid:gid"
	// (default DefaultUser; root is refused).
	User string
	// Env adds KEY=VALUE pairs to the container's environment. Nothing of
	// the host's environment is ever passed in.
	Env []string
	// Network attaches the default bridge network. Off by default: the
	// container then has only a loopback interface.
	Network bool
	// Limits; zero means the default.
	MemoryBytes int64   // DefaultMemory; swap is disabled
	PidsLimit   int64   // DefaultPids
	CPUs        float64 // DefaultCPUs
	TmpSize     int64   // size of the tmpfs at /tmp, DefaultTmpSize
	DiskBytes   int64   // the workspace's size limit, DefaultDisk
	// CallTimeout caps every tool call (a Bash timeout argument may only
	// lower it); RunTimeout caps the sandbox's whole life, after which it
	// is killed and every call fails with a FaultError.
	CallTimeout time.Duration
	RunTimeout  time.Duration
	// OutputLimit is how many characters of a command's output are kept
	// (default 30000, Claude Code's limit); the rest is counted and dropped
	// inside the container.
	OutputLimit int
	// FrameTime bounds how long one protocol frame may take once its
	// header has arrived (default DefaultFrameTime); past it the channel is
	// desynced and the sandbox faults.
	FrameTime time.Duration
	// ToolVersion is the Claude Code version whose result texts the tools
	// imitate (a recorded transcript's version); empty means the newest.
	ToolVersion string
	// ReadBeforeWrite makes Write and Edit refuse a file that was not Read
	// first, as Claude Code does.
	ReadBeforeWrite bool
	// Shell runs Bash commands (default /bin/bash when present, else /bin/sh).
	Shell string
	// remap is set by defaults when WorkDir had to move (see collides).
	remap *executor.Remap

	// Executor is the executor binary to copy in; nil finds one with
	// FindExecutor(image architecture, ExecutorPath), or, when this build
	// embeds none, uses replay itself or builds one (see resolveExecutor).
	Executor     *Executor
	ExecutorPath string
	// CacheDir keeps an executor built from source (empty: built again
	// by every process that needs one).
	CacheDir string
	// Log receives progress lines of what a first use builds (the image,
	// the executor); nil discards them.
	Log io.Writer
}

// Container is a running Docker sandbox. It implements Sandbox.
type Container struct {
	cli     *client.Client
	id      string
	name    string
	workDir string
	opts    Options

	hijack io.Closer
	conn   *conn
	stderr *tailBuffer

	mu       sync.Mutex
	fault    *FaultError
	closed   bool
	runTimer *time.Timer
	stopCtx  func() bool
	closeErr error
	once     sync.Once
}

var _ Sandbox = (*Container)(nil)

var runIDRe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (o *Options) defaults() error {
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.RunID == "" {
		o.RunID = randomHex(8)
	}
	if o.Owner == (Owner{}) {
		o.Owner = Self()
	}
	if o.WorkDir == "" {
		o.WorkDir = DefaultWorkDir
	}
	if !path.IsAbs(o.WorkDir) || strings.ContainsAny(o.WorkDir, "\x00:") {
		return fmt.Errorf("work dir %q is not an absolute path", o.WorkDir)
	}
	o.WorkDir = path.Clean(o.WorkDir)
	if o.Cwd != "" {
		o.Cwd = path.Clean(o.Cwd)
		if !path.IsAbs(o.Cwd) || (o.Cwd != o.WorkDir && !strings.HasPrefix(o.Cwd, o.WorkDir+"/")) {
			return fmt.Errorf("cwd %q is not inside the work dir %q", o.Cwd, o.WorkDir)
		}
	}
	if collides(o.WorkDir) {
		// The recorded directory is one of the image's own (/usr, /etc)
		// or one the sandbox needs (/tmp, /proc): a volume there would hide
		// the image's files, or the sandbox's. The workspace goes under
		// RemapRoot instead; the executor translates recorded paths.
		o.remap = &executor.Remap{From: o.WorkDir, To: path.Join(RemapRoot, o.WorkDir)}
		o.WorkDir = o.remap.To
		if o.Cwd != "" {
			o.Cwd = path.Join(RemapRoot, o.Cwd)
		}
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if _, _, err := parseUser(o.User); err != nil {
		return err
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = DefaultMemory
	}
	if o.PidsLimit <= 0 {
		o.PidsLimit = DefaultPids
	}
	if o.CPUs <= 0 {
		o.CPUs = DefaultCPUs
	}
	if o.TmpSize <= 0 {
		o.TmpSize = DefaultTmpSize
	}
	if o.DiskBytes <= 0 {
		o.DiskBytes = DefaultDisk
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.RunTimeout <= 0 {
		o.RunTimeout = DefaultRunTimeout
	}
	if o.OutputLimit <= 0 {
		o.OutputLimit = DefaultOutputLimit
	}
	for _, kv := range o.Env {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("env %q is not KEY=VALUE", kv)
		}
	}
	return nil
}

// systemDirs are directories of the image a workspace must not replace.
var systemDirs = []string{"/", "/bin", "/boot", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
	"/root", "/run", "/sbin", "/srv", "/usr", "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/local",
	"/usr/local/bin", "/usr/local/lib", "/usr/local/sbin", "/usr/sbin", "/usr/share", "/var", "/var/cache", "/var/lib", "/var/log", "/sandbox"}

// sandboxTrees are the sandbox's own: the executor's volume, /tmp (a
// tmpfs), the kernel's file systems, and the remap root itself.
var sandboxTrees = []string{executorDir, "/tmp", "/proc", "/dev", "/sys", RemapRoot}

// collides reports whether a workspace at dir would be mounted over a
// directory of the image or of the sandbox.
func collides(dir string) bool {
	if slices.Contains(systemDirs, dir) {
		return true
	}
	for _, t := range sandboxTrees {
		if dir == t || strings.HasPrefix(dir, t+"/") {
			return true
		}
	}
	return false
}

func parseUser(u string) (int, int, error) {
	us, gs, ok := strings.Cut(u, ":")
	uid, err1 := strconv.Atoi(us)
	gid, err2 := strconv.Atoi(gs)
	if !ok || err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("user %q is not a numeric uid:gid", u)
	}
	if uid == 0 {
		return 0, 0, fmt.Errorf("user %q is root; the sandbox runs as a non-root user", u)
	}
	return uid, gid, nil
}

// executorTar is a tar holding the executor, owned by root and read-only,
// so the sandbox user can run it but not change it.
func executorTar(bin []byte) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: executorName, Mode: 0o555, Size: int64(len(bin)), Typeflag: tar.TypeReg, ModTime: time.Now()})
	tw.Write(bin)
	tw.Close()
	return &buf
}

// chownRoot hands the root of a top-level work directory's volume to the
// sandbox user. Docker keeps a volume's root owned by root and the
// sandbox user has no capabilities, so a one-shot helper container (root
// with only CAP_CHOWN and CAP_FOWNER, no network, the executor's own chown
// command) does it.
func (c *Container) chownRoot(ctx context.Context, uid, gid int) error {
	info, err := c.cli.ContainerInspect(ctx, c.id)
	if err != nil {
		return fmt.Errorf("inspect container: %w", err)
	}
	var ws, ex string
	for _, m := range info.Mounts {
		switch m.Destination {
		case c.workDir:
			ws = m.Name
		case executorDir:
			ex = m.Name
		}
	}
	if ws == "" || ex == "" {
		return fmt.Errorf("chown workspace: volumes not found")
	}
	init := false
	cfg := &container.Config{
		Image: c.opts.Image, User: "0:0",
		Entrypoint: strslice.StrSlice{executorPath}, Cmd: strslice.StrSlice{"chown", fmt.Sprintf("%d:%d", uid, gid), "/w"},
		Labels:          map[string]string{LabelManaged: "true", LabelRun: c.opts.RunID},
		NetworkDisabled: true,
	}
	for k, v := range c.opts.Labels {
		cfg.Labels[k] = v
	}
	hc := &container.HostConfig{
		NetworkMode: "none", CapDrop: strslice.StrSlice{"ALL"}, CapAdd: strslice.StrSlice{"CHOWN", "FOWNER"},
		SecurityOpt: []string{"no-new-privileges"}, ReadonlyRootfs: true, Init: &init,
		LogConfig: container.LogConfig{Type: "none"},
		Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: ws, Target: "/w"},
			{Type: mount.TypeVolume, Source: ex, Target: executorDir, ReadOnly: true},
		},
	}
	h, err := c.cli.ContainerCreate(ctx, cfg, hc, nil, nil, c.name+"-chown")
	if err != nil {
		return fmt.Errorf("chown workspace: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		c.cli.ContainerRemove(rctx, h.ID, container.RemoveOptions{Force: true})
	}()
	waitC, errC := c.cli.ContainerWait(ctx, h.ID, container.WaitConditionNextExit)
	if err := c.cli.ContainerStart(ctx, h.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("chown workspace: %w", err)
	}
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			return fmt.Errorf("chown workspace: helper exited with %d", w.StatusCode)
		}
	case err := <-errC:
		return fmt.Errorf("chown workspace: %w", err)
	}
	return nil
}

// ID is the container id.
func (c *Container) ID() string { return c.id }

// Name is the container name.
func (c *Container) Name() string { return c.name }

// WorkDir is the workspace directory inside the container.
func (c *Container) WorkDir() string { return c.workDir }

// Remapped says where the workspace went when its recorded directory
// collided with the image's or the sandbox's own (from is the recorded
// directory, to where it is); ok is false when it is where it was recorded.
func (c *Container) Remapped() (from, to string, ok bool) {
	if c.opts.remap == nil {
		return "", "", false
	}
	return c.opts.remap.From, c.opts.remap.To, true
}

func (c *Container) setFault(f *FaultError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fault == nil {
		c.fault = f
	}
}

func (c *Container) usable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fault != nil {
		return c.fault
	}
	if c.closed {
		return fmt.Errorf("sandbox %.12s: %w", c.id, ErrClosed)
	}
	return nil
}

// diagnose finds out why the executor's stream ended: the container was
// OOM-killed, exited, was removed, or the run timed out.
func (c *Container) diagnose(ctx context.Context) error {
	if err := c.usable(); err != nil {
		return err
	}
	var pe *ProtocolError
	if errors.As(c.conn.failed(), &pe) {
		// Something other than the executor wrote to its channel: nothing
		// more it says can be trusted. End the sandbox now.
		c.setFault(&FaultError{Kind: FaultKindProtocol, Container: c.id, Detail: pe.Detail})
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		c.cli.ContainerKill(kctx, c.id, "KILL")
		return c.usable()
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	f := &FaultError{Kind: FaultKindExited, Container: c.id}
	// The stream can end a moment before Docker records why.
	for i := 0; i < 20; i++ {
		info, err := c.cli.ContainerInspect(ictx, c.id)
		if err != nil {
			if errdefs.IsNotFound(err) {
				f.Kind = FaultKindRemoved
			} else {
				f.Detail = err.Error()
			}
			break
		}
		st := info.State
		if st.Running && i < 19 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if st.OOMKilled {
			f.Kind = FaultKindOOM
		}
		f.Detail = fmt.Sprintf("exit code %d", st.ExitCode)
		if st.Error != "" {
			f.Detail += ": " + st.Error
		}
		break
	}
	if tail := strings.TrimSpace(c.stderr.String()); tail != "" && f.Kind == FaultKindExited {
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		f.Detail += "; executor said: " + tail
	}
	c.setFault(f)
	return c.usable()
}

// roundTrip sends one request and waits for its single response.
func (c *Container) roundTrip(ctx context.Context, req executor.Request) (executor.Response, error) {
	id, ch, err := c.conn.start(req)
	if err != nil {
		return executor.Response{}, c.diagnose(ctx)
	}
	resp, err := c.conn.recv(ctx, id, ch)
	switch {
	case errors.Is(err, errConnDone):
		return resp, c.diagnose(ctx)
	case err != nil:
		if req.Op == executor.OpTool {
			c.conn.send(executor.Request{Op: executor.OpCancel, Target: id})
		}
		return resp, err
	}
	return resp, nil
}

// errStalled ends the response stream when a frame stalls part way.
var errStalled = errors.New("the executor's channel stalled part way through a frame")

// Exec runs one tool call in the sandbox. A fault names the call it ended.
func (c *Container) Exec(ctx context.Context, call ToolCall) (Result, error) {
	res, err := c.exec(ctx, call)
	var fe *FaultError
	if errors.As(err, &fe) && fe.Call == "" {
		named := *fe
		named.Call = call.Name
		if call.ID != "" {
			named.Call += " " + call.ID
		}
		return res, &named
	}
	return res, err
}

func (c *Container) exec(ctx context.Context, call ToolCall) (Result, error) {
	if err := c.usable(); err != nil {
		return Result{}, err
	}
	if len(call.Arguments) > 0 && !json.Valid(call.Arguments) {
		// A model can send broken JSON: that is the call's error, not the sandbox's.
		return Result{Output: "<tool_use_error>InputValidationError: " + call.Name + " failed: the arguments are not valid JSON</tool_use_error>", IsError: true}, nil
	}
	limit := c.opts.CallTimeout
	if call.Timeout > 0 && call.Timeout < limit {
		limit = call.Timeout
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < limit {
			limit = max(left, time.Millisecond)
		}
	}
	// The executor enforces the limit; the host waits a little longer
	// before it declares the executor hung and kills the sandbox.
	wctx, cancel := context.WithTimeout(ctx, limit+15*time.Second)
	defer cancel()
	resp, err := c.roundTrip(wctx, executor.Request{Op: executor.OpTool, Tool: call.Name, Args: call.Arguments, TimeoutMS: limit.Milliseconds()})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			c.setFault(&FaultError{Kind: FaultKindUnresponsive, Container: c.id, Detail: fmt.Sprintf("no answer %s after the call's time limit", 15*time.Second)})
			kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer kcancel()
			c.cli.ContainerKill(kctx, c.id, "KILL")
			return Result{}, c.usable()
		}
		return Result{}, err
	}
	if resp.Result == nil {
		return Result{}, fmt.Errorf("exec %q: %s", call.Name, resp.Err)
	}
	return *resp.Result, nil
}

func opError(op, p string, resp executor.Response) error {
	var base error
	switch resp.ErrKind {
	case executor.ErrKindOutside:
		base = ErrOutside
	case executor.ErrKindNotFound:
		base = ErrNotFound
	default:
		return fmt.Errorf("%s %q: %s", op, p, resp.Err)
	}
	return fmt.Errorf("%s %q: %w: %s", op, p, base, resp.Err)
}

// ReadFile returns a workspace file (at most 32 MiB; use CopyOut for more).
func (c *Container) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	resp, err := c.roundTrip(ctx, executor.Request{Op: executor.OpRead, Path: p})
	if err != nil {
		return nil, err
	}
	if resp.Err != "" {
		return nil, opError("read", p, resp)
	}
	if resp.Data == nil {
		resp.Data = []byte{}
	}
	return resp.Data, nil
}

// WriteFile writes a workspace file, creating parent directories.
func (c *Container) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode) error {
	if err := c.usable(); err != nil {
		return err
	}
	if len(data) > executor.MaxFrame/2 {
		return fmt.Errorf("write %q: %d bytes is too large (at most %d)", p, len(data), executor.MaxFrame/2)
	}
	resp, err := c.roundTrip(ctx, executor.Request{Op: executor.OpWrite, Path: p, Data: data, Mode: uint32(mode.Perm())})
	if err != nil {
		return err
	}
	if resp.Err != "" {
		return opError("write", p, resp)
	}
	return nil
}

// Changes lists the workspace entries added, modified or deleted since the
// sandbox started.
func (c *Container) Changes(ctx context.Context) ([]Change, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	resp, err := c.roundTrip(ctx, executor.Request{Op: executor.OpChanges})
	if err != nil {
		return nil, err
	}
	if resp.Err != "" {
		return nil, fmt.Errorf("list changes: %s", resp.Err)
	}
	return resp.Changes, nil
}

// CopyOut writes a tar of workspace paths (all of it when none) to w.
func (c *Container) CopyOut(ctx context.Context, w io.Writer, paths ...string) error {
	if err := c.usable(); err != nil {
		return err
	}
	id, ch, err := c.conn.start(executor.Request{Op: executor.OpTar, Paths: paths})
	if err != nil {
		return c.diagnose(ctx)
	}
	for {
		resp, err := c.conn.recv(ctx, id, ch)
		if errors.Is(err, errConnDone) {
			return c.diagnose(ctx)
		}
		if err != nil {
			c.conn.send(executor.Request{Op: executor.OpCancel, Target: id})
			return err
		}
		if resp.Err != "" {
			c.conn.forget(id)
			return opError("copy out", strings.Join(paths, " "), resp)
		}
		if len(resp.Data) > 0 {
			if _, err := w.Write(resp.Data); err != nil {
				c.conn.forget(id)
				c.conn.send(executor.Request{Op: executor.OpCancel, Target: id})
				return fmt.Errorf("copy out: %w", err)
			}
		}
		if !resp.More {
			return nil
		}
	}
}

// Close stops the executor and removes the container and its volumes. It
// uses a context that outlives ctx (so it works after Ctrl-C) with its own
// time limit, treats "not found" as removed, and is idempotent.
func (c *Container) Close(ctx context.Context) error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		if c.runTimer != nil {
			c.runTimer.Stop()
		}
		c.mu.Unlock()
		if c.stopCtx != nil {
			c.stopCtx()
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if c.conn != nil && c.conn.failed() == nil {
			c.conn.send(executor.Request{Op: executor.OpShutdown})
		}
		if c.hijack != nil {
			c.hijack.Close()
		}
		if c.conn != nil {
			c.conn.fail(ErrClosed)
		}
		err := c.cli.ContainerRemove(cctx, c.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !errdefs.IsNotFound(err) {
			c.closeErr = fmt.Errorf("remove sandbox %.12s: %w", c.id, err)
		}
	})
	return c.closeErr
}
