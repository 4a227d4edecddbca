package export

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

func TestTracesURL(t *testing.T) {
	tests := []struct {
		flag, traces, base, want string
	}{
		{"", "", "", ""},
		{"http://localhost:4318", "", "", "http://localhost:4318/v1/traces"},
		{"http://localhost:4318/", "", "", "http://localhost:4318/v1/traces"},
		{"https://otlp.example.com/otlp", "", "", "https://otlp.example.com/otlp/v1/traces"},
		{"http://collector:4318/v1/traces", "", "", "http://collector:4318/v1/traces"},
		{"", "http://c:4318/custom/path", "http://base:4318", "http://c:4318/custom/path"},
		{"", "", "http://base:4318", "http://base:4318/v1/traces"},
		{"http://flag:1", "http://traces:2/x", "http://base:3", "http://flag:1/v1/traces"},
		{"", "https://cloud.langfuse.com/api/public/otel/v1/traces", "", "https://cloud.langfuse.com/api/public/otel/v1/traces"},
	}
	for _, tt := range tests {
		got, err := TracesURL(tt.flag, tt.traces, tt.base)
		if err != nil || got != tt.want {
			t.Errorf("TracesURL(%q, %q, %q) = %q, %v; want %q", tt.flag, tt.traces, tt.base, got, err, tt.want)
		}
	}
	for _, bad := range []string{"localhost:4318", "ftp://x", "http://", "http://h/?a=b", "http://h?", "http://h#", "http://user:pw@h"} {
		if _, err := TracesURL(bad, "", ""); err == nil || !strings.HasPrefix(err.Error(), "--endpoint: invalid endpoint") {
			t.Errorf("TracesURL(%q): %v", bad, err)
		}
	}
	if _, err := TracesURL("", "", "nope"); err == nil || !strings.HasPrefix(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT: ") {
		t.Errorf("the error must name the variable: %v", err)
	}
}

func TestParseHeaders(t *testing.T) {
	h, err := ParseHeaders(" api-key=abc , x-team=a%20b,empty=,Authorization=Basic%20cGs6c2s%3D")
	want := map[string]string{"api-key": "abc", "x-team": "a b", "empty": "", "Authorization": "Basic cGs6c2s="}
	if err != nil || len(h) != len(want) {
		t.Fatalf("%v %v", h, err)
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s = %q, want %q", k, h[k], v)
		}
	}
	for _, bad := range []string{"novalue", "=v", "a b=c", "k=%zz", "k=a%0Ab"} {
		if _, err := ParseHeaders(bad); err == nil {
			t.Errorf("ParseHeaders(%q) accepted", bad)
		}
	}
}

// FuzzParseHeaders: what ParseHeaders accepts is safe to put on a request:
// token names, no line breaks in values.
func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"a=b", "api-key=abc,x=y%20z", "k=%0d%0a", "=", ",,", "k=v=w", "K\x00=v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeaders(s)
		if err != nil {
			return
		}
		for k, v := range h {
			if k == "" || !validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("ParseHeaders(%q) gave %q: %q", s, k, v)
			}
		}
	})
}

// FuzzTracesURL: an accepted endpoint is an http(s) URL with a host whose
// path ends with the traces path (when it came as a base URL).
func FuzzTracesURL(f *testing.F) {
	for _, s := range []string{"http://localhost:4318", "https://h/p/", "http://h/v1/traces", "h:1", "http://[::1]:4318", "http://%zz", "http://h?", "http://h#x"} {
		f.Add(s, "")
		f.Add("", s)
	}
	f.Fuzz(func(t *testing.T, flag, base string) {
		got, err := TracesURL(flag, "", base)
		if err != nil || got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, "/v1/traces") ||
			!strings.HasSuffix(got, "/v1/traces") || u.User != nil {
			t.Fatalf("TracesURL(%q, %q) = %q", flag, base, got)
		}
	})
}

// FuzzExport: any run the native decoder accepts exports without error to
// OTLP and to Langfuse events, deterministically, and the OTLP file
// imports back with as many model and tool calls.
func FuzzExport(f *testing.F) {
	seed, err := os.ReadFile(counterfactual)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"type":"header","header":{"format":"replay-run","version":1}}
{"type":"run","meta":{"id":"0123456789abcdef0123456789abcdef","agent":"a"}}
{"type":"tool","time":"2026-01-01T00:00:00Z","tool":{"name":"Bash","status":"error","duration_ms":-5}}
{"type":"llm","llm":{"output":{"role":"assistant","parts":[{"type":"tool_call","arguments":"not json"}]},"usage":{"input":-1,"output":2,"cache_read":0,"cache_write":0}}}
`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := trace.DecodeRun(context.Background(), bytes.NewReader(data), "fuzz.jsonl")
		if err != nil {
			return
		}
		if run.Meta.ID == "" {
			run.Meta.ID = "0123456789abcdef0123456789abcdef"
		}
		opts := Options{Content: true, Original: OriginalOf(run, nil, FormatOTLP)}
		var a, b bytes.Buffer
		for _, buf := range []*bytes.Buffer{&a, &b} {
			x, err := NewOTLPFile(context.Background(), buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x.Export(context.Background(), run, opts); err != nil {
				t.Fatalf("export: %v", err)
			}
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("two exports differ")
		}
		evs, err := LangfuseEvents(run, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if !json.Valid(e.Body) {
				t.Fatalf("event %s: invalid body", e.ID)
			}
		}
		path := filepath.Join(dir, "export.jsonl")
		if err := os.WriteFile(path, a.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		back := load(t, path)
		ws, gs := trace.Summarize(run, nil), trace.Summarize(back, nil)
		if ws.LLMCalls != gs.LLMCalls || ws.ToolCalls != gs.ToolCalls {
			t.Fatalf("%d llm / %d tool calls exported, %d / %d imported back", ws.LLMCalls, ws.ToolCalls, gs.LLMCalls, gs.ToolCalls)
		}
		// Over OTLP/HTTP in protobuf, which refuses invalid UTF-8: runs made
		// in memory may hold any bytes (a command's raw output).
		raw := string(data[:min(len(data), 8)])
		run.Meta.Agent += raw
		for i := range run.Steps {
			if tc := run.Steps[i].Tool; tc != nil {
				tc.Output += raw
				tc.Name += raw
			}
		}
		if _, err := protoBodies(t, run, opts); err != nil {
			t.Fatalf("protobuf export: %v", err)
		}
	})
}
