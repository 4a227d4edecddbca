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

	"github.com/agentreplay/replay/replay/trace"
)

// buildRecordAgent builds testdata/recordagent (an agent on the official
// SDKs) into a temporary directory.
func buildRecordAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "recordagent")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/recordagent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test agent: %v\n%s", err, out)
	}
	return bin
}

// modelAPI is a scripted model API on loopback speaking the three wire
// formats: the first answer of a conversation asks for read_file a.go, the
// one after a tool result says APPROVE.
type modelAPI struct {
	mu      sync.Mutex
	headers []http.Header
	bodies  []string
}

func (m *modelAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	m.headers = append(m.headers, r.Header.Clone())
	m.bodies = append(m.bodies, string(b))
	m.mu.Unlock()
	var req struct {
		Stream bool `json:"stream"`
	}
	json.Unmarshal(b, &req)
	done := bytes.Contains(b, []byte(`"tool_call_id"`)) || bytes.Contains(b, []byte(`"function_call_output"`)) || bytes.Contains(b, []byte(`"tool_result"`))
	var body string
	switch {
	case strings.HasSuffix(r.URL.Path, "/chat/completions"):
		body = chatFixture(done, req.Stream)
	case strings.HasSuffix(r.URL.Path, "/responses"):
		body = responsesFixture(done, req.Stream)
	case strings.HasSuffix(r.URL.Path, "/v1/messages"):
		body = messagesFixture(done, req.Stream)
	default:
		http.NotFound(w, r)
		return
	}
	if req.Stream {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	io.WriteString(w, body)
}

const fixtureArgs = `{\"path\":\"a.go\"}`

func chatFixture(done, stream bool) string {
	usage := `{"prompt_tokens":120,"completion_tokens":10,"total_tokens":130,"prompt_tokens_details":{"cached_tokens":20}}`
	if !stream {
		msg := `{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read_file","arguments":"` + fixtureArgs + `"}}]}`
		finish := "tool_calls"
		if done {
			msg, finish = `{"role":"assistant","content":"APPROVE"}`, "stop"
		}
		return `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":` + msg + `,"finish_reason":"` + finish + `"}],"usage":` + usage + `}`
	}
	chunk := func(delta, finish string) string {
		return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]}` + "\n\n"
	}
	s := chunk(`{"role":"assistant","content":""}`, "null")
	if done {
		s += chunk(`{"content":"APPR"}`, "null") + chunk(`{"content":"OVE"}`, "null") + chunk(`{}`, `"stop"`)
	} else {
		s += chunk(`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read_file","arguments":""}}]}`, "null") +
			chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"`+fixtureArgs+`"}}]}`, "null") + chunk(`{}`, `"tool_calls"`)
	}
	return s + `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":` + usage + "}\n\ndata: [DONE]\n\n"
}

func responsesFixture(done, stream bool) string {
	item := `{"id":"fc_1","type":"function_call","status":"completed","call_id":"call_1","name":"read_file","arguments":"` + fixtureArgs + `"}`
	if done {
		item = `{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"APPROVE","annotations":[]}]}`
	}
	resp := func(status, output string) string {
		return `{"id":"resp_1","object":"response","created_at":1,"status":"` + status + `","model":"gpt-4o-2024-08-06","output":[` + output + `],"usage":{"input_tokens":120,"output_tokens":10,"total_tokens":130,"input_tokens_details":{"cached_tokens":20},"output_tokens_details":{"reasoning_tokens":0}}}`
	}
	if !stream {
		return resp("completed", item)
	}
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	return ev("response.created", `{"type":"response.created","sequence_number":0,"response":`+resp("in_progress", "")+`}`) +
		ev("response.output_item.done", `{"type":"response.output_item.done","sequence_number":1,"output_index":0,"item":`+item+`}`) +
		ev("response.completed", `{"type":"response.completed","sequence_number":2,"response":`+resp("completed", item)+`}`)
}

