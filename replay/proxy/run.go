package proxy

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// RunFormat is the RunMeta.Format of a run the proxy built, when meta
// names none.
const RunFormat = "replay-proxy"

// Run builds the canonical run of the exchanges so far: see the package
// doc. meta's fields are kept; empty ones are filled in (format, start and
// end times, instructions, model defaults).
//
// Requests are grouped into runs by conversation: requests with the same
// system prompt and the same first message are one agent's; the first such
// group is the main run, the others are sub-agent runs (keys "agent-1", …,
// linked to the main run's tool call whose arguments hold their first
// message, when one does). In recorded mode the recorded run that answered
// decides.
func (p *Proxy) Run(meta trace.RunMeta) *trace.Run {
	exs := p.Exchanges()
	div := p.Divergence()

	type thread struct {
		run  *trace.Run
		key  string
		prev *request
		last *trace.LLMCall
		n    int // llm steps
		exs  []int
	}
	var threads []*thread
	byKey := map[string]*thread{}
	root := &trace.Run{Meta: meta}
	rootTaken := false
	var warnings []trace.Warning
	for i := range exs {
		ex := &exs[i]
		if ex.req == nil {
			warnings = append(warnings, trace.Warning{Message: fmt.Sprintf("request %d (%s %s): %s", i+1, "POST", ex.Path, ex.Error)})
			continue
		}
		if ex.Response == nil && ex.Fault == FaultDiverged {
			continue
		}
		req := ex.req
		if len(ex.Sent) > 0 && !bytes.Equal(ex.Sent, ex.Request) {
			if r, err := parseRequest(req.Format, ex.Sent); err == nil {
				req = r
			}
		}
		key := "conv\x00" + normText(ex.req.System) + "\x00" + firstMessage(ex.req.Messages)
		sub := ex.Produced == ProducedRecorded && ex.Run != ""
		if sub {
			key = "rec\x00" + ex.Run
		}
		th := byKey[key]
		if th == nil {
			th = &thread{key: key}
			if !rootTaken && !sub {
				th.run = root
				rootTaken = true
			} else {
				th.run = &trace.Run{Meta: trace.RunMeta{Key: fmt.Sprintf("agent-%d", len(threads)), Format: RunFormat}}
				if ex.Produced == ProducedRecorded && ex.Run != "" {
					th.run.Meta.Key = ex.Run
				}
			}
			threads = append(threads, th)
			byKey[key] = th
		}
		r := th.run
		if th.n == 0 {
			if r.Meta.Instr.System == "" {
				r.Meta.Instr.System = req.System
			}
			if len(r.Meta.Instr.Tools) == 0 {
				r.Meta.Instr.Tools = req.Tools
			}
			if r.Meta.Defaults.Model == "" {
				r.Meta.Defaults = req.Params
			}
			if r.Meta.StartedAt.IsZero() {
				r.Meta.StartedAt = ex.Time
			}
		} else {
			r.Meta.Instr.Tools = mergeTools(r.Meta.Instr.Tools, req.Tools)
		}
		// The previous answer's tool calls, with their results from this
		// request.
		results := map[string]trace.Part{}
		for _, m := range req.Messages {
			for _, pt := range m.Parts {
				if pt.Type == trace.PartToolResult && pt.ID != "" {
					results[pt.ID] = pt
				}
			}
		}
		if th.last != nil {
			appendTools(r, th.last, results, ex.Time)
		}
		// Messages new since the previous request (all of the first one's),
		// tool results left out.
		from := 0
		if th.prev != nil {
			from = min(len(th.prev.Messages)+1, len(req.Messages))
		}
		for _, m := range req.Messages[from:] {
			mm := m
			mm.Parts = nil
			for _, pt := range m.Parts {
				if pt.Type != trace.PartToolResult {
					mm.Parts = append(mm.Parts, pt)
				}
			}
			if len(mm.Parts) > 0 {
				r.Steps = append(r.Steps, trace.Step{Kind: trace.KindMessage, Time: ex.Time, Message: &mm})
			}
		}
		call := &trace.LLMCall{Params: req.Params, InputMode: "full", Model: ex.Model}
		if ex.Response != nil {
			c := *ex.Response
			call = &c
			call.Params = req.Params
			call.InputMode = "full"
			if call.Model == "" {
				call.Model = ex.Model
			}
			if call.Produced == "" {
				call.Produced = ex.Produced
			}
			if call.LatencyMS == 0 {
				call.LatencyMS = ex.LatencyMS
			}
		} else {
			call.Error = ex.Error
			if call.Error == "" {
				call.Error = fmt.Sprintf("status %d", ex.Status)
			}
		}
		call.Input = make([]trace.Message, 0, len(req.Messages)+1)
		if req.System != "" {
			call.Input = append(call.Input, trace.Message{Role: "system", Parts: []trace.Part{{Type: trace.PartText, Text: req.System}}})
		}
		call.Input = append(call.Input, req.Messages...)
		if call.Usage != nil && call.Cost.Priced == nil && call.Error == "" && call.Produced != ProducedCache {
			for _, m := range []string{call.Model, req.Model} {
				if usd, ok := p.pricing.Price(m, *call.Usage); m != "" && ok {
					call.Cost.Priced = &usd
					break
				}
			}
		}
		r.Steps = append(r.Steps, trace.Step{Kind: trace.KindLLM, Time: ex.Time, LLM: call})
		r.Meta.EndedAt = ex.Time.Add(time.Duration(ex.LatencyMS) * time.Millisecond)
		th.prev, th.n = req, th.n+1
		th.exs = append(th.exs, i)
		th.last = nil
		if call.Error == "" {
			th.last = call
		}
		if r.Outcome == nil {
			r.Outcome = &trace.Outcome{}
		}
		if call.Error != "" {
			r.Outcome.Status, r.Outcome.Error = trace.StatusError, call.Error
		} else {
			r.Outcome.Status, r.Outcome.Error = trace.StatusOK, ""
			if t := call.Output.Text(); t != "" {
				r.Outcome.Final = t
			}
		}
	}
	for _, th := range threads {
		if th.last != nil {
			appendTools(th.run, th.last, nil, th.run.Meta.EndedAt)
		}
	}
	// Sub-agents hang under the tool call that holds their first message.
	for _, th := range threads {
		if th.run == root {
			continue
		}
		first := ""
		for _, s := range th.run.Steps {
			if s.Kind == trace.KindMessage && s.Message.Role == "user" {
				first = s.Message.Text()
				break
			}
		}
		if first != "" {
			root.Walk(func(r *trace.Run) {
				for i := range r.Steps {
					t := r.Steps[i].Tool
					if t != nil && t.Child == "" && th.run.Meta.ParentCall == "" && strings.Contains(normArgs(t.Arguments), jsonInner(first)) {
						t.Child = th.run.Meta.Key
						th.run.Meta.Parent, th.run.Meta.ParentCall = r.Meta.Key, t.CallID
					}
				}
			})
		}
		root.Children = append(root.Children, th.run)
	}
	if root.Meta.Format == "" {
		root.Meta.Format = RunFormat
	}
	if root.Meta.Generator == "" {
		root.Meta.Generator = "replay proxy"
	}
	if root.Meta.StartedAt.IsZero() && len(exs) > 0 {
		root.Meta.StartedAt = exs[0].Time
	}
	if div != nil {
		if root.Outcome == nil {
			root.Outcome = &trace.Outcome{Status: trace.StatusError}
		}
		if p.cfg.AfterDivergence != AfterForward {
			root.Outcome.Status = trace.StatusError
			root.Outcome.Error = div.String()
			root.Outcome.Stopped = "diverged"
			root.Outcome.StoppedAt = len(root.Steps) + 1
		}
		warnings = append(warnings, trace.Warning{Message: div.String()})
	}
	if root.Outcome == nil {
		root.Outcome = &trace.Outcome{Status: trace.StatusUnknown}
	}
	root.Warnings = append(root.Warnings, warnings...)
	return root
}

