package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// closeGrace is how long the data the host sent before its Close may take
// to reach a program that does not read it.
const closeGrace = 5 * time.Second

// tunnels is the executor's side of the program channel: it listens on the
// container's loopback (the sandbox has no other network) and carries each
// accepted connection over the protocol's own stream, multiplexed by
// connection id, so a program inside reaches a server on the host (replay's
// model proxy) without a network. Flow control is by credit: the executor
// sends at most StreamWindow bytes of a connection the host has not
// acknowledged (OpWindow), and buffers at most StreamWindow the host sent
// (the host keeps to the executor's window the same way), so neither side
// ever blocks the channel on one connection's reader, and a flood costs
// each side at most MaxStreams × StreamWindow.
//
// A connection ends with exactly one Close from each side; its id is free
// once both were sent. Ids are handed out 1, 2, 3, … in order, announced
// (Accept) on the listen request before any of their data.
type tunnels struct {
	s   *Server
	log io.Writer

	mu    sync.Mutex
	next  uint64
	open  int // connections not yet closed by both sides
	conns map[uint64]*tconn
}

func newTunnels(s *Server, log io.Writer) *tunnels {
	return &tunnels{s: s, log: log, conns: map[uint64]*tconn{}}
}

// tconn is one tunnelled connection.
type tconn struct {
	t  *tunnels
	id uint64
	nc net.Conn

	smu sync.Mutex // orders this connection's frames; held while sending one

	mu         sync.Mutex
	cond       *sync.Cond
	credit     int    // bytes the host will still take
	in         []byte // from the host, not yet written to nc
	inEOF      bool   // the host will send no more
	hostClosed bool   // the host sent Close
	readDone   bool   // nc's read side ended and EOF was sent
	writeDone  bool   // the host's EOF reached nc
	dead       bool   // nc is closed
	sentClose  bool
}

// listen answers OpListen: the port, then one Accept per connection, until
// ctx ends (the host cancels the request).
func (t *tunnels) listen(ctx context.Context, r Request) {
	if r.Port < 0 || r.Port > 65535 {
		t.s.send(Response{ID: r.ID, Err: fmt.Sprintf("listen: port %d is out of range", r.Port), ErrKind: ErrKindInvalid})
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)))
	if err != nil {
		t.s.send(Response{ID: r.ID, Err: "listen: " + err.Error(), ErrKind: ErrKindIO})
		return
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := t.s.send(Response{ID: r.ID, More: true, Port: port}); err != nil {
		ln.Close()
		return
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				fmt.Fprintf(t.log, "executor: accept on 127.0.0.1:%d: %v\n", port, err)
			}
			break
		}
		t.accept(r.ID, nc)
	}
	ln.Close()
	t.s.send(Response{ID: r.ID})
}

// accept announces a new connection and starts carrying it; past
// MaxStreams open connections it is refused (closed at once).
func (t *tunnels) accept(listenID uint64, nc net.Conn) {
	t.mu.Lock()
	if t.open >= MaxStreams {
		t.mu.Unlock()
		fmt.Fprintf(t.log, "executor: refused a connection: %d open\n", MaxStreams)
		nc.Close()
		return
	}
	t.next++
	t.open++
	c := &tconn{t: t, id: t.next, nc: nc, credit: StreamWindow}
	c.cond = sync.NewCond(&c.mu)
	t.conns[c.id] = c
	t.mu.Unlock()
	// The announcement goes out before any of the connection's data.
	if err := t.s.send(Response{ID: listenID, More: true, Accept: c.id}); err != nil {
		c.shutdown()
		return
	}
	go c.readLoop()
	go c.writeLoop()
}

