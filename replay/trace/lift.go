package trace

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Lifting: how a huge record imports in little more than its own size.
//
// A JSON Lines record of 150 MB is, in practice, one huge string (a model's
// text, a tool's output) in a few hundred bytes of structure. Read, decoded
// and written the ordinary way it is held four or five times over: the
// line, the decoder's copy of its input, the decoded string, the importer's
// copy of it, the encoder's buffer. With lifting, ScanLines keeps the line
// as the pieces it was read in and hands the decoder a small line in which
// each long string literal is replaced by a token; the token travels
// through the importer as an ordinary string, and the Writer, when the
// encoded event holds a token, writes the literal's bytes in its place,
// straight from the pieces (a JSON literal's bytes are already valid JSON
// string content: no unescaping, no re-escaping). The record is held once.
//
// Lifting is opt-in (Options.Lift): only a consumer that writes the events
// through a Writer given the same Lifted (the store's import) may enable it,
// since everywhere else the token would be taken for the text. What an
// importer does with the text of a lifted string (a prefix test, a cut of
// reminders) sees the token instead: acceptable for strings of a megabyte
// and more, which importers keep as they are.

const (
	// liftLine is the shortest line whose strings are lifted.
	liftLine = 8 << 20
	// liftString is the shortest string literal (its content) lifted.
	liftString = 1 << 20
)

// Lifted holds the string literals lifted out of long lines during one
// import. It is safe for concurrent use.
type Lifted struct {
	mu     sync.Mutex
	prefix []byte     // the token's start as JSON: \u0000rl:NONCE:
	vals   [][][]byte // each literal's content, as the pieces it was read in
	count  int
}

// NewLifted returns an empty table with a token nonce of its own, which no
// input can guess.
func NewLifted() *Lifted {
	var n [8]byte
	if _, err := rand.Read(n[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return &Lifted{prefix: []byte(`\u0000rl:` + hex.EncodeToString(n[:]) + `:`)}
}

// Len reports how many literals were lifted.
func (l *Lifted) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// add keeps parts (a literal's content) and appends its token, a JSON
// string literal, to out.
func (l *Lifted) add(out []byte, parts [][]byte) []byte {
	l.mu.Lock()
	i := len(l.vals)
	l.vals = append(l.vals, parts)
	l.count++
	l.mu.Unlock()
	out = append(out, '"')
	out = append(out, l.prefix...)
	out = strconv.AppendInt(out, int64(i), 10)
	out = append(out, `\u0000"`...)
	return out
}

// expand writes encoded to w with every token in it replaced by its
// literal's content. A token cut short (an importer clipped the string) is
// written as it is.
func (l *Lifted) expand(w io.Writer, encoded []byte) error {
	for {
		k := bytes.Index(encoded, l.prefix)
		if k < 0 {
			_, err := w.Write(encoded)
			return err
		}
		rest := encoded[k+len(l.prefix):]
		d := 0
		for d < len(rest) && rest[d] >= '0' && rest[d] <= '9' {
			d++
		}
		end := []byte(`\u0000`)
		i, err := strconv.Atoi(string(rest[:d]))
		if err != nil || d == 0 || !bytes.HasPrefix(rest[d:], end) {
			if _, err := w.Write(encoded[:k+len(l.prefix)]); err != nil {
				return err
			}
			encoded = rest
			continue
		}
		l.mu.Lock()
		known := i < len(l.vals)
		var parts [][]byte
		if known {
			parts = l.vals[i]
		}
		l.mu.Unlock()
		if !known {
			return fmt.Errorf("lifted string %d is unknown", i)
		}
		if _, err := w.Write(encoded[:k]); err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
		encoded = rest[d+len(end):]
	}
}

// lift returns the line the pieces make, each string literal of at
// least minSize bytes replaced by a token of l. The pieces of lifted
// literals are kept by l; nothing else of them is referred to.
func (l *Lifted) lift(pieces [][]byte, minSize int) []byte {
	var out []byte
	type pos struct{ piece, off int }
	var (
		inStr, esc bool
		start      pos // the opening quote
		size       int // the literal's content so far
	)
	// literal returns the pieces of the content between start and the
	// closing quote at end.
	literal := func(end pos) [][]byte {
		var parts [][]byte
		for i := start.piece; i <= end.piece; i++ {
			p := pieces[i]
			lo, hi := 0, len(p)
			if i == start.piece {
				lo = start.off + 1
			}
			if i == end.piece {
				hi = end.off
			}
			if lo < hi {
				parts = append(parts, p[lo:hi])
			}
		}
		return parts
	}
	// raw appends the bytes from start up to (not including) end.
	raw := func(end pos) {
		for i := start.piece; i <= end.piece && i < len(pieces); i++ {
			p := pieces[i]
			lo, hi := 0, len(p)
			if i == start.piece {
				lo = start.off
			}
			if i == end.piece {
				hi = end.off
			}
			out = append(out, p[lo:hi]...)
		}
	}
	for pi, p := range pieces {
		j := 0
		for j < len(p) {
			if !inStr {
				k := bytes.IndexByte(p[j:], '"')
				if k < 0 {
					out = append(out, p[j:]...)
					break
				}
				out = append(out, p[j:j+k]...)
				inStr, esc, size = true, false, 0
				start = pos{pi, j + k}
				j += k + 1
				continue
			}
			if esc {
				esc = false
				j++
				size++
				continue
			}
			k := bytes.IndexAny(p[j:], `"\`)
			if k < 0 {
				size += len(p) - j
				break
			}
			size += k
			j += k
			if p[j] == '\\' {
				esc = true
				j++
				size++
				continue
			}
			// The closing quote.
			end := pos{pi, j}
			if size >= minSize {
				out = l.add(out, literal(end))
			} else {
				raw(pos{pi, j + 1})
			}
			inStr = false
			j++
		}
	}
	if inStr { // an unterminated string: the decoder reports it
		raw(pos{len(pieces) - 1, len(pieces[len(pieces)-1])})
	}
	return out
}
