package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
)

// Version of the executor program, reported in Ready.
const Version = "1"

// Defaults applied to a zero Config.
const (
	DefaultTimeoutMS   = 120_000
	DefaultMaxTimeout  = 600_000
	DefaultOutputLimit = 30_000
	tarChunk           = 1 << 20
)

// Server answers requests for one workspace. It is what runs inside the
// container; tests run it in-process.
type Server struct {
	cfg  Config
	root string // Cfg.Root with symlinks resolved

	wmu sync.Mutex
	w   io.Writer

	mu      sync.Mutex
	cwd     string               // shell working directory, kept across calls
	reads   map[string]time.Time // files read (real path) and their mtime then
	edits   map[string][]string  // the file editor's undo history: earlier contents by real path
	snap    map[string]entry
	running map[uint64]context.CancelFunc
	tools   map[string]Tool
	pid1    *initRole // the container's init duties; nil in-process
	tun     *tunnels  // tunnelled connections (OpListen)
	calls   int       // tool calls in flight
	shell   string
	tmpDir  string
	seq     uint64
}

// Serve reads requests from in and writes responses to out until in ends,
// a shutdown request arrives, ctx is done or the run deadline passes. The
// first request must be OpInit. log receives diagnostics. env is the
// environment commands get when the host's Config sets none: in the
// container, the executor's own (the image's and the container's, never
// the host's).
func Serve(ctx context.Context, in io.Reader, out io.Writer, log io.Writer, env []string) error {
	return serve(ctx, in, out, log, env, nil)
}

// serve is Serve with the executor's init role (nil when it is not the
// container's first process).
func serve(ctx context.Context, in io.Reader, out io.Writer, log io.Writer, env []string, role *initRole) error {
	fr := NewFrameReader(in)
	s := &Server{w: out, reads: map[string]time.Time{}, running: map[uint64]context.CancelFunc{}, tools: toolIndex(), pid1: role}
	s.tun = newTunnels(s, log)
	defer s.tun.closeAll()

	var req Request
	if err := fr.Next(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("read init: %w", err)
	}
	if req.Op != OpInit {
		return fmt.Errorf("read init: first request is %q, want %q", req.Op, OpInit)
	}
	// A setting this executor does not know means replay is newer than
	// the executor it copied in: refuse rather than ignore it.
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(req.Args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		msg := "decode config: " + err.Error()
		if strings.Contains(err.Error(), "unknown field") {
			msg += fmt.Sprintf(" (this executor is %s, older than the replay that started it: rebuild replay with `make build`, or pass a matching --executor)", Version)
		}
		s.send(Response{ID: req.ID, Err: msg, ErrKind: ErrKindInvalid})
		return errors.New(msg)
	}
	if cfg.Env == nil {
		cfg.Env = env
	}
	ready, err := s.init(cfg)
	if err != nil {
		s.send(Response{ID: req.ID, Err: err.Error(), ErrKind: ErrKindInvalid})
		return err
	}
	if err := s.send(Response{ID: req.ID, Ready: ready}); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.cfg.RunDeadlineMS > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, time.Duration(s.cfg.RunDeadlineMS)*time.Millisecond)
		defer c2()
	}

	reqs := make(chan Request)
	readErr := make(chan error, 1)
	go func() {
		for {
			var r Request
			if err := fr.Next(&r); err != nil {
				readErr <- err
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()

	var wg sync.WaitGroup
	defer func() {
		cancel()
		s.cancelAll()
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				fmt.Fprintln(log, "executor: run deadline reached")
			}
			return nil
		case err := <-readErr:
			if errors.Is(err, io.EOF) {
				return nil // the host went away: stop
			}
			return fmt.Errorf("read request: %w", err)
		case r := <-reqs:
			switch r.Op {
			case OpShutdown:
				s.send(Response{ID: r.ID})
				return nil
			case OpData, OpWindow, OpEOF, OpClose:
				// Stream frames carry no id and get no answer; they
				// never block the loop.
				s.tun.handle(r)
				continue
			case OpCancel:
				s.mu.Lock()
				if c := s.running[r.Target]; c != nil {
					c()
				}
				s.mu.Unlock()
				continue
			}
			var rctx context.Context
			var rcancel context.CancelFunc
			if r.TimeoutMS > 0 && r.Op == OpTool {
				// Tools other than the shell (a Grep over a huge tree) end
				// at the call's limit too; the shell also kills its process
				// group at it. A little slack lets the shell report first.
				rctx, rcancel = context.WithTimeout(ctx, time.Duration(r.TimeoutMS)*time.Millisecond+time.Second)
			} else {
				rctx, rcancel = context.WithCancel(ctx)
			}
			s.mu.Lock()
			s.running[r.ID] = rcancel
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.running, r.ID)
					s.mu.Unlock()
					rcancel()
				}()
				defer func() {
					if p := recover(); p != nil {
						fmt.Fprintf(log, "executor: panic in %s: %v\n", r.Op, p)
						s.send(Response{ID: r.ID, Err: fmt.Sprintf("executor panic: %v", p), ErrKind: ErrKindIO})
					}
				}()
				s.handle(rctx, r)
			}()
		}
	}
}

