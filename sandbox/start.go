package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentreplay/replay/sandbox/executor"
	"github.com/agentreplay/replay/sandbox/internal/workspace"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"
	json "github.com/goccy/go-json"
)

// Starting a sandbox, step by step: New checks the image, finds the
// executor, creates the container from containerSpec (the hardening), and
// runs the named steps that fill and start it.

// New creates, fills and starts a sandbox container. ctx bounds the
// sandbox's whole life, as with exec.CommandContext: pass the run's context
// (cancelled by SIGINT/SIGTERM), not a creation timeout. The container is
// removed when New fails, when Close is called, and when ctx is done
// (cleanup then runs on a context that outlives ctx), so Ctrl-C never
// leaves one behind; `replay sandbox prune` removes those of a process that
// was killed outright.
func New(ctx context.Context, cli *client.Client, opts Options) (_ *Container, err error) {
	if err := opts.defaults(); err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	img, err := inspectImage(ctx, cli, opts.Image)
	if errors.Is(err, ErrImageNotFound) && IsOwnImage(opts.Image) {
		img, err = buildOnFirstUse(ctx, cli, opts.Image, opts.Log)
	}
	if err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	ex := opts.Executor
	if ex == nil {
		if ex, err = resolveExecutor(ctx, goArch(img.Architecture), opts.ExecutorPath, opts.CacheDir, opts.Log); err != nil {
			return nil, fmt.Errorf("create sandbox: %w", err)
		}
	}
	spec := containerSpec(opts, time.Now(), randomHex(4))

	// From here on a container exists: remove it on any failure, on a
	// context that outlives ctx.
	created, err := cli.ContainerCreate(ctx, spec.Config, spec.Host, nil, nil, spec.Name)
	if err != nil {
		if isConnErr(err) {
			return nil, fmt.Errorf("create sandbox: %w", unavailable(cli.DaemonHost(), err))
		}
		return nil, fmt.Errorf("create sandbox: create container: %w", err)
	}
	c := &Container{cli: cli, id: created.ID, name: spec.Name, workDir: opts.WorkDir, opts: opts, stderr: &tailBuffer{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close(ctx))
		}
	}()
	// Ctrl-C (a cancelled ctx) removes the container even if the caller
	// never reaches Close.
	c.stopCtx = context.AfterFunc(ctx, func() { c.Close(context.WithoutCancel(ctx)) })

	steps := []struct {
		name string
		do   func(context.Context) error
	}{
		{"copy executor", func(ctx context.Context) error { return c.copyExecutor(ctx, ex) }},
		{"copy workspace", func(ctx context.Context) error { return c.copyWorkspace(ctx, spec) }},
		{"attach", c.attach},
		{"start", func(ctx context.Context) error { return cli.ContainerStart(ctx, c.id, container.StartOptions{}) }},
		{"start executor", func(ctx context.Context) error { return c.initExecutor(ctx, ex) }},
	}
	for _, st := range steps {
		if err := st.do(ctx); err != nil {
			return nil, fmt.Errorf("create sandbox: %s: %w", st.name, err)
		}
	}
	c.armRunTimer(ctx)
	return c, nil
}

// inspectImage finds the sandbox image on the daemon; a missing image says
// how to get it.
func inspectImage(ctx context.Context, cli *client.Client, image string) (imageInfo, error) {
	img, err := cli.ImageInspect(ctx, image)
	if err != nil {
		if errdefs.IsNotFound(err) {
			hint := "pull or build it first"
			if image == DefaultImage {
				hint = "build it with `replay sandbox build`"
			}
			return imageInfo{}, fmt.Errorf("%w: %q is not present locally; %s", ErrImageNotFound, image, hint)
		}
		if isConnErr(err) {
			return imageInfo{}, unavailable(cli.DaemonHost(), err)
		}
		return imageInfo{}, fmt.Errorf("inspect image %q: %w", image, err)
	}
	if img.Os != "" && img.Os != "linux" {
		return imageInfo{}, fmt.Errorf("image %q is for %s; only linux images are supported", image, img.Os)
	}
	return imageInfo{Architecture: img.Architecture, OS: img.Os}, nil
}

// IsOwnImage reports whether image is replay's own sandbox image (the
// repository replay-sandbox, any tag), which New builds on first use.
func IsOwnImage(image string) bool {
	repo := image
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo == strings.TrimSuffix(DefaultImage, ":latest")
}

// imageBuilds serializes first-use builds of this process's sandboxes.
var imageBuilds sync.Mutex

