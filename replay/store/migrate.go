package store

import (
	"context"
	"fmt"
)

// migrations are the index schema, one step per version: the index is at
// version N (PRAGMA user_version) when the first N steps have run. Append a
// step to change the schema; never edit a released one.
func migrations() []string {
	return []string{
		// 1: the trace index.
		`CREATE TABLE traces (
			id            TEXT PRIMARY KEY,
			format        TEXT NOT NULL,
			agent         TEXT NOT NULL DEFAULT '',
			repo          TEXT NOT NULL DEFAULT '',
			repo_key      TEXT NOT NULL DEFAULT '', -- lowercase owner/name, from repo or work_item
			work_item     TEXT NOT NULL DEFAULT '',
			pr            TEXT NOT NULL DEFAULT '',
			commit_sha    TEXT NOT NULL DEFAULT '',
			source        TEXT NOT NULL DEFAULT '',
			started_at    INTEGER,                  -- unix ns; NULL when unknown
			ended_at      INTEGER,
			imported_at   INTEGER NOT NULL,
			sort_at       INTEGER NOT NULL,         -- started_at, else imported_at
			llm_calls     INTEGER NOT NULL,
			tool_calls    INTEGER NOT NULL,
			tokens        INTEGER NOT NULL,
			cost_recorded REAL,
			cost_priced   REAL,
			status        TEXT NOT NULL,
			replayable    INTEGER NOT NULL,
			summary       TEXT NOT NULL             -- trace.Summary as JSON
		);
		CREATE INDEX traces_sort ON traces (sort_at DESC);
		CREATE INDEX traces_agent ON traces (agent COLLATE NOCASE, sort_at DESC);
		CREATE INDEX traces_repo ON traces (repo_key, sort_at DESC);`,
		// 2: the size of each stored file, to recognize one cut short (an
		// import is not synced to disk: its source can be imported again).
		`ALTER TABLE traces ADD COLUMN file_size INTEGER NOT NULL DEFAULT -1;`,
		// 3: what a run replays (a verify or run output), to list replays
		// apart from originals and keep an original's replays with it;
		// and why a replay stopped early. replay_of and replay_mode are
		// filled from the summaries already stored; stopped is not in a
		// summary, so rows stored before stay without it (their status
		// still tells a failed replay).
		`ALTER TABLE traces ADD COLUMN replay_of TEXT NOT NULL DEFAULT '';   -- id of the run replayed; '' for an original
		ALTER TABLE traces ADD COLUMN replay_mode TEXT NOT NULL DEFAULT '';  -- verify or run
		ALTER TABLE traces ADD COLUMN stopped TEXT NOT NULL DEFAULT '';      -- why a replay ended early (Outcome.Stopped)
		UPDATE traces SET
			replay_of = coalesce(json_extract(summary, '$.replay_of.of'), ''),
			replay_mode = coalesce(json_extract(summary, '$.replay_of.mode'), '')
		WHERE json_type(summary, '$.replay_of') = 'object';
		CREATE INDEX traces_replay_of ON traces (replay_of) WHERE replay_of != '';`,
		// 4: human feedback about runs (feedback.go): the trace's own
		// feedback events, copied at import, and what was attached since.
		// One row per distinct act (key: feedbackKey).
		`CREATE TABLE feedback (
			trace_id TEXT NOT NULL,
			key      TEXT NOT NULL,            -- hash of human, by, at, url, decision
			human    TEXT NOT NULL,            -- override, revert, manual-fix, confirm
			at       INTEGER,                  -- unix ns; NULL when unknown
			seq      INTEGER NOT NULL,         -- order of insertion, for acts at the same time
			data     TEXT NOT NULL,            -- trace.Feedback as JSON
			PRIMARY KEY (trace_id, key)
		);
		CREATE INDEX feedback_human ON feedback (human, trace_id);`,
	}
}

// migrate brings the index to the latest schema. The common case, an index
// that is up to date, costs one read and takes no write lock.
func (s *Store) migrate(ctx context.Context) error {
	steps := migrations()
	var v int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v == len(steps) {
		return nil
	}
	if v > len(steps) {
		return fmt.Errorf("schema version %d is newer than this replay understands (%d): upgrade replay", v, len(steps))
	}
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see the DSN): one migrator at a time
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	defer tx.Rollback()
	// Another process may have migrated while we waited for the lock.
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(steps) {
		return fmt.Errorf("schema version %d is newer than this replay understands (%d): upgrade replay", v, len(steps))
	}
	for i := v; i < len(steps); i++ {
		if _, err := tx.ExecContext(ctx, steps[i]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(steps))); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	return nil
}
