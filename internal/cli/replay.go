package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/sandbox"
)

// replayFlags are what verify and run share: where the trace and its world
// come from, the sandbox, the limits.
type replayFlags struct {
	worldFlags
	Image    string
	Executor string
	Disk     string
	Timeout  time.Duration
	Policies []string
	Decision string
	JSON     bool
	Out      string
	Overlay  bool
}

func (f *replayFlags) bind(cmd *cobra.Command) {
	f.worldFlags.bind(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&f.Image, "image", "", "run tools in image `IMG` (default "+sandbox.DefaultImage+", built on first use); auto: the repository's .devcontainer image when the daemon has it, else its Dockerfile built (cached by content), else the default")
	fl.StringVar(&f.Executor, "executor", "", "use the static replay-executor binary at `PATH` (default: the one built into replay)")
	fl.StringVar(&f.Disk, "disk", "4GiB", "cap the sandbox's workspace at `SIZE` (e.g. 500MiB, 8GiB); a command that writes past it is stopped with an error the agent sees")
	fl.DurationVar(&f.Timeout, "timeout", 30*time.Minute, "end the run after `DURATION` (the partial run is kept)")
	fl.StringArrayVar(&f.Policies, "tool-policy", nil, "answer tool `NAME=POLICY`: exec (run in the sandbox), recorded (the recorded result of the identical call, else an error), deny, agent (a nested sub-agent; Task's default) (repeatable)")
	fl.StringVar(&f.Decision, "decision", "auto", "where the new run's decision is: auto, final (JSON in the final message), file:GLOB (a file the agent wrote), tool:NAME (a tool call's arguments)")
	fl.BoolVar(&f.JSON, "json", false, "print the result as JSON")
	fl.BoolVar(&f.Overlay, "overlay-recorded", false, "write the recorded contents of files the commit does not reproduce (uncommitted in the original tree) into the workspace, so the replay sees the tree the agent had")
	fl.StringVar(&f.Out, "out", "", "also write the new run, in replay's native format, to `DIR`/<id>.jsonl")
}

// writeOut copies a stored run to --out.
func (g *globals) writeOut(s *replay.Session, dir, id string) error {
	if dir == "" || id == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	b, err := os.ReadFile(s.Store.Path(id))
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	p := filepath.Join(dir, id+".jsonl")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(g.env.Stderr, "wrote %s\n", p)
	return nil
}

// session opens what a replay needs: the store, the world, the sandbox
// backend, and the model client a counterfactual calls.
func (g *globals) session(ctx context.Context, f *replayFlags, models func(string) (model.Model, error)) (*replay.Session, func(), error) {
	pricing, err := g.pricing()
	if err != nil {
		return nil, nil, err
	}
	st, err := g.openStore(ctx, pricing)
	if err != nil {
		return nil, nil, err
	}
	w, err := g.openWorld(f.Offline)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	docker, err := sandbox.NewDocker(ctx, sandbox.ClientOptionsFromEnv(g.env.Getenv))
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	docker.Log = g.env.Stderr
	if dir, err := g.cacheDir(); err == nil {
		docker.CacheDir = dir // an executor built from source is kept here
	}
	s := &replay.Session{Store: st, World: w, Sandboxes: docker, Pricer: pricing, Models: models, Log: g.env.Stderr, Verbose: g.verbose}
	return s, func() {
		docker.Close()
		st.Close()
	}, nil
}

// request is what verify and run ask for alike, from the flags alone (no
// I/O: the session reads files).
func (f *replayFlags) request(target, mode string) (replay.Request, error) {
	fetch, err := f.fetchOptions()
	if err != nil {
		return replay.Request{}, err
	}
	pol := map[string]replay.Policy{}
	for _, p := range f.Policies {
		name, val, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return replay.Request{}, usage(fmt.Errorf("--tool-policy %q: want NAME=POLICY, e.g. Task=recorded", p))
		}
		v, err := replay.ParsePolicy(val)
		if err != nil {
			return replay.Request{}, usage(fmt.Errorf("--tool-policy %q: %w", p, err))
		}
		pol[name] = v
	}
	dec, err := replay.ParseDecisionSpec(f.Decision)
	if err != nil {
		return replay.Request{}, usage(fmt.Errorf("--decision: %w", err))
	}
	disk, err := units.RAMInBytes(f.Disk)
	if err != nil || disk <= 0 {
		return replay.Request{}, usage(fmt.Errorf("--disk %q: want a size such as 500MiB or 8GiB", f.Disk))
	}
	return replay.Request{
		Trace: target, Format: f.Format, Lenient: f.Lenient, Mode: mode, Fetch: fetch,
		Image: f.Image, ExecutorPath: f.Executor, DiskBytes: disk, Timeout: f.Timeout,
		Policies: pol, Decision: dec, OverlayRecorded: f.Overlay,
	}, nil
}
