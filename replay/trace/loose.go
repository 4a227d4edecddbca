package trace

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
)

// FieldProblem is a value of the wrong JSON type found by DecodeLoose.
type FieldProblem struct {
	Field string // JSON path of the value, e.g. "message.content[2].input"; "" for the whole value
	Want  string // what the field holds when it is well formed: "an object", "a string", …
	Got   string // what the input held
}

func (p FieldProblem) String() string {
	return fmt.Sprintf("expected %s, found %s", p.Want, p.Got)
}

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// DecodeLoose decodes the JSON value b into v (a pointer) field by field:
// a value of the wrong type is left at its zero value and reported, and the
// rest of the value is still decoded. It returns an error only when b is not
// valid JSON.
//
// Importers decode with the fast typed decoder first and call DecodeLoose
// only for a line that decoder rejected with a type error (it stops at the
// first one), so that every wrong field is named and no other field is lost.
func DecodeLoose(b []byte, v any) ([]FieldProblem, error) {
	if !json.Valid(b) {
		var x any
		err := json.Unmarshal(b, &x)
		if err == nil {
			err = fmt.Errorf("invalid JSON")
		}
		return nil, err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, fmt.Errorf("DecodeLoose: need a non-nil pointer, got %T", v)
	}
	var ps []FieldProblem
	looseValue(bytes.TrimSpace(b), rv.Elem(), "", &ps)
	return ps, nil
}

// JSONKind names the JSON type of a raw value ("an object", "a string",
// …, "nothing" when empty) as FieldProblem.Got does: importers that
// check fields themselves name them alike.
func JSONKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func wantOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return wantOf(t.Elem())
	}
	return "a value"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func looseValue(raw []byte, v reflect.Value, path string, ps *[]FieldProblem) {
	if len(raw) == 0 || raw[0] == 'n' { // null leaves the zero value
		return
	}
	t := v.Type()
	if t == rawMessageType {
		v.SetBytes(bytes.Clone(raw))
		return
	}
	if t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			*ps = append(*ps, FieldProblem{Field: path, Want: wantOf(t), Got: JSONKind(raw)})
		}
		return
	}
	problem := func() { *ps = append(*ps, FieldProblem{Field: path, Want: wantOf(t), Got: JSONKind(raw)}) }
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		looseValue(raw, v.Elem(), path, ps)
	case reflect.Struct:
		if raw[0] != '{' {
			problem()
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			problem()
			return
		}
		looseStruct(obj, v, path, ps)
	case reflect.Slice:
		if raw[0] != '[' {
			problem()
			return
		}
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			problem()
			return
		}
		s := reflect.MakeSlice(t, len(elems), len(elems))
		for i, e := range elems {
			looseValue(bytes.TrimSpace(e), s.Index(i), path+"["+strconv.Itoa(i)+"]", ps)
		}
		v.Set(s)
	case reflect.Map:
		if raw[0] != '{' || t.Key().Kind() != reflect.String {
			problem()
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			problem()
			return
		}
		m := reflect.MakeMapWithSize(t, len(obj))
		for k, e := range obj {
			ev := reflect.New(t.Elem()).Elem()
			looseValue(bytes.TrimSpace(e), ev, join(path, k), ps)
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		v.Set(m)
	default:
		if json.Unmarshal(raw, v.Addr().Interface()) != nil {
			problem()
		}
	}
}

// looseStruct decodes the members of obj into the exported fields of struct
// v by their JSON names (case-insensitively, as the typed decoder does).
func looseStruct(obj map[string]json.RawMessage, v reflect.Value, path string, ps *[]FieldProblem) {
	t := v.Type()
	lower := map[string]string{}
	for k := range obj {
		lower[strings.ToLower(k)] = k
	}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := sf.Name
		if tag, ok := sf.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		} else if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			looseStruct(obj, v.Field(i), path, ps)
			continue
		}
		key, ok := name, false
		if _, ok = obj[key]; !ok {
			key, ok = lower[strings.ToLower(name)]
		}
		if !ok {
			continue
		}
		looseValue(bytes.TrimSpace(obj[key]), v.Field(i), join(path, name), ps)
	}
}

// Tally gathers warnings of the same kind (file, field and message) into
// one each: the place of the first occurrence and a count. The zero value is
// ready to use.
type Tally struct {
	order []string
	by    map[string]*tallied
}

type tallied struct {
	w Warning
	n int
}

// Add counts w.
func (t *Tally) Add(w Warning) {
	key := w.File + "\x00" + w.Field + "\x00" + w.Message
	if t.by == nil {
		t.by = map[string]*tallied{}
	}
	if x := t.by[key]; x != nil {
		x.n++
		return
	}
	t.by[key] = &tallied{w: w, n: 1}
	t.order = append(t.order, key)
}

// Len is the number of distinct warnings.
func (t *Tally) Len() int { return len(t.order) }

// Warnings returns one warning per kind, in the order first seen; a kind seen
// more than once says how often.
func (t *Tally) Warnings() []Warning {
	var out []Warning
	for _, k := range t.order {
		x := t.by[k]
		w := x.w
		if x.n > 1 {
			w.Message = fmt.Sprintf("%s (%d times, the first here)", w.Message, x.n)
		}
		out = append(out, w)
	}
	return out
}
