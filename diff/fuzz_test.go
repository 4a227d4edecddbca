package diff

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// runFromBytes builds a run from fuzz input: each byte a step (its value
// picks the kind, the tool and the arguments).
func runFromBytes(id string, data []byte) *trace.Run {
	tools := []string{"Read", "Grep", "Bash", "Task"}
	r := run(id)
	for _, c := range data {
		switch c % 4 {
		case 0:
			r.Steps = append(r.Steps, msg("user", string(rune('a'+c%7))))
		case 1:
			r.Steps = append(r.Steps, llm(string(rune('a'+c%5)), tools[int(c/4)%4]))
		default:
			name := tools[int(c/4)%4]
			r.Steps = append(r.Steps, tool(name, `{"x":`+string(rune('0'+(c/16)%4))+`}`, string(rune('A'+c%3))))
		}
	}
	return r
}

// FuzzAlign: whatever the runs, the alignment keeps every step of each
// run exactly once and in order, pairs only steps of one kind, reports
// identical runs as the same, and every renderer renders.
func FuzzAlign(f *testing.F) {
	f.Add([]byte("abcdef"), []byte("abxcdef"))
	f.Add([]byte{1, 2, 3, 4, 5}, []byte{5, 4, 3, 2, 1})
	f.Add([]byte{}, []byte{7, 7, 7})
	f.Fuzz(func(t *testing.T, x, y []byte) {
		if len(x) > 400 || len(y) > 400 {
			return
		}
		a, b := runFromBytes("a", x), runFromBytes("b", y)
		r := Runs(a, b, Options{})
		na, nb := 0, 0
		for _, p := range r.Steps {
			if p.A != nil {
				na++
				if p.A.N != na {
					t.Fatalf("A's steps out of order: %d after %d", p.A.N, na-1)
				}
			}
			if p.B != nil {
				nb++
				if p.B.N != nb {
					t.Fatalf("B's steps out of order: %d after %d", p.B.N, nb-1)
				}
			}
			if p.A != nil && p.B != nil && p.A.Kind != p.B.Kind {
				t.Fatalf("a %s paired with a %s", p.A.Kind, p.B.Kind)
			}
		}
		if na != len(a.Steps) || nb != len(b.Steps) {
			t.Fatalf("aligned %d/%d of %d/%d steps", na, nb, len(a.Steps), len(b.Steps))
		}
		if bytes.Equal(x, y) && r.Verdict.First != nil {
			t.Fatalf("identical runs diverge: %+v", r.Verdict.First)
		}
		for _, format := range Formats {
			var out bytes.Buffer
			if err := Render(&out, format, r, RenderOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		WriteJSON(&out, r)
		if !json.Valid(out.Bytes()) {
			t.Fatal("invalid JSON")
		}
	})
}

// The Hirschberg path (gaps too large for a table) aligns like the table.
func TestHirschbergMatchesTable(t *testing.T) {
	x := []byte("the quick brown fox jumps over the lazy dog, again and again")
	y := []byte("a quick brown cat jumped over lazy dogs again, and again")
	a, b := runFromBytes("a", x), runFromBytes("b", y)
	ka, kb := keys(views(a), views(b))
	full := table(nil, ka, kb, 0, 0)
	scoreOf := func(ps []pair) int {
		s := 0
		for _, p := range ps {
			if p.a >= 0 && p.b >= 0 {
				s += score(ka[p.a], kb[p.b])
			}
		}
		return s
	}
	// Force the split at every level.
	split := hirschbergForced(ka, kb)
	if scoreOf(split) != scoreOf(full) {
		t.Errorf("Hirschberg scores %d, the table %d", scoreOf(split), scoreOf(full))
	}
}

// hirschbergForced is gapAlign with the table used only for single steps.
func hirschbergForced(a, b []key) []pair {
	var rec func(out []pair, a, b []key, oa, ob int) []pair
	rec = func(out []pair, a, b []key, oa, ob int) []pair {
		if len(a) <= 1 || len(b) == 0 {
			return gapAlign(out, a, b, oa, ob)
		}
		mid := len(a) / 2
		fwd := lastRow(a[:mid], b, false)
		bwd := lastRow(a[mid:], b, true)
		best, sp := -1<<62, 0
		for j := 0; j <= len(b); j++ {
			if s := fwd[j] + bwd[len(b)-j]; s > best {
				best, sp = s, j
			}
		}
		out = rec(out, a[:mid], b[:sp], oa, ob)
		return rec(out, a[mid:], b[sp:], oa+mid, ob+sp)
	}
	return rec(nil, a, b, 0, 0)
}
