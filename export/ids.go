package export

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	oteltrace "go.opentelemetry.io/otel/trace"
)

// Identifiers are derived from the run's store id and the position of each
// step, never drawn at random: exporting a run again gives the same trace,
// span, observation and event ids, so a backend that deduplicates by id
// (Langfuse by event and observation id; trace stores by span id) keeps one
// copy.

// idSum hashes the parts of an identifier, each length-prefixed so that no
// two lists of parts give the same input.
func idSum(kind string, parts ...string) [sha256.Size]byte {
	h := sha256.New()
	for _, p := range append([]string{"replay-export", kind}, parts...) {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// traceIDOf is the trace id of the export of run runID.
func traceIDOf(runID string) oteltrace.TraceID {
	var id oteltrace.TraceID
	sum := idSum("trace", runID)
	copy(id[:], sum[:])
	if !id.IsValid() {
		id[15] = 1 // all zeros is not a valid id; no hash gives it in practice
	}
	return id
}

// TraceID returns the trace id (32 hex digits) that an export of the run
// whose store id is runID has, in OTLP and in Langfuse alike.
func TraceID(runID string) string {
	return traceIDOf(runID).String()
}

// spanIDOf is the span id of one span of the export of run runID: the agent
// span of the (sub-)run key when step is -1, else the span of that step of
// it.
func spanIDOf(runID, key string, step int) oteltrace.SpanID {
	var id oteltrace.SpanID
	s := "agent"
	if step >= 0 {
		s = strconv.Itoa(step)
	}
	sum := idSum("span", runID, key, s)
	copy(id[:], sum[:])
	if !id.IsValid() {
		id[7] = 1
	}
	return id
}

// eventID is a Langfuse ingestion event id: a UUID (version 8, "custom")
// made of the hash of the run, the event type and the body id.
func eventID(runID, typ, bodyID string) string {
	sum := idSum("langfuse-event", runID, typ, bodyID)
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}
