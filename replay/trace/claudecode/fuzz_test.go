package claudecode

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

func addFixtureSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzImport imports data and checks that what it emits is a valid run: the
// native encoding of it decodes again.
func fuzzImport(t *testing.T, data []byte, stream bool) {
	for _, lenient := range []bool{false, true} {
		var c trace.Collector
		var z trace.Summarizer
		err := importFrom(context.Background(), "fuzz.jsonl", bytes.NewReader(data), trace.Options{Lenient: lenient}, trace.Tee(&c, &z), RunAs{}, stream)
		if err != nil {
			continue
		}
		_ = z.Summary()
		var buf bytes.Buffer
		if err := trace.Encode(&buf, c.Run()); err != nil {
			t.Fatalf("encode the imported run: %v", err)
		}
		if _, err := trace.DecodeRun(context.Background(), &buf, "again.jsonl"); err != nil {
			t.Fatalf("decode the encoded run: %v", err)
		}
	}
	testutil.CheckEveryLineAccounted(t, data, bookkeepingLine, func(data []byte) (*trace.Run, error) {
		return trace.Collect(func(e trace.Emitter) error {
			return importFrom(context.Background(), "fuzz.jsonl", bytes.NewReader(data), trace.Options{}, e, RunAs{}, stream)
		})
	})
}

// bookkeepingLine reports the records the format documents as carrying
// nothing replay keeps (see isBookkeeping).
func bookkeepingLine(line []byte) bool {
	var probe struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(line, &probe) == nil && isBookkeeping(probe.Type)
}

func FuzzTranscript(f *testing.F) {
	addFixtureSeeds(f, "testdata/*.jsonl")
	addFixtureSeeds(f, "testdata/session2x/*/subagents/*.jsonl")
	f.Add([]byte(`{"type":"assistant","isSidechain":true,"parentUuid":"x","message":{"id":"m","content":[{"type":"tool_use","id":"t","name":"Task","input":{"prompt":"p"}}]}}` + "\n" +
		`{"type":"user","isSidechain":true,"parentUuid":null,"message":{"content":"p"}}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzImport(t, data, false) })
}

func FuzzStream(f *testing.F) {
	addFixtureSeeds(f, "testdata/stream*.jsonl")
	f.Add([]byte(`{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image"}]}]},"parent_tool_use_id":"t"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzImport(t, data, true) })
}
