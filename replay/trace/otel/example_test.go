package otel_test

import (
	"context"
	"fmt"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/otel"
)

// The factory's run directory importer reads run-telemetry.jsonl with
// ReadSpans and takes the run's totals from FactoryTotals.
func ExampleFactoryTotals() {
	spans, _, err := otel.ReadSpans(context.Background(), "testdata/factory_failed.jsonl", trace.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := otel.FactoryTotals(spans)
	if err != nil {
		fmt.Println(err)
		return
	}
	u := f.Totals.Usage
	fmt.Printf("%s on %s (%s): %s, %d iterations, $%.2f\n", f.Agent, f.WorkItem, f.Repo, f.Status, len(f.Iterations), *f.Totals.CostUSD)
	fmt.Printf("tokens: input %d, output %d, cache read %d, cache write %d\n", u.Input, u.Output, u.CacheRead, u.CacheWrite)
	meta := f.Meta()
	fmt.Println(meta.Refs.WorkItem.Value, meta.Refs.WorkItem.Provenance)
	// Output:
	// review on acme/widgets#42 (acme/widgets): error, 2 iterations, $0.39
	// tokens: input 15, output 1545, cache read 110838, cache write 39032
	// acme/widgets#42 recorded
}
