package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
)

// jsonChanges is a structural diff of two JSON values: the paths where they
// differ, objects compared by key, arrays by index. Values that are not
// JSON compare as strings at the root.
func jsonChanges(a, b json.RawMessage) []Change {
	va, okA := decodeJSON(a)
	vb, okB := decodeJSON(b)
	if !okA || !okB {
		if canonical(a) == canonical(b) {
			return nil
		}
		return []Change{{Path: ".", Op: "changed", A: rawOrString(a), B: rawOrString(b)}}
	}
	var out []Change
	walk("", va, vb, &out)
	return out
}

func rawOrString(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return nil
	}
	if json.Valid(r) {
		return r
	}
	b, _ := json.Marshal(string(r))
	return b
}

func decodeJSON(r json.RawMessage) (any, bool) {
	if len(bytes.TrimSpace(r)) == 0 {
		return nil, true
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(r))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

func marshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func walk(path string, a, b any, out *[]Change) {
	p := path
	if p == "" {
		p = "."
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(x)+len(y))
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			va, inA := x[k]
			vb, inB := y[k]
			kp := path + "." + k
			switch {
			case !inA:
				*out = append(*out, Change{Path: kp, Op: "added", B: marshal(vb)})
			case !inB:
				*out = append(*out, Change{Path: kp, Op: "removed", A: marshal(va)})
			default:
				walk(kp, va, vb, out)
			}
		}
		return
	case []any:
		y, ok := b.([]any)
		if !ok {
			break
		}
		for i := 0; i < max(len(x), len(y)); i++ {
			ip := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case i >= len(x):
				*out = append(*out, Change{Path: ip, Op: "added", B: marshal(y[i])})
			case i >= len(y):
				*out = append(*out, Change{Path: ip, Op: "removed", A: marshal(x[i])})
			default:
				walk(ip, x[i], y[i], out)
			}
		}
		return
	}
	ma, mb := marshal(a), marshal(b)
	if !bytes.Equal(ma, mb) {
		*out = append(*out, Change{Path: p, Op: "changed", A: ma, B: mb})
	}
}

// textDiff is a unified diff of two texts.
func textDiff(a, b, la, lb string) TextDiff {
	t := TextDiff{Equal: a == b, A: a, B: b}
	if !t.Equal {
		t.Diff = unified(la, lb, a, b)
	}
	return t
}

// unified is udiff's unified diff, each side ended by a newline so that a
// missing last newline does not show as a change of its own.
func unified(la, lb, a, b string) string {
	if a != "" && !strings.HasSuffix(a, "\n") {
		a += "\n"
	}
	if b != "" && !strings.HasSuffix(b, "\n") {
		b += "\n"
	}
	return udiff.Unified(la, lb, a, b)
}
