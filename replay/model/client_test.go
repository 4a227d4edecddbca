package model

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/replay/trace"
)

func userText(s string) trace.Message {
	return trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: s}}}
}

var forecastSchema = json.RawMessage(`{"type":"object","properties":{"harbour":{"type":"string"},"days":{"type":"integer"}},"required":["harbour"]}`)

func sailingRequest() Request {
	return Request{
		System:   "You plan sailing trips.",
		Messages: []trace.Message{userText("Can we sail from Brest tomorrow?")},
		Tools: []trace.ToolDef{
			{Name: "get_forecast", Description: "Weather forecast for a harbour.", Schema: forecastSchema},
			{Name: "get_tide", Description: "Tide table for a harbour."}, // recorded without a schema
		},
		Params: trace.Params{Model: "gpt-4o-mini", Temperature: trace.Float(0), TopP: trace.Float(0.9),
			MaxTokens: trace.Int(256), Seed: trace.Int(7), Stop: []string{"END"}},
	}
}

// TestCompleteToolCalls sends a request with tools and parameters and parses
// an answer with two parallel tool calls and cached prompt tokens: the
// request on the wire and the LLMCall are both checked.
func TestCompleteToolCalls(t *testing.T) {
	api := newFakeAPI(t, reply{body: "@tool_calls"})
	c, _ := newTestClient(t, api, Config{APIKey: "sk-test-key"})
	req := sailingRequest()
	got, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}

	reqs := api.requests()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		t.Errorf("request to %s %s, want POST /v1/chat/completions", r.Method, r.Path)
	}
	if a := r.Header.Get("Authorization"); a != "Bearer sk-test-key" {
		t.Errorf("Authorization = %q, want the bearer key", a)
	}
	wantBody := `{
		"model": "gpt-4o-mini",
		"messages": [
			{"role": "system", "content": "You plan sailing trips."},
			{"role": "user", "content": "Can we sail from Brest tomorrow?"}
		],
		"max_tokens": 256,
		"temperature": 1e-45,
		"top_p": 0.9,
		"stream": false,
		"stop": ["END"],
		"seed": 7,
		"tools": [
			{"type": "function", "function": {"name": "get_forecast", "description": "Weather forecast for a harbour.",
				"parameters": {"type":"object","properties":{"harbour":{"type":"string"},"days":{"type":"integer"}},"required":["harbour"]}}},
			{"type": "function", "function": {"name": "get_tide", "description": "Tide table for a harbour.",
				"parameters": {"type": "object", "properties": {}}}}
		]
	}`
	if d := cmp.Diff(decode(t, []byte(wantBody)), decode(t, r.Body)); d != "" {
		t.Errorf("request body (-want +got):\n%s", d)
	}

	usage := trace.Usage{Input: 1312 - 1024, CacheRead: 1024, Output: 58}
	price, ok := DefaultPricing().Price("gpt-4o-mini-2024-07-18", usage)
	if !ok {
		t.Fatal("gpt-4o-mini is not priced")
	}
	want := &trace.LLMCall{
		ID:     "chatcmpl-T3stParallelTools01",
		Params: req.Params,
		Model:  "gpt-4o-mini-2024-07-18",
		Output: trace.Message{Role: "assistant", Parts: []trace.Part{
			{Type: trace.PartToolCall, ID: "call_forecast_a1", Name: "get_forecast", Arguments: json.RawMessage(`{"harbour": "Brest", "days": 2}`)},
			{Type: trace.PartToolCall, ID: "call_tide_b2", Name: "get_tide", Arguments: json.RawMessage(`{"harbour": "Brest"}`)},
		}},
		StopReason: "tool_calls",
		Usage:      &usage,
		Cost:       trace.Cost{Priced: &price},
		Produced:   ProducedModel,
	}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(trace.LLMCall{}, "LatencyMS")); d != "" {
		t.Errorf("LLMCall (-want +got):\n%s", d)
	}
}

