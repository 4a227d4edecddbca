package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentreplay/replay/sandbox/executor"
)

// The host side of the program channel (see "The program channel" in
// doc.go; the executor's side is executor/tunnel.go): connections a
// program makes to a port on the container's loopback arrive here as
// net.Conns, carried over the executor's own stream. Every stream frame is
// bound to a connection the executor announced (ids in order), to that
// connection's state (nothing after its EOF or Close) and to the window the
// host gave it; anything else is a desync that ends the sandbox.

// tunnels holds the host's tunnelled connections.
type tunnels struct {
	c *conn

	mu    sync.Mutex
	last  uint64 // the highest id announced
	open  int    // connections not yet closed by both sides
	conns map[uint64]*tunnelConn
	err   error // the channel ended
}

func newTunnels(c *conn) *tunnels { return &tunnels{c: c, conns: map[uint64]*tunnelConn{}} }

// accepted registers a connection the executor announced.
func (t *tunnels) accepted(id uint64) (*tunnelConn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id != t.last+1 {
		return nil, fmt.Errorf("connection %d announced after %d (ids go in order)", id, t.last)
	}
	if t.open >= executor.MaxStreams {
		return nil, fmt.Errorf("connection %d announced with %d open (at most %d)", id, t.open, executor.MaxStreams)
	}
	t.last = id
	t.open++
	tc := &tunnelConn{t: t, id: id, wake: make(chan struct{}), recvCredit: executor.StreamWindow, sendCredit: executor.StreamWindow, err: t.err}
	t.conns[id] = tc
	return tc, nil
}

func (t *tunnels) get(id uint64) *tunnelConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns[id]
}

// deliver takes one stream frame from the executor. It never blocks.
func (t *tunnels) deliver(r executor.Response) error {
	tc := t.get(r.Conn)
	if tc == nil {
		if r.Conn > t.lastID() {
			return fmt.Errorf("a frame for connection %d, which was never announced", r.Conn)
		}
		return fmt.Errorf("a frame for connection %d after both sides closed it", r.Conn)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	defer tc.notify()
	if tc.rClosed {
		return fmt.Errorf("a frame for connection %d after its close", r.Conn)
	}
	switch {
	case len(r.Data) > 0:
		if len(r.Data) > executor.StreamChunk {
			return fmt.Errorf("connection %d: a data frame of %d bytes (at most %d)", r.Conn, len(r.Data), executor.StreamChunk)
		}
		if tc.rEOF {
			return fmt.Errorf("connection %d: data after its EOF", r.Conn)
		}
		if len(r.Data) > tc.recvCredit {
			return fmt.Errorf("connection %d: %d bytes sent beyond the window (%d left)", r.Conn, len(r.Data), tc.recvCredit)
		}
		tc.recvCredit -= len(r.Data)
		if !tc.lClosed {
			tc.buf = append(tc.buf, r.Data...)
		}
	case r.Window > 0:
		if tc.sendCredit+r.Window > executor.StreamWindow {
			return fmt.Errorf("connection %d: credit for %d bytes never sent", r.Conn, r.Window)
		}
		tc.sendCredit += r.Window
	case r.EOF:
		if tc.rEOF {
			return fmt.Errorf("connection %d: a second EOF", r.Conn)
		}
		tc.rEOF = true
	case r.Close:
		tc.rClosed = true
		if tc.lClosed {
			t.free(tc)
		}
	default:
		return fmt.Errorf("connection %d: an empty frame", r.Conn)
	}
	return nil
}

func (t *tunnels) lastID() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// free forgets a connection both sides closed.
func (t *tunnels) free(tc *tunnelConn) {
	t.mu.Lock()
	if t.conns[tc.id] == tc {
		delete(t.conns, tc.id)
		t.open--
	}
	t.mu.Unlock()
}

// failAll ends every connection: the channel is gone.
func (t *tunnels) failAll(err error) {
	t.mu.Lock()
	t.err = err
	var all []*tunnelConn
	for _, tc := range t.conns {
		all = append(all, tc)
	}
	t.mu.Unlock()
	for _, tc := range all {
		tc.mu.Lock()
		tc.err = err
		tc.notify()
		tc.mu.Unlock()
	}
}

// tunnelConn is one connection a program made, as a net.Conn on the host.
type tunnelConn struct {
	t    *tunnels
	id   uint64
	port int

	wmu sync.Mutex // one Write at a time, so writes do not interleave

	mu         sync.Mutex
	wake       chan struct{} // closed and replaced on every change
	buf        []byte        // received, not yet read
	recvCredit int           // what the executor may still send
	unacked    int           // read but not yet granted back
	sendCredit int           // what we may still send
	rEOF       bool          // the program will write no more
	rClosed    bool          // the executor sent Close
	lClosed    bool          // we sent Close
	wEOF       bool          // we sent EOF
	rdl, wdl   time.Time
	err        error // the channel failed
}

var _ net.Conn = (*tunnelConn)(nil)

func (tc *tunnelConn) notify() {
	close(tc.wake)
	tc.wake = make(chan struct{})
}

// wait waits, with tc.mu held, for a change or the deadline; it returns
// with tc.mu held.
func (tc *tunnelConn) wait(dl time.Time) error {
	if !dl.IsZero() && !time.Now().Before(dl) {
		return os.ErrDeadlineExceeded
	}
	w := tc.wake
	tc.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-w:
	case <-timeout:
	}
	tc.mu.Lock()
	return nil
}

