package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
)

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func openStore(t testing.TB, root string) *Store {
	t.Helper()
	s, err := Open(context.Background(), root, Options{Pricer: model.DefaultPricing(), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func fileID(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:IDLen]
}

// leftovers lists files under traces/ that are not stored traces.
func leftovers(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(s.root, "traces"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".jsonl") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())

	r, err := s.Import(ctx, "testdata/review.jsonl", "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := fileID(t, "testdata/review.jsonl")
	if r.ID != id || r.Existing || r.Format != "claude-code" || r.Importer != "native" {
		t.Fatalf("result %+v, want id %s, new, format claude-code read as native", r, id)
	}
	// Counts derived by hand from testdata/review.jsonl: 5 llm lines (3 main,
	// 2 in agent-a1), tools Bash, Read, Task; tokens summed over the 5 usages.
	sum := r.Summary
	if sum.ID != id || sum.LLMCalls != 5 || sum.ToolCalls != 3 || sum.Runs != 2 ||
		sum.Tokens != (trace.Usage{Input: 1880, Output: 220, CacheRead: 30200, CacheWrite: 1700}) {
		t.Errorf("summary: id %s, %d llm, %d tools, %d runs, tokens %+v", sum.ID, sum.LLMCalls, sum.ToolCalls, sum.Runs, sum.Tokens)
	}
	if sum.Cost.Recorded == nil || *sum.Cost.Recorded != 0.0123 || sum.Cost.Priced == nil {
		t.Errorf("cost %+v: want recorded 0.0123 and a priced cost", sum.Cost)
	}

	// The stored file is the native form of the trace with the id set and the
	// source made absolute.
	rc, err := s.OpenRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := trace.DecodeRun(ctx, rc, "stored")
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open("testdata/review.jsonl")
	orig, err := trace.DecodeRun(ctx, f, "orig")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if stored.Meta.ID != id {
		t.Errorf("stored run id %q, want %q", stored.Meta.ID, id)
	}
	orig.Meta.ID = id
	if !cmp.Equal(orig, stored, cmpopts.EquateEmpty()) {
		t.Errorf("stored run differs from the source:\n%s", cmp.Diff(orig, stored, cmpopts.EquateEmpty()))
	}

	// The index row.
	e, err := s.Lookup(ctx, id[:6])
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata/review.jsonl")
	want := Entry{
		ID: id, Format: "claude-code", Agent: "review", Repo: "acme/widgets", WorkItem: "acme/widgets#42", PR: "42",
		Commit: "9f1c2e3d4b5a69788796a5b4c3d2e1f0a9b8c7d6", Source: abs,
		StartedAt: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), EndedAt: time.Date(2026, 11, 2, 9, 0, 30, 0, time.UTC),
		ImportedAt: t0, LLMCalls: 5, ToolCalls: 3, Tokens: 1880 + 220 + 30200 + 1700,
		CostRecorded: sum.Cost.Recorded, CostPriced: sum.Cost.Priced, Status: "ok", Replayable: true,
	}
	if fi, err := os.Stat(s.Path(id)); err == nil {
		want.FileSize = fi.Size()
	}
	if !cmp.Equal(want, e) {
		t.Errorf("index row:\n%s", cmp.Diff(want, e))
	}
	got, err := s.Summary(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(sum, got) {
		t.Errorf("indexed summary differs from the import's:\n%s", cmp.Diff(sum, got))
	}

	// Importing the same content again, from another path, parses nothing.
	dup := filepath.Join(t.TempDir(), "copy.jsonl")
	data, _ := os.ReadFile("testdata/review.jsonl")
	os.WriteFile(dup, data, 0o644)
	r2, err := s.Import(ctx, dup, "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Existing || r2.ID != id || !cmp.Equal(sum, r2.Summary) {
		t.Errorf("second import: existing %v id %s", r2.Existing, r2.ID)
	}
	if n, _ := s.Count(ctx, Filter{}); n != 1 {
		t.Errorf("%d rows after a duplicate import, want 1", n)
	}

	// A deleted trace file is restored by importing again.
	os.Remove(s.Path(id))
	r3, err := s.Import(ctx, "testdata/review.jsonl", "", trace.Options{})
	if err != nil || r3.Existing {
		t.Fatalf("re-import after the file was deleted: %+v, %v", r3, err)
	}
	if _, err := os.Stat(s.Path(id)); err != nil {
		t.Error(err)
	}
}

func TestImportFailuresLeaveNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	if _, err := s.Import(ctx, "testdata/triage.jsonl", "", trace.Options{}); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name   string
		ctx    context.Context
		path   string
		format string
		check  func(error) bool
	}{
		{"bad line", ctx, "testdata/bad.jsonl", "", func(err error) bool {
			var le *trace.LineError
			return errors.As(err, &le) && le.Line == 4 && strings.HasPrefix(err.Error(), "testdata/bad.jsonl:4: ")
		}},
		{"empty", ctx, empty, "", func(err error) bool { return errors.Is(err, trace.ErrNotTrace) }},
		{"unknown format", ctx, "testdata/review.jsonl", "nope", func(err error) bool { return strings.Contains(err.Error(), "valid formats are") }},
		{"missing", ctx, "testdata/missing.jsonl", "", func(err error) bool { return errors.Is(err, os.ErrNotExist) }},
		{"cancelled", cancelled, "testdata/review.jsonl", "", func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, tt := range tests {
		_, err := s.Import(tt.ctx, tt.path, tt.format, trace.Options{})
		if err == nil || !tt.check(err) {
			t.Errorf("%s: unexpected error %v", tt.name, err)
		}
	}
	if n, _ := s.Count(ctx, Filter{}); n != 1 {
		t.Errorf("%d rows, want the 1 earlier import", n)
	}
	if l := leftovers(t, s); len(l) > 0 {
		t.Errorf("files left behind: %q", l)
	}
	if _, err := os.Stat(s.Path(fileID(t, "testdata/review.jsonl"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed import left its trace file: %v", err)
	}

	// --lenient imports the bad file, with a warning naming the line.
	r, err := s.Import(ctx, "testdata/bad.jsonl", "", trace.Options{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Summary.Warnings) != 1 || !strings.HasPrefix(r.Summary.Warnings[0], "testdata/bad.jsonl:4: skipped 1 line(s)") {
		t.Errorf("warnings %q", r.Summary.Warnings)
	}
}

// put indexes a synthetic row with the given id (for lookups and listings
// that need ids the content hash would not give).
func put(t *testing.T, s *Store, e Entry) {
	t.Helper()
	if e.ImportedAt.IsZero() {
		e.ImportedAt = t0
	}
	if e.Format == "" {
		e.Format = "native"
	}
	sum := trace.Summary{Version: trace.SummaryVersion, ID: e.ID, Format: e.Format, Agent: e.Agent}
	if ok, err := s.insert(context.Background(), s.db, e, sum); err != nil || !ok {
		t.Fatalf("insert %s: %v, %v", e.ID, ok, err)
	}
}

func TestLookup(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	ids := []string{
		"abcd0000000000000000000000000001",
		"abcd0000000000000000000000000002",
		"abce0000000000000000000000000000",
		"0123456789abcdef0123456789abcdef",
	}
	for _, id := range ids {
		put(t, s, Entry{ID: id, Agent: "review", StartedAt: t0})
	}
	tests := []struct {
		in     string
		want   string
		errHas string
	}{
		{in: ids[3], want: ids[3]},
		{in: "0123", want: ids[3]},
		{in: "ABCE", want: ids[2]},
		{in: " abce00 ", want: ids[2]},
		{in: "abcd0000000000000000000000000002", want: ids[1]},
		{in: "abcd", errHas: "find trace \"abcd\": ambiguous id prefix, it matches 2 traces:\n  abcd0000000000000000000000000001  native  review  2026-11-20T12:00:00Z\n  abcd0000000000000000000000000002"},
		{in: "abc", errHas: "id prefix too short: give at least 4 characters"},
		{in: "ffff", errHas: "find trace \"ffff\": no trace in the store has this id"},
		{in: "review.jsonl", errHas: "not an id"},
		{in: ids[3] + "0", errHas: "not an id"},
	}
	for _, tt := range tests {
		e, err := s.Lookup(ctx, tt.in)
		if tt.want != "" {
			if err != nil || e.ID != tt.want {
				t.Errorf("Lookup(%q) = %s, %v; want %s", tt.in, e.ID, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("Lookup(%q) error %v, want %q", tt.in, err, tt.errHas)
		}
	}
	_, err := s.Lookup(ctx, "abcd")
	var amb *AmbiguousError
	if !errors.As(err, &amb) || len(amb.Candidates) != 2 || amb.More {
		t.Errorf("ambiguous: %#v", err)
	}
	if _, err := s.Lookup(ctx, "ffff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown prefix must wrap ErrNotFound: %v", err)
	}
	for i := range 12 {
		put(t, s, Entry{ID: fmt.Sprintf("eeee%028d", i)})
	}
	if _, err := s.Lookup(ctx, "eeee"); !errors.As(err, &amb) || len(amb.Candidates) != maxCandidates || !amb.More ||
		!strings.Contains(err.Error(), "more than 10 traces") {
		t.Errorf("many matches: %v", err)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	for _, p := range []string{"testdata/review.jsonl", "testdata/triage.jsonl", "testdata/notime.jsonl"} {
		if _, err := s.Import(ctx, p, "", trace.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	put(t, s, Entry{ID: "aaaa0000000000000000000000000000", Agent: "review", Repo: "https://github.com/ACME/widgets.git", StartedAt: t0.Add(-48 * time.Hour)})
	review, triage, notime := fileID(t, "testdata/review.jsonl"), fileID(t, "testdata/triage.jsonl"), fileID(t, "testdata/notime.jsonl")
	synth := "aaaa0000000000000000000000000000"

	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		// notime has no start: it sorts by its import time t0, the newest.
		{"all newest first", Filter{}, []string{notime, synth, triage, review}},
		{"limit", Filter{Limit: 2}, []string{notime, synth}},
		{"agent, any case", Filter{Agent: "REVIEW"}, []string{notime, synth, review}},
		{"repo by name matches URL refs", Filter{Repo: "acme/widgets"}, []string{synth, review}},
		{"repo by URL", Filter{Repo: "git@github.com:acme/widgets.git"}, []string{synth, review}},
		{"repo from the work item", Filter{Repo: "acme/gadgets"}, []string{triage}},
		{"since", Filter{Since: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)}, []string{notime, synth, triage}},
		{"no match", Filter{Agent: "nobody"}, nil},
	}
	for _, tt := range tests {
		got, err := s.List(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		if !cmp.Equal(tt.want, ids) {
			t.Errorf("%s: got %q, want %q", tt.name, ids, tt.want)
		}
		n, err := s.Count(ctx, tt.f)
		if err != nil || (tt.f.Limit == 0 && n != len(tt.want)) {
			t.Errorf("%s: Count = %d, %v", tt.name, n, err)
		}
	}
}

func TestRepoKey(t *testing.T) {
	for in, want := range map[string]string{
		"acme/widgets":                          "acme/widgets",
		"Acme/Widgets#42":                       "acme/widgets",
		"https://github.com/acme/widgets":       "acme/widgets",
		"https://github.com/acme/widgets.git/":  "acme/widgets",
		"git@github.com:acme/widgets.git":       "acme/widgets",
		"ssh://git@github.com/acme/widgets.git": "acme/widgets",
		"widgets":                               "widgets",
		"":                                      "",
	} {
		if got := RepoKey(in); got != want {
			t.Errorf("RepoKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContentID(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mk := func(rel, content string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("run-telemetry.jsonl", "{}\n")
	mk("iteration-1/output.jsonl", "{\"type\":\"result\"}\n")
	id1, err := ContentID(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(id1) != IDLen || !validID(id1) {
		t.Fatalf("id %q", id1)
	}
	// The same tree elsewhere has the same id.
	other := t.TempDir()
	os.MkdirAll(filepath.Join(other, "iteration-1"), 0o755)
	os.WriteFile(filepath.Join(other, "run-telemetry.jsonl"), []byte("{}\n"), 0o644)
	os.WriteFile(filepath.Join(other, "iteration-1", "output.jsonl"), []byte("{\"type\":\"result\"}\n"), 0o644)
	if id, _ := ContentID(ctx, other); id != id1 {
		t.Errorf("same content, different ids: %s %s", id, id1)
	}
	// A renamed file or a changed byte changes it.
	os.Rename(filepath.Join(other, "run-telemetry.jsonl"), filepath.Join(other, "run-telemetry2.jsonl"))
	if id, _ := ContentID(ctx, other); id == id1 {
		t.Error("renaming a file must change the id")
	}
	mk("run-telemetry.jsonl", "{}\n\n")
	if id, _ := ContentID(ctx, dir); id == id1 {
		t.Error("changing a file must change the id")
	}
	// A file's id is the sha256 of its bytes.
	if id, _ := ContentID(ctx, "testdata/review.jsonl"); id != fileID(t, "testdata/review.jsonl") {
		t.Errorf("file id %s", id)
	}
}

func TestReopenAndSchemaVersion(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openStore(t, root)
	if _, err := s.Import(ctx, "testdata/review.jsonl", "", trace.Options{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openStore(t, root)
	if n, _ := s2.Count(ctx, Filter{}); n != 1 {
		t.Errorf("reopened store has %d rows", n)
	}
	var mode string
	s2.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal mode %q, want wal", mode)
	}
	if _, err := s2.db.ExecContext(ctx, `PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	_, err := Open(ctx, root, Options{})
	if want := fmt.Sprintf("schema version 99 is newer than this replay understands (%d): upgrade replay", len(migrations())); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("newer schema: %v", err)
	}
}

// TestConcurrentImports runs two stores (as two `replay import` processes
// would) on one root, importing overlapping inputs at once.
func TestConcurrentImports(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	in := t.TempDir()
	review, _ := os.ReadFile("testdata/review.jsonl")
	var paths []string
	for i := range 8 {
		p := filepath.Join(in, fmt.Sprintf("t%d.jsonl", i))
		// Distinct content: a trailing blank line count the decoder ignores.
		os.WriteFile(p, append(review, []byte(strings.Repeat("\n", i))...), 0o644)
		paths = append(paths, p)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, root, Options{})
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for i := range paths {
				if _, err := s.Import(ctx, paths[(i+w)%len(paths)], "", trace.Options{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := openStore(t, root)
	if n, _ := s.Count(ctx, Filter{}); n != len(paths) {
		t.Errorf("%d rows, want %d", n, len(paths))
	}
	for _, p := range paths {
		id := fileID(t, p)
		if _, err := s.Lookup(ctx, id); err != nil {
			t.Error(err)
		}
		rc, err := s.OpenRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := trace.DecodeRun(ctx, rc, id); err != nil {
			t.Errorf("stored file of %s: %v", id, err)
		}
		rc.Close()
	}
	if l := leftovers(t, s); len(l) > 0 {
		t.Errorf("files left behind: %q", l)
	}
}

// TestOddRoot opens stores at a relative root and at one whose name has the
// characters a URI gives meaning to: the index must land inside the root.
func TestOddRoot(t *testing.T) {
	ctx := context.Background()
	review, err := filepath.Abs("testdata/review.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	for _, root := range []string{"rel home", "we?ird #dir %41"} {
		s := openStore(t, root)
		if _, err := s.Import(ctx, review, "", trace.Options{}); err != nil {
			t.Fatalf("%q: %v", root, err)
		}
		if _, err := os.Stat(filepath.Join(root, "index.db")); err != nil {
			t.Errorf("%q: index not inside the root: %v", root, err)
		}
	}
}

// A stored file cut short (a crash before the system wrote it out: imports
// are not synced) is recognized by its recorded size: reading it fails with
// what to do, and importing the source again restores it.
func TestDamagedFileIsRestored(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	r, err := s.Import(ctx, "testdata/review.jsonl", "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Path(r.ID)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)/2], 0o644)
	if _, err := s.OpenRun(ctx, r.ID); err == nil || !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "review.jsonl again") {
		t.Errorf("reading a damaged file: %v", err)
	}
	r2, err := s.Import(ctx, "testdata/review.jsonl", "", trace.Options{})
	if err != nil || r2.Existing || r2.ID != r.ID {
		t.Fatalf("re-import: %+v %v", r2, err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, b) {
		t.Error("the file was not restored")
	}
}

// A record of many megabytes (a model's huge answer, a tool's huge output)
// is stored whole: the store's import lifts its long strings out of what
// the importer decodes (trace.Lifted) and the native file has them back,
// in every place the importer put them, byte for byte.
func TestImportHugeRecordKeepsItsText(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	huge := strings.Repeat("all \"work\" and\nno play é ", 12<<20/24)
	quoted, err := json.Marshal(huge)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "huge.jsonl")
	body := `{"type":"assistant","sessionId":"s","uuid":"a1","timestamp":"2025-01-01T10:00:00Z","message":{"id":"m1","model":"claude-x","usage":{"input_tokens":1,"output_tokens":1},"content":[{"type":"text","text":` + string(quoted) + `}]}}` + "\n" +
		`{"type":"user","sessionId":"s","uuid":"u1","parentUuid":"a1","timestamp":"2025-01-01T10:00:01Z","message":{"role":"user","content":"thanks"}}` + "\n"
	if err := os.WriteFile(in, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := s.Import(ctx, in, "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var texts int
	for _, st := range run.Steps {
		if st.LLM != nil {
			for _, p := range st.LLM.Output.Parts {
				if p.Text != huge {
					t.Fatalf("the stored text is %d bytes (%.40q…), want the record's %d", len(p.Text), p.Text, len(huge))
				}
				texts++
			}
		}
	}
	if texts != 1 || run.Outcome == nil || run.Outcome.Final != huge {
		t.Fatalf("texts %d; the final message is not the huge text", texts)
	}
}
