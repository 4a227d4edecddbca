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
