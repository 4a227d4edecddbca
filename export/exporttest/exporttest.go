// Package exporttest has fakes of the backends replay exports to, for
// tests: an OTLP/HTTP collector that decodes what it receives with the
// OpenTelemetry Collector's own decoders, and a Langfuse server that speaks
// the ingestion API (207 multi-status with per-event errors) and serves
// what it took as GET /api/public/traces/{id}. Both listen on loopback.
package exporttest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Received is one request a Collector took.
type Received struct {
	ContentType string
	Header      http.Header
	Body        []byte // as sent (after gzip is undone)
	Traces      ptrace.Traces
}

// Collector is an OTLP/HTTP traces receiver. Its zero fields answer like a
// healthy collector; Respond, Delay and Reject make it misbehave.
type Collector struct {
	*httptest.Server

	// Respond, when set, answers request n (from 0) with status and body
	// instead, unless status is 0.
	Respond func(n int) (status int, body string)
	// Delay holds every answer back this long.
	Delay time.Duration
	// Reject reports that many spans of every request rejected (a partial
	// success).
	Reject int

	mu       sync.Mutex
	n        int
	received []Received
}

// NewCollector starts a collector; Close it when done.
func NewCollector() *Collector {
	c := &Collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	return c
}

// Endpoint is the collector's traces endpoint.
func (c *Collector) Endpoint() string { return c.URL + "/v1/traces" }

// Attempts is the number of requests that reached the collector, answered
// or not.
func (c *Collector) Attempts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Received returns the requests the collector took.
func (c *Collector) Received() []Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.received)
}

// Spans returns the distinct spans received, by "traceid/spanid" (hex): a
// span sent twice is one span, as in a trace store.
func (c *Collector) Spans() map[string]ptrace.Span {
	out := map[string]ptrace.Span{}
	for _, r := range c.Received() {
		rss := r.Traces.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				ss := sss.At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					s := ss.At(k)
					out[s.TraceID().String()+"/"+s.SpanID().String()] = s
				}
			}
		}
	}
	return out
}

