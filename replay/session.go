package replay

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
	"github.com/agentreplay/replay/sandbox"
)

// Session replays stored traces: it rebuilds the world a trace points to,
// starts a sandbox with it, runs the engine and stores the new run, linked
// to the original.
type Session struct {
	Store  *store.Store
	World  *world.World
	Docker *client.Client // nil: no sandbox; workspace tools are denied
	Pricer trace.Pricer
	// Log receives status lines (stderr).
	Log io.Writer
}

// Request is one replay of a trace.
type Request struct {
	// Trace is a path (imported into the store first) or a stored id or
	// unique id prefix.
	Trace   string
	Format  string
	Lenient bool
	// Fetch overrides or fills what the trace lacks (--repo, --commit,
	// --github-fixture).
	Fetch world.FetchOptions
	// Image is the sandbox image (default sandbox.DefaultImage);
	// ExecutorPath an explicit executor binary.
	Image        string
	ExecutorPath string
	// Timeout bounds the whole run (0: none).
	Timeout time.Duration
	// Engine is the engine's configuration; Workspace, GitHub, Emit, Meta
	// and Tools are set by the session.
	Engine Config
	// Variant names what was changed, for the stored run (flag -> value).
	Variant map[string]string
}

// Result is a finished (or stopped) replay.
type Result struct {
	Original   trace.Summary
	Orig       *trace.Run    // the original run
	ID         string        // the new run in the store
	New        trace.Summary // its summary
	Report     *Report
	Resolution *world.Resolution // nil when the trace points to no repository
	Workspace  string            // the sandbox's working directory
}

// Load resolves a trace given as a path or id to its stored id, summary
// and run.
func (s *Session) Load(ctx context.Context, target, format string, lenient bool) (string, trace.Summary, *trace.Run, error) {
	id := ""
	if _, err := os.Stat(target); err == nil {
		r, err := s.Store.Import(ctx, target, format, trace.Options{Lenient: lenient})
		if err != nil {
			return "", trace.Summary{}, nil, err
		}
		id = r.ID
	} else if errors.Is(err, fs.ErrNotExist) && store.LooksLikeID(target) {
		e, err := s.Store.Lookup(ctx, target)
		if errors.Is(err, store.ErrNotFound) {
			return "", trace.Summary{}, nil, fmt.Errorf("replay %q: no such file, and no stored trace has this id or id prefix (see replay ls)", target)
		}
		if err != nil {
			return "", trace.Summary{}, nil, err
		}
		id = e.ID
	} else if errors.Is(err, fs.ErrNotExist) {
		return "", trace.Summary{}, nil, fmt.Errorf("replay %q: no such file or directory, and not a trace id", target)
	} else {
		return "", trace.Summary{}, nil, fmt.Errorf("replay %q: %w", target, err)
	}
	sum, err := s.Store.Summary(ctx, id)
	if err != nil {
		return "", trace.Summary{}, nil, err
	}
	rc, err := s.Store.OpenRun(ctx, id)
	if err != nil {
		return "", trace.Summary{}, nil, err
	}
	defer rc.Close()
	run, err := trace.DecodeRun(ctx, rc, s.Store.Path(id))
	if err != nil {
		return "", trace.Summary{}, nil, err
	}
	return id, sum, run, nil
}

// Replay runs one replay. The new run is stored even when the replay stops
// part way (a model error, a sandbox fault, an interrupt): the Result is
// then returned with the error.
func (s *Session) Replay(ctx context.Context, req Request) (*Result, error) {
	id, sum, orig, err := s.Load(ctx, req.Trace, req.Format, req.Lenient)
	if err != nil {
		return nil, err
	}
	if !sum.Replay.OK {
		return nil, fmt.Errorf("replay %s: the trace cannot be replayed: %s", short(id), strings.Join(sum.Replay.Reasons, "; "))
	}
	res := &Result{Original: sum, Orig: orig}

	// The world: the repository at the commit, the GitHub snapshot.
	var snap *world.Snapshot
	needRepo := sum.Refs["repo"].Value != "" || sum.Refs["work_item"].Value != "" || req.Fetch.Repo != "" || len(req.Fetch.RepoMap) > 0
	if needRepo && s.World != nil {
		res.Resolution, err = s.World.Fetch(ctx, world.TargetOf(sum), req.Fetch)
		if err != nil {
			return nil, fmt.Errorf("rebuild the world of %s: %w", short(id), err)
		}
		if snap, err = s.World.Snapshot(res.Resolution); err != nil {
			return nil, err
		}
	}

	// Where the workspace goes: the agent's recorded working directory,
	// under a root that also holds what it wrote beside it.
	cwd := sum.Refs["cwd"].Value
	if cwd == "" || !path.IsAbs(cwd) {
		cwd = sandbox.DefaultWorkDir
	}
	root := workspaceRoot(cwd, orig)
	res.Workspace = cwd

	cfg := req.Engine
	if snap != nil {
		cfg.GitHub = snap
	}
	if cfg.Pricer == nil {
		cfg.Pricer = s.Pricer
	}
	if len(cfg.Tools) == 0 {
		cfg.Tools = toolsFor(orig)
	}
	cfg.Meta.Replay = &trace.Origin{Of: id, Mode: cfg.Mode, Variant: req.Variant, Sample: cfg.Sample}

	rctx := ctx
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}

	if s.Docker != nil {
		ws, err := s.workspaceTar(ctx, res.Resolution, snap, root, cwd)
		if err != nil {
			return nil, err
		}
		defer ws.Close()
		sb, err := sandbox.New(rctx, s.Docker, sandbox.Options{
			Image:        req.Image,
			WorkDir:      root,
			Cwd:          cwd,
			Workspace:    ws,
			ExecutorPath: req.ExecutorPath,
			ToolVersion:  toolVersion(orig),
			Labels:       map[string]string{"io.replay.original": id},
		})
		if err != nil {
			return nil, fmt.Errorf("start the sandbox: %w", err)
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			sb.Close(cctx)
		}()
		cfg.Workspace = sb
	} else if cfg.Mode == ModeVerify {
		return nil, errors.New("replay verify re-executes tool calls in a Docker sandbox: Docker is not available")
	}

	// The new run streams to a temporary native file, stored at the end
	// whatever happened.
	tmpDir := filepath.Join(s.Store.Root(), "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(tmpDir, "run-*.jsonl")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	w := trace.NewWriter(tmp)
	cfg.Emit = w
	rep, runErr := Run(rctx, orig, cfg)
	res.Report = rep
	if rep == nil {
		tmp.Close()
		return res, runErr
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return res, errors.Join(runErr, err)
	}
	if err := tmp.Close(); err != nil {
		return res, errors.Join(runErr, err)
	}
	stored, err := s.Store.ImportAs(context.WithoutCancel(ctx), tmp.Name(), "replay of "+id, trace.NativeName, trace.Options{})
	if err != nil {
		return res, errors.Join(runErr, fmt.Errorf("store the new run: %w", err))
	}
	res.ID, res.New = stored.ID, stored.Summary
	return res, runErr
}

var gitRef = regexp.MustCompile(`^([^@\s]+)@([^:\s]+):(.+)$`)

