package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Error is a model call that failed, after retries where the failure was
// transient. Its message names the endpoint, the model, the last status and
// what to do.
type Error struct {
	Endpoint string // the URL called
	Model    string // the model asked for
	Attempts int    // attempts made (0: the request could not be built)
	// Status is the last HTTP status; 0 when no response came (connection
	// error, timeout, interruption).
	Status int
	// Message says what went wrong: the endpoint's own error message where
	// it gave one.
	Message string
	// Hint says what to do.
	Hint string
	// Transient is true when the failure was of a kind that was retried
	// (rate limit, server error, timeout): running again later may work.
	Transient bool
	Err       error // the underlying error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "call model %q at %q: ", e.Model, e.Endpoint)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "gave up after %d attempts, the last: ", e.Attempts)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, "status %d", e.Status)
		if t := http.StatusText(e.Status); t != "" {
			b.WriteString(" " + t)
		}
		b.WriteString(": ")
	}
	if e.Hint == "" {
		b.WriteString(e.Message)
	} else {
		b.WriteString(strings.TrimRight(e.Message, ". ") + "; " + e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// failure is one failed attempt, classified.
type failure struct {
	status  int
	message string
	hint    string
	retry   bool
	err     error
}

func (f failure) toError(c *Client, model string, attempts int) *Error {
	return &Error{Endpoint: c.endpoint, Model: model, Attempts: attempts, Status: f.status,
		Message: f.message, Hint: f.hint, Transient: f.retry, Err: f.err}
}

// classify says what a failed attempt was and whether to retry it.
func classify(err error, a *attempt) failure {
	f := failure{status: a.status, err: err}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var tErr *transportError
	var stall *stallError
	switch {
	case errors.As(err, &stall):
		if !stall.started {
			f.status = 0
		}
		f.message = stall.Error()
		f.hint = "the endpoint hangs or the model needs longer: try again later, or allow more with --request-timeout (REPLAY_REQUEST_TIMEOUT)"
		f.retry = true
		return f
	case errors.As(err, &apiErr):
		f.status = apiErr.HTTPStatusCode
		f.message = clip(apiErr.Message, 500)
		if f.message == "" {
			f.message = "the endpoint gave no message"
		}
		return byStatus(f, errorCode(apiErr))
	case errors.As(err, &reqErr):
		f.status = reqErr.HTTPStatusCode
		f.message = "body: " + snippet(reqErr.Body)
		return byStatus(f, "")
	case errors.Is(err, errNoChoices):
		f.message = noChoices(a.body)
		f.hint = "the endpoint answered without a completion (a content filter or a proxy error?); the call was not retried"
		return f
	case errors.As(err, &tErr):
		f.status = 0
		f.message = tErr.Error()
		f.hint = "could not reach the endpoint: check the base URL and that the server is running"
		f.retry = true
		return f
	case a.status >= 200 && a.status < 300:
		// The body came whole (one cut short is a transport error) and
		// did not decode as a chat completion: asking again gets the same.
		f.message = fmt.Sprintf("the response is not a chat completion (%v); the body starts %s", err, snippet(a.body))
		f.hint = "check that the base URL points to an OpenAI-compatible API (it usually ends in /v1); not retried"
		return f
	}
	f.message = err.Error()
	return f
}

// byStatus fills in the hint and the retry decision from an HTTP status.
func byStatus(f failure, code string) failure {
	s := f.status
	switch {
	case s == http.StatusUnauthorized:
		f.hint = "the endpoint refused the API key: set OPENAI_API_KEY to a key it accepts"
	case s == http.StatusForbidden:
		f.hint = "the API key may not use this model or endpoint: check the key's permissions and the model name"
	case s == http.StatusNotFound:
		f.hint = "check the base URL (OpenAI-compatible APIs usually end in /v1) and the model name"
	case s == http.StatusTooManyRequests && code == "insufficient_quota":
		f.hint = "the account has no quota left: check its plan and billing; not retried"
	case s == http.StatusTooManyRequests:
		f.hint = "the endpoint keeps rate-limiting: wait and run again, or run fewer replays at once"
		f.retry = true
	case s == http.StatusRequestTimeout || s == http.StatusConflict:
		f.hint = "the endpoint keeps failing: try again later"
		f.retry = true
	case s >= 500:
		f.hint = "the endpoint keeps failing: try again later or use another endpoint"
		f.retry = true
	case s >= 400:
		f.hint = "the endpoint rejected the request; its message says why"
	}
	return f
}

func errorCode(e *openai.APIError) string {
	switch c := e.Code.(type) {
	case string:
		return c
	case nil:
	default:
		return fmt.Sprint(c)
	}
	return e.Type
}

// noChoices describes a response without choices, with the error it
// carries if any (proxies answer 200 with {"error": …}).
func noChoices(body []byte) string {
	msg := "the response has no choices"
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Error) == 0 || string(v.Error) == "null" {
		return msg
	}
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(v.Error, &e) == nil && e.Message != "" {
		return msg + ": the endpoint reported: " + clip(e.Message, 500)
	}
	return msg + ": the endpoint reported: " + snippet(v.Error)
}

// snippet quotes the start of a body for a message.
func snippet(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	return strconv.Quote(clip(string(b), 200))
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// maxRetryAfter bounds what a Retry-After header can ask; the retry budget
// decides whether to wait that long.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads the wait an endpoint asks for: retry-after-ms
// (milliseconds, Azure and OpenAI), else Retry-After in seconds or as an
// HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			if ms >= float64(maxRetryAfter.Milliseconds()) {
				return maxRetryAfter, true
			}
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || math.IsNaN(s) {
			return 0, false
		}
		if s >= maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, maxRetryAfter), true
	}
	return 0, false
}

// equalJitter returns a wait between d/2 and d.
func equalJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
