package model

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/agentreplay/replay/replay/trace"
)

// ErrRecordingExhausted is returned (wrapped) by Recorded when asked for
// more calls than the run recorded: the replay went further than the
// original did.
var ErrRecordingExhausted = errors.New("no more recorded model calls")

// Divergence kinds.
const (
	// DivergedResult: a tool result fed back differs from the recorded one
	// (text or error flag).
	DivergedResult = "result"
	// DivergedMissing: the request lacks the result of a call the recorded
	// answer made.
	DivergedMissing = "missing"
	// DivergedUnrecorded: the recording has no result for the call, so the
	// one fed back could not be checked.
	DivergedUnrecorded = "unrecorded"
)

// Divergence is a difference between what a replay fed the recorded model
// and what the original run fed the original model.
type Divergence struct {
	Run    string `json:"run,omitempty"` // key of the recorded run ("" is the main run)
	Call   int    `json:"call"`          // 0-based index of the model call whose request differed
	CallID string `json:"call_id"`       // the tool call whose result differed
	Tool   string `json:"tool"`
	Kind   string `json:"kind"` // DivergedResult, DivergedMissing, DivergedUnrecorded
	// Recorded and Got are the results, as recorded and as fed back.
	Recorded      string `json:"recorded,omitempty"`
	Got           string `json:"got,omitempty"`
	RecordedError bool   `json:"recorded_error,omitempty"`
	GotError      bool   `json:"got_error,omitempty"`
}

func (d Divergence) String() string {
	run := "main run"
	if d.Run != "" {
		run = fmt.Sprintf("run %q", d.Run)
	}
	switch d.Kind {
	case DivergedMissing:
		return fmt.Sprintf("%s, model call %d: no result fed back for %s call %s", run, d.Call+1, d.Tool, d.CallID)
	case DivergedUnrecorded:
		return fmt.Sprintf("%s, model call %d: %s call %s has no recorded result to compare with", run, d.Call+1, d.Tool, d.CallID)
	}
	return fmt.Sprintf("%s, model call %d: %s call %s was fed a different result than recorded", run, d.Call+1, d.Tool, d.CallID)
}

// Recorded is a Model that answers from an original run (a "cassette"): the
// k-th call it is asked answers with the k-th recorded model response of
// its run, whatever the request. Synthetic responses (written by the agent
// harness) and failed calls are not model answers and are skipped.
//
// Before answering call k it checks the request against the recording: the
// results of the tool calls recorded answer k-1 made must be fed back as
// recorded. Differences are kept as Divergences, so the engine can tell
// "the recorded model was fed a different tool result" from a faithful
// replay; the answer is the recorded one either way.
//
// A Recorded answers one run; Sub returns one for a sub-agent run. It is
// safe for concurrent use, but the calls of one run are answered in the
// order they are asked.
type Recorded struct {
	run     *trace.Run
	calls   []*trace.LLMCall
	results map[string]*trace.ToolCall // by call id

	// Equal compares a recorded result of tool with the one fed back; nil
	// compares exactly. The engine can plug in the normalizations its
	// fidelity report applies.
	Equal func(tool, recorded, got string) bool

	mu       sync.Mutex
	next     int
	diverged []Divergence
}

var _ Model = (*Recorded)(nil)

// NewRecorded returns a recorded model answering the main run of run.
func NewRecorded(run *trace.Run) *Recorded {
	r := &Recorded{run: run, results: map[string]*trace.ToolCall{}}
	for i := range run.Steps {
		s := &run.Steps[i]
		switch {
		case s.Kind == trace.KindLLM && s.LLM != nil && !s.LLM.Synthetic && s.LLM.Error == "":
			r.calls = append(r.calls, s.LLM)
		case s.Kind == trace.KindTool && s.Tool != nil && s.Tool.CallID != "":
			r.results[s.Tool.CallID] = s.Tool
		}
	}
	return r
}

// Key returns the key of the run it answers ("" is the main run).
func (r *Recorded) Key() string { return r.run.Meta.Key }

// Len returns the number of recorded model calls.
func (r *Recorded) Len() int { return len(r.calls) }

