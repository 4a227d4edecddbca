package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/agentreplay/replay/sandbox"
)

// AgentPort is the port on the sandbox's loopback where the agent's
// program finds the model proxy (0 in AgentOptions picks it).
const AgentPort = 4141

// DummyKey is what the agent's program gets as its API keys: SDKs refuse
// to start without one, and the real key never enters the sandbox (the
// proxy adds it on the host side, and drops whatever the agent sends).
const DummyKey = "replay-sandbox-no-key"

// AgentOptions say how to run an agent's own program in a sandbox.
type AgentOptions struct {
	// Command is the agent's command line (sh -c when the image has a
	// shell, else split into words).
	Command string
	// Dir is where it runs ("": the sandbox's Cwd, the recorded working
	// directory).
	Dir string
	// Env is added to what RunAgent sets.
	Env []string
	// Port is the port the proxy is reached at inside (0: AgentPort).
	Port int
	// Timeout ends the program (0: the sandbox's run limit).
	Timeout time.Duration
	// Stdout and Stderr receive the program's output as it comes (at most
	// OutputLimit bytes; 0: sandbox's default).
	Stdout, Stderr io.Writer
	OutputLimit    int64
}

// AgentEnv is the environment an agent's program gets: the proxy's base
// URLs for the OpenAI and Anthropic SDKs, and dummy keys.
func AgentEnv(port int) []string {
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	return []string{
		"OPENAI_BASE_URL=" + base + "/v1",
		"OPENAI_API_BASE=" + base + "/v1",
		"ANTHROPIC_BASE_URL=" + base,
		"OPENAI_API_KEY=" + DummyKey,
		"ANTHROPIC_API_KEY=" + DummyKey,
	}
}

// AgentRun is how the agent's program ended.
type AgentRun struct {
	sandbox.ProgramResult
	Port int
}

// Failed says, in words, why the program's run is not a clean one ("" when
// it exited 0 by itself).
func (r AgentRun) Failed() string {
	switch {
	case r.Fault == sandbox.FaultTimeout:
		return "the agent hung: " + r.Note
	case r.Fault != "":
		return fmt.Sprintf("the agent was ended by the sandbox's %s limit: %s", r.Fault, r.Note)
	case r.Cancelled:
		return "the agent was cancelled"
	case r.ExitCode != 0:
		msg := fmt.Sprintf("the agent exited with code %d", r.ExitCode)
		if r.Note != "" {
			msg += ": " + r.Note
		}
		return msg
	}
	return ""
}

// RunAgent runs an agent's own program in sb with h (the model proxy)
// serving its model calls: h is served on a listener on the sandbox's
// loopback, carried over the executor's channel (the sandbox has no
// network), and the program's environment points the OpenAI and Anthropic
// SDKs at it. It returns when the program has ended and its connections
// are closed. An error means the sandbox failed or the program could not
// start; a program that fails is an AgentRun saying so.
func RunAgent(ctx context.Context, sb sandbox.ProgramSandbox, h http.Handler, o AgentOptions) (AgentRun, error) {
	port := o.Port
	if port == 0 {
		port = AgentPort
	}
	ln, err := sb.ListenInside(ctx, port)
	if err != nil && o.Port == 0 && !errors.Is(err, sandbox.ErrFault) && ctx.Err() == nil {
		// The image has something of its own on the default port: any
		// free one will do, the program is told which.
		ln, err = sb.ListenInside(ctx, 0)
	}
	if err != nil {
		return AgentRun{}, fmt.Errorf("run the agent: %w", err)
	}
	if a, ok := ln.Addr().(sandbox.TunnelAddr); ok {
		port = a.Port
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute, BaseContext: func(net.Listener) context.Context { return ctx }}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		// The program is gone: its connections go too.
		srv.Close()
		<-served
	}()
	env := append(AgentEnv(port), o.Env...)
	p, err := sb.StartProgram(ctx, sandbox.Program{Command: o.Command, Dir: o.Dir, Env: env, Timeout: o.Timeout, Stdout: o.Stdout, Stderr: o.Stderr, OutputLimit: o.OutputLimit})
	if err != nil {
		return AgentRun{Port: port}, fmt.Errorf("run the agent: %w", err)
	}
	res, err := p.Wait()
	if err != nil {
		return AgentRun{ProgramResult: res, Port: port}, fmt.Errorf("run the agent %q: %w", o.Command, err)
	}
	if res.Cancelled && ctx.Err() != nil {
		return AgentRun{ProgramResult: res, Port: port}, ctx.Err()
	}
	return AgentRun{ProgramResult: res, Port: port}, nil
}

// errNotProgramSandbox: the backend cannot run a program.
var errNotProgramSandbox = errors.New("this sandbox backend cannot run an agent's program (it has no program channel)")