func messagesFixture(done, stream bool) string {
	usage := `{"input_tokens":100,"output_tokens":10,"cache_read_input_tokens":20,"cache_creation_input_tokens":0}`
	if !stream {
		content, stop := `[{"type":"tool_use","id":"toolu_1","name":"read_file","input":{"path":"a.go"}}]`, "tool_use"
		if done {
			content, stop = `[{"type":"text","text":"APPROVE"}]`, "end_turn"
		}
		return `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":` + content + `,"stop_reason":"` + stop + `","stop_sequence":null,"usage":` + usage + `}`
	}
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	s := ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_read_input_tokens":20,"cache_creation_input_tokens":0}}}`)
	stop := "tool_use"
	if done {
		stop = "end_turn"
		s += ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`) +
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"APPROVE"}}`)
	} else {
		s += ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"read_file","input":{}}}`) +
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"`+fixtureArgs+`"}}`)
	}
	return s + ev("content_block_stop", `{"type":"content_block_stop","index":0}`) +
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null},"usage":{"output_tokens":10}}`) +
		ev("message_stop", `{"type":"message_stop"}`)
}

// recordRepo makes a repository with a.go committed on branch main, an origin
// remote, and an uncommitted change.
func recordRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n\nfunc A() {}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "README"), []byte("widgets\n"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "a")
	git("remote", "add", "origin", "https://github.com/acme/widgets.git")
	os.WriteFile(filepath.Join(dir, "README"), []byte("widgets, changed\n"), 0o644)
	return dir
}

func recordCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }})
	return code, stdout.String(), stderr.String()
}

// replay record runs an unchanged agent behind the proxy, for each wire
// format streamed and not, and writes a trace with its system prompt, tools,
// requests, answers, usage and git state; the trace imports and inspects
// like any other.
func TestRecordEndToEnd(t *testing.T) {
	agent := buildRecordAgent(t)
	api := &modelAPI{}
	up := httptest.NewServer(api)
	defer up.Close()
	repo := recordRepo(t)
	t.Chdir(repo)
	home := t.TempDir()
	env := map[string]string{"OPENAI_API_KEY": "sk-real", "ANTHROPIC_API_KEY": "sk-ant-real", "REPLAY_HOME": home}

	for _, format := range []string{"chat", "responses", "anthropic"} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", format, stream), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "run.jsonl")
				args := []string{"record", "--out", out, "--base-url", up.URL + "/v1", "--anthropic-base-url", up.URL, "--", agent, "-format", format}
				if stream {
					args = append(args, "-stream")
				}
				before := len(api.bodies)
				code, stdout, stderr := recordCLI(t, env, args...)
				if code != 0 || !strings.Contains(stdout, "verdict: APPROVE") {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
				}
				if len(api.bodies)-before != 2 {
					t.Fatalf("the model API got %d requests, want 2", len(api.bodies)-before)
				}
				for _, h := range api.headers[before:] {
					if format == "anthropic" && h.Get("X-Api-Key") != "sk-ant-real" || format != "anthropic" && h.Get("Authorization") != "Bearer sk-real" {
						t.Errorf("the real key is missing upstream: %v", h)
					}
					for k, vs := range h {
						if strings.Contains(strings.Join(vs, " "), DummyKey) {
							t.Errorf("the dummy key reached the upstream in %s", k)
						}
					}
				}
				f, err := os.Open(out)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				run, err := trace.DecodeRun(context.Background(), f, out)
				if err != nil {
					t.Fatal(err)
				}
				checkRecorded(t, run, format)
			})
		}
	}

	// Into the store by default: the id is printed, and inspect reads it.
	code, stdout, stderr := recordCLI(t, env, "record", "--base-url", up.URL+"/v1", "--", agent, "-format", "chat", "-stream")
	if code != 0 {
		t.Fatalf("record into the store: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	id := lines[len(lines)-1]
	code, stdout, stderr = recordCLI(t, env, "inspect", id, "--json")
	if code != 0 {
		t.Fatalf("inspect %s: exit %d: %s", id, code, stderr)
	}
	var sum struct {
		LLMCalls  int            `json:"llm_calls"`
		ToolCalls int            `json:"tool_calls"`
		Tools     map[string]int `json:"tools"`
		Tokens    struct {
			Input, Output, CacheRead int64
		} `json:"tokens"`
		Refs map[string]any `json:"refs"`
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, stdout)
	}
	if sum.LLMCalls != 2 || sum.ToolCalls != 1 || sum.Tools["read_file"] != 1 {
		t.Errorf("inspect: %s", stdout)
	}
}

func checkRecorded(t *testing.T, run *trace.Run, format string) {
	t.Helper()
	m := run.Meta
	if !strings.HasPrefix(m.Instr.System, "You are a reviewer.") {
		t.Errorf("system prompt %q", m.Instr.System)
	}
	if len(m.Instr.Tools) != 1 || m.Instr.Tools[0].Name != "read_file" || m.Instr.Tools[0].Description != "Read a file" || !strings.Contains(string(m.Instr.Tools[0].Schema), `"path"`) {
		t.Errorf("tools %+v", m.Instr.Tools)
	}
	if m.Refs.Commit == nil || len(m.Refs.Commit.Value) != 40 || m.Refs.Branch == nil || m.Refs.Branch.Value != "main" ||
		m.Refs.Repo == nil || m.Refs.Repo.Value != "https://github.com/acme/widgets.git" {
		t.Errorf("refs %+v %+v %+v", m.Refs.Commit, m.Refs.Branch, m.Refs.Repo)
	}
	if d := m.Attributes["git.dirty_diff"]; !strings.Contains(d, "+widgets, changed") || !strings.Contains(d, "a/README") {
		t.Errorf("dirty diff %q", d)
	}
	var kinds []string
	for _, s := range run.Steps {
		kinds = append(kinds, s.Kind)
	}
	if fmt.Sprint(kinds) != "[message llm tool llm]" {
		t.Fatalf("steps %v", kinds)
	}
	call := run.Steps[1].LLM
	if call.InputMode != "full" || len(call.Input) < 2 || call.Input[0].Role != "system" || call.LatencyMS < 0 || call.Model == "" {
		t.Errorf("llm step 1: %+v", call)
	}
	if u := call.Usage; u == nil || u.Input != 100 || u.CacheRead != 20 || u.Output != 10 {
		t.Errorf("usage %+v", call.Usage)
	}
	if call.Cost.Priced == nil {
		t.Errorf("no priced cost for %s", call.Model)
	}
	if format == "chat" && (call.Params.Temperature == nil || *call.Params.Temperature != 0.2) {
		t.Errorf("params %+v", call.Params)
	}
	tool := run.Steps[2].Tool
	if tool.Name != "read_file" || tool.Output != "package a\n\nfunc A() {}\n" || tool.Status != trace.ToolOK {
		t.Errorf("tool step %+v", tool)
	}
	if run.Outcome == nil || run.Outcome.Final != "APPROVE" || run.Outcome.Status != trace.StatusOK {
		t.Errorf("outcome %+v", run.Outcome)
	}
}

// An agent that fails: its exit code is replay's, and the trace is written
// with what it holds.
func TestRecordAgentFails(t *testing.T) {
	agent := buildRecordAgent(t)
	t.Chdir(t.TempDir()) // not a git repository: a warning, no refs
	out := filepath.Join(t.TempDir(), "run.jsonl")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"no such model","type":"invalid_request_error"}}`)
	}))
	defer up.Close()
	code, _, stderr := recordCLI(t, map[string]string{"OPENAI_API_KEY": "k"}, "record", "--out", out, "--base-url", up.URL, "--", agent, "-format", "chat")
	if code != 3 {
		t.Fatalf("exit %d, want the agent's 3: %s", code, stderr)
	}
	if !strings.Contains(stderr, "not in a git repository") || !strings.Contains(stderr, "the agent exited 3") {
		t.Errorf("stderr: %s", stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run, err := trace.DecodeRun(context.Background(), f, out)
	if err != nil {
		t.Fatal(err)
	}
	if run.Outcome.Status != trace.StatusError || !strings.Contains(run.Outcome.Error, "status 3") || len(run.Steps) != 2 || !strings.Contains(run.Steps[1].LLM.Error, "no such model") {
		t.Errorf("outcome %+v, steps %+v", run.Outcome, run.Steps)
	}

	// A command that does not exist: a clear error, exit 2.
	code, _, stderr = recordCLI(t, nil, "record", "--out", out, "--", filepath.Join(t.TempDir(), "no-such-agent"))
	if code != ExitUsage || !strings.Contains(stderr, "no-such-agent") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
