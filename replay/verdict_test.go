package replay_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
)

func userMsg(s string) trace.Message {
	return trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: s}}}
}

func answer(text string, calls ...trace.Part) trace.Message {
	m := trace.Message{Role: "assistant"}
	if text != "" {
		m.Parts = append(m.Parts, trace.Part{Type: trace.PartText, Text: text})
	}
	m.Parts = append(m.Parts, calls...)
	return m
}

// multiTurn is a recording in the shape Langfuse and OTel traces take: no
// message steps after the first, each model call carrying its full request,
// the first answer text-only, the second user turn found only in the second
// request.
func multiTurn() *trace.Run {
	bash := trace.Part{Type: trace.PartToolCall, ID: "c1", Name: "Bash", Arguments: json.RawMessage(`{"command":"cat a.txt"}`)}
	first := answer("Which file?")
	second := answer("", bash)
	return &trace.Run{Steps: []trace.Step{
		{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: "show me a file"}}}},
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m", InputMode: "full", Input: []trace.Message{userMsg("show me a file")}, Output: first}},
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m", InputMode: "full", Input: []trace.Message{userMsg("show me a file"), first, userMsg("a.txt, please")}, Output: second}},
		{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: "c1", Name: "Bash", Arguments: bash.Arguments, Status: trace.ToolOK, Output: "alpha"}},
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m", InputMode: "full", Output: answer("It says alpha.")}},
	}}
}

// TestVerifyFollowsTheRecordingToItsEnd: a text-only first answer does not
// end a verify while the recording goes on; the later user turn is fed as
// recorded and every call is replayed.
func TestVerifyFollowsTheRecordingToItsEnd(t *testing.T) {
	ws := newLocal(t, map[string]string{"a.txt": "alpha\n"})
	rep, err := replay.Run(context.Background(), multiTurn(), replay.Config{Mode: replay.ModeVerify, Workspace: ws})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LLMCalls != 3 || len(rep.Calls) != 1 || len(rep.Unreplayed) != 0 {
		t.Fatalf("llm calls %d, tool calls %d, unreplayed %v; want 3, 1, none", rep.LLMCalls, len(rep.Calls), rep.Unreplayed)
	}
	if c := rep.Calls[0]; c.Fidelity.Status != replay.Match {
		t.Errorf("Bash: %+v", c.Fidelity)
	}
	var users []string
	for _, s := range rep.Run.Steps {
		if s.Message != nil && s.Message.Role == "user" {
			users = append(users, s.Message.Text())
		}
	}
	if len(users) != 2 || users[1] != "a.txt, please" {
		t.Errorf("user turns %q, want the recorded second turn fed", users)
	}
	if rep.Run.Outcome.Final != "It says alpha." {
		t.Errorf("final %q", rep.Run.Outcome.Final)
	}
}

