package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentreplay/replay/sandbox/executor"
)

// inProcess runs a real executor in this process, over pipes, with the
// host's conn on the other end: the channel without Docker.
func inProcess(t *testing.T) *Container {
	t.Helper()
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		executor.Serve(ctx, reqR, respW, &syncWriter{w: &log}, os.Environ())
		respW.Close()
	}()
	c := &Container{id: "inprocess", opts: Options{RunTimeout: time.Hour, CallTimeout: time.Minute}, stderr: &tailBuffer{}}
	c.conn = newConn(reqW, respR, 0, func() { respR.CloseWithError(errStalled) })
	args, _ := json.Marshal(executor.Config{Root: t.TempDir()})
	if _, err := c.roundTrip(ctx, executor.Request{Op: executor.OpInit, Args: args}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		reqW.Close()
		<-done
		if log.Len() > 0 {
			t.Logf("executor said: %s", log.String())
		}
	})
	return c
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestTunnelInProcess(t *testing.T) {
	c := inProcess(t)
	ln, err := c.ListenInside(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d", len(b))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://127.0.0.1:" + strconv.Itoa(ln.Addr().(TunnelAddr).Port)
	for _, keep := range []bool{true, false} {
		cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: !keep}}
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := make([]byte, i*10_000)
				rand.Read(body)
				resp, err := cl.Post(url, "x", bytes.NewReader(body))
				if err != nil {
					t.Errorf("keepalive %v, %d bytes: %v", keep, len(body), err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != strconv.Itoa(len(body)) {
					t.Errorf("got %q, want %d", got, len(body))
				}
			}()
		}
		wg.Wait()
		cl.CloseIdleConnections()
	}
	// Nothing is left open once the clients are done.
	open := -1
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		c.conn.tun.mu.Lock()
		open = c.conn.tun.open
		c.conn.tun.mu.Unlock()
		if open == 0 {
			break
		}
	}
	if open != 0 {
		t.Errorf("%d connections still open", open)
	}
	_ = net.ErrClosed
}

// A tunnel frame that breaks the rules — for a connection never
// announced, beyond the window the host gave, after its close, an
// announcement out of order or on a request that is no listener — is a
// desync: the channel ends with a ProtocolError.
func TestTunnelFramesAreBound(t *testing.T) {
	chunk := make([]byte, executor.StreamChunk)
	listen := func(t *testing.T) (*conn, *fakeExecutor, uint64) {
		c, f := newFakeConn(t, time.Second)
		got := make(chan executor.Request, 1)
		go func() {
			var req executor.Request
			f.reqs.Next(&req)
			got <- req
			for { // the host's later frames (credit, closes) are read and ignored
				if f.reqs.Next(&req) != nil {
					return
				}
			}
		}()
		id, w, err := c.start(executor.Request{Op: executor.OpListen})
		if err != nil {
			t.Fatal(err)
		}
		<-got
		go func() {
			for {
				if _, err := c.recv(context.Background(), id, w); err != nil {
					return
				}
			}
		}()
		return c, f, id
	}
	send := func(f *fakeExecutor, rs ...executor.Response) {
		go func() {
			for _, r := range rs {
				executor.WriteFrame(f.out, r)
			}
		}()
	}
	waitDesync := func(t *testing.T, c *conn, want string) {
		t.Helper()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("no desync (want %q)", want)
		}
		var pe *ProtocolError
		if !errors.As(c.failed(), &pe) || !strings.Contains(pe.Detail, want) {
			t.Fatalf("channel ended with %v, want a desync saying %q", c.failed(), want)
		}
	}
	cases := []struct {
		name   string
		frames func(listen uint64) []executor.Response
		want   string
	}{
		{"never announced", func(l uint64) []executor.Response {
			return []executor.Response{{Conn: 7, Data: []byte("x")}}
		}, "never announced"},
		{"out of order", func(l uint64) []executor.Response {
			return []executor.Response{{ID: l, More: true, Accept: 2}}
		}, "ids go in order"},
		{"beyond the window", func(l uint64) []executor.Response {
			rs := []executor.Response{{ID: l, More: true, Accept: 1}}
			for range executor.StreamWindow/executor.StreamChunk + 1 {
				rs = append(rs, executor.Response{Conn: 1, Data: chunk})
			}
			return rs
		}, "beyond the window"},
		{"oversized chunk", func(l uint64) []executor.Response {
			return []executor.Response{{ID: l, More: true, Accept: 1}, {Conn: 1, Data: make([]byte, executor.StreamChunk+1)}}
		}, "at most"},
		{"after close", func(l uint64) []executor.Response {
			return []executor.Response{{ID: l, More: true, Accept: 1}, {Conn: 1, Close: true}, {Conn: 1, Data: []byte("x")}}
		}, "after its close"},
		{"credit never owed", func(l uint64) []executor.Response {
			return []executor.Response{{ID: l, More: true, Accept: 1}, {Conn: 1, Window: 10}}
		}, "never sent"},
		{"accept on no listener", func(l uint64) []executor.Response {
			return []executor.Response{{ID: l + 1, More: true, Accept: 1}}
		}, "never sent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, f, id := listen(t)
			send(f, tc.frames(id)...)
			waitDesync(t, c, tc.want)
		})
	}
}

// A program through the in-process executor: output streamed, exit code.
func TestProgramInProcess(t *testing.T) {
	c := inProcess(t)
	var out bytes.Buffer
	p, err := c.StartProgram(context.Background(), Program{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 5"}, Stdout: &out, Stderr: &out, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil || res.ExitCode != 5 || out.String() != "out\nerr\n" && out.String() != "err\nout\n" {
		t.Errorf("%+v, %v, output %q", res, err, out.String())
	}
}
