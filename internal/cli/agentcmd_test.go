package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agentreplay/replay/sandbox/sandboxtest"
)

// The black-box path end to end, all of it real: the test agent
// (testdata/agent, a static Go binary) runs in a Docker sandbox, talks to
// the proxy through the executor's channel, the proxy forwards to a
// scripted upstream on the host's loopback (record) or answers from the
// recording (verify); the runs are stored and diffed.

var (
	agentOnce sync.Once
	agentBin  []byte
	agentErr  error
)

func testAgent(t *testing.T) []byte {
	t.Helper()
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "replay-agent-")
		if err != nil {
			agentErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "agent")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			agentErr = fmt.Errorf("build the test agent: %v\n%s", err, b)
			return
		}
		agentBin, agentErr = os.ReadFile(out)
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentBin
}

func testExecutor(t *testing.T) string {
	t.Helper()
	replayEnv(t) // builds it once (replay_test.go)
	return execBin
}

// upstream is a scripted model speaking the three wire formats, streamed
// and not. Its answer depends on how many tool results the request holds:
// read README.md, run a command, edit README.md, then the verdict.
type upstream struct {
	t        *testing.T
	mu       sync.Mutex
	requests []seen
	bodies   []string
	// command, when set, replaces the script's run command.
	command string
}

type seen struct {
	Path, Model, System, Auth, APIKey string
	Stream                            bool
}

var script = []struct {
	tool, args, text string
}{
	{tool: "read_file", args: `{"path":"README.md"}`},
	{tool: "run", args: `{"command":"cat VERSION && ls"}`},
	{tool: "edit_file", args: `{"path":"README.md","old":"hello","new":"hello, reviewed"}`},
	{text: `{"action":"approve","body":"version 1.2 is fine"}`},
}

func (u *upstream) seen() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.requests...)
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad json", 400)
		return
	}
	s := seen{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), APIKey: r.Header.Get("x-api-key")}
	s.Model, _ = req["model"].(string)
	s.Stream, _ = req["stream"].(bool)
	turn := 0
	switch {
	case strings.HasSuffix(r.URL.Path, "/chat/completions"):
		msgs, _ := req["messages"].([]any)
		for _, m := range msgs {
			mm, _ := m.(map[string]any)
			switch mm["role"] {
			case "tool":
				turn++
			case "system":
				s.System, _ = mm["content"].(string)
			}
		}
	case strings.HasSuffix(r.URL.Path, "/responses"):
		s.System, _ = req["instructions"].(string)
		items, _ := req["input"].([]any)
		for _, it := range items {
			if m, _ := it.(map[string]any); m["type"] == "function_call_output" {
				turn++
			}
		}
	case strings.HasSuffix(r.URL.Path, "/v1/messages"):
		s.System, _ = req["system"].(string)
		msgs, _ := req["messages"].([]any)
		for _, m := range msgs {
			mm, _ := m.(map[string]any)
			blocks, _ := mm["content"].([]any)
			for _, b := range blocks {
				if bm, _ := b.(map[string]any); bm["type"] == "tool_result" {
					turn++
				}
			}
		}
	default:
		http.Error(w, "no such path "+r.URL.Path, 404)
		return
	}
	u.mu.Lock()
	u.requests = append(u.requests, s)
	u.bodies = append(u.bodies, string(body))
	command := u.command
	u.mu.Unlock()
	step := script[min(turn, len(script)-1)]
	if step.tool == "run" && command != "" {
		b, _ := json.Marshal(map[string]string{"command": command})
		step.args = string(b)
	}
	id := fmt.Sprintf("call_%d", turn+1)
	switch {
	case strings.HasSuffix(r.URL.Path, "/chat/completions"):
		writeChat(w, s, step.tool, step.args, step.text, id)
	case strings.HasSuffix(r.URL.Path, "/responses"):
		writeResponses(w, s, step.tool, step.args, step.text, id)
	default:
		writeMessages(w, s, step.tool, step.args, step.text, id)
	}
}

func sse(w io.Writer, event string, v any) {
	b, _ := json.Marshal(v)
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	fmt.Fprintf(w, "data: %s\n\n", b)
}

