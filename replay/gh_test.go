package replay

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type dirFiles string

func (d dirFiles) File(name string) ([]byte, bool) {
	b, err := os.ReadFile(filepath.Join(string(d), name))
	return b, err == nil
}

// The example's GitHub fixture (REST-shaped) answers gh reads as gh prints
// them without a terminal.
func TestGHAnswer(t *testing.T) {
	gh := dirFiles("../testdata/example/github")
	diff, _ := gh.File("pr.diff")
	tests := []struct {
		cmd      string
		ok       bool
		contains string
	}{
		{"gh pr diff 42", true, strings.TrimRight(string(diff), "\n")},
		{"gh pr diff 42 --repo acme/widgets", true, "diff --git"},
		{"gh pr view 42", true, "title:\tAdd page_count helper\nstate:\tOPEN\nauthor:\tada-dev\n"},
		{"gh pr view 42 --json title,author,headRefOid", true, `"headRefOid":"072bdd28f8409b602018042d087e7b7fa184dc79"`},
		{"gh pr view 42 --json files", true, `"path":"widgets/paginate.py"`},
		{"gh api repos/acme/widgets/pulls/42", true, `"number": 42`},
		{"gh api repos/acme/widgets/pulls/42/files", true, `"filename"`},
		{"gh pr view 41", false, ""},
		{"gh pr view 42 --json title --jq .title", false, ""},
		{"gh pr view 42 --json statusCheckRollup", false, ""},
		{"gh pr comment 42 --body LGTM", false, ""},
		{"gh pr review 42 --approve", false, ""},
		{"gh api -X POST repos/acme/widgets/issues/42/comments -f body=hi", false, ""},
		{"gh pr diff 42 | head", false, ""},
		{"git diff", false, ""},
	}
	for _, tt := range tests {
		out, ok := ghAnswer(gh, tt.cmd)
		if ok != tt.ok || !strings.Contains(out, tt.contains) {
			t.Errorf("%s: ok %v, output %.200q; want ok %v containing %q", tt.cmd, ok, out, tt.ok, tt.contains)
		}
		if ok && strings.Contains(tt.cmd, "--json") && !json.Valid([]byte(out)) {
			t.Errorf("%s: not JSON: %s", tt.cmd, out)
		}
	}
	if _, ok := ghAnswer(nil, "gh pr diff 42"); ok {
		t.Error("answered without a snapshot")
	}
}

func TestShellWords(t *testing.T) {
	w, ok := shellWords(`gh pr comment 42 --body "it's \"fine\"" 'a b'`)
	if !ok || len(w) != 7 || w[6] != "a b" || w[5] != `it's "fine"` {
		t.Errorf("%q %v", w, ok)
	}
	if _, ok := shellWords(`echo "unterminated`); ok {
		t.Error("unterminated quote accepted")
	}
}
