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
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

type bashArgs struct {
	Command         json.RawMessage `json:"command"`
	Cmd             json.RawMessage `json:"cmd"`        // inspect_ai's bash
	Timeout         num             `json:"timeout"`    // ms (Claude Code)
	TimeoutMS       num             `json:"timeout_ms"` // ms (generic)
	Description     string          `json:"description"`
	RunInBackground flag            `json:"run_in_background"`
	Workdir         string          `json:"workdir"`
}

// bashTool runs a shell command: Claude Code's Bash, or the generic shell
// whose command may also be an argv array.
func (s *Server) bashTool(ctx context.Context, raw json.RawMessage, timeoutMS int64, d dialect) Result {
	name := "Bash"
	switch d {
	case generic:
		name = "shell"
	case bench:
		name = "bash"
	}
	var a bashArgs
	if r := decodeArgs(d, name, raw, &a); r != nil {
		return *r
	}
	if len(a.Command) == 0 && len(a.Cmd) > 0 {
		a.Command = a.Cmd
	}
	if d == bench && a.Timeout.set {
		a.Timeout.v *= 1000 // OpenHands' timeout is in seconds
	}
	var argv []string
	var script string
	switch {
	case len(a.Command) == 0 || string(a.Command) == "null":
		return missing(d, name, "command")
	case a.Command[0] == '"':
		if err := json.Unmarshal(a.Command, &script); err != nil {
			return toolError(d, "InputValidationError: "+cleanJSONError(err))
		}
	case a.Command[0] == '[' && d == generic:
		if err := json.Unmarshal(a.Command, &argv); err != nil || len(argv) == 0 {
			return toolError(d, "InputValidationError: command must be a string or a non-empty array of strings")
		}
	default:
		return toolError(d, fmt.Sprintf("InputValidationError: %s failed due to the following issue:\nThe parameter `command` type is expected as `string` but provided as `%s`", name, jsonType(a.Command)))
	}
	if bool(a.RunInBackground) {
		return toolError(d, "run_in_background is not supported by the replay sandbox")
	}

	timeout := s.cfg.DefaultTimeoutMS
	if a.Timeout.set && a.Timeout.v > 0 {
		timeout = a.Timeout.v
	} else if a.TimeoutMS.set && a.TimeoutMS.v > 0 {
		timeout = a.TimeoutMS.v
	}
	timeout = min(timeout, s.cfg.MaxTimeoutMS)
	if timeoutMS > 0 {
		timeout = min(timeout, timeoutMS)
	}

	s.mu.Lock()
	dir := s.cwd
	s.seq++
	cwdFile := filepath.Join(s.tmpDir, ".replay-cwd-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(s.seq, 10))
	s.mu.Unlock()
	if a.Workdir != "" {
		_, real, err := s.resolve(a.Workdir, dir)
		if err != nil {
			return pathError(d, err)
		}
		dir = real
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		dir = s.cfg.Root
	}

	var cmd *exec.Cmd
	if argv != nil {
		cmd = exec.Command(argv[0], argv[1:]...)
	} else {
		// The trap records the final directory so that `cd` persists across
		// calls, as in Claude Code. It shares the first line with the
		// command to keep line numbers in error messages.
		cmd = exec.Command(s.shell, "-c", "trap 'pwd -P >"+cwdFile+" 2>/dev/null' EXIT; "+script)
	}
	defer os.Remove(cwdFile)
	cmd.Dir = dir
	cmd.Env = s.cfg.Env
	if cmd.Env == nil {
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	cmd.Env = append(cmd.Env[:len(cmd.Env):len(cmd.Env)], "PWD="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout := &capBuffer{limit: s.cfg.OutputLimit}
	stderr := &capBuffer{limit: s.cfg.OutputLimit}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if d == bench {
		// A terminal: one stream, in the order written.
		cmd.Stderr = stdout
	}
	// Background children that keep the output pipes open must not hold the
	// call: give them a moment after the shell exits, then close the pipes.
	cmd.WaitDelay = 500 * time.Millisecond

	oomBefore, pidsBefore := cgroupCounter(oomFiles, "oom_kill"), cgroupCounter(pidsFiles, "max")
	if err := s.pid1.start(cmd); err != nil {
		r := toolError(d, fmt.Sprintf("cannot start the command: %v", err))
		if errors.Is(err, syscall.EAGAIN) {
			r.Fault = FaultPids
		}
		return r
	}
	pgid := cmd.Process.Pid
	// Make the command, not the executor, the out-of-memory killer's choice.
	_ = os.WriteFile("/proc/"+strconv.Itoa(pgid)+"/oom_score_adj", []byte("1000"), 0)

	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		s.pid1.waited(pgid)
		done <- err
	}()
	var timedOut, cancelled, overDisk atomic.Bool
	timer := time.NewTimer(time.Duration(timeout) * time.Millisecond)
	defer timer.Stop()
	// The disk limit is watched while the command runs.
	var watch <-chan time.Time
	if s.cfg.DiskLimit > 0 {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		watch = t.C
	}
	var werr error
wait:
	for {
		select {
		case werr = <-done:
			break wait
		case <-timer.C:
			timedOut.Store(true)
			killGroup(pgid)
			werr = <-done
			break wait
		case <-ctx.Done():
			cancelled.Store(true)
			killGroup(pgid)
			werr = <-done
			break wait
		case <-watch:
			if over, _ := s.overDisk(); over {
				overDisk.Store(true)
				killGroup(pgid)
				s.pid1.sweep() // what the command left in the background writes too
				werr = <-done
				break wait
			}
		}
	}
	if errors.Is(werr, exec.ErrWaitDelay) {
		// Children still held the pipes: they were left running in the
		// background with our output. End them.
		killGroup(pgid)
	}

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
	res := Result{ExitCode: &exit, Truncated: stdout.dropped > 0 || stderr.dropped > 0}
	diskMsg := ""
	if over, msg := s.overDisk(); over || overDisk.Load() {
		overDisk.Store(true)
		diskMsg = msg
		if diskMsg == "" {
			diskMsg = diskMessage(s.diskUsage(), s.cfg.DiskLimit)
		}
	}
	switch {
	case overDisk.Load():
		res.Fault = FaultDisk
	case timedOut.Load():
		res.Fault = FaultTimeout
	case (signaled || exit != 0) && cgroupCounter(oomFiles, "oom_kill") > oomBefore:
		// The shell itself or a process under it was OOM-killed.
		res.Fault = FaultOOM
	case cgroupCounter(pidsFiles, "max") > pidsBefore:
		// A fork was refused at the pids limit during the call.
		res.Fault = FaultPids
	}

	if argv == nil {
		if b, err := os.ReadFile(cwdFile); err == nil {
			if nd := strings.TrimSpace(string(b)); nd != "" {
				if _, real, err := s.resolve(nd, s.cfg.Root); err == nil {
					s.mu.Lock()
					s.cwd = real
					s.mu.Unlock()
				} else {
					// Claude Code resets the directory when a command leaves the project.
					s.mu.Lock()
					s.cwd = s.cfg.Root
					s.mu.Unlock()
				}
			}
		}
	}

	out, errOut := stdout.text(), stderr.text()
	detail, _ := json.Marshal(map[string]any{
		"stdout": out, "stderr": errOut, "interrupted": timedOut.Load() || cancelled.Load(), "isImage": false,
	})
	res.Detail = detail
	body := joinNonEmpty(out, errOut)
	switch {
	case res.Fault == FaultDisk:
		res.IsError = true
		res.Output = joinNonEmpty(fmt.Sprintf("Exit code %d", exit), errOut, out, diskMsg)
	case res.Fault == FaultTimeout:
		res.IsError = true
		res.Output = joinNonEmpty(body, fmt.Sprintf("Command timed out after %s", fmtDuration(time.Duration(timeout)*time.Millisecond)))
	case res.Fault == FaultOOM:
		res.IsError = true
		res.Output = joinNonEmpty(fmt.Sprintf("Exit code %d", exit), errOut, out, "The command was killed: the sandbox ran out of memory (memory limit reached).")
	case cancelled.Load():
		res.IsError = true
		res.Output = joinNonEmpty(body, "Command was cancelled.")
	case d == bench:
		// The harness shows the output whatever the exit code (the code
		// is the call's ExitCode).
		res.Output = body
	case exit != 0:
		res.IsError = true
		if s.v1() && d == claude {
			res.Output = joinNonEmpty(errOut, out)
		} else {
			res.Output = joinNonEmpty(fmt.Sprintf("Exit code %d", exit), errOut, out)
		}
	default:
		res.Output = body
		if body == "" && d == claude && !s.v1() {
			res.Output = "(Bash completed with no output)"
		}
	}
	return res
}

// pythonTool runs inspect_ai's python tool: the code given to the image's
// python3 on its standard input, in the workspace.
func (s *Server) pythonTool(ctx context.Context, raw json.RawMessage, timeoutMS int64, d dialect) Result {
	var a struct {
		Code *string `json:"code"`
	}
	if r := decodeArgs(d, "python", raw, &a); r != nil {
		return *r
	}
	if a.Code == nil {
		return missing(d, "python", "code")
	}
	marker := "REPLAY_PYTHON_EOF"
	for strings.Contains(*a.Code, marker) {
		marker += "_"
	}
	script, _ := json.Marshal(map[string]string{"command": "python3 - <<'" + marker + "'\n" + *a.Code + "\n" + marker})
	return s.bashTool(ctx, script, timeoutMS, d)
}

func jsonType(b []byte) string {
	switch {
	case len(b) == 0:
		return "undefined"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == 't' || b[0] == 'f':
		return "boolean"
	default:
		return "number"
	}
}

func joinNonEmpty(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, "\n")
}

func fmtDuration(d time.Duration) string {
	if d >= time.Minute {
		return fmt.Sprintf("%dm %.1fs", int(d.Minutes()), (d % time.Minute).Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// killGroup kills a process group until it is gone (a fork bomb keeps
// forking while being killed), for at most two seconds.
func killGroup(pgid int) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, syscall.SIGKILL); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// capBuffer keeps the first limit bytes written to it and counts the rest,
// so a command printing a gigabyte costs no memory.
type capBuffer struct {
	limit        int
	buf          bytes.Buffer
	dropped      int64
	droppedLines int64
	lastNL       bool
}

func (c *capBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := c.limit - c.buf.Len(); room > 0 {
		k := min(room, len(p))
		c.buf.Write(p[:k])
		p = p[k:]
	}
	if len(p) > 0 {
		c.dropped += int64(len(p))
		c.droppedLines += int64(bytes.Count(p, []byte{'\n'}))
		c.lastNL = p[len(p)-1] == '\n'
	}
	return n, nil
}

// text is the kept output as Claude Code shows it: leading blank lines
// dropped, trailing whitespace trimmed, and a marker when output was cut.
func (c *capBuffer) text() string {
	b := c.buf.Bytes()
	if c.dropped > 0 {
		// Do not end inside a UTF-8 sequence.
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = trimLeadingBlankLines(s)
	s = strings.TrimRight(s, " \t\r\n")
	if c.dropped > 0 {
		lines := c.droppedLines
		if !c.lastNL {
			lines++
		}
		s += fmt.Sprintf("\n\n... [%d lines truncated] ...", lines)
	}
	return s
}

func trimLeadingBlankLines(s string) string {
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 || strings.TrimSpace(s[:i]) != "" {
			return s
		}
		s = s[i+1:]
	}
}

// Control-group counters (cgroup v2 first, then v1) read to tell an
// out-of-memory kill or a refused fork from an ordinary failure.
const (
	oomFiles  = "/sys/fs/cgroup/memory.events:/sys/fs/cgroup/memory/memory.oom_control"
	pidsFiles = "/sys/fs/cgroup/pids.events:/sys/fs/cgroup/pids/pids.events"
)

func cgroupCounter(files string, key string) int64 {
	for _, f := range strings.Split(files, ":") {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, " ")
			if ok && k == key {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return n
			}
		}
	}
	return 0
}
