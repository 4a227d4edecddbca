package cli

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// jsonPaths lists the field paths the JSON encoding of t can emit (a.b: a
// field of object a; a[]: an element of array a), objects included.
func jsonPaths(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return
		}
		jsonPaths(t.Elem(), prefix+"[]", out)
		return
	case reflect.Struct:
	default:
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			jsonPaths(f.Type, prefix, out)
			continue
		}
		if name == "" {
			name = f.Name
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		*out = append(*out, p)
		jsonPaths(f.Type, p, out)
	}
}

// TestVerifyJSONFieldsDocumented: every field `replay verify --json` can
// emit is documented in `replay verify --help`, and nothing documented is
// not emitted.
func TestVerifyJSONFieldsDocumented(t *testing.T) {
	var emitted []string
	jsonPaths(reflect.TypeFor[verifyJSON](), "", &emitted)
	var documented []string
	for _, f := range verifyJSONFields {
		documented = append(documented, f.Path)
		if strings.TrimSpace(f.Doc) == "" {
			t.Errorf("%s has no description", f.Path)
		}
	}
	for _, p := range emitted {
		if !slices.Contains(documented, p) {
			t.Errorf("emitted but not documented: %s", p)
		}
	}
	for _, p := range documented {
		if !slices.Contains(emitted, p) {
			t.Errorf("documented but not emitted: %s", p)
		}
	}
	help := newVerifyCmd(&globals{}, nil).Long
	for _, p := range documented {
		if !strings.Contains(help, "  "+p+" ") {
			t.Errorf("replay verify --help does not list %s", p)
		}
	}
	if !strings.Contains(help, "version 2") {
		t.Error("--help does not name the JSON version")
	}
}
