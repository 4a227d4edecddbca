package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
)

// The code under replay cannot lie to replay: these are the attacks a
// hostile recorded command can try from inside the sandbox, each run
// against a real container. Each asserts that the result replay records is
// the real one, or that the call fails as a fault naming it.

// frameOctal is a protocol frame (4-byte big-endian length, then JSON) as
// printf octal escapes, so that busybox's printf can write it.
func frameOctal(body string, claimed int) string {
	n := claimed
	if n < 0 {
		n = len(body)
	}
	var b strings.Builder
	for _, c := range []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} {
		fmt.Fprintf(&b, `\%03o`, c)
	}
	for _, c := range []byte(body) {
		fmt.Fprintf(&b, `\%03o`, c)
	}
	return b.String()
}

// everyFD is a shell loop that writes printf's output to the protocol
// stream of every other process it can reach: the executor's stdout and
// stderr, and those of any other process in the container (docker-init's,
// were it there). Writing to its own output is only output.
func everyFD(printfArg string) string {
	return `for p in /proc/[0-9]*; do [ "$p" = /proc/$$ ] && continue; for fd in 0 1 2; do printf '` + printfArg + `' > $p/fd/$fd 2>/dev/null && echo "wrote $p/fd/$fd"; done; done; echo real-output`
}

func TestForgedResultIsNotRecorded(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{RunID: "forge"})
	// A well-formed response to the call in flight (ids are small
	// integers: forge the next few), claiming the command said "forged".
	var forged []string
	for id := 1; id < 8; id++ {
		b, _ := json.Marshal(map[string]any{"id": id, "result": map[string]any{"output": "forged", "duration_ms": 1}})
		forged = append(forged, frameOctal(string(b), -1))
	}
	r := run(t, sb, everyFD(strings.Join(forged, "")), 10000)
	if strings.Contains(r.Output, "forged") || !strings.HasPrefix(r.Output, "real-output") {
		t.Fatalf("the recorded result is not the command's real output: %q", r.Output)
	}
	if strings.Contains(r.Output, "wrote ") {
		t.Errorf("a command could write to another process's output: %q", r.Output)
	}
	// The channel is still in step: the next call gets its own answer.
	if r := run(t, sb, "echo next", 10000); strings.TrimSpace(r.Output) != "next" {
		t.Errorf("the call after the attack: %q", r.Output)
	}
}

func TestDesyncedChannelIsAFaultWithinSeconds(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{RunID: "desync"})
	// A frame header claiming 64 MiB, and nothing after it: a reader that
	// believed it would swallow every later frame.
	hdr := frameOctal("", 64<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args, _ := json.Marshal(map[string]any{"command": everyFD(hdr), "timeout": 60000})
	start := time.Now()
	r, err := sb.Exec(ctx, sandbox.ToolCall{Name: "Bash", Arguments: args})
	took := time.Since(start)
	switch {
	case err == nil:
		if strings.Contains(r.Output, "wrote ") || !strings.Contains(r.Output, "real-output") {
			t.Fatalf("result %q", r.Output)
		}
	case errors.Is(err, sandbox.ErrFault):
		if took > 20*time.Second {
			t.Errorf("the fault took %s", took)
		}
	default:
		t.Fatalf("Exec: %v", err)
	}
	if err == nil {
		if r := run(t, sb, "echo next", 10000); strings.TrimSpace(r.Output) != "next" {
			t.Errorf("the call after the attack: %q", r.Output)
		}
	}
}

