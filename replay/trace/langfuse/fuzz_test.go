package langfuse

import (
	"bytes"
	"context"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// FuzzDecode: whatever the input, the importer returns a run or an error,
// never panics, and a run it returns can be written in the native format.
func FuzzDecode(f *testing.F) {
	// Seeds: the small inputs below and testdata/fuzz/FuzzDecode (compact
	// copies of the fixtures; large seeds make the fuzzer's minimization
	// crawl).
	f.Add([]byte(`{"trace":{"id":"t","input":"\"[{\\\"role\\\":\\\"user\\\",\\\"content\\\":\\\"hi\\\"}]\""},"observations":[{"id":"g","type":"GENERATION","input":"system: a\nuser: b","output":{"choices":[{"message":{"tool_calls":[{"function":{"name":"f","arguments":"{"}}]}}]}}]}`))
	f.Add([]byte(`{"observations":[{"id":"a","type":"AGENT","parentObservationId":"a"},{"id":"b","type":"AGENT","parentObservationId":"a"},{"id":"t","type":"TOOL","parentObservationId":"b"},{"id":"c","type":"AGENT","parentObservationId":"t"},{"id":"g","type":"GENERATION","parentObservationId":"c","usageDetails":{"input":"x","output":-3,"total":1e400}}]}`))
	f.Add([]byte(`[{"id":"x","type":"EVENT","input":[{"role":"user","parts":[{"functionCall":{"args":null}}]}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := trace.Collect(func(e trace.Emitter) error {
			return Decode(context.Background(), bytes.NewReader(data), int64(len(data)), "fuzz.json", trace.Options{Lenient: len(data)%2 == 0}, e)
		})
		if err != nil {
			return
		}
		if run.Meta.Format != Name {
			t.Fatalf("a run without its format: %+v", run.Meta)
		}
		if err := trace.Encode(&bytes.Buffer{}, run); err != nil {
			t.Fatalf("encode the imported run: %v", err)
		}
	})
}
