package model

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// The ways an endpoint fails to answer, each against a real HTTP server:
// what the client does is checked by outcome and attempt count, never by
// how long it took (the limits are short so that the tests are quick).

// endpoint is an httptest server running handle for every request, counting
// them.
func endpoint(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) (url string, requests *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", &n
}

func hi() Request {
	return Request{Messages: []trace.Message{userText("hi")}, Params: trace.Params{Model: "gpt-4o-mini"}}
}

// stallClient is a client of url with short silence limits, retry waits
// recorded instead of slept.
func stallClient(t *testing.T, url string, firstByte, idle time.Duration, attempts int) *Client {
	t.Helper()
	c, _ := newTestClient(t, &fakeAPI{}, Config{BaseURL: url, FirstByteTimeout: firstByte, IdleTimeout: idle, Retry: Retry{MaxAttempts: attempts}})
	return c
}

// An endpoint that accepts the request and never answers: each attempt
// ends at the first-byte limit, and the call is retried as configured.
func TestEndpointThatNeverAnswers(t *testing.T) {
	url, n := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // until the client gives up
	})
	c := stallClient(t, url, 200*time.Millisecond, time.Minute, 3)
	_, err := c.Complete(context.Background(), hi())
	if got := n.Load(); got != 3 {
		t.Errorf("the endpoint got %d requests, want 3 (the configured attempts)", got)
	}
	var me *Error
	if !errors.As(err, &me) || !me.Transient || me.Status != 0 || me.Attempts != 3 {
		t.Fatalf("error %v, want a transient *Error after 3 attempts without a status", err)
	}
	for _, s := range []string{"gave up after 3 attempts", "no response within 200ms", "first-byte limit", "--request-timeout", url} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// An endpoint that starts answering, then drips a byte a second, slower
// than the idle limit: the attempt ends on idle.
func TestEndpointThatDrips(t *testing.T) {
	url, n := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for _, b := range []byte(fixture(t, "@text")) {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
			w.Write([]byte{b})
			w.(http.Flusher).Flush()
		}
	})
	c := stallClient(t, url, time.Minute, 300*time.Millisecond, 2)
	_, err := c.Complete(context.Background(), hi())
	if got := n.Load(); got != 2 {
		t.Errorf("the endpoint got %d requests, want 2 (a stall is retried)", got)
	}
	var me *Error
	if !errors.As(err, &me) || !me.Transient || me.Status != http.StatusOK {
		t.Fatalf("error %v, want a transient *Error with the status that came", err)
	}
	for _, s := range []string{"the response stalled", "no byte for 300ms", "idle limit"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// An endpoint that answers slowly but steadily, each pause well within the
// idle limit, for longer in all than either limit: the answer comes whole.
// The limits bound silences, not the call.
func TestSlowSteadyAnswerIsNotCut(t *testing.T) {
	body := fixture(t, "@tool_calls")
	const chunks = 15
	url, n := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		size := len(body)/chunks + 1
		for i := 0; i < len(body); i += size {
			w.Write([]byte(body[i:min(i+size, len(body))]))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	c := stallClient(t, url, 500*time.Millisecond, 500*time.Millisecond, 1)
	start := time.Now()
	got, err := c.Complete(context.Background(), sailingRequest())
	if err != nil {
		t.Fatalf("a steady answer was cut: %v", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("the answer took %s: the test needs it to take longer than the limits", took)
	}
	if n.Load() != 1 || len(got.Output.Parts) != 2 || got.Output.Parts[0].Name != "get_forecast" {
		t.Errorf("%d requests, answer %+v; want one request and the two tool calls", n.Load(), got.Output)
	}
}

// A 200 whose body is not a chat completion is not transient: one attempt,
// and an error that names the endpoint and quotes what came.
func TestGarbage200IsNotRetried(t *testing.T) {
	url, n := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>Welcome to nginx!</body></html>")
	})
	c := stallClient(t, url, time.Minute, time.Minute, 6)
	_, err := c.Complete(context.Background(), hi())
	if got := n.Load(); got != 1 {
		t.Errorf("the endpoint got %d requests, want 1", got)
	}
	var me *Error
	if !errors.As(err, &me) || me.Transient || me.Status != http.StatusOK || me.Attempts != 1 {
		t.Fatalf("error %v, want a permanent *Error with status 200 after 1 attempt", err)
	}
	for _, s := range []string{url + "/chat/completions", "not a chat completion", "Welcome to nginx", "base URL", "not retried"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "gave up") {
		t.Errorf("error %q speaks of retries", err)
	}
}

// 429 with Retry-After, then an answer: retried after the wait asked for.
func TestRateLimitThenAnswer(t *testing.T) {
	var seen atomic.Int32
	url, n := endpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if seen.Add(1) == 1 {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, fixture(t, "@error_429"))
			return
		}
		io.WriteString(w, fixture(t, "@text"))
	})
	c, waits := newTestClient(t, &fakeAPI{}, Config{BaseURL: url})
	got, err := c.Complete(context.Background(), hi())
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || len(*waits) != 1 || (*waits)[0] != 3*time.Second || got.Produced != ProducedModel {
		t.Errorf("%d requests, waits %v, produced %q; want 2 requests after one wait of 3s, answered by the model", n.Load(), *waits, got.Produced)
	}
}
