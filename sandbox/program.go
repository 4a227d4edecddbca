package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/agentreplay/replay/sandbox/executor"
	json "github.com/goccy/go-json"
)

// ProgramSandbox is a sandbox that can run a long-running program (an
// agent's own) with a channel back to the host: ListenInside gives the
// host the connections the program makes to a port on the sandbox's
// loopback, StartProgram runs it. The Docker backend implements it.
type ProgramSandbox interface {
	Sandbox
	ListenInside(ctx context.Context, port int) (net.Listener, error)
	StartProgram(ctx context.Context, p Program) (*Process, error)
}

var _ ProgramSandbox = (*Container)(nil)

// Program is a long-running program to run in the sandbox.
type Program struct {
	// Command is a command line, run by the image's shell (sh -c) when it
	// has one, else split into words; Argv, when set, is run as is.
	Command string
	Argv    []string
	// Dir is where it runs: a workspace directory (absolute, or relative
	// to the work directory); "" is the sandbox's Cwd.
	Dir string
	// Env is added to the sandbox's environment (nothing of the host's).
	Env []string
	// Timeout ends it (killed, Fault timeout); 0 means the sandbox's run
	// time limit.
	Timeout time.Duration
	// Stdout and Stderr receive its output as it comes, at most
	// OutputLimit bytes of both together (default
	// executor.DefaultSpawnOutput); the rest is dropped inside the
	// sandbox and counted (ProgramResult.Dropped). Nil discards.
	Stdout, Stderr io.Writer
	OutputLimit    int64
}

// ProgramResult is how a program ended.
type ProgramResult struct {
	ExitCode int
	// Fault names the limit that ended it: FaultTimeout, FaultOOM,
	// FaultPids, FaultDisk; "" when it exited by itself.
	Fault string
	// Note says what ended it, in words, when something did.
	Note     string
	Duration time.Duration
	// Dropped is how many bytes of output were dropped past the limit.
	Dropped   int64
	Cancelled bool
}

// Process is a running program.
type Process struct {
	c    *Container
	id   uint64
	done chan struct{}
	res  ProgramResult
	err  error

	out *outputQueue
}

// StartProgram starts p in the sandbox. Its output streams to p.Stdout and
// p.Stderr; Wait says how it ended. While it runs, the executor does not
// end processes between tool calls (they could be the program's); when it
// ends, everything it started ends too. ctx bounds the program: when it is
// done the program is killed.
func (c *Container) StartProgram(ctx context.Context, p Program) (*Process, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if len(p.Argv) == 0 && strings.TrimSpace(p.Command) == "" {
		return nil, errors.New("start program: no command")
	}
	for _, kv := range p.Env {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("start program: env %q is not KEY=VALUE", kv)
		}
	}
	limit := p.Timeout
	if limit <= 0 || limit > c.opts.RunTimeout {
		limit = c.opts.RunTimeout
	}
	args, _ := json.Marshal(executor.SpawnArgs{Argv: p.Argv, Command: p.Command, Dir: p.Dir, Env: p.Env, OutputLimit: p.OutputLimit})
	id, w, err := c.conn.start(executor.Request{Op: executor.OpSpawn, Args: args, TimeoutMS: limit.Milliseconds()})
	if err != nil {
		return nil, c.diagnose(ctx)
	}
	outLimit := p.OutputLimit
	if outLimit <= 0 {
		outLimit = executor.DefaultSpawnOutput
	}
	pr := &Process{c: c, id: id, done: make(chan struct{}), out: newOutputQueue(p.Stdout, p.Stderr, outLimit)}
	go pr.run(ctx, w, limit)
	return pr, nil
}

