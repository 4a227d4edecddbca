package sandbox_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/testutil"

	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// env is what a Docker test needs: a client, the default image, and
// labels whose containers must all be gone when the test ends.
type env struct {
	cli    *client.Client
	labels map[string]string
}

func setup(t testing.TB) env {
	t.Helper()
	cli := sandboxtest.Docker(t)
	sandboxtest.EnsureImage(t, cli)
	return env{cli: cli, labels: sandboxtest.TestLabels(t, cli)}
}

// start creates a sandbox that the test closes at its end.
func (e env) start(t testing.TB, o sandbox.Options) *sandbox.Container {
	t.Helper()
	o.ExecutorPath = executorFor(t)
	o.Labels = e.labels
	// New's context bounds the sandbox's life: not a creation timeout.
	sb, err := sandbox.New(context.Background(), e.cli, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return sb
}

func run(t testing.TB, sb sandbox.Sandbox, command string, timeoutMS int) sandbox.Result {
	t.Helper()
	args, _ := json.Marshal(map[string]any{"command": command, "timeout": timeoutMS})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := sb.Exec(ctx, sandbox.ToolCall{Name: "Bash", Arguments: args})
	if err != nil {
		t.Fatalf("Exec %q: %v", command, err)
	}
	return r
}

func TestConformance(t *testing.T) {
	e := setup(t)
	sandboxtest.Run(t, func(t *testing.T, ws io.Reader, workDir string) sandbox.Sandbox {
		return e.start(t, sandbox.Options{Workspace: ws, WorkDir: workDir})
	})
	t.Run("Program", func(t *testing.T) {
		sandboxtest.RunProgram(t, func(t *testing.T, ws io.Reader, workDir string) sandbox.Sandbox {
			return e.start(t, sandbox.Options{Workspace: ws, WorkDir: workDir})
		})
	})
}

func TestHardening(t *testing.T) {
	e := setup(t)
	t.Setenv("REPLAY_HOST_SECRET_TEST", "do-not-leak")
	sb := e.start(t, sandbox.Options{RunID: "hardening", MemoryBytes: 256 << 20, PidsLimit: 100, CPUs: 0.5})
	ctx := context.Background()
	info, err := e.cli.ContainerInspect(ctx, sb.ID())
	if err != nil {
		t.Fatal(err)
	}
	hc := info.HostConfig
	checks := []struct {
		what string
		ok   bool
	}{
		{"all capabilities dropped", slices.Equal([]string(hc.CapDrop), []string{"ALL"}) && len(hc.CapAdd) == 0},
		{"no-new-privileges", slices.Contains(hc.SecurityOpt, "no-new-privileges")},
		{"read-only root filesystem", hc.ReadonlyRootfs},
		{"no network", string(hc.NetworkMode) == "none" && info.Config.NetworkDisabled},
		{"not privileged", !hc.Privileged},
		{"memory limit without swap", hc.Memory == 256<<20 && hc.MemorySwap == 256<<20},
		{"pids limit", hc.PidsLimit != nil && *hc.PidsLimit == 100},
		{"cpu limit", hc.NanoCPUs == 5e8},
		{"tmpfs /tmp", strings.Contains(hc.Tmpfs["/tmp"], "size=")},
		{"no bind mounts", len(hc.Binds) == 0 && !slices.ContainsFunc(info.Mounts, func(m container.MountPoint) bool { return m.Type == "bind" })},
		{"non-root user", info.Config.User == sandbox.DefaultUser},
		{"managed label", info.Config.Labels[sandbox.LabelManaged] == "true"},
		{"run label", info.Config.Labels[sandbox.LabelRun] == "hardening"},
		{"no host environment", !slices.ContainsFunc(info.Config.Env, func(s string) bool { return strings.Contains(s, "REPLAY_HOST_SECRET_TEST") })},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not so (host config %+v)", c.what, hc)
		}
	}
	// And as the process inside sees it.
	r := run(t, sb, "id -u; grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status; env", 0)
	for _, want := range []string{"1000\n", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "NoNewPrivs:\t1"} {
		if !strings.Contains(r.Output, want) {
			t.Errorf("inside the sandbox: %q missing from\n%s", want, r.Output)
		}
	}
	if strings.Contains(r.Output, "REPLAY_HOST_SECRET_TEST") {
		t.Errorf("the host environment leaked into the sandbox:\n%s", r.Output)
	}
}

