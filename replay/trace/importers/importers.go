// Package importers is the registry of trace formats: which formats replay
// reads, in which order they are tried, and how an input path is opened,
// recognized and imported.
package importers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/claudecode"
	"github.com/agentreplay/replay/replay/trace/codex"
	"github.com/agentreplay/replay/replay/trace/fullsend"
	"github.com/agentreplay/replay/replay/trace/inspectai"
	"github.com/agentreplay/replay/replay/trace/langfuse"
	"github.com/agentreplay/replay/replay/trace/openhands"
	"github.com/agentreplay/replay/replay/trace/otel"
	"github.com/agentreplay/replay/replay/trace/sweagent"
)

// All returns every format replay reads, in detection order: the first whose
// Detect accepts an input imports it, so a format with a stricter Detect comes
// before a looser one.
func All() []trace.Format {
	return []trace.Format{
		trace.Native{},
		fullsend.Format{},       // the factory's run directory ("fullsend-run")
		claudecode.Transcript{}, // Claude Code session transcripts ("claude-code")
		claudecode.Stream{},     // claude -p --output-format stream-json ("claude-stream-json")
		codex.Format{},          // Codex CLI rollouts ("codex")
		langfuse.Format{},       // Langfuse trace exports ("langfuse")
		sweagent.Format{},       // SWE-agent trajectories, .traj ("swe-agent")
		openhands.Format{},      // OpenHands event streams and evaluation outputs ("openhands")
		inspectai.Format{},      // inspect_ai logs, .eval archives and .json ("inspect-ai")
		otel.OTLP{},             // OTLP/JSON lines ("otlp-json")
		otel.Spans{},            // OTel SDK span dumps and attribute maps ("otel-spans")
	}
}

// Names returns the names of All, in order.
func Names() []string {
	var names []string
	for _, f := range All() {
		names = append(names, f.Name())
	}
	return names
}