// A call cannot stop or kill the executor: not with kill -9 -1, not by
// stopping it.
func TestExecutorSurvivesItsCalls(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{RunID: "killall"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, cmd := range []string{"kill -9 -1; echo after", "kill -STOP 1; kill -TERM 1; kill -QUIT 1; echo after", "for p in /proc/[0-9]*; do kill -9 ${p#/proc/} 2>/dev/null; done; echo after"} {
		args, _ := json.Marshal(map[string]any{"command": cmd})
		r, err := sb.Exec(ctx, sandbox.ToolCall{Name: "Bash", Arguments: args})
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		_ = r // the shell may have been killed with the rest: any result is its own
		if r := run(t, sb, "echo alive", 10000); strings.TrimSpace(r.Output) != "alive" {
			t.Fatalf("after %q the executor answered %q", cmd, r.Output)
		}
	}
}

// Between calls no process of the previous call survives.
func TestNoProcessSurvivesItsCall(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{RunID: "survivors"})
	spawn := []string{
		"setsid sh -c 'while :; do echo surv1ve >> /tmp/setsid.log; sleep 0.1; done' >/dev/null 2>&1 &",
		"nohup sh -c 'while :; do echo surv1ve >> /tmp/nohup.log; sleep 0.1; done' >/dev/null 2>&1 &",
		"(sh -c 'sh -c \"while :; do echo surv1ve >> /tmp/double.log; sleep 0.1; done\" &' &) >/dev/null 2>&1",
	}
	r := run(t, sb, strings.Join(spawn, "\n")+"\nsleep 0.5; echo started", 10000)
	if !strings.Contains(r.Output, "started") {
		t.Fatalf("setup: %q", r.Output)
	}
	// The next call sees no process but its own.
	r = run(t, sb, `for p in /proc/[0-9]*; do [ -r $p/cmdline ] && tr '\0' ' ' < $p/cmdline && echo; done | grep -c 'surv[1]ve' ; true`, 10000)
	if n := strings.TrimSpace(r.Output); n != "0" {
		t.Errorf("%s processes of the previous call survive it", n)
	}
	r = run(t, sb, `a=$(cat /tmp/*.log | wc -l); sleep 0.5; b=$(cat /tmp/*.log | wc -l); echo $((b-a))`, 10000)
	if n := strings.TrimSpace(r.Output); n != "0" {
		t.Errorf("the logs still grow by %s lines in half a second", n)
	}
}

// The workspace has a size limit: a writer that exceeds it gets a clear
// tool error, and the sandbox goes on.
func TestWorkspaceDiskLimit(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{RunID: "disk", DiskBytes: 64 << 20})
	r := run(t, sb, "dd if=/dev/zero of=big bs=1M count=200 2>&1; echo exit=$?", 60000)
	if !r.IsError || !strings.Contains(r.Output, "disk limit") || r.Fault != sandbox.FaultDisk {
		t.Errorf("a 200 MB write into a 64 MB workspace: %q (error %v, fault %q)", r.Output, r.IsError, r.Fault)
	}
	// Many files, each under the limit, written without end: the running
	// command is stopped once the workspace passes the limit, not at its
	// time limit.
	start := time.Now()
	r = run(t, sb, "rm -f big; i=0; while :; do dd if=/dev/zero of=f$i bs=1M count=8 2>/dev/null; i=$((i+1)); done", 120000)
	if r.Fault != sandbox.FaultDisk || time.Since(start) > 30*time.Second {
		t.Errorf("an endless writer: fault %q after %s: %q", r.Fault, time.Since(start), r.Output)
	}
	run(t, sb, "rm -f f*", 10000)
	// A writer in the background, past its call, is stopped too.
	r = run(t, sb, "rm -f big; (sleep 0.3; dd if=/dev/zero of=bg bs=1M count=200) >/dev/null 2>&1 & sleep 2; echo done", 60000)
	if !r.IsError || r.Fault != sandbox.FaultDisk {
		t.Errorf("a background writer: %q (fault %q)", r.Output, r.Fault)
	}
	// Removing files lets the replay go on.
	if r := run(t, sb, "rm -f big bg; echo small > s.txt; cat s.txt; du -sm . | cut -f1", 10000); r.IsError || !strings.HasPrefix(r.Output, "small\n") {
		t.Errorf("after the limit: %q (error %v)", r.Output, r.IsError)
	} else if mb := strings.TrimSpace(strings.TrimPrefix(r.Output, "small\n")); len(mb) > 1 {
		t.Errorf("the workspace holds %s MB after clean-up", mb)
	}
}

