package langfuse

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/replay/trace"
)

const (
	testTrace = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	testPK    = "pk-lf-1234"
	testSK    = "sk-lf-5678"
)

// fakeLangfuse speaks the Langfuse public API's wire format from the
// payloads in testdata/api.
type fakeLangfuse struct {
	t        *testing.T
	mu       sync.Mutex
	requests []string // method path?query, in order
	v2       func(w http.ResponseWriter, r *http.Request, n int) bool
	legacy   func(w http.ResponseWriter, r *http.Request) bool
	v2Calls  int
}

func (f *fakeLangfuse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	f.mu.Unlock()
	user, pass, ok := r.BasicAuth()
	if !ok || user != testPK || pass != testSK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"message":"Invalid credentials. Confirm that you've configured the correct host."}`)
		return
	}
	switch {
	case r.URL.Path == "/api/public/v2/observations" && f.v2 != nil:
		f.mu.Lock()
		f.v2Calls++
		n := f.v2Calls
		f.mu.Unlock()
		if f.v2(w, r, n) {
			return
		}
	case strings.HasPrefix(r.URL.Path, "/api/public/traces/") && f.legacy != nil:
		if f.legacy(w, r) {
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, `{"message":"Not found"}`)
}

func serveFile(t *testing.T, w http.ResponseWriter, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// v2Pages serves the three pages by cursor, answering the first request for
// page 2 with 429 and Retry-After.
func v2Pages(t *testing.T) func(w http.ResponseWriter, r *http.Request, n int) bool {
	return func(w http.ResponseWriter, r *http.Request, n int) bool {
		q := r.URL.Query()
		if q.Get("traceId") != testTrace {
			serveEmpty(w)
			return true
		}
		if q.Get("fields") != v2Fields || q.Get("parseIoAsJson") != "true" || q.Get("traceId") != testTrace {
			t.Errorf("v2 request without all field groups: %s", r.URL.RawQuery)
		}
		switch q.Get("cursor") {
		case "":
			serveFile(t, w, "testdata/api/v2-page1.json")
		case "eyJsYXN0U3RhcnRUaW1lIjoiMjAyNi0wMy0wNFQwODowMDowMC4xMDBaIiwibGFzdElkIjoiZ2VuLTEifQ==":
			if n == 2 {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprint(w, `{"message":"Rate limit exceeded"}`)
				return true
			}
			serveFile(t, w, "testdata/api/v2-page2.json")
		case "eyJsYXN0U3RhcnRUaW1lIjoiMjAyNi0wMy0wNFQwODowMDowMi4wMDBaIiwibGFzdElkIjoiZ2VuLTIifQ==":
			serveFile(t, w, "testdata/api/v2-page3.json")
		default:
			t.Errorf("unknown cursor %q", q.Get("cursor"))
			w.WriteHeader(http.StatusBadRequest)
		}
		return true
	}
}

func serveEmpty(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"data":[],"meta":{}}`)
}

func legacyTrace(t *testing.T) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/public/traces/"+testTrace {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"message":"Trace %s not found within authorized project"}`, strings.TrimPrefix(r.URL.Path, "/api/public/traces/"))
			return true
		}
		serveFile(t, w, "testdata/api/legacy-trace.json")
		return true
	}
}

// newClient returns a client of srv whose sleeps are recorded, not slept.
func newClient(srv *httptest.Server, slept *[]time.Duration) *Client {
	return &Client{
		Host: srv.URL, PublicKey: testPK, SecretKey: testSK, HTTP: srv.Client(), PageSize: 2,
		sleep: func(ctx context.Context, d time.Duration) error {
			*slept = append(*slept, d)
			return ctx.Err()
		},
	}
}

// fetchAndImport fetches the test trace and imports what Fetch wrote.
func fetchAndImport(t *testing.T, c *Client) (*trace.Run, trace.Summary) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Fetch(context.Background(), testTrace, &buf); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	src := &trace.Source{Path: "fetched.json", Head: buf.Bytes()[:min(buf.Len(), trace.HeadSize)]}
	if !(Format{}).Detect(src) {
		t.Errorf("what Fetch wrote is not detected as a Langfuse trace: %.200s", buf.String())
	}
	run, sum, err := importBytes(t, "fetched.json", buf.Bytes(), trace.Options{})
	if err != nil {
		t.Fatalf("import what Fetch wrote: %v\n%.500s", err, buf.String())
	}
	return run, sum
}

