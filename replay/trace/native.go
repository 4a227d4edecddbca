package trace

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	json "github.com/goccy/go-json"
)

// The native format: JSON Lines, a header line then one Event per line.
//
//	{"type":"header","header":{"format":"replay-run","version":1}}
//	{"type":"run","meta":{"format":"claude-code","source":"…",…}}
//	{"type":"message","message":{"role":"user","parts":[…]}}
//	{"type":"llm","llm":{…}}
//	{"type":"tool","tool":{…}}
//	{"type":"run","run":"agent-1","meta":{"parent":"",…}}
//	…
//	{"type":"effect","effect":{"kind":"label-add",…}}
//	{"type":"outcome","outcome":{…}}
//
// Version 2 added effect events (a run's GitHub writes); a version 1 file
// reads as it always did, a run without effects.
const (
	NativeFormat  = "replay-run"
	NativeVersion = 2
	NativeName    = "native"
)

// Header is the first line of a native file.
type Header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

// Writer writes an event stream in the native format. The header is written
// before the first event. Writer buffers: call Flush at the end.
type Writer struct {
	w       *bufio.Writer
	enc     *json.Encoder
	started bool

	lift    *Lifted       // see Lift
	scratch bytes.Buffer  // an event encoded before its tokens are expanded
	senc    *json.Encoder // encodes into scratch
}

// Lift makes w write, in place of each token of l in an event, the string
// literal it stands for (see Lifted).
func (w *Writer) Lift(l *Lifted) {
	w.lift = l
	w.senc = json.NewEncoder(&w.scratch)
	w.senc.SetEscapeHTML(false)
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{w: bw, enc: enc}
}

// Emit implements Emitter.
func (w *Writer) Emit(ev *Event) error {
	if !w.started {
		w.started = true
		if ev.Type != EvHeader {
			if err := w.write(&Event{Type: EvHeader, Header: &Header{Format: NativeFormat, Version: NativeVersion}}); err != nil {
				return err
			}
		} else {
			// A native source is being copied: write our own header.
			return w.write(&Event{Type: EvHeader, Header: &Header{Format: NativeFormat, Version: NativeVersion}})
		}
	}
	if ev.Type == EvHeader {
		return nil
	}
	return w.write(ev)
}

func (w *Writer) write(ev *Event) error {
	if w.lift.Len() > 0 {
		w.scratch.Reset()
		if err := w.senc.Encode(ev); err != nil {
			return fmt.Errorf("encode %s event: %w", ev.Type, err)
		}
		return w.lift.expand(w.w, w.scratch.Bytes())
	}
	// The encoder writes the line and its newline, reusing its buffers.
	if err := w.enc.Encode(ev); err != nil {
		return fmt.Errorf("encode %s event: %w", ev.Type, err)
	}
	return nil
}

// Flush writes buffered data. It writes the header if nothing else was
// written, so an empty stream still makes a valid file.
func (w *Writer) Flush() error {
	if !w.started {
		w.started = true
		if err := w.write(&Event{Type: EvHeader, Header: &Header{Format: NativeFormat, Version: NativeVersion}}); err != nil {
			return err
		}
	}
	return w.w.Flush()
}

// Encode writes r in the native format.
func Encode(w io.Writer, r *Run) error {
	nw := NewWriter(w)
	if err := r.Emit(nw); err != nil {
		return err
	}
	return nw.Flush()
}

// Native is the Format of replay's own files.
type Native struct{}

// Name implements Format.
func (Native) Name() string { return NativeName }

// Detect implements Format: the first line is a native header.
func (Native) Detect(src *Source) bool {
	if src.IsDir {
		return false
	}
	line, _, _ := bytes.Cut(src.Head, []byte("\n"))
	return bytes.Contains(line, []byte(`"`+NativeFormat+`"`)) && bytes.Contains(line, []byte(`"header"`))
}

// Import implements Format.
func (Native) Import(ctx context.Context, src *Source, opts Options, e Emitter) error {
	f, err := os.Open(src.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	return Decode(ctx, f, src.Path, opts, e)
}

// Decode reads a native stream and emits its events.
func Decode(ctx context.Context, r io.Reader, name string, opts Options, e Emitter) error {
	sawHeader := false
	var warnings []Warning
	err := ScanLines(ctx, r, name, opts, func(w Warning) { warnings = append(warnings, w) }, func(line int, b []byte) error {
		var ev Event
		if err := json.Unmarshal(b, &ev); err != nil {
			return BadJSON(err)
		}
		if !sawHeader {
			if ev.Type != EvHeader || ev.Header == nil || ev.Header.Format != NativeFormat {
				return fmt.Errorf("not a replay native file: the first line must be a %q header", NativeFormat)
			}
			if ev.Header.Version > NativeVersion || ev.Header.Version < 1 {
				return fmt.Errorf("native format version %d is not supported (this replay reads version %d): upgrade replay", ev.Header.Version, NativeVersion)
			}
			sawHeader = true
			return e.Emit(&ev)
		}
		if ev.Type == EvHeader {
			return fmt.Errorf("a second header line")
		}
		if err := checkEvent(&ev); err != nil {
			return err
		}
		return e.Emit(&ev)
	})
	if err != nil {
		return err
	}
	if !sawHeader {
		return fmt.Errorf("%s: %w: empty native file", name, ErrNotTrace)
	}
	for i := range warnings {
		if err := e.Emit(&Event{Type: EvWarning, Warning: &warnings[i]}); err != nil {
			return err
		}
	}
	return nil
}

// checkEvent rejects events that do not carry what their type says.
func checkEvent(ev *Event) error {
	var ok bool
	switch ev.Type {
	case EvRun:
		ok = ev.Meta != nil
	case EvMessage:
		ok = ev.Message != nil && ev.LLM == nil && ev.Tool == nil
	case EvLLM:
		ok = ev.LLM != nil && ev.Message == nil && ev.Tool == nil
	case EvTool:
		ok = ev.Tool != nil && ev.Message == nil && ev.LLM == nil
	case EvOutcome:
		ok = ev.Outcome != nil
	case EvWarning:
		ok = ev.Warning != nil
	case EvEffect:
		ok = ev.Effect != nil && ev.Effect.Kind != ""
	case EvFeedback:
		ok = ev.Feedback != nil && IsHumanAct(ev.Feedback.Human)
		if ev.Feedback != nil && !ok {
			return fmt.Errorf("feedback event: human %q: want override, revert, manual-fix or confirm", ev.Feedback.Human)
		}
	default:
		return fmt.Errorf("unknown event type %q", ev.Type)
	}
	if !ok {
		return fmt.Errorf("%q event without its %q field", ev.Type, ev.Type)
	}
	return nil
}

// DecodeRun reads a whole native stream into a Run.
func DecodeRun(ctx context.Context, r io.Reader, name string) (*Run, error) {
	return Collect(func(e Emitter) error { return Decode(ctx, r, name, Options{}, e) })
}
