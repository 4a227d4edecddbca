package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/internal/fakemodel"
	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
	"github.com/docker/docker/api/types/image"
)

func linesWith(s, sub string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// The recorded image, when the daemon has it, is the sandbox's (the
// executor copied in as into any image); --image overrides it. The image
// here is the default sandbox image under a tag of this test's own,
// removed at the end (only the tag).
func TestRecordedImageIsUsed(t *testing.T) {
	env, flags := replayEnv(t)
	cli := sandboxtest.Docker(t)
	b := make([]byte, 4)
	rand.Read(b)
	tag := "replay-benchrun-test/sweb.eval.x86_64.acme_1776_calc-1:" + hex.EncodeToString(b)
	ctx := context.Background()
	if err := cli.ImageTag(ctx, sandbox.DefaultImage, tag); err != nil {
		t.Fatal(err)
	}
	// Only the tag goes: the image keeps its own tag, parents are not pruned.
	t.Cleanup(func() { cli.ImageRemove(context.Background(), tag, image.RemoveOptions{}) })
	repo, base := gitRepo(t)
	traj := sweAgentTraj(t, base, tag)
	world := []string{"--executor", flags[3], "--repo", repo}
	code, out, errs := runCLI(t, env, append([]string{flags[0], flags[1], "verify", traj}, world...)...)
	if code != 0 || !strings.Contains(errs, "the calls run in the run's recorded image "+tag) || !strings.Contains(out, "fidelity: 4 of 4 re-executed calls match") {
		t.Errorf("verify in the recorded image: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCLI(t, env, append([]string{flags[0], flags[1], "verify", traj, "--image", sandbox.DefaultImage}, world...)...)
	if code != 0 || strings.Contains(errs, tag) {
		t.Errorf("--image does not override the recorded image: exit %d\n%s\n%s", code, out, errs)
	}
}

// gitRepo builds a repository in the test: calc.py with a bug at the base
// commit, then a later commit (so that the checkout must be the recorded
// base commit, not the tip). It returns the directory and the base commit.
func gitRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			"GIT_AUTHOR_DATE=2025-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2025-01-02T03:04:05Z", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("calc.py", "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n")
	write("README.md", "# calc\n")
	git("add", ".")
	git("commit", "-q", "-m", "calc")
	base := git("rev-parse", "HEAD")
	write("calc.py", "def add(a, b):\n    return a + b  # fixed later\n")
	write("LATER.md", "not at the base commit\n")
	git("add", ".")
	git("commit", "-q", "-m", "later")
	return dir, base
}

// sweAgentTraj writes a SWE-agent 1.x trajectory (tool calls in history,
// raw observations in trajectory[], replay_config naming the base commit
// and a per-instance image) whose observations are what the harness
// showed: a shell listing, an editor view, an edit with its snippet, a
// grep, and submit.
func sweAgentTraj(t *testing.T, base, image string) string {
	t.Helper()
	calc := "/testbed/calc.py"
	type call struct{ name, args, obs string }
	calls := []call{
		{"bash", `{"command":"ls"}`, "README.md\ncalc.py"},
		{"str_replace_editor", `{"command":"view","path":"` + calc + `"}`,
			"Here's the result of running `cat -n` on " + calc + ":\n     1\tdef add(a, b):\n     2\t    return a - b\n     3\t\n     4\t\n     5\tdef sub(a, b):\n     6\t    return a - b\n     7\t\n"},
		{"str_replace_editor", `{"command":"str_replace","path":"` + calc + `","old_str":"def add(a, b):\n    return a - b","new_str":"def add(a, b):\n    return a + b"}`,
			"The file " + calc + " has been edited. Here's the result of running `cat -n` on a snippet of " + calc + ":\n     1\tdef add(a, b):\n     2\t    return a + b\n     3\t\n     4\t\n     5\tdef sub(a, b):\n     6\t    return a - b\n     7\t\nReview the changes and make sure they are as expected. Edit the file again if necessary."},
		{"bash", `{"command":"grep -n 'a + b' calc.py; cat nope.txt"}`, "2:    return a + b\ncat: can't open 'nope.txt': No such file or directory"},
		{"submit", `{}`, "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,5 +1,5 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"},
	}
	history := []map[string]any{
		{"role": "system", "content": "You are a software engineer fixing an issue in /testbed.", "agent": "main"},
		{"role": "user", "content": "add() subtracts. Fix it.", "agent": "main"},
	}
	var traj []map[string]any
	for i, c := range calls {
		id := "call_" + string(rune('a'+i))
		action := c.name + " " + c.args
		history = append(history,
			map[string]any{"role": "assistant", "content": "step " + string(rune('1'+i)), "agent": "main", "action": action,
				"tool_calls": []map[string]any{{"id": id, "type": "function", "function": map[string]any{"name": c.name, "arguments": c.args}}}},
			map[string]any{"role": "tool", "content": c.obs, "agent": "main", "tool_call_ids": []string{id}})
		traj = append(traj, map[string]any{"action": action, "observation": c.obs, "response": "", "thought": "",
			"state": map[string]any{"working_dir": "/testbed", "open_file": "n/a"}, "execution_time": 0.1})
	}
	doc := map[string]any{
		"environment": "main",
		"trajectory":  traj,
		"history":     history,
		"info":        map[string]any{"exit_status": "submitted", "submission": calls[4].obs, "model_stats": map[string]any{"instance_cost": 0.01, "tokens_sent": 1000, "tokens_received": 100, "api_calls": 5}},
		"replay_config": map[string]any{
			"env": map[string]any{
				"deployment": map[string]any{"image": image, "type": "docker"},
				"repo":       map[string]any{"repo_name": "testbed", "base_commit": base, "type": "preexisting"},
			},
			"agent":             map[string]any{"model": map[string]any{"name": "gpt-4o"}},
			"problem_statement": map[string]any{"id": "acme__calc-1"},
		},
	}
	b, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "acme__calc-1.traj.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A SWE-agent trajectory replays at its recorded base commit: verify
// re-executes the shell and editor calls in the sandbox and every one
// matches; submit is the harness's; the recorded image, absent from the
// daemon, is named with how to get it. Then a fork at step 6 with a
// scripted model replays the prefix from the recording and goes its own
// way.
func TestSWEAgentReplayAtBaseCommit(t *testing.T) {
	env, flags := replayEnv(t)
	repo, base := gitRepo(t)
	image := "swebench/sweb.eval.x86_64.acme_1776_calc-1-absent:latest"
	traj := sweAgentTraj(t, base, image)
	world := []string{"--executor", flags[3], "--repo", repo}

	code, out, errs := runCLI(t, env, append([]string{flags[0], flags[1], "verify", traj, "--json"}, world...)...)
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errs)
	}
	var v struct {
		Faithful bool           `json:"faithful"`
		Counts   map[string]int `json:"counts"`
		Commit   string         `json:"commit"`
		Calls    []struct {
			Tool     string `json:"tool"`
			Fidelity struct {
				Status string `json:"status"`
				Diff   string `json:"diff"`
			} `json:"fidelity"`
		} `json:"calls"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if !v.Faithful || v.Commit != base || v.Counts["match"] != 4 || v.Counts["harness"] != 1 || len(v.Counts) != 2 {
		t.Errorf("verify: faithful %v, commit %s (want %s), counts %v\n%s", v.Faithful, v.Commit, base, v.Counts, out)
	}
	if n := linesWith(errs, image); n != 1 || !strings.Contains(errs, "docker pull "+image) || !strings.Contains(errs, "--image IMAGE") || !strings.Contains(errs, "runs in the default image") && !strings.Contains(errs, "run in the default image") {
		t.Errorf("the missing recorded image is named on %d lines, want one notice with how to get it:\n%s", n, errs)
	}

	// The fork: steps 1-5 (the task, ls and the view) from the recording,
	// then the model edits sub() instead and stops.
	script := fakemodel.Script{{Answers: []fakemodel.Answer{
		{Content: "unused"}, {Content: "unused"},
		{ToolCalls: []fakemodel.ToolCall{{Name: "str_replace_editor", Arguments: json.RawMessage(`{"command":"str_replace","path":"/testbed/calc.py","old_str":"def sub(a, b):\n    return a - b","new_str":"def sub(a, b):\n    return b - a"}`)}}},
		{Content: "Done: I changed sub()."},
	}}}
	srv := httptest.NewServer(&fakemodel.Server{Script: script})
	defer srv.Close()
	env["OPENAI_API_KEY"] = "sk-test"
	diffOut := filepath.Join(t.TempDir(), "diff.md")
	code, out, errs = runCLI(t, env, append([]string{flags[0], flags[1], "run", traj, "--from-step", "6", "--model", "fake", "--base-url", srv.URL + "/v1", "--diff-out", diffOut}, world...)...)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "the model is offered replay's own definitions of bash, str_replace_editor") {
		t.Errorf("the fork does not offer the harness's own tools:\n%s", errs)
	}
	if !strings.Contains(out, "prefix reproduced: 5/5 steps") {
		t.Errorf("the fork's diff does not report the prefix reproduced:\n%s", out)
	}
	// The new patch (the workspace's diff at the end) is the fork's
	// decision, compared with the recorded submission.
	md, _ := os.ReadFile(diffOut)
	if !strings.Contains(string(md), "+    return b - a") || !strings.Contains(string(md), `\{&quot;files&quot;\:\[&quot;calc\.py&quot;\]\}`) {
		t.Errorf("the diff does not compare the fork's patch with the recorded one:\n%s", md)
	}
}

// openHandsOutput writes an OpenHands evaluation output record (JSON
// Lines: instance.repo and base_commit, the event history with each
// action's model response) with shell and editor calls at the base
// commit, their observations as OpenHands recorded them.
func openHandsOutput(t *testing.T, base string) string {
	t.Helper()
	dir := "/workspace/acme__calc"
	calc := dir + "/calc.py"
	type call struct {
		action, fn, args, obs string
		exit                  int
	}
	calls := []call{
		{"run", "execute_bash", `{"command": "ls"}`, "README.md\ncalc.py", 0},
		{"read", "str_replace_editor", `{"command": "view", "path": "` + calc + `", "view_range": [1, 2]}`,
			"Here's the result of running `cat -n` on " + calc + ":\n     1\tdef add(a, b):\n     2\t    return a - b\n", 0},
		{"edit", "str_replace_editor", `{"command": "str_replace", "path": "` + calc + `", "old_str": "    return a - b", "new_str": "    return a + b"}`,
			"ERROR:\nNo replacement was performed. Multiple occurrences of old_str `    return a - b` in lines [2, 6]. Please ensure it is unique.", 0},
		{"edit", "str_replace_editor", `{"command": "insert", "path": "` + calc + `", "insert_line": 6, "new_str": "\n\ndef mul(a, b):\n    return a * b"}`,
			"The file " + calc + " has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n     3\t\n     4\t\n     5\tdef sub(a, b):\n     6\t    return a - b\n     7\t\n     8\t\n     9\tdef mul(a, b):\n    10\t    return a * b\n    11\t\nReview the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary.", 0},
		{"run", "execute_bash", `{"command": "grep -c mul calc.py; grep -q nothing calc.py"}`, "1", 1},
	}
	events := []map[string]any{
		{"id": 0, "source": "agent", "action": "system", "args": map[string]any{"content": "You are OpenHands agent."}},
		{"id": 1, "source": "user", "action": "message", "args": map[string]any{"content": "add() subtracts. Fix it."}},
	}
	id := 2
	for i, c := range calls {
		tcID := "toolu_" + string(rune('a'+i))
		meta := map[string]any{"function_name": c.fn, "tool_call_id": tcID, "total_calls_in_response": 1,
			"model_response": map[string]any{"id": "resp-" + tcID, "model": "gpt-4o", "choices": []map[string]any{{"finish_reason": "tool_calls",
				"message": map[string]any{"role": "assistant", "content": "", "tool_calls": []map[string]any{{"id": tcID, "type": "function", "function": map[string]any{"name": c.fn, "arguments": c.args}}}}}},
				"usage": map[string]any{"prompt_tokens": 100, "completion_tokens": 10}}}
		events = append(events,
			map[string]any{"id": id, "source": "agent", "action": c.action, "args": map[string]any{"thought": ""}, "tool_call_metadata": meta},
			map[string]any{"id": id + 1, "source": "agent", "cause": id, "observation": c.action, "content": c.obs, "tool_call_metadata": meta,
				"extras": map[string]any{"metadata": map[string]any{"exit_code": c.exit, "working_dir": dir}}})
		id += 2
	}
	finish := map[string]any{"function_name": "finish", "tool_call_id": "toolu_z", "total_calls_in_response": 1,
		"model_response": map[string]any{"id": "resp-z", "model": "gpt-4o", "choices": []map[string]any{{"finish_reason": "tool_calls",
			"message": map[string]any{"role": "assistant", "content": "Added mul.", "tool_calls": []map[string]any{{"id": "toolu_z", "type": "function", "function": map[string]any{"name": "finish", "arguments": `{}`}}}}}}}}
	events = append(events, map[string]any{"id": id, "source": "agent", "action": "finish", "args": map[string]any{"final_thought": "Added mul."}, "tool_call_metadata": finish})
	rec := map[string]any{"instance_id": "acme__calc-1", "instance": map[string]any{"repo": "acme/calc", "base_commit": base, "instance_id": "acme__calc-1"},
		"instruction": "add() subtracts. Fix it.", "metadata": map[string]any{"agent_class": "CodeActAgent", "llm_config": map[string]any{"model": "gpt-4o"}},
		"history": events, "metrics": map[string]any{"accumulated_cost": 0.01}, "test_result": map[string]any{"git_patch": "diff --git a/calc.py b/calc.py\n"}}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "output.jsonl")
	if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// An OpenHands evaluation record replays at its base commit too: the
// repository placed at the shell's recorded working directory, the shell
// and editor calls (a ranged view, an edit refused for several matches, an
// insert, a command exiting 1) matching, finish the harness's.
func TestOpenHandsReplayAtBaseCommit(t *testing.T) {
	env, flags := replayEnv(t)
	repo, base := gitRepo(t)
	out := openHandsOutput(t, base)
	code, stdout, errs := runCLI(t, env, flags[0], flags[1], "verify", out, "--json", "--executor", flags[3], "--repo", repo)
	var v struct {
		Faithful bool           `json:"faithful"`
		Counts   map[string]int `json:"counts"`
		Commit   string         `json:"commit"`
	}
	json.Unmarshal([]byte(stdout), &v)
	if code != 0 || !v.Faithful || v.Commit != base || v.Counts["match"] != 5 || v.Counts["harness"] != 1 || len(v.Counts) != 2 {
		t.Errorf("verify: exit %d, %+v\n%s\n%s", code, v, stdout, errs)
	}
}
