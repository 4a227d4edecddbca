package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
)

// Mode says how the proxy answers.
type Mode string

// Modes.
const (
	ModeRecorded Mode = "recorded" // answer from the recording; stop at the first divergence
	ModeForward  Mode = "forward"  // send to the upstream with the counterfactual applied
	ModeFork     Mode = "fork"     // recorded up to ForkStep, forward from it
)

// AfterDivergence values.
const (
	AfterStop    = "stop"    // answer every request from the divergence on with an error
	AfterForward = "forward" // forward the diverged request and all later ones
)

// Format is a wire format.
type Format string

// Wire formats.
const (
	FormatChat      Format = "openai-chat"        // POST /v1/chat/completions
	FormatResponses Format = "openai-responses"   // POST /v1/responses
	FormatMessages  Format = "anthropic-messages" // POST /v1/messages
)

// Default upstreams.
const (
	DefaultUpstream          = "https://api.openai.com/v1" // OpenAI formats: base before /chat/completions, /responses
	DefaultAnthropicUpstream = "https://api.anthropic.com" // Anthropic: base before /v1/messages
)

// How an exchange was answered (Exchange.Produced, and trace.LLMCall.Produced
// in Run).
const (
	ProducedRecorded = model.ProducedRecorded // from the recording
	ProducedModel    = model.ProducedModel    // the upstream answered
	ProducedCache    = model.ProducedCache    // the response cache answered
)

// Faults of an exchange (Exchange.Fault).
const (
	FaultPath     = "bad-path"     // unknown path or method
	FaultRequest  = "bad-request"  // the body is not a request of its format
	FaultDiverged = "diverged"     // recorded mode: the request matches no recorded call
	FaultUpstream = "upstream"     // the upstream failed or answered an error
	FaultNoAnswer = "no-recording" // the recorded call has nothing to answer with
)

// Overrides are request parameters the counterfactual sets; nil fields are
// left as the agent sent them.
type Overrides struct {
	Temperature *float64
	TopP        *float64
	MaxTokens   *int64 // max_tokens / max_completion_tokens / max_output_tokens, as the request names it
	Seed        *int64 // OpenAI formats only (Anthropic has none)
}

// Config configures a Proxy. The CLI fills it from flags and the
// environment; this package reads neither.
type Config struct {
	Mode Mode
	// Recording answers ModeRecorded and ModeFork.
	Recording *trace.Run
	// ForkStep (ModeFork): model calls 1..ForkStep-1 of the main run come
	// from the recording, the model answers from ForkStep on.
	ForkStep int
	// AfterDivergence is AfterStop ("" too) or AfterForward.
	AfterDivergence string

	// Upstream is the OpenAI-compatible base URL (before /chat/completions
	// and /responses); "" is DefaultUpstream. AnthropicUpstream is the
	// Anthropic base URL (before /v1/messages); "" is
	// DefaultAnthropicUpstream.
	Upstream          string
	AnthropicUpstream string
	// APIKey is sent upstream as "Authorization: Bearer" for the OpenAI
	// formats, AnthropicKey as "x-api-key" for Anthropic Messages. The
	// agent's own Authorization, x-api-key and api-key headers are never
	// forwarded.
	APIKey       string
	AnthropicKey string
	// Header holds extra headers sent upstream with every request.
	Header http.Header

	// The counterfactual, applied to forwarded requests. Model rewrites the
	// model; System replaces the system prompt (chat: the first system or
	// developer message, Responses: instructions, Anthropic: system);
	// Prompts replaces the system prompt of the sub-agent it names (see the
	// package doc); Params overrides parameters; ContextAdd texts are added
	// as a user message after the first user message (Anthropic: as text
	// blocks of the first user message).
	Model      string
	System     *string
	Prompts    map[string]string
	Params     Overrides
	ContextAdd []string

	// Cache, when not nil, answers forwarded requests it has seen and
	// stores new answers; it may be the engine's. Sample enters the key
	// (the repetition number of --repeat). NoCache skips lookups but still
	// stores.
	Cache   *model.Cache
	NoCache bool
	Sample  int
	// Pricing prices the calls in Run; nil uses model.DefaultPricing.
	Pricing *model.Pricing
	// Client sends upstream requests; nil uses a client of this package.
	Client *http.Client
	// FirstByteTimeout bounds the wait for the upstream's response headers,
	// IdleTimeout a silence inside a response (the semantics of
	// replay/model's --request-timeout); zero takes model's defaults.
	FirstByteTimeout time.Duration
	IdleTimeout      time.Duration
	// Retry is the retry policy for transient upstream failures.
	Retry model.Retry
	// Warn, when not nil, is told of problems that do not fail a request
	// (a cache entry that could not be written).
	Warn func(error)
}

