package feedback

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/agentreplay/replay/replay/trace"
)

//go:embed feedback.schema.json
var schema []byte

// Schema returns the JSON Schema of one line of a feedback file
// (feedback.schema.json): the documentation of the format, and what Read
// checks each line against.
func Schema() []byte { return bytes.Clone(schema) }

// Entry is one line of a feedback file: the run it names and the act.
type Entry struct {
	// Trace names the run, as the line's "trace" says (see the package
	// documentation for what it may be).
	Trace string
	// Line is the line's number in its file, from 1.
	Line int
	// Feedback is the act; its Source is "file:NAME:LINE".
	Feedback trace.Feedback
}

// LineError is a bad line of a feedback file.
type LineError struct {
	File  string
	Line  int
	Field string // the JSON field at fault ("" for the line as a whole)
	Msg   string
}

func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// maxErrors bounds the bad lines Read reports.
const maxErrors = 20

// line is a line of a feedback file as the schema has checked it.
type line struct {
	Trace    string          `json:"trace"`
	Human    string          `json:"human"`
	Decision json.RawMessage `json:"decision"`
	By       string          `json:"by"`
	At       string          `json:"at"`
	URL      string          `json:"url"`
	Note     string          `json:"note"`
}

// Read reads a feedback file (JSON Lines, one human act a line; blank
// lines are skipped) named name in errors and sources. Every line is
// checked against Schema; a bad file gives no entries and an error that
// joins a *LineError per bad line (file:line: field: what is wrong, up to
// 20 of them).
func Read(r io.Reader, name string) ([]Entry, error) {
	sch, err := compiled()
	if err != nil {
		return nil, err
	}
	var (
		out  []Entry
		errs []error
	)
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		b, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, fmt.Errorf("read feedback %s: %w", name, rerr)
		}
		if text := bytes.TrimSpace(b); len(text) > 0 {
			e, lerrs := readLine(sch, text, name, n)
			if len(lerrs) > 0 {
				errs = append(errs, lerrs...)
			} else {
				out = append(out, e)
			}
			if len(errs) >= maxErrors {
				errs = append(errs[:maxErrors], fmt.Errorf("%s: more bad lines after line %d", name, n))
				break
			}
		}
		if rerr != nil {
			break
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func readLine(sch *jsonschema.Schema, text []byte, name string, n int) (Entry, []error) {
	bad := func(field, msg string) []error {
		return []error{&LineError{File: name, Line: n, Field: field, Msg: msg}}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
	if err != nil {
		return Entry{}, bad("", "not a JSON object: "+strings.TrimPrefix(err.Error(), "invalid character "))
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return Entry{}, bad("", err.Error())
		}
		return Entry{}, schemaErrors(ve, name, n)
	}
	var l line
	if err := json.Unmarshal(text, &l); err != nil { // the schema checked the types: not expected
		return Entry{}, bad("", err.Error())
	}
	fb := trace.Feedback{Human: l.Human, By: l.By, URL: l.URL, Note: l.Note, Source: "file:" + name + ":" + strconv.Itoa(n)}
	if len(l.Decision) > 0 {
		var c bytes.Buffer
		if json.Compact(&c, l.Decision) == nil {
			fb.Decision = c.Bytes()
		}
	}
	if l.At != "" {
		t, err := time.Parse(time.RFC3339, l.At)
		if err != nil {
			return Entry{}, bad("at", fmt.Sprintf("%q: want an RFC 3339 time such as 2026-11-02T10:00:00Z", l.At))
		}
		fb.At = t
	}
	return Entry{Trace: strings.TrimSpace(l.Trace), Line: n, Feedback: fb}, nil
}

// schemaErrors turns a schema violation into a LineError per failed
// keyword, naming the field.
func schemaErrors(ve *jsonschema.ValidationError, name string, n int) []error {
	p := message.NewPrinter(language.English)
	var errs []error
	seen := map[string]bool{}
	add := func(field, msg string) {
		if k := field + "\x00" + msg; !seen[k] {
			seen[k] = true
			errs = append(errs, &LineError{File: name, Line: n, Field: field, Msg: msg})
		}
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		field := strings.Join(e.InstanceLocation, ".")
		switch k := e.ErrorKind.(type) {
		case *kind.AdditionalProperties:
			for _, prop := range k.Properties {
				add(joinField(field, prop), "unknown field (known: trace, human, decision, by, at, url, note)")
			}
		case *kind.Required:
			for _, prop := range k.Missing {
				add(joinField(field, prop), "missing: it is required")
			}
		case *kind.Enum:
			add(field, fmt.Sprintf("%s: want override, revert, manual-fix or confirm", jsonText(k.Got)))
		case *kind.Type:
			add(field, fmt.Sprintf("got %s, want %s", k.Got, strings.Join(k.Want, " or ")))
		case *kind.Format:
			if k.Want == "date-time" {
				add(field, fmt.Sprintf("%s: want an RFC 3339 time such as 2026-11-02T10:00:00Z", jsonText(k.Got)))
			} else {
				add(field, k.LocalizedString(p))
			}
		case *kind.MinLength:
			add(field, "empty: name the run (a trace id, session id or PR/issue URL)")
		default:
			add(field, e.ErrorKind.LocalizedString(p))
		}
	}
	walk(ve)
	slices.SortStableFunc(errs, func(a, b error) int {
		return strings.Compare(a.(*LineError).Field, b.(*LineError).Field)
	})
	return errs
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// compiled compiles Schema (cheap: once per Read).
func compiled() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("read feedback schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "feedback.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("read feedback schema: %w", err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile feedback schema: %w", err)
	}
	return sch, nil
}

// ReadFile reads the feedback file at path (see Read); its name in errors
// and sources is path as given.
func ReadFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read feedback %q: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	return Read(f, path)
}
