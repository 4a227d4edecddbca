package store

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// storeReplay stores a native run that replays of (as verify and run store
// their outputs), with the outcome status and stop reason given, and
// returns its index row.
func storeReplay(t *testing.T, s *Store, of, mode, status, stopped string) Entry {
	t.Helper()
	ctx := context.Background()
	meta := map[string]any{"format": "native", "agent": "review", "replay": trace.Origin{Of: of, Mode: mode, Variant: map[string]string{"model": "m"}}}
	outcome := map[string]any{"status": status}
	if stopped != "" {
		outcome["stopped"], outcome["stopped_at"] = stopped, 2
	}
	lines := []any{
		map[string]any{"type": "header", "header": map[string]any{"format": "replay-run", "version": 1}},
		map[string]any{"type": "run", "meta": meta},
		map[string]any{"type": "message", "message": map[string]any{"role": "user", "parts": []any{map[string]any{"type": "text", "text": "Review PR #42 (" + of + mode + status + stopped + ")"}}}},
		map[string]any{"type": "outcome", "outcome": outcome},
	}
	var b []byte
	for _, l := range lines {
		j, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b = append(append(b, j...), '\n')
	}
	p := filepath.Join(t.TempDir(), "replay.jsonl")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := s.ImportAs(ctx, p, "replay of "+of, trace.NativeName, trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := s.get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ids(es []Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// sameIDs checks that got and want hold the same runs, in any order.
func sameIDs(t *testing.T, what string, got []Entry, want ...Entry) {
	t.Helper()
	g, w := ids(got), ids(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s: %s, want %s", what, g, w)
	}
}

// A replay's row says what it replays and how, and whether it failed; ls
// filters on it.
func TestReplayRows(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	orig, err := s.Import(ctx, "testdata/review.jsonl", "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	verify := storeReplay(t, s, orig.ID, "verify", "ok", "")
	failed := storeReplay(t, s, orig.ID, "run", "error", "model-error")
	limited := storeReplay(t, s, orig.ID, "run", "interrupted", "max-steps")

	if verify.ReplayOf != orig.ID || verify.ReplayMode != "verify" || verify.Stopped != "" || !verify.IsReplay() || verify.Failed() {
		t.Errorf("verify row: %+v", verify)
	}
	if failed.ReplayMode != "run" || failed.Stopped != "model-error" || !failed.Failed() {
		t.Errorf("failed run row: replay of %q mode %q stopped %q failed %v", failed.ReplayOf, failed.ReplayMode, failed.Stopped, failed.Failed())
	}
	if limited.Stopped != "max-steps" || !limited.Failed() {
		t.Errorf("a run a limit stopped: stopped %q failed %v", limited.Stopped, limited.Failed())
	}
	o, err := s.Lookup(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.IsReplay() || o.Failed() || o.ReplayMode != "" {
		t.Errorf("original row: %+v", o)
	}
	// An original whose own outcome is an error is not a failed replay.
	tri, err := s.Import(ctx, "testdata/triage.jsonl", "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Lookup(ctx, tri.ID); e.Status != "error" || e.Failed() {
		t.Errorf("an original with status %q: failed %v", e.Status, e.Failed())
	}

	for _, tt := range []struct {
		kind Kind
		want int
	}{{AllRuns, 5}, {Originals, 2}, {Replays, 3}} {
		rows, err := s.List(ctx, Filter{Kind: tt.kind})
		n, cerr := s.Count(ctx, Filter{Kind: tt.kind})
		if err != nil || cerr != nil || len(rows) != tt.want || n != tt.want {
			t.Errorf("kind %d: %d rows, count %d (%v, %v), want %d", tt.kind, len(rows), n, err, cerr, tt.want)
		}
		for _, r := range rows {
			if !tt.kind.match(r) {
				t.Errorf("kind %d lists %s (replay of %q)", tt.kind, r.ID, r.ReplayOf)
			}
		}
	}
}

// Remove takes a run's file and row away; Replays finds what replays a run,
// replays of replays included.
func TestRemove(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	orig, err := s.Import(ctx, "testdata/review.jsonl", "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Import(ctx, "testdata/triage.jsonl", "", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r1 := storeReplay(t, s, orig.ID, "verify", "ok", "")
	r2 := storeReplay(t, s, r1.ID, "run", "ok", "") // a replay of the replay
	r3 := storeReplay(t, s, other.ID, "run", "ok", "")

	got, err := s.Replays(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "replays of the original", got, r1, r2)
	got, _ = s.Replays(ctx, r1.ID)
	sameIDs(t, "replays of the replay", got, r2)
	got, _ = s.Replays(ctx, orig.ID, r1.ID)
	sameIDs(t, "replays of the original and r1 (the given ones left out)", got, r2)
	got, _ = s.Replays(ctx, r3.ID)
	sameIDs(t, "replays of a replay nothing replays", got)

	// A path names the stored trace of its content, without importing it.
	oe, err := s.ResolveAs(ctx, "rm", "testdata/review.jsonl", ResolveOptions{Stored: true})
	if err != nil || oe.ID != orig.ID {
		t.Fatalf("resolve a path to its stored trace: %v, %v", oe.ID, err)
	}
	if _, err := s.ResolveAs(ctx, "rm", "testdata/bad.jsonl", ResolveOptions{Stored: true}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a path whose content is not stored: %v, want ErrNotFound", err)
	}
	removed, err := s.Remove(ctx, []string{r2.ID, r1.ID, orig.ID, r1.ID, "0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "removed (duplicates and unknown ids skipped)", removed, r2, r1, oe)
	for _, e := range removed {
		if _, err := os.Stat(s.Path(e.ID)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the file of %s stays: %v", e.ID, err)
		}
		if _, err := s.Lookup(ctx, e.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("the row of %s stays: %v", e.ID, err)
		}
	}
	if rows, _ := s.List(ctx, Filter{}); len(rows) != 2 {
		t.Errorf("%d rows left, want 2 (the other original and its replay)", len(rows))
	}
	if _, err := s.Run(ctx, other.ID); err != nil {
		t.Errorf("the other original: %v", err)
	}
	// Removed content can be imported again.
	if r, err := s.Import(ctx, "testdata/review.jsonl", "", trace.Options{}); err != nil || r.Existing || r.ID != orig.ID {
		t.Errorf("import after remove: %+v, %v", r, err)
	}
	if _, err := s.Remove(ctx, []string{orig.ID[:8]}); err == nil {
		t.Error("Remove of a prefix: no error, want one (it takes full ids)")
	}
}

// Expired picks the runs stored before a cutoff (the clock is the store's),
// keeping an old original a newer replay replays.
func TestExpired(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	day := 24 * time.Hour
	at := func(ago time.Duration) { s.now = func() time.Time { return t0.Add(-ago) } }

	at(40 * day)
	o1, _ := s.Import(ctx, "testdata/review.jsonl", "", trace.Options{})
	o2, _ := s.Import(ctx, "testdata/triage.jsonl", "", trace.Options{})
	at(35 * day)
	r1 := storeReplay(t, s, o1.ID, "verify", "ok", "")
	at(day)
	r2 := storeReplay(t, s, o2.ID, "run", "error", "model-error") // o2 was replayed again lately
	o3, _ := s.Import(ctx, "testdata/notime.jsonl", "", trace.Options{})
	at(0)
	cutoff := t0.Add(-30 * day)

	x, err := s.Expired(ctx, cutoff, AllRuns)
	if err != nil {
		t.Fatal(err)
	}
	e1, _ := s.Lookup(ctx, o1.ID)
	e2, _ := s.Lookup(ctx, o2.ID)
	sameIDs(t, "expired", x.Remove, e1, r1)
	sameIDs(t, "kept: replayed by a newer run", x.Kept, e2)

	x, _ = s.Expired(ctx, cutoff, Replays)
	sameIDs(t, "expired replays", x.Remove, r1)
	sameIDs(t, "kept", x.Kept)

	x, _ = s.Expired(ctx, t0.Add(time.Hour), AllRuns)
	e3, _ := s.Lookup(ctx, o3.ID)
	sameIDs(t, "everything stored before now", x.Remove, e1, e2, r1, r2, e3)

	// Temporary files a killed import or replay left: old ones go, recent
	// ones (a day or younger: maybe still being written) stay.
	os.MkdirAll(filepath.Join(s.root, "tmp"), 0o755)
	old := []string{filepath.Join(s.root, "traces", ".import-1.tmp"), filepath.Join(s.root, "tmp", "run-1.jsonl")}
	young := filepath.Join(s.root, "tmp", "run-2.jsonl")
	for _, p := range append(old, young) {
		os.WriteFile(p, []byte("{}\n"), 0o644)
	}
	for _, p := range old {
		os.Chtimes(p, t0.Add(-40*day), t0.Add(-40*day))
	}
	os.Chtimes(young, t0.Add(-time.Hour), t0.Add(-time.Hour))
	files, err := s.RemoveLeftovers(t0, true)
	if err != nil || len(files) != 2 {
		t.Fatalf("dry run: %v, %v; want the two old files", files, err)
	}
	for _, p := range old {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("dry run removed %s", p)
		}
	}
	if files, err = s.RemoveLeftovers(t0, false); err != nil || len(files) != 2 || files[0].Size != 3 {
		t.Fatalf("remove: %v, %v", files, err)
	}
	for _, p := range old {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s stays", p)
		}
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("a recent temporary file was removed: %v", err)
	}
}

// A store indexed by the previous schema (version 2, before replays had
// columns of their own) opens: the migration adds the columns and fills
// them from the stored summaries.
func TestMigrateFromVersion2(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dsn := (&url.URL{Scheme: "file", Path: filepath.Join(root, "index.db")}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range migrations()[:2] {
		if _, err := db.ExecContext(ctx, step); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	const origID, replayID, failedID = "aaaa0000000000000000000000000001", "bbbb0000000000000000000000000002", "cccc0000000000000000000000000003"
	for _, r := range []struct {
		id, status string
		origin     *trace.Origin
	}{
		{origID, "ok", nil},
		{replayID, "ok", &trace.Origin{Of: origID, Mode: "verify", Variant: map[string]string{"mode": "verify"}}},
		{failedID, "interrupted", &trace.Origin{Of: origID, Mode: "run", Variant: map[string]string{"model": "m"}, Sample: 1}},
	} {
		sum, _ := json.Marshal(trace.Summary{Version: trace.SummaryVersion, ID: r.id, Format: "native", Status: r.status, Origin: r.origin})
		_, err := db.ExecContext(ctx, `INSERT INTO traces (id, format, imported_at, sort_at, llm_calls, tool_calls, tokens, status, replayable, summary)
			VALUES (?, 'native', ?, ?, 0, 0, 0, ?, 1, ?)`, r.id, t0.UnixNano(), t0.UnixNano(), r.status, string(sum))
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := openStore(t, root)
	var v int
	s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
	if v != len(migrations()) {
		t.Errorf("schema version %d after opening, want %d", v, len(migrations()))
	}
	replays, err := s.List(ctx, Filter{Kind: Replays})
	if err != nil {
		t.Fatal(err)
	}
	if len(replays) != 2 {
		t.Fatalf("%d replays after the migration, want 2", len(replays))
	}
	byID := map[string]Entry{}
	for _, e := range replays {
		byID[e.ID] = e
	}
	if e := byID[replayID]; e.ReplayOf != origID || e.ReplayMode != "verify" || e.Failed() {
		t.Errorf("the verify replay after the migration: %+v", e)
	}
	if e := byID[failedID]; e.ReplayOf != origID || e.ReplayMode != "run" || !e.Failed() || e.Stopped != "" {
		t.Errorf("the failed run after the migration: %+v", e)
	}
	if o, _ := s.List(ctx, Filter{Kind: Originals}); len(o) != 1 || o[0].ID != origID {
		t.Errorf("originals after the migration: %v", ids(o))
	}
	got, err := s.Replays(ctx, origID)
	if err != nil || len(got) != 2 {
		t.Errorf("replays of the original: %v, %v", ids(got), err)
	}
}
