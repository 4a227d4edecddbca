package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/agentreplay/replay/export"
	"github.com/agentreplay/replay/export/exporttest"
	"github.com/agentreplay/replay/internal/fakemodel"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace/langfuse"
)

// fakeLangfuseCmd is the testscript command "fakelangfuse":
//
//	fakelangfuse start [refuse=TYPE]  a Langfuse server for the script at $FAKE_LANGFUSE
//	                                  (keys pk-lf-test, sk-lf-test); refuse=TYPE refuses
//	                                  the events of that type (207 per-event errors)
//	fakelangfuse stats                one line per trace it holds: id, name, tags, the
//	                                  original it links, observations by type
func fakeLangfuseCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: fakelangfuse start [refuse=TYPE] | stats")
	}
	switch args[0] {
	case "start":
		l := exporttest.NewLangfuse("pk-lf-test", "sk-lf-test")
		for _, a := range args[1:] {
			if typ, ok := strings.CutPrefix(a, "refuse="); ok {
				l.Refuse = func(ev exporttest.Event) string {
					if ev.Type == typ {
						return "refused by the test"
					}
					return ""
				}
			}
		}
		ts.Defer(l.Close)
		ts.Setenv("FAKE_LANGFUSE", l.URL)
	case "stats":
		base := ts.Getenv("FAKE_LANGFUSE")
		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		lfGet(ts, base+"/api/public/traces", &list)
		for _, t := range list.Data {
			var tr struct {
				Name         string            `json:"name"`
				Tags         []string          `json:"tags"`
				Metadata     map[string]any    `json:"metadata"`
				Observations []json.RawMessage `json:"observations"`
			}
			lfGet(ts, base+"/api/public/traces/"+t.ID, &tr)
			types := map[string]int{}
			for _, o := range tr.Observations {
				var ob struct {
					Type string `json:"type"`
				}
				json.Unmarshal(o, &ob)
				types[ob.Type]++
			}
			var counts []string
			for k, v := range types {
				counts = append(counts, fmt.Sprintf("%s=%d", k, v))
			}
			sort.Strings(counts)
			fmt.Fprintf(ts.Stdout(), "trace %s name=%s tags=%s original=%v %s\n", t.ID, tr.Name, strings.Join(tr.Tags, ","),
				tr.Metadata["replay.original.trace_id"], strings.Join(counts, " "))
		}
	default:
		ts.Fatalf("fakelangfuse: unknown subcommand %q", args[0])
	}
}

func lfGet(ts *testscript.TestScript, url string, v any) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth("pk-lf-test", "sk-lf-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.Fatalf("fakelangfuse: %v", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		ts.Fatalf("fakelangfuse: decode %s: %v", url, err)
	}
}

// storeDigest is a digest of every stored trace file and of the index's
// listing: what the user's runs are.
func storeDigest(t *testing.T, home string) string {
	t.Helper()
	h := sha256.New()
	filepath.WalkDir(filepath.Join(home, "traces"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %x\n", p, sha256.Sum256(b))
		return nil
	})
	_, out, _ := runCLI(t, nil, "--home", home, "ls", "--json", "--limit", "0")
	io.WriteString(h, out)
	return hex.EncodeToString(h.Sum(nil))
}

const (
	exampleRun = "../../testdata/example/run"
	cfFixture  = "../../export/testdata/counterfactual.jsonl"
)

// importExample stores the bundled example and its counterfactual replay.
func importExample(t *testing.T) (home, origID, replayID string) {
	t.Helper()
	home = t.TempDir()
	code, out, errs := runCLI(t, nil, "--home", home, "import", exampleRun, cfFixture)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return home, strings.Fields(lines[0])[0], strings.Fields(lines[1])[0]
}