// handle takes a stream frame from the host. It never blocks: data is
// buffered (within the window), everything else is a state change.
func (t *tunnels) handle(r Request) {
	t.mu.Lock()
	c := t.conns[r.Conn]
	t.mu.Unlock()
	if c == nil {
		// The host frees an id only after both Closes; a frame for one
		// it freed or never got is the host's bug: noted, dropped.
		fmt.Fprintf(t.log, "executor: %s for connection %d, which is not open\n", r.Op, r.Conn)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.Op {
	case OpData:
		switch {
		case c.dead:
			// We closed it; our Close crosses this frame.
		case c.inEOF || c.hostClosed:
			fmt.Fprintf(t.log, "executor: data for connection %d after its end\n", c.id)
		case len(c.in)+len(r.Data) > StreamWindow:
			fmt.Fprintf(t.log, "executor: the host overran connection %d's window\n", c.id)
			go c.shutdown()
		default:
			c.in = append(c.in, r.Data...)
		}
	case OpWindow:
		if r.Window > 0 {
			c.credit = min(c.credit+r.Window, StreamWindow)
		}
	case OpEOF:
		c.inEOF = true
	case OpClose:
		// Graceful: writeLoop writes what is buffered, then closes.
		c.hostClosed = true
		c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	}
	c.cond.Broadcast()
}

// closeAll ends every connection (the executor is stopping).
func (t *tunnels) closeAll() {
	t.mu.Lock()
	var all []*tconn
	for _, c := range t.conns {
		all = append(all, c)
	}
	t.mu.Unlock()
	for _, c := range all {
		c.mu.Lock()
		c.dead = true
		c.cond.Broadcast()
		c.mu.Unlock()
		c.nc.Close()
	}
}

// send writes one of the connection's frames unless its Close went out.
func (c *tconn) send(r Response) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	c.mu.Lock()
	closed := c.sentClose
	if r.Close {
		c.sentClose = true
	}
	c.mu.Unlock()
	if closed {
		return net.ErrClosed
	}
	r.Conn = c.id
	return c.t.s.send(r)
}

// readLoop carries what the program writes to the host, within the host's
// window.
func (c *tconn) readLoop() {
	buf := make([]byte, StreamChunk)
	for {
		c.mu.Lock()
		for c.credit == 0 && !c.dead {
			c.cond.Wait()
		}
		if c.dead {
			c.mu.Unlock()
			return
		}
		n := min(c.credit, StreamChunk)
		c.mu.Unlock()
		k, err := c.nc.Read(buf[:n])
		if k > 0 {
			c.mu.Lock()
			c.credit -= k
			c.mu.Unlock()
			if c.send(Response{Data: buf[:k]}) != nil {
				c.shutdown()
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) || c.send(Response{EOF: true}) != nil {
				c.shutdown()
				return
			}
			c.mu.Lock()
			c.readDone = true
			both := c.writeDone
			c.mu.Unlock()
			if both {
				c.shutdown()
			}
			return
		}
	}
}

// writeLoop writes what the host sent to the program, and gives the host
// credit for what was written. The host's Close is graceful: what it sent
// before is written first (within a few seconds: a program that does not
// read is cut off).
func (c *tconn) writeLoop() {
	for {
		c.mu.Lock()
		for len(c.in) == 0 && !(c.inEOF && !c.writeDone) && !c.hostClosed && !c.dead {
			c.cond.Wait()
		}
		if c.dead {
			c.mu.Unlock()
			return
		}
		if len(c.in) == 0 {
			if c.hostClosed {
				c.mu.Unlock()
				c.shutdown()
				return
			}
			// The host's EOF: the program reads the end.
			c.writeDone = true
			both := c.readDone
			c.mu.Unlock()
			if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			if both {
				c.shutdown()
				return
			}
			continue
		}
		data := c.in
		c.in = nil
		c.mu.Unlock()
		if _, err := c.nc.Write(data); err != nil {
			c.shutdown()
			return
		}
		if c.send(Response{Window: len(data)}) != nil {
			c.shutdown()
			return
		}
	}
}

// shutdown closes the connection and sends its Close (once); the id is
// freed when the host's Close is in too.
func (c *tconn) shutdown() {
	c.mu.Lock()
	c.dead = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.nc.Close()
	c.send(Response{Close: true})
	c.mu.Lock()
	free := c.hostClosed && c.sentClose
	c.mu.Unlock()
	if free {
		c.t.mu.Lock()
		if c.t.conns[c.id] == c {
			delete(c.t.conns, c.id)
			c.t.open--
		}
		c.t.mu.Unlock()
	}
}