func (tc *tunnelConn) channelErr() error {
	return fmt.Errorf("sandbox channel: %w", tc.err)
}

func (tc *tunnelConn) Read(p []byte) (int, error) {
	tc.mu.Lock()
	for {
		switch {
		case tc.lClosed:
			tc.mu.Unlock()
			return 0, net.ErrClosed
		case len(tc.buf) > 0:
			n := copy(p, tc.buf)
			tc.buf = tc.buf[n:]
			if len(tc.buf) == 0 {
				tc.buf = nil
			}
			tc.unacked += n
			grant := 0
			// Credit goes back in batches: a quarter window, or all of it
			// when the reader has caught up.
			if tc.unacked >= executor.StreamWindow/4 || (len(tc.buf) == 0 && tc.unacked >= executor.StreamChunk) {
				grant, tc.unacked = tc.unacked, 0
				tc.recvCredit += grant
			}
			closed := tc.rClosed || tc.rEOF || tc.err != nil
			tc.mu.Unlock()
			if grant > 0 && !closed {
				tc.t.c.sendStream(executor.Request{Op: executor.OpWindow, Conn: tc.id, Window: grant})
			}
			return n, nil
		case tc.rEOF || tc.rClosed:
			tc.mu.Unlock()
			return 0, io.EOF
		case tc.err != nil:
			tc.mu.Unlock()
			return 0, tc.channelErr()
		}
		if err := tc.wait(tc.rdl); err != nil {
			tc.mu.Unlock()
			return 0, err
		}
	}
}

func (tc *tunnelConn) Write(p []byte) (int, error) {
	tc.wmu.Lock()
	defer tc.wmu.Unlock()
	written := 0
	tc.mu.Lock()
	for len(p) > 0 {
		switch {
		case tc.lClosed:
			tc.mu.Unlock()
			return written, net.ErrClosed
		case tc.wEOF:
			tc.mu.Unlock()
			return written, errors.New("write after CloseWrite")
		case tc.err != nil:
			tc.mu.Unlock()
			return written, tc.channelErr()
		case tc.rClosed:
			tc.mu.Unlock()
			return written, fmt.Errorf("write to the sandbox's connection %d: %w", tc.id, io.ErrClosedPipe)
		case tc.sendCredit > 0:
			n := min(tc.sendCredit, executor.StreamChunk, len(p))
			tc.sendCredit -= n
			tc.mu.Unlock()
			if err := tc.t.c.sendStream(executor.Request{Op: executor.OpData, Conn: tc.id, Data: p[:n]}); err != nil {
				return written, err
			}
			written += n
			p = p[n:]
			tc.mu.Lock()
			continue
		}
		if err := tc.wait(tc.wdl); err != nil {
			tc.mu.Unlock()
			return written, err
		}
	}
	tc.mu.Unlock()
	return written, nil
}

// CloseWrite tells the program it will read no more (a TCP half-close).
func (tc *tunnelConn) CloseWrite() error {
	tc.wmu.Lock()
	defer tc.wmu.Unlock()
	tc.mu.Lock()
	if tc.lClosed || tc.wEOF || tc.err != nil {
		tc.mu.Unlock()
		return nil
	}
	tc.wEOF = true
	tc.mu.Unlock()
	return tc.t.c.sendStream(executor.Request{Op: executor.OpEOF, Conn: tc.id})
}

// Close closes the connection; the program's side sees it closed.
func (tc *tunnelConn) Close() error {
	tc.mu.Lock()
	if tc.lClosed {
		tc.mu.Unlock()
		return nil
	}
	tc.lClosed = true
	tc.buf = nil
	tc.notify()
	free, failed := tc.rClosed, tc.err != nil
	tc.mu.Unlock()
	if !failed {
		tc.t.c.sendStream(executor.Request{Op: executor.OpClose, Conn: tc.id})
	}
	if free || failed {
		tc.t.free(tc)
	}
	return nil
}

func (tc *tunnelConn) SetDeadline(t time.Time) error {
	tc.mu.Lock()
	tc.rdl, tc.wdl = t, t
	tc.notify()
	tc.mu.Unlock()
	return nil
}