func writeChat(w http.ResponseWriter, s seen, tool, args, text, id string) {
	usage := map[string]any{"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
	finish := "stop"
	msg := map[string]any{"role": "assistant", "content": text}
	if tool != "" {
		finish = "tool_calls"
		msg["content"] = nil
		msg["tool_calls"] = []any{map[string]any{"id": id, "type": "function", "function": map[string]any{"name": tool, "arguments": args}}}
	}
	if !s.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "chatcmpl-" + id, "object": "chat.completion", "created": 1700000000, "model": s.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}}, "usage": usage})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-" + id, "object": "chat.completion.chunk", "created": 1700000000, "model": s.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	sse(w, "", chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	if tool != "" {
		sse(w, "", chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": id, "type": "function", "function": map[string]any{"name": tool, "arguments": ""}}}}, nil))
		sse(w, "", chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": args}}}}, nil))
	} else {
		half := len(text) / 2
		sse(w, "", chunk(map[string]any{"content": text[:half]}, nil))
		sse(w, "", chunk(map[string]any{"content": text[half:]}, nil))
	}
	sse(w, "", chunk(map[string]any{}, finish))
	last := chunk(map[string]any{}, nil)
	last["choices"], last["usage"] = []any{}, usage
	sse(w, "", last)
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func writeResponses(w http.ResponseWriter, s seen, tool, args, text, id string) {
	var item map[string]any
	if tool != "" {
		item = map[string]any{"type": "function_call", "id": "fc_" + id, "call_id": id, "name": tool, "arguments": args, "status": "completed"}
	} else {
		item = map[string]any{"type": "message", "id": "msg_" + id, "role": "assistant", "status": "completed", "content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
	}
	obj := func(status string, out []any) map[string]any {
		o := map[string]any{"id": "resp_" + id, "object": "response", "created_at": 1700000000, "status": status, "model": s.Model, "output": out}
		if status == "completed" {
			o["usage"] = map[string]any{"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
		}
		return o
	}
	if !s.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(obj("completed", []any{item}))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	sse(w, "response.created", map[string]any{"type": "response.created", "response": obj("in_progress", []any{})})
	sse(w, "response.output_item.added", map[string]any{"type": "response.output_item.added", "output_index": 0, "item": item})
	if tool != "" {
		sse(w, "response.function_call_arguments.delta", map[string]any{"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": item["id"], "delta": args})
	} else {
		sse(w, "response.output_text.delta", map[string]any{"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": item["id"], "delta": text})
	}
	sse(w, "response.output_item.done", map[string]any{"type": "response.output_item.done", "output_index": 0, "item": item})
	sse(w, "response.completed", map[string]any{"type": "response.completed", "response": obj("completed", []any{item})})
}

func writeMessages(w http.ResponseWriter, s seen, tool, args, text, id string) {
	var block map[string]any
	stop := "end_turn"
	if tool != "" {
		stop = "tool_use"
		block = map[string]any{"type": "tool_use", "id": "toolu_" + id, "name": tool, "input": json.RawMessage(args)}
	} else {
		block = map[string]any{"type": "text", "text": text}
	}
	msg := func(content []any, stopReason any, out int) map[string]any {
		return map[string]any{"id": "msg_" + id, "type": "message", "role": "assistant", "model": s.Model, "content": content,
			"stop_reason": stopReason, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 100, "output_tokens": out}}
	}
	if !s.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(msg([]any{block}, stop, 20))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	sse(w, "message_start", map[string]any{"type": "message_start", "message": msg([]any{}, nil, 1)})
	if tool != "" {
		sse(w, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "tool_use", "id": "toolu_" + id, "name": tool, "input": map[string]any{}}})
		sse(w, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "input_json_delta", "partial_json": args}})
	} else {
		sse(w, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		sse(w, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": text}})
	}
	sse(w, "content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	sse(w, "message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 20}})
	sse(w, "message_stop", map[string]any{"type": "message_stop"})
}