// TestCompleteReasoningModel: a reasoning model gets max_completion_tokens
// (it refuses max_tokens), and its reasoning tokens are reported apart,
// inside output.
func TestCompleteReasoningModel(t *testing.T) {
	api := newFakeAPI(t, reply{body: "@text"})
	c, _ := newTestClient(t, api, Config{})
	req := Request{Messages: []trace.Message{userText("When is high tide?")}, Params: trace.Params{Model: "o4-mini", MaxTokens: trace.Int(1000)}}
	got, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	body := decode(t, api.requests()[0].Body).(map[string]any)
	if body["max_completion_tokens"] != 1000.0 || body["max_tokens"] != nil {
		t.Errorf("max tokens sent as max_tokens=%v max_completion_tokens=%v, want max_completion_tokens=1000 only", body["max_tokens"], body["max_completion_tokens"])
	}
	if h := api.requests()[0].Header.Get("Authorization"); h != "" {
		t.Errorf("Authorization = %q with no key configured, want none", h)
	}
	wantUsage := &trace.Usage{Input: 1450, Output: 210, Reasoning: 192}
	if d := cmp.Diff(wantUsage, got.Usage); d != "" {
		t.Errorf("usage (-want +got):\n%s", d)
	}
	wantOut := trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartText, Text: "Sail tomorrow morning: light wind, high tide at 09:40."}}}
	if d := cmp.Diff(wantOut, got.Output); d != "" {
		t.Errorf("output (-want +got):\n%s", d)
	}
	if got.StopReason != "stop" || got.Model != "o4-mini-2025-04-16" || got.Cost.Priced == nil {
		t.Errorf("stop %q, model %q, priced %v; want stop, o4-mini-2025-04-16, a price", got.StopReason, got.Model, got.Cost.Priced)
	}
}

// TestCompleteHeaders: configured headers are sent (Azure's api-key, an
// OpenRouter referer).
func TestCompleteHeaders(t *testing.T) {
	api := newFakeAPI(t, reply{body: "@text"})
	c, _ := newTestClient(t, api, Config{Header: http.Header{"api-key": {"azure-key"}, "HTTP-Referer": {"https://example.org"}}})
	if _, err := c.Complete(context.Background(), Request{Messages: []trace.Message{userText("hi")}, Params: trace.Params{Model: "gpt-4o"}}); err != nil {
		t.Fatal(err)
	}
	h := api.requests()[0].Header
	if h.Get("Api-Key") != "azure-key" || h.Get("Http-Referer") != "https://example.org" {
		t.Errorf("headers sent: %v", h)
	}
}