func (tc *tunnelConn) SetReadDeadline(t time.Time) error {
	tc.mu.Lock()
	tc.rdl = t
	tc.notify()
	tc.mu.Unlock()
	return nil
}

func (tc *tunnelConn) SetWriteDeadline(t time.Time) error {
	tc.mu.Lock()
	tc.wdl = t
	tc.notify()
	tc.mu.Unlock()
	return nil
}

// TunnelAddr is the address of a tunnelled connection: the port inside
// the sandbox it was made to.
type TunnelAddr struct {
	Container string
	Port      int
	Conn      uint64 // 0 for the listener
}

func (a TunnelAddr) Network() string { return "sandbox" }
func (a TunnelAddr) String() string {
	s := fmt.Sprintf("sandbox:%.12s:127.0.0.1:%d", a.Container, a.Port)
	if a.Conn != 0 {
		s += "#" + strconv.FormatUint(a.Conn, 10)
	}
	return s
}

func (tc *tunnelConn) LocalAddr() net.Addr  { return TunnelAddr{Port: tc.port} }
func (tc *tunnelConn) RemoteAddr() net.Addr { return TunnelAddr{Port: tc.port, Conn: tc.id} }

// sendStream writes a stream frame (no id, no answer).
func (c *conn) sendStream(req executor.Request) error {
	if err := c.failed(); err != nil {
		return fmt.Errorf("sandbox channel: %w", err)
	}
	return c.send(req)
}

// tunnelListener is a port on the container's loopback as a net.Listener
// on the host.
type tunnelListener struct {
	c    *Container
	id   uint64
	port int

	accepts chan *tunnelConn
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	err     error
}

// ListenInside listens on 127.0.0.1:port inside the sandbox (0: a free
// port; Addr says which) and returns the host's end: every connection a
// program in the sandbox makes to it is accepted here, carried over the
// executor's channel (the sandbox has no network). Close stops listening;
// the connections accepted stay open until closed. The port is the
// sandbox's, never published on the host.
func (c *Container) ListenInside(ctx context.Context, port int) (net.Listener, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	id, w, err := c.conn.start(executor.Request{Op: executor.OpListen, Port: port})
	if err != nil {
		return nil, c.diagnose(ctx)
	}
	resp, err := c.conn.recv(ctx, id, w)
	switch {
	case errors.Is(err, errConnDone):
		return nil, c.diagnose(ctx)
	case err != nil:
		c.conn.send(executor.Request{Op: executor.OpCancel, Target: id})
		return nil, err
	case resp.Err != "":
		if strings.Contains(resp.Err, "unknown op") {
			return nil, fmt.Errorf("listen on port %d in the sandbox: the executor is older than this replay (%s): rebuild it (make executor) or pass a matching --executor", port, resp.Err)
		}
		return nil, fmt.Errorf("listen on port %d in the sandbox: %s", port, resp.Err)
	case resp.Port == 0 || !resp.More:
		c.conn.forget(id)
		return nil, fmt.Errorf("listen on port %d in the sandbox: the executor did not say where it listens", port)
	}
	l := &tunnelListener{c: c, id: id, port: resp.Port, accepts: make(chan *tunnelConn, executor.MaxStreams), done: make(chan struct{})}
	go l.drain(w)
	return l, nil
}

// drain takes the listener's announcements off the channel at once, so
// the channel never waits for Accept.
func (l *tunnelListener) drain(w *waiter) {
	for {
		resp, err := l.c.conn.recv(context.Background(), l.id, w)
		if err != nil {
			if errors.Is(err, errConnDone) {
				err = l.c.diagnose(context.Background())
			}
			l.end(err)
			return
		}
		if resp.Accept != 0 {
			tc := l.c.conn.tun.get(resp.Accept)
			if tc == nil {
				continue
			}
			tc.port = l.port
			select {
			case <-l.done:
				tc.Close()
			default:
				select {
				case l.accepts <- tc:
				default:
					tc.Close() // cannot happen: at most MaxStreams are open
				}
			}
		}
		if !resp.More {
			l.end(net.ErrClosed)
			return
		}
	}
}

func (l *tunnelListener) end(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.once.Do(func() { close(l.done) })
}

func (l *tunnelListener) Accept() (net.Conn, error) {
	select {
	case tc := <-l.accepts:
		return tc, nil
	default:
	}
	select {
	case tc := <-l.accepts:
		return tc, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		return nil, l.err
	}
}

// Close stops listening inside the sandbox; connections not yet accepted
// are closed.
func (l *tunnelListener) Close() error {
	l.end(net.ErrClosed)
	l.c.conn.send(executor.Request{Op: executor.OpCancel, Target: l.id})
	for {
		select {
		case tc := <-l.accepts:
			tc.Close()
		default:
			return nil
		}
	}
}

func (l *tunnelListener) Addr() net.Addr {
	return TunnelAddr{Container: l.c.id, Port: l.port}
}
