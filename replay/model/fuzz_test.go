package model

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// roundTripFunc answers requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzResponse feeds arbitrary statuses, bodies and Retry-After values to
// the client: it must never panic, and an answer it accepts must be
// writable as JSON (tool call arguments included).
func FuzzResponse(f *testing.F) {
	for _, name := range []string{"tool_calls", "text", "no_choices", "error_401", "error_429", "error_500"} {
		b, err := os.ReadFile(filepath.Join("testdata", "responses", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(200, "", b)
		f.Add(429, "3", b)
	}
	f.Add(200, "", []byte(`{"choices":[{"message":{"tool_calls":[{"function":{"name":"x","arguments":"{\"a\":"}}]}}]}`))
	f.Add(200, "", []byte(`{"choices":[{"message":{"content":[{"type":"text","text":"hi"}]}}]}`))
	f.Add(200, "", []byte(`{"choices":[{"message":{"function_call":{"name":"f","arguments":"nope"}}}],"usage":{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":9}}}`))
	f.Add(500, "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`{"error":{"message":["a","b"],"code":5}}`))
	f.Add(400, "", []byte(`{"error":null}`))
	f.Add(200, "", []byte(`null`))
	f.Fuzz(func(t *testing.T, status int, retryAfterValue string, body []byte) {
		if status < 100 || status > 999 {
			status = 200
		}
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{"Content-Type": {"application/json"}}
			if retryAfterValue != "" {
				h.Set("Retry-After", retryAfterValue)
			}
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h,
				Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}
		c, err := New(Config{BaseURL: "http://fuzz.invalid/v1", HTTPClient: hc, Retry: Retry{MaxAttempts: 2}})
		if err != nil {
			t.Fatal(err)
		}
		c.sleep = func(context.Context, time.Duration) error { return nil }
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		call, err := c.Complete(ctx, sailingRequest())
		if time.Since(start) > 2*time.Second {
			t.Fatalf("a call took %s", time.Since(start))
		}
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error message")
			}
			return
		}
		if _, err := json.Marshal(call); err != nil {
			t.Errorf("accepted answer is not writable: %v", err)
		}
		if u := call.Usage; u != nil && (u.Input < 0 || u.CacheRead < 0) {
			t.Errorf("negative usage %+v", u)
		}
	})
}

// FuzzRetryAfter: any header value parses to a wait in [0, 24h] or none.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "20", "1.5", "-1", "NaN", "Inf", "1e400", "Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "soon", ""} {
		f.Add(s, "")
		f.Add("", s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v, ms string) {
		h := http.Header{}
		h.Set("Retry-After", v)
		h.Set("Retry-After-Ms", ms)
		d, ok := retryAfter(h, now)
		if d < 0 || d > maxRetryAfter || (!ok && d != 0) {
			t.Errorf("retryAfter(%q, %q) = %s, %v", v, ms, d, ok)
		}
	})
}

// FuzzChatRequest builds conversations from arbitrary text, arguments and
// schemas: the conversion must never panic, and what it accepts must encode
// to a valid body, the same JSON as go-openai's, whose tool call arguments
// are valid JSON.
func FuzzChatRequest(f *testing.F) {
	f.Add("user", "hello", []byte(`{"a":1}`), []byte(`{"type":"object"}`), []byte(`{"type":"base64","media_type":"image/png","data":"x"}`))
	f.Add("assistant", "", []byte(`{"a":`), []byte(``), []byte(`{"image_url":"data:,"}`))
	f.Add("tool", "out", []byte("\xff\xfe"), []byte(`{}`), []byte(`{"source":{"source":{}}}`))
	f.Add("system", "x", []byte(`"str"`), []byte(`{"properties":{}}`), []byte(`[]`))
	f.Add("user", "bad \xff utf-8 <&>", []byte("{\"a\":\"\xff\"}"), []byte(`{"type":"object","description":"\u2028"}`), []byte(``))
	f.Fuzz(func(t *testing.T, role, text string, args, schema, image []byte) {
		req := Request{
			System: text,
			Messages: []trace.Message{
				{Role: role, Name: text, Parts: []trace.Part{
					{Type: trace.PartText, Text: text},
					{Type: trace.PartImage, Raw: image},
					{Type: trace.PartToolCall, ID: text, Name: "t", Arguments: args},
					{Type: trace.PartToolResult, ID: text, Text: text, IsError: len(text)%2 == 0},
				}},
				{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: "c", Name: "t", Arguments: args}}},
			},
			Tools:  []trace.ToolDef{{Name: "t", Schema: schema}},
			Params: trace.Params{Model: "m", Temperature: trace.Float(float64(len(text)) / 10)},
		}
		cr, err := chatRequest(req)
		if err != nil {
			return
		}
		body, err := encodeRequest(&cr)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		theirs, err := json.Marshal(cr)
		if err != nil {
			t.Fatalf("go-openai's encoding: %v", err)
		}
		var a, b any
		if err := json.Unmarshal(theirs, &a); err != nil {
			t.Fatalf("go-openai's body is not valid JSON: %v", err)
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatalf("body is not valid JSON: %v\n%s", err, body)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("body differs from go-openai's:\n%s\n%s", theirs, body)
		}
		var sent struct {
			Messages []struct {
				ToolCalls []struct {
					Function struct {
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatal(err)
		}
		for _, m := range sent.Messages {
			for _, tc := range m.ToolCalls {
				if !json.Valid([]byte(tc.Function.Arguments)) {
					t.Errorf("arguments sent are not valid JSON: %q (from %q)", tc.Function.Arguments, args)
				}
			}
		}
	})
}
