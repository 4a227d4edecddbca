package testutil

import (
	"bytes"
	"encoding/json"
	"reflect"
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
// changes nothing was dropped in silence.
//
// ignore exempts lines the format documents as carrying nothing replay keeps
// (bookkeeping records) or as repeating another record (the check would see
// either copy as dropped); it may be nil. A line that repeats an earlier one
// but for its timestamp (a state record written again) counts as imported. Exempt lines are blanked out of
// every import, so that what they repeat is checked alone.
//
// importFn imports its argument and returns the run; an error return means
// the input was rejected (then CheckEveryLineAccounted checks nothing).
func CheckEveryLineAccounted(t testing.TB, data []byte, ignore func(line []byte) bool, importFn func(data []byte) (*trace.Run, error)) {
	t.Helper()
	if len(data) > maxAccountedBytes {
		return
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxAccountedLines {
		return
	}
	blank := func(l []byte) []byte {
		if bytes.HasSuffix(l, []byte("\n")) {
			return []byte("\n")
		}
		return nil
	}
	for i, l := range lines {
		if ignore != nil && len(bytes.TrimSpace(l)) > 0 && ignore(bytes.TrimSpace(l)) {
			lines[i] = blank(l)
		}
	}
	whole, err := importFn(bytes.Join(lines, nil))
	if err != nil {
		return
	}
	want := encodeRun(t, whole)
	for i, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var without bytes.Buffer
		for j, m := range lines {
			if j == i {
				m = blank(m)
			}
			without.Write(m)
		}
		r, err := importFn(without.Bytes())
		if err != nil {
			continue // the line was needed
		}
		if bytes.Equal(encodeRun(t, r), want) && !repeats(lines[:i], l) {
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

// repeats reports whether line l equals one of earlier, apart from a
// top-level "timestamp".
func repeats(earlier [][]byte, l []byte) bool {
	strip := func(b []byte) (map[string]any, bool) {
		var m map[string]any
		if json.Unmarshal(b, &m) != nil || m == nil {
			return nil, false
		}
		delete(m, "timestamp")
		return m, true
	}
	m, ok := strip(l)
	if !ok {
		return false
	}
	for _, e := range earlier {
		if o, ok := strip(e); ok && reflect.DeepEqual(m, o) {
			return true
		}
	}
	return false
}