// A recorded working directory is never mounted over the image's own
// directories: /usr/app hides nothing of /usr, and /usr or /tmp/project are
// remapped, with the recorded paths still resolving for the file tools and
// shown as recorded in their answers.
func TestRecordedSystemDirectories(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for _, dir := range []string{"/usr/app", "/usr", "/tmp/project", "/etc"} {
		t.Run(dir, func(t *testing.T) {
			ws := sandboxtest.Tar(t, sandboxtest.File{Name: "hello.txt", Body: "hi\n"})
			sb := e.start(t, sandbox.Options{RunID: "sysdir", WorkDir: dir, Workspace: ws})
			// The image is intact: its shell and busybox still run.
			if r := run(t, sb, "ls /bin/sh /bin/busybox >/dev/null && echo image-ok", 10000); !strings.Contains(r.Output, "image-ok") {
				t.Fatalf("the image's own files are hidden: %q", r.Output)
			}
			args, _ := json.Marshal(map[string]any{"file_path": dir + "/hello.txt"})
			r, err := sb.Exec(ctx, sandbox.ToolCall{Name: "Read", Arguments: args})
			if err != nil || r.IsError || !strings.Contains(r.Output, "hi") {
				t.Fatalf("Read %s/hello.txt: %q %v", dir, r.Output, err)
			}
			args, _ = json.Marshal(map[string]any{"pattern": "*.txt", "path": dir})
			r, err = sb.Exec(ctx, sandbox.ToolCall{Name: "Glob", Arguments: args})
			if err != nil || strings.TrimSpace(r.Output) != dir+"/hello.txt" {
				t.Errorf("Glob answers %q (%v), want the recorded path", r.Output, err)
			}
			if r := run(t, sb, "pwd", 10000); strings.TrimSpace(r.Output) != dir {
				t.Errorf("pwd shows %q, want the recorded %q", r.Output, dir)
			}
			from, to, remapped := sb.Remapped()
			if want := dir != "/usr/app"; remapped != want || (remapped && (from != dir || !strings.HasPrefix(to, sandbox.RemapRoot))) {
				t.Errorf("remapped %v: %q -> %q", remapped, from, to)
			}
		})
	}
}

// Prune removes by default only the sandboxes whose owning replay is gone:
// never another replay's live one.
func TestPruneKeepsLiveSandboxes(t *testing.T) {
	e := setup(t)
	sb := e.start(t, sandbox.Options{RunID: "live"})
	ctx := context.Background()
	rep, err := sandbox.Prune(ctx, e.cli, sandbox.PruneOptions{Labels: e.labels})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Containers) != 0 || len(rep.Volumes) != 0 || len(rep.Kept) != 1 || rep.Kept[0].Run != "live" || rep.Kept[0].Liveness != sandbox.OwnerAlive {
		t.Fatalf("prune of a live sandbox: %+v", rep)
	}
	if r := run(t, sb, "echo still", 10000); strings.TrimSpace(r.Output) != "still" {
		t.Fatalf("the live sandbox after prune: %q", r.Output)
	}
	// A sandbox whose owner process is gone is a leftover.
	dead := e.start(t, sandbox.Options{RunID: "orphan", Owner: sandbox.Owner{Host: sandbox.Self().Host, PID: 1 << 22, Start: "1"}})
	rep, err = sandbox.Prune(ctx, e.cli, sandbox.PruneOptions{Labels: e.labels})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Containers) != 1 || !strings.HasPrefix(rep.Containers[0], "replay-orphan") || len(rep.Kept) != 1 {
		t.Errorf("prune with a dead owner's sandbox: %+v", rep)
	}
	_ = dead
	// Another host's sandbox cannot be judged from here: kept.
	e.start(t, sandbox.Options{RunID: "elsewhere", Owner: sandbox.Owner{Host: "other-host", PID: 1}})
	rep, _ = sandbox.Prune(ctx, e.cli, sandbox.PruneOptions{Labels: e.labels, DryRun: true})
	if len(rep.Containers) != 0 || len(rep.Kept) != 2 {
		t.Errorf("dry run with another host's sandbox: %+v", rep)
	}
	rep, _ = sandbox.Prune(ctx, e.cli, sandbox.PruneOptions{Labels: e.labels, All: true, DryRun: true})
	if len(rep.Containers) != 2 {
		t.Errorf("--all would remove %v, want both", rep.Containers)
	}
}