// appendTools adds a tool step for each tool call of call, its result from
// results (by call id); a call without one is missing.
func appendTools(r *trace.Run, call *trace.LLMCall, results map[string]trace.Part, t time.Time) {
	for _, pt := range call.Output.Parts {
		if pt.Type != trace.PartToolCall {
			continue
		}
		tc := &trace.ToolCall{CallID: pt.ID, Name: pt.Name, Arguments: pt.Arguments, Status: trace.ToolMissing}
		if res, ok := results[pt.ID]; ok {
			tc.Status, tc.Output = trace.ToolOK, res.Text
			if res.IsError {
				tc.Status = trace.ToolError
			}
		}
		r.Steps = append(r.Steps, trace.Step{Kind: trace.KindTool, Time: t, Tool: tc})
	}
}

func mergeTools(have, more []trace.ToolDef) []trace.ToolDef {
	seen := map[string]bool{}
	for _, t := range have {
		seen[t.Name] = true
	}
	for _, t := range more {
		if !seen[t.Name] {
			have = append(have, t)
			seen[t.Name] = true
		}
	}
	return have
}

func firstMessage(ms []trace.Message) string {
	for _, m := range ms {
		if m.Role == "user" {
			return normText(m.Text())
		}
	}
	return ""
}

// jsonInner is s as it appears inside a JSON string (escaped, unquoted).
func jsonInner(s string) string {
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100])
	}
	b, _ := json.MarshalNoEscape(s)
	return strings.TrimSuffix(strings.TrimPrefix(string(b), `"`), `"`)
}
