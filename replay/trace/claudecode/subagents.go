package claudecode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// agentFile is a sub-agent transcript imported as a child run.
type agentFile struct {
	id, path      string
	prompt        string // the sub-agent's first user message
	toolUseID     string // from agent-<id>.meta.json: the Task call that started it
	agentType     string // from the meta file
	parentAgentID string // from the meta file, for nested sub-agents
	workflow      bool   // under subagents/workflows/: started by no tool call
	claimed       bool
	run           *runState
}

type agentSet struct {
	files  []*agentFile
	byID   map[string]*agentFile
	byCall map[string]*agentFile
}

// DiscoverSubagents lists the sub-agent transcripts Claude Code wrote beside
// a session transcript: <dir>/<session>/subagents/agent-*.jsonl and
// <dir>/<session>/subagents/workflows/*/agent-*.jsonl, sorted.
func DiscoverSubagents(path string) []string {
	dir := strings.TrimSuffix(path, filepath.Ext(path))
	if dir == path {
		return nil
	}
	sub := filepath.Join(dir, "subagents")
	a, _ := filepath.Glob(filepath.Join(sub, "agent-*.jsonl"))
	b, _ := filepath.Glob(filepath.Join(sub, "workflows", "*", "agent-*.jsonl"))
	files := append(a, b...)
	slices.Sort(files)
	return files
}

// agentIDOf derives the agent id from a sub-agent file name: agent-<id>.jsonl,
// or the factory's flattened <agent>-agent-<id>.jsonl.
func agentIDOf(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".jsonl")
	for j := 0; j+len("agent-") <= len(base); j++ {
		if strings.HasPrefix(base[j:], "agent-") && (j == 0 || base[j-1] == '-') {
			return base[j+len("agent-"):]
		}
	}
	return base
}

var errStop = errors.New("stop")

// prepareAgents reads the head and the meta file of every sub-agent file and
// declares (without emitting) its run, so that Task calls can be linked to it
// while the parent transcript is read.
func (im *importer) prepareAgents(ctx context.Context, files []string, root *runState) error {
	for _, p := range files {
		a := &agentFile{id: agentIDOf(p), path: p, workflow: strings.Contains(filepath.ToSlash(p), "/workflows/")}
		if b, err := os.ReadFile(strings.TrimSuffix(p, ".jsonl") + ".meta.json"); err == nil {
			var meta struct {
				AgentType     string `json:"agentType"`
				ToolUseID     string `json:"toolUseId"`
				ParentAgentID string `json:"parentAgentId"`
			}
			if json.Unmarshal(b, &meta) == nil {
				a.agentType, a.toolUseID, a.parentAgentID = meta.AgentType, meta.ToolUseID, meta.ParentAgentID
			}
		}
		if err := im.agentHead(ctx, a); err != nil {
			return err
		}
		if im.agents.byID[a.id] != nil {
			im.warnings = append(im.warnings, trace.Warning{File: p, Message: fmt.Sprintf("a second transcript of sub-agent %q; ignored", a.id)})
			continue
		}
		key := im.childKey("agent-" + a.id)
		if im.runs[key] != nil {
			continue
		}
		a.run = im.newRun(key, root.meta.Key, p)
		switch {
		case a.agentType != "":
			a.run.meta.Agent = a.agentType
		case strings.HasPrefix(a.id, "acompact"):
			a.run.meta.Agent = "compact"
		}
		if a.parentAgentID != "" {
			a.run.meta.Parent = im.childKey("agent-" + a.parentAgentID)
		}
		im.agents.files = append(im.agents.files, a)
		im.agents.byID[a.id] = a
		if a.toolUseID != "" {
			im.agents.byCall[a.toolUseID] = a
		}
	}
	return nil
}

// agentHead reads the first user record of a sub-agent file: its agentId and
// prompt.
func (im *importer) agentHead(ctx context.Context, a *agentFile) error {
	f, err := os.Open(a.path)
	if err != nil {
		return fmt.Errorf("import %q: %w", a.path, err)
	}
	defer f.Close()
	var rec record
	sawID := false
	err = trace.ScanLines(ctx, f, a.path, trace.Options{Lenient: true}, func(trace.Warning) {}, func(n int, b []byte) error {
		if decodeRecord(b, &rec) != nil {
			return nil // reported when the file is imported
		}
		if rec.AgentID != "" && !sawID {
			a.id, sawID = rec.AgentID, true
		}
		if rec.Type == "user" {
			a.prompt = promptText(&rec)
			return errStop
		}
		if n >= 64 {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	return nil
}

// importAgents imports every sub-agent file as its run.
func (im *importer) importAgents(ctx context.Context) error {
	for _, a := range im.agents.files {
		if err := im.importFile(ctx, &fileCtx{path: a.path, root: a.run, subagent: true}); err != nil {
			return err
		}
		if !a.claimed && !a.workflow && a.run.meta.Agent != "compact" && a.parentAgentID == "" {
			im.warnings = append(im.warnings, trace.Warning{File: a.path, Message: "sub-agent transcript matches no Task call of its parent; attached to the main run"})
		}
	}
	return nil
}