// Exchange is one request and its answer.
type Exchange struct {
	Time   time.Time `json:"time"`
	Format Format    `json:"format,omitempty"`
	Path   string    `json:"path"`
	Stream bool      `json:"stream,omitempty"`
	// Request is the body as the agent sent it; Sent the body forwarded
	// upstream (nil when the answer did not come from the upstream).
	Request json.RawMessage `json:"request,omitempty"`
	Sent    json.RawMessage `json:"sent,omitempty"`
	// Status is the HTTP status the agent got.
	Status int `json:"status"`
	// Response is the answer: for a stream, the message assembled from its
	// events. Nil when there was none.
	Response *trace.LLMCall `json:"response,omitempty"`
	// Model is the model that answered (as asked when it did not say).
	Model     string `json:"model,omitempty"`
	LatencyMS int64  `json:"latency_ms"`
	Produced  string `json:"produced,omitempty"` // ProducedRecorded, ProducedModel, ProducedCache
	// Run and Step say which recorded call answered (Step 1-based, in the
	// run of key Run; "" is the main run); zero when none did.
	Run      string `json:"run,omitempty"`
	Step     int    `json:"step,omitempty"`
	Attempts int    `json:"attempts,omitempty"` // upstream attempts
	Fault    string `json:"fault,omitempty"`    // Fault*
	Error    string `json:"error,omitempty"`

	req *request // the request parsed; nil for a bad one
}

// Divergence is the first request of the agent that matched no recorded
// model call.
type Divergence struct {
	// Step is the model call (1-based, in its run) the request should have
	// matched; Run the key of that run ("" is the main run) and Agent its
	// name.
	Step  int    `json:"step"`
	Run   string `json:"run,omitempty"`
	Agent string `json:"agent,omitempty"`
	// Exchange is the index of the request among Exchanges.
	Exchange int    `json:"exchange"`
	Reason   string `json:"reason"`
	// Diff is a unified diff of the two requests normalized: the recorded
	// one (a/) and the agent's (b/).
	Diff string `json:"diff,omitempty"`
}

func (d *Divergence) String() string {
	run := "main run"
	if d.Run != "" {
		run = fmt.Sprintf("run %q", d.Run)
	}
	return fmt.Sprintf("first divergence at model call %d of the %s: %s", d.Step, run, d.Reason)
}

// Proxy is the model proxy. It is an http.Handler.
type Proxy struct {
	cfg      Config
	client   *http.Client
	pricing  *model.Pricing
	retry    model.Retry
	upstream string
	anthro   string

	parsing   sync.WaitGroup // full parses of forwarded requests in flight
	mu        sync.Mutex
	exchanges []*Exchange
	rec       *recording // nil without a recording
	diverged  *Divergence
	forkDone  bool // fork: the main run reached ForkStep

	// hooks for tests
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

// New returns a proxy for cfg.
func New(cfg Config) (*Proxy, error) {
	switch cfg.Mode {
	case ModeRecorded, ModeForward, ModeFork:
	case "":
		return nil, errors.New("new proxy: no mode: want recorded, forward or fork")
	default:
		return nil, fmt.Errorf("new proxy: mode %q: want recorded, forward or fork", cfg.Mode)
	}
	switch cfg.AfterDivergence {
	case "", AfterStop, AfterForward:
	default:
		return nil, fmt.Errorf("new proxy: after-divergence %q: want stop or forward", cfg.AfterDivergence)
	}
	if cfg.Mode != ModeForward && cfg.Recording == nil {
		return nil, fmt.Errorf("new proxy: mode %s needs a recording", cfg.Mode)
	}
	if cfg.Mode == ModeFork && cfg.ForkStep < 1 {
		return nil, fmt.Errorf("new proxy: fork step %d: want 1 or more", cfg.ForkStep)
	}
	p := &Proxy{cfg: cfg, client: cfg.Client, pricing: cfg.Pricing, retry: cfg.Retry.WithDefaults(), now: time.Now}
	p.sleep = p.sleepCtx
	var err error
	if p.upstream, err = baseURL(cfg.Upstream, DefaultUpstream, "upstream"); err != nil {
		return nil, err
	}
	if p.anthro, err = baseURL(cfg.AnthropicUpstream, DefaultAnthropicUpstream, "anthropic upstream"); err != nil {
		return nil, err
	}
	if p.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		p.client = &http.Client{Transport: tr}
	}
	if p.pricing == nil {
		p.pricing = model.DefaultPricing()
	}
	if cfg.Recording != nil {
		p.rec = newRecording(cfg.Recording)
	}
	return p, nil
}

func baseURL(s, def, what string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = def
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("new proxy: %s %q: want http(s)://host[/path], e.g. %s", what, s, def)
	}
	return strings.TrimRight(s, "/"), nil
}