func TestNetworkIsUnreachable(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{})
	// A listener on this machine, on every address: a sandbox with a
	// network could reach it through the bridge's gateway.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	gw := "172.17.0.1"
	if n, err := e.cli.NetworkInspect(context.Background(), "bridge", network.InspectOptions{}); err == nil && len(n.IPAM.Config) > 0 && n.IPAM.Config[0].Gateway != "" {
		gw = n.IPAM.Config[0].Gateway
	}
	// Only the loopback interface exists and there is no route: no packet
	// can leave, to the host or anywhere else.
	r := run(t, sb, "cat /proc/net/dev; echo ROUTES; tail -n +2 /proc/net/route", 0)
	ifaces := 0
	for _, line := range strings.Split(r.Output, "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.Contains(name, "|") && !strings.Contains(name, " ") {
			ifaces++
			if name != "lo" {
				t.Errorf("interface %q exists in the sandbox", name)
			}
		}
	}
	if ifaces != 1 {
		t.Errorf("want only lo, got:\n%s", r.Output)
	}
	if _, routes, _ := strings.Cut(r.Output, "ROUTES"); strings.TrimSpace(routes) != "" {
		t.Errorf("the sandbox has routes: %s", routes)
	}
	for _, addr := range []string{gw, "127.0.0.1"} {
		r := run(t, sb, fmt.Sprintf("if nc -w 2 %s %d </dev/null; then echo CONNECTED; else echo failed; fi", addr, port), 0)
		if !strings.Contains(r.Output, "failed") || strings.Contains(r.Output, "CONNECTED") {
			t.Errorf("TCP to %s:%d from the sandbox: %s", addr, port, r.Output)
		}
	}
	select {
	case <-accepted:
		t.Error("the host listener accepted a connection from the sandbox")
	default:
	}
}

func TestForkBombIsContained(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{PidsLimit: 64})
	start := time.Now()
	r := run(t, sb, "bomb() { bomb | bomb & }; bomb; wait", 3000)
	t.Logf("fork bomb: %v, fault %q", time.Since(start), r.Fault)
	// It forks until killed at its time limit; the pids limit holds it meanwhile.
	if r.Fault != sandbox.FaultTimeout && r.Fault != sandbox.FaultPids {
		t.Errorf("fork bomb: fault %q, want %q or %q", r.Fault, sandbox.FaultTimeout, sandbox.FaultPids)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the fork bomb took %v to end", d)
	}
	// The sandbox survives and answers.
	var out string
	for i := 0; i < 20; i++ {
		r := run(t, sb, "echo alive; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; cat /sys/fs/cgroup/pids/pids.events /sys/fs/cgroup/pids.events 2>/dev/null; true", 0)
		out = r.Output
		if strings.HasPrefix(out, "alive") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.HasPrefix(out, "alive\n64") {
		t.Fatalf("after the fork bomb the sandbox answers %q; want alive and a pids limit of 64", out)
	}
	if !strings.Contains(out, "max ") || strings.Contains(out, "max 0") {
		t.Errorf("the pids limit was never reached (the bomb was not contained by it?): %q", out)
	}
}

func TestMemoryHogIsAFault(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{MemoryBytes: 96 << 20})
	args, _ := json.Marshal(map[string]any{"command": `awk 'BEGIN { s = "xxxxxxxxxxxxxxxx"; for (;;) s = s s }'`, "timeout": 60000})
	r, err := sb.Exec(context.Background(), sandbox.ToolCall{Name: "Bash", Arguments: args})
	switch {
	case err != nil:
		var f *sandbox.FaultError
		if !errors.As(err, &f) || f.Kind != sandbox.FaultKindOOM {
			t.Fatalf("memory hog: %v; want an OOM fault", err)
		}
	case r.Fault != sandbox.FaultOOM:
		t.Fatalf("memory hog: %+v; want fault %q", r, sandbox.FaultOOM)
	default:
		if !r.IsError || !strings.Contains(r.Output, "out of memory") {
			t.Errorf("memory hog output %q", r.Output)
		}
		if got := run(t, sb, "echo alive", 0); got.Output != "alive" {
			t.Errorf("after the memory hog: %q", got.Output)
		}
	}
}

