package importers_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
)

const header = `{"type":"header","header":{"format":"replay-run","version":1}}` + "\n"

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAllHasNativeFirstAndUniqueNames(t *testing.T) {
	names := importers.Names()
	if len(names) == 0 || names[0] != trace.NativeName {
		t.Fatalf("Names() = %q, want native first", names)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("format name %q registered twice", n)
		}
		seen[n] = true
	}
}

func TestDetect(t *testing.T) {
	emptyDir := t.TempDir()
	review, _ := filepath.Abs("testdata/review.jsonl")
	tests := []struct {
		name    string
		path    string
		force   string
		want    string // format name; "" = error
		errHas  string
		notType bool // the error wraps trace.ErrNotTrace
	}{
		{name: "native file", path: review, want: "native"},
		{name: "forced", path: write(t, "blank-first.jsonl", []byte("\n"+header)), force: "native", want: "native"},
		{name: "blank first line is not detected", path: write(t, "blank-first.jsonl", []byte("\n"+header)),
			errHas: "no known trace format in this file (tried native", notType: true},
		{name: "unknown forced format", path: review, force: "bogus", errHas: `unknown format "bogus": valid formats are native`},
		{name: "empty file", path: write(t, "empty.jsonl", nil), errHas: "empty file", notType: true},
		{name: "empty file forced", path: write(t, "empty.jsonl", nil), force: "native", errHas: "empty file", notType: true},
		{name: "whitespace only", path: write(t, "ws.jsonl", []byte(" \n\n\t\n")), errHas: "only whitespace", notType: true},
		{name: "binary", path: write(t, "a.bin", []byte("\x7fELF\x02\x01\x01\x00\x00")), errHas: "binary file (NUL bytes", notType: true},
		{name: "gzip", path: write(t, "t.jsonl.gz", []byte{0x1f, 0x8b, 8, 0, 0, 0}), errHas: "gzip-compressed", notType: true},
		{name: "utf-16", path: write(t, "t.jsonl", []byte("\xff\xfe{\x00}\x00")), errHas: "UTF-16", notType: true},
		{name: "directory without trace", path: emptyDir, errHas: "no known trace format in this directory", notType: true},
		{name: "missing", path: filepath.Join(emptyDir, "nope.jsonl"), errHas: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := importers.Open(tt.path)
			var f trace.Format
			if err == nil {
				f, err = importers.Detect(src, tt.force)
			}
			if tt.want != "" {
				if err != nil || f.Name() != tt.want {
					t.Fatalf("got %v, %v; want %s", f, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("detected %s, want an error", f.Name())
			}
			if !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), filepath.Base(tt.path)) && tt.force != "bogus" {
				t.Errorf("error %q: want it to name the input and contain %q", err, tt.errHas)
			}
			if errors.Is(err, trace.ErrNotTrace) != tt.notType {
				t.Errorf("errors.Is(err, ErrNotTrace) = %v, want %v", !tt.notType, tt.notType)
			}
		})
	}
	if _, err := importers.Open(filepath.Join(emptyDir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing path must be fs.ErrNotExist for callers that fall back to an id, got %v", err)
	}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	var c trace.Collector
	f, err := importers.Import(ctx, "testdata/review.jsonl", "", trace.Options{}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "native" {
		t.Errorf("format %s", f.Name())
	}
	r := c.Run()
	// The stored format is the one the native file records, not "native".
	if r.Meta.Format != "claude-code" || r.Meta.Agent != "review" || len(r.Steps) != 6 || len(r.Children) != 1 {
		t.Errorf("run: format %q agent %q, %d steps, %d children", r.Meta.Format, r.Meta.Agent, len(r.Steps), len(r.Children))
	}

	// A native file without Format and Source gets them from the registry.
	path := write(t, "bare.jsonl", []byte(header+`{"type":"run","meta":{"agent":"x"}}`+"\n"+
		`{"type":"message","message":{"role":"user","parts":[{"type":"text","text":"hi"}]}}`+"\n"))
	var c2 trace.Collector
	if _, err := importers.Import(ctx, path, "", trace.Options{}, &c2); err != nil {
		t.Fatal(err)
	}
	if m := c2.Run().Meta; m.Format != "native" || m.Source != path {
		t.Errorf("format %q source %q, want native and %q", m.Format, m.Source, path)
	}

	// A header and nothing else is no trace.
	path = write(t, "header-only.jsonl", []byte(header))
	_, err = importers.Import(ctx, path, "", trace.Options{}, &trace.Collector{})
	if !errors.Is(err, trace.ErrNotTrace) || !strings.Contains(err.Error(), "no run found") {
		t.Errorf("header only: %v", err)
	}

	// Bad JSON: a file:line error, or a warning with --lenient.
	path = write(t, "bad.jsonl", []byte(header+`{"type":"run","meta":{}}`+"\n{oops\n"+`{"type":"message","message":{"role":"user"}}`+"\n"))
	_, err = importers.Import(ctx, path, "", trace.Options{}, &trace.Collector{})
	var le *trace.LineError
	if !errors.As(err, &le) || le.Line != 3 || !strings.HasPrefix(err.Error(), path+":3: invalid JSON") {
		t.Errorf("bad line: %v", err)
	}
	var c3 trace.Collector
	if _, err := importers.Import(ctx, path, "", trace.Options{Lenient: true}, &c3); err != nil {
		t.Fatalf("lenient: %v", err)
	}
	if r := c3.Run(); len(r.Steps) != 1 || len(r.Warnings) != 1 || r.Warnings[0].Line != 3 {
		t.Errorf("lenient: %d steps, warnings %v", len(r.Steps), r.Warnings)
	}

	// Cancellation is passed through unwrapped.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	big := bytes.Repeat([]byte(`{"type":"message","message":{"role":"user"}}`+"\n"), 5000)
	path = write(t, "big.jsonl", append([]byte(header+`{"type":"run","meta":{}}`+"\n"), big...))
	if _, err := importers.Import(cctx, path, "", trace.Options{}, &trace.Collector{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled import: %v", err)
	}
}

// FuzzImport feeds arbitrary files through detection and every format's
// importer: nothing may panic, and a successful import always declares the
// main run with its format and source.
func FuzzImport(f *testing.F) {
	for _, s := range []string{
		header + `{"type":"run","meta":{}}` + "\n",
		"\n" + header,
		"",
		"\x00\x01",
		header + `{"type":"tool","tool":{"name":"x","status":"ok"}}`,
	} {
		f.Add([]byte(s), "")
	}
	review, err := os.ReadFile("testdata/review.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(review, "native")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, force string) {
		path := filepath.Join(dir, "in.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var c trace.Collector
		if _, err := importers.Import(context.Background(), path, force, trace.Options{Lenient: len(data)%2 == 0}, &c); err != nil {
			return
		}
		if m := c.Run().Meta; m.Format == "" || m.Source == "" {
			t.Fatalf("imported a run without format or source: %+v", m)
		}
	})
}

// TestDetectLongFirstLine: a trace whose first record is longer than the
// detection window is recognized by its record, whatever the format, and the
// fields detection needs may come after the long value.
func TestDetectLongFirstLine(t *testing.T) {
	big := strings.Repeat("x", 3*trace.HeadSize)
	cases := []struct{ name, data, want string }{
		{"claude transcript, sessionId after a long prompt", `{"type":"user","message":{"role":"user","content":"` + big + `"},"uuid":"u","parentUuid":null,"sessionId":"s","timestamp":"2025-01-01T00:00:00Z"}` + "\n" +
			`{"type":"assistant","message":{"id":"m","model":"claude-x","content":[{"type":"text","text":"ok"}],"usage":{"output_tokens":1}},"uuid":"a","sessionId":"s"}` + "\n", "claude-code"},
		{"claude transcript, a long snapshot first", `{"type":"file-history-snapshot","messageId":"m","snapshot":{"trackedFileBackups":{"a":"` + big + `"},"messageId":"m"},"isSnapshotUpdate":false}` + "\n" +
			`{"type":"user","message":{"role":"user","content":"hi"},"uuid":"u","sessionId":"s"}` + "\n", "claude-code"},
		{"OTLP line with many long attributes", otlpLine(big), "otlp-json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, "in.jsonl", []byte(tc.data))
			src, err := importers.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(src.Head) > 64<<10+trace.HeadSize {
				t.Errorf("head of %d bytes for a %d-byte file: detection must not read the whole record", len(src.Head), len(tc.data))
			}
			f, err := importers.Detect(src, "")
			if err != nil {
				t.Fatal(err)
			}
			if f.Name() != tc.want {
				t.Fatalf("detected %s, want %s", f.Name(), tc.want)
			}
			if _, err := importers.Import(context.Background(), p, "", trace.Options{}, &trace.Collector{}); err != nil {
				t.Fatalf("import: %v", err)
			}
		})
	}
}

func otlpLine(big string) string {
	var attrs []string
	for i := 0; i < 40; i++ {
		attrs = append(attrs, `{"key":"k`+string(rune('a'+i%26))+`","value":{"stringValue":"`+big[:trace.HeadSize/8]+`"}}`)
	}
	return `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"scopeSpans":[{"scope":{"name":"s"},"spans":[` +
		`{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"chat gpt-4o","kind":3,"startTimeUnixNano":"1","endTimeUnixNano":"2",` +
		`"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},` + strings.Join(attrs, ",") + `]}]}]}]}` + "\n"
}

// TestHintsLeadSomewhere: an inspect_ai .eval log (a zip) is not answered
// with "unpack it", which would lead nowhere; another zip still is.
func TestHintsLeadSomewhere(t *testing.T) {
	zip := []byte("PK\x03\x04" + strings.Repeat("\x00", 64))
	_, err := importers.Import(context.Background(), write(t, "log.eval", zip), "", trace.Options{}, &trace.Collector{})
	if err == nil || strings.Contains(err.Error(), "unpack") || !strings.Contains(err.Error(), "inspect_ai") || !errors.Is(err, trace.ErrNotTrace) {
		t.Errorf(".eval: %v", err)
	}
	_, err = importers.Import(context.Background(), write(t, "artifact.zip", zip), "", trace.Options{}, &trace.Collector{})
	if err == nil || !strings.Contains(err.Error(), "unpack it") {
		t.Errorf(".zip: %v", err)
	}
}
