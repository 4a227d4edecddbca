package otel

import (
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// TestToolHarnessOutcome: a failed tool span whose error.type or status
// message says the agent's harness answered (a refusal, an interrupt, a
// hook) is marked so; the tool's own failures are not.
func TestToolHarnessOutcome(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		errorType string
		message   string
		attrs     map[string]any
		want      string
	}{
		{"error.type rejected", StatusError, "tool_rejected", "", nil, trace.HarnessRejected},
		{"error.type user-denied", StatusError, "UserDenied", "", nil, trace.HarnessRejected},
		{"error.type permission_denied", StatusError, "permission_denied", "", nil, trace.HarnessNoPermission},
		{"error.type cancelled", StatusError, "CancelledError", "", nil, trace.HarnessInterrupted},
		{"error.type hook", StatusError, "hook_blocked", "", nil, trace.HarnessHook},
		{"Claude Code's abort text", StatusError, "", "Permission prompt was aborted.", nil, trace.HarnessAborted},
		{"Claude Code's refusal text", StatusError, "", "The user doesn't want to proceed with this tool use.", nil, trace.HarnessRejected},
		{"Codex's declined approval", StatusError, "", "exec command rejected by user", nil, trace.HarnessRejected},
		{"Codex's sandbox refusal", StatusError, "", "failed in sandbox Seatbelt with execution error: denied", nil, trace.HarnessSandbox},
		{"an exception class is the tool's", StatusError, "PermissionError", "[Errno 13] Permission denied: '/etc/shadow'", nil, ""},
		{"the tool's own failure", StatusError, "", "permission denied", nil, ""},
		{"a span that did not fail", StatusOK, "rejected", "exec command rejected by user", nil, ""},
		{"replay's own attribute", StatusUnset, "", "", map[string]any{AttrToolHarness: trace.HarnessAborted}, trace.HarnessAborted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "Write"}
			if tt.errorType != "" {
				a["error.type"] = tt.errorType
			}
			for k, v := range tt.attrs {
				a[k] = v
			}
			tc := toolCall(&Span{Name: "execute_tool Write", Attrs: a, StatusCode: tt.status, StatusMessage: tt.message})
			if tc.Harness != tt.want {
				t.Errorf("harness %q, want %q", tc.Harness, tt.want)
			}
		})
	}
}
