package otel

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		goodLine + "\n",
		`{"gen_ai.operation.name":"chat","gen_ai.input.messages":"[{\"role\":\"user\",\"content\":\"hi\"}]"}`,
		`[{"name":"a","context":{"trace_id":1,"span_id":2},"parent_id":"0x2","attributes":{"gen_ai.operation.name":"invoke_agent"}}]`,
		`{"spans":[{"name":"execute_tool x","context":{"span_id":3},"parent":{"span_id":3}}],"final_output":1}`,
		"{\n\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"spanId\":\"AQ==\",\"parentSpanId\":\"AQ==\"}]}]}]\n}",
	} {
		f.Add([]byte(s))
	}
}

// FuzzReadSpans: the span reader never panics, and a success holds spans.
func FuzzReadSpans(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lenient := range []bool{false, true} {
			spans, _, err := readSpans(context.Background(), bytes.NewReader(data), "fuzz.json", trace.Options{Lenient: lenient})
			if err == nil && len(spans) == 0 {
				t.Fatal("success without spans")
			}
		}
	})
}

// FuzzImport: the importer never panics, and reading spans again by offset
// (two passes) gives exactly what keeping them whole gives.
func FuzzImport(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		run := func(ra bool) (*trace.Run, error) {
			return trace.Collect(func(e trace.Emitter) error {
				r := bytes.NewReader(data)
				if ra {
					return importSpans(ctx, r, r, "fuzz.json", NameSpans, trace.Options{Lenient: true}, e)
				}
				return importSpans(ctx, r, nil, "fuzz.json", NameSpans, trace.Options{Lenient: true}, e)
			})
		}
		twice, err2 := run(true)
		once, err1 := run(false)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("one pass: %v; two passes: %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if diff := cmp.Diff(once, twice); diff != "" {
			t.Fatalf("held (-) vs read again (+):\n%s", diff)
		}
		trace.Summarize(twice, nil)
		// Every line of JSON Lines (a span, a batch of spans) is imported or
		// warned about; a document's lines are not records.
		if framing(data) != frameLines {
			return
		}
		testutil.CheckEveryLineAccounted(t, data, structuralLine, func(data []byte) (*trace.Run, error) {
			return trace.Collect(func(e trace.Emitter) error {
				r := bytes.NewReader(data)
				return importSpans(ctx, r, r, "fuzz.json", NameSpans, trace.Options{}, e)
			})
		})
	})
}

// structuralLine reports a line whose spans only group others (containers
// such as create_agent or CHAIN, spans without GenAI attributes): they give
// the run its structure and hold no step, as the package documents.
func structuralLine(line []byte) bool {
	spans, _, err := readSpans(context.Background(), bytes.NewReader(line), "line.json", trace.Options{})
	if err != nil || len(spans) == 0 {
		return false
	}
	for i := range spans {
		if c, _ := classify(&spans[i]); c != classOther {
			return false
		}
	}
	return true
}
