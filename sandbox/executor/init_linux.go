//go:build linux

package executor

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The executor is the container's first process (no docker-init: an init
// beside it would hold the channel's file descriptors where commands can
// reach them). As PID 1 of the container's PID namespace:
//
//   - no signal from a command can stop or kill it: the kernel drops
//     SIGKILL and SIGSTOP sent to a namespace's init from inside it, and
//     the executor takes every other signal itself and discards it (a
//     handler, not SIG_IGN, so that commands start with default
//     dispositions);
//   - it is not dumpable (PR_SET_DUMPABLE 0): its /proc entries belong to
//     root and ptrace is refused, so a command running as the same user
//     cannot open /proc/1/fd/0 or /proc/1/fd/1 — the protocol's stdin and
//     stdout — nor read its memory. Nothing a command does can forge,
//     reorder, drop or stall the executor's frames;
//   - it reaps the orphans of every command, and between calls it ends
//     every process but itself (kill(-1, SIGKILL) spares only the
//     caller), so nothing started by a call outlives it.

const prSetDumpable = 4 // PR_SET_DUMPABLE

// harden makes the executor unreachable by the commands it runs. It
// returns the init role when the executor is PID 1, else nil (in-process
// use, tests: no sweeping, no reaping).
func harden() (*initRole, error) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); e != 0 {
		return nil, os.NewSyscallError("prctl(PR_SET_DUMPABLE)", e)
	}
	if os.Getpid() != 1 {
		return nil, nil
	}
	r := &initRole{ours: map[int]bool{}}
	discard := make(chan os.Signal, 16)
	signal.Notify(discard, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
		syscall.SIGALRM, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGVTALRM,
		syscall.SIGWINCH, syscall.SIGIO, syscall.SIGPWR, syscall.SIGTRAP, syscall.SIGABRT, syscall.SIGSYS, syscall.SIGPIPE,
		syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL, syscall.SIGSTKFLT)
	go func() {
		for range discard {
		}
	}()
	chld := make(chan os.Signal, 64)
	signal.Notify(chld, syscall.SIGCHLD)
	go func() {
		for range chld {
			r.reap()
		}
	}()
	return r, nil
}

// initRole is what the executor does as the container's init.
type initRole struct {
	mu   sync.Mutex
	ours map[int]bool // children a tool started and waits for itself
}

// start starts cmd as a child the caller will Wait for: the reaper leaves
// it alone.
func (r *initRole) start(cmd *exec.Cmd) error {
	if r == nil {
		return cmd.Start()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.ours[cmd.Process.Pid] = true
	return nil
}

// waited forgets a child once its Wait returned.
func (r *initRole) waited(pid int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	delete(r.ours, pid)
	r.mu.Unlock()
}

// reap collects the orphans that died: zombies whose parent is the
// executor and that no tool waits for.
func (r *initRole) reap() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pid := range zombieChildren() {
		if !r.ours[pid] {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
	}
}

// sweep ends every process in the container but the executor, then reaps
// them: what a call started must not outlive it.
func (r *initRole) sweep() {
	if r == nil {
		return
	}
	for i := 0; i < 100; i++ {
		if err := syscall.Kill(-1, syscall.SIGKILL); err == syscall.ESRCH {
			break // nothing left to signal
		}
		r.reap()
		if len(otherProcesses()) == 0 {
			break
		}
		sleepBriefly()
	}
	r.reap()
}

// zombieChildren lists the executor's children that have exited.
func zombieChildren() []int {
	var out []int
	me := os.Getpid()
	for _, p := range procEntries() {
		state, ppid, ok := procStat(p)
		if ok && state == 'Z' && ppid == me {
			out = append(out, p)
		}
	}
	return out
}

// otherProcesses lists the live processes other than the executor.
func otherProcesses() []int {
	var out []int
	me := os.Getpid()
	for _, p := range procEntries() {
		if p == me {
			continue
		}
		if state, _, ok := procStat(p); ok && state != 'Z' {
			out = append(out, p)
		}
	}
	return out
}

func procEntries() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// procStat reads a process's state and parent from /proc/PID/stat.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	// The command name is in parentheses and may hold spaces: fields
	// start after the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], ppid, true
}

func sleepBriefly() { time.Sleep(5 * time.Millisecond) }

// limitFileSize caps every file the executor and its commands write
// (RLIMIT_FSIZE, inherited by commands): no single file can outgrow the
// workspace's disk limit, whatever writes it.
func (r *initRole) limitFileSize(n int64) error {
	if r == nil || n <= 0 {
		return nil
	}
	lim := syscall.Rlimit{Cur: uint64(n), Max: uint64(n)}
	return os.NewSyscallError("setrlimit(RLIMIT_FSIZE)", syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim))
}
