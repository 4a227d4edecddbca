package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gitIn runs git in dir at a fixed date, blind to the user's config.
func gitIn(t *testing.T, dir, date string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada",
		"GIT_COMMITTER_EMAIL=ada@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// claudeLine is one Claude Code transcript record.
func claudeLine(t *testing.T, at time.Time, uuid, parent string, rec map[string]any) string {
	base := map[string]any{"isSidechain": false, "userType": "external", "cwd": "/work/proj", "sessionId": "22222222-2222-4222-8222-222222222222",
		"version": "2.1.90", "gitBranch": "main", "uuid": uuid, "timestamp": at.Format(time.RFC3339Nano)}
	if parent != "" {
		base["parentUuid"] = parent
	}
	for k, v := range rec {
		base[k] = v
	}
	b, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVerifyFindsTheCommitTheAgentRead is the trace users actually have:
// a Claude Code transcript with no commit, whose author committed the tree
// the agent read only after the run, with one file never committed as the
// agent saw it. verify finds the commit by the recorded reads, names the
// uncommitted file; with --overlay-recorded it reproduces every call.
func TestVerifyFindsTheCommitTheAgentRead(t *testing.T) {
	env, flags := replayEnv(t)
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return at.Add(d).Format(time.RFC3339) }
	repo := filepath.Join(t.TempDir(), "proj")
	os.MkdirAll(repo, 0o755)
	gitIn(t, repo, date(0), "init", "-q", "-b", "main")
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app.py", "print('v1')\n")
	write("notes.md", "notes\n")
	gitIn(t, repo, date(-24*time.Hour), "add", "-A")
	gitIn(t, repo, date(-24*time.Hour), "commit", "-q", "-m", "v1")
	write("app.py", "import os\nprint('v2')\n")
	gitIn(t, repo, date(time.Hour), "commit", "-q", "-am", "v2, committed after the run")
	after := gitIn(t, repo, date(0), "rev-parse", "HEAD")

	readCall := func(n int, id, file, content string) []string {
		var numbered []string
		for i, l := range strings.Split(content, "\n") {
			numbered = append(numbered, strings.Join([]string{strconv.Itoa(i + 1), l}, "\t"))
		}
		u, a := "u"+strconv.Itoa(n), "a"+strconv.Itoa(n)
		prev := "u" + strconv.Itoa(n-1)
		return []string{
			claudeLine(t, at.Add(time.Duration(n)*time.Second), a, prev, map[string]any{"type": "assistant", "message": map[string]any{
				"id": "msg_" + id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
				"content": []any{map[string]any{"type": "tool_use", "id": id, "name": "Read", "input": map[string]any{"file_path": "/work/proj/" + file}}},
				"usage":   map[string]any{"input_tokens": 10, "output_tokens": 5}}}),
			claudeLine(t, at.Add(time.Duration(n)*time.Second+time.Millisecond), u, a, map[string]any{"type": "user",
				"message": map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": id, "content": strings.Join(numbered, "\n")}}},
				"toolUseResult": map[string]any{"type": "text", "file": map[string]any{"filePath": "/work/proj/" + file, "content": content,
					"numLines": len(numbered), "startLine": 1, "totalLines": len(numbered)}}}),
		}
	}
	lines := []string{claudeLine(t, at, "u0", "", map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": "Review app.py"}})}
	lines = append(lines, readCall(1, "toolu_app", "app.py", "import os\nprint('v2')")...)
	lines = append(lines, readCall(2, "toolu_notes", "notes.md", "notes\nand a line never committed")...)
	// git status in the sandbox: the workspace is a checkout, and the
	// overlaid file shows as the author's uncommitted change.
	lines = append(lines,
		claudeLine(t, at.Add(3*time.Second), "a3b", "u2", map[string]any{"type": "assistant", "message": map[string]any{
			"id": "msg_git", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content": []any{map[string]any{"type": "tool_use", "id": "toolu_git", "name": "Bash", "input": map[string]any{"command": "git status --short", "description": "Status"}}},
			"usage":   map[string]any{"input_tokens": 10, "output_tokens": 5}}}),
		claudeLine(t, at.Add(3*time.Second+time.Millisecond), "u3", "a3b", map[string]any{"type": "user",
			"message":       map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_git", "content": " M notes.md", "is_error": false}}},
			"toolUseResult": map[string]any{"stdout": " M notes.md", "stderr": "", "interrupted": false, "isImage": false}}))
	lines = append(lines, claudeLine(t, at.Add(5*time.Second), "a3", "u3", map[string]any{"type": "assistant", "message": map[string]any{
		"id": "msg_end", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
		"content": []any{map[string]any{"type": "text", "text": "Looks fine."}}, "usage": map[string]any{"input_tokens": 10, "output_tokens": 3}}}))
	tr := filepath.Join(t.TempDir(), "session.jsonl")
	if err := os.WriteFile(tr, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// flags: --home H --executor E --repo … --github-fixture …; keep the
	// home and the executor, give this test's repository.
	verify := func(extra ...string) (int, string, string) {
		args := append([]string{flags[0], flags[1], "verify", tr, flags[2], flags[3], "--repo", repo}, extra...)
		return runCLI(t, env, args...)
	}
	code, out, errs := verify()
	if code != ExitCheckFailed {
		t.Fatalf("verify without the overlay: exit %d, want %d (notes.md differs)\n%s\n%s", code, ExitCheckFailed, out, errs)
	}
	for _, want := range []string{
		"world: commit " + after[:12] + ": search, reproduces 1 of 2 recorded reads (searched 2 commits",
		"uncommitted in the original tree: notes.md",
		"--overlay-recorded",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errs)
		}
	}
	t.Logf("without the overlay:\n%s\n%s", out, errs)
	if !strings.Contains(out, "1 of 3 re-executed calls match") {
		t.Errorf("want app.py to match at the searched commit:\n%s", out)
	}

	code, out, errs = verify("--overlay-recorded")
	if code != 0 {
		t.Fatalf("verify --overlay-recorded: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "world: overlaid notes.md with its recorded content") || !strings.Contains(out, "3 of 3 re-executed calls match") {
		t.Errorf("overlay not reported or not reproducing:\n%s\n%s", out, errs)
	}

	// replay world fetch chooses the same commit by the same reads (a
	// fresh cache: nothing is kept from the verify).
	fresh := map[string]string{}
	for k, v := range env {
		fresh[k] = v
	}
	fresh["REPLAY_CACHE"] = t.TempDir()
	code, out, errs = runCLI(t, fresh, flags[0], flags[1], "world", "fetch", tr, "--repo", repo)
	if code != 0 {
		t.Fatalf("world fetch: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "world: commit "+after[:12]+": search, reproduces 1 of 2 recorded reads") || !strings.Contains(out, after[:12]) {
		t.Errorf("world fetch did not search by the reads:\n%s\n%s", out, errs)
	}
}

// TestVerifyThatChecksNothingIsNotAPass: a verify that re-executed no call,
// or ran its calls in an empty workspace because the trace names no
// repository, says what it could not check and exits 3, never 0.
func TestVerifyThatChecksNothingIsNotAPass(t *testing.T) {
	env, flags := replayEnv(t)
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	assistant := func(uuid, parent string, content ...any) string {
		return claudeLine(t, at, uuid, parent, map[string]any{"type": "assistant", "message": map[string]any{
			"id": "msg_" + uuid, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": content,
			"usage": map[string]any{"input_tokens": 10, "output_tokens": 5}}})
	}
	user := claudeLine(t, at, "u0", "", map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": "Say hi"}})
	text := map[string]any{"type": "text", "text": "hi"}
	bash := map[string]any{"type": "tool_use", "id": "toolu_echo", "name": "Bash", "input": map[string]any{"command": "echo hi", "description": "Say hi"}}
	result := claudeLine(t, at, "u1", "a1", map[string]any{"type": "user",
		"message":       map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_echo", "content": "hi"}}},
		"toolUseResult": map[string]any{"stdout": "hi", "stderr": "", "interrupted": false, "isImage": false}})
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"no call re-executed", []string{user, assistant("a1", "u0", text)}, "no tool call was re-executed"},
		{"no repository", []string{user, assistant("a1", "u0", bash), result, assistant("a2", "u1", text)}, "the trace names no repository: the calls ran in an empty workspace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := filepath.Join(t.TempDir(), "session.jsonl")
			if err := os.WriteFile(tr, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCLI(t, env, flags[0], flags[1], "verify", tr, flags[2], flags[3], "--json")
			if code != ExitIncomplete || !strings.Contains(errs, "verify is incomplete: "+tc.want) {
				t.Fatalf("exit %d, want %d saying %q\n%s\n%s", code, ExitIncomplete, tc.want, out, errs)
			}
			var v struct {
				Faithful   bool   `json:"faithful"`
				Incomplete string `json:"incomplete"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || v.Faithful || !strings.HasPrefix(v.Incomplete, tc.want) {
				t.Errorf("--json: faithful %v, incomplete %q (%v)", v.Faithful, v.Incomplete, err)
			}
		})
	}
}

// TestVerifyNamesAProgramTheImageLacks: a recorded `rg` the default image
// does not have is an environment row naming it, verify exits 3 (not 1:
// the world may well be right) and says which flag runs it elsewhere.
func TestVerifyNamesAProgramTheImageLacks(t *testing.T) {
	env, flags := replayEnv(t)
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	repo := filepath.Join(t.TempDir(), "proj")
	os.MkdirAll(repo, 0o755)
	gitIn(t, repo, at.Format(time.RFC3339), "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "a.txt"), []byte("needle\n"), 0o644)
	gitIn(t, repo, at.Add(-time.Hour).Format(time.RFC3339), "add", "-A")
	gitIn(t, repo, at.Add(-time.Hour).Format(time.RFC3339), "commit", "-qm", "one")
	lines := []string{
		claudeLine(t, at, "u0", "", map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": "Find the needle"}}),
		claudeLine(t, at, "a1", "u0", map[string]any{"type": "assistant", "message": map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content": []any{map[string]any{"type": "tool_use", "id": "toolu_rg", "name": "Bash", "input": map[string]any{"command": "rg -l needle", "description": "Search"}}},
			"usage":   map[string]any{"input_tokens": 10, "output_tokens": 5}}}),
		claudeLine(t, at, "u1", "a1", map[string]any{"type": "user",
			"message":       map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_rg", "content": "a.txt"}}},
			"toolUseResult": map[string]any{"stdout": "a.txt", "stderr": "", "interrupted": false, "isImage": false}}),
		claudeLine(t, at, "a2", "u1", map[string]any{"type": "assistant", "message": map[string]any{"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content": []any{map[string]any{"type": "text", "text": "In a.txt."}}, "usage": map[string]any{"input_tokens": 10, "output_tokens": 3}}}),
	}
	tr := filepath.Join(t.TempDir(), "session.jsonl")
	if err := os.WriteFile(tr, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, env, flags[0], flags[1], "verify", tr, flags[2], flags[3], "--repo", repo)
	if code != ExitIncomplete {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitIncomplete, out, errs)
	}
	if !strings.Contains(out, "environment: not in the sandbox's image: rg (pass --image") || !strings.Contains(out, "1 differ by the environment") {
		t.Errorf("the report does not name the missing program:\n%s", out)
	}
	if !strings.Contains(errs, "ran a program the sandbox's image lacks") {
		t.Errorf("stderr: %s", errs)
	}
}

// TestVerifyAnswersAnAbortedWriteAsRecorded: the user aborted a Write at
// the permission prompt; verify does not execute it (the later `ls` shows
// no new file, as it showed the agent), reports it as the harness's, and
// passes.
func TestVerifyAnswersAnAbortedWriteAsRecorded(t *testing.T) {
	env, flags := replayEnv(t)
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	repo := filepath.Join(t.TempDir(), "proj")
	os.MkdirAll(repo, 0o755)
	gitIn(t, repo, at.Format(time.RFC3339), "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "a.txt"), []byte("one\n"), 0o644)
	gitIn(t, repo, at.Add(-time.Hour).Format(time.RFC3339), "add", "-A")
	gitIn(t, repo, at.Add(-time.Hour).Format(time.RFC3339), "commit", "-qm", "one")
	call := func(uuid, parent, id, name string, input map[string]any) string {
		return claudeLine(t, at, uuid, parent, map[string]any{"type": "assistant", "message": map[string]any{"id": "msg_" + uuid, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content": []any{map[string]any{"type": "tool_use", "id": id, "name": name, "input": input}}, "usage": map[string]any{"input_tokens": 10, "output_tokens": 5}}})
	}
	result := func(uuid, parent, id, content string, isErr bool, tur any) string {
		return claudeLine(t, at, uuid, parent, map[string]any{"type": "user", "toolUseResult": tur,
			"message": map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": id, "content": content, "is_error": isErr}}}})
	}
	lines := []string{
		claudeLine(t, at, "u0", "", map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": "Write b.txt"}}),
		call("a1", "u0", "toolu_w", "Write", map[string]any{"file_path": "/work/proj/b.txt", "content": "two\n"}),
		result("u1", "a1", "toolu_w", "Permission prompt was aborted.", true, "Error: Permission prompt was aborted."),
		call("a2", "u1", "toolu_ls", "Bash", map[string]any{"command": "ls", "description": "List"}),
		result("u2", "a2", "toolu_ls", "a.txt", false, map[string]any{"stdout": "a.txt", "stderr": "", "interrupted": false, "isImage": false}),
		claudeLine(t, at, "a3", "u2", map[string]any{"type": "assistant", "message": map[string]any{"id": "msg_3", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content": []any{map[string]any{"type": "text", "text": "Not written."}}, "usage": map[string]any{"input_tokens": 10, "output_tokens": 3}}}),
	}
	tr := filepath.Join(t.TempDir(), "session.jsonl")
	if err := os.WriteFile(tr, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, env, flags[0], flags[1], "verify", tr, flags[2], flags[3], "--repo", repo)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"Write  /work/proj/b.txt  harness: the agent's harness answered in the original (permission-aborted)", "1 of 1 re-executed calls match", "1 answered by the agent's harness"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
