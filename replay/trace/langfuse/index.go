package langfuse

import (
	"github.com/agentreplay/replay/replay/trace"

	"bufio"
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// Pass 1 walks the whole document once with a streaming tokenizer and keeps,
// per observation, only what ordering and structure need (ids, type, times,
// byte range). Pass 2 reads each observation again, alone, from its byte
// range, in start-time order. Memory is bounded by the largest single
// observation, whatever the size of the file.

// entry is what pass 1 keeps of an observation: a few hundred bytes, so
// that the index of a trace with many observations stays small. Strings
// that only some observations need are kept only for them.
type entry struct {
	ID     string
	Parent string
	Type   string
	Name   string // AGENT observations and roots only
	Level  string
	Status string // statusMessage, for observations of level ERROR only
	Prompt string // promptName and promptVersion, GENERATION only
	PVer   string
	Start  time.Time
	End    time.Time
	off, n int64 // byte range of the observation in the file
	seq    int   // position in the file, for stable ordering
}

// indexEntry is decoded from each observation in pass 1; unknown fields
// (input, output, metadata) are skipped by the decoder.
type indexEntry struct {
	ID                  string          `json:"id"`
	ParentObservationID *string         `json:"parentObservationId"`
	Type                string          `json:"type"`
	Name                *string         `json:"name"`
	Level               *string         `json:"level"`
	StatusMessage       *string         `json:"statusMessage"`
	StartTime           *string         `json:"startTime"`
	EndTime             *string         `json:"endTime"`
	PromptName          *string         `json:"promptName"`
	PromptVersion       json.RawMessage `json:"promptVersion"`
}

// traceInfo is what pass 1 keeps of the trace object.
type traceInfo struct {
	found       bool
	ID          string
	Name        string
	Timestamp   time.Time
	SessionID   string
	UserID      string
	Release     string
	Version     string
	Environment string
	Tags        []string
	TotalCost   *float64
	Latency     *float64
	Input       json.RawMessage
	Output      json.RawMessage
	Scores      json.RawMessage // the trace's scores (scores.go)
}

// index is the result of pass 1.
type index struct {
	trace   traceInfo
	entries []entry
	seen    map[string]int // observation id → position in entries
	// truncated is set when --lenient stopped pass 1 at bad JSON.
	truncatedAt int64
	// badTrace are the trace object's fields of the wrong type, read as
	// absent, with their offsets.
	badTrace []badField
}

type badField struct {
	p   trace.FieldProblem
	off int64
}

// syntaxError is a JSON error at a byte offset of the input. Errors met
// while decoding a whole value (valueStart >= 0) are located by locate: the
// decoder's own offsets for them are not absolute.
type syntaxError struct {
	off        int64
	valueStart int64
	err        error
}

// locate returns the byte offset of the error in r.
func (e *syntaxError) locate(r io.ReaderAt, size int64) int64 {
	if e.valueStart < 0 {
		return e.off
	}
	// Skip the separator before the value, then decode it alone: a fresh
	// decoder's offsets count from its first byte.
	base := e.valueStart
	buf := make([]byte, 1)
	for base < size {
		if _, err := r.ReadAt(buf, base); err != nil {
			break
		}
		if c := buf[0]; c != ',' && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
		base++
	}
	dec := stdjson.NewDecoder(io.NewSectionReader(r, base, size-base))
	var raw stdjson.RawMessage
	err := dec.Decode(&raw)
	var se *stdjson.SyntaxError
	if errors.As(err, &se) {
		return base + se.Offset
	}
	if err != nil {
		return size // the value runs to the end of the input
	}
	return e.off
}

func (e *syntaxError) Error() string { return e.err.Error() }
func (e *syntaxError) Unwrap() error { return e.err }

// buildIndex runs pass 1 over r.
func buildIndex(r io.Reader) (*index, error) {
	dec := stdjson.NewDecoder(bufio.NewReaderSize(r, 256<<10))
	ix := &index{seen: map[string]int{}}
	tok, err := dec.Token()
	if err != nil {
		return ix, wrapSyntax(dec, err)
	}
	switch tok {
	case stdjson.Delim('{'):
		if err := ix.walkTop(dec); err != nil {
			return ix, err
		}
	case stdjson.Delim('['):
		if err := ix.walkObservations(dec); err != nil {
			return ix, err
		}
	default:
		return ix, errNotLangfuse
	}
	return ix, nil
}

var errNotLangfuse = errors.New("not a Langfuse trace: expected a JSON object with \"trace\" and \"observations\"")

// wrapSyntax locates a decoding error. Errors from Token carry absolute
// offsets; errors from Decode carry offsets relative to the value being
// decoded, which started at base (-1 for a Token error).
func wrapSyntax(dec *stdjson.Decoder, err error) error {
	return wrapSyntaxAt(dec, err, -1)
}

func wrapSyntaxAt(dec *stdjson.Decoder, err error, base int64) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	var se *stdjson.SyntaxError
	if errors.As(err, &se) && base < 0 {
		return &syntaxError{off: se.Offset, valueStart: -1, err: err}
	}
	return &syntaxError{off: dec.InputOffset(), valueStart: base, err: err}
}

