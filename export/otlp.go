package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentreplay/replay/replay/trace"
)

// Formats an export can take.
const (
	FormatOTLP     = "otlp"
	FormatLangfuse = "langfuse"
)

// Result is what one run's export produced.
type Result struct {
	Run      string    `json:"run"`      // the run's store id
	TraceID  string    `json:"trace_id"` // the trace it became
	Spans    int       `json:"spans,omitempty"`
	Events   int       `json:"events,omitempty"` // Langfuse ingestion events
	Original *Original `json:"original,omitempty"`
}

// OTLP delivers runs as OTLP through the OpenTelemetry SDK's OTLP/HTTP
// exporter: to a collector, or to a file of OTLP/JSON Lines (one
// TracesData, the body the exporter sends with the JSON encoding, per run).
type OTLP struct {
	exp  *otlptrace.Exporter
	dest string // the endpoint URL, or "file"
	// maxRequest bounds the estimated size of one request; a run whose
	// spans are larger (message content) is sent in several.
	maxRequest int
	file       *fileSink
	status     *lastStatus // HTTP only
	timeout    time.Duration
}

// isTimeout reports whether err is a request that timed out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// HTTPOptions configure an OTLP/HTTP export.
type HTTPOptions struct {
	// URL is the traces endpoint, used as it is (see TracesURL), e.g.
	// http://localhost:4318/v1/traces.
	URL     string
	Headers map[string]string
	// Timeout bounds each request (default 10 s); RetryFor bounds the
	// retries of a request refused as overloaded or unavailable (429, 502,
	// 503, 504) or cut off (default 30 s; negative: no retry).
	Timeout  time.Duration
	RetryFor time.Duration
	// JSON sends OTLP/JSON instead of protobuf.
	JSON bool
	// Gzip compresses the requests (OTEL_EXPORTER_OTLP_COMPRESSION=gzip).
	Gzip bool
	// HTTP is the client to use (nil: the exporter's own).
	HTTP *http.Client
}

// NewOTLPHTTP returns an OTLP export to the collector at o.URL.
func NewOTLPHTTP(ctx context.Context, o HTTPOptions) (*OTLP, error) {
	if _, err := parseEndpoint(o.URL); err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	retry := otlptracehttp.RetryConfig{Enabled: o.RetryFor >= 0, InitialInterval: 500 * time.Millisecond,
		MaxInterval: 5 * time.Second, MaxElapsedTime: o.RetryFor}
	if o.RetryFor == 0 {
		retry.MaxElapsedTime = 30 * time.Second
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(o.URL),
		otlptracehttp.WithTimeout(timeout),
		otlptracehttp.WithRetry(retry),
		// Explicitly, so that no OTEL_EXPORTER_OTLP_HEADERS of the process
		// adds to what the caller passed.
		otlptracehttp.WithHeaders(o.Headers),
	}
	if o.JSON {
		opts = append(opts, otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON))
	}
	// Explicitly too: the exporter would read OTEL_EXPORTER_OTLP_COMPRESSION
	// from the process, and configuration enters at the CLI.
	if o.Gzip {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	} else {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	}
	// The exporter's errors for answers it retried do not say the status:
	// the transport notes the last one.
	hc := &http.Client{Timeout: timeout}
	if o.HTTP != nil {
		c := *o.HTTP
		hc = &c
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	status := &lastStatus{base: base}
	hc.Transport = status
	opts = append(opts, otlptracehttp.WithHTTPClient(hc))
	exp, err := otlptrace.New(ctx, otlptracehttp.NewClient(opts...))
	if err != nil {
		return nil, fmt.Errorf("export to %s: %w", o.URL, err)
	}
	return &OTLP{exp: exp, dest: o.URL, maxRequest: 4 << 20, status: status, timeout: timeout}, nil
}

// lastStatus is a transport that remembers the status of the last answer.
type lastStatus struct {
	base http.RoundTripper
	mu   sync.Mutex
	last string
}

func (l *lastStatus) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = ""
	if err == nil {
		l.last = resp.Status
	}
	return resp, err
}

func (l *lastStatus) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.last
	l.last = ""
	return s
}

