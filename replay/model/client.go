package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/agentreplay/replay/replay/trace"
)

// DefaultBaseURL is the endpoint used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// DefaultTimeout bounds one attempt of a call when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Minute

// maxBody bounds a response body: a chat completion is a few KB; anything
// near this is not one.
const maxBody = 64 << 20

// Config configures a Client. The CLI fills it from flags and the
// environment (OPENAI_BASE_URL, OPENAI_API_KEY); this package reads neither.
type Config struct {
	// BaseURL is the OpenAI-compatible API base, the part before
	// /chat/completions: "https://api.openai.com/v1" (the default),
	// "http://localhost:11434/v1" (Ollama), "http://localhost:8000/v1"
	// (vLLM), "https://openrouter.ai/api/v1",
	// "https://api.anthropic.com/v1/", an Azure OpenAI resource's
	// ".../openai/v1", a LiteLLM proxy.
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none (local servers).
	APIKey string
	// Header holds extra headers sent with every request (Azure OpenAI's
	// "api-key", OpenRouter's "HTTP-Referer", a proxy's own auth header).
	Header http.Header
	// HTTPClient sends the requests; nil uses a client of this package.
	// Its own Timeout, if any, applies on top of Timeout.
	HTTPClient *http.Client
	// Timeout bounds one attempt (request sent to response read); an
	// attempt that times out is retried. Zero means DefaultTimeout.
	Timeout time.Duration
	// Retry is the retry policy for transient failures.
	Retry Retry
	// Cache, when not nil, answers requests it has seen and stores new
	// answers.
	Cache *Cache
	// NoCache bypasses cache lookups: every call goes to the endpoint. Its
	// answers are still stored, so the cache is refreshed.
	NoCache bool
	// Pricing prices the calls (Cost.Priced); nil uses DefaultPricing.
	Pricing *Pricing
	// Warn, when not nil, is told of problems that do not fail a call: a
	// cache entry that could not be read or written.
	Warn func(error)
}

// Retry is a retry policy: exponential backoff with jitter between
// attempts, or the wait the endpoint asks for in Retry-After (seconds or an
// HTTP date; Azure's retry-after-ms too). Transient failures are retried:
// 408, 409, 429 (except an exhausted quota), 5xx, timeouts, connection
// errors and a 200 whose body is not a chat completion. Zero fields take
// the defaults.
type Retry struct {
	// MaxAttempts is the number of attempts, the first included: 1 means
	// no retry. Default 6.
	MaxAttempts int
	// BaseDelay is the backoff before the second attempt; it doubles for
	// each further one. Default 1s.
	BaseDelay time.Duration
	// MaxDelay caps one backoff (not a wait the endpoint asked for).
	// Default 30s.
	MaxDelay time.Duration
	// MaxWait caps the total time one call spends waiting between
	// attempts, Retry-After waits included: a wait that would pass it ends
	// the call. Default 3m.
	MaxWait time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.MaxAttempts < 1 {
		r.MaxAttempts = 6
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = time.Second
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 30 * time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 3 * time.Minute
	}
	return r
}

// Client is a Model that calls an OpenAI-compatible /chat/completions
// endpoint through go-openai. It is safe for concurrent use.
type Client struct {
	cfg      Config
	retry    Retry
	timeout  time.Duration
	endpoint string // URL of /chat/completions, for keys and messages (credentials redacted)
	oa       *openai.Client
	pricing  *Pricing

	// Hooks for tests; set by New.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration
	now    func() time.Time
}

var _ Model = (*Client)(nil)

// New returns a client for the endpoint cfg describes.
func New(cfg Config) (*Client, error) {
	base := strings.TrimSpace(cfg.BaseURL)
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("new model client: base URL %q: want http(s)://host[/path], e.g. %s", cfg.BaseURL, DefaultBaseURL)
	}
	base = strings.TrimRight(base, "/")
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32 // sub-agents call in parallel
		hc = &http.Client{Transport: tr}
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = base
	oc.HTTPClient = &transport{hc: hc, header: cfg.Header}
	c := &Client{
		cfg:      cfg,
		retry:    cfg.Retry.withDefaults(),
		timeout:  cfg.Timeout,
		endpoint: redact(base + "/chat/completions"),
		oa:       openai.NewClientWithConfig(oc),
		pricing:  cfg.Pricing,
		sleep:    sleepCtx,
		jitter:   equalJitter,
		now:      time.Now,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.pricing == nil {
		c.pricing = DefaultPricing()
	}
	return c, nil
}

// Endpoint returns the URL the client posts to.
func (c *Client) Endpoint() string { return c.endpoint }

