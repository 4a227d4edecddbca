package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Removing runs, one by one (replay rm) or by age (replay gc). A replay
// names the run it replays (Entry.ReplayOf): removing an original alone
// would leave its replays pointing to nothing. Remove does as it is told;
// Replays lists what depends on a run, so that the caller decides; Expired
// never picks a run that a run it keeps replays.

// Replays returns the stored runs that replay one of ids, directly or as
// replays of replays, oldest first. Runs among ids themselves are left out.
func (s *Store) Replays(ctx context.Context, ids ...string) ([]Entry, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	given := make(map[string]bool, len(ids))
	for i, id := range ids {
		args[i] = id
		given[id] = true
	}
	q := `WITH RECURSIVE tree(id) AS (
			SELECT id FROM traces WHERE replay_of IN (?` + strings.Repeat(", ?", len(ids)-1) + `)
			UNION SELECT t.id FROM traces t JOIN tree ON t.replay_of = tree.id
		)
		SELECT ` + entryCols + ` FROM traces WHERE id IN tree ORDER BY imported_at, id`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find replays: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("find replays: %w", err)
		}
		if !given[e.ID] {
			out = append(out, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find replays: %w", err)
	}
	return out, nil
}

// Remove deletes the stored runs ids (full ids): their index rows (and the
// feedback attached to them) in one
// transaction, then their native files. Ids not stored are skipped. It
// returns the entries it removed. Replays of the removed runs stay as they
// are (see Replays). A file that cannot be deleted once its row is gone is
// reported in the error; the run is no longer in the store either way.
func (s *Store) Remove(ctx context.Context, ids []string) ([]Entry, error) {
	for _, id := range ids {
		if len(id) != IDLen || !validID(id) {
			return nil, fmt.Errorf("remove trace %q: not a full id (%d hex characters)", id, IDLen)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("remove traces: %w", err)
	}
	defer tx.Rollback()
	var removed []Entry
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		e, err := scanEntry(tx.QueryRowContext(ctx, `SELECT `+entryCols+` FROM traces WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("remove trace %q: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM traces WHERE id = ?`, id); err != nil {
			return nil, fmt.Errorf("remove trace %q: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM feedback WHERE trace_id = ?`, id); err != nil {
			return nil, fmt.Errorf("remove feedback of trace %q: %w", id, err)
		}
		removed = append(removed, e)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("remove traces: %w", err)
	}
	var errs []error
	for _, e := range removed {
		if err := os.Remove(s.Path(e.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove trace %q: its index row is gone, its file stays: %w", e.ID, err))
		}
	}
	return removed, errors.Join(errs...)
}

// Expiry is what removing the runs stored before a cutoff takes away.
type Expiry struct {
	// Remove are the runs stored before the cutoff, oldest first.
	Remove []Entry
	// Kept are runs stored before the cutoff that stay because a run
	// that stays replays them (directly or through replays of replays):
	// removing them would leave it pointing to nothing.
	Kept []Entry
}

// Expired says which runs of kind were stored (imported, or written by a
// replay) before cutoff and can go. A run that stays keeps the run it
// replays. Nothing is removed: pass Expiry.Remove's ids to Remove.
func (s *Store) Expired(ctx context.Context, cutoff time.Time, kind Kind) (Expiry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+entryCols+` FROM traces ORDER BY imported_at, id`)
	if err != nil {
		return Expiry{}, fmt.Errorf("find old traces: %w", err)
	}
	defer rows.Close()
	var all []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return Expiry{}, fmt.Errorf("find old traces: %w", err)
		}
		all = append(all, e)
	}
	if err := rows.Err(); err != nil {
		return Expiry{}, fmt.Errorf("find old traces: %w", err)
	}
	byID := make(map[string]Entry, len(all))
	gone := map[string]bool{}
	var stay []string // runs that stay, whose originals stay with them
	for _, e := range all {
		byID[e.ID] = e
		if e.ImportedAt.Before(cutoff) && kind.match(e) {
			gone[e.ID] = true
		} else {
			stay = append(stay, e.ID)
		}
	}
	kept := map[string]bool{}
	for len(stay) > 0 {
		id := stay[len(stay)-1]
		stay = stay[:len(stay)-1]
		if of := byID[id].ReplayOf; gone[of] {
			delete(gone, of)
			kept[of] = true
			stay = append(stay, of)
		}
	}
	var x Expiry
	for _, e := range all {
		switch {
		case gone[e.ID]:
			x.Remove = append(x.Remove, e)
		case kept[e.ID]:
			x.Kept = append(x.Kept, e)
		}
	}
	return x, nil
}

// File is a file the store holds besides its traces.
type File struct {
	Path string `json:"path"`
	Size int64  `json:"bytes"`
}

// leftoverMinAge is the youngest a temporary file must be to count as left
// behind: younger, an import or a replay may still be writing it.
const leftoverMinAge = 24 * time.Hour

// RemoveLeftovers deletes the temporary files that imports and replays left
// behind when they were killed (traces/.import-*.tmp, tmp/run-*.jsonl),
// last written before cutoff and at least a day ago, and returns them. With
// dryRun it only lists them.
func (s *Store) RemoveLeftovers(cutoff time.Time, dryRun bool) ([]File, error) {
	if c := s.now().Add(-leftoverMinAge); c.Before(cutoff) {
		cutoff = c
	}
	var out []File
	var errs []error
	for _, pattern := range []string{filepath.Join(s.root, "traces", ".import-*.tmp"), filepath.Join(s.root, "tmp", "run-*.jsonl")} {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
				continue
			}
			if !dryRun {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, fmt.Errorf("remove leftover %q: %w", p, err))
					continue
				}
			}
			out = append(out, File{Path: p, Size: fi.Size()})
		}
	}
	return out, errors.Join(errs...)
}
