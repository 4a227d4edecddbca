package replay

import (
	"encoding/json"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

func runOf(calls ...[2]string) *trace.Run {
	r := &trace.Run{Steps: []trace.Step{{Kind: trace.KindMessage, Message: &trace.Message{Role: "user"}}}}
	for _, c := range calls {
		r.Steps = append(r.Steps, trace.Step{Kind: trace.KindLLM, LLM: &trace.LLMCall{}}, trace.Step{Kind: trace.KindTool, Tool: &trace.ToolCall{Name: c[0], Arguments: json.RawMessage(c[1])}})
	}
	return r
}

func TestFirstDivergence(t *testing.T) {
	a := runOf([2]string{"Read", `{"file_path":"/a"}`}, [2]string{"Bash", `{"command":"ls","description":"list"}`})
	if d := FirstDivergence(a, runOf([2]string{"Read", `{ "file_path": "/a" }`}, [2]string{"Bash", `{"command":"ls"}`})); d != nil {
		t.Errorf("the same actions diverge: %+v", d)
	}
	d := FirstDivergence(a, runOf([2]string{"Read", `{"file_path":"/a"}`}, [2]string{"Bash", `{"command":"ls -la"}`}))
	if d == nil || d.Step != 5 || d.Original != `Bash {"command":"ls","description":"list"}` || d.Replay != `Bash {"command":"ls -la"}` {
		t.Errorf("got %+v", d)
	}
	d = FirstDivergence(a, runOf([2]string{"Read", `{"file_path":"/a"}`}))
	if d == nil || d.Replay != "ended after 1 tool calls" {
		t.Errorf("a shorter replay: %+v", d)
	}
	d = FirstDivergence(runOf(), runOf([2]string{"Grep", `{"pattern":"x"}`}))
	if d == nil || d.Step != 3 || d.Original != "ended after 0 tool calls" {
		t.Errorf("a longer replay: %+v", d)
	}
}
