package export

import (
	"encoding/hex"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// Original is where the run a replay replays can be found in a backend:
// the trace the export links to.
type Original struct {
	RunID   string // store id of the original run (trace.Origin.Of)
	TraceID string // its trace: 32 hex digits for OTLP; Langfuse's trace id
	SpanID  string // its root span (16 hex digits), "" when unknown
	// From says where TraceID comes from: "otel.trace_id" or
	// "langfuse.trace_id" (the original was imported from that backend and
	// this is its own id there), or "export" (the id an export of the
	// original by replay has: export the original too, and the link
	// resolves).
	From string
}

// Where an original's trace id comes from.
const (
	FromOTel     = "otel.trace_id"
	FromLangfuse = "langfuse.trace_id"
	FromExport   = "export"
)

// OriginalOf returns the original of a run for an export to backend
// (FormatOTLP or FormatLangfuse), or nil when the run is not a replay. orig
// is the original run when it is at hand (read from the store), else nil:
// the link then points at the trace an export of the original would have.
func OriginalOf(run *trace.Run, orig *trace.Run, backend string) *Original {
	o := run.Meta.Replay
	if o == nil || o.Of == "" {
		return nil
	}
	res := &Original{RunID: o.Of, TraceID: TraceID(o.Of), SpanID: spanIDOf(o.Of, "", -1).String(), From: FromExport}
	if orig == nil {
		return res
	}
	attr := func(k string) string { return strings.TrimSpace(orig.Meta.Attributes[k]) }
	otelID, lfID := attr(FromOTel), attr(FromLangfuse)
	if !isTraceID(otelID) {
		otelID = ""
	}
	switch {
	case backend == FormatLangfuse && lfID != "":
		res.TraceID, res.SpanID, res.From = lfID, "", FromLangfuse
	case otelID != "":
		res.TraceID, res.SpanID, res.From = strings.ToLower(otelID), "", FromOTel
		if s := attr("otel.span_id"); isSpanID(s) {
			res.SpanID = strings.ToLower(s)
		}
	case backend == FormatOTLP && isTraceID(lfID):
		// Langfuse keeps the trace id of traces it received over OTLP.
		res.TraceID, res.SpanID, res.From = strings.ToLower(lfID), "", FromLangfuse
	}
	return res
}

func isTraceID(s string) bool { return isHexID(s, 32) }
func isSpanID(s string) bool  { return isHexID(s, 16) }

func isHexID(s string, n int) bool {
	if len(s) != n || strings.Trim(s, "0") == "" {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
