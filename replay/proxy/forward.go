package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
)

// maxResponse bounds an upstream response read whole.
const maxResponse = 64 << 20

// endpoint is the upstream URL for format f.
func (p *Proxy) endpoint(f Format) string {
	switch f {
	case FormatChat:
		return p.upstream + "/chat/completions"
	case FormatResponses:
		return p.upstream + "/responses"
	}
	return p.anthro + "/v1/messages"
}

// forward sends req upstream with the counterfactual applied and passes the
// answer through.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, ex *Exchange, req *request) {
	f := req.Format
	body, err := p.rewrite(f, ex.Request, req)
	if err != nil {
		msg := fmt.Sprintf("replay proxy: %s request: apply the counterfactual: %v", f, err)
		p.fault(ex, FaultRequest, http.StatusBadRequest, msg)
		writeError(w, f, http.StatusBadRequest, "invalid_request_error", msg)
		return
	}
	url := p.endpoint(f)
	if r.URL.RawQuery != "" {
		url += "?" + r.URL.RawQuery
	}
	p.mu.Lock()
	ex.Sent = body
	p.mu.Unlock()

	key := ""
	if p.cfg.Cache != nil {
		key = model.CacheKey("replay-proxy "+string(f)+" "+redact(p.endpoint(f)), p.cfg.Sample, body)
		if !p.cfg.NoCache {
			if call := p.fromCache(key); call != nil {
				p.mu.Lock()
				ex.Status, ex.Produced, ex.Response, ex.Model = http.StatusOK, ProducedCache, call, callModel(req, call)
				p.mu.Unlock()
				writeCall(w, f, req, call, ex.Time)
				return
			}
		}
	}

	start := p.now()
	header := p.upstreamHeader(f, r.Header)
	var waited time.Duration
	for n := 1; ; n++ {
		p.mu.Lock()
		ex.Attempts = n
		p.mu.Unlock()
		done, retry, h := p.attempt(w, r.Context(), ex, req, url, header, body, n, start, key)
		if done {
			return
		}
		if !retry {
			return
		}
		wait, _ := p.retry.Wait(n, h, p.now())
		if waited+wait > p.retry.MaxWait {
			p.failUpstream(w, ex, f, http.StatusBadGateway, fmt.Sprintf("replay proxy: upstream %s: gave up after %d attempts: the retry budget (%s) is spent", redact(url), n, p.retry.MaxWait))
			return
		}
		if err := p.sleep(r.Context(), wait); err != nil {
			p.failUpstream(w, ex, f, http.StatusBadGateway, "replay proxy: interrupted while waiting to retry: "+err.Error())
			return
		}
		waited += wait
	}
}

func (p *Proxy) failUpstream(w http.ResponseWriter, ex *Exchange, f Format, status int, msg string) {
	p.fault(ex, FaultUpstream, status, msg)
	writeError(w, f, status, "api_error", msg)
}

