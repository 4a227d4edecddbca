package trace_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/replay/trace"
)

// FuzzNativeRoundTrip proves the native format is lossless: whatever a
// native file decodes to, encoding it and decoding again gives the same run.
func FuzzNativeRoundTrip(f *testing.F) {
	var buf bytes.Buffer
	if err := trace.Encode(&buf, sampleRun()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"type":"header","header":{"format":"replay-run","version":1}}` + "\n" +
		`{"type":"run","run":"b","meta":{"parent":"a"}}` + "\n" +
		`{"type":"run","run":"a","meta":{"parent":"b"}}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		r1, err := trace.DecodeRun(ctx, bytes.NewReader(data), "fuzz.jsonl")
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := trace.Encode(&b, r1); err != nil {
			t.Fatalf("encode a decoded run: %v", err)
		}
		r2, err := trace.DecodeRun(ctx, bytes.NewReader(b.Bytes()), "again.jsonl")
		if err != nil {
			t.Fatalf("decode what we encoded: %v\n%s", err, b.Bytes())
		}
		if !cmp.Equal(r1, r2, cmpopts.EquateEmpty()) {
			t.Fatalf("round trip changed the run:\n%s", cmp.Diff(r1, r2, cmpopts.EquateEmpty()))
		}
	})
}
