package model

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// reply is one scripted answer of the fake OpenAI server.
type reply struct {
	status int               // 0 is 200
	header map[string]string // extra response headers
	body   string            // the body; "@name" reads testdata/responses/name.json
	delay  time.Duration     // wait before answering (ends early when the client gives up)
}

// gotRequest is a request the fake server received.
type gotRequest struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// fakeAPI is an httptest server that speaks /v1/chat/completions as OpenAI
// does: JSON bodies, OpenAI's error envelope, Retry-After on 429. It answers
// requests with the replies of its script in order, repeating the last one.
type fakeAPI struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	script []reply
	got    []gotRequest
}

func newFakeAPI(t *testing.T, script ...reply) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the base URL a client is given (…/v1).
func (f *fakeAPI) URL() string { return f.srv.URL + "/v1" }

func (f *fakeAPI) requests() []gotRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]gotRequest(nil), f.got...)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.got)
	f.got = append(f.got, gotRequest{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	var rp reply
	if len(f.script) > 0 {
		rp = f.script[min(n, len(f.script)-1)]
	}
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"Invalid URL (`+r.Method+` `+r.URL.Path+`)","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" || !json.Valid(body) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"We could not parse the JSON body of your request.","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	if rp.delay > 0 {
		select {
		case <-time.After(rp.delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("X-Request-Id", "req_fake")
	if rp.status == 0 {
		rp.status = http.StatusOK
	}
	w.WriteHeader(rp.status)
	io.WriteString(w, fixture(f.t, rp.body))
}

// fixture returns s, or the file testdata/responses/<name>.json for
// s = "@name".
func fixture(t *testing.T, s string) string {
	if len(s) == 0 || s[0] != '@' {
		return s
	}
	b, err := os.ReadFile(filepath.Join("testdata", "responses", s[1:]+".json"))
	if err != nil {
		t.Error(err)
	}
	return string(b)
}

// newTestClient returns a client of f whose retry waits are recorded
// instead of slept, without jitter.
func newTestClient(t *testing.T, f *fakeAPI, cfg Config) (*Client, *[]time.Duration) {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = f.URL()
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return ctx.Err()
	}
	c.jitter = func(d time.Duration) time.Duration { return d }
	return c, &waits
}

// decode returns the JSON b decoded into generic values.
func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}