// boxEnv is what the black-box tests share: Docker, the executor, the
// image, a store, and a repository with the agent committed in it.
type boxEnv struct {
	home, repo, exec string
	up               *upstream
	url              string
	labels           map[string]string
}

func newBoxEnv(t *testing.T) *boxEnv {
	t.Helper()
	cli := sandboxtest.Docker(t)
	sandboxtest.EnsureImage(t, cli)
	e := &boxEnv{home: t.TempDir(), exec: testExecutor(t), up: &upstream{t: t}}
	srv := httptest.NewServer(e.up)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.repo = filepath.Join(t.TempDir(), "widgets")
	os.MkdirAll(e.repo, 0o755)
	for name, body := range map[string]string{"README.md": "# widgets\nhello world\n", "NOTES.md": "internal notes\n", "VERSION": "1.2\n"} {
		os.WriteFile(filepath.Join(e.repo, name), []byte(body), 0o644)
	}
	os.WriteFile(filepath.Join(e.repo, "agent"), testAgent(t), 0o755)
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", e.repo, "-c", "user.email=t@example.com", "-c", "user.name=t"}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-q", "-m", "widgets")
	return e
}

// replay runs the CLI in-process with the env's store and keys; it
// returns stdout, stderr and the exit code.
func (e *boxEnv) replay(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	vars := map[string]string{"REPLAY_HOME": e.home, "REPLAY_CACHE": filepath.Join(e.home, "cache"), "OPENAI_API_KEY": "sk-real-openai", "ANTHROPIC_API_KEY": "sk-ant-real", "HOME": e.home, "PATH": os.Getenv("PATH")}
	for _, k := range []string{"DOCKER_HOST", "DOCKER_API_VERSION", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"} {
		if v := os.Getenv(k); v != "" {
			vars[k] = v
		}
	}
	for k, v := range env {
		vars[k] = v
	}
	code := Run(context.Background(), args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }})
	return stdout.String(), stderr.String(), code
}

