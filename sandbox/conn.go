package sandbox

import (
	"context"
	"errors"
	"io"
	"sync"

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
	err     error // set once the stream ended
	done    chan struct{}
}

// waiter receives the responses to one request; gone is closed when the
// caller stops listening, so the reader never blocks on it.
type waiter struct {
	ch   chan executor.Response
	gone chan struct{}
	once sync.Once
}

func (w *waiter) leave() { w.once.Do(func() { close(w.gone) }) }

func newConn(w io.Writer, r io.Reader) *conn {
	c := &conn{w: w, pending: map[uint64]*waiter{}, done: make(chan struct{})}
	go c.readLoop(r)
	return c
}

func (c *conn) readLoop(r io.Reader) {
	fr := executor.NewFrameReader(r)
	for {
		var resp executor.Response
		if err := fr.Next(&resp); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			c.fail(err)
			return
		}
		c.mu.Lock()
		w := c.pending[resp.ID]
		if w != nil && !resp.More {
			delete(c.pending, resp.ID)
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

// fail ends the connection: every pending and later call gets err.
func (c *conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.done)
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
	w := &waiter{ch: make(chan executor.Response, 4), gone: make(chan struct{})}
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
	delete(c.pending, id)
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
