package langfuse

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"maps"
	"slices"
	"strings"
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
		checkEveryObservationAccounted(t, data)
	})
}

// checkEveryObservationAccounted asserts "every record is either imported
// or warned about" on a {"trace", "observations"} document: importing it
// without any one observation must give a different run or different
// warnings. Observations of the types that only group others (SPAN, CHAIN,
// EVENT without a message) are exempt, as the format documents.
func checkEveryObservationAccounted(t *testing.T, data []byte) {
	var doc map[string]stdjson.RawMessage
	if stdjson.Unmarshal(data, &doc) != nil {
		return
	}
	var obs []stdjson.RawMessage
	if stdjson.Unmarshal(doc["observations"], &obs) != nil || len(obs) == 0 || len(obs) > 40 {
		return
	}
	imp := func(obs []stdjson.RawMessage) []byte {
		d := maps.Clone(doc)
		d["observations"], _ = stdjson.Marshal(obs)
		b, _ := stdjson.Marshal(d)
		run, err := trace.Collect(func(e trace.Emitter) error {
			return Decode(context.Background(), bytes.NewReader(b), int64(len(b)), "fuzz.json", trace.Options{}, e)
		})
		if err != nil {
			return nil
		}
		var out bytes.Buffer
		if trace.Encode(&out, run) != nil {
			return nil
		}
		return out.Bytes()
	}
	whole := imp(obs)
	if whole == nil {
		return
	}
	for i, o := range obs {
		var probe struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		_ = stdjson.Unmarshal(o, &probe)
		switch strings.ToUpper(probe.Type) {
		case "SPAN", "CHAIN", "EVENT", "AGENT", "":
			continue // structure
		}
		without := append(slices.Clone(obs[:i]), obs[i+1:]...)
		if b := imp(without); b != nil && bytes.Equal(b, whole) && !slices.ContainsFunc(obs[:i], func(p stdjson.RawMessage) bool { return bytes.Equal(p, o) }) {
			t.Fatalf("observation %d (%q, %s) was neither imported nor warned about: the import is the same without it", i, probe.ID, probe.Type)
		}
	}
}
