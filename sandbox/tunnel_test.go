package sandbox_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
	"github.com/docker/docker/api/types/image"
)

var (
	clientOnce sync.Once
	clientBin  []byte
	clientErr  error
)

// tunnelClient is the test program that talks through the channel from
// inside (testdata/tunnelclient), built once as a static binary.
func tunnelClient(t testing.TB) []byte {
	t.Helper()
	clientOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tunnelclient-")
		if err != nil {
			clientErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "tunnelclient")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/tunnelclient")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			clientErr = fmt.Errorf("build tunnelclient: %v\n%s", err, b)
			return
		}
		clientBin, clientErr = os.ReadFile(out)
	})
	if clientErr != nil {
		t.Fatal(clientErr)
	}
	return clientBin
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// tunnelServer is the host's end: /echo answers the body's hash, /bytes
// sends n random bytes, /sink and /endless never end.
func tunnelServer(t *testing.T, ln net.Listener) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if os.Getenv("TDEBUG") != "" {
			t.Logf("echo %s: %d bytes, %v", r.RemoteAddr, len(b), err)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, sum(b))
	})
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		b := make([]byte, n)
		rand.Read(b)
		w.Header().Set("X-Sum", sum(b))
		w.Write(b)
	})
	mux.HandleFunc("/sink", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // reads nothing: the program's writes pile up against the window
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// programSandbox starts a sandbox with the tunnel client in its workspace
// and a listener inside.
func programSandbox(t *testing.T, o sandbox.Options) (*sandbox.Container, net.Listener) {
	t.Helper()
	e := setup(t)
	o.Workspace = sandboxtest.Tar(t, sandboxtest.File{Name: "tunnelclient", Body: string(tunnelClient(t)), Mode: 0o755})
	sb := e.start(t, o)
	ln, err := sb.ListenInside(context.Background(), 0)
	if err != nil {
		t.Fatalf("ListenInside: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return sb, ln
}

func port(ln net.Listener) int { return ln.Addr().(sandbox.TunnelAddr).Port }

// runClient runs the tunnel client with args and returns its output.
func runClient(t *testing.T, sb *sandbox.Container, ln net.Listener, timeout time.Duration, args string) (string, sandbox.ProgramResult) {
	t.Helper()
	var out, errOut bytes.Buffer
	p, err := sb.StartProgram(context.Background(), sandbox.Program{
		Command: "./tunnelclient " + args,
		Env:     []string{"TUNNEL_URL=http://127.0.0.1:" + strconv.Itoa(port(ln))},
		Timeout: timeout,
		Stdout:  &out, Stderr: &errOut,
	})
	if err != nil {
		t.Fatalf("StartProgram: %v", err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return out.String() + errOut.String(), res
}

// healthy checks that the sandbox still answers tool calls at once.
func healthy(t *testing.T, sb *sandbox.Container) {
	t.Helper()
	start := time.Now()
	r := run(t, sb, "echo healthy", 10_000)
	if !strings.Contains(r.Output, "healthy") {
		t.Fatalf("the sandbox no longer answers: %+v", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a tool call took %s beside the tunnel", d)
	}
}

func TestTunnel(t *testing.T) {
	sb, ln := programSandbox(t, sandbox.Options{})
	tunnelServer(t, ln)

	t.Run("Concurrent", func(t *testing.T) {
		out, res := runClient(t, sb, ln, 2*time.Minute, "concurrent 60")
		if res.ExitCode != 0 || !strings.Contains(out, "OK concurrent") {
			t.Fatalf("exit %d: %s", res.ExitCode, out)
		}
		healthy(t, sb)
	})
	t.Run("LargeBodies", func(t *testing.T) {
		out, res := runClient(t, sb, ln, 2*time.Minute, "big 8")
		if res.ExitCode != 0 || !strings.Contains(out, "OK big 8") {
			t.Fatalf("exit %d: %s", res.ExitCode, out)
		}
		t.Log(strings.TrimSpace(out))
	})
	t.Run("Latency", func(t *testing.T) {
		out, res := runClient(t, sb, ln, 2*time.Minute, "latency 200")
		if res.ExitCode != 0 || !strings.Contains(out, "OK latency") {
			t.Fatalf("exit %d: %s", res.ExitCode, out)
		}
		t.Log(strings.TrimSpace(out))
	})
	t.Run("FloodAgainstTheWindow", func(t *testing.T) {
		out, res := runClient(t, sb, ln, 2*time.Minute, "flood 3")
		if res.ExitCode != 0 || !strings.Contains(out, "OK flood") {
			t.Fatalf("exit %d: %s", res.ExitCode, out)
		}
		healthy(t, sb)
	})
	t.Run("StalledReader", func(t *testing.T) {
		out, res := runClient(t, sb, ln, 2*time.Minute, "stall")
		if res.ExitCode != 0 || !strings.Contains(out, "OK stall") {
			t.Fatalf("exit %d: %s", res.ExitCode, out)
		}
		healthy(t, sb)
	})
	t.Run("ConnectionNeverClosed", func(t *testing.T) {
		// The program holds a connection open and sleeps: its time limit
		// ends it, and with it the connection; the sandbox goes on.
		out, res := runClient(t, sb, ln, 5*time.Second, "hold")
		if !strings.Contains(out, "OK hold") || res.Fault != sandbox.FaultTimeout {
			t.Fatalf("fault %q exit %d: %s", res.Fault, res.ExitCode, out)
		}
		healthy(t, sb)
		out, res = runClient(t, sb, ln, time.Minute, "concurrent 5")
		if res.ExitCode != 0 {
			t.Fatalf("after the held connection: exit %d: %s", res.ExitCode, out)
		}
	})
}

// A raw connection: bytes both ways, half-close, and the listener's close.
func TestTunnelRawConn(t *testing.T) {
	sb, ln := programSandbox(t, sandbox.Options{})
	p := port(ln)
	var out bytes.Buffer
	// busybox nc: send a line, read the answer until the host closes.
	proc, err := sb.StartProgram(context.Background(), sandbox.Program{
		Command: fmt.Sprintf("(echo hello from inside; sleep 3) | nc 127.0.0.1 %d", p),
		Timeout: 30 * time.Second, Stdout: &out, Stderr: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	var c net.Conn
	select {
	case c = <-acc:
	case <-time.After(20 * time.Second):
		t.Fatalf("no connection accepted; program said %q", out.String())
	}
	buf := make([]byte, 100)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.ReadAtLeast(c, buf, len("hello from inside\n"))
	if err != nil || string(buf[:n]) != "hello from inside\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := c.Write([]byte("hello from the host\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	res, err := proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "hello from the host") {
		t.Errorf("the program read %q (exit %d)", out.String(), res.ExitCode)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	healthy(t, sb)
}

func TestProgram(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{Workspace: sandboxtest.Tar(t, sandboxtest.File{Name: "sub/", Dir: true})})
	ctx := context.Background()
	start := func(p sandbox.Program) (string, sandbox.ProgramResult) {
		t.Helper()
		var out bytes.Buffer
		p.Stdout, p.Stderr = &out, &out
		pr, err := sb.StartProgram(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		res, err := pr.Wait()
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), res
	}
	t.Run("EnvDirExitCode", func(t *testing.T) {
		out, res := start(sandbox.Program{Command: `echo "$GREETING from $(pwd)"; exit 3`, Dir: "sub", Env: []string{"GREETING=hi"}})
		if res.ExitCode != 3 || strings.TrimSpace(out) != "hi from "+sandbox.DefaultWorkDir+"/sub" {
			t.Errorf("exit %d, output %q", res.ExitCode, out)
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		begin := time.Now()
		_, res := start(sandbox.Program{Command: "sleep 600", Timeout: time.Second})
		if res.Fault != sandbox.FaultTimeout || time.Since(begin) > 20*time.Second {
			t.Errorf("fault %q after %s", res.Fault, time.Since(begin))
		}
	})
	t.Run("FloodIsTruncated", func(t *testing.T) {
		out, res := start(sandbox.Program{Command: "yes 0123456789 | head -c 50000000; echo done >&2", OutputLimit: 64 << 10})
		if res.ExitCode != 0 || len(out) != 64<<10 || res.Dropped != 50000000+5-64<<10 {
			t.Errorf("exit %d, %d bytes kept, %d dropped", res.ExitCode, len(out), res.Dropped)
		}
		healthy(t, sb)
	})
	t.Run("NotFound", func(t *testing.T) {
		_, res := start(sandbox.Program{Argv: []string{"/no/such/program"}})
		if res.ExitCode == 0 || !strings.Contains(res.Note, "no such file") {
			t.Errorf("exit %d, note %q", res.ExitCode, res.Note)
		}
	})
	t.Run("SurvivesToolCalls", func(t *testing.T) {
		// Tool calls end every process they leave behind, but not the
		// program's while it runs.
		var out bytes.Buffer
		pr, err := sb.StartProgram(ctx, sandbox.Program{Command: "sleep 2; echo survived", Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		run(t, sb, "true", 5000)
		res, err := pr.Wait()
		if err != nil || res.ExitCode != 0 || !strings.Contains(out.String(), "survived") {
			t.Errorf("exit %d, %v, output %q", res.ExitCode, err, out.String())
		}
		// And what it left in the background ends with it.
		pr, _ = sb.StartProgram(ctx, sandbox.Program{Command: "(sleep 300 &) ; echo started"})
		pr.Wait()
		r := run(t, sb, "ps -o comm | grep -c '^sleep' || true", 5000)
		if strings.TrimSpace(r.Output) != "0" {
			t.Errorf("a background process outlived the program: %q", r.Output)
		}
	})
	t.Run("Kill", func(t *testing.T) {
		pr, err := sb.StartProgram(ctx, sandbox.Program{Command: "sleep 600"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		pr.Kill()
		res, err := pr.Wait()
		if err != nil || !res.Cancelled {
			t.Errorf("%+v, %v", res, err)
		}
	})
}

// A program running beside a live tunnel cannot inject frames into it: it
// writes forged stream frames (data for the open connection, a close, an
// announcement) to every descriptor it can reach; none lands, the
// connection carries only what the program sent through it, and the
// channel stays in step.
func TestProgramCannotForgeTunnelFrames(t *testing.T) {
	sb, ln := programSandbox(t, sandbox.Options{})
	tunnelServer(t, ln)
	var forged []string
	for conn := 1; conn < 4; conn++ {
		for _, f := range []map[string]any{{"conn": conn, "data": "Zm9yZ2Vk"}, {"conn": conn, "close": true}, {"id": 1, "more": true, "accept": conn + 1}} {
			b, _ := json.Marshal(f)
			forged = append(forged, frameOctal(string(b), -1))
		}
	}
	var out bytes.Buffer
	// A connection held open (a request in flight), then the forgery from a
	// second process, then more requests.
	p, err := sb.StartProgram(context.Background(), sandbox.Program{
		Command: fmt.Sprintf("TUNNEL_URL=http://127.0.0.1:%d ./tunnelclient concurrent 4 & sleep 0.2; %s; wait; TUNNEL_URL=http://127.0.0.1:%d ./tunnelclient concurrent 4", port(ln), everyFD(strings.Join(forged, "")), port(ln)),
		Timeout: time.Minute, Stdout: &out, Stderr: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatalf("the sandbox failed: %v (output %q)", err, out.String())
	}
	if res.ExitCode != 0 || strings.Count(out.String(), "OK concurrent 4") != 2 || !strings.Contains(out.String(), "real-output") {
		t.Fatalf("exit %d, output %q", res.ExitCode, out.String())
	}
	if strings.Contains(out.String(), "wrote ") {
		t.Errorf("a program could write to another process's descriptors: %q", out.String())
	}
	healthy(t, sb)
}

// BenchmarkTunnel measures the program channel from inside a container:
// the round trip of a small HTTP request to a server on the host (p50,
// p99) and the throughput of one connection each way (an 8 MB body up, 8
// MB down).
func BenchmarkTunnel(b *testing.B) {
	e := setup(b)
	o := sandbox.Options{Workspace: sandboxtest.Tar(b, sandboxtest.File{Name: "tunnelclient", Body: string(tunnelClient(b)), Mode: 0o755})}
	sb := e.start(b, o)
	ln, err := sb.ListenInside(context.Background(), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, sum(body))
	})
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := make([]byte, n)
		rand.Read(body)
		w.Header().Set("X-Sum", sum(body))
		w.Write(body)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	client := func(b *testing.B, args string) string {
		var out bytes.Buffer
		p, err := sb.StartProgram(context.Background(), sandbox.Program{Command: "./tunnelclient " + args, Env: []string{"TUNNEL_URL=http://127.0.0.1:" + strconv.Itoa(port(ln))}, Timeout: 5 * time.Minute, Stdout: &out, Stderr: &out})
		if err != nil {
			b.Fatal(err)
		}
		if res, err := p.Wait(); err != nil || res.ExitCode != 0 {
			b.Fatalf("%v exit %d: %s", err, res.ExitCode, out.String())
		}
		return out.String()
	}
	b.Run("request", func(b *testing.B) {
		out := client(b, "latency "+strconv.Itoa(max(b.N, 100)))
		var p50s, p99s string
		fmt.Sscanf(strings.TrimSpace(out), "OK latency p50 %s p99 %s", &p50s, &p99s)
		d50, _ := time.ParseDuration(p50s)
		d99, _ := time.ParseDuration(p99s)
		b.ReportMetric(float64(d50)/float64(time.Millisecond), "ms/req-p50")
		b.ReportMetric(float64(d99)/float64(time.Millisecond), "ms/req-p99")
	})
	b.Run("8MB", func(b *testing.B) {
		var up, down float64
		for range b.N {
			out := client(b, "big 8")
			var mb int
			fmt.Sscanf(strings.TrimSpace(out), "OK big %d MB up %f MB/s down %f MB/s", &mb, &up, &down)
		}
		b.ReportMetric(up, "MB/s-up")
		b.ReportMetric(down, "MB/s-down")
	})
}

// An image without a shell: the command line is split into words, and
// ./program is the working directory's.
func TestProgramWithoutShell(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const tag = "replay-test-noshell:1"
	var rootfs bytes.Buffer
	tw := tar.NewWriter(&rootfs)
	tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.Close()
	rc, err := e.cli.ImageImport(ctx, image.ImportSource{Source: &rootfs, SourceName: "-"}, tag, image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	t.Cleanup(func() { e.cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true}) })
	sb := e.start(t, sandbox.Options{Image: tag, WorkDir: "/sandbox/workspace", Cwd: "/sandbox/workspace/sub", Workspace: sandboxtest.Tar(t,
		sandboxtest.File{Name: "sub/", Dir: true},
		sandboxtest.File{Name: "sub/tunnelclient", Body: string(tunnelClient(t)), Mode: 0o755})})
	ln, err := sb.ListenInside(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tunnelServer(t, ln)
	var out bytes.Buffer
	p, err := sb.StartProgram(ctx, sandbox.Program{Command: `./tunnelclient "latency" 20`, Env: []string{"TUNNEL_URL=http://127.0.0.1:" + strconv.Itoa(port(ln))}, Timeout: time.Minute, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || res.ExitCode != 0 || !strings.Contains(out.String(), "OK latency") {
		t.Fatalf("%+v %v: %s", res, err, out.String())
	}
}