// serve answers as the collector's OTLP/HTTP receiver does: POST
// /v1/traces, protobuf or JSON (optionally gzip), 415 for other content
// types, 400 for a body that does not decode, else 200 with an
// ExportTraceServiceResponse in the request's encoding.
func (c *Collector) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	n := c.n
	c.n++
	c.mu.Unlock()
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The body is read: the server notices a client that gives up.
	if !sleep(r, c.Delay) {
		return
	}
	if c.Respond != nil {
		if status, body := c.Respond(n); status != 0 {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(status)
			io.WriteString(w, body)
			return
		}
	}
	if r.URL.Path != "/v1/traces" {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "405 method not allowed, supported: [POST]", http.StatusMethodNotAllowed)
		return
	}
	var body io.Reader = bytes.NewReader(raw)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := ptraceotlp.NewExportRequest()
	ct := r.Header.Get("Content-Type")
	switch ct {
	case "application/x-protobuf":
		err = req.UnmarshalProto(data)
	case "application/json":
		err = req.UnmarshalJSON(data)
	default:
		http.Error(w, "415 unsupported media type, supported: [application/json, application/x-protobuf]", http.StatusUnsupportedMediaType)
		return
	}
	if err != nil {
		http.Error(w, "decode "+ct+": "+err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.received = append(c.received, Received{ContentType: ct, Header: r.Header.Clone(), Body: data, Traces: req.Traces()})
	c.mu.Unlock()
	resp := ptraceotlp.NewExportResponse()
	if c.Reject > 0 {
		resp.PartialSuccess().SetRejectedSpans(int64(c.Reject))
		resp.PartialSuccess().SetErrorMessage("spans dropped: over the span limit")
	}
	var out []byte
	if ct == "application/json" {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// sleep waits d, or until the client gives up (false).
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Event is an ingestion event as Langfuse receives it.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Body      json.RawMessage `json:"body"`
}

// Langfuse is a Langfuse server with the ingestion API and the legacy
// single-trace endpoint (no v2 observations: Client.Fetch falls back to
// it, as with a self-hosted server before v4).
type Langfuse struct {
	*httptest.Server
	PublicKey, SecretKey string

	// Status, when set, answers every ingestion request with it.
	Status int
	// Refuse, when set, refuses the events it returns a message for: a
	// per-event error of status 400 in the 207 answer.
	Refuse func(ev Event) (message string)
	// Delay holds every answer back this long.
	Delay time.Duration

	mu       sync.Mutex
	requests int
	seen     map[string]bool                // event ids
	traces   map[string]map[string]any      // by trace id
	obs      map[string]map[string]any      // by observation id
	obsOrder []string                       // first-seen order
	byTrace  map[string]map[string]struct{} // trace id -> observation ids
	events   []Event                        // events taken, in order, duplicates included
}

// NewLangfuse starts a Langfuse server whose project has these keys; Close
// it when done. Besides ingestion it answers GET /api/public/traces (one
// page listing every trace) and GET /api/public/traces/{id}.
func NewLangfuse(publicKey, secretKey string) *Langfuse {
	l := &Langfuse{PublicKey: publicKey, SecretKey: secretKey, seen: map[string]bool{}, traces: map[string]map[string]any{},
		obs: map[string]map[string]any{}, byTrace: map[string]map[string]struct{}{}}
	l.Server = httptest.NewServer(http.HandlerFunc(l.serve))
	return l
}

// Requests is the number of ingestion requests received.
func (l *Langfuse) Requests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests
}

// Events returns the events taken, duplicates included.
func (l *Langfuse) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// Traces returns the ids of the traces the server holds.
func (l *Langfuse) Traces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id := range l.traces {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Trace returns a trace as stored, and its observations.
func (l *Langfuse) Trace(id string) (map[string]any, []map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.traces[id], l.observationsOf(id)
}

func (l *Langfuse) observationsOf(traceID string) []map[string]any {
	var out []map[string]any
	for _, id := range l.obsOrder {
		if _, ok := l.byTrace[traceID][id]; ok {
			out = append(out, l.obs[id])
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := out[i]["startTime"].(string)
		b, _ := out[j]["startTime"].(string)
		return a < b
	})
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (l *Langfuse) serve(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 5<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	if !sleep(r, l.Delay) {
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != l.PublicKey || p != l.SecretKey {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Invalid credentials. Confirm that you've configured the correct host."})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/public/ingestion":
		l.ingest(w, data)
	case r.Method == http.MethodGet && r.URL.Path == "/api/public/traces":
		l.listTraces(w)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/public/traces/"):
		l.getTrace(w, strings.TrimPrefix(r.URL.Path, "/api/public/traces/"))
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Route not found"})
	}
}

// observationTypes maps the event types that create observations to the
// observation type they make.
var observationTypes = map[string]string{
	"span-create": "SPAN", "span-update": "SPAN", "generation-create": "GENERATION", "generation-update": "GENERATION",
	"event-create": "EVENT", "agent-create": "AGENT", "tool-create": "TOOL", "chain-create": "CHAIN",
	"retriever-create": "RETRIEVER", "embedding-create": "EMBEDDING", "guardrail-create": "GUARDRAIL",
}

type ingestError struct {
	ID      string `json:"id"`
	Status  int    `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

type ingestSuccess struct {
	ID     string `json:"id"`
	Status int    `json:"status"`
}

func (l *Langfuse) ingest(w http.ResponseWriter, data []byte) {
	l.mu.Lock()
	l.requests++
	l.mu.Unlock()
	if l.Status != 0 {
		writeJSON(w, l.Status, map[string]string{"message": http.StatusText(l.Status)})
		return
	}
	if len(data) > 3_500_000 {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"message": "Request body too large"})
		return
	}
	var req struct {
		Batch []json.RawMessage `json:"batch"`
	}
	if err := json.Unmarshal(data, &req); err != nil || req.Batch == nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid request data", "error": fmt.Sprint("batch: Required ", err)})
		return
	}
	resp := struct {
		Successes []ingestSuccess `json:"successes"`
		Errors    []ingestError   `json:"errors"`
	}{Successes: []ingestSuccess{}, Errors: []ingestError{}}
	for _, raw := range req.Batch {
		var ev Event
		if err := json.Unmarshal(raw, &ev); err != nil || ev.ID == "" {
			resp.Errors = append(resp.Errors, ingestError{ID: "unknown", Status: 400, Message: "Invalid request data", Error: "id: Required"})
			continue
		}
		if msg := validate(&ev); msg != "" {
			resp.Errors = append(resp.Errors, ingestError{ID: ev.ID, Status: 400, Message: "Invalid request data", Error: msg})
			continue
		}
		if l.Refuse != nil {
			if msg := l.Refuse(ev); msg != "" {
				resp.Errors = append(resp.Errors, ingestError{ID: ev.ID, Status: 400, Message: msg})
				continue
			}
		}
		l.take(ev)
		resp.Successes = append(resp.Successes, ingestSuccess{ID: ev.ID, Status: 201})
	}
	writeJSON(w, http.StatusMultiStatus, resp)
}

// validate checks an event as Langfuse's schema does, in part: the
// envelope, the body's ids and times, and the usage and cost maps.
func validate(ev *Event) string {
	if _, err := time.Parse(time.RFC3339Nano, ev.Timestamp); err != nil {
		return "timestamp: Invalid datetime"
	}
	var body map[string]any
	if err := json.Unmarshal(ev.Body, &body); err != nil {
		return "body: Expected object"
	}
	isTime := func(k string) bool {
		v, ok := body[k]
		if !ok || v == nil {
			return true
		}
		s, _ := v.(string)
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil
	}
	switch {
	case ev.Type == "trace-create":
		if !isTime("timestamp") {
			return "timestamp: Invalid datetime"
		}
		if t, ok := body["tags"]; ok {
			if _, ok := t.([]any); !ok {
				return "tags: Expected array"
			}
		}
	case observationTypes[ev.Type] != "":
		if _, ok := body["id"].(string); !ok {
			return "id: Expected string"
		}
		if _, ok := body["traceId"].(string); !ok {
			return "traceId: Expected string"
		}
		for _, k := range []string{"startTime", "endTime", "completionStartTime"} {
			if !isTime(k) {
				return k + ": Invalid datetime"
			}
		}
		if u, ok := body["usageDetails"].(map[string]any); ok {
			for k, v := range u {
				if f, ok := v.(float64); !ok || f < 0 || f != float64(int64(f)) {
					return "usageDetails." + k + ": Expected a non-negative integer"
				}
			}
		}
		if c, ok := body["costDetails"].(map[string]any); ok {
			for k, v := range c {
				if f, ok := v.(float64); !ok || f < 0 {
					return "costDetails." + k + ": Expected a non-negative number"
				}
			}
		}
		if lv, ok := body["level"]; ok {
			switch lv {
			case "DEBUG", "DEFAULT", "WARNING", "ERROR":
			default:
				return "level: Invalid enum value"
			}
		}
	default:
		return fmt.Sprintf("type: Invalid discriminator value %q", ev.Type)
	}
	return ""
}

// take stores an event: once per event id; traces and observations are
// upserted by body id.
func (l *Langfuse) take(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	if l.seen[ev.ID] {
		return
	}
	l.seen[ev.ID] = true
	var body map[string]any
	json.Unmarshal(ev.Body, &body)
	if ev.Type == "trace-create" {
		id, _ := body["id"].(string)
		if l.traces[id] == nil {
			l.traces[id] = map[string]any{}
		}
		for k, v := range body {
			l.traces[id][k] = v
		}
		return
	}
	id, _ := body["id"].(string)
	tid, _ := body["traceId"].(string)
	o := l.obs[id]
	if o == nil {
		o = map[string]any{}
		l.obs[id] = o
		l.obsOrder = append(l.obsOrder, id)
	}
	for k, v := range body {
		o[k] = v
	}
	o["type"] = observationTypes[ev.Type]
	if l.byTrace[tid] == nil {
		l.byTrace[tid] = map[string]struct{}{}
	}
	l.byTrace[tid][id] = struct{}{}
	if l.traces[tid] == nil {
		l.traces[tid] = map[string]any{"id": tid}
	}
}

// listTraces answers GET /api/public/traces: one page with every trace.
func (l *Langfuse) listTraces(w http.ResponseWriter) {
	ids := l.Traces()
	l.mu.Lock()
	data := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		data = append(data, l.traces[id])
	}
	out := map[string]any{"data": data, "meta": map[string]int{"page": 1, "limit": 50, "totalItems": len(ids), "totalPages": 1}}
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(out)
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf.Bytes())
}

// getTrace answers GET /api/public/traces/{id}: the trace with its
// observations inside.
func (l *Langfuse) getTrace(w http.ResponseWriter, id string) {
	l.mu.Lock()
	tr := l.traces[id]
	var out map[string]any
	if tr != nil {
		out = map[string]any{}
		for k, v := range tr {
			out[k] = v
		}
		out["observations"] = l.observationsOf(id)
	}
	l.mu.Unlock()
	if out == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Trace " + id + " not found within authorized project"})
		return
	}
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(out)
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf.Bytes())
}
