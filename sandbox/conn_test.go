package sandbox

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/agentreplay/replay/sandbox/executor"
)

// fakeExecutor is the far end of a conn: it reads requests and lets the
// test write whatever bytes it likes as the response stream.
type fakeExecutor struct {
	reqs    *executor.FrameReader
	out     *io.PipeWriter
	stalled chan struct{}
}

func newFakeConn(t *testing.T, frameTime time.Duration) (*conn, *fakeExecutor) {
	t.Helper()
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	f := &fakeExecutor{reqs: executor.NewFrameReader(reqR), out: respW, stalled: make(chan struct{})}
	c := newConn(reqW, respR, frameTime, func() {
		respR.CloseWithError(errStalled)
		close(f.stalled)
	})
	t.Cleanup(func() { reqR.Close(); respW.Close() })
	return c, f
}

// call starts a request and returns a func waiting for its answer.
func (c *conn) call(t *testing.T, f *fakeExecutor) (uint64, func() (executor.Response, error)) {
	t.Helper()
	got := make(chan executor.Request, 1)
	go func() {
		var req executor.Request
		f.reqs.Next(&req)
		got <- req
	}()
	id, w, err := c.start(executor.Request{Op: executor.OpTool, Tool: "Bash"})
	if err != nil {
		t.Fatal(err)
	}
	if req := <-got; req.ID != id {
		t.Fatalf("request %+v, want id %d", req, id)
	}
	return id, func() (executor.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.recv(ctx, id, w)
	}
}

func (f *fakeExecutor) answer(t *testing.T, r executor.Response) {
	t.Helper()
	go executor.WriteFrame(f.out, r)
}

func wantDesync(t *testing.T, c *conn, err error) {
	t.Helper()
	var pe *ProtocolError
	if !errors.Is(err, errConnDone) || !errors.As(c.failed(), &pe) {
		t.Fatalf("the call ended with %v; the channel with %v: want a protocol desync", err, c.failed())
	}
}

// A frame header whose body never comes (written by something that is not
// the executor) ends the channel within the frame time, not at the run's
// timeout.
func TestConnStalledFrameIsADesync(t *testing.T) {
	c, f := newFakeConn(t, 200*time.Millisecond)
	_, wait := c.call(t, f)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 64<<20)
	go f.out.Write(hdr[:])
	start := time.Now()
	_, err := wait()
	wantDesync(t, c, err)
	select {
	case <-f.stalled:
	default:
		t.Error("the stream was not closed")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the desync took %s to notice", took)
	}
}

func TestConnAnswerToNoRequestIsADesync(t *testing.T) {
	c, f := newFakeConn(t, time.Second)
	_, wait := c.call(t, f)
	f.answer(t, executor.Response{ID: 99, Result: &executor.Result{Output: "forged"}})
	r, err := wait()
	if r.Result != nil && r.Result.Output == "forged" {
		t.Fatal("a forged answer was taken")
	}
	wantDesync(t, c, err)
}

func TestConnSecondAnswerIsADesync(t *testing.T) {
	c, f := newFakeConn(t, time.Second)
	id, wait := c.call(t, f)
	f.answer(t, executor.Response{ID: id, Result: &executor.Result{Output: "real"}})
	if r, err := wait(); err != nil || r.Result.Output != "real" {
		t.Fatalf("%+v %v", r, err)
	}
	_, wait2 := c.call(t, f)
	f.answer(t, executor.Response{ID: id, Result: &executor.Result{Output: "again"}})
	_, err := wait2()
	wantDesync(t, c, err)
}

// A late answer to a call whose caller gave up (a timeout, a cancel) is
// dropped, and the channel stays in step.
func TestConnLateAnswerIsDropped(t *testing.T) {
	c, f := newFakeConn(t, time.Second)
	go func() {
		var req executor.Request
		f.reqs.Next(&req)
	}()
	id, w, err := c.start(executor.Request{Op: executor.OpTool})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.recv(ctx, id, w); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	f.answer(t, executor.Response{ID: id, Result: &executor.Result{Output: "late"}})
	id2, wait := c.call(t, f)
	f.answer(t, executor.Response{ID: id2, Result: &executor.Result{Output: "next"}})
	if r, err := wait(); err != nil || r.Result.Output != "next" {
		t.Fatalf("after a late answer: %+v %v (channel: %v)", r, err, c.failed())
	}
}

// Garbage on the channel is a desync too.
func TestConnGarbageIsADesync(t *testing.T) {
	c, f := newFakeConn(t, time.Second)
	_, wait := c.call(t, f)
	go f.out.Write([]byte{0, 0, 0, 3, 'x', 'y', 'z'})
	_, err := wait()
	wantDesync(t, c, err)
}