// attempt is one upstream attempt. done: the agent has its answer (or
// error); retry: the failure is transient and nothing was written to the
// agent yet.
func (p *Proxy) attempt(w http.ResponseWriter, ctx context.Context, ex *Exchange, req *request, url string, header http.Header, body []byte, n int, start time.Time, key string) (done, retry bool, h http.Header) {
	f := req.Format
	last := n >= p.retry.MaxAttempts
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		p.failUpstream(w, ex, f, http.StatusBadGateway, "replay proxy: "+err.Error())
		return true, false, nil
	}
	hreq.Header = header.Clone()
	hreq.ContentLength = int64(len(body))

	firstByte, idle := p.cfg.FirstByteTimeout, p.cfg.IdleTimeout
	if firstByte <= 0 {
		firstByte = model.DefaultFirstByteTimeout
	}
	if idle <= 0 {
		idle = model.DefaultIdleTimeout
	}
	var started atomic.Bool
	timer := time.AfterFunc(firstByte, func() {
		if started.Load() {
			cancel(fmt.Errorf("the upstream stalled: no byte for %s (the idle limit)", idle))
		} else {
			cancel(fmt.Errorf("no response within %s of sending the request (the first-byte limit)", firstByte))
		}
	})
	defer timer.Stop()
	cause := func(err error) error {
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			return c
		}
		return err
	}

	resp, err := p.client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) == context.Canceled {
			p.failUpstream(w, ex, f, http.StatusBadGateway, "replay proxy: interrupted")
			return true, false, nil
		}
		msg := fmt.Sprintf("replay proxy: upstream %s: %v", redact(url), cause(err))
		if last {
			p.failUpstream(w, ex, f, http.StatusBadGateway, fmt.Sprintf("%s (after %d attempts)", msg, n))
			return true, false, nil
		}
		p.mu.Lock()
		ex.Error = msg
		p.mu.Unlock()
		return false, true, nil
	}
	defer resp.Body.Close()
	started.Store(true)
	timer.Reset(idle)
	reader := &idleReader{r: resp.Body, timer: timer, idle: idle}

	if resp.StatusCode >= 300 {
		b, rerr := io.ReadAll(io.LimitReader(reader, 1<<20))
		code := errorCode(b)
		if model.TransientStatus(resp.StatusCode, code) && !last {
			p.mu.Lock()
			ex.Error = fmt.Sprintf("upstream status %d: %s", resp.StatusCode, clip(string(b), 200))
			p.mu.Unlock()
			return false, true, resp.Header
		}
		if rerr != nil && !last {
			return false, true, resp.Header
		}
		// Passed through as it came: the agent's SDK reads the upstream's
		// own error.
		p.mu.Lock()
		ex.Status, ex.Fault = resp.StatusCode, FaultUpstream
		ex.Error = fmt.Sprintf("upstream status %d: %s", resp.StatusCode, clip(string(b), 500))
		if n > 1 {
			ex.Error += fmt.Sprintf(" (after %d attempts)", n)
		}
		p.mu.Unlock()
		copyHeader(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		w.Write(b)
		return true, false, nil
	}

	if req.Stream && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		p.passStream(w, ex, req, reader, resp, start, key, cause)
		return true, false, nil
	}
	b, rerr := io.ReadAll(io.LimitReader(reader, maxResponse))
	if rerr != nil {
		if !last {
			return false, true, resp.Header
		}
		p.failUpstream(w, ex, f, http.StatusBadGateway, fmt.Sprintf("replay proxy: upstream %s: read response: %v", redact(url), cause(rerr)))
		return true, false, nil
	}
	call, perr := parseResponse(f, b)
	if perr != nil {
		// A malformed 200 is not retried: asking again gets the same.
		p.failUpstream(w, ex, f, http.StatusBadGateway, fmt.Sprintf("replay proxy: upstream %s answered 200 with a body that is %v; the body starts %q; not retried (does the base URL point to the right API?)", redact(url), perr, clip(string(b), 200)))
		return true, false, nil
	}
	latency := p.now().Sub(start)
	call.Produced = ProducedModel
	call.LatencyMS = latency.Milliseconds()
	p.mu.Lock()
	ex.Status, ex.Produced, ex.Response, ex.Model, ex.Error = http.StatusOK, ProducedModel, call, callModel(req, call), ""
	p.mu.Unlock()
	p.toCache(key, req, call, latency)
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return true, false, nil
}