// Lookup returns the format called name.
func Lookup(name string) (trace.Format, error) {
	for _, f := range All() {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("unknown format %q: valid formats are %s", name, strings.Join(Names(), ", "))
}

// Open stats path and, for a file, reads its first trace.HeadSize bytes, or,
// when its first record is longer than that, a skeleton of that record (see
// skeleton): detection judges records, never a value cut mid-way.
func Open(path string) (*trace.Source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", path, errors.Unwrap(err))
	}
	src := &trace.Source{Path: path, IsDir: fi.IsDir()}
	if src.IsDir {
		return src, nil
	}
	if !fi.Mode().IsRegular() && fi.Mode()&os.ModeNamedPipe == 0 {
		return nil, fmt.Errorf("open %q: not a regular file or directory", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	head := make([]byte, trace.HeadSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %q: %w", path, err)
	}
	src.Head = head[:n]
	if n == trace.HeadSize && longFirstLine(src.Head) {
		// The first record does not fit in the head: detection reads its
		// skeleton (the same shape, long strings and arrays cut) instead
		// of a record cut mid-value.
		if _, err := f.Seek(0, io.SeekStart); err == nil {
			if sk := skeleton(f); len(sk) > 0 {
				src.Head = append(sk, '\n')
			}
		}
	}
	return src, nil
}

// Detect picks the format of src: the one named force when force is set,
// else the first of All whose Detect accepts src. Inputs that hold no trace at
// all (an empty or whitespace-only file, a binary file, a directory no format
// recognizes) are errors wrapping trace.ErrNotTrace, forced or not.
func Detect(src *trace.Source, force string) (trace.Format, error) {
	if !src.IsDir {
		if err := checkText(src); err != nil {
			// A format may read what is no text (an archive, say).
			if force == "" {
				for _, f := range All() {
					if f.Detect(src) {
						return f, nil
					}
				}
			}
			return nil, err
		}
	}
	if force != "" {
		f, err := Lookup(force)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	for _, f := range All() {
		if f.Detect(src) {
			return f, nil
		}
	}
	what := "file"
	if src.IsDir {
		what = "directory"
	}
	return nil, fmt.Errorf("detect format of %q: no known trace format in this %s (tried %s; force one with --format): %w",
		src.Path, what, strings.Join(Names(), ", "), trace.ErrNotTrace)
}

// checkText rejects files that cannot be a trace whatever the format.
func checkText(src *trace.Source) error {
	h := src.Head
	if inspectai.IsEvalArchive(h) {
		return nil // a zip archive that is a trace format of its own (.eval logs)
	}
	switch {
	case len(bytes.TrimSpace(h)) == 0:
		if len(h) == 0 {
			return fmt.Errorf("detect format of %q: empty file: %w", src.Path, trace.ErrNotTrace)
		}
		if len(h) < trace.HeadSize {
			return fmt.Errorf("detect format of %q: the file holds only whitespace: %w", src.Path, trace.ErrNotTrace)
		}
	case bytes.HasPrefix(h, []byte{0x1f, 0x8b}):
		return fmt.Errorf("detect format of %q: gzip-compressed file (decompress it first, e.g. gunzip -k): %w", src.Path, trace.ErrNotTrace)
	case bytes.HasPrefix(h, []byte("PK\x03\x04")):
		if strings.EqualFold(filepath.Ext(src.Path), ".eval") {
			// An inspect_ai log: its members are no trace replay reads
			// either, so no hint to unpack it.
			return fmt.Errorf("detect format of %q: an inspect_ai log (.eval), which this replay does not read: %w", src.Path, trace.ErrNotTrace)
		}
		return fmt.Errorf("detect format of %q: zip archive (unpack it and import the files or the directory): %w", src.Path, trace.ErrNotTrace)
	case bytes.HasPrefix(h, []byte{0xff, 0xfe}) || bytes.HasPrefix(h, []byte{0xfe, 0xff}):
		return fmt.Errorf("detect format of %q: UTF-16 text (convert it to UTF-8 first, e.g. iconv -f UTF-16 -t UTF-8): %w", src.Path, trace.ErrNotTrace)
	case bytes.IndexByte(h, 0) >= 0:
		return fmt.Errorf("detect format of %q: binary file (NUL bytes in its first %d KB): %w", src.Path, len(h)>>10, trace.ErrNotTrace)
	}
	return nil
}

// Import opens path, detects (or, with force, takes) its format and imports
// it into e. It returns the format used.
//
// Import fills in what the format contract asks of every importer when one
// forgot: the main run's Format (the format's name) and Source (path). An
// import that ends without error but declared no main run is an error
// wrapping trace.ErrNotTrace, never a silent empty run.
func Import(ctx context.Context, path, force string, opts trace.Options, e trace.Emitter) (trace.Format, error) {
	src, err := Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Detect(src, force)
	if err != nil {
		return nil, err
	}
	if err := ImportSource(ctx, f, src, opts, e); err != nil {
		return f, err
	}
	return f, nil
}

// ImportSource imports src, already opened and detected, with format f (see
// Import).
func ImportSource(ctx context.Context, f trace.Format, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	g := &guard{format: f.Name(), source: src.Path, next: e}
	if err := f.Import(ctx, src, opts, g); err != nil {
		var le *trace.LineError
		var we *trace.WarningsError
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &le) || errors.As(err, &we) {
			return err // a LineError already names the file and line
		}
		return fmt.Errorf("import %q as %s: %w", src.Path, f.Name(), err)
	}
	if !g.sawMain {
		return fmt.Errorf("import %q as %s: no run found in it: %w", src.Path, f.Name(), trace.ErrNotTrace)
	}
	if opts.Strict && len(g.warnings) > 0 {
		return &trace.WarningsError{Source: src.Path, Warnings: g.warnings}
	}
	return nil
}

// guard passes events on, filling the main run's Format and Source in the
// first declaration when the importer left them empty.
type guard struct {
	format, source string
	next           trace.Emitter
	sawMain        bool
	warnings       []trace.Warning
}

func (g *guard) Emit(ev *trace.Event) error {
	if ev.Type == trace.EvRun && ev.Run == "" {
		if !g.sawMain {
			if ev.Meta == nil {
				ev.Meta = &trace.RunMeta{}
			}
			if ev.Meta.Format == "" {
				ev.Meta.Format = g.format
			}
			if ev.Meta.Source == "" {
				ev.Meta.Source = g.source
			}
		}
		g.sawMain = true
	}
	if ev.Type == trace.EvWarning && ev.Warning != nil {
		g.warnings = append(g.warnings, *ev.Warning)
	}
	return g.next.Emit(ev)
}
