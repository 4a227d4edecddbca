package feedback

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
)

func TestRead(t *testing.T) {
	good := `{"trace":"acme/widgets#42","human":"override","decision":{"action": "request-changes"},"by":"alice","at":"2026-11-02T10:00:00+01:00","url":"https://github.com/acme/widgets/pull/42#pullrequestreview-1","note":"missed the nil check"}`
	tests := []struct {
		name    string
		in      string
		want    []Entry
		wantErr []string // each a line of the error, in order
	}{
		{name: "one act, blank lines around", in: "\n" + good + "\n\n",
			want: []Entry{{Trace: "acme/widgets#42", Line: 2, Feedback: trace.Feedback{Human: "override",
				Decision: json.RawMessage(`{"action":"request-changes"}`), By: "alice", At: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC),
				URL: "https://github.com/acme/widgets/pull/42#pullrequestreview-1", Note: "missed the nil check", Source: "file:fb.jsonl:2"}}}},
		{name: "the least a line holds, no final newline", in: `{"trace":"3f2a","human":"confirm"}`,
			want: []Entry{{Trace: "3f2a", Line: 1, Feedback: trace.Feedback{Human: "confirm", Source: "file:fb.jsonl:1"}}}},
		{name: "empty file", in: "", want: nil},
		{name: "unknown field", in: `{"trace":"x","human":"confirm","reviewer":"bob"}`,
			wantErr: []string{"fb.jsonl:1: reviewer: unknown field"}},
		{name: "wrong type", in: `{"trace":"x","human":"confirm","by":3}`,
			wantErr: []string{"fb.jsonl:1: by: got number, want string"}},
		{name: "decision not an object", in: `{"trace":"x","human":"override","decision":"approve"}`,
			wantErr: []string{"fb.jsonl:1: decision: got string, want object"}},
		{name: "bad human", in: `{"trace":"x","human":"approve"}`,
			wantErr: []string{`fb.jsonl:1: human: "approve": want override, revert, manual-fix or confirm`}},
		{name: "bad time", in: `{"trace":"x","human":"confirm","at":"2026-11-02 10:00"}`,
			wantErr: []string{`fb.jsonl:1: at: "2026-11-02 10:00": want an RFC 3339 time`}},
		{name: "missing fields", in: `{"by":"alice"}`,
			wantErr: []string{"fb.jsonl:1: human: missing", "fb.jsonl:1: trace: missing"}},
		{name: "empty trace", in: `{"trace":"","human":"confirm"}`, wantErr: []string{"fb.jsonl:1: trace: empty"}},
		{name: "not JSON", in: good + "\n{\"trace\":", wantErr: []string{"fb.jsonl:2: not a JSON object"}},
		{name: "not an object", in: `["trace"]`, wantErr: []string{"fb.jsonl:1: got array, want object"}},
		{name: "every bad line is named, a good one among them gives nothing", in: `{"trace":"x","human":"nope"}` + "\n" + good + "\n" + `{"trace":1,"human":"confirm"}`,
			wantErr: []string{"fb.jsonl:1: human:", "fb.jsonl:3: trace: got number, want string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tt.in), "fb.jsonl")
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, entries %+v", got)
				}
				lines := strings.Split(err.Error(), "\n")
				if len(lines) != len(tt.wantErr) {
					t.Fatalf("error:\n%v\nwant %d lines starting %q", err, len(tt.wantErr), tt.wantErr)
				}
				for i, w := range tt.wantErr {
					if !strings.HasPrefix(lines[i], w) {
						t.Errorf("error line %d: %q, want it to start %q", i+1, lines[i], w)
					}
				}
				if got != nil {
					t.Errorf("entries %+v from a bad file", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Trace != w.Trace || g.Line != w.Line || store.FeedbackKey(g.Feedback) != store.FeedbackKey(w.Feedback) ||
					string(g.Feedback.Decision) != string(w.Feedback.Decision) || !g.Feedback.At.Equal(w.Feedback.At) ||
					g.Feedback.Note != w.Feedback.Note || g.Feedback.Source != w.Feedback.Source {
					t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}

// TestSchemaIsTheDocumentation: the schema names every field Read takes.
func TestSchemaIsTheDocumentation(t *testing.T) {
	var s struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"trace", "human", "decision", "by", "at", "url", "note"} {
		if _, ok := s.Properties[f]; !ok {
			t.Errorf("schema has no property %q", f)
		}
	}
	if strings.Join(s.Required, ",") != "trace,human" {
		t.Errorf("required %v", s.Required)
	}
}

func TestWorkItemKey(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://github.com/Acme/Widgets/pull/42", "acme/widgets#42"},
		{"https://github.com/acme/widgets/pull/42/files#diff-1", "acme/widgets#42"},
		{"github.com/acme/widgets/issues/7", "acme/widgets#7"},
		{"https://ghe.example.com/acme/widgets/pull/3", "acme/widgets#3"},
		{"acme/widgets#42", "acme/widgets#42"},
		{"https://api.github.com/repos/acme/widgets/pulls/42", "acme/widgets#42"},
		{"acme/widgets", ""},
		{"https://github.com/acme/widgets", ""},
		{"42", ""},
		{"acme/widgets#0", ""},
	}
	for _, tt := range tests {
		got, ok := WorkItemKey(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("WorkItemKey(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestAttach(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	imp := func(p string) string {
		r, err := st.Import(ctx, p, "", trace.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	review, triage, rerun := imp("testdata/review.jsonl"), imp("testdata/triage.jsonl"), imp("testdata/replay.jsonl")

	file := strings.Join([]string{
		`{"trace":"` + review[:8] + `","human":"override","decision":{"action":"request-changes"},"by":"alice","at":"2026-11-02T10:00:00Z"}`,
		`{"trace":"https://github.com/acme/widgets/pull/42","human":"revert","by":"bob","at":"2026-11-03T10:00:00Z"}`,
		`{"trace":"5d1c9e2a-0000-4000-8000-000000000001","human":"manual-fix","by":"carol"}`,
		`{"trace":"4bf92f3577b34da6a3ce929d0e0e4736","human":"confirm","by":"dan"}`,
		`{"trace":"acme/gadgets#7","human":"override","by":"erin","at":"2026-11-05T15:00:00Z"}`,
		`{"trace":"acme/gadgets#7","human":"override","by":"frank","at":"2026-11-01T00:00:00Z"}`,
		`{"trace":"acme/widgets#43","human":"confirm"}`,
		`{"trace":"` + rerun + `","human":"confirm"}`,
		`{"trace":"` + review[:8] + `","human":"override","decision":{"action":"request-changes"},"by":"alice","at":"2026-11-02T10:00:00Z","note":"same act"}`,
	}, "\n")
	entries, err := Read(strings.NewReader(file), "fb.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Attach(ctx, st, entries)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		runs    []string
		by      string
		added   int
		problem string
	}{
		{[]string{review}, ByID, 1, ""},
		{[]string{review}, ByURL, 1, ""},     // the replay works on the same PR: never a target
		{[]string{review}, BySession, 1, ""}, // so does the replay's session
		{[]string{triage}, ByTraceID, 1, ""},
		{[]string{triage}, ByURL, 1, ""},      // case-insensitive: the run recorded Acme/Gadgets#7
		{nil, "", 0, "no stored run matches"}, // an act before the run started is not about it
		{nil, "", 0, "no stored run matches"},
		{nil, "", 0, "is a replay"},
		{[]string{review}, ByID, 0, ""}, // the same act again: stored once
	}
	if len(rep.Lines) != len(want) {
		t.Fatalf("%d lines reported, want %d", len(rep.Lines), len(want))
	}
	for i, w := range want {
		l := rep.Lines[i]
		if strings.Join(l.Runs, ",") != strings.Join(w.runs, ",") || l.By != w.by || l.Added != w.added || !strings.Contains(l.Problem, w.problem) || (w.problem == "") != (l.Problem == "") {
			t.Errorf("line %d: %+v; want runs %v by %q, %d added, problem %q", i+1, l, w.runs, w.by, w.added, w.problem)
		}
	}
	if rep.Added != 5 || rep.Unmatched != 3 {
		t.Errorf("added %d, unmatched %d; want 5, 3", rep.Added, rep.Unmatched)
	}
	run, err := st.Run(ctx, review)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range run.Feedback {
		got = append(got, f.By+" "+f.Human+" "+f.Source)
	}
	// Oldest first; carol's act has no time: last.
	if w := "alice override file:fb.jsonl:1|bob revert file:fb.jsonl:2|carol manual-fix file:fb.jsonl:3"; strings.Join(got, "|") != w {
		t.Errorf("review's feedback %q, want %q", strings.Join(got, "|"), w)
	}
	if fb, _ := st.Feedback(ctx, rerun); len(fb) != 0 {
		t.Errorf("the replay got feedback: %+v", fb)
	}
}

// TestAttachAmbiguousPrefix: a prefix two stored runs share names neither.
func TestAttachAmbiguousPrefix(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, p := range []string{"testdata/amb1.jsonl", "testdata/amb2.jsonl"} { // ids 1bc5aca1…, 1bc5a0a1…
		if _, err := st.Import(ctx, p, "", trace.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Attach(ctx, st, []Entry{
		{Trace: "1bc5a", Line: 1, Feedback: trace.Feedback{Human: trace.HumanOverride}},
		{Trace: "1bc5ac", Line: 2, Feedback: trace.Feedback{Human: trace.HumanOverride}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if l := rep.Lines[0]; len(l.Runs) != 0 || !strings.HasPrefix(l.Problem, "ambiguous prefix") {
		t.Errorf("shared prefix: %+v", l)
	}
	if l := rep.Lines[1]; len(l.Runs) != 1 || !strings.HasPrefix(l.Runs[0], "1bc5ac") || l.By != ByID {
		t.Errorf("unique prefix: %+v", l)
	}
	if rep.Unmatched != 1 || rep.Added != 1 {
		t.Errorf("unmatched %d, added %d", rep.Unmatched, rep.Added)
	}
}