// passStream copies an event stream to the agent event by event, flushing
// each, and assembles the message it carries.
func (p *Proxy) passStream(w http.ResponseWriter, ex *Exchange, req *request, body io.Reader, resp *http.Response, start time.Time, key string, cause func(error) error) {
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	asm := newAssembler(req.Format)
	br := bufio.NewReaderSize(body, 64<<10)
	var event, data []byte
	var rerr error
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			w.Write(line)
			t := bytes.TrimRight(line, "\r\n")
			switch {
			case len(t) == 0:
				if len(data) > 0 || len(event) > 0 {
					asm.feed(string(event), data)
				}
				event, data = event[:0], data[:0]
				if fl != nil {
					fl.Flush()
				}
			case bytes.HasPrefix(t, []byte("event:")):
				event = append(event[:0], bytes.TrimSpace(t[6:])...)
			case bytes.HasPrefix(t, []byte("data:")):
				if len(data) > 0 {
					data = append(data, '\n')
				}
				data = append(data, bytes.TrimPrefix(t[5:], []byte(" "))...)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rerr = cause(err)
			}
			break
		}
	}
	if len(data) > 0 {
		asm.feed(string(event), data)
	}
	if fl != nil {
		fl.Flush()
	}
	latency := p.now().Sub(start)
	call := asm.call()
	call.Produced = ProducedModel
	call.LatencyMS = latency.Milliseconds()
	p.mu.Lock()
	ex.Status, ex.Produced, ex.Response, ex.Model, ex.Error = resp.StatusCode, ProducedModel, call, callModel(req, call), ""
	if rerr != nil {
		ex.Fault, ex.Error = FaultUpstream, "the upstream stream broke off: "+rerr.Error()
		call.Error = ex.Error
	} else if asm.err != "" {
		ex.Fault, ex.Error = FaultUpstream, asm.err
		call.Error = asm.err
	}
	p.mu.Unlock()
	if rerr == nil && asm.err == "" && asm.complete {
		p.toCache(key, req, call, latency)
	}
}

func (p *Proxy) fromCache(key string) *trace.LLMCall {
	b, ok, err := p.cfg.Cache.Get(key)
	if err != nil {
		p.warn(err)
	}
	if !ok {
		return nil
	}
	var call trace.LLMCall
	if err := json.Unmarshal(b, &call); err != nil {
		p.warn(fmt.Errorf("read model cache entry %q: %w (ignored; asking the upstream)", key, err))
		return nil
	}
	call.Produced = ProducedCache
	call.LatencyMS = 0
	call.Cost.Priced = trace.Float(0)
	return &call
}

func (p *Proxy) toCache(key string, req *request, call *trace.LLMCall, latency time.Duration) {
	if key == "" {
		return
	}
	c := *call
	c.Produced, c.LatencyMS = "", 0
	b, err := json.Marshal(&c)
	if err == nil {
		err = p.cfg.Cache.Put(key, redact(p.endpoint(req.Format)), req.Model, p.cfg.Sample, latency, b)
	}
	if err != nil {
		p.warn(err)
	}
}

// idleReader resets the silence timer on every read that brings bytes.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (r *idleReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}

// errorCode is the error code of an OpenAI error body ("" if none).
func errorCode(b []byte) string {
	var v struct {
		Error struct {
			Code any    `json:"code"`
			Type string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	if s, ok := v.Error.Code.(string); ok {
		return s
	}
	return v.Error.Type
}

// hop-by-hop and credential headers are never forwarded.
var dropHeaders = map[string]bool{
	"Authorization": true, "X-Api-Key": true, "Api-Key": true, "Host": true, "Content-Length": true,
	"Connection": true, "Keep-Alive": true, "Proxy-Authorization": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Accept-Encoding": true,
	"Openai-Organization": false,
}

// upstreamHeader is the agent's headers without its credentials, with the
// host side's key and extra headers.
func (p *Proxy) upstreamHeader(f Format, in http.Header) http.Header {
	h := http.Header{}
	for k, vs := range in {
		if dropHeaders[http.CanonicalHeaderKey(k)] {
			continue
		}
		h[k] = append([]string(nil), vs...)
	}
	for k, vs := range p.cfg.Header {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	if f == FormatMessages {
		if p.cfg.AnthropicKey != "" {
			h.Set("X-Api-Key", p.cfg.AnthropicKey)
		}
		if h.Get("Anthropic-Version") == "" {
			h.Set("Anthropic-Version", "2023-06-01")
		}
	} else if p.cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+p.cfg.APIKey)
	}
	h.Set("Content-Type", "application/json")
	return h
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive", "Content-Encoding":
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

func (p *Proxy) sleepCtx(ctx context.Context, d time.Duration) error {
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
