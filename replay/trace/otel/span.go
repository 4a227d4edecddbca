package otel

import (
	"bufio"
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Span is one OpenTelemetry span, whatever file shape it came from.
type Span struct {
	TraceID  string // 32 lowercase hex digits ("" when the input had none)
	SpanID   string // 16 lowercase hex digits
	ParentID string // "" for a root span
	Name     string
	Kind     int // KindInternal, KindClient, …
	Start    time.Time
	End      time.Time
	// Attrs holds the span attributes; see value.go for the Go types used.
	Attrs         map[string]any
	Events        []SpanEvent
	StatusCode    int // StatusUnset, StatusOK or StatusError
	StatusMessage string
	// Resource holds the resource attributes. Spans of one resource share
	// the map: do not modify it.
	Resource map[string]any
	Scope    string // instrumentation scope: "name version"
	Line     int    // line of the input where the span starts
}

// SpanEvent is one event recorded on a span.
type SpanEvent struct {
	Name  string
	Time  time.Time
	Attrs map[string]any
}

// Duration is End - Start, or 0 when either is unknown or End is before Start.
func (s *Span) Duration() time.Duration {
	if s.Start.IsZero() || s.End.IsZero() || s.End.Before(s.Start) {
		return 0
	}
	return s.End.Sub(s.Start)
}

// ReadSpans reads every span of a file. It accepts:
//   - OTLP/JSON Lines: one TracesData ({"resourceSpans":[…]}) per line, a
//     trace possibly spread over several lines in any order;
//   - one OTLP/JSON document, possibly pretty-printed over many lines;
//   - OTel SDK span dumps: a JSON array of span objects as Python's
//     ReadableSpan.to_json() writes them (attributes as a plain object, ids as
//     integers or "0x…" hex, ISO or nanosecond times), any-agent's
//     {"spans":[…]} object, JSON Lines of span objects, or concatenated
//     pretty-printed span objects (ConsoleSpanExporter);
//   - a bare attribute map (one JSON object of OpenInference or GenAI
//     attributes), read as one span.
//
// ReadSpans holds every span in memory: it is meant for small files such as
// a factory run's run-telemetry.jsonl. The format importers read spans twice
// instead, keeping only a skeleton of each span between the passes.
//
// Bad input gives errors naming file and line; with opts.Lenient, lines of
// invalid JSON are skipped and counted in a warning. A file without any span
// gives an error wrapping trace.ErrNotTrace.
func ReadSpans(ctx context.Context, path string, opts trace.Options) ([]Span, []trace.Warning, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read spans %q: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	return readSpans(ctx, f, path, opts)
}

func readSpans(ctx context.Context, r io.Reader, name string, opts trace.Options) ([]Span, []trace.Warning, error) {
	sc := newScanner(name, opts, true)
	var spans []Span
	err := sc.scan(ctx, r, func(sp *Span, _ *spanRef) error {
		spans = append(spans, *sp)
		return nil
	})
	if err != nil {
		return nil, sc.warnings(), err
	}
	if len(spans) == 0 {
		return nil, sc.warnings(), fmt.Errorf("read spans %q: %w: no spans found", name, trace.ErrNotTrace)
	}
	return spans, sc.warnings(), nil
}

// spanRef says where a span's bytes are, so that the importers' second pass
// can read the span again.
type spanRef struct {
	line  int
	start int64 // offset of the line (JSONL) or of the span (document)
	rel   int64 // offset of the span within the trimmed line (JSONL)
	n     int   // length of the span's JSON
	jsonl bool  // start is a line start: skip the line's leading blanks
	span  bool  // listed as a span (OTLP scopeSpans, any-agent "spans"): never an attribute map
	res   int32 // index of the span's resource in scanner.resources, -1 none
	scope int32 // index of the span's scope in scanner.scopes, -1 none
	held  *Span // the span itself when its bytes cannot be read again
}

// scanner reads spans from one input, in one pass.
type scanner struct {
	name string
	opts trace.Options
	hold bool // keep every span in its ref (input that cannot be read twice)
	// lite: decode only the attributes the importers' first pass needs
	// (see liteKey) and skip events; spans are read again in full later.
	lite bool

	lines      *lineIndex
	resources  []map[string]any
	resIndex   map[string]int32
	scopes     []string
	scopeIndex map[string]int32

	warns       []trace.Warning
	empty       map[string]*[2]int // JSON values that held no span, by kind: count, first line
	emptyOrder  []string
	finalOutput string // any-agent AgentTrace final_output
}

func newScanner(name string, opts trace.Options, hold bool) *scanner {
	return &scanner{name: name, opts: opts, hold: hold, resIndex: map[string]int32{}, scopeIndex: map[string]int32{}}
}

// warnings returns the scan's warnings: ScanLines' and one per kind of
// JSON value that held no span.
func (s *scanner) warnings() []trace.Warning {
	w := s.warns[:len(s.warns):len(s.warns)]
	for _, what := range s.emptyOrder {
		c := s.empty[what]
		w = append(w, trace.Warning{File: s.name, Line: c[1],
			Message: fmt.Sprintf("%d records of unknown type %q (first at line %d): they hold no span, skipped", c[0], what, c[1])})
	}
	return w
}

func (s *scanner) noSpan(line int, what string) {
	if s.empty == nil {
		s.empty = map[string]*[2]int{}
	}
	c := s.empty[what]
	if c == nil {
		c = &[2]int{0, line}
		s.empty[what] = c
		s.emptyOrder = append(s.emptyOrder, what)
	}
	c[0]++
}

// Input framings.
const (
	frameNone = iota
	frameLines
	frameDoc
)

// framing tells JSON Lines from a JSON document by the first lines of head:
// a JSON Lines file has a first line that is a whole JSON value; a
// pretty-printed document's first line is not, and ends with an opening
// delimiter ("{", "[", `"resourceSpans": [`). A first line that is neither
// (a JSON Lines file whose first record is damaged) is JSON Lines when the
// next line is a whole value.
func framing(head []byte) int {
	t := bytes.TrimLeft(head, " \t\r\n\ufeff")
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return frameNone
	}
	rest := head
	for i := 0; i < 2 && len(rest) > 0; {
		line, after, found := bytes.Cut(rest, []byte("\n"))
		rest = after
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		i++
		if !found && len(head) >= trace.HeadSize {
			// One line longer than the head: only JSON Lines have those.
			return frameLines
		}
		if (line[0] == '{' || line[0] == '[') && json.Valid(line) {
			return frameLines
		}
		if i == 1 && bytes.ContainsAny(line[len(line)-1:], "{[,:") {
			return frameDoc
		}
	}
	return frameDoc
}

func (s *scanner) scan(ctx context.Context, r io.Reader, fn func(*Span, *spanRef) error) error {
	s.lines = &lineIndex{r: r}
	br := bufio.NewReaderSize(s.lines, 64<<10)
	head, err := br.Peek(trace.HeadSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("read %s: %w", s.name, err)
	}
	switch framing(head) {
	case frameLines:
		return trace.ScanLines(ctx, br, s.name, s.opts, func(w trace.Warning) { s.warns = append(s.warns, w) },
			func(line int, b []byte) error {
				ref := &spanRef{line: line, start: s.lines.lineStart(line), jsonl: true, res: -1, scope: -1}
				if ref.start < 0 {
					ref.held = &Span{} // cannot happen; keep the span rather than misread it later
				}
				return s.value(b, ref, 0, fn)
			})
	case frameDoc:
		return s.walkDoc(ctx, br, fn)
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return fmt.Errorf("read spans %q: %w: empty file", s.name, trace.ErrNotTrace)
	}
	return fmt.Errorf("read spans %q: %w: not JSON", s.name, trace.ErrNotTrace)
}

// value reads the spans of one complete JSON value b. at locates b: its
// line, and its offset (rel for JSON Lines, start for documents).
func (s *scanner) value(b []byte, at *spanRef, depth int, fn func(*Span, *spanRef) error) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '[':
		if depth > 1 {
			s.noSpan(at.line, "nested array")
			return nil
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(b, &elems); err != nil {
			return trace.BadJSON(err)
		}
		cursor := 0
		for _, e := range elems {
			sub := *at
			if !s.locate(b, e, &cursor, &sub) {
				sub.held = &Span{} // marks "keep it": filled below
			}
			if err := s.value(e, &sub, depth+1, fn); err != nil {
				return err
			}
		}
		return nil
	case '{':
		if head := b[:min(len(b), 64)]; bytes.Contains(head, []byte(`"resourceSpans"`)) {
			// The common case, OTLP/JSON Lines: decode the line once.
			var td struct {
				ResourceSpans []wireResourceSpans `json:"resourceSpans"`
			}
			if err := json.Unmarshal(b, &td); err == nil {
				return s.tracesData(b, td.ResourceSpans, at, fn)
			}
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return trace.BadJSON(err)
		}
		if rs := firstRaw(obj, "resourceSpans", "resource_spans"); rs != nil {
			var rss []wireResourceSpans
			if err := json.Unmarshal(rs, &rss); err != nil {
				return trace.BadJSON(fmt.Errorf("resourceSpans: %w", err))
			}
			return s.tracesData(b, rss, at, fn)
		}
		if sp := obj["spans"]; isArray(sp) && !spanLike(obj) {
			if fo := obj["final_output"]; len(fo) > 0 {
				s.finalOutput = textOf(fo)
			}
			var elems []json.RawMessage
			if err := json.Unmarshal(sp, &elems); err != nil {
				return trace.BadJSON(err)
			}
			cursor := 0
			for _, e := range elems {
				sub := *at
				sub.span = true
				if !s.locate(b, e, &cursor, &sub) {
					sub.held = &Span{}
				}
				if err := s.value(e, &sub, 2, fn); err != nil {
					return err
				}
			}
			return nil
		}
		at.n = len(b)
		return s.object(obj, at, fn)
	}
	s.noSpan(at.line, jsonKind(b))
	return nil
}

// locate finds e (a sub-slice copy of b) in b at or after cursor and points
// sub at it. It reports false when e cannot be found.
func (s *scanner) locate(b, e []byte, cursor *int, sub *spanRef) bool {
	i := bytes.Index(b[*cursor:], e)
	if i < 0 {
		return false
	}
	pos := *cursor + i
	*cursor = pos + len(e)
	if sub.jsonl {
		sub.rel += int64(pos)
	} else {
		sub.start += int64(pos)
	}
	sub.n = len(e)
	return true
}

type wireResourceSpans struct {
	Resource    json.RawMessage  `json:"resource"`
	ScopeSpans  []wireScopeSpans `json:"scopeSpans"`
	ScopeSpans2 []wireScopeSpans `json:"scope_spans"`
	ILSpans     []wireScopeSpans `json:"instrumentationLibrarySpans"`
	ILSpans2    []wireScopeSpans `json:"instrumentation_library_spans"`
}

type wireScopeSpans struct {
	Scope json.RawMessage   `json:"scope"`
	IL    json.RawMessage   `json:"instrumentationLibrary"`
	IL2   json.RawMessage   `json:"instrumentation_library"`
	Spans []json.RawMessage `json:"spans"`
}

// tracesData reads the spans of one OTLP TracesData value b, whose
// resourceSpans member decodes to rss.
func (s *scanner) tracesData(b []byte, rss []wireResourceSpans, at *spanRef, fn func(*Span, *spanRef) error) error {
	cursor := 0
	found := false
	for i := range rss {
		res := s.internResource(rss[i].Resource)
		for _, list := range [][]wireScopeSpans{rss[i].ScopeSpans, rss[i].ScopeSpans2, rss[i].ILSpans, rss[i].ILSpans2} {
			for j := range list {
				ss := &list[j]
				scope := s.internScope(firstNonEmpty(ss.Scope, ss.IL, ss.IL2))
				for _, raw := range ss.Spans {
					found = true
					sub := *at
					sub.res, sub.scope, sub.span = res, scope, true
					if !s.locate(b, raw, &cursor, &sub) {
						sub.held = &Span{}
					}
					var obj map[string]json.RawMessage
					if err := json.Unmarshal(raw, &obj); err != nil {
						return trace.BadJSON(err)
					}
					if err := s.object(obj, &sub, fn); err != nil {
						return err
					}
				}
			}
		}
	}
	if !found {
		s.noSpan(at.line, "TracesData without spans")
	}
	return nil
}

// object hands one span object (or bare attribute map) to fn.
func (s *scanner) object(obj map[string]json.RawMessage, at *spanRef, fn func(*Span, *spanRef) error) error {
	sp, err := s.spanOf(obj, at.res, at.scope, at.span)
	if err != nil {
		return trace.BadJSON(err)
	}
	if sp == nil {
		s.noSpan(at.line, "object without span members or GenAI attributes")
		return nil
	}
	if at.span || spanLike(obj) {
		s.checkSpanObject(obj, at.line)
	}
	sp.Line = at.line
	ref := *at
	if s.hold || ref.held != nil {
		if s.lite {
			// Keep the whole span, not the first pass's sketch of it.
			full := *s
			full.lite = false
			if sp, err = full.spanOf(obj, at.res, at.scope, at.span); err != nil {
				return trace.BadJSON(err)
			}
			sp.Line = at.line
		}
		ref.held = sp
	}
	return fn(sp, &ref)
}

func (s *scanner) internResource(raw []byte) int32 {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return -1
	}
	key := string(raw)
	if i, ok := s.resIndex[key]; ok {
		return i
	}
	var res struct {
		Attributes json.RawMessage `json:"attributes"`
	}
	attrs := map[string]any{}
	if json.Unmarshal(raw, &res) == nil {
		if a, err := decodeAttrs(res.Attributes); err == nil {
			attrs = a
		}
	}
	i := int32(len(s.resources))
	s.resources = append(s.resources, attrs)
	s.resIndex[key] = i
	return i
}

func (s *scanner) internScope(raw []byte) int32 {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return -1
	}
	var sc struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if json.Unmarshal(raw, &sc) != nil || sc.Name == "" {
		return -1
	}
	name := strings.TrimSpace(sc.Name + " " + sc.Version)
	if i, ok := s.scopeIndex[name]; ok {
		return i
	}
	i := int32(len(s.scopes))
	s.scopes = append(s.scopes, name)
	s.scopeIndex[name] = i
	return i
}

// spanKeys are members only span objects have (OTLP or SDK dumps); an
// object with none of them is a bare attribute map.
var spanKeys = [...]string{"traceId", "trace_id", "spanId", "span_id", "context", "parentSpanId", "parent_span_id",
	"parent_id", "startTimeUnixNano", "start_time_unix_nano", "start_time", "endTimeUnixNano", "end_time"}

func spanLike(obj map[string]json.RawMessage) bool {
	for _, k := range spanKeys {
		if _, ok := obj[k]; ok {
			return true
		}
	}
	return false
}

// attrMapLike reports whether obj looks like a map of span attributes: at
// least one key of a GenAI, OpenInference or LLM namespace.
func attrMapLike(obj map[string]json.RawMessage) bool {
	for k := range obj {
		if strings.HasPrefix(k, "gen_ai.") || strings.HasPrefix(k, "llm.") || strings.HasPrefix(k, "openinference.") ||
			strings.HasPrefix(k, "tool.") || strings.HasPrefix(k, "fullsend.") {
			return true
		}
	}
	return false
}

// spanOf builds a span from a decoded span object or attribute map. It
// returns nil, nil for an object that is neither. listed says the object
// came from a list of spans: it is a span even without ids or times.
func (s *scanner) spanOf(obj map[string]json.RawMessage, res, scope int32, listed bool) (*Span, error) {
	if !listed && !spanLike(obj) {
		if !attrMapLike(obj) {
			return nil, nil
		}
		if s.lite {
			b, err := json.Marshal(obj)
			if err != nil {
				return nil, err
			}
			a, err := decodeLiteAttrs(b)
			if err != nil {
				return nil, err
			}
			return &Span{Attrs: a, Resource: s.resource(res), Scope: s.scope(scope)}, nil
		}
		return &Span{Attrs: plainAttrs(obj), Resource: s.resource(res), Scope: s.scope(scope)}, nil
	}
	sp := &Span{
		TraceID:  parseID(firstRaw(obj, "traceId", "trace_id"), 32),
		SpanID:   parseID(firstRaw(obj, "spanId", "span_id"), 16),
		ParentID: parseID(firstRaw(obj, "parentSpanId", "parent_span_id", "parent_id", "parentId"), 16),
		Name:     unquote(obj["name"]),
		Kind:     parseKind(obj["kind"]),
		Start:    spanTime(obj, "startTimeUnixNano", "start_time_unix_nano", "start_time", "startTime"),
		End:      spanTime(obj, "endTimeUnixNano", "end_time_unix_nano", "end_time", "endTime"),
		Resource: s.resource(res),
		Scope:    s.scope(scope),
	}
	if !isString(obj["name"]) {
		sp.Name = ""
	}
	if c := obj["context"]; isObject(c) {
		var ctx map[string]json.RawMessage
		if json.Unmarshal(c, &ctx) == nil {
			if sp.TraceID == "" {
				sp.TraceID = parseID(firstRaw(ctx, "trace_id", "traceId"), 32)
			}
			if sp.SpanID == "" {
				sp.SpanID = parseID(firstRaw(ctx, "span_id", "spanId"), 16)
			}
		}
	}
	if p := obj["parent"]; sp.ParentID == "" && len(p) > 0 {
		if isObject(p) {
			var pc map[string]json.RawMessage
			if json.Unmarshal(p, &pc) == nil {
				sp.ParentID = parseID(firstRaw(pc, "span_id", "spanId"), 16)
			}
		} else {
			sp.ParentID = parseID(p, 16)
		}
	}
	decode := decodeAttrs
	if s.lite {
		decode = decodeLiteAttrs
	}
	attrs, err := decode(obj["attributes"])
	if err != nil {
		return nil, fmt.Errorf("span %q attributes: %w", sp.Name, err)
	}
	sp.Attrs = attrs
	if ev := obj["events"]; isArray(ev) && !s.lite {
		var evs []map[string]json.RawMessage
		if err := json.Unmarshal(ev, &evs); err != nil {
			return nil, fmt.Errorf("span %q events: %w", sp.Name, err)
		}
		for _, e := range evs {
			a, err := decodeAttrs(e["attributes"])
			if err != nil {
				return nil, fmt.Errorf("span %q event attributes: %w", sp.Name, err)
			}
			name := ""
			if isString(e["name"]) {
				name = unquote(e["name"])
			}
			sp.Events = append(sp.Events, SpanEvent{
				Name:  name,
				Time:  spanTime(e, "timeUnixNano", "time_unix_nano", "timestamp", "time"),
				Attrs: a,
			})
		}
	}
	if st := obj["status"]; isObject(st) {
		var sto map[string]json.RawMessage
		if json.Unmarshal(st, &sto) == nil {
			sp.StatusCode = parseStatusCode(firstRaw(sto, "code", "status_code", "statusCode"))
			if m := firstRaw(sto, "message", "description"); isString(m) {
				sp.StatusMessage = unquote(m)
			}
		}
	}
	if c := obj["status_code"]; len(c) > 0 && sp.StatusCode == StatusUnset {
		// Phoenix span exports: status_code and status_message at the top.
		sp.StatusCode = parseStatusCode(c)
		if m := obj["status_message"]; isString(m) && sp.StatusMessage == "" {
			sp.StatusMessage = unquote(m)
		}
	}
	if r := obj["resource"]; sp.Resource == nil && isObject(r) {
		if i := s.internResource(r); i >= 0 {
			sp.Resource = s.resources[i]
		}
	}
	if sp.Scope == "" {
		if i := s.internScope(firstRaw(obj, "instrumentationScope", "instrumentation_scope", "instrumentation_info")); i >= 0 {
			sp.Scope = s.scopes[i]
		}
	}
	return sp, nil
}

func (s *scanner) resource(i int32) map[string]any {
	if i < 0 || int(i) >= len(s.resources) {
		return nil
	}
	return s.resources[i]
}

func (s *scanner) scope(i int32) string {
	if i < 0 || int(i) >= len(s.scopes) {
		return ""
	}
	return s.scopes[i]
}

// spanTime reads the first present time member: the first two keys are
// OTLP nanosecond fields, the others SDK-dump fields.
func spanTime(obj map[string]json.RawMessage, otlp, otlpSnake string, others ...string) time.Time {
	if v := firstRaw(obj, otlp, otlpSnake); v != nil {
		return parseNanos(v)
	}
	return parseTime(firstRaw(obj, others...))
}

func firstRaw(obj map[string]json.RawMessage, keys ...string) json.RawMessage {
	for _, k := range keys {
		if v, ok := obj[k]; ok && len(v) > 0 && string(v) != "null" {
			return v
		}
	}
	return nil
}

func firstNonEmpty(raws ...json.RawMessage) json.RawMessage {
	for _, r := range raws {
		if len(r) > 0 && string(r) != "null" {
			return r
		}
	}
	return nil
}

func isArray(b []byte) bool  { b = bytes.TrimSpace(b); return len(b) > 0 && b[0] == '[' }
func isObject(b []byte) bool { b = bytes.TrimSpace(b); return len(b) > 0 && b[0] == '{' }
func isString(b []byte) bool { b = bytes.TrimSpace(b); return len(b) > 0 && b[0] == '"' }

func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "string"
	case b[0] == 't' || b[0] == 'f':
		return "boolean"
	case b[0] == 'n':
		return "null"
	}
	return "number"
}

// textOf renders a JSON value as text: a string's content, anything else as
// compact JSON.
func textOf(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		return unquote(raw)
	}
	var buf bytes.Buffer
	if stdjson.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

// walkDoc reads a JSON document (or several concatenated ones) one span at
// a time, with encoding/json's streaming tokenizer, so that a large
// pretty-printed file is never held whole.
func (s *scanner) walkDoc(ctx context.Context, r io.Reader, fn func(*Span, *spanRef) error) error {
	dec := stdjson.NewDecoder(r)
	w := &docWalker{s: s, dec: dec, ctx: ctx, fn: fn}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return w.fail(err)
		}
		switch tok {
		case stdjson.Delim('['):
			if err := w.array(1); err != nil {
				return err
			}
		case stdjson.Delim('{'):
			if err := w.object(dec.InputOffset() - 1); err != nil {
				return err
			}
		default:
			return w.fail(fmt.Errorf("a JSON %T at the top level: not spans", tok))
		}
	}
}

type docWalker struct {
	s   *scanner
	dec *stdjson.Decoder
	ctx context.Context
	fn  func(*Span, *spanRef) error
	n   int
}

// fail turns an error at the decoder's position into a file:line error.
func (w *docWalker) fail(err error) error {
	var le *trace.LineError
	if errors.As(err, &le) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	off := w.dec.InputOffset()
	var se *stdjson.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("the file ends inside the JSON value that starts here")
	}
	return &trace.LineError{File: w.s.name, Line: w.s.lines.lineOf(off), Err: trace.BadJSON(err)}
}

func (w *docWalker) delim(want stdjson.Delim) error {
	tok, err := w.dec.Token()
	if err != nil {
		return w.fail(err)
	}
	if tok != want {
		return w.fail(fmt.Errorf("expected %q, found %v", want, tok))
	}
	return nil
}

// element decodes the next value and hands it to scanner.value.
func (w *docWalker) element(depth int, listed bool) error {
	w.n++
	if w.n&255 == 0 {
		if err := w.ctx.Err(); err != nil {
			return err
		}
	}
	var raw stdjson.RawMessage
	if err := w.dec.Decode(&raw); err != nil {
		return w.fail(err)
	}
	start := w.dec.InputOffset() - int64(len(raw))
	ref := &spanRef{line: w.s.lines.lineOf(start), start: start, res: -1, scope: -1, span: listed}
	if err := w.s.value(raw, ref, depth, w.fn); err != nil {
		return w.wrap(err, ref.line)
	}
	return nil
}

func (w *docWalker) wrap(err error, line int) error {
	var le *trace.LineError
	if errors.As(err, &le) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &trace.LineError{File: w.s.name, Line: line, Err: err}
}

func (w *docWalker) array(depth int) error {
	for w.dec.More() {
		if err := w.element(depth, false); err != nil {
			return err
		}
	}
	return w.delim(']')
}

// object walks a top-level object: OTLP TracesData, any-agent's
// {"spans":[…]}, a single span or a bare attribute map.
func (w *docWalker) object(start int64) error {
	others := map[string]json.RawMessage{}
	container := false
	for w.dec.More() {
		kt, err := w.dec.Token()
		if err != nil {
			return w.fail(err)
		}
		key, _ := kt.(string)
		switch key {
		case "resourceSpans", "resource_spans":
			container = true
			if err := w.resourceSpans(); err != nil {
				return err
			}
			continue
		case "spans":
			tok, err := w.dec.Token()
			if err != nil {
				return w.fail(err)
			}
			switch tok {
			case stdjson.Delim('['):
				container = true
				for w.dec.More() {
					if err := w.element(2, true); err != nil {
						return err
					}
				}
				if err := w.delim(']'); err != nil {
					return err
				}
			case stdjson.Delim('{'):
				// An object under "spans": not a list of spans; skip it.
				if err := w.skipRest(); err != nil {
					return err
				}
			default:
				b, _ := stdjson.Marshal(tok)
				others[key] = b
			}
			continue
		}
		var raw stdjson.RawMessage
		if err := w.dec.Decode(&raw); err != nil {
			return w.fail(err)
		}
		others[key] = json.RawMessage(raw)
	}
	if err := w.delim('}'); err != nil {
		return err
	}
	if container {
		if fo := others["final_output"]; len(fo) > 0 {
			w.s.finalOutput = textOf(fo)
		}
		return nil
	}
	end := w.dec.InputOffset()
	line := w.s.lines.lineOf(start)
	ref := &spanRef{line: line, start: start, n: int(end - start), res: -1, scope: -1}
	if err := w.s.object(others, ref, w.fn); err != nil {
		return w.wrap(err, line)
	}
	return nil
}

// skipRest consumes the rest of an object or array whose opening delimiter
// was just read.
func (w *docWalker) skipRest() error {
	depth := 1
	for depth > 0 {
		tok, err := w.dec.Token()
		if err != nil {
			return w.fail(err)
		}
		if d, ok := tok.(stdjson.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

func (w *docWalker) resourceSpans() error {
	if err := w.delim('['); err != nil {
		return err
	}
	for w.dec.More() {
		if err := w.delim('{'); err != nil {
			return err
		}
		// The resource slot is reserved now and filled when its member is
		// read: spans share the map even if "resource" comes after them.
		res := int32(len(w.s.resources))
		w.s.resources = append(w.s.resources, map[string]any{})
		for w.dec.More() {
			kt, err := w.dec.Token()
			if err != nil {
				return w.fail(err)
			}
			switch key, _ := kt.(string); key {
			case "resource":
				var raw stdjson.RawMessage
				if err := w.dec.Decode(&raw); err != nil {
					return w.fail(err)
				}
				var r struct {
					Attributes json.RawMessage `json:"attributes"`
				}
				if json.Unmarshal(raw, &r) == nil {
					if a, err := decodeAttrs(r.Attributes); err == nil {
						for k, v := range a {
							w.s.resources[res][k] = v
						}
					}
				}
			case "scopeSpans", "scope_spans", "instrumentationLibrarySpans", "instrumentation_library_spans":
				if err := w.scopeSpans(res); err != nil {
					return err
				}
			default:
				var skip stdjson.RawMessage
				if err := w.dec.Decode(&skip); err != nil {
					return w.fail(err)
				}
			}
		}
		if err := w.delim('}'); err != nil {
			return err
		}
	}
	return w.delim(']')
}

func (w *docWalker) scopeSpans(res int32) error {
	if err := w.delim('['); err != nil {
		return err
	}
	for w.dec.More() {
		if err := w.delim('{'); err != nil {
			return err
		}
		scope := int32(-1)
		for w.dec.More() {
			kt, err := w.dec.Token()
			if err != nil {
				return w.fail(err)
			}
			switch key, _ := kt.(string); key {
			case "scope", "instrumentationLibrary", "instrumentation_library":
				var raw stdjson.RawMessage
				if err := w.dec.Decode(&raw); err != nil {
					return w.fail(err)
				}
				scope = w.s.internScope(raw)
			case "spans":
				if err := w.delim('['); err != nil {
					return err
				}
				for w.dec.More() {
					if err := w.spanElement(res, scope); err != nil {
						return err
					}
				}
				if err := w.delim(']'); err != nil {
					return err
				}
			default:
				var skip stdjson.RawMessage
				if err := w.dec.Decode(&skip); err != nil {
					return w.fail(err)
				}
			}
		}
		if err := w.delim('}'); err != nil {
			return err
		}
	}
	return w.delim(']')
}

// spanElement reads one span object of an OTLP scopeSpans list.
func (w *docWalker) spanElement(res, scope int32) error {
	w.n++
	if w.n&255 == 0 {
		if err := w.ctx.Err(); err != nil {
			return err
		}
	}
	var raw stdjson.RawMessage
	if err := w.dec.Decode(&raw); err != nil {
		return w.fail(err)
	}
	start := w.dec.InputOffset() - int64(len(raw))
	line := w.s.lines.lineOf(start)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return &trace.LineError{File: w.s.name, Line: line, Err: trace.BadJSON(fmt.Errorf("span: %w", err))}
	}
	ref := &spanRef{line: line, start: start, n: len(raw), res: res, scope: scope, span: true}
	if err := w.s.object(obj, ref, w.fn); err != nil {
		return w.wrap(err, line)
	}
	return nil
}

// lineIndex wraps the input and remembers where its recent newlines are,
// so that offsets can be turned into line numbers (and line numbers into
// offsets) in one streaming pass. Queries must not go backwards: the
// newlines before the last query are forgotten.
type lineIndex struct {
	r       io.Reader
	off     int64   // bytes read so far
	nl      []int64 // offsets of the newlines not yet forgotten
	dropped int     // newlines forgotten
}

func (l *lineIndex) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i, b := 0, p[:n]; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		l.nl = append(l.nl, l.off+int64(i+j))
		i += j + 1
	}
	l.off += int64(n)
	return n, err
}

// lineOf returns the 1-based line of offset off.
func (l *lineIndex) lineOf(off int64) int {
	k := sort.Search(len(l.nl), func(i int) bool { return l.nl[i] >= off })
	line := l.dropped + k + 1
	l.forget(k)
	return line
}

// lineStart returns the offset where 1-based line n starts.
func (l *lineIndex) lineStart(n int) int64 {
	if n <= 1 {
		return 0
	}
	k := n - 2 - l.dropped // index of newline number n-1
	if k < 0 || k >= len(l.nl) {
		return -1
	}
	start := l.nl[k] + 1
	l.forget(k)
	return start
}

func (l *lineIndex) forget(k int) {
	if k <= 0 {
		return
	}
	l.dropped += k
	l.nl = l.nl[k:]
	if cap(l.nl) > 1024 && len(l.nl) < cap(l.nl)/4 {
		l.nl = append([]int64(nil), l.nl...)
	}
}

// fetcher reads spans again by their refs (the importers' second pass).
type fetcher struct {
	s        *scanner
	r        io.ReaderAt
	buf      []byte
	leadLine int64 // line start whose leading blank count is cached
	lead     int64
}

func (f *fetcher) fetch(ref *spanRef) (*Span, error) {
	if ref.held != nil {
		return ref.held, nil
	}
	if f.r == nil {
		return nil, fmt.Errorf("read span at line %d again: input is not seekable", ref.line)
	}
	off := ref.start
	if ref.jsonl {
		lead, err := f.leadingBlanks(ref.start)
		if err != nil {
			return nil, err
		}
		off += lead + ref.rel
	}
	if cap(f.buf) < ref.n {
		f.buf = make([]byte, ref.n)
	}
	b := f.buf[:ref.n]
	if _, err := f.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && len(b) == ref.n) {
		return nil, fmt.Errorf("read %s again at line %d: %w", f.s.name, ref.line, err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, &trace.LineError{File: f.s.name, Line: ref.line, Err: fmt.Errorf("the file changed while it was read: %w", err)}
	}
	full := *f.s
	full.lite = false
	sp, err := full.spanOf(obj, ref.res, ref.scope, ref.span)
	if err != nil || sp == nil {
		return nil, &trace.LineError{File: f.s.name, Line: ref.line, Err: fmt.Errorf("the file changed while it was read")}
	}
	sp.Line = ref.line
	return sp, nil
}

// leadingBlanks counts the blanks that start the line at off (ScanLines
// hands lines over trimmed).
func (f *fetcher) leadingBlanks(off int64) (int64, error) {
	if off == f.leadLine {
		return f.lead, nil
	}
	var n int64
	win := make([]byte, 4096)
	for {
		k, err := f.r.ReadAt(win, off+n)
		rest := bytes.TrimLeftFunc(win[:k], unicode.IsSpace)
		n += int64(k - len(rest))
		if len(rest) > 0 || k == 0 {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s again: %w", f.s.name, err)
		}
	}
	f.leadLine, f.lead = off, n
	return n, nil
}
