package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
)

// A <trace> argument names a trace by path (a file or a run directory), by
// stored id, or by a unique id prefix. This file is the one place that tells
// them apart, with one wording for every command's errors.

// Target is a <trace> argument, classified.
type Target struct {
	// Op is the command resolving it ("inspect", "replay"): the errors
	// start with it.
	Op  string
	Arg string
	// IsPath: Arg names an existing file or directory. Otherwise it looks
	// like an id or id prefix.
	IsPath bool
}

// ParseTarget classifies a <trace> argument without opening the store. An
// argument that is neither an existing path nor id-shaped is an error.
func ParseTarget(op, arg string) (Target, error) {
	t := Target{Op: op, Arg: arg}
	_, err := os.Stat(arg)
	switch {
	case err == nil:
		t.IsPath = true
		return t, nil
	case errors.Is(err, fs.ErrNotExist) && LooksLikeID(arg):
		return t, nil
	case errors.Is(err, fs.ErrNotExist):
		return t, fmt.Errorf("%s %q: no such file or directory, and not a trace id (ids are hex; give at least %d characters)", op, arg, MinPrefix)
	}
	return t, fmt.Errorf("%s %q: %w", op, arg, errors.Unwrap(err))
}

// EmptyStoreError is the error for an id given while the store at home
// holds nothing (read-only commands do not create a store to look in).
func (t Target) EmptyStoreError(home string) error {
	return fmt.Errorf("%s %q: no such file, and the store (%s) is empty", t.Op, t.Arg, home)
}

// ResolveOptions say how to read a path.
type ResolveOptions struct {
	// Import adds a path to the store (content already stored is
	// recognised and not parsed again). Without it a path is an error:
	// read it with Summarize instead.
	Import bool
	// Stored makes a path name the stored trace with its content (an id
	// is the hash of the content it was imported from), without importing
	// it: what a command that removes traces wants.
	Stored  bool
	Format  string
	Lenient bool
}

// Resolve finds the stored trace an argument names: a path is imported, an
// id or unique prefix looked up. Several matches give an *AmbiguousError;
// none an error wrapping ErrNotFound, in the one wording.
func (s *Store) Resolve(ctx context.Context, arg string, opts ResolveOptions) (Entry, error) {
	return s.ResolveAs(ctx, "replay", arg, opts)
}

// ResolveAs is Resolve with the command's name for the errors.
func (s *Store) ResolveAs(ctx context.Context, op, arg string, opts ResolveOptions) (Entry, error) {
	t, err := ParseTarget(op, arg)
	if err != nil {
		return Entry{}, err
	}
	return s.Find(ctx, t, opts)
}

// Find resolves a parsed target (see Resolve).
func (s *Store) Find(ctx context.Context, t Target, opts ResolveOptions) (Entry, error) {
	if t.IsPath && opts.Stored {
		id, err := ContentID(ctx, t.Arg)
		if err != nil {
			return Entry{}, fmt.Errorf("%s %q: %w", t.Op, t.Arg, err)
		}
		e, _, err := s.get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return Entry{}, &notFoundError{fmt.Sprintf("%s %q: not in the store (its content would be stored as %s)", t.Op, t.Arg, id)}
		}
		return e, err
	}
	if t.IsPath {
		if !opts.Import {
			return Entry{}, fmt.Errorf("%s %q: a path, not a stored trace: import it first", t.Op, t.Arg)
		}
		r, err := s.Import(ctx, t.Arg, opts.Format, trace.Options{Lenient: opts.Lenient})
		if err != nil {
			return Entry{}, err
		}
		e, _, err := s.get(ctx, r.ID)
		return e, err
	}
	e, err := s.Lookup(ctx, t.Arg)
	if errors.Is(err, ErrNotFound) {
		return Entry{}, &notFoundError{fmt.Sprintf("%s %q: no such file, and no stored trace has this id or id prefix (see replay ls)", t.Op, t.Arg)}
	}
	return e, err
}

// Run reads a stored trace whole. Its Feedback is the trace's own
// feedback events and the acts attached to it since (AddFeedback), oldest
// first, each act once.
func (s *Store) Run(ctx context.Context, id string) (*trace.Run, error) {
	rc, err := s.OpenRun(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	run, err := trace.DecodeRun(ctx, rc, s.Path(id))
	if err != nil {
		return nil, err
	}
	fb, err := s.Feedback(ctx, id)
	if err != nil {
		return nil, err
	}
	run.Feedback = MergeFeedback(run.Feedback, fb)
	return run, nil
}

// Summarize reads a trace file or run directory into its summary without
// storing it. The id shown is the one the trace has (or would have) in the
// store.
func Summarize(ctx context.Context, path, format string, opts trace.Options, pricer trace.Pricer) (trace.Summary, error) {
	return summarize(ctx, path, format, opts, pricer, nil)
}

// SummarizeRun is Summarize that also returns the run itself.
func SummarizeRun(ctx context.Context, path, format string, opts trace.Options, pricer trace.Pricer) (trace.Summary, *trace.Run, error) {
	var col trace.Collector
	sum, err := summarize(ctx, path, format, opts, pricer, &col)
	if err != nil {
		return sum, nil, err
	}
	return sum, col.Run(), nil
}

func summarize(ctx context.Context, path, format string, opts trace.Options, pricer trace.Pricer, also trace.Emitter) (trace.Summary, error) {
	src, err := importers.Open(path)
	if err != nil {
		return trace.Summary{}, err
	}
	f, err := importers.Detect(src, format)
	if err != nil {
		return trace.Summary{}, err
	}
	id, err := ContentID(ctx, path)
	if err != nil {
		return trace.Summary{}, err
	}
	z := &trace.Summarizer{Pricer: pricer}
	e := trace.EmitterFunc(func(ev *trace.Event) error {
		if ev.Type == trace.EvRun && ev.Run == "" && ev.Meta != nil {
			ev.Meta.ID = id
		}
		if also != nil {
			if err := also.Emit(ev); err != nil {
				return err
			}
		}
		return z.Emit(ev)
	})
	if err := importers.ImportSource(ctx, f, src, opts, e); err != nil {
		return trace.Summary{}, err
	}
	return z.Summary(), nil
}

// notFoundError says what was not found, and is ErrNotFound.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrNotFound }
