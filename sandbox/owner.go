package sandbox

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Every sandbox carries its owner — the replay process that started it —
// in its labels, so that prune can tell a leftover (its owner is gone)
// from another replay's live sandbox.
const (
	LabelOwnerHost  = "io.replay.owner.host"  // hostname of the owner
	LabelOwnerPID   = "io.replay.owner.pid"   // its process id
	LabelOwnerStart = "io.replay.owner.start" // its start time (clock ticks since boot, Linux), against pid reuse
)

// Owner is a process that owns sandboxes.
type Owner struct {
	Host  string
	PID   int
	Start string // "" where the platform does not tell
}

// Self is the calling process as an owner.
func Self() Owner {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return Owner{Host: host, PID: pid, Start: processStart(pid)}
}

func (o Owner) labels() map[string]string {
	return map[string]string{LabelOwnerHost: o.Host, LabelOwnerPID: strconv.Itoa(o.PID), LabelOwnerStart: o.Start}
}

// ownerOf reads the owner from a sandbox's labels (ok is false when it has
// none: a sandbox of an older replay).
func ownerOf(labels map[string]string) (Owner, bool) {
	pid, err := strconv.Atoi(labels[LabelOwnerPID])
	if err != nil || labels[LabelOwnerHost] == "" {
		return Owner{}, false
	}
	return Owner{Host: labels[LabelOwnerHost], PID: pid, Start: labels[LabelOwnerStart]}, true
}

// Liveness of a sandbox's owner, as seen from this host.
const (
	OwnerAlive   = "alive"   // the owning replay is running: not a leftover
	OwnerGone    = "gone"    // the owning replay ended without removing it
	OwnerUnknown = "unknown" // another host's replay, which this host cannot check
)

// liveness says whether the owner is still running, seen from self.
func liveness(o Owner, ok bool, self Owner) string {
	if !ok {
		return OwnerGone // no owner recorded: an older replay's leftover
	}
	if o.Host != self.Host {
		return OwnerUnknown
	}
	if o.PID == self.PID && o.Start == self.Start {
		return OwnerAlive
	}
	if err := syscall.Kill(o.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return OwnerGone
	}
	if o.Start != "" {
		if now := processStart(o.PID); now != "" && now != o.Start {
			return OwnerGone // the pid was reused by another process
		}
	}
	return OwnerAlive
}

// processStart is a process's start time from /proc/PID/stat (field 22),
// "" where there is no /proc.
func processStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	// After the command name: state is field 3, starttime field 22.
	if len(f) < 20 {
		return ""
	}
	return f[19]
}