func TestFetchV2Pages(t *testing.T) {
	fake := &fakeLangfuse{t: t, v2: v2Pages(t)}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var slept []time.Duration
	run, sum := fetchAndImport(t, newClient(srv, &slept))

	wantReq := []string{
		"GET /api/public/v2/observations?cursor=",
		"GET /api/public/v2/observations?cursor=eyJsYXN0U3RhcnRUaW1lIjoiMjAyNi0wMy0wNFQwODowMDowMC4xMDBaIiwibGFzdElkIjoiZ2VuLTEifQ%3D%3D",
		"GET /api/public/v2/observations?cursor=eyJsYXN0U3RhcnRUaW1lIjoiMjAyNi0wMy0wNFQwODowMDowMC4xMDBaIiwibGFzdElkIjoiZ2VuLTEifQ%3D%3D",
		"GET /api/public/v2/observations?cursor=eyJsYXN0U3RhcnRUaW1lIjoiMjAyNi0wMy0wNFQwODowMDowMi4wMDBaIiwibGFzdElkIjoiZ2VuLTIifQ%3D%3D",
	}
	var got []string
	for _, r := range fake.requests {
		// Keep the path and the cursor: the rest of the query is checked by the handler.
		path, q, _ := strings.Cut(r, "?")
		cursor := ""
		for _, kv := range strings.Split(q, "&") {
			if strings.HasPrefix(kv, "cursor=") {
				cursor = strings.TrimPrefix(kv, "cursor=")
			}
		}
		got = append(got, path+"?cursor="+cursor)
	}
	if !cmp.Equal(got, wantReq) {
		t.Errorf("requests (page 2 is answered 429 once, then retried):\n%s", cmp.Diff(wantReq, got))
	}
	if want := []time.Duration{3 * time.Second}; !cmp.Equal(slept, want) {
		t.Errorf("waits = %v, want %v (Retry-After honoured)", slept, want)
	}

	if sum.LLMCalls != 2 || sum.ToolCalls != 1 || sum.Tools["lookup_order"] != 1 {
		t.Errorf("summary: %d llm, %d tool calls %v; want 2 llm, 1 lookup_order", sum.LLMCalls, sum.ToolCalls, sum.Tools)
	}
	if want := (trace.Usage{Input: 460, Output: 29, CacheRead: 128}); sum.Tokens != want {
		t.Errorf("tokens = %+v, want %+v", sum.Tokens, want)
	}
	// The trace object is rebuilt from the observations.
	m := run.Meta
	if m.Agent != "support-bot" || m.Session != "s-9" || m.Attributes["langfuse.tags"] != "prod" ||
		m.Attributes["langfuse.release"] != "2026.03.1" || m.Attributes["langfuse.user_id"] != "u-1" ||
		!m.StartedAt.Equal(at("2026-03-04T08:00:00Z")) {
		t.Errorf("run meta from v2 observations: %+v", m)
	}
	if run.Outcome.Final != "Your order ships tomorrow." {
		t.Errorf("final = %q, want the root observation's output", run.Outcome.Final)
	}
	if len(run.Steps) == 0 || run.Steps[0].Kind != trace.KindMessage {
		t.Errorf("the root observation's input is not the first step: %+v", run.Steps)
	}
}

