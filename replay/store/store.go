// Package store is replay's local store of traces: every imported trace is
// kept in the native format under a content-addressed id, and indexed in a
// SQLite database for listing and id-prefix lookup.
//
// Layout under the root:
//
//	index.db                      SQLite (WAL), the index: one row per trace
//	traces/<id[:2]>/<id>.jsonl    the trace in the native format
//
// Several processes may use one root at once: SQLite serializes the writers,
// and a trace file only appears under its final name once it is complete.
package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
)

// ErrNotFound is returned (wrapped) when no stored trace has the id or id
// prefix asked for.
var ErrNotFound = errors.New("no trace in the store has this id or id prefix")

// Options configure a Store.
type Options struct {
	// Pricer prices the model calls of imported traces (the priced cost kept
	// in the index). Nil leaves priced cost unknown.
	Pricer trace.Pricer
	// Now returns the current time (the import time). Nil means time.Now.
	Now func() time.Time
}

// Store is an open store. It is safe for concurrent use.
type Store struct {
	root   string
	db     *sql.DB
	pricer trace.Pricer
	now    func() time.Time
}

// Open opens the store at root, creating it (and migrating an older index)
// as needed.
func Open(ctx context.Context, root string, opts Options) (*Store, error) {
	if root == "" {
		return nil, errors.New("open store: no root directory given")
	}
	root, err := filepath.Abs(root) // the index is opened by URI, which wants an absolute path
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(root, "traces"), 0o755); err != nil {
		return nil, fmt.Errorf("open store %q: %w", root, err)
	}
	dsn := (&url.URL{Scheme: "file", Path: filepath.Join(root, "index.db")}).String() +
		"?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store index %q: %w", filepath.Join(root, "index.db"), err)
	}
	s := &Store{root: root, db: db, pricer: opts.Pricer, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	// A fresh index is switched to WAL by the first connection; another
	// process opening it at that moment can get SQLITE_BUSY without the
	// busy handler being consulted, so opening is retried for a while.
	err = s.migrate(ctx)
	for try := 0; err != nil && isBusy(err) && try < 100; try++ {
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(10+try*5) * time.Millisecond):
		}
		err = s.migrate(ctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store index %q: %w", filepath.Join(root, "index.db"), err)
	}
	return s, nil
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// Close closes the index.
func (s *Store) Close() error { return s.db.Close() }

// Root returns the store's root directory.
func (s *Store) Root() string { return s.root }

// Path returns where the native file of trace id is (or would be) stored.
func (s *Store) Path(id string) string {
	return filepath.Join(s.root, "traces", id[:2], id+".jsonl")
}

// Result is the outcome of importing one input.
type Result struct {
	ID string
	// Format is the trace's format as recorded in the run (the format of the
	// original trace, also when the input was a native file).
	Format string
	// Importer is the format that read the input ("native" for a native file);
	// empty when Existing.
	Importer string
	Summary  trace.Summary
	// Existing is true when the same content was already in the store: the
	// input was not parsed and Summary is the stored one.
	Existing bool
}

// Import adds the trace at path to the store, reading it as format (empty:
// detect it). The input is hashed while it is imported; content already in
// the store is recognized by its hash and its import cancelled. The import streams: events go to the native file (a temporary
// file renamed into place once complete and synced) and to a Summarizer,
// whose summary is then indexed. On any error nothing is indexed and no file
// is left behind.
func (s *Store) Import(ctx context.Context, path, format string, opts trace.Options) (Result, error) {
	return s.ImportAs(ctx, path, "", format, opts)
}

// HoldsRecords reports whether path is read by a format whose one input
// may hold several runs (trace.Multi), to be imported with ImportRecords.
func HoldsRecords(path, format string) bool {
	src, err := importers.Open(path)
	if err != nil {
		return false
	}
	f, err := importers.Detect(src, format)
	if err != nil {
		return false
	}
	_, ok := f.(trace.Multi)
	return ok
}