// Answered returns the number of calls answered so far.
func (r *Recorded) Answered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// NextTurn returns the user messages the next recorded call's request adds
// to the conversation: where the source recorded each request (Langfuse,
// OTel) but no separate message steps, a later user turn is only found
// there. A full input gives the user messages after its last assistant
// message; a delta input its user messages. Tool results are left out (the
// replay feeds its own). Nil when every call was answered or the next
// request records none.
func (r *Recorded) NextTurn() []trace.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next >= len(r.calls) {
		return nil
	}
	in := r.calls[r.next].Input
	if r.calls[r.next].InputMode == "full" {
		for i := len(in) - 1; i >= 0; i-- {
			if in[i].Role == "assistant" {
				in = in[i+1:]
				break
			}
		}
	}
	var out []trace.Message
	for _, m := range in {
		if m.Role != "user" || m.Meta {
			continue
		}
		var parts []trace.Part
		for _, p := range m.Parts {
			if p.Type != trace.PartToolResult {
				parts = append(parts, p)
			}
		}
		if len(parts) > 0 {
			m.Parts = parts
			out = append(out, m)
		}
	}
	return out
}

// Sub returns a recorded model for the sub-agent run that the tool call
// callID of this run started (found by the tool step's Child or the child's
// ParentCall). Each Sub call returns a fresh one, starting at its first
// call, with the same Equal.
func (r *Recorded) Sub(callID string) (*Recorded, error) {
	key := ""
	if tc := r.results[callID]; tc != nil {
		key = tc.Child
	}
	for _, c := range r.run.Children {
		if (key != "" && c.Meta.Key == key) || (callID != "" && c.Meta.ParentCall == callID) {
			sub := NewRecorded(c)
			sub.Equal = r.Equal
			return sub, nil
		}
	}
	return nil, fmt.Errorf("recorded sub-agent of call %q: run %q has no sub-agent run started by that call", callID, r.Key())
}

// Complete answers with the next recorded model response (a cancelled ctx
// answers nothing).
func (r *Recorded) Complete(ctx context.Context, req Request) (*trace.LLMCall, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("recorded model: run %q: %w", r.Key(), err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.next
	if k >= len(r.calls) {
		return nil, fmt.Errorf("recorded model: run %q recorded %d model calls and call %d was asked (the replay went on where the original stopped): %w", r.Key(), len(r.calls), k+1, ErrRecordingExhausted)
	}
	r.next++
	if k > 0 {
		r.diverged = append(r.diverged, r.check(k, req)...)
	}
	rec := r.calls[k]
	call := &trace.LLMCall{
		ID:         rec.ID,
		Params:     rec.Params,
		Model:      rec.Model,
		Output:     rec.Output,
		StopReason: rec.StopReason,
		Produced:   ProducedRecorded,
		Cost:       trace.Cost{Priced: trace.Float(0)}, // nothing is spent
	}
	if call.Model == "" {
		call.Model = rec.Params.Model
	}
	call.Output.Parts = slices.Clone(rec.Output.Parts)
	if rec.Usage != nil {
		u := *rec.Usage
		call.Usage = &u
	}
	return call, nil
}

// Divergences returns what the requests answered so far fed back
// differently from the recording.
func (r *Recorded) Divergences() []Divergence {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.diverged)
}

// check compares the results fed back in req for the tool calls that
// recorded answer k-1 made with the recorded results.
func (r *Recorded) check(k int, req Request) []Divergence {
	fed := map[string]*trace.Part{}
	for i := range req.Messages {
		for j := range req.Messages[i].Parts {
			if p := &req.Messages[i].Parts[j]; p.Type == trace.PartToolResult && p.ID != "" {
				fed[p.ID] = p // the last one fed for an id counts
			}
		}
	}
	var out []Divergence
	for _, p := range r.calls[k-1].Output.Parts {
		if p.Type != trace.PartToolCall || p.ID == "" {
			continue
		}
		d := Divergence{Run: r.Key(), Call: k, CallID: p.ID, Tool: p.Name}
		got, ok := fed[p.ID]
		rec := r.results[p.ID]
		switch {
		case !ok:
			d.Kind = DivergedMissing
		case rec == nil || rec.Status == trace.ToolMissing:
			d.Kind = DivergedUnrecorded
			d.Got, d.GotError = got.Text, got.IsError
		default:
			recErr := rec.Status == trace.ToolError
			if recErr == got.IsError && r.equal(p.Name, rec.Output, got.Text) {
				continue
			}
			d.Kind = DivergedResult
			d.Recorded, d.RecordedError = rec.Output, recErr
			d.Got, d.GotError = got.Text, got.IsError
		}
		out = append(out, d)
	}
	return out
}

func (r *Recorded) equal(tool, recorded, got string) bool {
	if r.Equal != nil {
		return r.Equal(tool, recorded, got)
	}
	return recorded == got
}
