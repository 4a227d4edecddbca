package replay

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/proxy"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/sandbox"
)

// RecordRequest is `replay record --sandbox -- CMD`: an agent's program
// run unchanged in a sandbox whose workspace is a directory of the host
// (its git working tree, uncommitted changes included), behind the proxy
// in forward mode, every request and answer written to a native trace with
// the directory's git state.
type RecordRequest struct {
	// Command is the agent's command line.
	Command string
	// Dir is the host directory the agent works in: copied into the
	// sandbox at the same path, which is the recorded cwd.
	Dir string
	// Meta is the trace's metadata: the agent, the git state of Dir at the
	// start (the CLI reads it with world.Local); Cwd is set to Dir.
	Meta trace.RunMeta
	// Image is the sandbox image (one with the agent installed).
	Image        string
	ExecutorPath string
	DiskBytes    int64
	// Timeout ends a program that hangs (0: an hour).
	Timeout time.Duration
	// Proxy forwards to the upstream (its Mode is set to forward).
	Proxy          proxy.Config
	Stdout, Stderr io.Writer
	OutputLimit    int64
}

// RecordAgent runs the program and stores the trace; the result's Run is
// the recording (every request in full, the answers, the tool results the
// agent sent).
func (s *Session) RecordAgent(ctx context.Context, rr RecordRequest) (*AgentResult, error) {
	if strings.TrimSpace(rr.Command) == "" {
		return nil, errors.New("record: no command")
	}
	if s.Sandboxes == nil {
		return nil, errors.New("record --sandbox: Docker is not available")
	}
	dir, err := filepath.Abs(rr.Dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("record --sandbox: %q is not a directory", rr.Dir)
	}
	isGit := rr.Meta.Refs.Repo != nil
	cfg := rr.Proxy
	cfg.Mode, cfg.Recording = proxy.ModeForward, nil
	px, err := proxy.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	files, err := workFiles(ctx, dir, isGit)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarFiles(pw, dir, files)) }()
	defer pr.Close()

	runID := "record-" + randomHex(6)
	rec, err := s.Store.NoteSandbox(store.SandboxRecord{Run: runID, PID: os.Getpid(), Started: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	sb, err := s.Sandboxes.Start(ctx, sandbox.Options{RunID: runID, Image: rr.Image, WorkDir: dir, Workspace: pr, ExecutorPath: rr.ExecutorPath, DiskBytes: rr.DiskBytes})
	if err != nil {
		rec.Done()
		return nil, fmt.Errorf("start the sandbox: %w", err)
	}
	sbx := &noted{Sandbox: sb, rec: rec}
	res := &AgentResult{Workspace: dir, Mode: proxy.ModeForward}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := sbx.Close(cctx); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%v (replay sandbox prune removes what is left)", err))
		}
	}()
	psb, ok := programSandbox(sbx)
	if !ok {
		return nil, errNotProgramSandbox
	}
	fmt.Fprintf(s.logw(), "record: running %q in a sandbox at %s (proxy: forward)\n", rr.Command, dir)
	start := time.Now()
	run, runErr := RunAgent(ctx, psb, px, AgentOptions{Command: rr.Command, Timeout: rr.Timeout, Stdout: rr.Stdout, Stderr: rr.Stderr, OutputLimit: rr.OutputLimit})
	res.Program = run
	res.Exchanges = px.Exchanges()

	meta := rr.Meta
	if meta.StartedAt.IsZero() {
		meta.StartedAt = start.UTC()
	}
	if meta.Generator == "" {
		meta.Generator = "replay record --sandbox"
	}
	meta.Refs.Cwd = &trace.Ref{Value: dir, Provenance: trace.Recorded, From: "replay record --sandbox"}
	meta.EndedAt = time.Now().UTC()
	nr := px.Run(meta)
	why := run.Failed()
	if runErr != nil {
		why = runErr.Error()
	}
	if why != "" {
		if nr.Outcome == nil {
			nr.Outcome = &trace.Outcome{}
		}
		nr.Outcome.Status, nr.Outcome.Error = trace.StatusError, why
		nr.Warnings = append(nr.Warnings, trace.Warning{Message: why})
	}
	res.Run = nr
	if err := s.storeRun(ctx, nr, "", res); err != nil {
		return res, errors.Join(runErr, err)
	}
	if runErr != nil {
		return res, &AgentError{Reason: runErr.Error(), Err: runErr}
	}
	if why != "" {
		return res, &AgentError{Reason: why, Program: &run}
	}
	return res, nil
}

// workFiles lists the files of dir the agent sees: in a git work tree the
// tracked and untracked ones git does not ignore, else all of them (.git
// never).
func workFiles(ctx context.Context, dir string, isGit bool) ([]string, error) {
	if isGit {
		cmd := exec.CommandContext(ctx, "git", "-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
		out, err := cmd.Output()
		if errors.Is(err, exec.ErrNotFound) {
			return workFiles(ctx, dir, false) // no git program: every file
		}
		if err != nil {
			return nil, fmt.Errorf("record: list the files of %q: %w", dir, err)
		}
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
		return files, nil
	}
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	return files, err
}

// tarFiles writes a tar of files under dir (their directories first),
// modes and symlinks kept; a tracked file deleted from the tree is left
// out.
func tarFiles(w io.Writer, dir string, files []string) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	for _, f := range files {
		full := filepath.Join(dir, filepath.FromSlash(f))
		fi, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		var parents []string
		for d := filepath.ToSlash(filepath.Dir(f)); d != "." && d != "/"; d = filepath.ToSlash(filepath.Dir(d)) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
		h := &tar.Header{Name: f, Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(full)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname = tar.TypeSymlink, target
		case fi.Mode().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		default:
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			fh, err := os.Open(full)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, fh)
			fh.Close()
			if err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