// TestFetchOlderV2: a server that does not know the trace_context field
// group answers 400; the client asks again without it.
func TestFetchOlderV2(t *testing.T) {
	fake := &fakeLangfuse{t: t, v2: func(w http.ResponseWriter, r *http.Request, n int) bool {
		if strings.Contains(r.URL.Query().Get("fields"), "trace_context") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"message":"Invalid request data","error":[{"code":"invalid_enum_value","path":["fields"]}]}`)
			return true
		}
		if r.URL.Query().Get("cursor") == "" {
			serveFile(t, w, "testdata/api/v2-page3.json")
			return true
		}
		return false
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var slept []time.Duration
	_, sum := fetchAndImport(t, newClient(srv, &slept))
	if len(fake.requests) != 2 || len(slept) != 0 {
		t.Errorf("requests %q, waits %v: want one 400 then one page, no wait", fake.requests, slept)
	}
	if sum.Format != Name {
		t.Errorf("format %q", sum.Format)
	}
}

// TestFetchLegacyFallback: a self-hosted Langfuse before v4 has no v2
// endpoint (404); the deprecated single-trace endpoint answers.
func TestFetchLegacyFallback(t *testing.T) {
	fake := &fakeLangfuse{t: t, legacy: legacyTrace(t)}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var slept []time.Duration
	run, sum := fetchAndImport(t, newClient(srv, &slept))
	if sum.LLMCalls != 2 || sum.ToolCalls != 1 {
		t.Errorf("summary: %d llm, %d tool calls; want 2, 1", sum.LLMCalls, sum.ToolCalls)
	}
	if sum.Cost.Recorded == nil || *sum.Cost.Recorded != 8.1e-05 {
		t.Errorf("recorded cost = %v, want the legacy trace's totalCost 8.1e-05", sum.Cost.Recorded)
	}
	if run.Meta.Agent != "support-bot" || run.Meta.Attributes["langfuse.trace_id"] != testTrace {
		t.Errorf("meta = %+v", run.Meta)
	}
	if len(fake.requests) != 2 || !strings.HasPrefix(fake.requests[1], "GET /api/public/traces/"+testTrace) {
		t.Errorf("requests = %q, want v2 then the legacy endpoint", fake.requests)
	}
}

func TestFetchErrors(t *testing.T) {
	tests := []struct {
		name   string
		fake   *fakeLangfuse
		id     string
		pk     string
		errHas []string
		waits  int
	}{
		{
			name:   "bad keys",
			fake:   &fakeLangfuse{},
			id:     testTrace,
			pk:     "pk-wrong",
			errHas: []string{"401 Unauthorized", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "127.0.0.1"},
		},
		{
			// v2 knows nothing of the id; the legacy endpoint says 404.
			name:   "unknown trace",
			fake:   &fakeLangfuse{v2: func(w http.ResponseWriter, _ *http.Request, _ int) bool { serveEmpty(w); return true }},
			id:     "0000",
			errHas: []string{`"0000"`, "404 Not Found", "no such trace"},
		},
		{
			name: "legacy endpoint removed",
			fake: &fakeLangfuse{
				v2: func(w http.ResponseWriter, _ *http.Request, _ int) bool { serveEmpty(w); return true },
				legacy: func(w http.ResponseWriter, _ *http.Request) bool {
					w.WriteHeader(http.StatusGone)
					return true
				},
			},
			id:     testTrace,
			errHas: []string{"410 Gone"},
		},
		{
			name: "server keeps failing",
			fake: &fakeLangfuse{v2: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, "upstream overloaded")
				return true
			}},
			id:     testTrace,
			errHas: []string{"503 Service Unavailable", "upstream overloaded"},
			waits:  4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fake.t = t
			srv := httptest.NewServer(tt.fake)
			defer srv.Close()
			var slept []time.Duration
			c := newClient(srv, &slept)
			if tt.pk != "" {
				c.PublicKey = tt.pk
			}
			var buf bytes.Buffer
			err := c.Fetch(context.Background(), tt.id, &buf)
			if err == nil {
				t.Fatalf("no error; wrote %.200s", buf.String())
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if len(slept) != tt.waits {
				t.Errorf("%d waits (%v), want %d", len(slept), slept, tt.waits)
			}
			if tt.waits > 1 && !(slept[0] < slept[1]) {
				t.Errorf("backoff does not grow: %v", slept)
			}
		})
	}
}

func TestFetchConfigErrors(t *testing.T) {
	tests := []struct {
		c      Client
		errHas string
	}{
		{Client{PublicKey: "pk", SecretKey: "sk"}, "LANGFUSE_HOST"},
		{Client{Host: "cloud.langfuse.com"}, "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"},
		{Client{Host: "https://[::1", PublicKey: "pk", SecretKey: "sk"}, "invalid host"},
	}
	for _, tt := range tests {
		err := tt.c.Fetch(context.Background(), "t", &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("Fetch with %+v: error %v, want one containing %q", tt.c, err, tt.errHas)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"5", 5 * time.Second, true},
		{"-1", 0, true},
		{"Wed, 04 Mar 2026 08:00:30 GMT", 30 * time.Second, true},
		{"3600", 2 * time.Minute, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.h, got, ok, tt.want, tt.ok)
		}
	}
}

// TestFetchCancelled: a cancelled context stops the retries.
func TestFetchCancelled(t *testing.T) {
	srv := httptest.NewServer(&fakeLangfuse{t: t, v2: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}})
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{Host: srv.URL, PublicKey: testPK, SecretKey: testSK, HTTP: srv.Client(), MaxRetries: 10,
		sleep: func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }}
	err := c.Fetch(ctx, testTrace, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("error = %v, want context canceled", err)
	}
}
