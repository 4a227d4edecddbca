package sandboxtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/sandbox"
)

// RunProgram is the conformance suite of the program channel, for
// backends whose sandboxes are sandbox.ProgramSandbox: a program started
// with its environment, exit code, time limit and capped output, and an
// HTTP server on the host reached from inside through ListenInside (the
// image needs a shell and wget, as the default image has).
func RunProgram(t *testing.T, newSandbox Factory) {
	sb0 := newSandbox(t, nil, "/sandbox/workspace")
	sb, ok := sb0.(sandbox.ProgramSandbox)
	if !ok {
		t.Skipf("%T has no program channel", sb0)
	}
	defer sb.Close(context.Background())
	ctx := context.Background()
	start := func(t *testing.T, p sandbox.Program) (string, sandbox.ProgramResult) {
		t.Helper()
		var out bytes.Buffer
		p.Stdout, p.Stderr = &out, &out
		pr, err := sb.StartProgram(ctx, p)
		if err != nil {
			t.Fatalf("StartProgram: %v", err)
		}
		res, err := pr.Wait()
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		return out.String(), res
	}
	t.Run("EnvAndExitCode", func(t *testing.T) {
		out, res := start(t, sandbox.Program{Command: `echo "$WHO"; exit 4`, Env: []string{"WHO=agent"}})
		if res.ExitCode != 4 || strings.TrimSpace(out) != "agent" {
			t.Errorf("exit %d, output %q", res.ExitCode, out)
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		_, res := start(t, sandbox.Program{Command: "sleep 600", Timeout: 500 * time.Millisecond})
		if res.Fault != sandbox.FaultTimeout {
			t.Errorf("fault %q, want %q", res.Fault, sandbox.FaultTimeout)
		}
	})
	t.Run("OutputLimit", func(t *testing.T) {
		out, res := start(t, sandbox.Program{Command: "yes | head -c 1000000", OutputLimit: 1000})
		if len(out) != 1000 || res.Dropped != 999000 {
			t.Errorf("%d bytes kept, %d dropped", len(out), res.Dropped)
		}
	})
	t.Run("ListenInside", func(t *testing.T) {
		ln, err := sb.ListenInside(ctx, 0)
		if err != nil {
			t.Fatalf("ListenInside: %v", err)
		}
		defer ln.Close()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "host got %s %s %q", r.Method, r.URL.Path, b)
		})}
		go srv.Serve(ln)
		defer srv.Close()
		port := ln.Addr().(sandbox.TunnelAddr).Port
		out, res := start(t, sandbox.Program{Command: fmt.Sprintf("wget -q -O- --post-data hello http://127.0.0.1:%d/v1/ping", port), Timeout: time.Minute})
		if res.ExitCode != 0 || out != `host got POST /v1/ping "hello"` {
			t.Errorf("exit %d, output %q", res.ExitCode, out)
		}
	})
}
