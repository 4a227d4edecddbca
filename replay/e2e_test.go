package replay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
)

const secretKey = "sk-test-SECRET-4f9a1c"

// fakeOpenAI answers /v1/chat/completions as OpenAI does, with the tool
// calls of turns[k] on the k-th request (a final text after the last turn).
// It fails the first request with 429 and Retry-After to exercise retries.
type fakeOpenAI struct {
	mu     sync.Mutex
	turns  [][][2]string // per request: (tool name, JSON arguments)
	final  string
	n      int
	bodies []map[string]any
	auth   []string
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	json.Unmarshal(b, &body)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	if len(f.bodies) == 0 && f.n == 0 {
		f.n = -1 // one 429 first
		w.Header().Set("Retry-After", "0")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"message":"Rate limit reached for gpt-4o-mini","type":"requests","code":"rate_limit_exceeded"}}`)
		return
	}
	f.bodies = append(f.bodies, body)
	k := len(f.bodies) - 1
	msg := map[string]any{"role": "assistant", "content": nil}
	finish := "tool_calls"
	if k < len(f.turns) {
		var calls []map[string]any
		for i, c := range f.turns[k] {
			calls = append(calls, map[string]any{"id": fmt.Sprintf("call_%d_%d", k, i), "type": "function", "function": map[string]any{"name": c[0], "arguments": c[1]}})
		}
		msg["tool_calls"] = calls
	} else {
		msg["content"] = f.final
		finish = "stop"
	}
	resp := map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", k), "object": "chat.completion", "created": 1764064800, "model": "gpt-4o-mini-2024-07-18",
		"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
		"usage": map[string]any{"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
			"prompt_tokens_details":     map[string]any{"cached_tokens": 1024, "audio_tokens": 0},
			"completion_tokens_details": map[string]any{"reasoning_tokens": 0, "audio_tokens": 0}},
		"system_fingerprint": "fp_0ba0d124f1",
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// TestCounterfactualInSandbox replays the example with a live model behind
// an OpenAI-compatible endpoint, in the real sandbox: default policies keep
// everything that reaches outside from running, and the API key never
// reaches the container, even when the model asks for the environment.
func TestCounterfactualInSandbox(t *testing.T) {
	cli := sandboxtest.Docker(t)
	sandboxtest.EnsureImage(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	fake := &fakeOpenAI{
		turns: [][][2]string{
			{{"Bash", `{"command":"env; cat /proc/1/environ /proc/self/environ 2>/dev/null | tr '\\0' '\\n'"}`}},
			{{"Bash", `{"command":"echo pushed > pushed.txt; git push origin HEAD"}`}, {"Bash", `{"command":"curl -s https://api.github.com"}`}, {"Bash", `{"command":"gh pr comment 42 --body LGTM"}`}},
			{{"Bash", `{"command":"gh pr diff 42"}`}, {"Read", `{"file_path":"/sandbox/workspace/widgets/widgets/paginate.py"}`}},
			{{"Write", `{"file_path":"/sandbox/workspace/output/review-result.json","content":"{\"action\":\"approve\",\"pr_number\":42,\"findings\":[]}"}`}},
		},
		final: "Approved.",
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	m, err := model.New(model.Config{BaseURL: srv.URL + "/v1", APIKey: secretKey, Retry: model.Retry{BaseDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(ctx, cli, sandbox.Options{
		WorkDir: "/sandbox/workspace", Cwd: "/sandbox/workspace/widgets", Workspace: exampleWorkspace(t, "widgets"),
		ExecutorPath: executorBin(t), ToolVersion: "2.0.76", Labels: sandboxtest.TestLabels(t, cli),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(context.Background())

	orig := loadRun(t, exampleRun)
	rep, err := replay.Run(ctx, orig, replay.Config{Mode: replay.ModeRun, Model: m, Workspace: sb, Params: trace.Params{Model: "gpt-4o-mini"}, Tools: sandbox.ClaudeCodeTools()})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Run.Steps {
		if s.Tool != nil && strings.Contains(s.Tool.Output, secretKey) {
			t.Fatalf("the API key reached the sandbox: %s", s.Tool.Output)
		}
	}
	envOut := rep.Run.Steps[2].Tool.Output
	if rep.Run.Steps[2].Tool.Produced != replay.ProducedExec || !strings.Contains(envOut, "PATH=") || strings.Contains(envOut, "OPENAI") {
		t.Errorf("env ran in the sandbox without the runner's environment? %q", envOut)
	}
	byCmd := map[string]*trace.ToolCall{}
	for _, s := range rep.Run.Steps {
		if s.Tool != nil {
			var a struct{ Command string }
			json.Unmarshal(s.Tool.Arguments, &a)
			byCmd[a.Command] = s.Tool
		}
	}
	for _, cmd := range []string{"echo pushed > pushed.txt; git push origin HEAD", "curl -s https://api.github.com"} {
		if c := byCmd[cmd]; c == nil || c.Produced != replay.ProducedDenied {
			t.Errorf("%q must be denied, got %+v", cmd, c)
		}
	}
	// A GitHub write is answered as GitHub would and becomes an effect of
	// the run; it is never sent.
	if c := byCmd["gh pr comment 42 --body LGTM"]; c == nil || c.Produced != replay.ProducedEffect || c.Output != "https://github.com/acme/widgets/pull/42#issuecomment-9000000001" {
		t.Errorf("gh pr comment must be answered as an effect, got %+v", c)
	}
	if effs := rep.Run.Effects; len(effs) != 1 || effs[0].Kind != trace.EffectComment || effs[0].Target != "acme/widgets#42" || effs[0].Body != "LGTM" || effs[0].Answer != trace.EffectSimulated {
		t.Errorf("effects %+v", effs)
	}
	if _, err := sb.ReadFile(ctx, "pushed.txt"); err == nil {
		t.Error("a denied command ran: pushed.txt exists")
	}
	if c := byCmd["gh pr diff 42"]; c == nil || c.Produced != replay.ProducedRecorded || !strings.HasPrefix(c.Output, "diff --git") {
		t.Errorf("the recorded gh read must be answered from the recording: %+v", c)
	}
	if d := rep.Run.Outcome.Decision; d == nil || !strings.Contains(string(d.Value), `"approve"`) {
		t.Errorf("decision %+v", d)
	}
	// Usage is normalized (prompt tokens include the cached ones) and priced.
	l := rep.Run.Steps[1].LLM
	if l.Usage == nil || l.Usage.Input != 176 || l.Usage.CacheRead != 1024 || l.Cost.Priced == nil || *l.Cost.Priced <= 0 || l.Produced != model.ProducedModel {
		t.Errorf("llm step: %+v usage %+v", l, l.Usage)
	}
	// The requests carried the tools, the tool results and the key as a
	// bearer token only.
	if len(fake.bodies) != 5 || len(fake.bodies[0]["tools"].([]any)) < 8 || fake.auth[0] != "Bearer "+secretKey {
		t.Errorf("%d requests; tools %v; auth %q", len(fake.bodies), fake.bodies[0]["tools"] != nil, fake.auth[0])
	}
}

// A container that dies mid-run ends the run as a sandbox fault: the
// partial run is kept with the step where it stopped, and that step is the
// call that met the fault, with its arguments.
func TestContainerDiesMidRun(t *testing.T) {
	cli := sandboxtest.Docker(t)
	sandboxtest.EnsureImage(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb, err := sandbox.New(ctx, cli, sandbox.Options{ExecutorPath: executorBin(t), Labels: sandboxtest.TestLabels(t, cli)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(context.Background())
	calls := 0
	m := model.Func(func(ctx context.Context, req model.Request) (*trace.LLMCall, error) {
		calls++
		if calls == 2 {
			if err := cli.ContainerKill(ctx, sb.ID(), "KILL"); err != nil {
				t.Errorf("kill the sandbox: %v", err)
			}
		}
		return (&script{answers: []string{"Bash {\"command\":\"echo alive\"}"}}).Complete(ctx, req)
	})
	var c trace.Collector
	_, err = replay.Run(ctx, origWithPrompt("x"), replay.Config{Mode: replay.ModeRun, Model: m, Workspace: sb, Params: trace.Params{Model: "m"}, Emit: &c})
	var stop *replay.StopError
	if !errors.As(err, &stop) || stop.Reason != "sandbox-fault" || stop.Step != 5 {
		t.Fatalf("got %v", err)
	}
	run := c.Run()
	if len(run.Steps) != 5 || run.Steps[2].Tool.Output != "alive" || run.Outcome.Stopped != "sandbox-fault" || run.Outcome.StoppedAt != 5 {
		t.Fatalf("partial run: %d steps, outcome %+v", len(run.Steps), run.Outcome)
	}
	fatal := run.Steps[4].Tool
	if fatal == nil || fatal.Name != "Bash" || string(fatal.Arguments) != `{"command":"echo alive"}` || fatal.Status != trace.ToolError || fatal.Fault == "" || !strings.Contains(fatal.Output, "sandbox failed") {
		t.Errorf("the fatal call is not recorded: %+v", fatal)
	}
}
