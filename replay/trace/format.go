package trace

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Options tune how an importer treats bad input.
type Options struct {
	// Lenient skips lines of invalid JSON (counted in one warning) instead
	// of failing at the first one.
	Lenient bool
	// Record selects one record of an input that holds several (see
	// Multi): only the record with this key is imported. Empty imports the
	// first record of such an input, with a warning naming the others.
	Record string
	// Strict makes any warning an error: the import fails with a
	// *WarningsError listing them (see importers.ImportSource).
	Strict bool
	// Lift, when set, lifts the long strings of huge lines out of what the
	// importer decodes (see Lifted). Only a consumer that writes the
	// events through a Writer given the same table (Writer.Lift) may set
	// it.
	Lift *Lifted
}

// Multi is implemented by formats whose one input can hold several
// independent runs: an evaluation's output, one record per benchmark
// instance or sample. Each record is a run of its own; the records of one
// input share the run's Session. The store imports each record of such an
// input as a trace of its own (store.ImportAll), passing its key in
// Options.Record.
type Multi interface {
	Format
	// Records lists the keys of the records src holds, in file order. Keys
	// are unique within the input and stable across imports of it.
	Records(ctx context.Context, src *Source, opts Options) ([]string, error)
}

// WarningsError is the error of a strict import that had warnings.
type WarningsError struct {
	Source   string
	Warnings []Warning
}

func (e *WarningsError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "import %q: %d warning(s) and --strict:", e.Source, len(e.Warnings))
	for _, w := range e.Warnings {
		sb.WriteString("\n  " + w.String())
	}
	return sb.String()
}

// Source is what an importer reads: a file or a directory.
type Source struct {
	Path  string // as given by the user; used in messages
	IsDir bool
	// Head holds the first bytes of a file (up to HeadSize), for detection.
	Head []byte
}

// HeadSize is how much of a file detection looks at.
const HeadSize = 64 << 10

// Format is one trace format: it recognizes its files and turns them into
// events.
type Format interface {
	// Name is the stable name used by --format and stored in runs.
	Name() string
	// Detect reports, cheaply, whether src looks like this format.
	Detect(src *Source) bool
	// Import reads src and emits the runs it holds. The main run ("" key)
	// must be declared, with Format and Source set, before its steps.
	Import(ctx context.Context, src *Source, opts Options, e Emitter) error
}

// ErrNotTrace is returned (wrapped) when an input holds no trace at all:
// an empty file, a binary file, a directory without trace files.
var ErrNotTrace = errors.New("not a trace")
