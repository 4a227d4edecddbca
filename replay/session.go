package replay

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"sort"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
	"github.com/agentreplay/replay/sandbox"
)

// Session replays stored traces: it rebuilds the world a trace points to,
// starts a sandbox with it, runs the engine and stores the new run, linked
// to the original.
type Session struct {
	Store *store.Store
	World *world.World
	// Sandboxes starts the sandbox of each replay (nil: no sandbox;
	// workspace tools are denied and verify is refused).
	Sandboxes sandbox.Backend
	Pricer    trace.Pricer
	// Models returns the model a counterfactual calls at an endpoint (""
	// is the default endpoint). Nil refuses counterfactuals.
	Models func(baseURL string) (model.Model, error)
	// Log receives status lines (stderr); Verbose adds detail (the
	// sandbox's run id).
	Log     io.Writer
	Verbose bool
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
	// Warnings are problems that did not fail the replay (a sandbox that
	// could not be removed).
	Warnings []string
}

// Load resolves a trace given as a path or id to its stored id, summary
// and run.
func (s *Session) Load(ctx context.Context, target, format string, lenient bool) (string, trace.Summary, *trace.Run, error) {
	e, err := s.Store.Resolve(ctx, target, store.ResolveOptions{Import: true, Format: format, Lenient: lenient})
	if err != nil {
		return "", trace.Summary{}, nil, err
	}
	sum, err := s.Store.Summary(ctx, e.ID)
	if err != nil {
		return "", trace.Summary{}, nil, err
	}
	run, err := s.Store.Run(ctx, e.ID)
	if err != nil {
		return "", trace.Summary{}, nil, err
	}
	return e.ID, sum, run, nil
}

// prepared is what every repetition of a request shares: the original, its
// world, the engine configuration.
type prepared struct {
	req        Request
	id         string
	sum        trace.Summary
	orig       *trace.Run
	resolution *world.Resolution
	overlay    []world.DirtyFile // recorded contents written over the tree (--overlay-recorded)
	snap       *world.Snapshot
	root, cwd  string
	image      string // the sandbox image: --image, else the run's recorded one when at hand ("" the default)
	cfg        Config
}

// Replay runs one replay (the request's Sample). The new run is stored even
// when the replay stops part way (a limit, a model error, a sandbox fault,
// an interrupt): the Result is then returned with a *StopError.
func (s *Session) Replay(ctx context.Context, req Request) (*Result, error) {
	req.Repeat = 1
	rs, err := s.ReplayAll(ctx, req, nil)
	if len(rs) == 0 {
		return nil, err
	}
	return rs[0], err
}

