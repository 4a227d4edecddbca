package codex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

func importString(t *testing.T, s string, opts trace.Options) (*trace.Run, trace.Summary, error) {
	t.Helper()
	var z trace.Summarizer
	run, err := trace.Collect(func(e trace.Emitter) error {
		return Decode(context.Background(), strings.NewReader(s), "r.jsonl", opts, trace.Tee(e, &z))
	})
	return run, z.Summary(), err
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func text(s string) trace.Part { return trace.Part{Type: trace.PartText, Text: s} }

func intp(n int) *int { return &n }

func ref(v, from string) *trace.Ref {
	return &trace.Ref{Value: v, Provenance: trace.Recorded, From: from}
}

// ignoreRaw: reasoning items are kept verbatim in Raw; their presence is
// checked apart.
var ignoreRaw = cmpopts.IgnoreFields(trace.Part{}, "Raw")

// TestAfterOrdering imports a rollout of a recent Codex (items written as
// they stream, the token_count after them, tool outputs after it).
func TestAfterOrdering(t *testing.T) {
	run, sum := testutil.ImportFile(t, Format{}, "testdata/rollout-after.jsonl")
	wantMeta := trace.RunMeta{
		Format: Name, Source: "testdata/rollout-after.jsonl", Session: "019c7a1e-5b2d-7c11-9a3e-2f6b8d0c4e71",
		Generator: "codex 0.98.0",
		Refs: trace.Refs{
			Cwd:    ref("/home/dev/widgets", "session_meta.cwd"),
			Commit: ref("3f2c9d1e8b7a6f5e4d3c2b1a09f8e7d6c5b4a392", "session_meta.git.commit_hash"),
			Branch: ref("fix/retry", "session_meta.git.branch"),
			Repo:   ref("git@github.com:acme/widgets.git", "session_meta.git.repository_url"),
		},
		Instr:     trace.Instructions{System: "You are Codex, a coding agent based on GPT-5."},
		Defaults:  trace.Params{Model: "gpt-5.2-codex", Provider: "openai"},
		StartedAt: at("2026-02-10T14:00:00.101Z"), EndedAt: at("2026-02-10T14:01:21Z"),
		Attributes: map[string]string{
			"codex.originator": "codex_cli_rs", "codex.source": "cli", "codex.reasoning_effort": "high",
			"codex.approval_policy": "on-request",
			"codex.sandbox_policy":  `{"type":"workspace-write","network_access":false,"exclude_tmpdir_env_var":false,"exclude_slash_tmp":false}`,
		},
	}
	if !cmp.Equal(run.Meta, wantMeta, cmpopts.EquateEmpty()) {
		t.Errorf("meta:\n%s", cmp.Diff(wantMeta, run.Meta, cmpopts.EquateEmpty()))
	}

	params := trace.Params{Model: "gpt-5.2-codex", Provider: "openai"}
	argsA := json.RawMessage(`{"command":"go test ./retry/...","workdir":"/home/dev/widgets"}`)
	argsB := json.RawMessage(`{"command":"git log -3 --oneline"}`)
	patch := json.RawMessage(`"*** Begin Patch\n*** Update File: retry/retry_test.go\n@@\n-\ttime.Sleep(10 * time.Millisecond)\n+\tclock.Advance(10 * time.Millisecond)\n*** End Patch\n"`)
	shellD := json.RawMessage(`{"type":"exec","command":["bash","-lc","go test ./..."],"timeout_ms":120000,"working_directory":"/home/dev/widgets","env":null,"user":null}`)
	search := json.RawMessage(`{"type":"search","query":"go fake clock"}`)
	want := []trace.Step{
		{Kind: trace.KindMessage, Time: at("2026-02-10T14:00:00.121Z"), Message: &trace.Message{Role: "system", Meta: true, Parts: []trace.Part{text("<permissions instructions>\nFilesystem sandboxing: workspace-write.\n</permissions instructions>")}}},
		{Kind: trace.KindMessage, Time: at("2026-02-10T14:00:00.121Z"), Message: &trace.Message{Role: "user", Meta: true, Parts: []trace.Part{text("# AGENTS.md instructions for /home/dev/widgets\n\n<INSTRUCTIONS>\nRun go test before committing.\n</INSTRUCTIONS>")}}},
		{Kind: trace.KindMessage, Time: at("2026-02-10T14:00:00.121Z"), Message: &trace.Message{Role: "user", Meta: true, Parts: []trace.Part{text("<environment_context>\n  <cwd>/home/dev/widgets</cwd>\n  <shell>bash</shell>\n</environment_context>")}}},
		// The response item; event_msg user_message repeats it and is not counted.
		{Kind: trace.KindMessage, Time: at("2026-02-10T14:00:04.501Z"), Message: &trace.Message{Role: "user", Parts: []trace.Part{text("Fix the flaky retry test")}}},
		{Kind: trace.KindLLM, Time: at("2026-02-10T14:00:07.1Z"), LLM: &trace.LLMCall{Params: params,
			Output: trace.Message{Role: "assistant", Parts: []trace.Part{
				{Type: trace.PartReasoning, Text: "**Looking at the test**"},
				{Type: trace.PartToolCall, ID: "call_A1", Name: "shell_command", Arguments: argsA},
				{Type: trace.PartToolCall, ID: "call_B2", Name: "shell_command", Arguments: argsB},
			}},
			// input 9000 includes the 6000 cached tokens.
			Usage: &trace.Usage{Input: 3000, CacheRead: 6000, Output: 300, Reasoning: 200},
		}},
		{Kind: trace.KindTool, Time: at("2026-02-10T14:00:09.91Z"), Tool: &trace.ToolCall{CallID: "call_A1", Name: "shell_command", Arguments: argsA,
			Status: trace.ToolError, ExitCode: intp(1), DurationMS: 2500,
			Output: "Exit code: 1\nWall time: 2.5 seconds\nOutput:\n--- FAIL: TestRetry (0.01s)\n    retry_test.go:31: took 12ms, want < 10ms\nFAIL\n"}},
		{Kind: trace.KindTool, Time: at("2026-02-10T14:00:09.911Z"), Tool: &trace.ToolCall{CallID: "call_B2", Name: "shell_command", Arguments: argsB,
			Status: trace.ToolOK, ExitCode: intp(0), DurationMS: 100,
			Output: "Exit code: 0\nWall time: 0.1 seconds\nOutput:\nabc1234 retry: add jitter\n"}},
		// The token_count at 10.200 repeats the total: not a response.
		{Kind: trace.KindLLM, Time: at("2026-02-10T14:00:19.05Z"), LLM: &trace.LLMCall{Params: params,
			Output: trace.Message{Role: "assistant", Parts: []trace.Part{
				{Type: trace.PartReasoning},
				{Type: trace.PartToolCall, ID: "call_C3", Name: "apply_patch", Arguments: patch},
			}},
			Usage: &trace.Usage{Input: 1500, CacheRead: 9000, Output: 400, Reasoning: 150},
		}},
		{Kind: trace.KindTool, Time: at("2026-02-10T14:00:19.16Z"), Tool: &trace.ToolCall{CallID: "call_C3", Name: "apply_patch", Arguments: patch,
			Status: trace.ToolOK, ExitCode: intp(0), Output: "Success. Updated the following files:\nM retry/retry_test.go\n",
			Detail: json.RawMessage(`{"exit_code":0,"duration_seconds":0.0}`)}},
		{Kind: trace.KindLLM, Time: at("2026-02-10T14:00:24.7Z"), LLM: &trace.LLMCall{Params: params,
			Output: trace.Message{Role: "assistant", Parts: []trace.Part{text("Replaced the sleep with a fake clock; the test passes.")}},
			Usage:  &trace.Usage{Input: 2500, CacheRead: 9000, Output: 60},
		}},
		{Kind: trace.KindMessage, Time: at("2026-02-10T14:01:02.001Z"), Message: &trace.Message{Role: "user", Parts: []trace.Part{text("Now run the whole suite")}}},
		{Kind: trace.KindLLM, Time: at("2026-02-10T14:01:05Z"), LLM: &trace.LLMCall{Params: params,
			Output: trace.Message{Role: "assistant", Parts: []trace.Part{
				{Type: trace.PartToolCall, ID: "call_D4", Name: "local_shell", Arguments: shellD},
				{Type: trace.PartToolCall, ID: "ws_5", Name: "web_search", Arguments: search},
				{Type: trace.PartToolCall, ID: "call_E6", Name: "shell_command", Arguments: json.RawMessage(`{"command":"sleep 600"}`)},
			}},
			Usage: &trace.Usage{Input: 3500, CacheRead: 9000, Output: 60, Reasoning: 30},
		}},
		// Web search runs at the provider: no output is recorded.
		{Kind: trace.KindTool, Time: at("2026-02-10T14:01:05.1Z"), Tool: &trace.ToolCall{CallID: "ws_5", Name: "web_search", Arguments: search, Status: trace.ToolOK}},
		{Kind: trace.KindTool, Time: at("2026-02-10T14:01:17.3Z"), Tool: &trace.ToolCall{CallID: "call_D4", Name: "local_shell", Arguments: shellD,
			Status: trace.ToolOK, ExitCode: intp(0), DurationMS: 12000,
			Output: "Exit code: 0\nWall time: 12.0 seconds\nOutput:\nok  \tacme/widgets/retry\t0.3s\n"}},
		// turn_aborted: the call still running is interrupted.
		{Kind: trace.KindTool, Time: at("2026-02-10T14:01:05.2Z"), Tool: &trace.ToolCall{CallID: "call_E6", Name: "shell_command", Arguments: json.RawMessage(`{"command":"sleep 600"}`), Status: trace.ToolInterrupted, Harness: trace.HarnessInterrupted}},
	}
	if !cmp.Equal(run.Steps, want, cmpopts.EquateEmpty(), ignoreRaw) {
		t.Errorf("steps:\n%s", cmp.Diff(want, run.Steps, cmpopts.EquateEmpty(), ignoreRaw))
	}
	// Encrypted reasoning is kept verbatim.
	if r := run.Steps[4].LLM.Output.Parts[0].Raw; !bytes.Contains(r, []byte(`"encrypted_content":"gAAAAABpq3x0-`)) {
		t.Errorf("reasoning Raw = %.80s, want the item with its encrypted content", r)
	}
	wantOutcome := &trace.Outcome{Status: trace.StatusInterrupted, Error: "turn aborted: interrupted",
		Final:    "Replaced the sleep with a fake clock; the test passes.",
		Recorded: &trace.Totals{Usage: &trace.Usage{Input: 10500, CacheRead: 33000, Output: 820, Reasoning: 380}}}
	if !cmp.Equal(run.Outcome, wantOutcome) {
		t.Errorf("outcome:\n%s", cmp.Diff(wantOutcome, run.Outcome))
	}
	wantWarnings := []string{
		`testdata/rollout-after.jsonl:38: 1 records of unknown type "event_msg/some_future_event" (first at line 38)`,
		`testdata/rollout-after.jsonl:39: 1 records of unknown type "response_item/future_item" (first at line 39)`,
	}
	if !cmp.Equal(sum.Warnings, wantWarnings) {
		t.Errorf("warnings:\n%s", cmp.Diff(wantWarnings, sum.Warnings))
	}
	// The responses' usages add up to the last total_token_usage.
	if sum.LLMCalls != 4 || sum.Tokens != *wantOutcome.Recorded.Usage {
		t.Errorf("summary: %d llm calls, tokens %+v; want 4 and %+v", sum.LLMCalls, sum.Tokens, *wantOutcome.Recorded.Usage)
	}
}

// TestBeforeOrdering imports a rollout of Codex 0.5x–0.6x: each request's
// token_count comes before its items, which are written with their outputs
// when the request completes; the token_count repeated at the next request
// is ignored.
func TestBeforeOrdering(t *testing.T) {
	run, sum := testutil.ImportFile(t, Format{}, "testdata/rollout-before.jsonl")
	params := trace.Params{Model: "gpt-5.1-codex-max", Provider: "openai"}
	plan := json.RawMessage(`{"plan":[{"status":"in_progress","step":"Lay out the board"}]}`)
	ls := json.RawMessage(`{"command":["bash","-lc","ls"],"workdir":"/Users/dev/chess"}`)
	patch := json.RawMessage(`"*** Begin Patch\n*** Add File: index.html\n+<!DOCTYPE html>\n*** End Patch"`)
	want := []trace.Step{
		{Kind: trace.KindMessage, Time: at("2025-11-22T20:48:58.443Z"), Message: &trace.Message{Role: "user", Meta: true, Parts: []trace.Part{text("<environment_context>\n  <cwd>/Users/dev/chess</cwd>\n</environment_context>")}}},
		{Kind: trace.KindMessage, Time: at("2025-11-22T20:49:20.101Z"), Message: &trace.Message{Role: "user", Parts: []trace.Part{text("Build a chess board page")}}},
		{Kind: trace.KindLLM, Time: at("2025-11-22T20:49:45.016Z"), LLM: &trace.LLMCall{Params: params,
			Output: trace.Message{Role: "assistant", Parts: []trace.Part{
				{Type: trace.PartReasoning, Text: "**Planning the board**"},
				{Type: trace.PartToolCall, ID: "call_P1", Name: "update_plan", Arguments: plan},
				{Type: trace.PartToolCall, ID: "call_S2", Name: "shell", Arguments: ls},
			}},
			Usage: &trace.Usage{Input: 2000, CacheRead: 2000, Output: 500, Reasoning: 400},
		}},
		{Kind: trace.KindTool, Time: at("2025-11-22T20:49:45.016Z"), Tool: &trace.ToolCall{CallID: "call_P1", Name: "update_plan", Arguments: plan, Status: trace.ToolOK, Output: "Plan updated"}},
		{Kind: trace.KindTool, Time: at("2025-11-22T20:49:45.016Z"), Tool: &trace.ToolCall{CallID: "call_S2", Name: "shell", Arguments: ls, Status: trace.ToolOK,
			Output: "README.md\n", ExitCode: intp(0), DurationMS: 100, Detail: json.RawMessage(`{"exit_code":0,"duration_seconds":0.1}`)}},
		{Kind: trace.KindLLM, Time: at("2025-11-22T20:50:58.102Z"), LLM: &trace.LLMCall{Params: params,
			Output: trace.Message{Role: "assistant", Parts: []trace.Part{
				{Type: trace.PartReasoning, Text: "**Writing the page**"},
				{Type: trace.PartToolCall, ID: "call_X3", Name: "apply_patch", Arguments: patch},
			}},
			Usage: &trace.Usage{Input: 1000, CacheRead: 4000, Output: 400, Reasoning: 200},
		}},
		{Kind: trace.KindTool, Time: at("2025-11-22T20:50:58.102Z"), Tool: &trace.ToolCall{CallID: "call_X3", Name: "apply_patch", Arguments: patch, Status: trace.ToolError,
			Output: "apply_patch verification failed: index.html already exists\n", ExitCode: intp(1), Detail: json.RawMessage(`{"exit_code":1,"duration_seconds":0.0}`)}},
		{Kind: trace.KindLLM, Time: at("2025-11-22T20:51:38.727Z"), LLM: &trace.LLMCall{Params: params,
			Output: trace.Message{Role: "assistant", Parts: []trace.Part{text("The board page is ready.")}},
			Usage:  &trace.Usage{Input: 1000, CacheRead: 5000, Output: 100},
		}},
		{Kind: trace.KindMessage, Time: at("2025-11-22T20:52:00Z"), Message: &trace.Message{Role: "user", Meta: true, Parts: []trace.Part{text("Summary: built the chess board page; index.html existed already.")}}},
	}
	if !cmp.Equal(run.Steps, want, cmpopts.EquateEmpty(), ignoreRaw) {
		t.Errorf("steps:\n%s", cmp.Diff(want, run.Steps, cmpopts.EquateEmpty(), ignoreRaw))
	}
	total := trace.Usage{Input: 4000, CacheRead: 11000, Output: 1000, Reasoning: 600}
	if run.Outcome.Status != trace.StatusOK || run.Outcome.Final != "The board page is ready." || *run.Outcome.Recorded.Usage != total {
		t.Errorf("outcome = %+v", run.Outcome)
	}
	if sum.Tokens != total || len(sum.Warnings) != 0 {
		t.Errorf("tokens %+v (want %+v), warnings %q", sum.Tokens, total, sum.Warnings)
	}
	if got := run.Meta.Refs.Repo; got == nil || got.Value != "https://github.com/acme/chess.git" {
		t.Errorf("repo ref = %+v", got)
	}
}

// TestOldRollout imports a rollout from before the {type, payload}
// wrapper: no token_count, so responses are grouped at tool outputs and
// user messages, and a warning says usage is unknown.
func TestOldRollout(t *testing.T) {
	run, sum := testutil.ImportFile(t, Format{}, "testdata/rollout-legacy.jsonl")
	want := []trace.Step{
		{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Meta: true, Parts: []trace.Part{text("<environment_context>\nCurrent working directory: /src/tools\n</environment_context>")}}},
		{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{text("List the files")}}},
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Output: trace.Message{Role: "assistant", Parts: []trace.Part{
			{Type: trace.PartReasoning, Text: "**Listing**"},
			{Type: trace.PartToolCall, ID: "call_1", Name: "shell", Arguments: json.RawMessage(`{"command":["ls"]}`)},
		}}}},
		{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: "call_1", Name: "shell", Arguments: json.RawMessage(`{"command":["ls"]}`), Status: trace.ToolOK,
			Output: "a.go\nb.go\n", ExitCode: intp(0), Detail: json.RawMessage(`{"exit_code":0,"duration_seconds":0.0}`)}},
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Output: trace.Message{Role: "assistant", Parts: []trace.Part{text("Two files: a.go and b.go.")}}}},
	}
	if !cmp.Equal(run.Steps, want, cmpopts.EquateEmpty()) {
		t.Errorf("steps:\n%s", cmp.Diff(want, run.Steps, cmpopts.EquateEmpty()))
	}
	if run.Meta.Session != "3b6f1d2c-8e4a-4f0b-9c7d-5a1e2b3c4d5e" || run.Meta.Refs.Commit == nil || run.Meta.Refs.Commit.Value != "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678" {
		t.Errorf("meta = %+v", run.Meta)
	}
	wantWarnings := []string{"testdata/rollout-legacy.jsonl: no token_count events: the 2 model responses were grouped at user messages and tool outputs, and their usage is unknown"}
	if !cmp.Equal(sum.Warnings, wantWarnings) {
		t.Errorf("warnings:\n%s", cmp.Diff(wantWarnings, sum.Warnings))
	}
}