// buildOnFirstUse builds replay's own image when it is missing, with a
// progress line, so that the first replay on a machine goes on instead of
// stopping to ask for `replay sandbox build`.
func buildOnFirstUse(ctx context.Context, cli *client.Client, image string, log io.Writer) (imageInfo, error) {
	imageBuilds.Lock()
	defer imageBuilds.Unlock()
	if img, err := inspectImage(ctx, cli, image); !errors.Is(err, ErrImageNotFound) {
		return img, err // built meanwhile by another sandbox of this process
	}
	if log == nil {
		log = io.Discard
	}
	fmt.Fprintf(log, "sandbox: building the sandbox image %s (first use; `replay sandbox build` does it ahead)\n", image)
	res, err := BuildImage(ctx, cli, BuildOptions{Tag: image})
	if err != nil {
		return imageInfo{}, fmt.Errorf("%w: %q is not present locally and building it failed: %w", ErrImageNotFound, image, err)
	}
	fmt.Fprintf(log, "sandbox: built %s from %s\n", image, strings.Join(append([]string{res.Busybox}, res.Programs...), ", "))
	for _, m := range res.Missing {
		fmt.Fprintf(log, "sandbox: not in the image: %s\n", m)
	}
	return inspectImage(ctx, cli, image)
}

// imageInfo is what a sandbox needs to know of its image.
type imageInfo struct {
	Architecture string
	OS           string
}

// spec is everything Docker is told about a sandbox container.
type spec struct {
	Name   string
	Config *container.Config
	Host   *container.HostConfig
	// The workspace volume is mounted at VolTarget; the workspace tar goes
	// there with its entries under Prefix ("" when the work directory is
	// the volume's root).
	VolTarget, Prefix string
	UID, GID          int
}

// containerSpec is the container a sandbox runs in, from its options alone
// (defaults applied): the hardening lives here, testable without a daemon.
// now stamps the creation label; suffix makes the name unique.
func containerSpec(opts Options, now time.Time, suffix string) spec {
	uid, gid, _ := parseUser(opts.User)
	labels := map[string]string{}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	for k, v := range opts.Owner.labels() {
		labels[k] = v
	}
	labels[LabelManaged] = "true"
	labels[LabelRun] = opts.RunID
	labels[LabelCreated] = strconv.FormatInt(now.Unix(), 10)

	// The workspace is a volume: the root filesystem is read-only, and
	// Docker can copy into a volume of a created container. Its root is
	// owned by root, so when the work directory's parent is the sandbox's
	// own (/sandbox: nothing of the image is there) the volume is mounted on
	// the parent and the work directory itself comes from the tar, owned by
	// the sandbox user. Elsewhere (a recorded /home/me/proj) the volume is
	// mounted on the work directory itself, hiding nothing of the image's,
	// and a one-shot helper hands its root to the sandbox user.
	volTarget, prefix := path.Dir(opts.WorkDir), path.Base(opts.WorkDir)
	if volTarget != "/sandbox" && !strings.HasPrefix(volTarget, "/sandbox/") {
		volTarget, prefix = opts.WorkDir, ""
	}
	volOpts := &mount.VolumeOptions{Labels: map[string]string{LabelManaged: "true", LabelRun: opts.RunID}}
	pids := opts.PidsLimit
	// The executor is the container's init: no docker-init beside it,
	// whose inherited stdin and stdout (the protocol) commands could open
	// through /proc (see executor/init_linux.go).
	init := false
	// Nothing of the host's environment: a fixed base, then what the
	// options name.
	env := append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/tmp",
		"LANG=C.UTF-8",
		"TMPDIR=/tmp",
	}, opts.Env...)
	cfg := &container.Config{
		Image:           opts.Image,
		User:            opts.User,
		Entrypoint:      strslice.StrSlice{executorPath},
		Cmd:             strslice.StrSlice{"serve"},
		WorkingDir:      opts.WorkDir,
		Env:             env,
		Labels:          labels,
		Hostname:        "sandbox",
		AttachStdin:     true,
		AttachStdout:    true,
		AttachStderr:    true,
		OpenStdin:       true,
		StdinOnce:       true, // stdin closes when replay goes away: the executor then exits
		Tty:             false,
		NetworkDisabled: !opts.Network,
	}
	network := container.NetworkMode("none")
	if opts.Network {
		network = "bridge"
	}
	hc := &container.HostConfig{
		NetworkMode:    network,
		CapDrop:        strslice.StrSlice{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		Init:           &init,
		LogConfig:      container.LogConfig{Type: "none"}, // the protocol is not a log
		Tmpfs: map[string]string{
			"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,size=%d,mode=1777", opts.TmpSize), // exec: agents build and run programs in /tmp (go test does)
		},
		Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Target: volTarget, VolumeOptions: volOpts},
			{Type: mount.TypeVolume, Target: executorDir, VolumeOptions: volOpts},
		},
		Resources: container.Resources{
			Memory:     opts.MemoryBytes,
			MemorySwap: opts.MemoryBytes,
			NanoCPUs:   int64(opts.CPUs * 1e9),
			PidsLimit:  &pids,
		},
	}
	name := "replay-" + strings.Trim(runIDRe.ReplaceAllString(opts.RunID, "-"), "-.")
	if len(name) > 40 {
		name = name[:40]
	}
	return spec{Name: name + "-" + suffix, Config: cfg, Host: hc, VolTarget: volTarget, Prefix: prefix, UID: uid, GID: gid}
}

