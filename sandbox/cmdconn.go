package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"time"
)

// commandConn is a net.Conn over a process's stdin and stdout (the ssh
// transport to a remote daemon).
type commandConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr tailBuffer
	once   sync.Once
}

func newCommandConn(cmd *exec.Cmd) (net.Conn, error) {
	c := &commandConn{cmd: cmd}
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if c.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	cmd.Stderr = &c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %q: %w", cmd.Path, err)
	}
	return c, nil
}

func (c *commandConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if err == io.EOF {
		if msg := bytes.TrimSpace([]byte(c.stderr.String())); len(msg) > 0 {
			return n, fmt.Errorf("ssh connection closed: %s", msg)
		}
	}
	return n, err
}

func (c *commandConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

func (c *commandConn) Close() error {
	c.once.Do(func() {
		c.stdin.Close()
		c.stdout.Close()
		if c.cmd.Process != nil {
			c.cmd.Process.Kill()
		}
		c.cmd.Wait()
	})
	return nil
}

func (c *commandConn) CloseWrite() error { return c.stdin.Close() }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "ssh" }
func (dummyAddr) String() string  { return "ssh" }

func (c *commandConn) LocalAddr() net.Addr                { return dummyAddr{} }
func (c *commandConn) RemoteAddr() net.Addr               { return dummyAddr{} }
func (c *commandConn) SetDeadline(t time.Time) error      { return nil }
func (c *commandConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *commandConn) SetWriteDeadline(t time.Time) error { return nil }