// ReadPrompt reads a prompt from a file, or from git when it is named
// owner/repo@ref:path (any repository source the world knows: owner/name,
// a URL, a local repository or bundle).
func (s *Session) ReadPrompt(ctx context.Context, spec string) (string, error) {
	if _, err := os.Stat(spec); err == nil {
		b, err := os.ReadFile(spec)
		return string(b), err
	}
	if m := gitRef.FindStringSubmatch(spec); m != nil && s.World != nil {
		b, err := s.World.FileAt(ctx, m[1], m[2], m[3])
		if err != nil {
			return "", fmt.Errorf("read prompt %q: %w", spec, err)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("read prompt %q: no such file (a prompt in git is named owner/repo@ref:path)", spec)
}

// workspaceTar merges the repository tree (placed at cwd) and the GitHub
// snapshot (under the root's .replay/github, outside the repository) into
// the one tar the sandbox takes.
func (s *Session) workspaceTar(ctx context.Context, res *world.Resolution, snap *world.Snapshot, root, cwd string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	prefix := strings.TrimPrefix(strings.TrimPrefix(cwd, root), "/")
	go func() {
		tw := tar.NewWriter(pw)
		err := func() error {
			if prefix != "" {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: prefix + "/", Mode: 0o755}); err != nil {
					return err
				}
			}
			if res != nil {
				stream := s.World.WorkspaceReader(ctx, res, world.TarOptions{Prefix: prefix})
				defer stream.Close()
				if err := copyTar(tw, stream); err != nil {
					return err
				}
				if _, err := stream.Report(); err != nil {
					return err
				}
			}
			if snap != nil {
				spr, spw := io.Pipe()
				go func() { spw.CloseWithError(snap.WriteTar(spw, world.SnapshotDir)) }()
				if err := copyTar(tw, spr); err != nil {
					spr.Close()
					return err
				}
			}
			return tw.Close()
		}()
		pw.CloseWithError(err)
	}()
	return pr, nil
}

func copyTar(tw *tar.Writer, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// workspaceRoot is the sandbox's workspace root: the recorded working
// directory, or its nearest ancestor that also holds the files the run's
// tools wrote or read outside it (a result written to
// /sandbox/workspace/output by an agent working in
// /sandbox/workspace/widgets makes /sandbox/workspace the root). System
// directories and "/" never become the root.
func workspaceRoot(cwd string, r *trace.Run) string {
	root := cwd
	r.Walk(func(run *trace.Run) {
		for _, s := range run.Steps {
			if s.Tool == nil {
				continue
			}
			var a struct {
				FilePath string `json:"file_path"`
				Path     string `json:"path"`
			}
			if json.Unmarshal(s.Tool.Arguments, &a) != nil {
				continue
			}
			for _, p := range []string{a.FilePath, a.Path} {
				if !path.IsAbs(p) {
					continue
				}
				c := commonDir(root, path.Clean(p))
				if c == "/" || slices.Contains([]string{"/tmp", "/proc", "/dev", "/etc", "/usr", "/var", "/sys", "/root", "/home"}, c) {
					continue
				}
				root = c
			}
		}
	})
	return root
}

func commonDir(a, b string) string {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	n := 0
	for n < len(as) && n < len(bs) && as[n] == bs[n] {
		n++
	}
	c := strings.Join(as[:n], "/")
	if c == "" {
		return "/"
	}
	return c
}

// toolVersion is the Claude Code version of a transcript ("" otherwise):
// result texts follow it.
func toolVersion(r *trace.Run) string {
	if v, ok := strings.CutPrefix(r.Meta.Generator, "claude-code "); ok {
		return v
	}
	return ""
}

// taskTool is Claude Code's sub-agent tool, offered when the run used it.
var taskTool = trace.ToolDef{
	Name:        "Task",
	Description: "Start a sub-agent for a task; its final answer is the result.",
	Schema:      json.RawMessage(`{"type":"object","properties":{"description":{"type":"string","description":"A short description of the task"},"prompt":{"type":"string","description":"The task for the sub-agent"},"subagent_type":{"type":"string","description":"Which sub-agent to start"}},"required":["description","prompt"]}`),
}

// toolsFor picks the tool definitions to offer a live model when the trace
// recorded none: Claude Code's own (and Task when the run used it) for
// Claude Code runs, else the generic set.
func toolsFor(r *trace.Run) []trace.ToolDef {
	if len(r.Meta.Instr.Tools) > 0 && hasSchemas(r.Meta.Instr.Tools) {
		return nil
	}
	used := map[string]bool{}
	r.Walk(func(run *trace.Run) {
		for _, s := range run.Steps {
			if s.Tool != nil {
				used[s.Tool.Name] = true
			}
		}
	})
	if strings.HasPrefix(r.Meta.Generator, "claude-code") || used["Bash"] || used["Read"] {
		defs := sandbox.ClaudeCodeTools()
		if used["Task"] || len(r.Children) > 0 {
			defs = append(defs, taskTool)
		}
		return defs
	}
	return sandbox.GenericTools()
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
