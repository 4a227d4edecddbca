package export

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/agentreplay/replay/export/exporttest"
	"github.com/agentreplay/replay/replay/trace"
)

// capture is a transport that answers every request as a healthy
// collector does and keeps the bodies: an OTLP/HTTP export without a
// network.
type capture struct{ bodies [][]byte }

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	c.bodies = append(c.bodies, b)
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{"Content-Type": {"application/x-protobuf"}},
		Body: http.NoBody, Request: r}, nil
}

// protoBodies exports run over OTLP/HTTP in protobuf and decodes what was
// sent with the OTLP protobuf types.
func protoBodies(t testing.TB, run *trace.Run, opts Options) ([]*coltracepb.ExportTraceServiceRequest, error) {
	t.Helper()
	ctx := context.Background()
	tr := &capture{}
	x, err := NewOTLPHTTP(ctx, HTTPOptions{URL: "http://collector.invalid/v1/traces", HTTP: &http.Client{Transport: tr}, RetryFor: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(ctx)
	if _, err := x.Export(ctx, run, opts); err != nil {
		return nil, err
	}
	var out []*coltracepb.ExportTraceServiceRequest
	for _, b := range tr.bodies {
		var pb coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &pb); err != nil {
			t.Fatalf("the OTLP protobuf types refuse the body: %v", err)
		}
		out = append(out, &pb)
	}
	return out, nil
}

// TestOTLPHTTPInvalidUTF8: a run holding bytes that are not UTF-8 (a
// command's raw output, a name) still goes over protobuf, which refuses
// such strings: they arrive with U+FFFD in place, as in the JSON file.
func TestOTLPHTTPInvalidUTF8(t *testing.T) {
	run := &trace.Run{Meta: trace.RunMeta{ID: strings.Repeat("ab", 16), Agent: "rev\xffiew", Replay: &trace.Origin{Of: strings.Repeat("cd", 16),
		Variant: map[string]string{"k\xfe": "v\xfe"}}}, Steps: []trace.Step{
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "m\xff", StopReason: "stop\xff", Error: "bad \xff", Params: trace.Params{Stop: []string{"\xfe"}},
			Output: trace.Message{Role: "assistant"}}},
		{Kind: trace.KindTool, Tool: &trace.ToolCall{Name: "Bash", Output: "bytes \xff\xfe", Status: trace.ToolOK}},
	}}
	reqs, err := protoBodies(t, run, Options{Content: true, Original: OriginalOf(run, nil, FormatOTLP)})
	if err != nil {
		t.Fatal(err)
	}
	spans := reqs[0].ResourceSpans[0].ScopeSpans[0].Spans
	if len(spans) != 3 || spans[2].Name != "invoke_agent rev\uFFFDiew" || spans[0].Status.Message != "bad \uFFFD" {
		t.Fatalf("%d spans: %v", len(spans), spans)
	}
	var result, variant string
	for _, a := range spans[1].Attributes {
		if a.Key == "gen_ai.tool.call.result" {
			result = a.Value.GetStringValue()
		}
	}
	for _, a := range spans[2].Attributes {
		if a.Key == "replay.variant.k\uFFFD" {
			variant = a.Value.GetStringValue()
		}
	}
	if result != "bytes \uFFFD" || variant != "v\uFFFD" {
		t.Errorf("tool result %q, variant %q", result, variant)
	}
}

