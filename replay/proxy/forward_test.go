package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
)

// Canned upstream answers in the real wire formats.
const (
	chatAnswer      = `{"id":"chatcmpl-up","object":"chat.completion","created":1,"model":"gpt-5-mini","choices":[{"index":0,"message":{"role":"assistant","content":"REJECT: upstream says so."},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":5,"total_tokens":55,"prompt_tokens_details":{"cached_tokens":10}}}`
	anthropicAnswer = `{"id":"msg_up","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"REJECT: upstream says so."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":40,"output_tokens":5,"cache_read_input_tokens":10,"cache_creation_input_tokens":0}}`
	responsesAnswer = `{"id":"resp_up","object":"response","created_at":1,"status":"completed","model":"gpt-5-mini","output":[{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"REJECT: upstream says so.","annotations":[]}]}],"usage":{"input_tokens":50,"output_tokens":5,"total_tokens":55,"input_tokens_details":{"cached_tokens":10},"output_tokens_details":{"reasoning_tokens":0}}}`
)

// upstream is a scripted model API on loopback that keeps what it got.
type upstream struct {
	mu      sync.Mutex
	bodies  []map[string]any
	headers []http.Header
	paths   []string
	hits    atomic.Int32
	answer  func(w http.ResponseWriter, r *http.Request, n int) // n counts from 1
}