// TestVerifyStoppedEarlySaysWhatItMissed: a verify that ends before the
// recording does names the run and how far it got.
func TestVerifyStoppedEarlySaysWhatItMissed(t *testing.T) {
	ws := newLocal(t, map[string]string{"a.txt": "alpha\n"})
	rep, err := replay.Run(context.Background(), multiTurn(), replay.Config{Mode: replay.ModeVerify, Workspace: ws, MaxSteps: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []replay.Unreplayed{{Run: "", Answered: 1, Recorded: 3}}
	if len(rep.Unreplayed) != 1 || rep.Unreplayed[0] != want[0] {
		t.Fatalf("unreplayed %+v, want %+v", rep.Unreplayed, want)
	}
	if got := rep.Unreplayed[0].String(); got != "the main run replayed 1 of its 3 recorded model calls" {
		t.Errorf("String() = %q", got)
	}
}

// TestVerifyBlockers: inspect's replayable says before anything runs what
// a verify would find incomplete.
func TestVerifyBlockers(t *testing.T) {
	repo := map[string]trace.Ref{"repo": {Value: "acme/widgets"}}
	tests := []struct {
		name string
		sum  trace.Summary
		want int
		has  string
	}{
		{"workspace tools and a repository", trace.Summary{ToolCalls: 2, Tools: map[string]int{"Read": 1, "WebFetch": 1}, Refs: repo}, 0, ""},
		{"no repository", trace.Summary{ToolCalls: 1, Tools: map[string]int{"Bash": 1}, Refs: map[string]trace.Ref{}}, 1, "pass --repo"},
		{"no tool calls", trace.Summary{Tools: map[string]int{}, Refs: repo}, 1, "no tool calls recorded"},
		{"only tools that reach outside", trace.Summary{ToolCalls: 2, Tools: map[string]int{"get_weather": 1, "mcp__x__y": 1}, Refs: repo}, 1, "get_weather, mcp__x__y"},
		{"a sub-agent tool is followed", trace.Summary{ToolCalls: 1, Tools: map[string]int{"Task": 1}, Refs: repo}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := replay.VerifyBlockers(tt.sum, replay.PolicySet{})
			if len(got) != tt.want || (tt.has != "" && !strings.Contains(strings.Join(got, "\n"), tt.has)) {
				t.Errorf("got %q, want %d reason(s) containing %q", got, tt.want, tt.has)
			}
		})
	}
	// --tool-policy get_weather=exec makes it re-executable.
	ps := replay.NewPolicySet(map[string]replay.Policy{"get_weather": replay.Exec})
	if got := replay.VerifyBlockers(trace.Summary{ToolCalls: 1, Tools: map[string]int{"get_weather": 1}, Refs: repo}, ps); len(got) != 0 {
		t.Errorf("with an exec policy: %q", got)
	}
}

// TestSameNamedForeignTool: an agent's own tool that shares a name with one
// of the sandbox's generic tools (any-agent's write_file(text) against the
// generic write_file(path, content)) is told apart by its recorded
// arguments or its definition, and answered as an unknown tool, never run
// as the wrong one.
func TestSameNamedForeignTool(t *testing.T) {
	call := func(args string) *trace.Run {
		p := trace.Part{Type: trace.PartToolCall, ID: "w1", Name: "write_file", Arguments: json.RawMessage(args)}
		return &trace.Run{Steps: []trace.Step{
			{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: "write the year"}}}},
			{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m", Output: answer("", p)}},
			{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: "w1", Name: "write_file", Arguments: p.Arguments, Status: trace.ToolOK, Output: "ok"}},
			{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m", Output: answer("done")}},
		}}
	}
	withDef := func(r *trace.Run, schema string) *trace.Run {
		r.Meta.Instr.Tools = []trace.ToolDef{{Name: "write_file", Schema: json.RawMessage(schema)}}
		return r
	}
	tests := []struct {
		name   string
		run    *trace.Run
		policy replay.Policy
		why    string
	}{
		{"recorded arguments lack the path", call(`{"text":"2025"}`), replay.Recorded, `no "path" argument`},
		{"recorded arguments the generic tool does not take", call(`{"path":"y.txt","content":"2025","mode":"a"}`), replay.Recorded, `passes "mode"`},
		{"its definition lacks the path", withDef(call(`{}`), `{"type":"object","properties":{"text":{"type":"string"}}}`), replay.Recorded, `defines its own write_file (no "path" property)`},
		{"the generic tool itself", call(`{"path":"y.txt","content":"2025"}`), replay.Exec, "a workspace tool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := newLocal(t, nil)
			rep, err := replay.Run(context.Background(), tt.run, replay.Config{Mode: replay.ModeVerify, Workspace: ws})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Calls) != 1 {
				t.Fatalf("%d calls", len(rep.Calls))
			}
			c := rep.Calls[0]
			if c.Policy != tt.policy || !strings.Contains(c.Why, tt.why) {
				t.Errorf("policy %s (%s), want %s saying %q", c.Policy, c.Why, tt.policy, tt.why)
			}
			if tt.policy != replay.Exec {
				if c.Produced != replay.ProducedRecorded || c.Fidelity.Status != replay.NotReexecuted {
					t.Errorf("produced %s, fidelity %+v: want answered from the recording", c.Produced, c.Fidelity)
				}
				if _, err := ws.ReadFile(context.Background(), "y.txt"); err == nil {
					t.Error("the foreign call ran as the sandbox's write_file")
				}
			}
		})
	}
	// An explicit --tool-policy still wins.
	ps := replay.NewPolicySet(map[string]replay.Policy{"write_file": replay.Exec}).WithRecording(call(`{"text":"2025"}`))
	if p, _ := ps.Decide("write_file", json.RawMessage(`{"text":"2025"}`)); p != replay.Exec {
		t.Errorf("--tool-policy write_file=exec: %s", p)
	}
}