// copyExecutor puts the executor binary into its volume.
func (c *Container) copyExecutor(ctx context.Context, ex *Executor) error {
	return c.cli.CopyToContainer(ctx, c.id, executorDir, executorTar(ex.Bin), container.CopyToContainerOptions{})
}

// copyWorkspace streams the workspace tar into its volume, owned by the
// sandbox user, and hands a top-level work directory's root to that user.
func (c *Container) copyWorkspace(ctx context.Context, sp spec) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(workspace.Rewrite(c.opts.Workspace, pw, sp.Prefix, sp.UID, sp.GID)) }()
	err := c.cli.CopyToContainer(ctx, c.id, sp.VolTarget, pr, container.CopyToContainerOptions{})
	pr.CloseWithError(err)
	if err != nil {
		if errors.Is(err, ErrBadWorkspace) {
			return err
		}
		return fmt.Errorf("%q: %w", c.opts.WorkDir, err)
	}
	if sp.Prefix == "" {
		return c.chownRoot(ctx, sp.UID, sp.GID)
	}
	return nil
}

// attach connects to the executor's standard streams: stdin carries
// requests, stdout responses, stderr its diagnostics.
func (c *Container) attach(ctx context.Context) error {
	att, err := c.cli.ContainerAttach(ctx, c.id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return err
	}
	c.hijack = att.Conn
	stdoutR, stdoutW := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(stdoutW, c.stderr, att.Reader)
		if err == nil {
			err = io.EOF
		}
		stdoutW.CloseWithError(err)
	}()
	// A frame that stalls part way ends the stream at once: the reader is
	// unblocked and every call in flight fails with the protocol fault.
	c.conn = newConn(att.Conn, stdoutR, c.opts.FrameTime, func() {
		stdoutR.CloseWithError(errStalled)
		att.Conn.Close()
	})
	return nil
}

// initExecutor sends the executor its configuration and checks that it
// speaks our protocol.
func (c *Container) initExecutor(ctx context.Context, ex *Executor) error {
	opts := c.opts
	xcfg := executor.Config{
		Root:             opts.WorkDir,
		Cwd:              opts.Cwd,
		Shell:            opts.Shell,
		DefaultTimeoutMS: min(executor.DefaultTimeoutMS, opts.CallTimeout.Milliseconds()),
		MaxTimeoutMS:     opts.CallTimeout.Milliseconds(),
		RunDeadlineMS:    (opts.RunTimeout + 5*time.Second).Milliseconds(),
		OutputLimit:      opts.OutputLimit,
		Version:          opts.ToolVersion,
		ReadBeforeWrite:  opts.ReadBeforeWrite,
		DiskLimit:        opts.DiskBytes,
		Remap:            opts.remap,
	}
	args, _ := json.Marshal(xcfg)
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	resp, err := c.roundTrip(ictx, executor.Request{Op: executor.OpInit, Args: args})
	if err != nil {
		return err
	}
	if resp.Err != "" {
		return errors.New(resp.Err)
	}
	if resp.Ready == nil || resp.Ready.Protocol != executor.ProtocolVersion {
		got := 0
		if resp.Ready != nil {
			got = resp.Ready.Protocol
		}
		return fmt.Errorf("executor from %s speaks protocol %d, want %d: rebuild it (make executor)", ex.Source, got, executor.ProtocolVersion)
	}
	return nil
}

// armRunTimer kills the sandbox when its run time is up; every later call
// then fails with a run_timeout fault.
func (c *Container) armRunTimer(ctx context.Context) {
	c.runTimer = time.AfterFunc(c.opts.RunTimeout, func() {
		c.setFault(&FaultError{Kind: FaultKindRunTimeout, Container: c.id, Detail: "after " + c.opts.RunTimeout.String()})
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		c.cli.ContainerKill(kctx, c.id, "KILL")
	})
}
