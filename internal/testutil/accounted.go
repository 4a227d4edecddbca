package testutil

import (
	"bytes"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// maxAccountedLines bounds the lines CheckEveryLineAccounted tries one by
// one (each costs an import): fuzz inputs are small, seeds are not.
const (
	maxAccountedLines = 100
	maxAccountedBytes = 256 << 10
)

// CheckEveryLineAccounted asserts the importers' promise "every line is
// either imported or warned about" on the JSON Lines input data: for each
// non-blank line, importing data with that line blanked out (the numbering of
// the others kept) must give a different result — a different run, different
// warnings, or an error — than importing data whole. A line whose removal
// changes nothing was dropped in silence. ignore exempts lines the format
// documents as carrying nothing (bookkeeping records); it may be nil.
//
// importFn imports its argument and returns the run; an error return means
// the input was rejected (then CheckEveryLineAccounted checks nothing).
func CheckEveryLineAccounted(t testing.TB, data []byte, ignore func(line []byte) bool, importFn func(data []byte) (*trace.Run, error)) {
	t.Helper()
	if len(data) > maxAccountedBytes {
		return
	}
	whole, err := importFn(data)
	if err != nil {
		return
	}
	want := encodeRun(t, whole)
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxAccountedLines {
		return
	}
	for i, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 || (ignore != nil && ignore(bytes.TrimSpace(l))) {
			continue
		}
		var without bytes.Buffer
		for j, m := range lines {
			if j == i {
				if bytes.HasSuffix(m, []byte("\n")) {
					without.WriteByte('\n')
				}
				continue
			}
			without.Write(m)
		}
		r, err := importFn(without.Bytes())
		if err != nil {
			continue // the line was needed
		}
		if bytes.Equal(encodeRun(t, r), want) {
			t.Fatalf("line %d was neither imported nor warned about: the import is the same without it\nline: %.500s", i+1, l)
		}
	}
}

func encodeRun(t testing.TB, r *trace.Run) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := trace.Encode(&b, r); err != nil {
		t.Fatalf("encode the imported run: %v", err)
	}
	return b.Bytes()
}
