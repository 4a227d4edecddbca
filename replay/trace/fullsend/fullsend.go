// Package fullsend imports the run directory the software factory leaves per
// agent run (artifact fullsend-<agent>, directory fs-<slug>-<hex>):
//
//	run-telemetry.jsonl          OTLP/JSON spans: run -> sandbox_create, agent (per iteration)
//	metrics.json                 totals
//	iteration-N/output.jsonl     the stream-json stdout of that iteration
//	iteration-N/transcripts/     <agent>-<sessionId>.jsonl, <agent>-agent-<id>.jsonl
//	iteration-N/output/*.json    the agent's structured result
//
// The result is one run: the conversation of the last iteration that
// recorded one (its transcript, else its stream-json output), its sub-agents
// as child runs, earlier iterations as child runs "iteration-N", refs from the
// telemetry's work item and the result's head_sha, the decision from the
// result JSON, and the totals the factory recorded. A directory with only
// telemetry or metrics imports as a run that is not replayable, and says why.
package fullsend

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/claudecode"
	"github.com/agentreplay/replay/replay/trace/otel"
)

// Name is the format name.
const Name = "fullsend-run"

// NoConversation is the blocker of a run directory without transcripts or
// stream-json output.
const NoConversation = "no conversation recorded: the run directory has no iteration-N/transcripts/*.jsonl or iteration-N/output.jsonl (telemetry and metrics only)"

// Format is the factory run directory format.
type Format struct{}

// Name implements trace.Format.
func (Format) Name() string { return Name }

// Detect implements trace.Format: a directory with the factory's files.
func (Format) Detect(src *trace.Source) bool {
	if !src.IsDir {
		return false
	}
	if isFile(filepath.Join(src.Path, "run-telemetry.jsonl")) || isFile(filepath.Join(src.Path, "metrics.json")) {
		return true
	}
	m, _ := filepath.Glob(filepath.Join(src.Path, "iteration-*", "output.jsonl"))
	t, _ := filepath.Glob(filepath.Join(src.Path, "iteration-*", "transcripts", "*.jsonl"))
	return len(m)+len(t) > 0
}