func TestHugeOutputIsTruncatedInTheSandbox(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := run(t, sb, "yes | head -c 1000000000", 0)
	runtime.ReadMemStats(&after)
	// 1e9 bytes of "y\n": 30,000 bytes (15,000 lines) kept.
	if !r.Truncated || !strings.HasSuffix(r.Output, "\n\n... [499985000 lines truncated] ...") {
		t.Errorf("Truncated = %v, output ends %q", r.Truncated, r.Output[max(0, len(r.Output)-60):])
	}
	if len(r.Output) > 31000 {
		t.Errorf("%d bytes of output reached the runner", len(r.Output))
	}
	if grew := int64(after.TotalAlloc) - int64(before.TotalAlloc); grew > 64<<20 {
		t.Errorf("the runner allocated %d MB for a 1 GB output", grew>>20)
	}
}

func TestEndlessCommandIsKilled(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{})
	for _, cmd := range []string{"while :; do :; done", "trap '' TERM INT; sleep 1000"} {
		start := time.Now()
		r := run(t, sb, cmd, 1000)
		if r.Fault != sandbox.FaultTimeout || !r.IsError {
			t.Errorf("%q: %+v", cmd, r)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("%q with a 1 s limit took %v", cmd, d)
		}
	}
	// Nothing of the killed commands survives: the next call sees only
	// itself (its shell and the pipeline) and the executor.
	if r := run(t, sb, "ps -o pid,comm | grep -E 'sleep|while' || echo none", 0); strings.TrimSpace(r.Output) != "none" {
		t.Errorf("processes of the timed-out commands survive: %s", r.Output)
	}
}

func TestRunTimeoutIsAFault(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{RunTimeout: 2 * time.Second})
	_, err := sb.Exec(context.Background(), sandbox.ToolCall{Name: "Bash", Arguments: json.RawMessage(`{"command":"sleep 30"}`)})
	var f *sandbox.FaultError
	if !errors.As(err, &f) || f.Kind != sandbox.FaultKindRunTimeout || !errors.Is(err, sandbox.ErrFault) {
		t.Fatalf("err = %v, want a run_timeout fault", err)
	}
	if _, err := sb.Exec(context.Background(), sandbox.ToolCall{Name: "Bash", Arguments: json.RawMessage(`{"command":"true"}`)}); !errors.Is(err, sandbox.ErrFault) {
		t.Errorf("after the run timeout: %v", err)
	}
}

func TestCleanupOnPanic(t *testing.T) {
	e := setup(t)
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v", p)
			}
		}()
		ctx := context.Background()
		sb, err := sandbox.New(ctx, e.cli, sandbox.Options{ExecutorPath: executorFor(t), Labels: e.labels})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close(ctx)
		panic("boom")
	}()
	if left := sandboxtest.Leftovers(t, e.cli, e.labels); len(left) > 0 {
		t.Errorf("left after a panic: %v", left)
	}
}

func TestCleanupOnCancel(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	sb, err := sandbox.New(ctx, e.cli, sandbox.Options{ExecutorPath: executorFor(t), Labels: e.labels})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // as SIGINT does to the root context; nobody calls Close
	waitGone(t, e)
	if _, err := sb.Exec(context.Background(), sandbox.ToolCall{Name: "Bash", Arguments: json.RawMessage(`{"command":"true"}`)}); err == nil {
		t.Error("Exec worked on a sandbox whose context was cancelled")
	}
}

func waitGone(t *testing.T, e env) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := sandboxtest.Leftovers(t, e.cli, e.labels)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still there after 30 s: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestHelperProcess is the child of the signal tests: it creates a sandbox
// on a context cancelled by SIGINT/SIGTERM, as cmd/replay does, says
// "ready" and waits.
func TestHelperProcess(t *testing.T) {
	label := os.Getenv("REPLAY_TEST_CHILD_LABEL")
	if label == "" {
		t.Skip("helper process for the signal tests")
	}
	ctx, stop := signalContext()
	defer stop()
	cli := sandboxtest.Docker(t)
	sb, err := sandbox.New(ctx, cli, sandbox.Options{ExecutorPath: executorFor(t), Labels: map[string]string{sandboxtest.LabelTest: label}})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	defer sb.Close(ctx)
	fmt.Println("ready")
	<-ctx.Done()
}