func TestAgentRecordVerifyRun(t *testing.T) {
	e := newBoxEnv(t)
	for _, format := range []string{"chat", "responses", "messages"} {
		for _, stream := range []bool{false, true} {
			name := format
			cmdline := "./agent " + format
			if stream {
				name += "-stream"
				cmdline += " -stream"
			}
			t.Run(name, func(t *testing.T) {
				// Record: forward to the scripted upstream.
				out, errOut, code := e.replay(t, nil, "record", "--sandbox", "--dir", e.repo, "--executor", e.exec,
					"--base-url", e.url+"/v1", "--anthropic-base-url", e.url, "--", cmdline)
				if code != 0 {
					t.Fatalf("record exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
				}
				id := strings.TrimSpace(out)
				if !strings.Contains(errOut, "4 model requests recorded") {
					t.Errorf("record said:\n%s", errOut)
				}
				// Verify: the same program, answered from the recording.
				out, errOut, code = e.replay(t, nil, "verify", id, "--agent-cmd", cmdline, "--repo", e.repo, "--executor", e.exec)
				if code != 0 {
					t.Fatalf("verify exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
				}
				if !strings.Contains(out, "tool results: 3 of 3 reproduced") || strings.Count(out, "match (answered from the recording)") != 4 {
					t.Errorf("verify:\n%s", out)
				}
				// A changed program is caught at step 2, with the request diff.
				out, errOut, code = e.replay(t, nil, "verify", id, "--agent-cmd", cmdline+" -other", "--repo", e.repo, "--executor", e.exec)
				if code != ExitCheckFailed {
					t.Fatalf("verify of a changed program: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitCheckFailed, out, errOut)
				}
				if !strings.Contains(out, "first divergence at model call 2 of the main run") || !strings.Contains(out, "internal notes") {
					t.Errorf("verify of a changed program:\n%s", out)
				}
				t.Logf("changed program:\n%s", out)
				if format != "chat" || stream {
					return
				}
				out, _, code = e.replay(t, nil, "verify", id, "--agent-cmd", cmdline+" -other", "--repo", e.repo, "--executor", e.exec, "--json")
				var v struct {
					Requests []struct {
						Verdict string `json:"verdict"`
					} `json:"requests"`
					Divergence struct {
						Step int    `json:"step"`
						Diff string `json:"diff"`
					} `json:"divergence"`
				}
				if err := json.Unmarshal([]byte(out), &v); err != nil || code != ExitCheckFailed {
					t.Fatalf("verify --json: exit %d, %v\n%s", code, err, out)
				}
				if len(v.Requests) < 2 || v.Requests[0].Verdict != "match" || v.Requests[1].Verdict != "diverged" || v.Divergence.Step != 2 || !strings.Contains(v.Divergence.Diff, "+  internal notes") {
					t.Errorf("verify --json of a changed program:\n%s", out)
				}
			})
		}
	}
}

func (e *boxEnv) record(t *testing.T, cmdline string) string {
	t.Helper()
	out, errOut, code := e.replay(t, nil, "record", "--sandbox", "--dir", e.repo, "--executor", e.exec,
		"--base-url", e.url+"/v1", "--anthropic-base-url", e.url, "--", cmdline)
	if code != 0 {
		t.Fatalf("record exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// A counterfactual forwarded to the scripted upstream: the model and the
// system prompt are replaced, the real key is added on the host side and
// only there; inside the sandbox neither the environment nor any process
// holds it.
func TestAgentCounterfactual(t *testing.T) {
	e := newBoxEnv(t)
	for _, format := range []string{"chat", "messages"} {
		t.Run(format, func(t *testing.T) {
			cmdline := "./agent " + format + " -stream"
			id := e.record(t, cmdline)
			sys := filepath.Join(t.TempDir(), "system.md")
			os.WriteFile(sys, []byte("You are a strict reviewer. Reject anything without tests."), 0o644)
			e.up.mu.Lock()
			e.up.requests, e.up.bodies = nil, nil
			e.up.command = "env; echo ---; ps -o pid,args; echo ---; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done 2>/dev/null"
			e.up.mu.Unlock()
			defer func() { e.up.mu.Lock(); e.up.command = ""; e.up.mu.Unlock() }()
			out, errOut, code := e.replay(t, nil, "run", id, "--agent-cmd", cmdline, "--repo", e.repo, "--executor", e.exec,
				"--model", "model-b", "--system-file", sys, "--base-url", e.url+"/v1", "--anthropic-base-url", e.url, "--no-cache")
			if code != 0 {
				t.Fatalf("run exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			seen := e.up.seen()
			if len(seen) != 4 {
				t.Fatalf("the upstream got %d requests, want 4", len(seen))
			}
			for i, s := range seen {
				if s.Model != "model-b" {
					t.Errorf("request %d: model %q, want model-b", i+1, s.Model)
				}
				if !strings.HasPrefix(s.System, "You are a strict reviewer.") {
					t.Errorf("request %d: system prompt %q, want the replaced one", i+1, s.System)
				}
				key := s.Auth
				if format == "messages" {
					key = s.APIKey
				}
				if !strings.Contains(key, "real") || strings.Contains(s.Auth+s.APIKey, "replay-sandbox-no-key") {
					t.Errorf("request %d: Authorization %q, x-api-key %q: want the real key, never the dummy", i+1, s.Auth, s.APIKey)
				}
			}
			// The agent sent what `env`, `ps` and every /proc/*/environ
			// showed inside as its run tool's result.
			e.up.mu.Lock()
			bodies := strings.Join(e.up.bodies, "\n")
			e.up.mu.Unlock()
			if !strings.Contains(bodies, "replay-sandbox-no-key") || !strings.Contains(bodies, "PID") {
				t.Fatalf("the inside environment was not reported:\n%s", bodies)
			}
			for _, secret := range []string{"sk-real-openai", "sk-ant-real"} {
				if strings.Contains(bodies, secret) {
					t.Errorf("the real key %q was seen inside the sandbox", secret)
				}
			}
			if !strings.Contains(out, "proxy forward") || !strings.Contains(out, "replay diff") {
				t.Errorf("run:\n%s", out)
			}
			// The new run is stored as a replay of the original: replay diff
			// compares them like any two runs.
			var newID string
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) >= 8 && f[0] == "black-box" {
					newID = f[7]
				}
			}
			dout, derr, dcode := e.replay(t, nil, "diff", id, newID, "--format", "json")
			if dcode != 0 && dcode != ExitCheckFailed {
				t.Fatalf("diff %s %s: exit %d\n%s%s", id, newID, dcode, dout, derr)
			}
			if !strings.Contains(dout, "model-b") {
				t.Errorf("the diff does not show the new model:\n%s", dout)
			}
		})
	}
	t.Run("fork", func(t *testing.T) {
		id := e.record(t, "./agent responses")
		e.up.mu.Lock()
		e.up.requests = nil
		e.up.mu.Unlock()
		out, errOut, code := e.replay(t, nil, "run", id, "--agent-cmd", "./agent responses", "--repo", e.repo, "--executor", e.exec,
			"--from-step", "3", "--model", "model-c", "--base-url", e.url+"/v1", "--no-cache")
		if code != 0 {
			t.Fatalf("run exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if n := len(e.up.seen()); n != 2 {
			t.Errorf("the upstream got %d requests, want 2 (calls 1 and 2 from the recording)\n%s", n, out)
		}
	})
}

// What goes wrong with the agent is reported, the partial run kept and
// the sandbox removed.
func TestAgentFaults(t *testing.T) {
	e := newBoxEnv(t)
	id := e.record(t, "./agent chat")
	verify := func(t *testing.T, cmdline string, extra ...string) (string, string, int) {
		t.Helper()
		args := append([]string{"verify", id, "--agent-cmd", cmdline, "--repo", e.repo, "--executor", e.exec}, extra...)
		return e.replay(t, nil, args...)
	}
	cases := []struct {
		name, cmd string
		extra     []string
		code      int
		want      []string
	}{
		{"exits non-zero", "exit 3", nil, ExitIncomplete, []string{"the agent exited with code 3", "the partial run is stored as"}},
		{"hangs", "sleep 600", []string{"--agent-timeout", "2s"}, ExitIncomplete, []string{"the agent hung", "the partial run is stored as"}},
		{"floods its output", "yes flood | head -c 30000000; ./agent chat", nil, 0, []string{"output cut at the limit", "tool results: 3 of 3 reproduced"}},
		{"unknown path", "wget -q -O- --post-data '{}' http://127.0.0.1:4141/v1/bogus; ./agent chat", nil, 0, []string{"the agent sent /v1/bogus", "tool results: 3 of 3 reproduced"}},
		{"malformed body", "wget -q -O- --post-data 'not json' http://127.0.0.1:4141/v1/chat/completions; exit 2", nil, ExitIncomplete, []string{"the agent sent /v1/chat/completions", "the agent exited with code 2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := verify(t, tc.cmd, tc.extra...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			all := out + errOut
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("%q missing from\nstdout:\n%s\nstderr:\n%s", w, out, errOut)
				}
			}
			if len(all) > 1_200_000 { // the output limit (1 MiB) and the report
				t.Errorf("the agent's flood reached the output: %d bytes", len(all))
			}
		})
	}
	// After the divergence the requests may go on to the real model: the
	// changed program then finishes, the divergence is still reported.
	t.Run("after-divergence forward", func(t *testing.T) {
		before := len(e.up.seen())
		out, errOut, code := e.replay(t, map[string]string{"OPENAI_BASE_URL": e.url + "/v1"}, "verify", id, "--agent-cmd", "./agent chat -other",
			"--repo", e.repo, "--executor", e.exec, "--after-divergence", "forward")
		if code != ExitCheckFailed || !strings.Contains(out, "first divergence at model call 2") || !strings.Contains(out, "agent: exit 0") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if n := len(e.up.seen()) - before; n != 3 {
			t.Errorf("the upstream got %d requests, want 3 (calls 2 to 4)", n)
		}
	})
	// Every sandbox is gone.
	cli := sandboxtest.Docker(t)
	if left := sandboxtest.Leftovers(t, cli, map[string]string{"io.replay.original": id}); len(left) > 0 {
		t.Errorf("sandboxes left behind: %v", left)
	}
}