// Import implements trace.Format.
func (Format) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	l, err := scan(src.Path)
	if err != nil {
		return err
	}
	meta := trace.RunMeta{Format: Name, Source: src.Path}
	var warnings []trace.Warning

	// Telemetry: agent, work item, times, recorded totals.
	var factory *otel.FactoryRun
	if l.telemetry != "" {
		spans, warns, err := otel.ReadSpans(ctx, l.telemetry, opts)
		if err != nil {
			return fmt.Errorf("import run directory %q: %w", src.Path, err)
		}
		warnings = append(warnings, warns...)
		factory, err = otel.FactoryTotals(spans)
		switch {
		case errors.Is(err, trace.ErrNotTrace):
			warnings = append(warnings, trace.Warning{File: l.telemetry, Message: "no span carries the factory's fullsend.* attributes; agent, work item and totals come from the other files"})
		case err != nil:
			return fmt.Errorf("import run directory %q: %w", src.Path, err)
		default:
			fm := factory.Meta()
			meta.Merge(&fm)
		}
	}
	var mt *metrics
	if l.metrics != "" {
		var warns []trace.Warning
		if mt, warns, err = readMetrics(l.metrics); err != nil {
			return fmt.Errorf("import run directory %q: %w", src.Path, err)
		}
		warnings = append(warnings, warns...)
		if meta.Defaults.Model == "" {
			meta.Defaults.Model = mt.Model
		}
	}

	// The iteration whose conversation is the run: the last one that has one.
	main := -1
	for i, it := range l.iterations {
		if it.transcript != "" || it.output != "" {
			main = i
		}
	}
	if main < 0 {
		meta.Blockers = append(meta.Blockers, NoConversation)
	}

	// The agent's result: the last iteration that wrote one decides.
	var decision *trace.Decision
	for _, it := range l.iterations {
		for _, p := range it.results {
			d, refs, warns, err := readResult(p)
			if err != nil {
				warnings = append(warnings, trace.Warning{File: p, Message: "result ignored: " + err.Error()})
				continue
			}
			warnings = append(warnings, warns...)
			decision = d
			meta.Refs.Merge(refs)
		}
	}
	// A review's work item is a pull request.
	if meta.Refs.PR == nil && meta.Refs.WorkItem != nil && decision != nil && decision.Kind == "review" {
		if _, num, ok := workItem(meta.Refs.WorkItem.Value); ok {
			meta.Refs.PR = &trace.Ref{Value: num, Provenance: trace.Inferred, From: "fullsend.work_item_id of a review run"}
		}
	}

	if err := e.Emit(&trace.Event{Type: trace.EvRun, Meta: &meta}); err != nil {
		return err
	}

	// Conversations. Each importer declares its run with its own format and
	// source: those are the directory's, so the declarations of the main run
	// are rewritten, and its outcome is held back to be completed below.
	var transcriptOutcome *trace.Outcome
	for i, it := range l.iterations {
		if it.transcript == "" && it.output == "" {
			continue
		}
		key := "iteration-" + strconv.Itoa(it.n)
		if i == main {
			key = ""
		}
		ie := trace.EmitterFunc(func(ev *trace.Event) error {
			if ev.Run != "" {
				return e.Emit(ev)
			}
			switch ev.Type {
			case trace.EvRun:
				m := *ev.Meta
				m.Format, m.Source = "", ""
				ev = &trace.Event{Type: trace.EvRun, Meta: &m}
			case trace.EvOutcome:
				transcriptOutcome = ev.Outcome
				return nil
			}
			return e.Emit(ev)
		})
		as := claudecode.RunAs{Key: key, Agent: meta.Agent, Subagents: it.subagents, NoDiscovery: true}
		if it.subagents == nil {
			as.Subagents = []string{}
		}
		if key != "" {
			as.Agent = fmt.Sprintf("%s (iteration %d)", meta.Agent, it.n)
		}
		if it.transcript != "" {
			err = claudecode.ImportTranscript(ctx, it.transcript, opts, ie, as)
		} else {
			err = claudecode.ImportStream(ctx, it.output, opts, ie, as)
		}
		if err != nil {
			return fmt.Errorf("import run directory %q: %w", src.Path, err)
		}
		for j, extra := range it.extraTransc {
			sub := claudecode.RunAs{Key: fmt.Sprintf("%s/session-%d", keyOr(key, "main"), j+2), Parent: key, Agent: meta.Agent, Subagents: []string{}, NoDiscovery: true}
			if err := claudecode.ImportTranscript(ctx, extra, opts, ie, sub); err != nil {
				return fmt.Errorf("import run directory %q: %w", src.Path, err)
			}
		}
	}

	// The outcome: the conversation's end, the result's decision, the
	// totals as the factory recorded them.
	out := &trace.Outcome{Status: trace.StatusUnknown}
	if transcriptOutcome != nil {
		o := *transcriptOutcome
		out = &o
	}
	if main >= 0 && l.iterations[main].output != "" {
		res, err := claudecode.ReadResult(ctx, l.iterations[main].output)
		if err != nil {
			warnings = append(warnings, trace.Warning{File: l.iterations[main].output, Message: "result record unreadable: " + err.Error()})
		} else if res != nil {
			if out.Final == "" {
				out.Final = res.Final
			}
			if res.Status == trace.StatusError {
				out.Status, out.Error = res.Status, res.Error
			} else if out.Status == trace.StatusUnknown {
				out.Status = res.Status
			}
			t := res.Totals
			out.Recorded = &t
		}
	}
	switch {
	case factory != nil:
		fo := factory.Outcome()
		out.Recorded = fo.Recorded
		if fo.Status == trace.StatusError {
			out.Status, out.Error = fo.Status, fo.Error
		} else if out.Status == trace.StatusUnknown {
			out.Status = fo.Status
		}
	case mt != nil:
		out.Recorded = mt.totals()
	}
	if mt != nil && out.Recorded != nil {
		fillTotals(out.Recorded, mt.totals())
	}
	if decision != nil {
		out.Decision = decision
		if decision.Kind == "review" && out.Status == trace.StatusUnknown {
			out.Status = trace.StatusOK
		}
	}
	// Declare again: the transcript importer's declarations carry no format.
	if err := e.Emit(&trace.Event{Type: trace.EvRun, Meta: &trace.RunMeta{Format: Name, Source: src.Path}}); err != nil {
		return err
	}
	if err := e.Emit(&trace.Event{Type: trace.EvOutcome, Outcome: out}); err != nil {
		return err
	}
	for i := range warnings {
		if err := e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &warnings[i]}); err != nil {
			return err
		}
	}
	return nil
}

// fillTotals fills what t lacks from o.
func fillTotals(t, o *trace.Totals) {
	if t.CostUSD == nil {
		t.CostUSD = o.CostUSD
	}
	if t.Usage == nil {
		t.Usage = o.Usage
	}
	if t.Turns == 0 {
		t.Turns = o.Turns
	}
	if t.ToolCalls == 0 {
		t.ToolCalls = o.ToolCalls
	}
}

func keyOr(k, def string) string {
	if k == "" {
		return def
	}
	return k
}
