package replay

import (
	"encoding/json"
	"testing"

	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/executor"
)

func TestDefaultPolicies(t *testing.T) {
	bash := func(cmd string) json.RawMessage {
		b, _ := json.Marshal(map[string]string{"command": cmd})
		return b
	}
	tests := []struct {
		name string
		args json.RawMessage
		want Policy
	}{
		{"Read", json.RawMessage(`{"file_path":"/w/a.go"}`), Exec},
		{"Edit", nil, Exec},
		{"Grep", nil, Exec},
		{"Bash", bash("go test ./... && ls -la | wc -l"), Exec},
		{"Bash", bash("git diff main...HEAD"), Exec},
		{"Bash", bash("git log --oneline -5"), Exec},
		{"Bash", bash("gh pr diff 42"), Recorded},
		{"Bash", bash(`gh pr comment 42 --body "LGTM"`), Recorded},
		{"Bash", bash("cd /w && git push origin HEAD"), Recorded},
		{"Bash", bash("git -C /w push"), Recorded},
		{"Bash", bash("GH_TOKEN=x /usr/bin/gh api repos/a/b/pulls/1"), Recorded},
		{"Bash", bash("echo $(curl -s https://example.com)"), Recorded},
		{"Bash", bash("npm test"), Exec},
		{"Bash", bash("npm install left-pad"), Recorded},
		{"Bash", bash(`echo "gh is not run here; neither is curl"`), Exec},
		{"Bash", json.RawMessage(`{"command":["bash","-lc","git push"]}`), Recorded},
		{"Task", nil, Agent},
		{"Agent", nil, Agent},
		{"TodoWrite", nil, Recorded},
		{"WebFetch", nil, Recorded},
		{"mcp__github__create_review", nil, Recorded},
		{"SomethingNew", nil, Recorded},
	}
	ps := NewPolicySet(nil)
	for _, tt := range tests {
		got, why := ps.Decide(tt.name, tt.args)
		if got != tt.want || why == "" {
			t.Errorf("%s %s: got %s (%s), want %s", tt.name, tt.args, got, why, tt.want)
		}
	}
	ps = NewPolicySet(map[string]Policy{"Task": Recorded, "Bash": Deny})
	if p, why := ps.Decide("Task", nil); p != Recorded || why != "--tool-policy Task=recorded" {
		t.Errorf("override: %s %s", p, why)
	}
	if p, _ := ps.Decide("Bash", bash("ls")); p != Deny {
		t.Errorf("override Bash: %s", p)
	}
}

func TestParsePolicy(t *testing.T) {
	if p, err := ParsePolicy(" Recorded "); err != nil || p != Recorded {
		t.Errorf("got %s %v", p, err)
	}
	if _, err := ParsePolicy("run"); err == nil || err.Error() != `unknown tool policy "run": valid policies are exec, recorded, deny, agent` {
		t.Errorf("got %v", err)
	}
}

func TestCallKeyIgnoresKeyOrderAndSpace(t *testing.T) {
	a := callKey("Read", json.RawMessage(`{"file_path":"/a","limit":10}`))
	b := callKey("Read", json.RawMessage(` { "limit": 10, "file_path": "/a" } `))
	if a != b {
		t.Errorf("%q != %q", a, b)
	}
	if callKey("Read", json.RawMessage(`{"file_path":"/a"}`)) == callKey("Read", json.RawMessage(`{"file_path":"/b"}`)) {
		t.Error("different arguments, same key")
	}
	if callKey("Bash", json.RawMessage(`{"command":"gh pr diff 42","description":"Show the diff"}`)) != callKey("Bash", json.RawMessage(`{"command":"gh pr diff 42"}`)) {
		t.Error("a Bash description makes a different call")
	}
	if callKey("Read", nil) != callKey("Read", json.RawMessage(`{}`)) {
		t.Error("no arguments and {} differ")
	}
}

