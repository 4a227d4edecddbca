package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Human feedback about stored runs. A run's feedback is its trace's own
// feedback events (copied into the index when it is imported) and the acts
// attached to it since (AddFeedback: a feedback file, replay feedback
// fetch). One act is stored once however often it is attached: acts are
// told apart by FeedbackKey (who did what, when, where, deciding what); the
// first one stored keeps its note and source.

// FeedbackKey identifies a human act: a hash of its human, by, at, url and
// decision (compacted JSON). Two acts with the same key are the same act.
func FeedbackKey(fb trace.Feedback) string {
	var dec bytes.Buffer
	if len(fb.Decision) > 0 && stdjson.Compact(&dec, fb.Decision) != nil {
		dec.Reset()
		dec.Write(fb.Decision)
	}
	at := ""
	if !fb.At.IsZero() {
		at = fb.At.UTC().Format(time.RFC3339Nano)
	}
	h := sha256.New()
	for _, s := range []string{fb.Human, fb.By, at, fb.URL, dec.String()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// MergeFeedback joins lists of acts: each distinct act once (the first
// seen wins, see FeedbackKey), oldest first, acts of unknown time last, in
// the order given otherwise.
func MergeFeedback(lists ...[]trace.Feedback) []trace.Feedback {
	out := []trace.Feedback{}
	seen := map[string]bool{}
	for _, l := range lists {
		for _, fb := range l {
			k := FeedbackKey(fb)
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, fb)
		}
	}
	slices.SortStableFunc(out, func(a, b trace.Feedback) int {
		switch {
		case a.At.IsZero() && b.At.IsZero():
			return 0
		case a.At.IsZero():
			return 1
		case b.At.IsZero():
			return -1
		}
		return a.At.Compare(b.At)
	})
	return out
}

// AddFeedback attaches human acts to the stored run id (a full id). An act
// already stored for the run (the same FeedbackKey) is skipped; added is
// how many were new. An act whose human is not one of trace.Human* is an
// error, and nothing is added.
func (s *Store) AddFeedback(ctx context.Context, id string, fb []trace.Feedback) (added int, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("add feedback to trace %q: %w", id, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM traces WHERE id = ?`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("add feedback to trace %q: %w", id, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("add feedback to trace %q: %w", id, ErrNotFound)
	}
	if added, err = insertFeedback(ctx, tx, id, fb); err != nil {
		return 0, fmt.Errorf("add feedback to trace %q: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("add feedback to trace %q: %w", id, err)
	}
	return added, nil
}

// insertFeedback stores acts of trace id, skipping those it has.
func insertFeedback(ctx context.Context, db execer, id string, fb []trace.Feedback) (int, error) {
	added := 0
	for i, f := range fb {
		if !trace.IsHumanAct(f.Human) {
			return 0, fmt.Errorf("feedback %d: human %q: want override, revert, manual-fix or confirm", i+1, f.Human)
		}
		data, err := json.Marshal(f)
		if err != nil {
			return 0, fmt.Errorf("feedback %d: %w", i+1, err)
		}
		var at any
		if !f.At.IsZero() {
			at = f.At.UnixNano()
		}
		res, err := db.ExecContext(ctx, `INSERT INTO feedback (trace_id, key, human, at, seq, data)
			VALUES (?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM feedback), ?) ON CONFLICT DO NOTHING`,
			id, FeedbackKey(f), f.Human, at, string(data))
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err == nil {
			added += int(n)
		}
	}
	return added, nil
}

// Feedback returns the human acts stored for the run id (a full id): its
// trace's own and those attached since, oldest first (acts of unknown time
// last). A run without any has none (no error).
func (s *Store) Feedback(ctx context.Context, id string) ([]trace.Feedback, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT data FROM feedback WHERE trace_id = ? ORDER BY at IS NULL, at, seq`, id)
	if err != nil {
		return nil, fmt.Errorf("read feedback of trace %q: %w", id, err)
	}
	defer rows.Close()
	out := []trace.Feedback{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("read feedback of trace %q: %w", id, err)
		}
		var f trace.Feedback
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("read feedback of trace %q: %w", id, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read feedback of trace %q: %w", id, err)
	}
	return out, nil
}

// overriddenWhere selects runs with an act saying the agent was wrong: an
// override, a revert or a manual fix (Filter.Overridden).
const overriddenWhere = ` AND id IN (SELECT trace_id FROM feedback WHERE human IN ('` +
	trace.HumanOverride + `', '` + trace.HumanRevert + `', '` + trace.HumanManualFix + `'))`

// Meta reads the main run's metadata of the stored trace id (a full id):
// only its run events are decoded, so a large trace costs a read, not a
// parse.
func (s *Store) Meta(ctx context.Context, id string) (trace.RunMeta, error) {
	rc, err := s.OpenRun(ctx, id)
	if err != nil {
		return trace.RunMeta{}, err
	}
	defer rc.Close()
	var meta trace.RunMeta
	r := bufio.NewReaderSize(rc, 64<<10)
	runEvent := []byte(`{"type":"run"`)
	for n := 1; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return trace.RunMeta{}, ctx.Err()
		}
		// Only run events are read whole; the other lines (steps with
		// large results) are skipped in buffer-sized pieces.
		chunk, err := r.ReadSlice('\n')
		isRun := bytes.HasPrefix(chunk, runEvent)
		var line []byte
		if isRun {
			line = append(line, chunk...)
		}
		for errors.Is(err, bufio.ErrBufferFull) {
			chunk, err = r.ReadSlice('\n')
			if isRun {
				line = append(line, chunk...)
			}
		}
		if isRun {
			var ev trace.Event
			if json.Unmarshal(line, &ev) == nil && ev.Run == "" && ev.Meta != nil {
				meta.Merge(ev.Meta)
			}
		}
		if errors.Is(err, io.EOF) {
			return meta, nil
		}
		if err != nil {
			return trace.RunMeta{}, fmt.Errorf("read trace %q: %w", id, err)
		}
	}
}
