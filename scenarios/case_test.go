package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSuite lays out a suite directory from name -> content; a trace
// file "traces/t.jsonl" is always there.
func writeSuite(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{"traces/t.jsonl": nativeTrace}
	for k, v := range files {
		all[k] = v
	}
	for name, body := range all {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const nativeTrace = `{"type":"header","header":{"format":"replay","version":1}}
{"type":"run","meta":{"agent":"review"}}
{"type":"outcome","outcome":{"status":"ok","decision":{"kind":"review","value":{"action":"approve"}}}}
`

const goodCase = `id: review-42
trace:
  path: ../traces/t.jsonl
feedback:
  human: override
  decision: {action: request-changes}
  by: alice
expect:
  decision: human
  predicates:
    - 'decision.action in ["request-changes", "reject"]'
  tools_never_used: ["Bash:git push --force"]
  max_steps: 30
`

func TestLoadSuiteDirectory(t *testing.T) {
	dir := writeSuite(t, map[string]string{
		"suite.yaml":         "suite: review-regressions\nrepeat: 3\nvariants:\n  - name: mini\n    model: gpt-4o-mini\n",
		"cases/review.yaml":  goodCase,
		"cases/other.yml":    strings.Replace(goodCase, "review-42", "review-43", 1),
		"cases/README.md":    "not a case",
		"results.jsonl":      "ignored",
		"worlds/x/pr.json":   "{}",
		"cases/sub/c44.yaml": strings.NewReplacer("review-42", "review-44", "../traces", "../../traces").Replace(goodCase),
	})
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "review-regressions" || s.Repeat != 3 || len(s.Variants) != 1 || s.Variants[0].Model != "gpt-4o-mini" {
		t.Errorf("suite %+v", s)
	}
	var ids []string
	for _, c := range s.Cases {
		ids = append(ids, c.ID)
	}
	if strings.Join(ids, ",") != "review-43,review-42,review-44" {
		t.Errorf("cases %v, want the case files in path order (other.yml, review.yaml, sub/c44.yaml)", ids)
	}
	c := s.Cases[1]
	if c.Feedback == nil || c.Feedback.Human != "override" || c.Feedback.Decision["action"] != "request-changes" || len(c.preds) != 1 {
		t.Errorf("case %+v", c)
	}
	if got := c.TracePath(); got != filepath.Join(dir, "traces", "t.jsonl") {
		t.Errorf("trace path %s: relative to the case file", got)
	}
}

// TestLoadErrorsNameFileLineField: an invalid suite fails before any case
// runs, every problem at its file:line: field.
func TestLoadErrorsNameFileLineField(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"unknown field", "id: a\ntrace:\n  path: ../traces/t.jsonl\nexpect:\n  decision: original\n  max_step: 3\n",
			[]string{"bad.yaml:6: expect.max_step: unknown field"}},
		{"wrong type", "id: a\ntrace:\n  path: ../traces/t.jsonl\nexpect:\n  max_steps: lots\n",
			[]string{"bad.yaml:5: expect.max_steps: got string, want integer"}},
		{"bad enum", "id: a\ntrace:\n  path: ../traces/t.jsonl\nexpect:\n  decision: humans\n",
			[]string{"bad.yaml:5: expect.decision: value must be one of"}},
		{"missing expect", "id: a\ntrace:\n  path: ../traces/t.jsonl\n",
			[]string{"bad.yaml:1: missing property 'expect'"}},
		{"predicate does not compile", "id: a\ntrace:\n  path: ../traces/t.jsonl\nexpect:\n  predicates:\n    - 'decision.action =='\n",
			[]string{"bad.yaml:6: expect.predicates[0]: \"decision.action ==\" does not compile"}},
		{"predicate not a condition", "id: a\ntrace:\n  path: ../traces/t.jsonl\nexpect:\n  predicates:\n    - 'steps + 1'\n",
			[]string{"bad.yaml:6: expect.predicates[0]: \"steps + 1\" is a int, want a condition"}},
		{"missing trace", "id: a\ntrace:\n  path: ../traces/nope.jsonl\nexpect:\n  decision: original\n",
			[]string{"bad.yaml:3: trace.path: open", "no such file"}},
		{"changed trace", "id: a\ntrace:\n  path: ../traces/t.jsonl\n  sha256: " + strings.Repeat("ab", 32) + "\nexpect:\n  decision: original\n",
			[]string{"bad.yaml:4: trace.sha256:", "the trace changed since export"}},
		{"human without a human decision", "id: a\ntrace:\n  path: ../traces/t.jsonl\nfeedback:\n  human: revert\nexpect:\n  decision: human\n",
			[]string{"bad.yaml:7: expect.decision: human: the case has no feedback with the human's decision"}},
		{"not YAML", "id: [a\n", []string{"bad.yaml:", "not YAML"}},
		{"bad id", "id: 'has space'\ntrace:\n  path: ../traces/t.jsonl\nexpect:\n  decision: original\n",
			[]string{"bad.yaml:1: id: 'has space' does not match pattern"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeSuite(t, map[string]string{"cases/bad.yaml": tt.body, "cases/good.yaml": goodCase})
			_, err := Load(dir)
			if err == nil {
				t.Fatal("loaded an invalid suite")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, "cases", "bad.yaml")) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestLoadRejectsDuplicateIDsAndEmptySuites(t *testing.T) {
	dir := writeSuite(t, map[string]string{"cases/a.yaml": goodCase, "cases/b.yaml": goodCase})
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `case "review-42" is also defined at`) {
		t.Errorf("duplicate ids: %v", err)
	}
	empty := writeSuite(t, map[string]string{"suite.yaml": "suite: nothing\n"})
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "no cases (an empty suite is never a pass)") {
		t.Errorf("empty suite: %v", err)
	}
	twice := writeSuite(t, map[string]string{"suite.yaml": "suite: s\nvariants:\n  - name: a\n  - name: a\n", "cases/a.yaml": goodCase})
	if _, err := Load(twice); err == nil || !strings.Contains(err.Error(), "suite.yaml:4: variants[1].name: variant \"a\" is named twice") {
		t.Errorf("variant named twice: %v", err)
	}
}

func TestLoadSingleCaseFileAndInlineCases(t *testing.T) {
	dir := writeSuite(t, map[string]string{"cases/a.yaml": goodCase,
		"inline.yaml": "suite: inline\ncases:\n  - id: x\n    trace: {path: traces/t.jsonl}\n    expect: {decision: original}\n"})
	s, err := Load(filepath.Join(dir, "cases", "a.yaml"))
	if err != nil || len(s.Cases) != 1 || s.Cases[0].ID != "review-42" {
		t.Fatalf("one case file: %v %+v", err, s)
	}
	s, err = Load(filepath.Join(dir, "inline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "inline" || len(s.Cases) != 2 {
		t.Errorf("inline suite %q with %d cases, want its inline case and the cases/ beside it", s.Name, len(s.Cases))
	}
}

func TestSchemaIsValidJSON(t *testing.T) {
	l := &loader{}
	for _, root := range []string{"suite", "case"} {
		if _, err := l.schema(root); err != nil {
			t.Fatal(err)
		}
	}
}
