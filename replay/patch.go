package replay

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/sweagent"
	"github.com/agentreplay/replay/sandbox"
)

// PatchSource is where a new run's patch decision comes from.
const PatchSource = "the workspace's git diff at the end of the run"

// workspacePatch is the new run's patch when the original's decision is
// one (a benchmark harness's submission: SWE-agent's info.submission,
// OpenHands' git_patch): the repository's diff in the workspace at the end,
// new files included, as the harnesses take it (git add -A, git diff
// --cached). Nil when the original's decision is not a patch, no sandbox
// ran, or the workspace holds no git repository.
func (e *engine) workspacePatch(ctx context.Context, orig *trace.Run) (string, *trace.Decision) {
	ws := e.cfg.Workspace
	if ws == nil || orig == nil || orig.Outcome == nil || orig.Outcome.Decision == nil || orig.Outcome.Decision.Kind != "patch" {
		return "", nil
	}
	dir := "."
	if c := orig.Meta.Refs.Cwd; c != nil && strings.HasPrefix(c.Value, "/") {
		dir = c.Value
	}
	script := "cd '" + strings.ReplaceAll(dir, "'", `'\''`) + "' && git add -A >/dev/null 2>&1 && git -c core.quotepath=off diff --cached --no-color --no-ext-diff"
	args, _ := json.Marshal(map[string]string{"command": script})
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	res, err := ws.Exec(rctx, sandbox.ToolCall{ID: "replay-patch", Name: "bash", Arguments: args})
	if err != nil || res.ExitCode == nil || *res.ExitCode != 0 {
		return "", nil
	}
	patch := res.Output
	if patch != "" {
		patch += "\n"
	}
	files := sweagent.PatchFiles(patch)
	v, _ := json.Marshal(struct {
		Files []string `json:"files"`
	}{files})
	return patch, &trace.Decision{Kind: "patch", Source: PatchSource, Value: v}
}