func sendOTLP(t *testing.T, o HTTPOptions, run *trace.Run, opts Options) (Result, error) {
	t.Helper()
	ctx := context.Background()
	x, err := NewOTLPHTTP(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(ctx)
	return x.Export(ctx, run, opts)
}

// TestOTLPHTTP: the SDK's exporter delivers a run to a collector, in
// protobuf and in JSON, with the headers asked for; the collector decodes
// both as otelcol does, and the protobuf body with the OTLP protobuf types
// too. Exporting again sends the same spans: the store keeps one copy.
func TestOTLPHTTP(t *testing.T) {
	cf := load(t, counterfactual)
	opts := Options{Original: OriginalOf(cf, nil, FormatOTLP)}
	for _, json := range []bool{false, true} {
		c := exporttest.NewCollector()
		defer c.Close()
		o := HTTPOptions{URL: c.Endpoint(), JSON: json, Headers: map[string]string{"Authorization": "Bearer token-1"}}
		res, err := sendOTLP(t, o, cf, opts)
		if err != nil {
			t.Fatalf("json=%v: %v", json, err)
		}
		if res.Spans != 14 || res.TraceID != TraceID(cf.Meta.ID) {
			t.Errorf("json=%v: result %+v", json, res)
		}
		got := c.Received()
		if len(got) != 1 {
			t.Fatalf("json=%v: %d requests", json, len(got))
		}
		wantCT := map[bool]string{false: "application/x-protobuf", true: "application/json"}[json]
		if got[0].ContentType != wantCT || got[0].Header.Get("Authorization") != "Bearer token-1" {
			t.Errorf("json=%v: content type %q, authorization %q", json, got[0].ContentType, got[0].Header.Get("Authorization"))
		}
		if n := len(c.Spans()); n != 14 {
			t.Errorf("json=%v: the collector decoded %d spans, want 14", json, n)
		}
		if !json {
			var pb coltracepb.ExportTraceServiceRequest
			if err := proto.Unmarshal(got[0].Body, &pb); err != nil {
				t.Fatalf("the OTLP protobuf types refuse the body: %v", err)
			}
			spans := pb.ResourceSpans[0].ScopeSpans[0].Spans
			last := spans[len(spans)-1]
			if len(spans) != 14 || last.Name != "invoke_agent review" || len(last.Links) != 1 || len(last.ParentSpanId) != 0 {
				t.Errorf("protobuf: %d spans, the last %q with %d links", len(spans), last.Name, len(last.Links))
			}
		}
		if _, err := sendOTLP(t, o, cf, opts); err != nil {
			t.Fatal(err)
		}
		if len(c.Received()) != 2 || len(c.Spans()) != 14 {
			t.Errorf("json=%v: a second export must send the same 14 spans again: %d requests, %d distinct spans", json, len(c.Received()), len(c.Spans()))
		}
	}
}

// TestOTLPHTTPGzip: compressed requests, as OTEL_EXPORTER_OTLP_COMPRESSION
// asks, decode as the same spans; without Gzip the exporter sends them
// plain whatever the process's environment says.
func TestOTLPHTTPGzip(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
	cf := load(t, counterfactual)
	for _, gz := range []bool{false, true} {
		c := exporttest.NewCollector()
		if _, err := sendOTLP(t, HTTPOptions{URL: c.Endpoint(), Gzip: gz}, cf, Options{}); err != nil {
			t.Fatal(err)
		}
		got := c.Received()
		if len(got) != 1 || (got[0].Header.Get("Content-Encoding") == "gzip") != gz || len(c.Spans()) != 14 {
			t.Errorf("gzip=%v: %d requests, encoding %q, %d spans", gz, len(got), got[0].Header.Get("Content-Encoding"), len(c.Spans()))
		}
		c.Close()
	}
}

// TestOTLPHTTPLargeRunInSeveralRequests: a run whose content passes the
// request bound goes in several requests, no span lost.
func TestOTLPHTTPLargeRunInSeveralRequests(t *testing.T) {
	cf := load(t, counterfactual)
	c := exporttest.NewCollector()
	defer c.Close()
	ctx := context.Background()
	x, err := NewOTLPHTTP(ctx, HTTPOptions{URL: c.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(ctx)
	x.maxRequest = 8 << 10
	if _, err := x.Export(ctx, cf, Options{Content: true}); err != nil {
		t.Fatal(err)
	}
	if len(c.Received()) < 3 || len(c.Spans()) != 14 {
		t.Errorf("%d requests, %d spans", len(c.Received()), len(c.Spans()))
	}
}

// TestOTLPHTTPFailures: every failure names the endpoint; what the
// collector refuses is not retried, what it cannot take now is, within
// RetryFor; a partial success is an error.
func TestOTLPHTTPFailures(t *testing.T) {
	cf := load(t, counterfactual)
	tests := []struct {
		name     string
		setup    func(*exporttest.Collector)
		o        HTTPOptions
		want     []string
		attempts func(int) bool
	}{
		{
			name: "400",
			setup: func(c *exporttest.Collector) {
				c.Respond = func(int) (int, string) { return 400, "invalid span: missing name" }
			},
			want:     []string{"400 Bad Request", "invalid span: missing name"},
			attempts: func(n int) bool { return n == 1 },
		},
		{
			name:     "404 wrong path",
			o:        HTTPOptions{},
			want:     []string{"404 Not Found"},
			attempts: func(n int) bool { return n == 1 },
		},
		{
			name:     "503 until the retry time is up",
			setup:    func(c *exporttest.Collector) { c.Respond = func(int) (int, string) { return 503, "overloaded" } },
			o:        HTTPOptions{RetryFor: 1500 * time.Millisecond},
			want:     []string{"503", "overloaded"},
			attempts: func(n int) bool { return n >= 2 },
		},
		{
			name: "503 then ok",
			setup: func(c *exporttest.Collector) {
				c.Respond = func(n int) (int, string) { return map[bool]int{true: 503}[n == 0], "" }
			},
			attempts: func(n int) bool { return n == 2 },
		},
		{
			name:     "timeout",
			setup:    func(c *exporttest.Collector) { c.Delay = 2 * time.Second },
			o:        HTTPOptions{Timeout: 200 * time.Millisecond, RetryFor: -1},
			want:     []string{"no answer within 200ms"},
			attempts: func(n int) bool { return n == 1 },
		},
		{
			name:     "partial success",
			setup:    func(c *exporttest.Collector) { c.Reject = 3 },
			want:     []string{"3 spans rejected", "over the span limit"},
			attempts: func(n int) bool { return n == 1 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := exporttest.NewCollector()
			defer c.Close()
			if tt.setup != nil {
				tt.setup(c)
			}
			o := tt.o
			o.URL = c.Endpoint()
			if tt.name == "404 wrong path" {
				o.URL = c.URL + "/v1/trace"
			}
			_, err := sendOTLP(t, o, cf, Options{})
			if !tt.attempts(c.Attempts()) {
				t.Errorf("%d attempts", c.Attempts())
			}
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, "export run "+cf.Meta.ID+" to "+o.URL+": ") || strings.Contains(msg, "traces export:") {
				t.Errorf("the error must name the run and the endpoint once: %v", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestOTLPHTTPCancel(t *testing.T) {
	cf := load(t, counterfactual)
	c := exporttest.NewCollector()
	defer c.Close()
	c.Delay = 5 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	x, err := NewOTLPHTTP(ctx, HTTPOptions{URL: c.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err = x.Export(ctx, cf, Options{})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Errorf("a cancelled export ends at once with the context's error: %v after %v", err, time.Since(start))
	}
}

func TestNewOTLPHTTPRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:4318", "ftp://host/v1/traces", "http:///v1/traces"} {
		if _, err := NewOTLPHTTP(context.Background(), HTTPOptions{URL: u}); err == nil || !strings.Contains(err.Error(), "invalid endpoint") {
			t.Errorf("URL %q: %v", u, err)
		}
	}
}
