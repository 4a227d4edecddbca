package export_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/agentreplay/replay/export"
	"github.com/agentreplay/replay/replay/trace"
)

// A replay of a stored run becomes an agent span with a model call and a
// tool call, linked to the trace of its original.
func ExampleSpans() {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	run := &trace.Run{
		Meta: trace.RunMeta{ID: strings.Repeat("ab", 16), Agent: "review",
			Replay: &trace.Origin{Of: strings.Repeat("cd", 16), Mode: "run", Variant: map[string]string{"model": "gpt-4o"}}},
		Steps: []trace.Step{
			{Kind: trace.KindLLM, Time: t0, LLM: &trace.LLMCall{Model: "gpt-4o", Usage: &trace.Usage{Input: 900, CacheRead: 100, Output: 50},
				Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartToolCall, ID: "c1", Name: "Read"}}}}},
			{Kind: trace.KindTool, Time: t0.Add(time.Second), Tool: &trace.ToolCall{CallID: "c1", Name: "Read", Status: trace.ToolOK}},
		},
	}
	opts := export.Options{Original: export.OriginalOf(run, nil, export.FormatOTLP)}
	spans, err := export.Spans(context.Background(), run, opts)
	if err != nil {
		panic(err)
	}
	for _, s := range spans {
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		fmt.Printf("%-20s input_tokens=%s links=%d\n", s.Name(), attrs["gen_ai.usage.input_tokens"], len(s.Links()))
	}
	// The link points at the trace an export of the original has.
	fmt.Println(spans[2].Links()[0].SpanContext.TraceID().String() == export.TraceID(run.Meta.Replay.Of))
	// Output:
	// chat gpt-4o          input_tokens=1000 links=0
	// execute_tool Read    input_tokens= links=0
	// invoke_agent review  input_tokens= links=1
	// true
}
