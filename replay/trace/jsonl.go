package trace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// BadJSONError marks a line that is not valid JSON (or not the JSON a format
// expects). Importers wrap decoding errors with BadJSON so that ScanLines can
// apply the truncated-last-line and --lenient rules uniformly.
type BadJSONError struct{ Err error }

func (e *BadJSONError) Error() string { return "invalid JSON: " + e.Err.Error() }
func (e *BadJSONError) Unwrap() error { return e.Err }

// BadJSON wraps err as a BadJSONError.
func BadJSON(err error) error { return &BadJSONError{Err: err} }

// LineError is an error at a line of an input file.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// maxLine bounds a single JSONL line: a 50 MB tool result must import, a
// runaway binary file must not eat all memory.
const maxLine = 256 << 20

// readerPool keeps the 1 MB line readers of ScanLines from file to file: a
// folder import reads many small files, and a fresh buffer for each (zeroed,
// then faulted in) costs more than reading it. A cache, not state.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 1<<20) }}

// ScanLines calls fn for every non-blank line of r, numbered from 1. The
// slice passed to fn is only valid during the call.
//
// When fn fails with a BadJSONError:
//   - on the last line, if it lacks its final newline (an agent killed
//     mid-write), a warning naming file and line is recorded and the scan ends;
//   - otherwise, with opts.Lenient, the line is skipped and counted
//     (one warning at the end gives the count and the first line);
//   - otherwise ScanLines returns a LineError naming file and line.
//
// Any other error from fn is returned wrapped in a LineError.
func ScanLines(ctx context.Context, r io.Reader, file string, opts Options, warn func(Warning), fn func(line int, b []byte) error) error {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	var (
		n        int
		skipped  int
		firstBad int
		long     []byte
	)
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if b, err = readLong(br, b, opts.Lift, &long); errors.Is(err, errLineTooLong) {
				return &LineError{File: file, Line: n + 1, Err: fmt.Errorf("line longer than %d MB: not a JSON Lines trace", maxLine>>20)}
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", file, err)
		}
		atEOF := err != nil
		if len(b) == 0 && atEOF {
			break
		}
		n++
		if n&1023 == 0 {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
		}
		complete := len(b) > 0 && b[len(b)-1] == '\n'
		line := bytes.TrimSpace(b)
		if len(line) > 0 {
			if ferr := fn(n, line); ferr != nil {
				var bad *BadJSONError
				switch {
				case !errors.As(ferr, &bad):
					return &LineError{File: file, Line: n, Err: ferr}
				case atEOF && !complete:
					warn(Warning{File: file, Line: n, Message: "last line is truncated (the writer was probably killed mid-write); ignored"})
				case opts.Lenient:
					if skipped == 0 {
						firstBad = n
					}
					skipped++
				default:
					return &LineError{File: file, Line: n, Err: fmt.Errorf("%w (use --lenient to skip bad lines)", ferr)}
				}
			}
		}
		if cap(long) > liftLine {
			long = nil // a buffer grown for a huge line is not kept
		}
		if atEOF {
			break
		}
	}
	if skipped > 0 {
		warn(Warning{File: file, Line: firstBad, Message: fmt.Sprintf("skipped %d line(s) of invalid JSON (--lenient), the first here", skipped)})
	}
	return nil
}

var errLineTooLong = errors.New("line too long")

// readLong reads the rest of a line longer than br's buffer, whose start
// is first. Up to liftLine bytes it gathers the line in *long, a buffer
// kept from line to line; a longer line is kept as the pieces it is read
// in (no buffer doubled and copied over, no line held twice), and then
// either lifted (see Lifted) or joined once into a buffer of its size.
func readLong(br *bufio.Reader, first []byte, lift *Lifted, long *[]byte) ([]byte, error) {
	buf := append((*long)[:0], first...)
	var (
		b   []byte
		err = bufio.ErrBufferFull
	)
	for errors.Is(err, bufio.ErrBufferFull) && len(buf) < liftLine {
		b, err = br.ReadSlice('\n')
		if len(buf)+len(b) > cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf)+len(b), liftLine+len(b)))
			copy(grown, buf)
			buf = grown
		}
		buf = append(buf, b...)
	}
	*long = buf
	if !errors.Is(err, bufio.ErrBufferFull) {
		return buf, err
	}
	// A huge line: pieces of their own (the reader's buffer is reused).
	pieces := [][]byte{bytes.Clone(buf)}
	size := len(buf)
	*long = nil
	for errors.Is(err, bufio.ErrBufferFull) {
		if size > maxLine {
			return nil, errLineTooLong
		}
		b, err = br.ReadSlice('\n')
		pieces = append(pieces, bytes.Clone(b))
		size += len(b)
	}
	if lift != nil {
		return lift.lift(pieces, liftString), err
	}
	line := make([]byte, 0, size)
	for i, p := range pieces {
		line = append(line, p...)
		pieces[i] = nil
	}
	return line, err
}
