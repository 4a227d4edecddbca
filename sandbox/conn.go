package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/agentreplay/replay/sandbox/executor"
)

// conn is the host side of the executor protocol: requests are frames
// written to the container's stdin, responses frames read from its
// (demultiplexed) stdout, matched by id. Many calls may be in flight.
type conn struct {
	wmu sync.Mutex
	w   io.Writer

	mu      sync.Mutex
	next    uint64
	pending map[uint64]*waiter
	gone    map[uint64]string // requests whose caller stopped listening (by op): late answers are dropped
	err     error             // set once the stream ended
	done    chan struct{}

	// frameTime bounds how long a frame may take once its header has
	// arrived; stall closes the stream when it is exceeded.
	frameTime time.Duration
	stall     func()

	// tun holds the tunnelled connections (tunnel.go).
	tun *tunnels
}

// DefaultFrameTime is how long a frame may take once its header arrived:
// the largest frame (MaxFrame) crosses a local attach stream in well under
// a second, so a header whose body does not follow within it was not
// written by the executor.
const DefaultFrameTime = 10 * time.Second

// ProtocolError says the executor's channel carried something the executor
// did not send: a response to no request, a second answer to one, a frame
// that never ended. The sandbox cannot be trusted after it.
type ProtocolError struct {
	Detail string
}

func (e *ProtocolError) Error() string { return "protocol desync: " + e.Detail }

// waiter receives the responses to one request; gone is closed when the
// caller stops listening, so the reader never blocks on it.
type waiter struct {
	op   string
	ch   chan executor.Response
	gone chan struct{}
	once sync.Once
}

func (w *waiter) leave() { w.once.Do(func() { close(w.gone) }) }

// newConn starts reading responses from r. stall is called (once) when a
// frame does not complete within frameTime: it must make reads from r
// fail, so that the reader stops.
func newConn(w io.Writer, r io.Reader, frameTime time.Duration, stall func()) *conn {
	if frameTime <= 0 {
		frameTime = DefaultFrameTime
	}
	c := &conn{w: w, pending: map[uint64]*waiter{}, gone: map[uint64]string{}, done: make(chan struct{}), frameTime: frameTime, stall: stall}
	c.tun = newTunnels(c)
	go c.readLoop(r)
	return c
}

func (c *conn) readLoop(r io.Reader) {
	fr := executor.NewFrameReader(r)
	fr.BodyStarted = func(n uint32) func() {
		t := time.AfterFunc(c.frameTime, func() {
			c.fail(&ProtocolError{Detail: fmt.Sprintf("a frame announcing %d bytes did not arrive within %s", n, c.frameTime)})
			if c.stall != nil {
				c.stall()
			}
		})
		return func() { t.Stop() }
	}
	for {
		var resp executor.Response
		if err := fr.Next(&resp); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			if errors.Is(err, executor.ErrFrameTooLarge) || errors.Is(err, executor.ErrBadFrame) {
				err = &ProtocolError{Detail: err.Error()}
			}
			c.fail(err)
			return
		}
		if resp.ID == 0 && resp.Conn != 0 {
			// A frame of a tunnelled connection: bound to that
			// connection's state and window, never blocking.
			if err := c.tun.deliver(resp); err != nil {
				c.desync(err.Error())
				return
			}
			continue
		}
		c.mu.Lock()
		w := c.pending[resp.ID]
		op, gone := c.gone[resp.ID]
		if w != nil {
			op = w.op
		}
		if resp.Accept != 0 && (w != nil || gone) {
			// A connection announced on a listen request: registered
			// now, before any of its data; closed at once when its
			// listener is gone.
			if op != executor.OpListen || !resp.More {
				c.mu.Unlock()
				c.desync(fmt.Sprintf("a connection announced on request %d, which is no listener", resp.ID))
				return
			}
			tc, err := c.tun.accepted(resp.Accept)
			if err != nil {
				c.mu.Unlock()
				c.desync(err.Error())
				return
			}
			if w == nil {
				go tc.Close()
			}
		}
		switch {
		case w != nil && !resp.More:
			delete(c.pending, resp.ID)
		case w == nil && gone:
			// A late answer to a call whose caller gave up: dropped.
			if !resp.More {
				delete(c.gone, resp.ID)
			}
		case w == nil:
			// Every id the executor answers was sent by us and is answered
			// once: anything else was not written by the executor.
			what := "a second answer to request %d"
			if resp.ID == 0 || resp.ID > c.next {
				what = "an answer to request %d, which was never sent"
			}
			c.mu.Unlock()
			c.desync(fmt.Sprintf(what, resp.ID))
			return
		}
		c.mu.Unlock()
		if w != nil {
			select {
			case w.ch <- resp:
			case <-w.gone:
			case <-c.done:
				return
			}
		}
	}
}

// desync ends the connection with a ProtocolError and stops the stream.
func (c *conn) desync(detail string) {
	c.fail(&ProtocolError{Detail: detail})
	if c.stall != nil {
		c.stall()
	}
}

// fail ends the connection: every pending and later call gets err, every
// tunnelled connection too.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.done)
	c.mu.Unlock()
	c.tun.failAll(err)
}

func (c *conn) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// start sends req with a fresh id and returns the waiter its responses
// arrive on.
func (c *conn) start(req executor.Request) (uint64, *waiter, error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return 0, nil, c.err
	}
	c.next++
	req.ID = c.next
	w := &waiter{op: req.Op, ch: make(chan executor.Response, 4), gone: make(chan struct{})}
	c.pending[req.ID] = w
	c.mu.Unlock()
	if err := c.send(req); err != nil {
		c.forget(req.ID)
		return 0, nil, err
	}
	return req.ID, w, nil
}

func (c *conn) send(req executor.Request) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return executor.WriteFrame(c.w, req)
}

func (c *conn) forget(id uint64) {
	c.mu.Lock()
	w := c.pending[id]
	if w != nil {
		delete(c.pending, id)
		c.gone[id] = w.op
	}
	c.mu.Unlock()
	if w != nil {
		w.leave()
	}
}

// errConnDone is returned by recv when the stream ended; the caller asks
// the container why.
var errConnDone = errors.New("executor connection ended")

// recv waits for the next response to id, for ctx, or for the stream to
// end.
func (c *conn) recv(ctx context.Context, id uint64, w *waiter) (executor.Response, error) {
	select {
	case r := <-w.ch:
		return r, nil
	case <-ctx.Done():
		c.forget(id)
		w.leave()
		return executor.Response{}, ctx.Err()
	case <-c.done:
		// A response may have raced with the end of the stream.
		select {
		case r := <-w.ch:
			return r, nil
		default:
		}
		return executor.Response{}, errConnDone
	}
}
