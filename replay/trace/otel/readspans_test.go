package otel

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// t0 is the base time of the OTLP fixtures (1700000000 s).
var t0 = time.Unix(1700000000, 0).UTC()

// lineOf returns the 1-based number of the first line of path containing
// substr, or 0.
func lineOf(t *testing.T, path, substr string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), substr) {
			return n
		}
	}
	return 0
}

func spanNamed(t *testing.T, spans []Span, id string) Span {
	t.Helper()
	for _, s := range spans {
		if s.SpanID == id {
			return s
		}
	}
	t.Fatalf("no span %s among %d", id, len(spans))
	return Span{}
}

func TestReadSpans(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		file  string
		count int
		check func(t *testing.T, path string, spans []Span)
	}{
		{"otlp_agent.jsonl", 9, func(t *testing.T, path string, spans []Span) {
			// A trace spread over four lines, out of order, several spans a line.
			b := spanNamed(t, spans, "b0000000000000b1")
			want := Span{TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "b0000000000000b1", ParentID: "eee19b7ec3c1b174",
				Name: "chat gpt-4.1", Kind: KindClient, Start: t0.Add(time.Second), End: t0.Add(2 * time.Second),
				Scope: "opentelemetry.instrumentation.openai_v2 2.1b0", Line: 3}
			got := b
			got.Attrs, got.Resource, got.Events = nil, nil, nil
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("span B (-want +got):\n%s", diff)
			}
			if v := b.Attrs["gen_ai.usage.input_tokens"]; v != int64(1200) {
				t.Errorf("intValue \"1200\" read as %#v, want int64(1200)", v)
			}
			if v := b.Attrs["gen_ai.request.temperature"]; v != 0.2 {
				t.Errorf("doubleValue read as %#v", v)
			}
			if v := b.Resource["service.name"]; v != "reviewer-bot" {
				t.Errorf("resource service.name = %#v", v)
			}
			if g := spanNamed(t, spans, "a0000000000000a1"); g.Line != 4 || g.ParentID != "f0000000000000f1" {
				t.Errorf("span G: line %d parent %q", g.Line, g.ParentID)
			}
		}},
		{"otlp_base64.json", 3, func(t *testing.T, path string, spans []Span) {
			// base64 ids, numbers for 64-bit ints, every AnyValue kind,
			// "resource" after "scopeSpans", pretty-printed over many lines.
			root := spanNamed(t, spans, "b7ad6b7169203331")
			if root.TraceID != "0af7651916cd43dd8448eb211c80319c" || root.ParentID != "" {
				t.Errorf("root ids: trace %q parent %q", root.TraceID, root.ParentID)
			}
			if root.Kind != KindInternal || root.StatusCode != StatusError || root.StatusMessage != "tool failed" {
				t.Errorf("root kind %d status %d %q", root.Kind, root.StatusCode, root.StatusMessage)
			}
			wantAttrs := map[string]any{
				"app.flags": []any{"a", int64(7), true},
				"app.obj":   map[string]any{"k": 1.5},
				"app.blob":  []byte("hi"),
				"app.ok":    true,
				"app.big":   int64(9007199254740993),
			}
			for k, want := range wantAttrs {
				if !cmp.Equal(root.Attrs[k], want) {
					t.Errorf("attribute %s = %#v, want %#v", k, root.Attrs[k], want)
				}
			}
			if root.Resource["service.name"] != "helper" {
				t.Errorf("resource given after the spans was lost: %#v", root.Resource)
			}
			chat := spanNamed(t, spans, "00f067aa0ba902b7")
			if chat.ParentID != "b7ad6b7169203331" || !chat.Start.Equal(t0.Add(time.Second)) {
				t.Errorf("chat parent %q start %v", chat.ParentID, chat.Start)
			}
			// The first span starts on the line after `"spans": [`.
			if want := lineOf(t, path, `"spans": [`) + 1; spans[0].Line != want {
				t.Errorf("first span at line %d, want %d", spans[0].Line, want)
			}
		}},
		{"sdk_flat_prompts.json", 3, func(t *testing.T, path string, spans []Span) {
			s1 := spans[0]
			if s1.TraceID != "3c1a2f40b6d94e8c9e0b1f2a3b4c5d6e" || s1.SpanID != "1a2b3c4d5e6f7081" || s1.ParentID != "" {
				t.Errorf("0x ids: %q %q %q", s1.TraceID, s1.SpanID, s1.ParentID)
			}
			if !s1.Start.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) || s1.Duration() != 1500*time.Millisecond {
				t.Errorf("ISO times: start %v duration %v", s1.Start, s1.Duration())
			}
			if s1.Kind != KindClient || s1.Resource["service.name"] != "calc-bot" {
				t.Errorf("kind %d resource %v", s1.Kind, s1.Resource)
			}
			if spans[2].ParentID != "1a2b3c4d5e6f7082" {
				t.Errorf("parent_id: %q", spans[2].ParentID)
			}
		}},
		{"console_events.json", 2, func(t *testing.T, path string, spans []Span) {
			// Concatenated pretty-printed objects (ConsoleSpanExporter).
			if len(spans[0].Events) != 3 || spans[0].Events[1].Name != "gen_ai.user.message" || spans[0].Events[1].Attrs["content"] != "Say hi" {
				t.Errorf("events: %+v", spans[0].Events)
			}
			if spans[0].StatusCode != StatusOK || spans[1].Line != lineOf(t, path, `"0x00000000000000c2"`)-4 {
				t.Errorf("status %d, second span at line %d", spans[0].StatusCode, spans[1].Line)
			}
		}},
		{"openinference_spans.jsonl", 4, func(t *testing.T, path string, spans []Span) {
			// Phoenix-style nested attributes are flattened.
			a := spans[1].Attrs
			if a["llm.token_count.prompt"] != int64(500) || a["llm.input_messages.1.message.contents.0.message_content.text"] != "Crash on start" ||
				a["openinference.span.kind"] != "LLM" {
				t.Errorf("flattened attributes: %v", a)
			}
			if spans[1].StatusCode != StatusOK || spans[1].ParentID != "0000000000000001" || spans[1].Line != 2 {
				t.Errorf("status %d parent %q line %d", spans[1].StatusCode, spans[1].ParentID, spans[1].Line)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			spans, warns, err := ReadSpans(ctx, path, trace.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != 0 {
				t.Errorf("warnings: %v", warns)
			}
			if len(spans) != tt.count {
				t.Fatalf("%d spans, want %d", len(spans), tt.count)
			}
			tt.check(t, path, spans)
		})
	}
}