// run takes the program's frames off the channel at once (its output goes
// to a queue drained apart, so a slow writer never holds the channel).
func (pr *Process) run(ctx context.Context, w *waiter, limit time.Duration) {
	defer close(pr.done)
	defer pr.out.close()
	// The executor kills it at its limit; the host waits a little longer
	// before it declares the executor hung.
	wctx, cancel := context.WithTimeout(ctx, limit+15*time.Second)
	defer cancel()
	for {
		resp, err := pr.c.conn.recv(wctx, pr.id, w)
		switch {
		case errors.Is(err, errConnDone):
			pr.err = pr.c.diagnose(ctx)
			return
		case err != nil:
			pr.c.conn.send(executor.Request{Op: executor.OpCancel, Target: pr.id})
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				pr.c.setFault(&FaultError{Kind: FaultKindUnresponsive, Container: pr.c.id, Call: "program", Detail: "no end of the program 15s after its time limit"})
				kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				pr.c.cli.ContainerKill(kctx, pr.c.id, "KILL")
				kcancel()
				pr.err = pr.c.usable()
				return
			}
			pr.err = fmt.Errorf("program: %w", err)
			return
		}
		if resp.More {
			pr.out.add(resp.Stream, resp.Data)
			continue
		}
		if resp.Err != "" {
			if strings.Contains(resp.Err, "unknown op") {
				pr.err = fmt.Errorf("start program: the executor is older than this replay (%s): rebuild it (make executor) or pass a matching --executor", resp.Err)
			} else {
				pr.err = fmt.Errorf("start program: %s", resp.Err)
			}
			return
		}
		if resp.Result == nil {
			pr.err = errors.New("program: the executor's answer has no result")
			return
		}
		r := resp.Result
		pr.res = ProgramResult{Fault: r.Fault, Note: r.Output, Duration: time.Duration(r.DurationMS) * time.Millisecond, Dropped: resp.Dropped, Cancelled: r.Output == "cancelled"}
		if r.ExitCode != nil {
			pr.res.ExitCode = *r.ExitCode
		} else if r.IsError {
			// It never started: the note says why.
			pr.res.ExitCode = 127
		}
		return
	}
}

// Wait waits for the program to end and for its output to be written. An
// error means the sandbox failed (a FaultError) or the program could not
// start; a program that fails is a ProgramResult with its exit code.
func (pr *Process) Wait() (ProgramResult, error) {
	<-pr.done
	pr.out.wait()
	return pr.res, pr.err
}

// Done is closed when the program has ended.
func (pr *Process) Done() <-chan struct{} { return pr.done }

// Kill ends the program (Wait then reports it cancelled).
func (pr *Process) Kill() {
	select {
	case <-pr.done:
	default:
		pr.c.conn.send(executor.Request{Op: executor.OpCancel, Target: pr.id})
	}
}

// outputQueue holds a program's output until its writers take it. It is
// bounded by the output limit, which the executor keeps to (the host
// drops anything beyond it too).
type outputQueue struct {
	stdout, stderr io.Writer
	mu             sync.Mutex
	cond           *sync.Cond
	chunks         []outChunk
	left           int64
	closed         bool
	finished       chan struct{}
}

type outChunk struct {
	stream string
	data   []byte
}

func newOutputQueue(stdout, stderr io.Writer, limit int64) *outputQueue {
	q := &outputQueue{stdout: stdout, stderr: stderr, left: limit, finished: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	go q.loop()
	return q
}

func (q *outputQueue) add(stream string, data []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if int64(len(data)) > q.left {
		data = data[:q.left]
	}
	q.left -= int64(len(data))
	if len(data) > 0 {
		q.chunks = append(q.chunks, outChunk{stream, data})
		q.cond.Signal()
	}
}

func (q *outputQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Signal()
	q.mu.Unlock()
}

func (q *outputQueue) wait() { <-q.finished }

func (q *outputQueue) loop() {
	defer close(q.finished)
	for {
		q.mu.Lock()
		for len(q.chunks) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.chunks) == 0 {
			q.mu.Unlock()
			return
		}
		ch := q.chunks[0]
		q.chunks = q.chunks[1:]
		q.mu.Unlock()
		w := q.stdout
		if ch.stream == "stderr" {
			w = q.stderr
		}
		if w != nil {
			w.Write(ch.data)
		}
	}
}