func startChild(t *testing.T, e env) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "REPLAY_TEST_CHILD_LABEL="+e.labels[sandboxtest.LabelTest], "REPLAY_TEST_EXECUTOR="+executorFor(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); l == "ready" || strings.HasPrefix(l, "error:") {
				ready <- l
			}
		}
		close(ready)
	}()
	select {
	case l := <-ready:
		if l != "ready" {
			cmd.Process.Kill()
			t.Fatalf("child: %s", l)
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("child never became ready")
	}
	if left := sandboxtest.Leftovers(t, e.cli, e.labels); len(left) != 1 {
		t.Fatalf("child's sandbox: %v", left)
	}
	return cmd
}

func TestCleanupOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			e := setup(t)
			cmd := startChild(t, e)
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				t.Fatal("child did not exit")
			}
			if left := sandboxtest.Leftovers(t, e.cli, e.labels); len(left) > 0 {
				t.Errorf("left after %v: %v", sig, left)
			}
		})
	}
}

func TestPruneRemovesWhatSIGKILLLeft(t *testing.T) {
	e := setup(t)
	cmd := startChild(t, e)
	cmd.Process.Kill()
	cmd.Wait()
	left := sandboxtest.Leftovers(t, e.cli, e.labels)
	if len(left) != 1 {
		t.Fatalf("after SIGKILL: %v (want the one leftover prune must remove)", left)
	}
	ctx := context.Background()
	rep, err := sandbox.Prune(ctx, e.cli, sandbox.PruneOptions{Labels: e.labels, DryRun: true})
	if err != nil || len(rep.Containers) != 1 {
		t.Fatalf("dry run: %+v, %v", rep, err)
	}
	if left := sandboxtest.Leftovers(t, e.cli, e.labels); len(left) != 1 {
		t.Fatalf("a dry run removed containers: %v", left)
	}
	rep, err = sandbox.Prune(ctx, e.cli, sandbox.PruneOptions{Labels: e.labels})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Containers) != 1 || "/"+rep.Containers[0] != left[0] || len(rep.Volumes) > 2 {
		t.Errorf("prune report %+v, leftover %v", rep, left)
	}
	if left := sandboxtest.Leftovers(t, e.cli, e.labels); len(left) > 0 {
		t.Errorf("after prune: %v", left)
	}
}

func TestDockerUnreachable(t *testing.T) {
	for _, host := range []string{"unix:///nonexistent/replay-test.sock", "tcp://127.0.0.1:1"} {
		_, err := sandbox.NewClient(context.Background(), sandbox.ClientOptions{Host: host})
		if !errors.Is(err, sandbox.ErrDockerUnavailable) {
			t.Fatalf("%s: err = %v, want ErrDockerUnavailable", host, err)
		}
		for _, want := range []string{"DOCKER_HOST", host, "start Docker"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", host, err, want)
			}
		}
	}
	if _, err := sandbox.NewClient(context.Background(), sandbox.ClientOptions{Host: "ssh://"}); err == nil {
		t.Error("an ssh host without a name was accepted")
	}
}