// walkTop reads the top-level object: {"trace":…, "observations":[…]}, the
// API's trace object with observations inside, or a page {"data":[…]}.
func (ix *index) walkTop(dec *stdjson.Decoder) error {
	for dec.More() {
		key, err := readKey(dec)
		if err != nil {
			return err
		}
		switch key {
		case "trace":
			tok, err := dec.Token()
			if err != nil {
				return wrapSyntax(dec, err)
			}
			if tok == stdjson.Delim('{') {
				if err := ix.walkTrace(dec); err != nil {
					return err
				}
			} else if tok != nil {
				return fmt.Errorf("%w: \"trace\" is not an object", errNotLangfuse)
			}
		case "observations", "data":
			if err := ix.observationsValue(dec); err != nil {
				return err
			}
		default:
			if err := ix.traceField(dec, key); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // closing }
		return wrapSyntax(dec, err)
	}
	return nil
}

func (ix *index) walkTrace(dec *stdjson.Decoder) error {
	ix.trace.found = true
	for dec.More() {
		key, err := readKey(dec)
		if err != nil {
			return err
		}
		if key == "observations" {
			if err := ix.observationsValue(dec); err != nil {
				return err
			}
			continue
		}
		if err := ix.traceField(dec, key); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return wrapSyntax(dec, err)
	}
	return nil
}

func readKey(dec *stdjson.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", wrapSyntax(dec, err)
	}
	k, ok := tok.(string)
	if !ok {
		return "", &syntaxError{off: dec.InputOffset(), valueStart: -1, err: fmt.Errorf("expected an object key, found %v", tok)}
	}
	return k, nil
}

// traceField reads one field of the trace object.
func (ix *index) traceField(dec *stdjson.Decoder, key string) error {
	var raw stdjson.RawMessage
	base := dec.InputOffset()
	if err := dec.Decode(&raw); err != nil {
		return wrapSyntaxAt(dec, err, base)
	}
	if want, ok := traceFieldTypes[key]; ok && !isNull(raw) && trace.JSONKind(raw) != want {
		ix.badTrace = append(ix.badTrace, badField{trace.FieldProblem{Field: "trace." + key, Want: want, Got: trace.JSONKind(raw)}, base})
	}
	t := &ix.trace
	s := func() string {
		var v string
		_ = json.Unmarshal(raw, &v)
		return v
	}
	switch key {
	case "id":
		t.found = true
		t.ID = s()
	case "name":
		t.Name = s()
	case "timestamp":
		t.Timestamp = parseTime(s())
	case "sessionId":
		t.SessionID = s()
	case "userId":
		t.UserID = s()
	case "release":
		t.Release = s()
	case "version":
		t.Version = s()
	case "environment":
		t.Environment = s()
	case "tags":
		_ = json.Unmarshal(raw, &t.Tags)
	case "totalCost":
		var f float64
		if json.Unmarshal(raw, &f) == nil && string(raw) != "null" {
			t.TotalCost = &f
		}
	case "latency":
		var f float64
		if json.Unmarshal(raw, &f) == nil && string(raw) != "null" {
			t.Latency = &f
		}
	case "input":
		t.Input = append(json.RawMessage(nil), raw...)
	case "output":
		t.Output = append(json.RawMessage(nil), raw...)
	case "scores":
		t.Scores = append(json.RawMessage(nil), raw...)
	}
	return nil
}

// observationsValue reads the value of an "observations" key: a list, or
// null.
func (ix *index) observationsValue(dec *stdjson.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return wrapSyntax(dec, err)
	}
	switch tok {
	case nil:
		return nil
	case stdjson.Delim('['):
		return ix.walkObservations(dec)
	}
	return &syntaxError{off: dec.InputOffset(), valueStart: -1, err: fmt.Errorf("\"observations\" is not a list")}
}

// walkObservations indexes the elements of a list whose '[' was read.
func (ix *index) walkObservations(dec *stdjson.Decoder) error {
	for dec.More() {
		start := dec.InputOffset()
		var ie indexEntry
		if err := dec.Decode(&ie); err != nil {
			// A field of an unexpected type leaves the others decoded; a
			// value that is not an object leaves ie empty and is skipped.
			var ute *stdjson.UnmarshalTypeError
			if !errors.As(err, &ute) {
				return wrapSyntaxAt(dec, err, start)
			}
		}
		end := dec.InputOffset()
		if ie.ID == "" && ie.Type == "" {
			continue
		}
		e := entry{
			ID:     ie.ID,
			Parent: deref(ie.ParentObservationID),
			Type:   ie.Type,
			Level:  deref(ie.Level),
			Start:  parseTime(deref(ie.StartTime)),
			End:    parseTime(deref(ie.EndTime)),
			off:    start,
			n:      end - start,
			seq:    len(ix.entries),
		}
		if strings.EqualFold(e.Type, "AGENT") || e.Parent == "" {
			e.Name = deref(ie.Name)
		}
		if strings.EqualFold(e.Level, "ERROR") {
			e.Status = deref(ie.StatusMessage)
		}
		if strings.EqualFold(e.Type, "GENERATION") {
			e.Prompt, e.PVer = deref(ie.PromptName), versionString(ie.PromptVersion)
		}
		if ie.ID != "" {
			// The same observation listed twice (UI exports repeat them
			// under trace.observations, sometimes without input, output and
			// metadata): keep the fuller copy, at the first one's place.
			if j, dup := ix.seen[ie.ID]; dup {
				if e.n > ix.entries[j].n {
					e.seq = ix.entries[j].seq
					ix.entries[j] = e
				}
				continue
			}
			ix.seen[ie.ID] = len(ix.entries)
		}
		ix.entries = append(ix.entries, e)
	}
	if _, err := dec.Token(); err != nil { // closing ]
		return wrapSyntax(dec, err)
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func versionString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
