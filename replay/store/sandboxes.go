package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// The store notes the sandboxes its replays start, so that the run id of a
// replay killed outright (it could not remove its sandbox) can be found:
// `replay sandbox prune` names them. A note is a small file under
// sandboxes/, written before the sandbox starts and removed with it.

// SandboxRecord is one sandbox a replay started.
type SandboxRecord struct {
	Run     string    `json:"run"`   // the sandbox's run id (label io.replay.run)
	Trace   string    `json:"trace"` // the trace it replays
	PID     int       `json:"pid"`   // the replay process
	Started time.Time `json:"started"`
}

// SandboxNote removes its record when the sandbox is gone.
type SandboxNote struct{ path string }

// Done removes the record.
func (n SandboxNote) Done() {
	if n.path != "" {
		os.Remove(n.path)
	}
}

func (s *Store) sandboxDir() string { return filepath.Join(s.root, "sandboxes") }

// NoteSandbox records a sandbox about to start.
func (s *Store) NoteSandbox(r SandboxRecord) (SandboxNote, error) {
	if err := os.MkdirAll(s.sandboxDir(), 0o755); err != nil {
		return SandboxNote{}, fmt.Errorf("note sandbox %s: %w", r.Run, err)
	}
	b, _ := json.Marshal(r)
	p := filepath.Join(s.sandboxDir(), r.Run+".json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return SandboxNote{}, fmt.Errorf("note sandbox %s: %w", r.Run, err)
	}
	return SandboxNote{path: p}, nil
}

// Sandboxes lists the sandboxes noted and not yet removed, oldest first:
// those of running replays, and those killed replays left.
func (s *Store) Sandboxes() ([]SandboxRecord, error) {
	ents, err := os.ReadDir(s.sandboxDir())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []SandboxRecord
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.sandboxDir(), e.Name()))
		if err != nil {
			continue
		}
		var r SandboxRecord
		if json.Unmarshal(b, &r) == nil && r.Run != "" {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// ForgetSandbox removes the record of a sandbox that is gone.
func (s *Store) ForgetSandbox(run string) error {
	err := os.Remove(filepath.Join(s.sandboxDir(), filepath.Base(run)+".json"))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