func TestBadInputLeavesNothing(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	evil := func(h *tar.Header) io.Reader {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		tw.WriteHeader(h)
		tw.Close()
		return &b
	}
	tests := []struct {
		name string
		opts sandbox.Options
		is   error
	}{
		{"missing image", sandbox.Options{Image: "replay-no-such-image:nope"}, sandbox.ErrImageNotFound},
		{"tar climbing out", sandbox.Options{Workspace: evil(&tar.Header{Name: "../../etc/evil", Typeflag: tar.TypeReg, Mode: 0o644})}, sandbox.ErrBadWorkspace},
		{"tar device", sandbox.Options{Workspace: evil(&tar.Header{Name: "dev", Typeflag: tar.TypeChar, Mode: 0o644, Devmajor: 1, Devminor: 3})}, sandbox.ErrBadWorkspace},
		{"tar hard link out", sandbox.Options{Workspace: evil(&tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"})}, sandbox.ErrBadWorkspace},
		{"not a tar", sandbox.Options{Workspace: strings.NewReader(strings.Repeat("not a tar ", 100))}, sandbox.ErrBadWorkspace},
		{"root user", sandbox.Options{User: "0:0"}, nil},
		{"relative work dir", sandbox.Options{WorkDir: "repo"}, nil},
		{"cwd outside the work dir", sandbox.Options{WorkDir: "/w", Cwd: "/elsewhere"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.ExecutorPath, tt.opts.Labels = executorFor(t), e.labels
			sb, err := sandbox.New(ctx, e.cli, tt.opts)
			if err == nil {
				sb.Close(ctx)
				t.Fatal("New accepted it")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if left := sandboxtest.Leftovers(t, e.cli, e.labels); len(left) > 0 {
				t.Errorf("left after a failed New: %v", left)
			}
		})
	}
}

// TestUserImage runs in an image that knows nothing of replay (no
// passwd entry for the sandbox user, no /sandbox), with work directories
// an agent recorded: top-level and deep.
func TestUserImage(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const tag = "replay-test-userimage:1"
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testutil.SkipUnlessCI(t, "no /bin/busybox to build a test image: %v", err)
	}
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, a := range []string{"sh", "ls", "touch", "id", "cat", "pwd", "echo", "stat"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	tw.Close()
	out, err := e.cli.ImageImport(ctx, image.ImportSource{Source: &rootfs, SourceName: "-"}, tag, image.ImportOptions{Changes: []string{`ENTRYPOINT ["/bin/false"]`, "ENV IMAGE_VAR=from-image"}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, out)
	out.Close()
	t.Cleanup(func() { e.cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true}) })

	for _, wd := range []string{"/work", "/Users/someone/src/project"} {
		t.Run(wd, func(t *testing.T) {
			sb := e.start(t, sandbox.Options{Image: tag, WorkDir: wd, Workspace: sandboxtest.Tar(t, sandboxtest.File{Name: "f.txt", Body: "x\n"})})
			r := run(t, sb, "pwd; id -u; echo $IMAGE_VAR; touch new-at-root && ls", 0)
			if r.Output != wd+"\n1000\nfrom-image\nf.txt\nnew-at-root" {
				t.Errorf("got %q", r.Output)
			}
			rr, err := sb.Exec(ctx, sandbox.ToolCall{Name: "Read", Arguments: json.RawMessage(`{"file_path":"` + wd + `/f.txt"}`)})
			if err != nil || rr.Output != "1\tx" {
				t.Errorf("Read: %+v %v", rr, err)
			}
		})
	}
}

func TestEightSandboxesAtOnce(t *testing.T) {
	e := setup(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			sb, err := sandbox.New(ctx, e.cli, sandbox.Options{ExecutorPath: executorFor(t), Labels: e.labels, Workspace: sandboxtest.Tar(t, sandboxtest.File{Name: "n", Body: fmt.Sprint(i)})})
			if err != nil {
				errs <- err
				return
			}
			defer sb.Close(ctx)
			for j := 0; j < 5; j++ {
				r, err := sb.Exec(ctx, sandbox.ToolCall{Name: "Bash", Arguments: json.RawMessage(`{"command":"cat n"}`)})
				if err != nil || r.Output != fmt.Sprint(i) {
					errs <- fmt.Errorf("sandbox %d: %+v %v", i, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// TestDefaultImageHasGitAndBash: the commands agents record most — a
// `git status`, `git diff`, `git log` and bash syntax — run in the default
// image as they ran for the agent.
func TestDefaultImageHasGitAndBash(t *testing.T) {
	e := setup(t)
	if _, err := exec.LookPath("git"); err != nil {
		testutil.SkipUnlessCI(t, "no git on this host to put into the image: %v", err)
	}
	sb := e.start(t, sandbox.Options{Workspace: sandboxtest.Tar(t, sandboxtest.File{Name: "a.txt", Body: "one\n"})})
	r := run(t, sb, `echo "$BASH_VERSION" | cut -c1; [[ -n $BASH ]] && echo bash; git init -q . && git add a.txt && `+
		`git -c user.name=a -c user.email=a@b commit -qm first && echo two >> a.txt && git status --short && git diff --stat && git log --format=%s`, 0)
	want := []string{"bash", " M a.txt", "a.txt | 1 +", "first"}
	for _, w := range want {
		if !strings.Contains(r.Output, w) {
			t.Errorf("output lacks %q:\n%s", w, r.Output)
		}
	}
}