// TestExportToCollectorFromEnvironment: OTEL_EXPORTER_OTLP_ENDPOINT and
// _HEADERS, read from the command's environment, send the stored runs a
// filter selects; the replay links to the original's export; again, the
// same spans.
func TestExportToCollectorFromEnvironment(t *testing.T) {
	home, origID, replayID := importExample(t)
	c := exporttest.NewCollector()
	defer c.Close()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": c.URL, "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=k%201"}
	for range 2 {
		code, out, errs := runCLI(t, env, "--home", home, "export", "--agent", "review", "--since", "3650d", "--json")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errs)
		}
		var rep struct {
			Destination string          `json:"destination"`
			Exported    []export.Result `json:"exported"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Exported) != 2 || rep.Destination != c.Endpoint() {
			t.Fatalf("%v\n%s", err, out)
		}
		// Oldest first: the original, then its replay, linked to it.
		if rep.Exported[0].Run != origID || rep.Exported[1].Run != replayID || rep.Exported[1].Original == nil ||
			rep.Exported[1].Original.TraceID != rep.Exported[0].TraceID {
			t.Errorf("exported %+v", rep.Exported)
		}
	}
	got := c.Received()
	if len(got) != 4 || got[0].Header.Get("x-api-key") != "k 1" || got[0].ContentType != "application/x-protobuf" {
		t.Fatalf("%d requests; first: %v", len(got), got[0].Header)
	}
	// The original: 1 agent + 7 model + 6 tool calls of the review, 1 + 3
	// + 2 of its security sub-agent; the replay: 14 spans.
	if n := len(c.Spans()); n != 20+14 {
		t.Errorf("%d distinct spans after two exports, want 34", n)
	}
}

// TestExportFailureKeepsTheStore: a collector that refuses, or answers too
// late, fails the export with exit 3 and the endpoint named; the store is
// as it was.
func TestExportFailureKeepsTheStore(t *testing.T) {
	home, _, replayID := importExample(t)
	before := storeDigest(t, home)
	for _, tt := range []struct {
		name  string
		setup func(*exporttest.Collector)
		args  []string
		want  string
	}{
		{"500", func(c *exporttest.Collector) { c.Respond = func(int) (int, string) { return 500, "disk full" } }, nil, "500 Internal Server Error (body: disk full)"},
		{"timeout", func(c *exporttest.Collector) { c.Delay = 3e9 }, []string{"--timeout", "200ms"}, "no answer within 200ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := exporttest.NewCollector()
			defer c.Close()
			tt.setup(c)
			args := append([]string{"--home", home, "export", replayID[:8], "--endpoint", c.URL}, tt.args...)
			code, out, errs := runCLI(t, nil, args...)
			if code != ExitIncomplete || out != "" || !strings.Contains(errs, "to "+c.Endpoint()+": ") || !strings.Contains(errs, tt.want) ||
				!strings.Contains(errs, "1 of 1 runs were not exported") {
				t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errs)
			}
		})
	}
	if storeDigest(t, home) != before {
		t.Error("a failed export changed the store")
	}
}

// TestExportBatchStopsAtAnUnreachableBackend: once a request fails, the
// other runs are not tried (they would fail alike), and say so.
func TestExportBatchStopsAtAnUnreachableBackend(t *testing.T) {
	home, _, _ := importExample(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	code, out, errs := runCLI(t, nil, "--home", home, "export", "--since", "3650d", "--endpoint", url, "--json", "--timeout", "1s")
	if code != ExitIncomplete || !strings.Contains(errs, "1 more run not attempted") || !strings.Contains(errs, "2 of 2 runs were not exported") ||
		!strings.Contains(out, `"error": "not attempted: the export before failed"`) {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}

// TestExportAfterRun: replay run --export otlp sends the new run to
// $OTEL_EXPORTER_OTLP_ENDPOINT when it ends, linked to the original; with
// no endpoint set it refuses before running; when the export fails, the new
// run is stored anyway and the exit code is 3. --export langfuse sends it to
// $LANGFUSE_HOST.
func TestExportAfterRun(t *testing.T) {
	code, _, errs := runCLI(t, nil, "--home", t.TempDir(), "run", exampleRun, "--model", "m", "--export", "otlp")
	if code != ExitUsage || !strings.Contains(errs, "--export otlp: set OTEL_EXPORTER_OTLP_ENDPOINT") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, nil, "--home", t.TempDir(), "run", exampleRun, "--export", "zipkin"); code != ExitUsage || !strings.Contains(errs, `--export "zipkin"`) {
		t.Fatalf("exit %d: %s", code, errs)
	}

	env, flags := replayEnv(t)
	script, err := fakemodel.Load("../../testdata/example/fake-model.json")
	if err != nil {
		t.Fatal(err)
	}
	model := httptest.NewServer(&fakemodel.Server{Script: script})
	defer model.Close()
	c := exporttest.NewCollector()
	defer c.Close()
	env["OPENAI_API_KEY"] = "sk-test"
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = c.URL
	runArgs := func(format string) []string {
		return append([]string{flags[0], flags[1], "run", exampleRun, "--model", "fake-reviewer", "--base-url", model.URL + "/v1", "--export", format}, flags[2:]...)
	}
	code, out, errs := runCLI(t, env, runArgs("otlp")...)
	if code != 0 || !strings.Contains(out, "replay of 5c737df20844") || !strings.Contains(errs, "exported ") || !strings.Contains(errs, "linked to trace "+export.TraceID("5c737df208441331f47b41c414394b5c")) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var agent bool
	for _, s := range c.Spans() {
		if s.Name() == "invoke_agent review" && s.Links().Len() == 1 {
			agent = s.Attributes().AsRaw()["replay.variant.model"] == "fake-reviewer"
		}
	}
	if !agent {
		t.Errorf("the collector has no agent span of the replay linked to the original (%d spans)", len(c.Spans()))
	}

	c.Respond = func(int) (int, string) { return 400, "no" }
	code, _, errs = runCLI(t, env, runArgs("otlp")...)
	if code != ExitIncomplete || !strings.Contains(errs, "the new run is stored; 1 of 1 runs were not exported") {
		t.Errorf("exit %d\n%s", code, errs)
	}

	// To Langfuse: the new run as a trace tagged replay, linked to the original.
	l := exporttest.NewLangfuse("pk-lf-test", "sk-lf-test")
	defer l.Close()
	env["LANGFUSE_HOST"], env["LANGFUSE_PUBLIC_KEY"], env["LANGFUSE_SECRET_KEY"] = l.URL, "pk-lf-test", "sk-lf-test"
	code, out, errs = runCLI(t, env, runArgs("langfuse")...)
	if code != 0 || len(l.Traces()) != 1 {
		t.Fatalf("exit %d, %d traces\n%s\n%s", code, len(l.Traces()), out, errs)
	}
	tr, obs := l.Trace(l.Traces()[0])
	meta, _ := tr["metadata"].(map[string]any)
	if !cmp.Equal(tr["tags"], []any{"replay", "replay:run"}) || meta["replay.original.trace_id"] != export.TraceID("5c737df208441331f47b41c414394b5c") || len(obs) == 0 {
		t.Errorf("trace %v", tr)
	}
}

// Test_NewCmdExport: `replay export`'s flags and environment become a
// request, without I/O; mistakes are usage errors.
func Test_NewCmdExport(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	otlp := func(url string, mod func(o *export.HTTPOptions)) exportDest {
		o := &export.HTTPOptions{URL: url, Headers: map[string]string{}, Timeout: 30 * time.Second, RetryFor: 30 * time.Second}
		if mod != nil {
			mod(o)
		}
		return exportDest{OTLP: o}
	}
	lf := func(host string) exportDest {
		return exportDest{Langfuse: &langfuse.Client{Host: host, PublicKey: "pk", SecretKey: "sk", HTTP: &http.Client{Timeout: 30 * time.Second}}}
	}
	keys := map[string]string{"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(r *exportRequest)
		wantErr string
	}{
		{name: "defaults: OTLP/JSON to stdout", args: []string{"r.jsonl"}, want: func(r *exportRequest) {}},
		{name: "a file, with content", args: []string{"r.jsonl", "a1b2c3d4", "-o", "out.jsonl", "--content"},
			want: func(r *exportRequest) {
				r.Targets, r.Content, r.Dest = []string{"r.jsonl", "a1b2c3d4"}, true, exportDest{File: "out.jsonl"}
			}},
		{name: "a collector", args: []string{"r.jsonl", "--endpoint", "http://localhost:4318", "--timeout", "5s", "--json"},
			want: func(r *exportRequest) {
				r.Timeout, r.JSON = 5*time.Second, true
				r.Dest = otlp("http://localhost:4318/v1/traces", func(o *export.HTTPOptions) { o.Timeout, o.RetryFor = 5*time.Second, 5*time.Second })
			}},
		{name: "the collector of the environment", args: []string{"r.jsonl"},
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318", "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
			want: func(r *exportRequest) {
				r.Dest = otlp("http://base:4318/v1/traces", func(o *export.HTTPOptions) {
					o.Headers, o.JSON, o.Gzip = map[string]string{"a": "1"}, true, true
				})
			}},
		{name: "the traces variables win; the flag over all", args: []string{"r.jsonl"},
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/custom",
				"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2",
				"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none"},
			want: func(r *exportRequest) {
				r.Dest = otlp("http://t:4318/custom", func(o *export.HTTPOptions) { o.Headers = map[string]string{"b": "2"} })
			}},
		{name: "-o wins over the environment's collector", args: []string{"r.jsonl", "-o", "-"},
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318"}, want: func(r *exportRequest) {}},
		{name: "stored runs by filter", args: []string{"--since", "7d", "--agent", "review", "--repo", "acme/widgets", "-o", "b.jsonl"},
			want: func(r *exportRequest) {
				r.Targets, r.Dest = nil, exportDest{File: "b.jsonl"}
				r.Filter = store.Filter{Agent: "review", Repo: "acme/widgets", Since: now.Add(-7 * 24 * time.Hour)}
			}},
		{name: "langfuse", args: []string{"r.jsonl", "--format", "langfuse", "--langfuse-host", "http://lf:3000"}, env: keys,
			want: func(r *exportRequest) { r.Format, r.Dest = export.FormatLangfuse, lf("http://lf:3000") }},
		{name: "langfuse of the environment", args: []string{"r.jsonl", "--format", "langfuse"},
			env:  map[string]string{"LANGFUSE_HOST": "cloud.langfuse.com", "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"},
			want: func(r *exportRequest) { r.Format, r.Dest = export.FormatLangfuse, lf("cloud.langfuse.com") }},
		{name: "langfuse events to a file need no server", args: []string{"r.jsonl", "--format", "langfuse", "-o", "ev.jsonl"},
			want: func(r *exportRequest) { r.Format, r.Dest = export.FormatLangfuse, exportDest{File: "ev.jsonl"} }},

		{name: "nothing to export", args: nil, wantErr: "give the runs to export"},
		{name: "runs and filters", args: []string{"r.jsonl", "--agent", "a"}, wantErr: "not both"},
		{name: "bad since", args: []string{"--since", "yesterday"}, wantErr: `--since "yesterday"`},
		{name: "bad format", args: []string{"r.jsonl", "--format", "zipkin"}, wantErr: `--format "zipkin": want otlp or langfuse`},
		{name: "bad timeout", args: []string{"r.jsonl", "--timeout", "0s"}, wantErr: "--timeout 0s: want a positive duration"},
		{name: "file and endpoint", args: []string{"r.jsonl", "-o", "f", "--endpoint", "http://h:1"}, wantErr: "does not go with --endpoint"},
		{name: "langfuse host with otlp", args: []string{"r.jsonl", "--langfuse-host", "http://h"}, wantErr: "--langfuse-host goes with --format langfuse"},
		{name: "endpoint with langfuse", args: []string{"r.jsonl", "--format", "langfuse", "--endpoint", "http://h:1"}, wantErr: "--endpoint goes with --format otlp"},
		{name: "bad endpoint", args: []string{"r.jsonl", "--endpoint", "localhost:4318"}, wantErr: `--endpoint: invalid endpoint "localhost:4318"`},
		{name: "bad endpoint variable", args: []string{"r.jsonl"}, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://h"},
			wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT: invalid endpoint"},
		{name: "bad headers", args: []string{"r.jsonl", "--endpoint", "http://h:1"}, env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "novalue"},
			wantErr: `OTEL_EXPORTER_OTLP_TRACES_HEADERS: invalid header "novalue"`},
		{name: "grpc", args: []string{"r.jsonl", "--endpoint", "http://h:1"}, env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL "grpc": replay sends OTLP over HTTP`},
		{name: "bad compression", args: []string{"r.jsonl", "--endpoint", "http://h:1"}, env: map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
			wantErr: `OTEL_EXPORTER_OTLP_COMPRESSION "zstd": want gzip or none`},
		{name: "langfuse without a host", args: []string{"r.jsonl", "--format", "langfuse"}, env: keys, wantErr: "--langfuse-host URL or $LANGFUSE_HOST"},
		{name: "langfuse without keys", args: []string{"r.jsonl", "--format", "langfuse", "--langfuse-host", "http://h"},
			wantErr: "set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"},
		{name: "bad langfuse host", args: []string{"r.jsonl", "--format", "langfuse", "--langfuse-host", "ftp://h"}, env: keys,
			wantErr: `--langfuse-host: invalid host "ftp://h"`},
		{name: "a report and the spans on stdout", args: []string{"r.jsonl", "--json"}, wantErr: "--json prints a report on stdout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &globals{env: Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return tt.env[k] }}}
			var got *exportOptions
			cmd := newExportCmd(g, func(_ context.Context, o *exportOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			if err := cmd.ExecuteContext(context.Background()); err != nil {
				t.Fatal(err)
			}
			got.Now = func() time.Time { return now }
			req, err := got.request()
			if tt.wantErr != "" {
				var ue *usageError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ue) {
					t.Fatalf("error %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := exportRequest{Format: export.FormatOTLP, Targets: []string{"r.jsonl"}, Timeout: 30 * time.Second, Dest: exportDest{File: "-"}}
			tt.want(&want)
			if !cmp.Equal(req, want, cmpopts.IgnoreUnexported(langfuse.Client{}), cmpopts.EquateEmpty()) {
				t.Errorf("request:\n got %+v %+v\nwant %+v %+v", req, req.Dest, want, want.Dest)
			}
		})
	}
}

// TestRunExportFlag: replay run --export checks its destination before the
// run (usage errors), from the environment alone.
func TestRunExportFlag(t *testing.T) {
	for _, tt := range []struct {
		format  string
		env     map[string]string
		wantErr string
		want    string
	}{
		{"", nil, "", ""},
		{"zipkin", nil, `--export "zipkin": want otlp or langfuse`, ""},
		{"otlp", nil, "--export otlp: set OTEL_EXPORTER_OTLP_ENDPOINT", ""},
		{"otlp", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"}, "--export otlp: OTEL_EXPORTER_OTLP_ENDPOINT: invalid endpoint", ""},
		{"otlp", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "x"}, "--export otlp: OTEL_EXPORTER_OTLP_HEADERS", ""},
		{"otlp", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "", "http://c:4318/v1/traces"},
		{"langfuse", map[string]string{"LANGFUSE_HOST": "http://lf"}, "--export langfuse: set LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY", ""},
		{"langfuse", map[string]string{"LANGFUSE_HOST": "ftp://lf", "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"}, "--export langfuse: LANGFUSE_HOST: invalid host", ""},
		{"langfuse", map[string]string{"LANGFUSE_HOST": "http://lf", "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"}, "", "http://lf"},
	} {
		g := &globals{env: Env{Getenv: func(k string) string { return tt.env[k] }}}
		e := &runExportFlag{format: tt.format}
		err := e.check(g)
		var ue *usageError
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ue)):
			t.Errorf("--export %q %v: error %v, want a usage error with %q", tt.format, tt.env, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("--export %q %v: %v", tt.format, tt.env, err)
		case tt.wantErr == "" && tt.want != "" && e.dest.String() != tt.want:
			t.Errorf("--export %q %v: destination %q, want %q", tt.format, tt.env, e.dest, tt.want)
		}
	}
}
