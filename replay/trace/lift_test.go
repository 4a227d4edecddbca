package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// pieces cuts b into pieces of n bytes, as a reader's buffer would.
func pieces(b []byte, n int) [][]byte {
	var ps [][]byte
	for len(b) > 0 {
		k := min(n, len(b))
		ps = append(ps, bytes.Clone(b[:k]))
		b = b[k:]
	}
	return ps
}

// expandAll is what a Writer does to an encoded event.
func expandAll(t testing.TB, l *Lifted, b []byte) []byte {
	var out bytes.Buffer
	if err := l.expand(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// Whatever the line, lifting then expanding gives it back byte for byte,
// wherever the reader cut it: a lifted literal's bytes are written as they
// were read.
func FuzzLift(f *testing.F) {
	f.Add([]byte(`{"a":"0123456789abcdef","b":[1,"x\"y\\"],"c":"\u00e9\\\\"}`), uint8(3), uint8(4))
	f.Add([]byte(`{"t":"ends with a backslash\\","u":"unterminated`), uint8(1), uint8(2))
	f.Add([]byte(`"\\\"\\\"\\"`), uint8(1), uint8(1))
	f.Add([]byte(`{"forged":"\u0000rl:0011223344556677:0\u0000"}`), uint8(5), uint8(2))
	f.Fuzz(func(t *testing.T, line []byte, cut, minSize uint8) {
		l := NewLifted()
		reduced := l.lift(pieces(line, int(cut)+1), int(minSize))
		if got := expandAll(t, l, reduced); !bytes.Equal(got, line) {
			t.Fatalf("lift then expand changed the line:\n in: %q\nout: %q\nreduced: %q", line, got, reduced)
		}
		// Valid JSON stays valid, and decodes to the same value once
		// expanded (the token is a string where the literal was).
		if json.Valid(line) && !json.Valid(reduced) {
			t.Fatalf("lifting made valid JSON invalid: %q -> %q", line, reduced)
		}
	})
}

func TestLiftReplacesOnlyLongStrings(t *testing.T) {
	l := NewLifted()
	long := strings.Repeat("x", 40)
	line := []byte(`{"short":"abc","long":"` + long + `","esc":"a\"` + long + `"}`)
	reduced := l.lift(pieces(line, 7), 30)
	if l.Len() != 2 {
		t.Fatalf("lifted %d strings, want 2 (the short one stays): %s", l.Len(), reduced)
	}
	if bytes.Contains(reduced, []byte(long)) || !bytes.Contains(reduced, []byte(`"short":"abc"`)) {
		t.Fatalf("reduced line: %s", reduced)
	}
	var v map[string]string
	if err := json.Unmarshal(reduced, &v); err != nil {
		t.Fatalf("the reduced line is not JSON: %v: %s", err, reduced)
	}
	if v["short"] != "abc" || !strings.HasPrefix(v["long"], "\x00rl:") {
		t.Fatalf("decoded %q", v)
	}
}

// A token in the input (a forgery, or another import's) is not expanded:
// the nonce is the table's own.
func TestLiftIgnoresForeignTokens(t *testing.T) {
	l := NewLifted()
	forged := []byte(`{"a":"\u0000rl:0011223344556677:0\u0000"}`)
	l.lift(pieces([]byte(`{"b":"`+strings.Repeat("y", 50)+`"}`), 8), 10)
	if got := expandAll(t, l, forged); !bytes.Equal(got, forged) {
		t.Fatalf("a foreign token was expanded: %s", got)
	}
	// A token an importer clipped is written as it is.
	cut := append(bytes.Clone(l.prefix), "0"...)
	if got := expandAll(t, l, cut); !bytes.Equal(got, cut) {
		t.Fatalf("a clipped token changed: %q -> %q", cut, got)
	}
}

// The whole path of an import: ScanLines lifts the huge string of a long
// line, the importer decodes the small line and builds events that hold
// the token (alone, inside a longer text, and inside raw JSON arguments),
// and the Writer writes the original text in each place.
func TestScanLinesLiftsAndWriterExpands(t *testing.T) {
	huge := strings.Repeat(`all work \"and\" no play \\ é `, (liftLine+liftString)/28)
	line := `{"text":"` + huge + `","args":{"content":"` + huge + `","n":1},"small":"ok"}` + "\n"
	want := map[string]any{}
	if err := json.Unmarshal([]byte(line), &want); err != nil {
		t.Fatal(err)
	}
	text := want["text"].(string)

	l := NewLifted()
	var out bytes.Buffer
	w := NewWriter(&out)
	w.Lift(l)
	var lines int
	err := ScanLines(context.Background(), strings.NewReader(line+`{"text":"next"}`+"\n"), "huge.jsonl", Options{Lift: l}, func(Warning) {}, func(n int, b []byte) error {
		lines++
		if n == 1 && len(b) > 4096 {
			t.Errorf("the decoder was given %d bytes of line 1: its strings were not lifted", len(b))
		}
		var rec struct {
			Text  string          `json:"text"`
			Args  json.RawMessage `json:"args"`
			Small string          `json:"small"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return BadJSON(err)
		}
		return w.Emit(&Event{Type: EvTool, Tool: &ToolCall{CallID: "t", Name: "Write", Arguments: rec.Args, Output: "before " + rec.Text + " after"}, Message: &Message{Role: "assistant", Parts: []Part{{Type: PartText, Text: rec.Text}}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if lines != 2 || l.Len() != 2 {
		t.Fatalf("lines %d, lifted %d; want 2 and 2", lines, l.Len())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(got) != 3 {
		t.Fatalf("wrote %d lines, want header and 2 events", len(got))
	}
	var ev Event
	if err := json.Unmarshal([]byte(got[1]), &ev); err != nil {
		t.Fatalf("the written event is not JSON: %v", err)
	}
	if ev.Message.Parts[0].Text != text {
		t.Errorf("the text was not written back whole (%d bytes, want %d)", len(ev.Message.Parts[0].Text), len(text))
	}
	if ev.Tool.Output != "before "+text+" after" {
		t.Errorf("a text holding the token was not expanded in place")
	}
	var args map[string]any
	if err := json.Unmarshal(ev.Tool.Arguments, &args); err != nil || args["content"] != text || args["n"] != 1.0 {
		t.Errorf("raw arguments not expanded: %v", err)
	}
}

// Without Lift, a line longer than liftLine is handed over whole, joined
// once from its pieces.
func TestScanLinesHugeLineWithoutLift(t *testing.T) {
	line := `{"text":"` + strings.Repeat("z", liftLine+3<<20) + `"}`
	var got []byte
	err := ScanLines(context.Background(), strings.NewReader(line+"\n"), "huge.jsonl", Options{}, func(Warning) {}, func(_ int, b []byte) error {
		got = bytes.Clone(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != line {
		t.Fatalf("got %d bytes, want the line's %d", len(got), len(line))
	}
}
