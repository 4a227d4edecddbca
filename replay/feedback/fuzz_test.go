package feedback

import (
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// FuzzRead: whatever the input, Read either fails naming file:line or
// gives entries that hold a run name and a known act, each from its line.
// Seeds are in testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	f.Add(`{"trace":"acme/widgets#42","human":"override","decision":{"action":"request-changes"},"by":"alice","at":"2026-11-02T10:00:00Z"}`)
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := Read(strings.NewReader(in), "f.jsonl")
		if err != nil {
			if entries != nil {
				t.Fatalf("entries %v beside error %v", entries, err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.jsonl:") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		lines := strings.Count(in, "\n") + 1
		prev := 0
		for _, e := range entries {
			if e.Trace == "" || !trace.IsHumanAct(e.Feedback.Human) || e.Line <= prev || e.Line > lines ||
				!strings.HasPrefix(e.Feedback.Source, "file:f.jsonl:") {
				t.Fatalf("bad entry %+v", e)
			}
			prev = e.Line
		}
	})
}

// FuzzWorkItemKey: a key is owner/name#N, and normalizing it again gives
// itself.
func FuzzWorkItemKey(f *testing.F) {
	for _, s := range []string{"https://github.com/Acme/Widgets/pull/42", "acme/widgets#7", "github.com/o/r/issues/1/", "https://api.github.com/repos/o/r/pulls/3", "o/r#0", "#1", "a/b/c#2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, ok := WorkItemKey(s)
		if !ok {
			return
		}
		repo, num, found := strings.Cut(key, "#")
		if !found || strings.Count(repo, "/") != 1 || strings.HasPrefix(num, "0") || num == "" {
			t.Fatalf("WorkItemKey(%q) = %q", s, key)
		}
		if again, ok := WorkItemKey(key); !ok || again != key {
			t.Fatalf("WorkItemKey(%q) = %q, then %q, %v", s, key, again, ok)
		}
	})
}
