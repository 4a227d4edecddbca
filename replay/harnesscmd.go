package replay

import (
	"slices"

	"github.com/agentreplay/replay/replay/trace/openhands"
	"github.com/agentreplay/replay/replay/trace/sweagent"
)

// sweAgentTools are the commands of SWE-agent's own tool bundles (the
// windowed file viewer and editor, its search commands): programs the
// harness installs in its container, which the sandbox's image does not
// have. A call of one is answered from the recording, and its fidelity is
// an environment difference, never a world one.
var sweAgentTools = []string{"open", "goto", "scroll_up", "scroll_down", "search_file", "search_dir", "find_file", "edit", "create", "insert", "append", "filemap"}

// sweAgentHarness are the commands SWE-agent itself answers: submit ends
// the run and takes the repository's diff as the submission.
var sweAgentHarness = []string{"submit", "exit_forfeit"}

// harnessCommand classifies a call a SWE-agent run answered with its own
// tools or its harness, or OpenHands' finish (ok false for any other run or tool): the fidelity
// of its recorded answer.
func harnessCommand(orig string, tool string) (Comparison, bool) {
	if orig == openhands.Name && tool == "finish" {
		return Comparison{Status: Harness, Reason: "OpenHands' finish is answered by the harness (it ends the conversation); answered as recorded"}, true
	}
	if orig != sweagent.Name {
		return Comparison{}, false
	}
	switch {
	case slices.Contains(sweAgentHarness, tool):
		return Comparison{Status: Harness, Reason: "SWE-agent's " + tool + " is answered by the harness (it ends the run and takes the diff as the submission); answered as recorded"}, true
	case slices.Contains(sweAgentTools, tool):
		return Comparison{Status: Environment, Reason: "SWE-agent's own command " + tool + " needs its tool bundle, which the sandbox's image lacks: answered as recorded (pass --image with an image that has SWE-agent's tools to run it)"}, true
	}
	return Comparison{}, false
}