// TestOfferedToolsRunInTheSandbox: every tool a replay offers a model is one
// the sandbox implements, and the default policy runs it there. (The generic
// list_dir was once denied because the policy spelled it list_directory.)
func TestOfferedToolsRunInTheSandbox(t *testing.T) {
	offered := append(sandbox.ClaudeCodeTools(), sandbox.GenericTools()...)
	if len(offered) == 0 {
		t.Fatal("no tools offered")
	}
	ps := NewPolicySet(nil)
	for _, d := range offered {
		if _, ok := executor.LookupTool(d.Name); !ok {
			t.Errorf("%s is offered to models but the executor does not implement it", d.Name)
		}
		args := json.RawMessage(`{}`)
		if sandbox.IsShellTool(d.Name) {
			args = json.RawMessage(`{"command":"ls"}`)
		}
		if p, why := ps.Decide(d.Name, args); p != Exec {
			t.Errorf("%s is offered to models but its default policy is %s (%s), not exec", d.Name, p, why)
		}
	}
	// And the other way round: what only Claude Code implements is not sent
	// to the sandbox, which would fail every call.
	if p, why := ps.Decide("NotebookEdit", json.RawMessage(`{"notebook_path":"/w/a.ipynb","new_source":"x"}`)); p == Exec {
		t.Errorf("NotebookEdit runs in the sandbox (%s), which does not implement it", why)
	}
	if p, _ := ps.Decide("list_dir", json.RawMessage(`{"path":"."}`)); p != Exec {
		t.Errorf("list_dir: %s", p)
	}
}

// TestOutsideReachingCallsNeverRunForReal: a shell command line is judged
// by every command in it — after any separator a shell knows (|, ||, &&, ;,
// &, a newline, $(…), backquotes) — and in every form a trace records a
// shell call (Claude Code's string, Codex's argv and bash -lc script).
func TestOutsideReachingCallsNeverRunForReal(t *testing.T) {
	ps := NewPolicySet(nil)
	lines := []string{
		"cat review.md | curl -d @- https://example.com",
		"cat f |curl x",
		"ls || curl https://example.com",
		"true && gh pr comment 42 --body ok",
		"ls; git push origin main",
		"ls\ngit push",
		"sleep 1 & wget http://x",
		"echo `curl -s x`",
		"echo $(gh api repos/a/b)",
		"FOO=1 gh pr review 42 --approve",
		"sudo -E git push",
		"nohup ssh host true",
		"env GH_TOKEN=x gh pr merge 42",
		"/usr/bin/curl x",
		"git -C /w -c user.name=x push",
		"npm publish",
		"pip install requests",
		"docker run alpine",
		"kubectl apply -f x.yaml",
		"timeout 10 curl x",
		"xargs -n1 curl < urls.txt",
		"bash -c 'git push'",
		`sh -c "cat x | curl -d @- y"`,
		"eval 'gh pr comment 1'",
		"busybox sh -c 'wget x'",
		"nice -n 5 gh pr merge 1",
	}
	for _, line := range lines {
		args, _ := json.Marshal(map[string]string{"command": line})
		for _, tool := range []string{"Bash", "shell"} {
			if p, why := ps.Decide(tool, args); p == Exec {
				t.Errorf("%s %q runs in the sandbox (%s); it reaches outside", tool, line, why)
			}
		}
	}
	argv := [][]string{
		{"gh", "pr", "comment", "42", "--body", "x"},
		{"git", "push"},
		{"/usr/bin/git", "push", "--force"},
		{"bash", "-lc", "cd /w && git push"},
		{"/bin/sh", "-c", "cat x | curl -d @- y"},
		{"zsh", "-lc", "gh pr merge 1"},
		{"curl", "https://example.com"},
	}
	for _, a := range argv {
		args, _ := json.Marshal(map[string]any{"command": a})
		if p, why := ps.Decide("shell", args); p == Exec {
			t.Errorf("Codex shell %q runs in the sandbox (%s); it reaches outside", a, why)
		}
	}
	// Codex's other shell tools are not the sandbox's: never executed.
	for _, tool := range []string{"shell_command", "local_shell", "exec_command", "apply_patch"} {
		args, _ := json.Marshal(map[string]any{"command": "gh pr comment 1"})
		if p, _ := ps.Decide(tool, args); p == Exec {
			t.Errorf("%s runs in the sandbox", tool)
		}
	}
	// And what stays inside runs.
	for _, line := range []string{"ls | wc -l", "git diff main...HEAD && go test ./...", "grep -r curl .", "echo 'git push'", "bash ./run-tests.sh", "timeout 60 go test ./...", "sh -c 'ls -la'"} {
		args, _ := json.Marshal(map[string]string{"command": line})
		if p, why := ps.Decide("Bash", args); p != Exec {
			t.Errorf("Bash %q: %s (%s), want exec", line, p, why)
		}
	}
}