// TestResponseGrouping covers ordering cases on small rollouts.
func TestResponseGrouping(t *testing.T) {
	const meta = `{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s","cwd":"/w","cli_version":"1.0.0"}}` + "\n"
	item := func(p string) string {
		return `{"timestamp":"2026-01-01T00:00:01Z","type":"response_item","payload":` + p + "}\n"
	}
	ev := func(p string) string {
		return `{"timestamp":"2026-01-01T00:00:02Z","type":"event_msg","payload":` + p + "}\n"
	}
	count := func(in, out int) string {
		return ev(`{"type":"token_count","info":{"total_token_usage":{"input_tokens":` + itoa(in) + `,"output_tokens":` + itoa(out) + `},"last_token_usage":{"input_tokens":` + itoa(in) + `,"output_tokens":` + itoa(out) + `}}}`)
	}
	user := func(s string) string {
		return item(`{"type":"message","role":"user","content":[{"type":"input_text","text":"` + s + `"}]}`)
	}
	say := func(s string) string {
		return item(`{"type":"message","role":"assistant","content":[{"type":"output_text","text":"` + s + `"}]}`)
	}
	fc := func(id string) string {
		return item(`{"type":"function_call","name":"shell","arguments":"{}","call_id":"` + id + `"}`)
	}
	out := func(id string) string {
		return item(`{"type":"function_call_output","call_id":"` + id + `","output":"ok"}`)
	}
	tests := []struct {
		name  string
		in    string
		want  string // step kinds: m message, l llm, t tool; llm with usage as L
		warns int
	}{
		{"after: count closes the response, outputs follow", meta + user("go") + fc("a") + fc("b") + count(10, 2) + out("a") + out("b") + say("done") + count(20, 3), "mLttL", 0},
		{"after: an output before the count waits for the response", meta + user("go") + fc("a") + out("a") + count(10, 2), "mLt", 0},
		{"before: count opens the response", meta + user("go") + count(10, 2) + fc("a") + out("a") + count(20, 3) + say("done"), "mLtL", 0},
		{"user message ends a response without usage", meta + user("go") + say("hi") + count(5, 1) + user("again") + say("bye"), "mLml", 1},
		{"no token_count: tool outputs split responses", meta + user("go") + fc("a") + out("a") + fc("b") + out("b") + say("done"), "mltltl", 1},
		{"usage without items is still a model call", meta + user("go") + count(10, 2), "mL", 0},
		{"output of an unknown call", meta + user("go") + say("x") + count(1, 1) + out("zzz"), "mLt", 1},
		{"rate-limit-only and repeated counts are not responses", meta + user("go") + ev(`{"type":"token_count","info":null}`) + say("x") + count(10, 2) + count(10, 2), "mL", 0},
		{"user_message event alone is the prompt", meta + ev(`{"type":"user_message","message":"from the event"}`) + say("x") + count(1, 1), "mL", 0},
		{"call without output at the end is missing", meta + user("go") + fc("a") + count(1, 1), "mLt", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, sum, err := importString(t, tt.in, trace.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, s := range run.Steps {
				switch {
				case s.Kind == trace.KindLLM && s.LLM.Usage != nil:
					got.WriteByte('L')
				default:
					got.WriteByte(s.Kind[0])
				}
			}
			if got.String() != tt.want {
				t.Errorf("steps = %s, want %s", got.String(), tt.want)
			}
			if len(sum.Warnings) != tt.warns {
				t.Errorf("warnings = %q, want %d", sum.Warnings, tt.warns)
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestToolStatus(t *testing.T) {
	const meta = `{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s"}}` + "\n"
	fc := `{"timestamp":"2026-01-01T00:00:01Z","type":"response_item","payload":{"type":"function_call","name":"f","arguments":"{}","call_id":"c"}}` + "\n"
	out := func(o string) string {
		return `{"timestamp":"2026-01-01T00:00:03Z","type":"response_item","payload":{"type":"function_call_output","call_id":"c","output":` + o + `}}` + "\n"
	}
	tests := []struct {
		name   string
		lines  string
		status string
		output string
		exit   *int
		dur    int64
	}{
		{"plain text", out(`"done"`), trace.ToolOK, "done", nil, 2000},
		{"shell_command failure", out(`"Exit code: 2\nWall time: 0.5 seconds\nOutput:\nno such file\n"`), trace.ToolError, "Exit code: 2\nWall time: 0.5 seconds\nOutput:\nno such file\n", intp(2), 500},
		{"exec_command text", out(`"Chunk ID: 1\nWall time: 1.2 seconds\nProcess exited with code 0\nOutput:\nok"`), trace.ToolOK, "Chunk ID: 1\nWall time: 1.2 seconds\nProcess exited with code 0\nOutput:\nok", intp(0), 1200},
		{"wrapped json", out(`"{\"output\":\"x\",\"metadata\":{\"exit_code\":3,\"duration_seconds\":1.5}}"`), trace.ToolError, "x", intp(3), 1500},
		{"content items", out(`[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]`), trace.ToolOK, "a\nb", nil, 2000},
		{"failure object", out(`{"content":"denied","success":false}`), trace.ToolError, "denied", nil, 2000},
		{"aborted", out(`"aborted"`), trace.ToolInterrupted, "aborted", nil, 2000},
		{
			"exec_command_end refines it",
			`{"timestamp":"2026-01-01T00:00:02Z","type":"event_msg","payload":{"type":"exec_command_end","call_id":"c","exit_code":7,"duration":{"secs":0,"nanos":250000000}}}` + "\n" + out(`"boom"`),
			trace.ToolError, "boom", intp(7), 250,
		},
		{
			"mcp error result",
			`{"timestamp":"2026-01-01T00:00:02Z","type":"event_msg","payload":{"type":"mcp_tool_call_end","call_id":"c","duration":"300ms","result":{"Err":"unreachable"}}}` + "\n" + out(`"err: unreachable"`),
			trace.ToolError, "err: unreachable", nil, 300,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, _, err := importString(t, meta+fc+tt.lines, trace.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var tc *trace.ToolCall
			for _, s := range run.Steps {
				if s.Tool != nil {
					tc = s.Tool
				}
			}
			if tc == nil {
				t.Fatal("no tool step")
			}
			if tc.Status != tt.status || tc.Output != tt.output || !cmp.Equal(tc.ExitCode, tt.exit) || tc.DurationMS != tt.dur {
				t.Errorf("got status %q output %q exit %v dur %d; want %q %q %v %d", tc.Status, tc.Output, deref32(tc.ExitCode), tc.DurationMS, tt.status, tt.output, deref32(tt.exit), tt.dur)
			}
		})
	}
}

func deref32(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestDetect(t *testing.T) {
	after, _ := os.ReadFile("testdata/rollout-after.jsonl")
	legacy, _ := os.ReadFile("testdata/rollout-legacy.jsonl")
	tests := []struct {
		name string
		head string
		want bool
	}{
		{"rollout", string(after), true},
		{"old rollout", string(legacy), true},
		{"rollout without session_meta", `{"timestamp":"2026-01-01T00:00:00Z","type":"response_item","payload":{"type":"message","role":"user","content":[]}}`, true},
		{"claude code", `{"type":"user","message":{"role":"user","content":"hi"},"uuid":"u","sessionId":"s","timestamp":"2026-01-01T00:00:00Z"}`, false},
		{"codex exec --json", `{"type":"thread.started","thread_id":"t"}`, false},
		{"native", `{"type":"header","header":{"format":"replay-run","version":1}}`, false},
		{"langfuse", `{"trace":{"id":"t","timestamp":"2026-01-01T00:00:00Z"},"observations":[]}`, false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Format{}).Detect(&trace.Source{Path: "x.jsonl", Head: []byte(tt.head)}); got != tt.want {
				t.Errorf("Detect = %v, want %v", got, tt.want)
			}
		})
	}
	if (Format{}).Detect(&trace.Source{Path: "d", IsDir: true, Head: after}) {
		t.Error("Detect accepts a directory")
	}
}

func TestBadInput(t *testing.T) {
	good := `{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s"}}` + "\n" +
		`{"timestamp":"2026-01-01T00:00:01Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}}` + "\n"
	tests := []struct {
		name     string
		in       string
		lenient  bool
		notTrace bool
		errHas   string
		warnHas  string
	}{
		{name: "empty", in: "\n\n", notTrace: true, errHas: "no rollout records"},
		{name: "bad json", in: good + "{nope\n" + good, errHas: "r.jsonl:3: invalid JSON"},
		{name: "bad json lenient", in: good + "{nope\n" + good, lenient: true, warnHas: "r.jsonl:3: skipped 1 line(s) of invalid JSON"},
		{name: "payload of the wrong shape", in: good + `{"timestamp":"x","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":"lots"}}}` + "\n", warnHas: "r.jsonl:3: payload.info.total_token_usage: expected an object, found a string; ignored"},
		{name: "truncated last line", in: good + `{"timestamp":"2026-01-01T00:00:02Z","type":"resp`, warnHas: "r.jsonl:3: last line is truncated"},
		{name: "unknown top-level type", in: good + `{"timestamp":"x","type":"world_state","payload":{}}` + "\n", warnHas: `1 records of unknown type "world_state" (first at line 3)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sum, err := importString(t, tt.in, trace.Options{Lenient: tt.lenient})
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error = %v, want one containing %q", err, tt.errHas)
				}
				if errors.Is(err, trace.ErrNotTrace) != tt.notTrace {
					t.Errorf("errors.Is(err, ErrNotTrace) = %v, want %v", !tt.notTrace, tt.notTrace)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(sum.Warnings, "\n"), tt.warnHas) {
				t.Errorf("warnings %q do not contain %q", sum.Warnings, tt.warnHas)
			}
		})
	}
}

// TestToolSearch: Codex's tool search is a call (arguments verbatim) whose
// output lists tools.
func TestToolSearch(t *testing.T) {
	in := `{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s"}}
{"timestamp":"2026-01-01T00:00:01Z","type":"response_item","payload":{"type":"tool_search_call","call_id":"ts1","execution":"client","arguments":{"query":"calendar"}}}
{"timestamp":"2026-01-01T00:00:02Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":10,"output_tokens":1},"last_token_usage":{"input_tokens":10,"output_tokens":1}}}}
{"timestamp":"2026-01-01T00:00:03Z","type":"response_item","payload":{"type":"tool_search_output","call_id":"ts1","status":"completed","execution":"client","tools":[{"name":"cal.list"}]}}
`
	run, _, err := importString(t, in, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &trace.ToolCall{CallID: "ts1", Name: "tool_search", Arguments: json.RawMessage(`{"query":"calendar"}`), Status: trace.ToolOK,
		OutputRaw: json.RawMessage(`[{"name":"cal.list"}]`), DurationMS: 2000}
	if len(run.Steps) != 2 || !cmp.Equal(run.Steps[1].Tool, want) {
		t.Errorf("steps %+v, want an llm step then %+v", run.Steps, want)
	}
}

// TestHarnessOutcomes: the results Codex writes instead of the tool's (a
// declined approval, an interrupted turn, its sandbox's refusal) are marked
// as the harness's, so that verify answers them from the recording.
func TestHarnessOutcomes(t *testing.T) {
	const meta = `{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s"}}` + "\n"
	fc := `{"timestamp":"2026-01-01T00:00:01Z","type":"response_item","payload":{"type":"function_call","name":"shell","arguments":"{\"command\":[\"make\"]}","call_id":"c"}}` + "\n"
	out := func(o string) string {
		return `{"timestamp":"2026-01-01T00:00:03Z","type":"response_item","payload":{"type":"function_call_output","call_id":"c","output":` + o + `}}` + "\n"
	}
	end := func(status string) string {
		code := "-1"
		if status == "completed" {
			code = "0"
		}
		return `{"timestamp":"2026-01-01T00:00:02Z","type":"event_msg","payload":{"type":"exec_command_end","call_id":"c","exit_code":` + code + `,"status":"` + status + `"}}` + "\n"
	}
	tests := []struct {
		name    string
		lines   string
		harness string
		status  string
	}{
		{"exec declined", end("declined") + out(`"exec command rejected by user"`), trace.HarnessRejected, trace.ToolError},
		{"patch declined without an end event", out(`"patch rejected by user"`), trace.HarnessRejected, trace.ToolError},
		{"declined status alone", end("declined") + out(`"no"`), trace.HarnessRejected, trace.ToolError},
		{"aborted", out(`"aborted"`), trace.HarnessInterrupted, trace.ToolInterrupted},
		{"turn aborted while the call ran", `{"timestamp":"2026-01-01T00:00:02Z","type":"event_msg","payload":{"type":"turn_aborted","reason":"interrupted"}}` + "\n", trace.HarnessInterrupted, trace.ToolInterrupted},
		{"sandbox refusal", out(`"failed in sandbox MacosSeatbelt with execution error: sandbox denied exec error, exit code: 1, stdout: , stderr: Operation not permitted"`), trace.HarnessSandbox, trace.ToolError},
		{"an ordinary failure is the tool's", end("failed") + out(`"Exit code: 2\nOutput:\nrejected by user"`), "", trace.ToolError},
		{"a long text ending so is the tool's", out(`"the build log says: the deploy was approved, then the merge was rejected by user"`), "", trace.ToolOK},
		{"ok", end("completed") + out(`"done"`), "", trace.ToolOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, _, err := importString(t, meta+fc+tt.lines, trace.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var tc *trace.ToolCall
			for _, s := range run.Steps {
				if s.Tool != nil {
					tc = s.Tool
				}
			}
			if tc == nil {
				t.Fatal("no tool step")
			}
			if tc.Harness != tt.harness || tc.Status != tt.status {
				t.Errorf("harness %q status %q, want %q %q", tc.Harness, tc.Status, tt.harness, tt.status)
			}
		})
	}
}
