package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	json "github.com/goccy/go-json"
)

// spawn answers OpSpawn: it runs a long-running program (an agent) in the
// workspace, streams its output back as it comes (up to the output limit;
// the rest is counted and dropped, so a flood costs the host nothing), and
// ends with its Result: exit code, Fault timeout/oom/pids/disk, and how
// much output was dropped. While it runs it counts as a call in flight, so
// the sweep between calls spares it; when it ends, what it left behind is
// ended with it.
func (s *Server) spawn(ctx context.Context, r Request) {
	var a SpawnArgs
	err := json.Unmarshal(r.Args, &a)
	if err == nil && len(a.Argv) == 0 && strings.TrimSpace(a.Command) != "" {
		if fi, serr := os.Stat(s.shell); serr == nil && !fi.IsDir() {
			a.Argv = []string{s.shell, "-c", a.Command}
		} else if a.Argv, err = splitWords(a.Command); err != nil {
			err = fmt.Errorf("the image has no shell (%s) and the command does not split into words: %w", s.shell, err)
		}
	}
	if err != nil || len(a.Argv) == 0 || a.Argv[0] == "" {
		msg := "spawn: no program given"
		if err != nil {
			msg = "spawn: decode arguments: " + err.Error()
		}
		s.send(Response{ID: r.ID, Err: msg, ErrKind: ErrKindInvalid})
		return
	}
	for _, kv := range a.Env {
		if !strings.Contains(kv, "=") {
			s.send(Response{ID: r.ID, Err: fmt.Sprintf("spawn: env %q is not KEY=VALUE", kv), ErrKind: ErrKindInvalid})
			return
		}
	}
	start := time.Now()
	s.mu.Lock()
	s.calls++
	dir := s.cwd
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.calls--
		last := s.calls == 0
		s.mu.Unlock()
		if last {
			s.pid1.sweep()
		}
	}()
	if a.Dir != "" {
		_, real, err := s.resolve(a.Dir, dir)
		if err != nil {
			s.send(Response{ID: r.ID, Err: "spawn: working directory: " + err.Error(), ErrKind: ErrKindOutside})
			return
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			s.send(Response{ID: r.ID, Err: fmt.Sprintf("spawn: working directory %q is not a directory in the workspace", a.Dir), ErrKind: ErrKindNotFound})
			return
		}
		dir = real
	}
	limit := a.OutputLimit
	if limit <= 0 {
		limit = DefaultSpawnOutput
	}
	out := &spawnOutput{s: s, id: r.ID, left: limit}

	prog := a.Argv[0]
	if strings.Contains(prog, "/") && !filepath.IsAbs(prog) {
		// ./agent is the working directory's, not the executor's.
		prog = filepath.Join(dir, prog)
	}
	cmd := exec.Command(prog, a.Argv[1:]...)
	cmd.Args[0] = a.Argv[0]
	cmd.Dir = dir
	env := s.cfg.Env
	if env == nil {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	cmd.Env = append(append(append([]string{}, env...), a.Env...), "PWD="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = out.stream("stdout")
	cmd.Stderr = out.stream("stderr")
	cmd.WaitDelay = time.Second

	oomBefore, pidsBefore := cgroupCounter(oomFiles, "oom_kill"), cgroupCounter(pidsFiles, "max")
	if err := s.pid1.start(cmd); err != nil {
		res := Result{IsError: true, Output: fmt.Sprintf("cannot start %q: %v", a.Argv[0], err)}
		if errors.Is(err, syscall.EAGAIN) {
			res.Fault = FaultPids
		}
		s.send(Response{ID: r.ID, Result: &res})
		return
	}
	pgid := cmd.Process.Pid
	_ = os.WriteFile("/proc/"+strconv.Itoa(pgid)+"/oom_score_adj", []byte("1000"), 0)
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		s.pid1.waited(pgid)
		done <- err
	}()
	var timer <-chan time.Time
	if r.TimeoutMS > 0 {
		t := time.NewTimer(time.Duration(r.TimeoutMS) * time.Millisecond)
		defer t.Stop()
		timer = t.C
	}
	var watch <-chan time.Time
	if s.cfg.DiskLimit > 0 {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		watch = t.C
	}
	fault, cancelled := "", false
wait:
	for {
		select {
		case <-done:
			break wait
		case <-timer:
			fault = FaultTimeout
			killGroup(pgid)
			<-done
			break wait
		case <-ctx.Done():
			cancelled = true
			killGroup(pgid)
			<-done
			break wait
		case <-watch:
			if over, _ := s.overDisk(); over {
				fault = FaultDisk
				killGroup(pgid)
				s.pid1.sweep()
				<-done
				break wait
			}
		}
	}
	killGroup(pgid) // what it started in its group ends with it
	exit := 0
	signaled := false
	if cmd.ProcessState != nil {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			signaled = true
			exit = 128 + int(ws.Signal())
		} else {
			exit = cmd.ProcessState.ExitCode()
		}
	}
	if fault == "" {
		switch {
		case (signaled || exit != 0) && cgroupCounter(oomFiles, "oom_kill") > oomBefore:
			fault = FaultOOM
		case cgroupCounter(pidsFiles, "max") > pidsBefore:
			fault = FaultPids
		}
	}
	dropped := out.droppedBytes()
	res := Result{ExitCode: &exit, Fault: fault, IsError: exit != 0 || fault != "" || cancelled, Truncated: dropped > 0, DurationMS: time.Since(start).Milliseconds()}
	switch {
	case fault == FaultTimeout:
		res.Output = fmt.Sprintf("killed at its time limit (%s)", fmtDuration(time.Duration(r.TimeoutMS)*time.Millisecond))
	case fault == FaultOOM:
		res.Output = "killed: the sandbox ran out of memory"
	case fault == FaultDisk:
		res.Output = diskMessage(s.diskUsage(), s.cfg.DiskLimit)
	case cancelled:
		res.Output = "cancelled"
	}
	s.send(Response{ID: r.ID, Result: &res, Dropped: dropped})
}

// spawnOutput streams a program's output in frames, stdout and stderr
// sharing one limit.
type spawnOutput struct {
	s  *Server
	id uint64

	mu      sync.Mutex
	left    int64
	dropped int64
}

func (o *spawnOutput) droppedBytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

type spawnStream struct {
	o    *spawnOutput
	name string
}

func (o *spawnOutput) stream(name string) *spawnStream { return &spawnStream{o: o, name: name} }

func (w *spawnStream) Write(p []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	k := int(min(int64(len(p)), o.left))
	o.left -= int64(k)
	o.dropped += int64(len(p) - k)
	o.mu.Unlock()
	for b := p[:k]; len(b) > 0; {
		n := min(len(b), StreamChunk)
		o.s.send(Response{ID: o.id, More: true, Stream: w.name, Data: bytes.Clone(b[:n])})
		b = b[n:]
	}
	return len(p), nil
}

// splitWords splits a command line into words for an image without a
// shell: blanks separate, '…' and "…" group (a backslash escapes the next
// character outside single quotes); nothing else is interpreted.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case quote == '"':
			if ch == '"' {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote = ch
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
