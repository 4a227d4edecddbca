package diff

import (
	"encoding/json"
	"fmt"

	"github.com/agentreplay/replay/replay/trace"
)

// Hand-made runs for tests.

func msg(role, text string) trace.Step {
	return trace.Step{Kind: trace.KindMessage, Message: &trace.Message{Role: role, Parts: []trace.Part{{Type: trace.PartText, Text: text}}}}
}

func llm(text string, calls ...string) trace.Step {
	m := trace.Message{Role: "assistant"}
	if text != "" {
		m.Parts = append(m.Parts, trace.Part{Type: trace.PartText, Text: text})
	}
	for _, c := range calls {
		m.Parts = append(m.Parts, trace.Part{Type: trace.PartToolCall, Name: c})
	}
	return trace.Step{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m1", Output: m, Usage: &trace.Usage{Input: 100, Output: 10}, Cost: trace.Cost{Recorded: trace.Float(0.01)}, LatencyMS: 500}}
}

func tool(name, args, out string) trace.Step {
	return trace.Step{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: "c-" + name + args, Name: name, Arguments: json.RawMessage(args), Status: trace.ToolOK, Output: out}}
}

func failed(name, args, out string) trace.Step {
	s := tool(name, args, out)
	s.Tool.Status = trace.ToolError
	return s
}

func reviewDecision(action string, findings ...string) *trace.Decision {
	v := fmt.Sprintf(`{"action":%q,"findings":[%s]}`, action, join(findings))
	return &trace.Decision{Kind: "review", Source: "file output/review-result.json", Value: json.RawMessage(v)}
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func run(id string, steps ...trace.Step) *trace.Run {
	return &trace.Run{Meta: trace.RunMeta{ID: id, Agent: "review", Format: "native"}, Steps: steps, Outcome: &trace.Outcome{Status: trace.StatusOK}}
}

func replayOf(r *trace.Run, id string, steps ...trace.Step) *trace.Run {
	n := run(id, steps...)
	n.Meta.Replay = &trace.Origin{Of: r.Meta.ID, Mode: "run", Variant: map[string]string{"model": "m2"}}
	return n
}

func handA() *trace.Run {
	r := run("aaaa1111",
		msg("user", "Review PR 42"),
		llm("", "Read"),
		tool("Read", `{"file_path":"src/a.go"}`, "package a\n"),
		llm("", "Grep"),
		tool("Grep", `{"pattern":"TODO"}`, "src/a.go:3"),
		llm("", "Bash"),
		tool("Bash", `{"command":"go test ./..."}`, "ok"),
		llm("Done: request changes."),
	)
	r.Outcome.Final = "Done: request changes.\nOne finding."
	r.Outcome.Decision = reviewDecision("request-changes", `{"severity":"high","category":"correctness","file":"src/a.go","line":3,"description":"TODO left in the error path"}`)
	return r
}

// handInserted is handA with one step inserted (a Glob): everything after it
// still aligns.
func handInserted() *trace.Run {
	a := handA()
	steps := append([]trace.Step{}, a.Steps[:3]...)
	steps = append(steps, llm("", "Glob"), tool("Glob", `{"pattern":"**/*.go"}`, "src/a.go\nsrc/b.go"))
	steps = append(steps, a.Steps[3:]...)
	r := replayOf(a, "bbbb2222", steps...)
	r.Outcome.Final = "Done: approve.\nNo finding."
	r.Outcome.Decision = reviewDecision("approve")
	return r
}

const patchA = `diff --git a/src/a.go b/src/a.go
--- a/src/a.go
+++ b/src/a.go
@@ -1,3 +1,3 @@
 package a
-// TODO
+// handled
 func A() {}
`

const patchB = `diff --git a/src/a.go b/src/a.go
--- a/src/a.go
+++ b/src/a.go
@@ -1,3 +1,3 @@
 package a
-// TODO
+// fixed differently
 func A() {}
diff --git a/src/b.go b/src/b.go
new file mode 100644
--- /dev/null
+++ b/src/b.go
@@ -0,0 +1,2 @@
+package a
+func B() {}
`

func handPatchA() *trace.Run {
	r := run("cccc3333", msg("user", "fix it"), llm("", "Edit"),
		tool("Edit", `{"file_path":"src/a.go","old_string":"// TODO","new_string":"// handled"}`, "updated"), llm("fixed"))
	r.Outcome.Patch = patchA
	r.Outcome.Final = "fixed"
	return r
}

func handPatchB() *trace.Run {
	r := replayOf(handPatchA(), "dddd4444", msg("user", "fix it"), llm("", "Edit"),
		tool("Edit", `{"file_path":"src/a.go","old_string":"// TODO","new_string":"// fixed differently"}`, "updated"),
		llm("", "Write"), failed("Write", `{"file_path":"src/b.go","content":"package a\nfunc B() {}\n"}`, "File has not been read yet."),
		llm("fixed"))
	r.Outcome.Patch = patchB
	r.Outcome.Final = "fixed"
	return r
}
