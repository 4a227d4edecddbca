package replay

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompareResults(t *testing.T) {
	tests := []struct {
		name           string
		tool           string
		rec, got       string
		recErr, gotErr bool
		status         string
		norms          []string
	}{
		{"identical", "Bash", "a\nb", "a\nb", false, false, Match, nil},
		{"trailing whitespace", "Bash", "a  \nb\n\n", "a\nb", false, false, Match, []string{NormTrailingSpace}},
		{"arrow vs tab line numbers", "Read", "     1→package a\n     2→", "1\tpackage a\n2\t", false, false, Match, []string{NormLineNumbers}},
		{"reminder appended", "Read", "     1→x\n\n<system-reminder>\nWhenever you read a file, consider malware.\n</system-reminder>\n", "     1→x", false, false, Match, []string{NormReminders}},
		{"empty output note", "Bash", "(Bash completed with no output)", "", false, false, Match, []string{NormEmptyOutput}},
		{"error tags", "Edit", "<tool_use_error>String to replace not found in file.</tool_use_error>", "String to replace not found in file.", true, true, Match, []string{NormErrorTags}},
		{"glob order follows mtimes", "Glob", "/w/b.go\n/w/a.go", "/w/a.go\n/w/b.go", false, false, Match, []string{NormOrder}},
		{"grep file list order", "Grep", "Found 2 files\nb.go\na.go", "Found 2 files\na.go\nb.go", false, false, Match, []string{NormOrder}},
		{"bash output order matters", "Bash", "b\na", "a\nb", false, false, Differs, nil},
		// Only file lists may be reordered: Grep's matching lines keep
		// their order, and so do its counts per file.
		{"grep content order matters", "Grep", "a.go:1:x\na.go:9:y", "a.go:9:y\na.go:1:x", false, false, Differs, nil},
		{"grep content with line numbers", "Grep", "src/a.go:3:func x()\nsrc/a.go:7:func y()", "src/a.go:7:func y()\nsrc/a.go:3:func x()", false, false, Differs, nil},
		{"generic grep content order matters", "grep", "a.go:1:x\nb.go:2:y", "b.go:2:y\na.go:1:x", false, false, Differs, nil},
		{"read order matters", "Read", "     1→b\n     2→a", "     1→a\n     2→b", false, false, Differs, []string{NormLineNumbers}},
		// The sub-agent trailer of Claude Code 2.x.
		{"agentId trailer", "Task", "The code is safe.\nagentId: a3f9c2e1 (for resuming)", "The code is safe.", false, false, Match, []string{NormAgentTrailer}},
		{"agentId trailer on Agent", "Agent", "done\nagentId: x1", "done", false, false, Match, []string{NormAgentTrailer}},
		{"a trailer is not stripped from other tools", "Bash", "ok\nagentId: x", "ok", false, false, Differs, nil},
		{"different content", "Bash", "ok 12 tests", "FAIL 1 of 12", false, false, Differs, nil},
		{"error flag differs", "Bash", "x", "x", false, true, Differs, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CompareResults(tt.tool, tt.rec, tt.recErr, tt.got, tt.gotErr)
			if c.Status != tt.status || !cmp.Equal(c.Normalizations, tt.norms) {
				t.Errorf("got %s %v, want %s %v (diff %q)", c.Status, c.Normalizations, tt.status, tt.norms, c.Diff)
			}
			if (c.Status == Differs) != (c.Diff != "") {
				t.Errorf("a difference must come with its diff, a match without: %+v", c)
			}
		})
	}
}

func TestShortDiff(t *testing.T) {
	d := shortDiff("a\nb\nc\nd", "a\nB\nc\nd", 6)
	if d != "@@ line 2 @@\n- b\n+ B\n" {
		t.Errorf("got %q", d)
	}
	long := shortDiff("x\n"+strings.Repeat("r\n", 20), "x\n"+strings.Repeat("s\n", 20), 3)
	if !strings.Contains(long, "- … 17 more line(s)") || !strings.Contains(long, "+ … 17 more line(s)") {
		t.Errorf("got %q", long)
	}
}

// TestMissingProgramIsAnEnvironmentDivergence: a shell call that failed in
// the sandbox only because the image lacks a program the agent had is an
// environment divergence naming the program, not a world one; a program
// missing in the recording too, or any other difference, stays as it is.
func TestMissingProgramIsAnEnvironmentDivergence(t *testing.T) {
	tests := []struct {
		name, tool, recorded, got string
		want                      string
		reason                    string
	}{
		{"bash", "Bash", "3 files", "bash: line 1: rg: command not found", Environment, "not in the sandbox's image: rg"},
		{"busybox sh, two programs", "Bash", "ok\nok", "sh: npm: not found\nsh: pytest: not found", Environment, "npm, pytest"},
		{"missing in the recording too", "Bash", "bash: line 1: rg: command not found", "sh: rg: not found", Differs, ""},
		{"another difference", "Bash", "3 files", "4 files", Differs, ""},
		{"not a shell tool", "Read", "x", "rg: command not found", Differs, ""},
	}
	for _, tt := range tests {
		got := environmentOf(tt.tool, tt.recorded, tt.got, CompareResults(tt.tool, tt.recorded, false, tt.got, false))
		if got.Status != tt.want || !strings.Contains(got.Reason, tt.reason) {
			t.Errorf("%s: %s %q, want %s %q", tt.name, got.Status, got.Reason, tt.want, tt.reason)
		}
	}
}