// ImportRecords imports the trace at path like Import, and an input holding
// several runs (a trace.Multi format's evaluation output: one record per
// instance or sample) as one stored trace per record, in file order. A
// record's id is derived from the content's and its key, so importing the
// file again finds them all. An input of one record is Import.
func (s *Store) ImportRecords(ctx context.Context, path, format string, opts trace.Options) ([]Result, error) {
	src, err := importers.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := importers.Detect(src, format)
	if err != nil {
		return nil, err
	}
	m, ok := f.(trace.Multi)
	if !ok || opts.Record != "" {
		r, err := s.Import(ctx, path, format, opts)
		if err != nil {
			return nil, err
		}
		return []Result{r}, nil
	}
	keys, err := m.Records(ctx, src, opts)
	if err != nil {
		return nil, fmt.Errorf("import %q as %s: %w", path, f.Name(), err)
	}
	if len(keys) <= 1 {
		r, err := s.Import(ctx, path, f.Name(), opts)
		if err != nil {
			return nil, err
		}
		return []Result{r}, nil
	}
	var out []Result
	for _, k := range keys {
		o := opts
		o.Record = k
		r, err := s.ImportAs(ctx, path, "", f.Name(), o)
		if err != nil {
			return out, fmt.Errorf("import record %q of %q: %w", k, path, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// recordID is the id of one record of an input whose content has id.
func recordID(id, key string) string {
	h := sha256.Sum256([]byte(id + "\x00record\x00" + key))
	return hex.EncodeToString(h[:])[:IDLen]
}

// ImportAs is Import for an input that was fetched into a local file: source
// (a URL, say) is recorded as where the trace came from instead of path.
func (s *Store) ImportAs(ctx context.Context, path, source, format string, opts trace.Options) (Result, error) {
	p, err := s.prepare(ctx, Input{Path: path, Source: source, Format: format, Options: opts})
	if err != nil || p.row == nil {
		return p.res, err
	}
	inserted, err := s.insert(ctx, s.db, *p.row, p.res.Summary)
	return s.settle(ctx, p, inserted, err)
}

// Input is one input of ImportAll: what Import and ImportAs take.
type Input struct {
	Path    string
	Source  string // where the trace came from, when not Path (see ImportAs)
	Format  string // "" to detect it
	Options trace.Options
	// Detected, when set, is the format Path was detected as, read from
	// Head (as importers.Walk found it): the input is not detected again.
	Detected trace.Format
	Head     *trace.Source
}

// prepared is an input stored in its file, its index row not yet written.
type prepared struct {
	res   Result
	row   *Entry // nil when the content was in the store already (res.Existing)
	final string
}

// settle finishes an import once its row was inserted (or failed to be).
func (s *Store) settle(ctx context.Context, p prepared, inserted bool, err error) (Result, error) {
	if err != nil {
		os.Remove(p.final)
		return Result{}, fmt.Errorf("import %q: index: %w", p.res.Summary.Source, err)
	}
	if !inserted {
		// Another process imported the same content meanwhile: its row stands
		// (the file it renamed into place holds the same events).
		if r, ok, err := s.existing(ctx, p.res.ID); err != nil || ok {
			return r, err
		}
	}
	return p.res, nil
}

// ImportAll imports inputs as Import does, parsing up to workers of them at
// once, and indexes them all in one transaction. done, when not nil, is
// called (from one goroutine at a time) as each input is parsed. The results
// and errors are in the order of inputs; an input that fails does not stop
// the others.
func (s *Store) ImportAll(ctx context.Context, inputs []Input, workers int, done func(i int)) ([]Result, []error) {
	results := make([]Result, len(inputs))
	errs := make([]error, len(inputs))
	preps := make([]prepared, len(inputs))
	workers = max(1, min(workers, len(inputs)))
	next := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				preps[i], errs[i] = s.prepare(ctx, inputs[i])
				if done != nil {
					mu.Lock()
					done(i)
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range inputs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i := range inputs {
		if errs[i] == nil && preps[i].row == nil && preps[i].res.ID == "" {
			errs[i] = ctx.Err() // never started
		}
	}

	var pend []int
	for i, p := range preps {
		switch {
		case errs[i] != nil:
		case p.row == nil:
			results[i] = p.res
		default:
			pend = append(pend, i)
		}
	}
	if len(pend) == 0 {
		return results, errs
	}
	// Rows are stamped in the order of inputs, as imports one by one would be.
	now := s.now()
	for k, i := range pend {
		preps[i].row.ImportedAt = now.Add(time.Duration(k) * time.Microsecond)
	}
	inserted := make([]bool, len(inputs))
	err := func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, i := range pend {
			if inserted[i], err = s.insert(ctx, tx, *preps[i].row, preps[i].res.Summary); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	for _, i := range pend {
		results[i], errs[i] = s.settle(ctx, preps[i], inserted[i], err)
	}
	return results, errs
}

// prepare parses an input into its native file in the store, not indexed
// yet; content already stored is recognized by its hash and not parsed on.
func (s *Store) prepare(ctx context.Context, in Input) (prepared, error) {
	path, source, format, opts := in.Path, in.Source, in.Format, in.Options
	src, f := in.Head, in.Detected
	if src == nil || f == nil {
		var err error
		if src, err = importers.Open(path); err != nil {
			return prepared{}, err
		}
		if f, err = importers.Detect(src, format); err != nil {
			return prepared{}, err
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return prepared{}, fmt.Errorf("import %q: %w", path, err)
	}
	if source != "" {
		abs = source
	}

	// Hashing and importing run at once: the id is known long before the
	// import ends, and when the content is already stored the import is
	// cancelled and its temporary file dropped.
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	type hashed struct {
		id  string
		err error
	}
	hc := make(chan hashed, 1)
	go func() {
		id, err := ContentID(ictx, path)
		if err == nil && opts.Record != "" {
			id = recordID(id, opts.Record)
		}
		hc <- hashed{id, err}
	}()

	tmp, err := os.CreateTemp(filepath.Join(s.root, "traces"), ".import-*.tmp")
	if err != nil {
		return prepared{}, fmt.Errorf("import %q: %w", path, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := trace.NewWriter(tmp)
	// A huge record is held once (see trace.Lifted).
	opts.Lift = trace.NewLifted()
	w.Lift(opts.Lift)
	z := &trace.Summarizer{Pricer: s.pricer}
	e := &stamp{given: path, abs: abs, next: trace.Tee(w, z)}
	done := make(chan error, 1)
	go func() { done <- importers.ImportSource(ictx, f, src, opts, e) }()

	// The content may already be stored: known as soon as the hash is, which
	// is usually before the import ends (then the import is cancelled).
	var h hashed
	checked := false
	select {
	case h = <-hc:
		if h.err == nil {
			if r, ok, err := s.existing(ctx, h.id); err != nil || ok {
				cancel()
				<-done
				return prepared{res: r}, err
			}
			checked = true
		}
		err = <-done
	case err = <-done:
		h = <-hc
	}
	if err != nil {
		return prepared{}, err
	}
	if h.err != nil {
		return prepared{}, h.err
	}
	id := h.id
	if !checked {
		if r, ok, err := s.existing(ctx, id); err != nil || ok {
			return prepared{res: r}, err
		}
	}
	// The id is declared last: a later declaration of a run fills in what
	// the earlier ones lacked.
	if err := e.next.Emit(&trace.Event{Type: trace.EvRun, Meta: &trace.RunMeta{ID: id}}); err != nil {
		return prepared{}, err
	}
	if err := w.Flush(); err != nil {
		return prepared{}, fmt.Errorf("import %q: write %s: %w", path, tmp.Name(), err)
	}
	// A trace imported from a file is not synced to disk: should a crash
	// cut the stored copy short, its recorded size tells, and importing
	// the source again restores it. A run that exists nowhere else (a
	// replay's new run, a fetched trace) is synced.
	if source != "" {
		if err := tmp.Sync(); err != nil {
			return prepared{}, fmt.Errorf("import %q: sync %s: %w", path, tmp.Name(), err)
		}
	}
	fi, err := tmp.Stat()
	if err != nil {
		return prepared{}, fmt.Errorf("import %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return prepared{}, fmt.Errorf("import %q: write %s: %w", path, tmp.Name(), err)
	}
	sum := z.Summary()
	if err := ctx.Err(); err != nil {
		return prepared{}, err
	}
	final := s.Path(id)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return prepared{}, fmt.Errorf("import %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return prepared{}, fmt.Errorf("import %q: %w", path, err)
	}
	committed = true
	if source != "" {
		syncDir(filepath.Dir(final))
	}

	row := entryOf(sum, abs, s.now())
	row.FileSize = fi.Size()
	row.Stopped = e.stopped
	return prepared{res: Result{ID: id, Format: sum.Format, Importer: f.Name(), Summary: sum}, row: &row, final: final}, nil
}

// existing returns the stored result for id when the index has it and its
// file is in place. A row whose file was deleted is dropped so that the
// import restores both.
func (s *Store) existing(ctx context.Context, id string) (Result, bool, error) {
	e, sum, err := s.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	if fi, err := os.Stat(s.Path(id)); errors.Is(err, os.ErrNotExist) || (err == nil && e.FileSize >= 0 && fi.Size() != e.FileSize) {
		// The file is gone, or was cut short (a crash before the system
		// wrote it out): drop the row so that this import restores both.
		if _, err := s.db.ExecContext(ctx, `DELETE FROM traces WHERE id = ?`, id); err != nil {
			return Result{}, false, fmt.Errorf("drop index row of missing file %s: %w", s.Path(id), err)
		}
		return Result{}, false, nil
	}
	return Result{ID: id, Format: e.Format, Summary: sum, Existing: true}, true, nil
}

// stamp makes the main run's source path absolute, so that the stored file
// says where it came from, and drops an id a native input carried (the store
// declares the run's id at the end).
type stamp struct {
	given, abs string
	next       trace.Emitter
	stopped    string // why the main run stopped early (its outcome's Stopped), for the index
}

func (s *stamp) Emit(ev *trace.Event) error {
	if ev.Type == trace.EvRun && ev.Run == "" && ev.Meta != nil {
		ev.Meta.ID = ""
		if ev.Meta.Source == s.given {
			ev.Meta.Source = s.abs
		}
	}
	if ev.Type == trace.EvOutcome && ev.Run == "" && ev.Outcome != nil {
		s.stopped = ev.Outcome.Stopped
	}
	return s.next.Emit(ev)
}

// syncDir makes a rename durable. Errors are ignored: not every file system
// can sync a directory, and the rename itself succeeded.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// OpenRun opens the native file of the stored trace id (a full id).
func (s *Store) OpenRun(ctx context.Context, id string) (io.ReadCloser, error) {
	if len(id) != IDLen || !validID(id) {
		return nil, fmt.Errorf("open trace %q: %w", id, ErrNotFound)
	}
	f, err := os.Open(s.Path(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open trace %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open trace %q: %w", id, err)
	}
	if e, _, gerr := s.get(ctx, id); gerr == nil && e.FileSize >= 0 {
		if fi, serr := f.Stat(); serr == nil && fi.Size() != e.FileSize {
			f.Close()
			return nil, fmt.Errorf("open trace %q: the stored file %s is damaged (%d bytes, %d expected): import %s again", id, s.Path(id), fi.Size(), e.FileSize, e.Source)
		}
	}
	return f, nil
}

// Summary returns the summary of the stored trace id (a full id) from the
// index, without reading the trace file.
//
// Its Feedback is the trace's own feedback events and the acts attached to
// it since (see AddFeedback), oldest first.
func (s *Store) Summary(ctx context.Context, id string) (trace.Summary, error) {
	_, sum, err := s.get(ctx, id)
	if err != nil {
		return sum, err
	}
	fb, err := s.Feedback(ctx, id)
	if err != nil {
		return sum, err
	}
	sum.Feedback = MergeFeedback(sum.Feedback, fb)
	return sum, nil
}

// Entry is one row of the index.
type Entry struct {
	ID         string
	Format     string
	Agent      string
	Repo       string // repo ref as recorded (owner/name or URL)
	WorkItem   string
	PR         string
	Commit     string
	Source     string // absolute path the trace was imported from
	StartedAt  time.Time
	EndedAt    time.Time
	ImportedAt time.Time
	LLMCalls   int
	ToolCalls  int
	Tokens     int64 // input + output + cache read + cache write
	// Cost in USD, nil when unknown: as the trace recorded it, and as priced
	// at import time from the pricing table.
	CostRecorded *float64
	CostPriced   *float64
	Status       string
	Replayable   bool
	// FileSize is the size of the stored native file (-1: not recorded).
	FileSize int64
	// ReplayOf is the id of the run this one replays (a verify or run
	// output; trace.Origin.Of), "" for an original; ReplayMode is how
	// ("verify" or "run").
	ReplayOf   string
	ReplayMode string
	// Stopped says why a replay ended early (trace.Outcome.Stopped: a
	// limit, interrupted, model-error, sandbox-fault). Empty for rows
	// indexed before replay recorded it.
	Stopped string
}

// IsReplay reports whether the run is a replay of another one.
func (e Entry) IsReplay() bool { return e.ReplayOf != "" }

// Failed reports whether the run is a replay that did not finish: it
// stopped on an error, a limit or an interrupt (its outcome's status is
// error or interrupted). Its partial run is what is stored.
func (e Entry) Failed() bool {
	return e.IsReplay() && (e.Status == trace.StatusError || e.Status == trace.StatusInterrupted)
}

func entryOf(sum trace.Summary, source string, now time.Time) Entry {
	e := Entry{
		ID:           sum.ID,
		Format:       sum.Format,
		Agent:        sum.Agent,
		Source:       source,
		ImportedAt:   now,
		LLMCalls:     sum.LLMCalls,
		ToolCalls:    sum.ToolCalls,
		Tokens:       sum.Tokens.Input + sum.Tokens.Output + sum.Tokens.CacheRead + sum.Tokens.CacheWrite,
		CostRecorded: sum.Cost.Recorded,
		CostPriced:   sum.Cost.Priced,
		Status:       sum.Status,
		Replayable:   sum.Replay.OK,
	}
	ref := func(name string) string { return sum.Refs[name].Value }
	e.Repo, e.WorkItem, e.PR, e.Commit = ref("repo"), ref("work_item"), ref("pr"), ref("commit")
	if o := sum.Origin; o != nil {
		e.ReplayOf, e.ReplayMode = o.Of, o.Mode
	}
	if sum.StartedAt != nil {
		e.StartedAt = *sum.StartedAt
	}
	if sum.EndedAt != nil {
		e.EndedAt = *sum.EndedAt
	}
	return e
}

// RepoKey normalizes a repository reference to the lowercase "owner/name"
// used to filter by repo: "acme/widgets", "https://github.com/acme/widgets.git",
// "git@github.com:acme/widgets" and the work item "acme/widgets#42" all give
// "acme/widgets".
func RepoKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	} else if at := strings.IndexByte(s, '@'); at >= 0 {
		if colon := strings.IndexByte(s[at:], ':'); colon >= 0 {
			s = s[at+colon+1:] // scp-like: git@host:owner/name
		}
	}
	s = strings.TrimSuffix(strings.Trim(s, "/"), ".git")
	parts := strings.Split(s, "/")
	if len(parts) >= 2 {
		return parts[len(parts)-2] + "/" + parts[len(parts)-1]
	}
	return s
}

// Kind selects originals, replays or both.
type Kind int

const (
	AllRuns   Kind = iota // originals and replays
	Originals             // runs that replay nothing: imported traces
	Replays               // runs replay produced (verify and run outputs)
)

func (k Kind) where() string {
	switch k {
	case Originals:
		return ` AND replay_of = ''`
	case Replays:
		return ` AND replay_of != ''`
	}
	return ""
}

func (k Kind) match(e Entry) bool {
	return k == AllRuns || (k == Replays) == e.IsReplay()
}

// Filter selects rows in List. Zero fields do not filter.
type Filter struct {
	Agent string    // agent name, case-insensitive
	Repo  string    // repository, any form RepoKey accepts; matches repo and work item refs
	Since time.Time // started at or after (the import time for traces without a start)
	Kind  Kind      // originals, replays, or both (the zero Kind)
	// Overridden keeps runs a human overrode, reverted or fixed by hand
	// (see AddFeedback).
	Overridden bool
	Limit      int // at most this many rows; 0 means all
}

// where is the WHERE clause of f (its Limit aside) and its arguments.
func (f Filter) where() (string, []any) {
	q := ` WHERE 1=1`
	var args []any
	if f.Agent != "" {
		q += ` AND agent = ? COLLATE NOCASE`
		args = append(args, f.Agent)
	}
	if f.Repo != "" {
		q += ` AND repo_key = ?`
		args = append(args, RepoKey(f.Repo))
	}
	if !f.Since.IsZero() {
		q += ` AND sort_at >= ?`
		args = append(args, f.Since.UnixNano())
	}
	if f.Overridden {
		q += overriddenWhere
	}
	return q + f.Kind.where(), args
}

// List returns the traces that match f, newest first (by start time, else
// import time).
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	where, args := f.where()
	q := `SELECT ` + entryCols + ` FROM traces` + where + ` ORDER BY sort_at DESC, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list traces: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("list traces: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list traces: %w", err)
	}
	return out, nil
}

// Count returns how many traces match f (its Limit is ignored).
func (s *Store) Count(ctx context.Context, f Filter) (int, error) {
	where, args := f.where()
	q := `SELECT count(*) FROM traces` + where
	var n int
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count traces: %w", err)
	}
	return n, nil
}

// AmbiguousError is returned by Lookup when several traces share the prefix.
type AmbiguousError struct {
	Prefix     string
	Candidates []Entry // the first few matches, by id
	More       bool    // there are more matches than Candidates
}

func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "find trace %q: ambiguous id prefix, it matches ", e.Prefix)
	if e.More {
		fmt.Fprintf(&b, "more than %d traces:", len(e.Candidates))
	} else {
		fmt.Fprintf(&b, "%d traces:", len(e.Candidates))
	}
	for _, c := range e.Candidates {
		started := "-"
		if !c.StartedAt.IsZero() {
			started = c.StartedAt.UTC().Format(time.RFC3339)
		}
		agent := c.Agent
		if agent == "" {
			agent = "-"
		}
		fmt.Fprintf(&b, "\n  %s  %s  %s  %s", c.ID, c.Format, agent, started)
	}
	b.WriteString("\ngive more characters of the id")
	return b.String()
}

// maxCandidates bounds the candidates an AmbiguousError lists.
const maxCandidates = 10

// Lookup finds the trace whose id is idOrPrefix, or the only one whose id
// starts with it (at least MinPrefix hex characters, case-insensitive).
// Several matches give an *AmbiguousError; none an error wrapping ErrNotFound.
func (s *Store) Lookup(ctx context.Context, idOrPrefix string) (Entry, error) {
	p := lower(strings.TrimSpace(idOrPrefix))
	if !validID(p) {
		return Entry{}, fmt.Errorf("find trace %q: not an id: ids are %d hex characters", idOrPrefix, IDLen)
	}
	if len(p) < MinPrefix {
		return Entry{}, fmt.Errorf("find trace %q: id prefix too short: give at least %d characters", idOrPrefix, MinPrefix)
	}
	// Ids are lowercase hex, so every id starting with p sorts in [p, p+"g").
	rows, err := s.db.QueryContext(ctx, `SELECT `+entryCols+` FROM traces WHERE id >= ? AND id < ? ORDER BY id LIMIT ?`,
		p, p+"g", maxCandidates+1)
	if err != nil {
		return Entry{}, fmt.Errorf("find trace %q: %w", idOrPrefix, err)
	}
	defer rows.Close()
	var found []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return Entry{}, fmt.Errorf("find trace %q: %w", idOrPrefix, err)
		}
		found = append(found, e)
	}
	if err := rows.Err(); err != nil {
		return Entry{}, fmt.Errorf("find trace %q: %w", idOrPrefix, err)
	}
	switch {
	case len(found) == 0:
		return Entry{}, fmt.Errorf("find trace %q: %w", idOrPrefix, ErrNotFound)
	case len(found) == 1:
		return found[0], nil
	}
	amb := &AmbiguousError{Prefix: idOrPrefix, Candidates: found}
	if len(found) > maxCandidates {
		amb.Candidates, amb.More = found[:maxCandidates], true
	}
	return Entry{}, amb
}

// get reads the row and summary of a full id.
func (s *Store) get(ctx context.Context, id string) (Entry, trace.Summary, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+entryCols+`, summary FROM traces WHERE id = ?`, id)
	var sumJSON []byte
	e, err := scanEntry(row, &sumJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, trace.Summary{}, fmt.Errorf("find trace %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Entry{}, trace.Summary{}, fmt.Errorf("find trace %q: %w", id, err)
	}
	var sum trace.Summary
	if err := json.Unmarshal(sumJSON, &sum); err != nil {
		return Entry{}, trace.Summary{}, fmt.Errorf("read summary of trace %q: %w", id, err)
	}
	return e, sum, nil
}

const entryCols = `id, format, agent, repo, work_item, pr, commit_sha, source, started_at, ended_at, imported_at,
	llm_calls, tool_calls, tokens, cost_recorded, cost_priced, status, replayable, file_size, replay_of, replay_mode, stopped`

type scanner interface{ Scan(dest ...any) error }

func scanEntry(sc scanner, extra ...any) (Entry, error) {
	var (
		e                 Entry
		started, ended    sql.NullInt64
		imported          int64
		costRec, costPric sql.NullFloat64
	)
	dest := append([]any{&e.ID, &e.Format, &e.Agent, &e.Repo, &e.WorkItem, &e.PR, &e.Commit, &e.Source,
		&started, &ended, &imported, &e.LLMCalls, &e.ToolCalls, &e.Tokens, &costRec, &costPric, &e.Status, &e.Replayable, &e.FileSize,
		&e.ReplayOf, &e.ReplayMode, &e.Stopped}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return Entry{}, err
	}
	if started.Valid {
		e.StartedAt = time.Unix(0, started.Int64).UTC()
	}
	if ended.Valid {
		e.EndedAt = time.Unix(0, ended.Int64).UTC()
	}
	e.ImportedAt = time.Unix(0, imported).UTC()
	if costRec.Valid {
		e.CostRecorded = &costRec.Float64
	}
	if costPric.Valid {
		e.CostPriced = &costPric.Float64
	}
	return e, nil
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insert adds the index row of a trace whose file is in place. It reports
// false when a row with that id exists already.
func (s *Store) insert(ctx context.Context, db execer, e Entry, sum trace.Summary) (bool, error) {
	sumJSON, err := json.Marshal(sum)
	if err != nil {
		return false, fmt.Errorf("encode summary: %w", err)
	}
	nullTime := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixNano()
	}
	nullFloat := func(f *float64) any {
		if f == nil {
			return nil
		}
		return *f
	}
	sortAt := e.StartedAt
	if sortAt.IsZero() {
		sortAt = e.ImportedAt
	}
	repoKey := RepoKey(e.Repo)
	if repoKey == "" {
		repoKey = RepoKey(e.WorkItem)
	}
	res, err := db.ExecContext(ctx, `INSERT INTO traces (id, format, agent, repo, repo_key, work_item, pr, commit_sha, source,
		started_at, ended_at, imported_at, sort_at, llm_calls, tool_calls, tokens, cost_recorded, cost_priced, status, replayable, summary, file_size,
		replay_of, replay_mode, stopped)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
		e.ID, e.Format, e.Agent, e.Repo, repoKey, e.WorkItem, e.PR, e.Commit, e.Source,
		nullTime(e.StartedAt), nullTime(e.EndedAt), e.ImportedAt.UnixNano(), sortAt.UnixNano(),
		e.LLMCalls, e.ToolCalls, e.Tokens, nullFloat(e.CostRecorded), nullFloat(e.CostPriced), e.Status, e.Replayable, string(sumJSON), e.FileSize,
		e.ReplayOf, e.ReplayMode, e.Stopped)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n == 1 && len(sum.Feedback) > 0 {
		// The trace's own feedback events, so that listings find them.
		if _, err := insertFeedback(ctx, db, e.ID, sum.Feedback); err != nil {
			return false, fmt.Errorf("index feedback: %w", err)
		}
	}
	return n == 1, nil
}
