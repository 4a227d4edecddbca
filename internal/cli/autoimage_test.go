package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/agentreplay/replay/sandbox/sandboxtest"
)

// TestVerifyImageAuto: --image auto builds the repository's Dockerfile
// (from local material: FROM the sandbox image) and runs the tools there,
// so a recorded call that needs what the Dockerfile installed matches.
func TestVerifyImageAuto(t *testing.T) {
	env, flags := replayEnv(t)
	cli := sandboxtest.Docker(t)
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	repo := filepath.Join(t.TempDir(), "proj")
	os.MkdirAll(repo, 0o755)
	gitIn(t, repo, at.Format(time.RFC3339), "init", "-q", "-b", "main")
	nonce := time.Now().Format("150405.000000000")
	os.WriteFile(filepath.Join(repo, "Dockerfile"), []byte("FROM replay-sandbox:latest\nUSER root\nRUN mkdir -p /opt && echo made-by-the-dockerfile-"+nonce+" > /opt/marker\nUSER 1000\n"), 0o644)
	gitIn(t, repo, at.Add(-time.Hour).Format(time.RFC3339), "add", "-A")
	gitIn(t, repo, at.Add(-time.Hour).Format(time.RFC3339), "commit", "-qm", "one")
	lines := []string{
		claudeLine(t, at, "u0", "", map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": "What does the marker say?"}}),
		claudeLine(t, at, "a1", "u0", map[string]any{"type": "assistant", "message": map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content": []any{map[string]any{"type": "tool_use", "id": "toolu_cat", "name": "Bash", "input": map[string]any{"command": "cat /opt/marker", "description": "Read it"}}},
			"usage":   map[string]any{"input_tokens": 10, "output_tokens": 5}}}),
		claudeLine(t, at, "u1", "a1", map[string]any{"type": "user",
			"message":       map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_cat", "content": "made-by-the-dockerfile-" + nonce}}},
			"toolUseResult": map[string]any{"stdout": "made-by-the-dockerfile-" + nonce, "stderr": "", "interrupted": false, "isImage": false}}),
		claudeLine(t, at, "a2", "u1", map[string]any{"type": "assistant", "message": map[string]any{"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content": []any{map[string]any{"type": "text", "text": "It was made by the Dockerfile."}}, "usage": map[string]any{"input_tokens": 10, "output_tokens": 3}}}),
	}
	tr := filepath.Join(t.TempDir(), "session.jsonl")
	if err := os.WriteFile(tr, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, env, flags[0], flags[1], "verify", tr, flags[2], flags[3], "--repo", repo, "--image", "auto")
	if m := regexp.MustCompile(`--image auto: (replay-auto:[0-9a-f]+)`).FindStringSubmatch(errs); m != nil {
		t.Cleanup(func() { cli.ImageRemove(context.Background(), m[1], image.RemoveOptions{PruneChildren: true}) })
	}
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "(Dockerfile Dockerfile, built)") || !strings.Contains(out, "1 of 1 re-executed calls match") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errs)
	}
}