func (s *Server) cancelAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.running {
		c()
	}
}

// NewServer returns a Server initialised with cfg, for in-process use
// (tests, a local backend); it writes nothing until used through Serve.
func NewServer(cfg Config) (*Server, error) {
	s := &Server{reads: map[string]time.Time{}, running: map[uint64]context.CancelFunc{}, w: io.Discard, tools: toolIndex()}
	s.tun = newTunnels(s, io.Discard)
	if _, err := s.init(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) init(cfg Config) (*Ready, error) {
	if cfg.Root == "" || !filepath.IsAbs(cfg.Root) {
		return nil, fmt.Errorf("init: workspace root %q is not an absolute path", cfg.Root)
	}
	if cfg.DefaultTimeoutMS <= 0 {
		cfg.DefaultTimeoutMS = DefaultTimeoutMS
	}
	if cfg.MaxTimeoutMS <= 0 {
		cfg.MaxTimeoutMS = DefaultMaxTimeout
	}
	if cfg.OutputLimit <= 0 {
		cfg.OutputLimit = DefaultOutputLimit
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, fmt.Errorf("init: create workspace %q: %w", cfg.Root, err)
	}
	root, err := filepath.EvalSymlinks(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("init: resolve workspace %q: %w", cfg.Root, err)
	}
	s.cfg = cfg
	s.root = root
	s.cwd = filepath.Clean(cfg.Root)
	if cfg.Cwd != "" {
		cwd := filepath.Clean(cfg.Cwd)
		if !filepath.IsAbs(cwd) || !within(filepath.Clean(cfg.Root), cwd) {
			return nil, fmt.Errorf("init: working directory %q is not inside the workspace %q", cfg.Cwd, cfg.Root)
		}
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return nil, fmt.Errorf("init: create working directory %q: %w", cwd, err)
		}
		s.cwd = cwd
	}
	s.shell = cfg.Shell
	if s.shell == "" {
		s.shell = "/bin/sh"
		if fi, err := os.Stat("/bin/bash"); err == nil && !fi.IsDir() {
			s.shell = "/bin/bash"
		}
	}
	s.tmpDir = os.TempDir()
	if err := s.pid1.limitFileSize(cfg.DiskLimit); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	snap, err := snapshot(root)
	if err != nil {
		return nil, fmt.Errorf("init: snapshot workspace: %w", err)
	}
	s.snap = snap
	return &Ready{Protocol: ProtocolVersion, Version: Version, Root: cfg.Root, Files: len(snap), UID: os.Getuid(), Shell: s.shell}, nil
}

func (s *Server) send(r Response) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return WriteFrame(s.w, r)
}

func (s *Server) handle(ctx context.Context, r Request) {
	switch r.Op {
	case OpTool:
		res := s.Call(ctx, r.Tool, r.Args, r.TimeoutMS)
		s.send(Response{ID: r.ID, Result: &res})
	case OpRead:
		data, err := s.ReadFile(r.Path)
		if err != nil {
			s.send(errResponse(r.ID, err))
			return
		}
		s.send(Response{ID: r.ID, Data: data})
	case OpWrite:
		if err := s.WriteFile(r.Path, r.Data, os.FileMode(r.Mode)); err != nil {
			s.send(errResponse(r.ID, err))
			return
		}
		s.send(Response{ID: r.ID})
	case OpChanges:
		ch, err := s.Changes()
		if err != nil {
			s.send(errResponse(r.ID, err))
			return
		}
		s.send(Response{ID: r.ID, Changes: ch})
	case OpListen:
		s.tun.listen(ctx, r)
	case OpSpawn:
		s.spawn(ctx, r)
	case OpTar:
		cw := &chunkWriter{send: func(b []byte) error {
			return s.send(Response{ID: r.ID, Data: b, More: true})
		}}
		if err := s.Tar(ctx, r.Paths, cw); err != nil {
			s.send(errResponse(r.ID, err))
			return
		}
		if err := cw.flush(); err != nil {
			return
		}
		s.send(Response{ID: r.ID})
	default:
		s.send(Response{ID: r.ID, Err: fmt.Sprintf("unknown op %q", r.Op), ErrKind: ErrKindInvalid})
	}
}

// OpError is an error of a file operation with its kind.
type OpError struct {
	Kind string
	Err  error
}

func (e *OpError) Error() string { return e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

func errResponse(id uint64, err error) Response {
	kind := ErrKindIO
	var oe *OpError
	if errors.As(err, &oe) {
		kind = oe.Kind
	} else if errors.Is(err, os.ErrNotExist) {
		kind = ErrKindNotFound
	}
	return Response{ID: id, Err: err.Error(), ErrKind: kind}
}

type chunkWriter struct {
	buf  []byte
	send func([]byte) error
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(tarChunk-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == tarChunk {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(c.buf)
	c.buf = make([]byte, 0, tarChunk)
	return err
}
