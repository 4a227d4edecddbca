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
	// Strict makes any warning an error: the import fails with a
	// *WarningsError listing them (see importers.ImportSource).
	Strict bool
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