// ReplayAll runs the request req.Repeat times (at least once), each
// repetition its own sample of the model, from the same world. each, when
// not nil, is called with every result as it is stored. It stops at the
// first repetition that fails or stops early, returning the results so far
// (that one included) with the error.
func (s *Session) ReplayAll(ctx context.Context, req Request, each func(*Result) error) ([]*Result, error) {
	p, err := s.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	var results []*Result
	for i := 0; i < max(req.Repeat, 1); i++ {
		res, err := s.replayOnce(ctx, p, req.Sample+i)
		if res != nil && res.Report != nil {
			results = append(results, res)
			if each != nil {
				if eerr := each(res); eerr != nil && err == nil {
					err = eerr
				}
			}
		}
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// prepare loads the trace, rebuilds its world and reads what the variant
// names (prompt files, git refs, context files): once for all repetitions.
func (s *Session) prepare(ctx context.Context, req Request) (*prepared, error) {
	if req.Mode != ModeVerify && req.Mode != ModeRun {
		return nil, fmt.Errorf("replay: unknown mode %q", req.Mode)
	}
	id, sum, orig, err := s.Load(ctx, req.Trace, req.Format, req.Lenient)
	if err != nil {
		return nil, err
	}
	if !sum.Replay.OK {
		return nil, fmt.Errorf("replay %s: the trace cannot be replayed: %s", short(id), strings.Join(sum.Replay.Reasons, "; "))
	}
	p := &prepared{req: req, id: id, sum: sum, orig: orig}
	if err := s.rebuildWorld(ctx, p); err != nil {
		return nil, err
	}
	if p.cfg, err = s.config(ctx, p); err != nil {
		return nil, err
	}
	if s.Sandboxes == nil && req.Mode == ModeVerify {
		return nil, errors.New("replay verify re-executes tool calls in a Docker sandbox: Docker is not available")
	}
	if p.image, err = s.chooseImage(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// chooseImage is the sandbox image of a replay: --image when given, else
// the image the run recorded (a benchmark's per-instance image) when the
// backend holds it. A recorded image that is not at hand is never pulled
// nor silently replaced: one notice names it and how to get it, and the
// calls run in the default image.
func (s *Session) chooseImage(ctx context.Context, p *prepared) (string, error) {
	img := p.sum.Refs["image"].Value
	if p.req.Image != "" || img == "" || s.Sandboxes == nil {
		return p.req.Image, nil
	}
	ic, ok := s.Sandboxes.(sandbox.ImageChecker)
	if !ok {
		fmt.Fprintf(s.logw(), "sandbox: %s ran in image %s; this sandbox backend cannot tell whether it is at hand, so the calls run in the default image (--image %s runs them in it)\n", short(p.id), img, img)
		return "", nil
	}
	present, err := ic.HasImage(ctx, img)
	if err != nil {
		return "", fmt.Errorf("look up the recorded image of %s: %w", short(p.id), err)
	}
	if present {
		fmt.Fprintf(s.logw(), "sandbox: the calls run in the run's recorded image %s (found on the Docker daemon)\n", img)
		return img, nil
	}
	fmt.Fprintf(s.logw(), "sandbox: %s ran in image %s, which is not on the Docker daemon (replay pulls nothing): the calls run in the default image %s instead, and a program only that image has makes an environment row. To use it: `docker pull %s` (or docker save on a machine that has it, docker load here), or pass --image IMAGE\n", short(p.id), img, sandbox.DefaultImage, img)
	return "", nil
}

// rebuildWorld fetches the repository at the commit and the GitHub
// snapshot, and places the workspace: the agent's recorded working
// directory, under a root that also holds what it wrote beside it.
func (s *Session) rebuildWorld(ctx context.Context, p *prepared) error {
	sum, req := p.sum, p.req
	needRepo := sum.Refs["repo"].Value != "" || sum.Refs["work_item"].Value != "" || req.Fetch.Repo != "" || len(req.Fetch.RepoMap) > 0
	if !needRepo && req.Fetch.Commit != "" {
		return fmt.Errorf("--commit %s: trace %s names no repository to take it from; pass --repo (a URL, owner/name, a local repository or a git bundle)", req.Fetch.Commit, short(p.id))
	}
	p.cwd = sum.Refs["cwd"].Value
	if p.cwd == "" || !path.IsAbs(p.cwd) {
		p.cwd = sandbox.DefaultWorkDir
	}
	p.root = workspaceRoot(p.cwd, p.orig)
	if needRepo && s.World != nil {
		var err error
		t := world.TargetOf(sum)
		t.Reads = world.ReadsOf(p.orig, p.cwd) // the repository is placed at the recorded cwd
		p.resolution, err = s.World.Fetch(ctx, t, req.Fetch)
		if err != nil {
			return fmt.Errorf("rebuild the world of %s: %w", short(p.id), err)
		}
		if p.snap, err = s.World.Snapshot(p.resolution); err != nil {
			return err
		}
		if cs := p.resolution.Search; cs != nil && cs.Reads > 0 && (cs.Score < cs.Reads || (cs.Method != world.MethodRecorded && cs.Method != world.MethodFlag)) {
			fmt.Fprintf(s.logw(), "world: commit %s: %s\n", short(p.resolution.Commit), cs.Summary())
			if len(cs.Dirty) > 0 && !req.OverlayRecorded {
				fmt.Fprintf(s.logw(), "world: --overlay-recorded writes the recorded contents of the uncommitted files into the workspace\n")
			}
		}
		if req.OverlayRecorded && p.resolution.Search != nil {
			p.overlay = p.resolution.Search.Dirty
			for _, d := range p.overlay {
				fmt.Fprintf(s.logw(), "world: overlaid %s with its recorded content (step %d)\n", d.Path, d.Step)
			}
		}
	}
	return nil
}

// config is the engine's configuration for the request: the mode, the
// policies, the limits, and the variant with its files read.
func (s *Session) config(ctx context.Context, p *prepared) (Config, error) {
	req, v := p.req, p.req.Variant
	cfg := Config{
		Mode:       req.Mode,
		Policies:   req.policySet(),
		Decision:   req.Decision,
		MaxSteps:   req.MaxSteps,
		MaxCostUSD: req.MaxCostUSD,
		Pricer:     s.Pricer,
		Tools:      toolsFor(p.orig),
	}
	if p.snap != nil {
		cfg.GitHub = p.snap
	}
	if req.Mode == ModeVerify {
		return cfg, nil
	}
	// Never silent about what the model is sent in place of what the
	// trace lacks.
	in := p.sum.Instructions
	if !in.SystemPrompt && v.SystemFile == "" {
		fmt.Fprintf(s.logw(), "run: %s records no system prompt: the model gets none (--system-file FILE gives one)\n", short(p.id))
	}
	if len(cfg.Tools) > 0 {
		var names []string
		for _, d := range cfg.Tools {
			names = append(names, d.Name)
		}
		fmt.Fprintf(s.logw(), "run: %s records no tool definitions with schemas: the model is offered replay's own definitions of %s\n", short(p.id), strings.Join(names, ", "))
	}
	cfg.Params = v.Params
	if v.Model != "" {
		cfg.Params.Model = v.Model
	}
	cfg.SubagentModel = v.SubagentModel
	cfg.FromStep, cfg.DropSteps = v.FromStep, v.DropSteps
	vt, err := s.variantTexts(ctx, v)
	if err != nil {
		return cfg, err
	}
	cfg.System, cfg.Prompts = vt.system, vt.prompts
	for _, text := range vt.context {
		cfg.AddContext = append(cfg.AddContext, trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: text}}})
	}
	if s.Models == nil {
		return cfg, errors.New("replay: no model client to answer the counterfactual's calls")
	}
	m, err := s.Models(v.BaseURL)
	if err != nil {
		return cfg, err
	}
	cfg.Model = m
	return cfg, nil
}

// replayOnce runs one repetition: a fresh sandbox with the world, the
// engine, the new run stored.
func (s *Session) replayOnce(ctx context.Context, p *prepared, sample int) (*Result, error) {
	res := &Result{Original: p.sum, Orig: p.orig, Resolution: p.resolution, Workspace: p.cwd}
	cfg := p.cfg
	cfg.Sample = sample
	cfg.Meta.Replay = p.req.origin(p.id, sample)

	rctx := ctx
	if p.req.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, p.req.Timeout)
		defer cancel()
	}
	if s.Sandboxes != nil {
		sb, err := s.startSandbox(ctx, rctx, p)
		if err != nil {
			return nil, err
		}
		if r, ok := sb.(interface{ Remapped() (string, string, bool) }); ok {
			if from, to, moved := r.Remapped(); moved {
				w := fmt.Sprintf("the recorded working directory %s is one of the image's or the sandbox's own: the workspace is at %s instead (file tools take and show the recorded paths; shell commands run there)", from, to)
				res.Warnings = append(res.Warnings, w)
				fmt.Fprintln(s.logw(), "world: "+w)
			}
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := sb.Close(cctx); err != nil {
				w := fmt.Sprintf("%v (replay sandbox prune removes what is left)", err)
				res.Warnings = append(res.Warnings, w)
				fmt.Fprintln(s.logw(), "warning: "+w)
			}
		}()
		cfg.Workspace = sb
	}
	rep, runErr := s.runAndStore(ctx, rctx, cfg, p, res)
	if rep != nil && runErr == nil && rep.Stopped != "" {
		// A limit ended the run cleanly: complete up to the limit, but not
		// the whole run.
		o := rep.Run.Outcome
		runErr = &StopError{Reason: rep.Stopped, Step: o.StoppedAt}
	}
	return res, runErr
}

func (s *Session) logw() io.Writer {
	if s.Log == nil {
		return io.Discard
	}
	return s.Log
}

// startSandbox starts the replay's sandbox with the workspace in it. The
// sandbox lives as long as rctx (the run, with its timeout).
func (s *Session) startSandbox(ctx, rctx context.Context, p *prepared) (sandbox.Sandbox, error) {
	ws, err := s.workspaceTar(ctx, p.resolution, p.snap, p.root, p.cwd, p.overlay)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	runID := "replay-" + short(p.id) + "-" + randomHex(4)
	// The run id is recorded in the store before the sandbox exists, so a
	// replay killed outright leaves the id behind for `replay sandbox
	// prune` to name (the record goes when the sandbox does).
	rec, err := s.Store.NoteSandbox(store.SandboxRecord{Run: runID, Trace: p.id, PID: os.Getpid(), Started: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	if s.Verbose {
		fmt.Fprintf(s.logw(), "sandbox: run %s for trace %s (replay sandbox prune --run %s removes it if this replay is killed)\n", runID, short(p.id), runID)
	}
	img := p.image // the flag's, else the recorded one when at hand
	if img == sandbox.AutoImageName {
		if img, err = s.autoImage(ctx, p.resolution); err != nil {
			rec.Done()
			return nil, err
		}
	}
	sb, err := s.Sandboxes.Start(rctx, sandbox.Options{
		RunID:        runID,
		Image:        img,
		WorkDir:      p.root,
		Cwd:          p.cwd,
		Workspace:    ws,
		ExecutorPath: p.req.ExecutorPath,
		DiskBytes:    p.req.DiskBytes,
		ToolVersion:  toolVersion(p.orig),
		Labels:       map[string]string{"io.replay.original": p.id},
	})
	if err != nil {
		rec.Done()
		return nil, fmt.Errorf("start the sandbox: %w", err)
	}
	return &noted{Sandbox: sb, rec: rec}, nil
}

// autoImage picks the image of --image auto from the repository at the
// replayed commit (sandbox.AutoImageFor), and says which.
func (s *Session) autoImage(ctx context.Context, res *world.Resolution) (string, error) {
	if res == nil {
		fmt.Fprintf(s.logw(), "sandbox: --image auto: no repository, so the default image %s\n", sandbox.DefaultImage)
		return sandbox.DefaultImage, nil
	}
	src := sandbox.AutoSource{
		ReadFile: func(ctx context.Context, name string) ([]byte, error) {
			b, err := s.World.FileAt(ctx, res.Remote.URL, res.Commit, name)
			if errors.Is(err, world.ErrNotFound) {
				return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
			}
			return b, err
		},
		WriteTree: func(ctx context.Context, w io.Writer) error {
			_, err := s.World.WriteTar(ctx, res.Remote, res.Commit, w, world.TarOptions{})
			return err
		},
	}
	ar, err := sandbox.ResolveAutoImage(ctx, s.Sandboxes, src)
	if err != nil {
		return "", err
	}
	line := fmt.Sprintf("sandbox: --image auto: %s (%s", ar.Image, ar.How)
	if ar.Source != "" {
		line += " " + ar.Source
	}
	if ar.Built {
		line += ", built"
	}
	line += ")"
	if ar.Note != "" {
		line += "; " + ar.Note
	}
	fmt.Fprintln(s.logw(), line)
	return ar.Image, nil
}

// noted is a sandbox whose store record goes with it.
type noted struct {
	sandbox.Sandbox
	rec store.SandboxNote
}

func (n *noted) Close(ctx context.Context) error {
	err := n.Sandbox.Close(ctx)
	if err == nil {
		n.rec.Done()
	}
	return err
}

// Remapped passes on where the sandbox put a colliding workspace.
func (n *noted) Remapped() (string, string, bool) {
	if r, ok := n.Sandbox.(interface{ Remapped() (string, string, bool) }); ok {
		return r.Remapped()
	}
	return "", "", false
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// runAndStore runs the engine with the new run streaming to a temporary
// native file, and stores it at the end whatever happened.
func (s *Session) runAndStore(ctx, rctx context.Context, cfg Config, p *prepared, res *Result) (*Report, error) {
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
	rep, runErr := Run(rctx, p.orig, cfg)
	res.Report = rep
	if rep == nil {
		tmp.Close()
		return nil, runErr
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return rep, errors.Join(runErr, err)
	}
	if err := tmp.Close(); err != nil {
		return rep, errors.Join(runErr, err)
	}
	stored, err := s.Store.ImportAs(context.WithoutCancel(ctx), tmp.Name(), "replay of "+p.id, trace.NativeName, trace.Options{})
	if err != nil {
		return rep, errors.Join(runErr, fmt.Errorf("store the new run: %w", err))
	}
	res.ID, res.New = stored.ID, stored.Summary
	return rep, runErr
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
func (s *Session) workspaceTar(ctx context.Context, res *world.Resolution, snap *world.Snapshot, root, cwd string, overlay []world.DirtyFile) (io.ReadCloser, error) {
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
				// A checkout, .git included, so that a recorded git
				// status/diff/log gives what it gave the agent.
				branch := res.Refs["branch"].Value
				if branch == "HEAD" {
					branch = ""
				}
				stream := s.World.WorkspaceReader(ctx, res, world.TarOptions{Prefix: prefix, Git: true, Branch: branch})
				defer stream.Close()
				if err := copyOverlaid(tw, stream, prefix, overlay); err != nil {
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

// copyOverlaid copies the repository's tar with the overlaid files'
// contents in place of the tree's, and adds those the tree lacks (with
// their directories).
func copyOverlaid(tw *tar.Writer, r io.Reader, prefix string, overlay []world.DirtyFile) error {
	if len(overlay) == 0 {
		return copyTar(tw, r)
	}
	name := func(p string) string {
		if prefix == "" {
			return p
		}
		return prefix + "/" + p
	}
	content := map[string]string{}
	for _, d := range overlay {
		c := d.Content
		if !strings.HasSuffix(c, "\n") {
			c += "\n" // Read does not show the final newline; text files mostly have one
		}
		content[name(d.Path)] = c
	}
	dirs := map[string]bool{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeDir {
			dirs[strings.TrimSuffix(h.Name, "/")] = true
		}
		if c, ok := content[h.Name]; ok && h.Typeflag == tar.TypeReg {
			delete(content, h.Name)
			h.Size = int64(len(c))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := io.WriteString(tw, c); err != nil {
				return err
			}
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(content))
	for n := range content {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		// Parents first, each once, unless the tree has it.
		var parents []string
		for d := path.Dir(n); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
				return err
			}
		}
		c := content[n]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(c))}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, c); err != nil {
			return err
		}
	}
	return nil
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
	// A benchmark harness's run (SWE-agent, OpenHands, inspect_ai): the
	// harness's own tools that it used, as the sandbox runs them.
	var bench []trace.ToolDef
	for _, d := range sandbox.BenchTools() {
		if used[d.Name] {
			bench = append(bench, d)
		}
	}
	if len(bench) > 0 {
		return bench
	}
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

// variantTexts are the texts a variant's files give, read once for the
// white-box engine and the black-box proxy alike: the system prompt
// (--system-file, a path or a git ref), the sub-agents' prompts (--prompt)
// and the added context (--context add=FILE).
type variantTexts struct {
	system  *string
	prompts map[string]string
	context []string
}

func (s *Session) variantTexts(ctx context.Context, v Variant) (variantTexts, error) {
	var vt variantTexts
	if v.SystemFile != "" {
		sys, err := s.ReadPrompt(ctx, v.SystemFile)
		if err != nil {
			return vt, err
		}
		vt.system = &sys
	}
	for name, file := range v.Prompts {
		pr, err := s.ReadPrompt(ctx, file)
		if err != nil {
			return vt, err
		}
		if vt.prompts == nil {
			vt.prompts = map[string]string{}
		}
		vt.prompts[name] = pr
	}
	for _, f := range v.AddContext {
		b, err := os.ReadFile(f)
		if err != nil {
			return vt, fmt.Errorf("--context add=%s: %w", f, err)
		}
		vt.context = append(vt.context, string(b))
	}
	return vt, nil
}