func newUpstream(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) (*upstream, string) {
	u := &upstream{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		u.mu.Lock()
		u.bodies = append(u.bodies, m)
		u.headers = append(u.headers, r.Header.Clone())
		u.paths = append(u.paths, r.URL.Path)
		u.mu.Unlock()
		u.answer(w, r, int(u.hits.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return u, srv.URL
}

func jsonAnswer(body string) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func post(t *testing.T, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// The counterfactual reaches the upstream: the model rewritten, the system
// prompt replaced, parameters overridden, context added; the agent's dummy
// key stays behind and the real one is added on the host side.
func TestProxyForwardCounterfactual(t *testing.T) {
	temp := 0.0
	maxTok := int64(256)
	system := "NEW SYSTEM PROMPT"
	cases := []struct {
		name, path, body, answer string
		header                   map[string]string
		check                    func(t *testing.T, got map[string]any, h http.Header)
	}{
		{
			name: "chat", path: "/v1/chat/completions", answer: chatAnswer, header: map[string]string{"Authorization": "Bearer dummy"},
			body: `{"model":"gpt-4o","messages":[{"role":"system","content":"old"},{"role":"user","content":"Review a.go"}],"temperature":0.7}`,
			check: func(t *testing.T, got map[string]any, h http.Header) {
				msgs := got["messages"].([]any)
				if len(msgs) != 3 || msgs[0].(map[string]any)["content"] != system || msgs[2].(map[string]any)["content"] != "CONTEXT FILE" {
					t.Errorf("messages: %v", msgs)
				}
				if got["max_tokens"] != float64(256) || got["seed"] != float64(7) {
					t.Errorf("params: %v", got)
				}
				if h.Get("Authorization") != "Bearer sk-real" {
					t.Errorf("Authorization %q", h.Get("Authorization"))
				}
			},
		},
		{
			name: "responses", path: "/v1/responses", answer: responsesAnswer, header: map[string]string{"Authorization": "Bearer dummy"},
			body: `{"model":"gpt-4o","instructions":"old","input":"Review a.go"}`,
			check: func(t *testing.T, got map[string]any, h http.Header) {
				if got["instructions"] != system || got["max_output_tokens"] != float64(256) {
					t.Errorf("body: %v", got)
				}
				if in := got["input"].([]any); len(in) != 2 || in[1].(map[string]any)["content"] != "CONTEXT FILE" {
					t.Errorf("input: %v", in)
				}
				if h.Get("Authorization") != "Bearer sk-real" {
					t.Errorf("Authorization %q", h.Get("Authorization"))
				}
			},
		},
		{
			name: "anthropic", path: "/v1/messages", answer: anthropicAnswer, header: map[string]string{"X-Api-Key": "dummy", "Anthropic-Version": "2023-06-01"},
			body: `{"model":"claude-sonnet-4-5","max_tokens":1024,"system":[{"type":"text","text":"old","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"Review a.go"}]}`,
			check: func(t *testing.T, got map[string]any, h http.Header) {
				if got["system"] != system || got["max_tokens"] != float64(256) {
					t.Errorf("body: %v", got)
				}
				blocks := got["messages"].([]any)[0].(map[string]any)["content"].([]any)
				if len(blocks) != 2 || blocks[1].(map[string]any)["text"] != "CONTEXT FILE" {
					t.Errorf("first user message: %v", blocks)
				}
				if h.Get("X-Api-Key") != "sk-ant-real" || h.Get("Authorization") != "" || h.Get("Anthropic-Version") != "2023-06-01" {
					t.Errorf("headers: %v", h)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up, upURL := newUpstream(t, jsonAnswer(c.answer))
			seed := int64(7)
			p := newProxy(t, Config{Mode: ModeForward, Upstream: upURL + "/v1", AnthropicUpstream: upURL, APIKey: "sk-real", AnthropicKey: "sk-ant-real",
				Model: "rewritten-model", System: &system, Params: Overrides{Temperature: &temp, MaxTokens: &maxTok, Seed: &seed}, ContextAdd: []string{"CONTEXT FILE"}})
			resp, body := post(t, serve(t, p)+c.path, c.body, c.header)
			if resp.StatusCode != 200 || !strings.Contains(body, "REJECT: upstream says so.") {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if len(up.bodies) != 1 {
				t.Fatalf("upstream got %d requests", len(up.bodies))
			}
			got, h := up.bodies[0], up.headers[0]
			if got["model"] != "rewritten-model" || got["temperature"] != float64(0) {
				t.Errorf("model/temperature: %v %v", got["model"], got["temperature"])
			}
			for k, vs := range h {
				for _, v := range vs {
					if strings.Contains(v, "dummy") {
						t.Errorf("the agent's dummy key reached the upstream in %s: %q", k, v)
					}
				}
			}
			c.check(t, got, h)
			ex := p.Exchanges()[0]
			if ex.Produced != ProducedModel || ex.Response.Output.Text() != "REJECT: upstream says so." || ex.Response.Usage.CacheRead != 10 {
				t.Errorf("exchange: %+v", ex)
			}
		})
	}
}

// A sub-agent's prompt is replaced by name: the recorded run of that name
// tells its system prompt; other requests keep theirs.
func TestProxyForwardSubAgentPrompt(t *testing.T) {
	rec := testRecording()
	rec.Children = []*trace.Run{{Meta: trace.RunMeta{Key: "agent-1", Agent: "security", Instr: trace.Instructions{System: "You check security."}}}}
	up, upURL := newUpstream(t, jsonAnswer(chatAnswer))
	p := newProxy(t, Config{Mode: ModeForward, Recording: rec, Upstream: upURL, Prompts: map[string]string{"security": "NEW SECURITY PROMPT"}})
	base := serve(t, p)
	post(t, base+"/v1/chat/completions", `{"model":"m","messages":[{"role":"system","content":"You check security."},{"role":"user","content":"go"}]}`, nil)
	post(t, base+"/v1/chat/completions", `{"model":"m","messages":[{"role":"system","content":"`+testSystem+`"},{"role":"user","content":"go"}]}`, nil)
	sys := func(i int) any { return up.bodies[i]["messages"].([]any)[0].(map[string]any)["content"] }
	if sys(0) != "NEW SECURITY PROMPT" || sys(1) != testSystem {
		t.Errorf("system prompts sent: %q, %q", sys(0), sys(1))
	}
}

// A streamed answer is passed through as it comes: the agent reads the
// first event while the upstream still holds the rest back.
func TestProxyForwardStreamFirstByte(t *testing.T) {
	release := make(chan struct{})
	_, upURL := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}`+"\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}`+"\n\n")
		io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}`+"\n\ndata: [DONE]\n\n")
	})
	p := newProxy(t, Config{Mode: ModeForward, Upstream: upURL})
	base := serve(t, p)
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, `"Hel"`) {
		t.Fatalf("first event: %q, %v", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), `"lo"`) || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("rest of the stream: %q", rest)
	}
	ex := p.Exchanges()[0]
	if ex.Response == nil || ex.Response.Output.Text() != "Hello" || ex.Response.Usage.Input != 9 || ex.Response.StopReason != "stop" {
		t.Errorf("assembled: %+v", ex.Response)
	}
}

// The official SDKs read a forwarded stream as well (Anthropic's event
// names pass through), and the stream is assembled for the exchange.
func TestProxyForwardAnthropicStream(t *testing.T) {
	events := []string{
		`event: message_start` + "\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":30,"output_tokens":1,"cache_read_input_tokens":5}}}`,
		`event: content_block_start` + "\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"read_file","input":{}}}`,
		`event: content_block_delta` + "\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}}`,
		`event: content_block_delta` + "\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"b.go\"}"}}`,
		`event: content_block_stop` + "\n" + `data: {"type":"content_block_stop","index":0}`,
		`event: message_delta` + "\n" + `data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":12}}`,
		`event: message_stop` + "\n" + `data: {"type":"message_stop"}`,
	}
	_, upURL := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			io.WriteString(w, e+"\n\n")
		}
	})
	p := newProxy(t, Config{Mode: ModeForward, AnthropicUpstream: upURL, AnthropicKey: "k"})
	resp, body := post(t, serve(t, p)+"/v1/messages", `{"model":"claude-x","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "event: message_stop") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	c := p.Exchanges()[0].Response
	if c == nil || len(c.Output.Parts) != 1 || string(c.Output.Parts[0].Arguments) != `{"path":"b.go"}` || c.Usage.Output != 12 || c.Usage.Input != 30 || c.Usage.CacheRead != 5 || c.StopReason != "tool_use" {
		t.Errorf("assembled: %+v", c)
	}
}

// Transient failures are retried; a malformed 200 is not.
func TestProxyForwardRetries(t *testing.T) {
	fast := model.Retry{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	t.Run("5xx then ok", func(t *testing.T) {
		up, upURL := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"error":{"message":"overloaded"}}`)
				return
			}
			jsonAnswer(chatAnswer)(w, r, n)
		})
		p := newProxy(t, Config{Mode: ModeForward, Upstream: upURL, Retry: fast})
		resp, body := post(t, serve(t, p)+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil)
		if resp.StatusCode != 200 || up.hits.Load() != 3 || p.Exchanges()[0].Attempts != 3 {
			t.Errorf("status %d after %d upstream hits: %s", resp.StatusCode, up.hits.Load(), body)
		}
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		up, upURL := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				w.Header().Set("Retry-After-Ms", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			jsonAnswer(anthropicAnswer)(w, r, n)
		})
		p := newProxy(t, Config{Mode: ModeForward, AnthropicUpstream: upURL, Retry: fast})
		resp, _ := post(t, serve(t, p)+"/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, nil)
		if resp.StatusCode != 200 || up.hits.Load() != 2 {
			t.Errorf("status %d after %d hits", resp.StatusCode, up.hits.Load())
		}
	})
	t.Run("malformed 200", func(t *testing.T) {
		up, upURL := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
			io.WriteString(w, "<html>gateway</html>")
		})
		p := newProxy(t, Config{Mode: ModeForward, Upstream: upURL, Retry: fast})
		resp, body := post(t, serve(t, p)+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil)
		if resp.StatusCode != http.StatusBadGateway || up.hits.Load() != 1 || !strings.Contains(errMessage(body), "not retried") || !strings.Contains(errMessage(body), "<html>") {
			t.Errorf("status %d after %d hits: %s", resp.StatusCode, up.hits.Load(), body)
		}
		if ex := p.Exchanges()[0]; ex.Fault != FaultUpstream {
			t.Errorf("fault %q", ex.Fault)
		}
	})
	t.Run("400 passed through, not retried", func(t *testing.T) {
		up, upURL := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"bad model","type":"invalid_request_error"}}`)
		})
		p := newProxy(t, Config{Mode: ModeForward, Upstream: upURL, Retry: fast})
		c := openai.NewClient(option.WithBaseURL(serve(t, p)+"/v1"), option.WithAPIKey("dummy"), option.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Message != "bad model" || up.hits.Load() != 1 {
			t.Errorf("err %v after %d hits", err, up.hits.Load())
		}
	})
	t.Run("connection refused, then gives up", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		dead := srv.URL
		srv.Close()
		p := newProxy(t, Config{Mode: ModeForward, Upstream: dead, Retry: model.Retry{MaxAttempts: 2, BaseDelay: time.Millisecond}})
		resp, body := post(t, serve(t, p)+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "after 2 attempts") {
			t.Errorf("status %d: %s", resp.StatusCode, body)
		}
	})
}

// The response cache answers a request it has seen, for the same sample
// only.
func TestProxyForwardCache(t *testing.T) {
	cache, err := model.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	up, upURL := newUpstream(t, jsonAnswer(chatAnswer))
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	for i, sample := range []int{0, 0, 1} {
		p := newProxy(t, Config{Mode: ModeForward, Upstream: upURL, Cache: cache, Sample: sample})
		resp, got := post(t, serve(t, p)+"/v1/chat/completions", body, nil)
		if resp.StatusCode != 200 || !strings.Contains(got, "REJECT") {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, got)
		}
		want := []string{ProducedModel, ProducedCache, ProducedModel}[i]
		if ex := p.Exchanges()[0]; ex.Produced != want {
			t.Errorf("request %d (sample %d): produced %q, want %q", i, sample, ex.Produced, want)
		}
	}
	if up.hits.Load() != 2 {
		t.Errorf("upstream hits %d, want 2", up.hits.Load())
	}
}

// Bad input gets a clear error in the wire format, kept as a fault.
func TestProxyBadInput(t *testing.T) {
	// Recorded mode parses every request in full before answering.
	p := newProxy(t, Config{Mode: ModeRecorded, Recording: testRecording()})
	base := serve(t, p)
	cases := []struct {
		path, body string
		status     int
		want       []string
		fault      string
	}{
		{"/v1/embeddings", `{}`, 404, []string{"/v1/chat/completions", "/v1/responses", "/v1/messages"}, FaultPath},
		{"/v1/chat/completions", `not json`, 400, []string{"not a JSON object"}, FaultRequest},
		{"/v1/chat/completions", `{"model":3,"messages":[]}`, 400, []string{`field "model"`}, FaultRequest},
		{"/v1/chat/completions", `{"model":"m"}`, 400, []string{`field "messages"`}, FaultRequest},
		{"/v1/responses", `{"model":"m","input":5}`, 400, []string{`field "input"`}, FaultRequest},
		{"/v1/messages", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, 400, []string{`field "messages[0].role"`, "user or assistant"}, FaultRequest},
		{"/v1/messages", `{"model":"m","messages":[],"stream":"yes"}`, 400, []string{`field "stream"`}, FaultRequest},
	}
	for i, c := range cases {
		resp, body := post(t, base+c.path, c.body, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d: %s", c.path, c.body, resp.StatusCode, c.status, body)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil || v["error"] == nil {
			t.Errorf("%s: the error body is not a JSON error: %s", c.path, body)
		}
		for _, w := range c.want {
			if !strings.Contains(errMessage(body), w) {
				t.Errorf("%s %s: %s lacks %q", c.path, c.body, body, w)
			}
		}
		if ex := p.Exchanges()[i]; ex.Fault != c.fault || ex.Status != c.status {
			t.Errorf("exchange %d: fault %q status %d", i, ex.Fault, ex.Status)
		}
	}
	run := p.Run(trace.RunMeta{})
	if len(run.Warnings) != len(cases) {
		t.Errorf("run warnings: %v", run.Warnings)
	}

	// Forward mode checks what it needs before sending a request on (the
	// rest is the upstream's to judge).
	up, upURL := newUpstream(t, jsonAnswer(chatAnswer))
	fp := newProxy(t, Config{Mode: ModeForward, Upstream: upURL, AnthropicUpstream: upURL})
	fbase := serve(t, fp)
	for _, c := range cases[:5] {
		resp, body := post(t, fbase+c.path, c.body, nil)
		if resp.StatusCode != c.status || !strings.Contains(errMessage(body), c.want[0]) {
			t.Errorf("forward %s %s: status %d: %s", c.path, c.body, resp.StatusCode, body)
		}
	}
	if up.hits.Load() != 0 {
		t.Errorf("%d bad requests reached the upstream", up.hits.Load())
	}
}

func TestProxyNewErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no mode"},
		{Config{Mode: "replay"}, `mode "replay"`},
		{Config{Mode: ModeRecorded}, "needs a recording"},
		{Config{Mode: ModeFork, Recording: &trace.Run{}}, "fork step 0"},
		{Config{Mode: ModeForward, Upstream: "api.openai.com"}, `upstream "api.openai.com"`},
		{Config{Mode: ModeForward, AfterDivergence: "go"}, `after-divergence "go"`},
	} {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want %q", c.cfg, err, c.want)
		}
	}
}

var _ = fmt.Sprint

// errMessage is the message of an error body of either format.
func errMessage(body string) string {
	var v struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal([]byte(body), &v)
	return v.Error.Message
}