func TestNewBadBaseURL(t *testing.T) {
	for _, u := range []string{"localhost:8000/v1", "ftp://host/v1", "http://", "::bad"} {
		if _, err := New(Config{BaseURL: u}); err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("New(%q) error = %v, want one about the base URL", u, err)
		}
	}
	// OpenAI's API refuses every request without a key: no client for it,
	// rather than retries that cannot succeed. A local server needs none.
	if _, err := New(Config{}); !errors.Is(err, ErrNoAPIKey) || !strings.Contains(err.Error(), "https://api.openai.com/v1") {
		t.Errorf("New with the default endpoint and no key: %v, want ErrNoAPIKey naming the endpoint", err)
	}
	if _, err := New(Config{BaseURL: "https://API.openai.com/v1/", APIKey: " "}); !errors.Is(err, ErrNoAPIKey) {
		t.Errorf("New with OpenAI's endpoint and a blank key: %v, want ErrNoAPIKey", err)
	}
	if _, err := New(Config{BaseURL: "http://localhost:11434/v1"}); err != nil {
		t.Errorf("New with a local endpoint and no key: %v", err)
	}
	c, err := New(Config{APIKey: "sk-test"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint() != "https://api.openai.com/v1/chat/completions" {
		t.Errorf("default endpoint %q", c.Endpoint())
	}
	c, err = New(Config{BaseURL: "https://user:secret@proxy.example/v1/"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.Endpoint(), "secret") {
		t.Errorf("endpoint %q shows the password", c.Endpoint())
	}
}

// TestRetries scripts the failures an endpoint produces and checks what is
// retried, how long the client waits, and what the final error says.
func TestRetries(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name     string
		script   []reply
		retry    Retry
		wait     time.Duration   // the first-byte limit
		attempts int             // requests the server must get
		waits    []time.Duration // waits between attempts; nil: not checked
		waitNear time.Duration   // check waits[0] within 2s of this instead
		wantErr  []string        // substrings of the error; nil: success
		status   int             // Error.Status
	}{
		{
			name:     "429 with Retry-After seconds, then success",
			script:   []reply{{status: 429, header: map[string]string{"Retry-After": "7"}, body: "@error_429"}, {body: "@text"}},
			attempts: 2, waits: []time.Duration{7 * time.Second},
		},
		{
			name:     "429 with retry-after-ms",
			script:   []reply{{status: 429, header: map[string]string{"Retry-After-Ms": "1500", "Retry-After": "2"}, body: "@error_429"}, {body: "@text"}},
			attempts: 2, waits: []time.Duration{1500 * time.Millisecond},
		},
		{
			name:     "429 with Retry-After as an HTTP date",
			script:   []reply{{status: 429, header: map[string]string{"Retry-After": httpDate}, body: "@error_429"}, {body: "@text"}},
			attempts: 2, waitNear: 90 * time.Second,
		},
		{
			name:     "500 then success: exponential backoff",
			script:   []reply{{status: 500, body: "@error_500"}, {status: 502, body: "<html>502 Bad Gateway</html>"}, {body: "@text"}},
			retry:    Retry{BaseDelay: time.Second},
			attempts: 3, waits: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:     "503 until attempts run out",
			script:   []reply{{status: 503, body: `{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":null}}`}},
			retry:    Retry{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 3 * time.Second},
			attempts: 4, waits: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second},
			wantErr: []string{`call model "gpt-4o-mini" at "http://`, "/v1/chat/completions", "gave up after 4 attempts", "status 503 Service Unavailable", "overloaded", "try again later"},
			status:  503,
		},
		{
			name:     "401 is not retried and names OPENAI_API_KEY",
			script:   []reply{{status: 401, body: "@error_401"}},
			attempts: 1,
			wantErr:  []string{"status 401 Unauthorized", "Incorrect API key", "OPENAI_API_KEY"},
			status:   401,
		},
		{
			name:     "429 insufficient_quota is not retried",
			script:   []reply{{status: 429, body: "@error_quota"}},
			attempts: 1,
			wantErr:  []string{"status 429", "exceeded your current quota", "billing"},
			status:   429,
		},
		{
			name:     "404 model not found",
			script:   []reply{{status: 404, body: `{"error":{"message":"The model 'gpt-9' does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`}},
			attempts: 1,
			wantErr:  []string{"status 404", "does not exist", "base URL", "model name"},
			status:   404,
		},
		{
			name:     "400 is not retried",
			script:   []reply{{status: 400, body: `{"error":{"message":"Invalid 'messages[1].tool_call_id'.","type":"invalid_request_error","param":"messages[1]","code":null}}`}},
			attempts: 1,
			wantErr:  []string{"status 400", "tool_call_id"},
			status:   400,
		},
		{
			// The whole body came (its length was sent): asking again
			// gets the same.
			name:     "malformed body: not retried",
			script:   []reply{{body: `{"id": "chatcmpl-x", "choices": [{"index": 0, "message": {"role": "assis`}},
			retry:    Retry{MaxAttempts: 3},
			attempts: 1,
			wantErr:  []string{"not a chat completion", `{\"id\": \"chatcmpl-x\"`, "/v1", "not retried"},
			status:   200,
		},
		{
			name:     "HTML instead of JSON",
			script:   []reply{{body: "<!doctype html><title>Ollama</title>"}},
			retry:    Retry{MaxAttempts: 1},
			attempts: 1,
			wantErr:  []string{"not a chat completion", "<!doctype html>"},
			status:   200,
		},
		{
			name:     "empty choices: a clear error, not retried",
			script:   []reply{{body: "@no_choices"}},
			attempts: 1,
			wantErr:  []string{"no choices", "not retried"},
			status:   200,
		},
		{
			name:     "200 with an error envelope",
			script:   []reply{{body: `{"error":{"message":"Provider returned error","code":502}}`}},
			attempts: 1,
			wantErr:  []string{"no choices", "Provider returned error"},
			status:   200,
		},
		{
			name:     "slow responses time out and are retried",
			script:   []reply{{body: "@text", delay: 2 * time.Second}, {body: "@text"}},
			wait:     100 * time.Millisecond,
			attempts: 2,
		},
		{
			name:     "always slow",
			script:   []reply{{body: "@text", delay: 2 * time.Second}},
			wait:     50 * time.Millisecond,
			retry:    Retry{MaxAttempts: 2},
			attempts: 2,
			wantErr:  []string{"gave up after 2 attempts", "no response within 50ms", "--request-timeout"},
		},
		{
			name:     "Retry-After beyond the retry budget ends the call",
			script:   []reply{{status: 429, header: map[string]string{"Retry-After": "3600"}, body: "@error_429"}},
			attempts: 1,
			wantErr:  []string{"status 429", "asked to wait 1h0m0s", "retry budget"},
			status:   429,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.script...)
			c, waits := newTestClient(t, api, Config{Retry: tt.retry, FirstByteTimeout: tt.wait})
			got, err := c.Complete(context.Background(), Request{Messages: []trace.Message{userText("hi")}, Params: trace.Params{Model: "gpt-4o-mini"}})
			if n := len(api.requests()); n != tt.attempts {
				t.Errorf("server got %d requests, want %d", n, tt.attempts)
			}
			if tt.waits != nil {
				if d := cmp.Diff(tt.waits, *waits); d != "" {
					t.Errorf("waits (-want +got):\n%s", d)
				}
			}
			if tt.waitNear != 0 {
				if len(*waits) != 1 || (*waits)[0] < tt.waitNear-2*time.Second || (*waits)[0] > tt.waitNear+time.Second {
					t.Errorf("waits %v, want one near %s", *waits, tt.waitNear)
				}
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if got.Produced != ProducedModel || len(got.Output.Parts) == 0 {
					t.Errorf("answer %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.wantErr)
			}
			t.Logf("error: %v", err)
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not a *model.Error", err)
			}
			if me.Status != tt.status || me.Model != "gpt-4o-mini" || me.Endpoint != api.URL()+"/chat/completions" || me.Attempts != tt.attempts {
				t.Errorf("Error{Status %d, Model %q, Endpoint %q, Attempts %d}, want status %d, attempts %d", me.Status, me.Model, me.Endpoint, me.Attempts, tt.status, tt.attempts)
			}
			if strings.Contains(err.Error(), "sk-") && !strings.Contains(err.Error(), "sk-test****") {
				t.Errorf("error shows a key: %v", err)
			}
		})
	}
}