// NewOTLPFile returns an OTLP export that writes OTLP/JSON Lines to w: for
// each run one line (several for a run past 32 MiB) holding what the OTLP/HTTP exporter would send a
// collector with the JSON encoding (a TracesData: hex ids, integer enums,
// 64-bit integers as strings), which a collector's OTLP/JSON decoder and
// replay's importer read.
func NewOTLPFile(ctx context.Context, w io.Writer) (*OTLP, error) {
	sink := &fileSink{w: w}
	client := otlptracehttp.NewClient(
		// The exporter "sends" to sink, which writes each body as a line:
		// the encoding is the exporter's own, nothing is on the network.
		otlptracehttp.WithEndpointURL("http://otlp-file.invalid/v1/traces"),
		otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON),
		otlptracehttp.WithCompression(otlptracehttp.NoCompression),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
		otlptracehttp.WithHeaders(map[string]string{}),
		otlptracehttp.WithHTTPClient(&http.Client{Transport: sink}),
	)
	exp, err := otlptrace.New(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("export to a file: %w", err)
	}
	// A run goes on one line unless it is larger than the exporter takes
	// in one request (64 MiB): then on as many as it needs.
	return &OTLP{exp: exp, dest: "file", file: sink, maxRequest: 32 << 20}, nil
}

// Export exports one run.
func (x *OTLP) Export(ctx context.Context, run *trace.Run, opts Options) (Result, error) {
	spans, err := Spans(ctx, run, opts)
	if err != nil {
		return Result{}, err
	}
	res := Result{Run: run.Meta.ID, TraceID: TraceID(run.Meta.ID), Spans: len(spans), Original: opts.Original}
	for _, chunk := range x.chunks(spans) {
		if x.status != nil {
			x.status.take()
		}
		if err := x.exp.ExportSpans(ctx, chunk); err != nil {
			if x.file != nil {
				return Result{}, fmt.Errorf("export run %s: %w", run.Meta.ID, x.file.cause(err))
			}
			if errors.Is(ctx.Err(), context.Canceled) {
				return Result{}, ctx.Err()
			}
			err = unwrapExport(err)
			if st := x.status.take(); st != "" && !strings.Contains(err.Error(), st) {
				err = fmt.Errorf("%w (last answer: %s)", err, st)
			} else if isTimeout(err) {
				err = fmt.Errorf("%w (no answer within %s)", err, x.timeout)
			}
			return Result{}, fmt.Errorf("export run %s to %s: %w", run.Meta.ID, x.dest, err)
		}
	}
	return res, nil
}

// Close stops the exporter.
func (x *OTLP) Close(ctx context.Context) error {
	return x.exp.Shutdown(ctx)
}

// chunks splits a run's spans into requests of at most maxRequest bytes
// (estimated from their attributes).
func (x *OTLP) chunks(spans []sdktrace.ReadOnlySpan) [][]sdktrace.ReadOnlySpan {
	if x.maxRequest <= 0 {
		return [][]sdktrace.ReadOnlySpan{spans}
	}
	var (
		out  [][]sdktrace.ReadOnlySpan
		cur  []sdktrace.ReadOnlySpan
		size int
	)
	for _, s := range spans {
		n := spanSize(s)
		if len(cur) > 0 && size+n > x.maxRequest {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, s)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func spanSize(s sdktrace.ReadOnlySpan) int {
	n := 256 + len(s.Name())
	for _, a := range s.Attributes() {
		n += 16 + len(a.Key) + len(a.Value.Emit())
	}
	return n
}

// unwrapExport drops the exporter's "traces export: " prefix: the caller
// names the endpoint.
func unwrapExport(err error) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "traces export: "); ok {
		return &prefixless{msg: rest, err: err}
	}
	return err
}

type prefixless struct {
	msg string
	err error
}

func (e *prefixless) Error() string { return e.msg }
func (e *prefixless) Unwrap() error { return e.err }

// fileSink is the transport of a file export: each request body the
// exporter makes becomes a line of the file.
type fileSink struct {
	mu   sync.Mutex
	w    io.Writer
	werr error // the last write error, for Export to report
}

func (f *fileSink) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	body = bytes.TrimSpace(body)
	if bytes.IndexByte(body, '\n') >= 0 {
		// encoding/json escapes newlines inside strings; a raw one is a bug.
		f.werr = errors.New("the OTLP/JSON encoder wrote a line break")
		return nil, f.werr
	}
	if _, err := f.w.Write(append(body, '\n')); err != nil {
		f.werr = err
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// cause is the write error behind an export error, when there is one.
func (f *fileSink) cause(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.werr != nil {
		return fmt.Errorf("write OTLP/JSON: %w", f.werr)
	}
	return err
}
