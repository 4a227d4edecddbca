package cli

import (
	"fmt"
	"strings"
)

// verifyJSONVersion versions `replay verify --json`. 2: unreplayed, and
// incomplete also says when the replay did not reach the recording's end.
const verifyJSONVersion = 2

// verifyJSONFields documents every field of `replay verify --json`, in the
// order `replay verify --help` lists them (a test checks that the list is
// what verifyJSON emits). Paths: a.b is a field of object a, a[] an element
// of array a.
var verifyJSONFields = []struct{ Path, Doc string }{
	{"version", fmt.Sprintf("the version of this JSON (%d); a field changes meaning only with a new version", verifyJSONVersion)},
	{"original", "the store id of the trace verified"},
	{"run", "the store id of the replay (a new run linked to the original)"},
	{"workspace", "the working directory of the replay in the sandbox"},
	{"commit", "the commit the workspace was checked out at (absent: no repository)"},
	{"faithful", "true only when every re-executed call matches, nothing is incomplete and no call differs by the environment"},
	{"counts", "calls by fidelity status: match, differs, not-reexecuted, environment, harness"},
	{"calls", "the tool calls of the replay, sub-agents included, in the order they were answered"},
	{"calls[].run", "the run key (absent: the main run)"},
	{"calls[].step", "the 1-based step in its run"},
	{"calls[].call_id", "the tool call's id"},
	{"calls[].tool", "the tool's name"},
	{"calls[].arguments", "the arguments, as canonical JSON"},
	{"calls[].policy", "how it was answered: exec, recorded, deny, agent"},
	{"calls[].why", "why that policy applied"},
	{"calls[].produced", "what produced its result: exec, recorded, denied, agent, harness"},
	{"calls[].is_error", "the result was an error"},
	{"calls[].fault", "the sandbox limit or failure the call met (timeout, oom, pids, disk, protocol, …)"},
	{"calls[].fidelity", "the verdict on the call"},
	{"calls[].fidelity.status", "match, differs, not-reexecuted, environment (a program the image lacks) or harness (the agent's harness answered in the original)"},
	{"calls[].fidelity.normalizations", "the normalizations applied to reach a match (trailing-whitespace, line-number-format, …)"},
	{"calls[].fidelity.diff", "for differs: a short diff, recorded against replayed"},
	{"calls[].fidelity.reason", "for the other statuses: why"},
	{"calls[].original_step", "the original's step the call aligns with (absent: none)"},
	{"divergences", "what the recorded model was fed differently from the recording"},
	{"divergences[].run", "the recorded run's key (absent: the main run)"},
	{"divergences[].call", "the 0-based model call whose request differed"},
	{"divergences[].call_id", "the tool call whose result differed"},
	{"divergences[].tool", "its tool"},
	{"divergences[].kind", "result (fed a different result), missing (no result fed), unrecorded (nothing recorded to compare)"},
	{"divergences[].recorded", "the recorded result"},
	{"divergences[].got", "the result fed back"},
	{"divergences[].recorded_error", "the recorded result was an error"},
	{"divergences[].got_error", "the result fed back was an error"},
	{"actions", "whether the replay took the original's actions (the diff's alignment)"},
	{"actions.same", "true when no step diverged"},
	{"actions.line", "the diff's one-line verdict"},
	{"actions.first_divergence", "the first divergent step (null: none)"},
	{"actions.first_divergence.kind", "what differs (tool, arguments, result_status, final_output, decision, …)"},
	{"actions.first_divergence.run", "the run key in the replay (\"\": the main run)"},
	{"actions.first_divergence.a_step", "the 1-based step in the original (0: none)"},
	{"actions.first_divergence.b_step", "the 1-based step in the replay (0: none)"},
	{"actions.first_divergence.step", "the step it is reported at: the replay's, else the original's"},
	{"actions.first_divergence.pair", "the index of the aligned step pair (-1: final output, decision)"},
	{"actions.first_divergence.what", "short: \"Grep → Task\""},
	{"actions.first_divergence.original", "what the original did there"},
	{"actions.first_divergence.replay", "what the replay did"},
	{"stopped", "why the replay stopped before the agent finished (a limit, interrupted, model-error, sandbox-fault)"},
	{"normalizations", "every normalization applied, over all calls"},
	{"incomplete", "what the verify could not check (no call re-executed, no repository, the recording not followed to its end); then faithful is false and the exit code 3"},
	{"unreplayed", "the recorded runs the replay did not follow to their end"},
	{"unreplayed[].run", "the run key (absent: the main run)"},
	{"unreplayed[].answered", "its recorded model calls the replay answered"},
	{"unreplayed[].recorded", "its recorded model calls"},
}

// verifyJSONHelp is the --json section of `replay verify --help`.
func verifyJSONHelp() string {
	var b strings.Builder
	fmt.Fprintf(&b, "JSON output (--json, version %d): one object; every field:\n\n", verifyJSONVersion)
	w := 0
	for _, f := range verifyJSONFields {
		w = max(w, len(f.Path))
	}
	for _, f := range verifyJSONFields {
		fmt.Fprintf(&b, "  %-*s  %s\n", w, f.Path, f.Doc)
	}
	return strings.TrimRight(b.String(), "\n")
}
