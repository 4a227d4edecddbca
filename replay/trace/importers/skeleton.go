package importers

import (
	"bufio"
	"bytes"
	"io"
)

// Bounds of the skeleton of a long first line (see skeleton).
const (
	skelString = 1 << 10  // bytes of a string kept
	skelArray  = 16       // elements of an array kept
	skelMax    = 16 << 20 // the whole skeleton
)

// skeleton reads one JSON value (a record on its line) from r and returns a
// smaller JSON value of the same shape: strings cut to skelString bytes,
// arrays to their first skelArray elements, whatever the depth. Detection
// decodes the skeleton where the record itself, longer than trace.HeadSize,
// would be cut mid-value: a 150 MB first line is judged by its record, in a
// few KB of memory. The scan stops at the end of the value or of the line;
// on input that is not JSON the result is simply not JSON either.
func skeleton(r io.Reader) []byte {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		out   []byte
		stack []int // per open array: elements seen; -1 for an object
		// skip > 0: inside an array's elements past skelArray, at this
		// stack depth; nothing is written until it closes.
		skip    int
		inStr   bool
		esc     bool
		strLen  int
		cutStr  bool
		started bool
	)
	write := func(b byte) {
		if skip == 0 && len(out) < skelMax {
			out = append(out, b)
		}
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return out
		}
		if inStr {
			switch {
			case esc:
				esc = false
				if !cutStr {
					write(b)
				}
			case b == '\\':
				if !cutStr && strLen >= skelString {
					cutStr = true
				}
				esc = true
				if !cutStr {
					write(b)
					strLen++
				}
			case b == '"':
				inStr = false
				write(b)
			default:
				if !cutStr && strLen >= skelString && (b < 0x80 || b >= 0xc0) {
					cutStr = true // at a character boundary
				}
				if !cutStr {
					write(b)
					strLen++
				}
			}
			continue
		}
		if b == '\n' && started {
			return out
		}
		switch b {
		case '"':
			inStr, esc, strLen, cutStr = true, false, 0, false
			started = true
			write(b)
		case '{', '[':
			started = true
			write(b)
			if b == '[' {
				stack = append(stack, 0)
			} else {
				stack = append(stack, -1)
			}
		case '}', ']':
			if len(stack) > 0 {
				if skip == len(stack) {
					skip = 0
				}
				stack = stack[:len(stack)-1]
			}
			write(b)
			if len(stack) == 0 {
				return out
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1] >= 0 && skip == 0 {
				stack[n-1]++
				if stack[n-1] >= skelArray {
					skip = n // drop the rest of this array, and this comma
					continue
				}
			}
			write(b)
		case ' ', '\t', '\r', '\n':
		default:
			started = true
			write(b)
		}
	}
}

// longFirstLine reports whether head, the first bytes of a file, ends inside
// its first record: no newline after the first non-blank byte.
func longFirstLine(head []byte) bool {
	t := bytes.TrimLeft(head, " \t\r\n")
	return len(t) > 0 && bytes.IndexByte(t, '\n') < 0
}