func TestReadSpansCorpus(t *testing.T) {
	dir := testutil.RequireCorpus(t, "")
	ctx := context.Background()

	// any-agent dumps: ids are decimal integers wider than 64 bits.
	// python3 -c 'print(hex(100927429609276267646756448943279827607))'
	spans, _, err := ReadSpans(ctx, filepath.Join(dir, "otel-genai", "anyagent__OPENAI_trace.json"), trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 6 || spans[0].TraceID != "4bedea77bb33b9c5f280371eae21ea97" || spans[0].ParentID != "ab08afea3548c547" {
		t.Fatalf("got %d spans, first trace %q parent %q", len(spans), spans[0].TraceID, spans[0].ParentID)
	}
	if !spans[0].Start.Equal(time.Unix(0, 1758026593210770000)) || spans[0].Line != 3 {
		t.Errorf("start %v line %d", spans[0].Start, spans[0].Line)
	}

	// A bare attribute map is one span.
	spans, _, err = ReadSpans(ctx, filepath.Join(dir, "openinference", "openinference__openinference_client_span_tool_calls.json"), trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1 || spans[0].Attrs["llm.token_count.prompt"] != int64(97) {
		t.Fatalf("attribute map: %d spans, %v", len(spans), spans)
	}

	// The factory's split file: one trace over two lines.
	spans, _, err = ReadSpans(ctx, filepath.Join(dir, "fullsend", "run-telemetry__split.jsonl"), trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 3 || spans[1].Line != 2 || spans[2].ParentID != "1111111111111111" {
		t.Fatalf("split: %d spans", len(spans))
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		raw   string
		width int
		want  string
	}{
		{`"5B8EFFF798038103D269B633813FC60C"`, 32, "5b8efff798038103d269b633813fc60c"},
		{`"W47/95gDgQPSabYzgT/GDA=="`, 32, "5b8efff798038103d269b633813fc60c"},
		{`"t61rcWkgMzE="`, 16, "b7ad6b7169203331"},
		{`"0x1a2b"`, 16, "0000000000001a2b"},
		{`12324293800750531911`, 16, "ab08afea3548c547"},
		{`"12324293800750531911"`, 16, "ab08afea3548c547"},
		{`null`, 16, ""},
		{`""`, 16, ""},
	}
	for _, tt := range tests {
		if got := parseID([]byte(tt.raw), tt.width); got != tt.want {
			t.Errorf("parseID(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestParseTimes(t *testing.T) {
	tests := []struct {
		raw  string
		otlp bool
		want time.Time
	}{
		{`"1000000000"`, true, time.Unix(1, 0)},
		{`1700000000000000000`, true, t0},
		{`1700000000000000000`, false, t0},
		{`1700000000000`, false, t0},
		{`1700000000.5`, false, t0.Add(500 * time.Millisecond)},
		{`"2023-11-14T22:13:20.000000Z"`, false, t0},
		{`"2023-11-14T22:13:20+00:00"`, false, t0},
		{`null`, false, time.Time{}},
		{`"soon"`, false, time.Time{}},
	}
	for _, tt := range tests {
		got := parseTime([]byte(tt.raw))
		if tt.otlp {
			got = parseNanos([]byte(tt.raw))
		}
		if !got.Equal(tt.want) {
			t.Errorf("time %s (otlp %v) = %v, want %v", tt.raw, tt.otlp, got, tt.want)
		}
	}
}

func TestFraming(t *testing.T) {
	tests := []struct {
		name, head string
		want       int
	}{
		{"json lines", "{\"a\":1}\n{\"b\":2}\n", frameLines},
		{"one line, no newline", `{"resourceSpans":[]}`, frameLines},
		{"pretty object", "{\n  \"resourceSpans\": [\n", frameDoc},
		{"array of one compact object per line", "[\n{\"name\":\"x\",\"context\":{}}\n]\n", frameDoc},
		{"half-pretty", "{\"resourceSpans\": [\n{\"resource\":{}}\n]}\n", frameDoc},
		{"damaged first record", "{\"resourceSpans\":[{\"sco\n{\"resourceSpans\":[]}\n", frameLines},
		{"blank lines first", "\n\n  {\"a\":1}\n", frameLines},
		{"text", "hello\n", frameNone},
		{"empty", "", frameNone},
	}
	for _, tt := range tests {
		if got := framing([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: framing = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestReadSpansErrors(t *testing.T) {
	ctx := context.Background()
	if _, _, err := ReadSpans(ctx, filepath.Join(t.TempDir(), "missing.jsonl"), trace.Options{}); err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := ReadSpans(ctx, t.TempDir(), trace.Options{}); err == nil || errors.Is(err, trace.ErrNotTrace) {
		t.Errorf("a directory: %v, want a read error", err)
	}
}
