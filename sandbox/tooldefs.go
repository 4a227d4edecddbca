package sandbox

import (
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/sandbox/executor"
)

// ToolDef describes a tool the sandbox executes, for offering it to a
// model: Claude Code transcripts record no tool definitions, so a replay
// through an OpenAI-compatible API offers these.
type ToolDef = trace.ToolDef

// The tools themselves — names, schemas, implementations — are one list,
// executor.Tools; everything below is derived from it.

// ClaudeCodeTools are Claude Code's built-in tools that the sandbox runs,
// with their argument schemas (descriptions are our own, short ones).
func ClaudeCodeTools() []ToolDef { return toolDefs(executor.FamilyClaudeCode) }

// GenericTools is the generic tool set, plain names and plain results, for
// models that were not trained on Claude Code's tools.
func GenericTools() []ToolDef { return toolDefs(executor.FamilyGeneric) }

// BenchTools are the agent-benchmark harnesses' tools the sandbox runs
// (SWE-agent's and OpenHands' shell and str_replace_editor, inspect_ai's
// bash and python) and Anthropic's text editor, for offering a model the
// tools a benchmark run used.
func BenchTools() []ToolDef {
	return append(toolDefs(executor.FamilyBench), toolDefs(executor.FamilyAnthropic)...)
}

func toolDefs(family string) []ToolDef {
	var defs []ToolDef
	for _, t := range executor.Tools() {
		if t.Family == family {
			defs = append(defs, ToolDef{Name: t.Name, Description: t.Description, Schema: t.Schema})
		}
	}
	return defs
}

// IsWorkspaceTool reports whether the sandbox implements a tool of that
// name: such a tool only reads or changes the workspace, so a replay runs
// it in the sandbox by default.
func IsWorkspaceTool(name string) bool {
	_, ok := executor.LookupTool(name)
	return ok
}

// IsShellTool reports whether a tool runs a shell command line (Bash,
// shell): its calls are judged by the programs the command runs.
func IsShellTool(name string) bool {
	t, ok := executor.LookupTool(name)
	return ok && t.Shell
}

// LookupToolDef returns the definition of the workspace tool of that name
// and whether it is one of the generic set (plain names any agent may use
// for a tool of its own).
func LookupToolDef(name string) (def ToolDef, generic, ok bool) {
	t, ok := executor.LookupTool(name)
	if !ok {
		return ToolDef{}, false, false
	}
	return ToolDef{Name: t.Name, Description: t.Description, Schema: t.Schema}, t.Family == executor.FamilyGeneric, true
}
