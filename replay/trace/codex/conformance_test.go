package codex

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// TestCorpus imports the real rollouts of the corpus. The one stored is the
// head of a Codex 0.77.0 session (truncated by its author before any model
// call); its counts were read with:
//
//	jq -c '{type, pt: .payload.type, role: .payload.role}' cctranscripts__sample_codex_session.jsonl
//
// 1 session_meta (cli_version 0.77.0, cwd, "instructions"), 3 user
// response items (AGENTS.md and <environment_context>, both injected by
// Codex, then the user's question), 1 event_msg user_message repeating the
// question, 6 turn_context (model gpt-5.2-codex), no response and no
// token_count.
func TestCorpus(t *testing.T) {
	dir := testutil.RequireCorpus(t, "codex")
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) == 0 {
		t.Skipf("no rollouts in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			run, sum := testutil.ImportFile(t, Format{}, f)
			if run.Meta.Format != Name || run.Meta.Session == "" {
				t.Errorf("meta: format %q session %q", run.Meta.Format, run.Meta.Session)
			}
			if len(sum.Warnings) != 0 {
				t.Errorf("warnings on a real rollout: %q", sum.Warnings)
			}
		})
	}
	f := filepath.Join(dir, "cctranscripts__sample_codex_session.jsonl")
	if _, err := os.Stat(f); err != nil {
		return
	}
	run, sum := testutil.ImportFile(t, Format{}, f)
	if sum.LLMCalls != 0 || sum.ToolCalls != 0 || len(run.Steps) != 3 {
		t.Errorf("%d llm calls, %d tool calls, %d steps; want 0, 0, 3 (two injected user items and the question)", sum.LLMCalls, sum.ToolCalls, len(run.Steps))
	}
	var meta, user int
	for _, s := range run.Steps {
		if s.Message == nil {
			continue
		}
		if s.Message.Meta {
			meta++
		} else {
			user++
		}
	}
	if meta != 2 || user != 1 {
		t.Errorf("%d meta and %d user messages, want 2 and 1", meta, user)
	}
	m := run.Meta
	if m.Session != "019b64e5-57fa-7463-b644-fba7e456f905" || m.Generator != "codex 0.77.0" || m.Defaults.Model != "gpt-5.2-codex" ||
		m.Defaults.Provider != "openai" || m.Refs.Cwd == nil || m.Refs.Cwd.Value != "/Users/macmini/Code/homelab-migration" || m.Instr.System == "" {
		t.Errorf("meta = %+v", m)
	}
	if !sum.Replay.OK || sum.Status != trace.StatusUnknown {
		t.Errorf("replayable %v %v, status %q: the user's question is there to start from, and no turn ended", sum.Replay.OK, sum.Replay.Reasons, sum.Status)
	}
}