// Complete sends req and returns the model's answer. Transient failures are
// retried by the Retry policy; what still fails is an *Error that names the
// endpoint, the model, the last status and what to do. A cancelled ctx ends
// the call at once with an error wrapping ctx.Err().
func (c *Client) Complete(ctx context.Context, req Request) (*trace.LLMCall, error) {
	cr, err := chatRequest(req)
	if err == nil {
		err = validate(&cr)
	}
	var body []byte
	if err == nil {
		body, err = encodeRequest(&cr)
	}
	if err != nil {
		return nil, &Error{Endpoint: c.endpoint, Model: req.Params.Model, Message: "build request: " + err.Error(), Err: err}
	}
	key := ""
	if c.cfg.Cache != nil {
		h := keyHasher(c.endpoint, req.Sample)
		h.Write(body)
		key = keyString(h)
		if !c.cfg.NoCache {
			if call := c.fromCache(key, req.Params); call != nil {
				return call, nil
			}
		}
	}
	// go-openai builds a request of the model alone (cheap); the transport
	// sends body instead (see wire.go).
	lite := openai.ChatCompletionRequest{Model: cr.Model}
	var waited time.Duration
	for n := 1; ; n++ {
		a := &attempt{request: body}
		actx, cancel := context.WithTimeout(context.WithValue(ctx, attemptKey{}, a), c.timeout)
		start := time.Now()
		resp, err := c.oa.CreateChatCompletion(actx, lite)
		latency := time.Since(start)
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if ctx.Err() != nil {
			return nil, &Error{Endpoint: c.endpoint, Model: cr.Model, Attempts: n, Status: a.status, Message: "interrupted: " + ctx.Err().Error(), Err: ctx.Err()}
		}
		var call *trace.LLMCall
		if err == nil {
			call, err = callFromResponse(&resp, req.Params)
		}
		if err == nil {
			c.finish(call, a, key, req.Sample, cr.Model, latency)
			return call, nil
		}
		f := c.classify(err, a, timedOut)
		if !f.retry || n >= c.retry.MaxAttempts {
			return nil, f.toError(c, cr.Model, n)
		}
		wait, asked := c.backoff(n, a.header)
		if waited+wait > c.retry.MaxWait {
			e := f.toError(c, cr.Model, n)
			if asked {
				e.Hint = fmt.Sprintf("the endpoint asked to wait %s before retrying, more than the retry budget allows (%s left): try again later", wait.Round(time.Second), (c.retry.MaxWait - waited).Round(time.Second))
			}
			return nil, e
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, &Error{Endpoint: c.endpoint, Model: cr.Model, Attempts: n, Status: a.status, Message: "interrupted while waiting to retry: " + err.Error(), Err: err}
		}
		waited += wait
	}
}

// validate runs go-openai's checks of the request (reasoning models refuse
// some parameters) on the whole request: the one go-openai is given holds
// only the model.
func validate(cr *openai.ChatCompletionRequest) error {
	return openai.NewReasoningValidator().Validate(*cr)
}

// fromCache returns the cached answer under key, or nil. An entry that
// cannot be used is reported and ignored; a fresh answer replaces it.
func (c *Client) fromCache(key string, params trace.Params) *trace.LLMCall {
	body, ok, err := c.cfg.Cache.get(key)
	if err != nil {
		c.warn(err)
	}
	if !ok {
		return nil
	}
	var resp openai.ChatCompletionResponse
	err = json.Unmarshal(body, &resp)
	var call *trace.LLMCall
	if err == nil {
		call, err = callFromResponse(&resp, params)
	}
	if err != nil {
		c.warn(fmt.Errorf("read model cache entry %q: %w (ignored; asking the endpoint)", c.cfg.Cache.path(key), err))
		return nil
	}
	// Nothing was spent: no latency, no cost; the usage stays the original
	// one, so token comparisons still hold.
	call.Produced = ProducedCache
	call.Cost.Priced = trace.Float(0)
	return call
}

// finish completes an answer from the endpoint: latency, price, and the
// cache entry.
func (c *Client) finish(call *trace.LLMCall, a *attempt, key string, sample int, asked string, latency time.Duration) {
	call.Produced = ProducedModel
	call.LatencyMS = latency.Milliseconds()
	if call.Usage != nil {
		for _, m := range []string{call.Model, asked} {
			if usd, ok := c.pricing.Price(m, *call.Usage); m != "" && ok {
				call.Cost.Priced = &usd
				break
			}
		}
	}
	if key != "" {
		err := c.cfg.Cache.put(key, cacheEntry{
			Endpoint: c.endpoint, Model: asked, Sample: sample,
			Created: c.now().UTC(), Latency: call.LatencyMS, Body: a.body,
		})
		if err != nil {
			c.warn(err)
		}
	}
}

func (c *Client) warn(err error) {
	if c.cfg.Warn != nil {
		c.cfg.Warn(err)
	}
}

// backoff returns the wait before attempt n+1 and whether the endpoint
// asked for it.
func (c *Client) backoff(n int, h http.Header) (time.Duration, bool) {
	if d, ok := retryAfter(h, c.now()); ok {
		return d, true
	}
	d := c.retry.BaseDelay
	for i := 1; i < n && d < c.retry.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, c.retry.MaxDelay)
	return c.jitter(d), false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// redact hides credentials in a URL kept for messages and keys.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

// attemptKey carries an *attempt in a request's context to the transport.
type attemptKey struct{}

// attempt is one HTTP attempt: the body to send, and what the transport
// learned of the response.
type attempt struct {
	request []byte // the request body (wire.go)
	status  int
	header  http.Header
	body    []byte // the response body, read whole
}

// transport is the HTTPDoer given to go-openai: it adds the configured
// headers, sends the body encoded by encodeRequest, and keeps the status,
// headers and body of the response so that Complete can honour
// Retry-After, quote a malformed body and store what came in the cache.
type transport struct {
	hc     *http.Client
	header http.Header
}

// transportError marks a failure to send a request or read its response:
// always worth a retry.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (t *transport) Do(req *http.Request) (*http.Response, error) {
	for k, vs := range t.header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	a, _ := req.Context().Value(attemptKey{}).(*attempt)
	if a == nil {
		return t.hc.Do(req)
	}
	if a.request != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		body := a.request
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return nil, &transportError{err}
	}
	defer resp.Body.Close()
	a.status, a.header = resp.StatusCode, resp.Header
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, &transportError{fmt.Errorf("read response (status %d): %w", resp.StatusCode, err)}
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("response body larger than %d MB", maxBody>>20)
	}
	a.body = body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