// Exchanges returns the exchanges so far, in the order the requests came.
func (p *Proxy) Exchanges() []Exchange {
	p.parsing.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Exchange, len(p.exchanges))
	for i, e := range p.exchanges {
		out[i] = *e
	}
	return out
}

// Divergence returns the first divergence, or nil.
func (p *Proxy) Divergence() *Divergence {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.diverged == nil {
		return nil
	}
	d := *p.diverged
	return &d
}

// maxRequest bounds a request body.
const maxRequest = 64 << 20

// Paths lists the paths the proxy serves.
var Paths = []string{"/v1/chat/completions", "/v1/responses", "/v1/messages"}

func route(path string) (Format, bool) {
	path = strings.TrimRight(path, "/")
	path = strings.TrimPrefix(path, "/v1")
	switch path {
	case "/chat/completions":
		return FormatChat, true
	case "/responses":
		return FormatResponses, true
	case "/messages":
		return FormatMessages, true
	}
	return "", false
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.now()
	ex := &Exchange{Time: start.UTC(), Path: r.URL.Path}
	p.add(ex)
	defer func() {
		p.mu.Lock()
		ex.LatencyMS = p.now().Sub(start).Milliseconds()
		p.mu.Unlock()
	}()
	f, ok := route(r.URL.Path)
	if !ok || r.Method != http.MethodPost {
		msg := fmt.Sprintf("replay proxy: no %s %s: the proxy serves POST %s", r.Method, r.URL.Path, strings.Join(Paths, ", "))
		if ok {
			msg = fmt.Sprintf("replay proxy: %s %s: only POST is served", r.Method, r.URL.Path)
		}
		p.fault(ex, FaultPath, http.StatusNotFound, msg)
		writeError(w, f, http.StatusNotFound, "not_found_error", msg)
		return
	}
	ex.Format = f
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err == nil && len(body) > maxRequest {
		err = fmt.Errorf("body larger than %d MB", maxRequest>>20)
	}
	if err != nil {
		msg := "replay proxy: read request: " + err.Error()
		p.fault(ex, FaultRequest, http.StatusBadRequest, msg)
		writeError(w, f, http.StatusBadRequest, "invalid_request_error", msg)
		return
	}
	p.mu.Lock()
	ex.Request = body
	p.mu.Unlock()
	var req *request
	peeked := p.cfg.Mode == ModeForward && !p.counterfactual()
	if peeked {
		// The full parse runs beside the upstream call.
		req, err = peekRequest(f, body)
		if err == nil {
			p.parsing.Add(1)
			go func() {
				defer p.parsing.Done()
				full, err := parseRequest(f, body)
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					ex.Error = joinNonEmpty(ex.Error, fmt.Sprintf("replay proxy: %s request: %v (forwarded as it was)", f, err))
					return
				}
				ex.req = full
			}()
		}
	} else {
		req, err = parseRequest(f, body)
	}
	if err != nil {
		msg := fmt.Sprintf("replay proxy: %s request: %v", f, err)
		p.fault(ex, FaultRequest, http.StatusBadRequest, msg)
		writeError(w, f, http.StatusBadRequest, "invalid_request_error", msg)
		return
	}
	p.mu.Lock()
	if !peeked {
		ex.req = req
	}
	ex.Stream = req.Stream
	p.mu.Unlock()

	if p.cfg.Mode == ModeForward {
		p.forward(w, r, ex, req)
		return
	}
	ans := p.answerRecorded(ex, req)
	switch {
	case ans.call != nil:
		writeCall(w, f, req, ans.call, ex.Time)
	case ans.forward:
		p.forward(w, r, ex, req)
	default:
		writeError(w, f, ans.status, ans.kind, ans.msg)
	}
}

func (p *Proxy) add(ex *Exchange) {
	p.mu.Lock()
	p.exchanges = append(p.exchanges, ex)
	p.mu.Unlock()
}

func (p *Proxy) fault(ex *Exchange, fault string, status int, msg string) {
	p.mu.Lock()
	ex.Fault, ex.Status, ex.Error = fault, status, msg
	p.mu.Unlock()
}

func (p *Proxy) warn(err error) {
	if p.cfg.Warn != nil {
		p.cfg.Warn(err)
	}
}

// writeError answers an error in the wire format f ("" is OpenAI's shape).
func writeError(w http.ResponseWriter, f Format, status int, kind, msg string) {
	var body any
	if f == FormatMessages {
		body = map[string]any{"type": "error", "error": map[string]any{"type": kind, "message": msg}}
	} else {
		body = map[string]any{"error": map[string]any{"message": msg, "type": kind, "code": kind}}
	}
	b, _ := json.MarshalNoEscape(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// writeJSON answers 200 with b.
func writeJSONBody(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// compact returns b without insignificant space, or b when it is not JSON.
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// redact hides credentials in a URL kept for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
