package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
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
