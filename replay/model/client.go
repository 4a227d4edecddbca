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
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/agentreplay/replay/replay/trace"
)

// DefaultBaseURL is the endpoint used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// How long an endpoint may stay silent, when Config leaves it zero. The
// request is not streamed: the endpoint answers once the model has written
// the whole answer, so the first-byte limit is also how long the model may
// think. The idle limit is a silence inside a response that has started.
const (
	DefaultFirstByteTimeout = 2 * time.Minute
	DefaultIdleTimeout      = time.Minute
)

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
	// Its own Timeout, if any, applies on top of the limits below.
	HTTPClient *http.Client
	// FirstByteTimeout bounds the wait for the response to start: from
	// sending the request to receiving its headers (an endpoint that
	// accepts the connection and never answers). Zero means
	// DefaultFirstByteTimeout.
	FirstByteTimeout time.Duration
	// IdleTimeout bounds a silence inside a response: the time between two
	// reads that bring bytes (an endpoint that stalls, or drips slower
	// than this). Zero means DefaultIdleTimeout. Nothing bounds a whole
	// response: one that keeps coming is never cut. An attempt that hits
	// either limit is retried.
	IdleTimeout time.Duration
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
// HTTP date; Azure's retry-after-ms too). Only transient failures are
// retried: 408, 409, 429 (except an exhausted quota), 5xx, an endpoint
// silent past the first-byte or idle limit, connection errors and a
// response cut short. A 200 whose body is not a chat completion is not
// transient (the endpoint is not what the base URL should point to) and
// fails at once. Zero fields take the defaults.
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
	if RequiresKey(base) && strings.TrimSpace(cfg.APIKey) == "" {
		return nil, fmt.Errorf("new model client: %s: %w", redact(base), ErrNoAPIKey)
	}
	tr := &transport{hc: hc, header: cfg.Header, firstByte: cfg.FirstByteTimeout, idle: cfg.IdleTimeout}
	if tr.firstByte <= 0 {
		tr.firstByte = DefaultFirstByteTimeout
	}
	if tr.idle <= 0 {
		tr.idle = DefaultIdleTimeout
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = base
	oc.HTTPClient = tr
	c := &Client{
		cfg:      cfg,
		retry:    cfg.Retry.withDefaults(),
		endpoint: redact(base + "/chat/completions"),
		oa:       openai.NewClientWithConfig(oc),
		pricing:  cfg.Pricing,
		sleep:    sleepCtx,
		jitter:   equalJitter,
		now:      time.Now,
	}
	if c.pricing == nil {
		c.pricing = DefaultPricing()
	}
	return c, nil
}

// ErrNoAPIKey is returned (wrapped) by New for an endpoint that refuses
// every request without a key.
var ErrNoAPIKey = errors.New("this endpoint needs an API key and none was given")

// RequiresKey reports whether the endpoint at baseURL ("" is
// DefaultBaseURL) refuses requests without an API key: OpenAI's own API.
// Local and self-hosted servers (Ollama, vLLM, a proxy) may take none.
func RequiresKey(baseURL string) bool {
	if strings.TrimSpace(baseURL) == "" {
		baseURL = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	return err == nil && strings.EqualFold(u.Hostname(), "api.openai.com")
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
		start := time.Now()
		resp, err := c.oa.CreateChatCompletion(context.WithValue(ctx, attemptKey{}, a), lite)
		latency := time.Since(start)
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
		f := classify(err, a)
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
//
// It also watches for an endpoint that goes silent: the response must start
// (its headers arrive) within firstByte of sending the request, and once it
// has started every read must bring bytes within idle of the one before.
// A timer is reset on every read, so a long answer that keeps coming is
// never cut; a silent one ends the attempt with a *stallError.
type transport struct {
	hc        *http.Client
	header    http.Header
	firstByte time.Duration
	idle      time.Duration
}

// transportError marks a failure to send a request or read its response:
// always worth a retry.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// stallError is an endpoint silent past a limit: no response within the
// first-byte limit, or no byte within the idle limit once it started.
type stallError struct {
	started bool          // the response had started (its headers came)
	limit   time.Duration // the limit passed
	got     int64         // bytes of the body received before the silence
}

func (e *stallError) Error() string {
	if !e.started {
		return fmt.Sprintf("no response within %s of sending the request (the first-byte limit)", e.limit)
	}
	return fmt.Sprintf("the response stalled: no byte for %s after %d bytes of the body (the idle limit)", e.limit, e.got)
}

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
	ctx, cancel := context.WithCancelCause(req.Context())
	defer cancel(nil)
	var got atomic.Int64
	var started atomic.Bool
	// One timer for both limits: it fires once the endpoint has been
	// silent for too long, whatever it was silent about.
	timer := time.AfterFunc(t.firstByte, func() {
		if started.Load() {
			cancel(&stallError{started: true, limit: t.idle, got: got.Load()})
		} else {
			cancel(&stallError{limit: t.firstByte})
		}
	})
	defer timer.Stop()
	stalled := func(err error) error {
		var se *stallError
		if errors.As(context.Cause(ctx), &se) && req.Context().Err() == nil {
			return se
		}
		return err
	}
	resp, err := t.hc.Do(req.WithContext(ctx))
	if err != nil {
		return nil, &transportError{stalled(err)}
	}
	started.Store(true)
	timer.Reset(t.idle)
	defer resp.Body.Close()
	a.status, a.header = resp.StatusCode, resp.Header
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(chunk)
		if n > 0 {
			timer.Reset(t.idle)
			got.Add(int64(n))
			buf.Write(chunk[:n])
			if buf.Len() > maxBody {
				return nil, fmt.Errorf("response body larger than %d MB", maxBody>>20)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, &transportError{fmt.Errorf("read response (status %d): %w", resp.StatusCode, stalled(rerr))}
		}
	}
	// A silence that ended the read just as the body did is no failure.
	timer.Stop()
	a.body = buf.Bytes()
	resp.Body = io.NopCloser(bytes.NewReader(a.body))
	return resp, nil
}