// TestRetryConnectionRefused: nothing listens at the base URL.
func TestRetryConnectionRefused(t *testing.T) {
	api := newFakeAPI(t)
	url := api.URL()
	api.srv.Close()
	c, waits := newTestClient(t, api, Config{BaseURL: url, Retry: Retry{MaxAttempts: 3}})
	_, err := c.Complete(context.Background(), Request{Messages: []trace.Message{userText("hi")}, Params: trace.Params{Model: "llama3"}})
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "could not reach the endpoint") {
		t.Errorf("error = %v, want one saying the endpoint could not be reached after 3 attempts", err)
	}
	if len(*waits) != 2 {
		t.Errorf("waited %d times, want 2", len(*waits))
	}
	var me *Error
	if !errors.As(err, &me) || !me.Transient || me.Status != 0 {
		t.Errorf("error %#v, want a transient *Error without status", err)
	}
}

// TestCancelDuringBackoff: a cancelled context ends the wait at once.
func TestCancelDuringBackoff(t *testing.T) {
	api := newFakeAPI(t, reply{status: 503, body: "@error_500"})
	c, err := New(Config{BaseURL: api.URL(), Retry: Retry{BaseDelay: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.Complete(ctx, Request{Messages: []trace.Message{userText("hi")}, Params: trace.Params{Model: "m"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("cancel took %s", time.Since(start))
	}
}

func TestBackoffJitter(t *testing.T) {
	for range 1000 {
		if d := equalJitter(4 * time.Second); d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("equalJitter(4s) = %s, want within [2s, 4s]", d)
		}
	}
	c, err := New(Config{BaseURL: "http://localhost:11434/v1", Retry: Retry{BaseDelay: time.Second, MaxDelay: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	c.jitter = func(d time.Duration) time.Duration { return d }
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		d, _ := c.backoff(n, nil)
		got = append(got, d)
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("backoff (-want +got):\n%s", d)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		h    map[string]string
		want time.Duration
		ok   bool
	}{
		{map[string]string{"Retry-After": "20"}, 20 * time.Second, true},
		{map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond, true},
		{map[string]string{"Retry-After": "0"}, 0, true},
		{map[string]string{"Retry-After": now.Add(time.Minute).Format(http.TimeFormat)}, time.Minute, true},
		{map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0, true},
		{map[string]string{"Retry-After": "99999999999"}, maxRetryAfter, true},
		{map[string]string{"Retry-After-Ms": "250"}, 250 * time.Millisecond, true},
		{map[string]string{"Retry-After": "-3"}, 0, false},
		{map[string]string{"Retry-After": "soon"}, 0, false},
		{map[string]string{}, 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.h {
			h.Set(k, v)
		}
		got, ok := retryAfter(h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%v) = %s, %v; want %s, %v", tt.h, got, ok, tt.want, tt.ok)
		}
	}
}

// TestConcurrentCalls: sub-agents call one client in parallel.
func TestConcurrentCalls(t *testing.T) {
	api := newFakeAPI(t, reply{status: 500, body: "@error_500"}, reply{body: "@tool_calls"})
	c, _ := newTestClient(t, api, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := sailingRequest()
			req.Messages = []trace.Message{userText(strings.Repeat("x", i+1))}
			if _, err := c.Complete(context.Background(), req); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(api.requests()); n != 9 {
		t.Errorf("server got %d requests, want 9 (one 500 retried)", n)
	}
}
