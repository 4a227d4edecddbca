package trace_test

import (
	"io"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// BenchmarkNativeWriter measures encoding events to the native format.
func BenchmarkNativeWriter(b *testing.B) {
	r := sampleRun()
	var evs []*trace.Event
	r.Emit(trace.EmitterFunc(func(ev *trace.Event) error { evs = append(evs, ev); return nil }))
	w := trace.NewWriter(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			if err := w.Emit(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	w.Flush()
}
