package proxy

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// recording is the recorded side: every run of the recording with its
// model calls and the request each was answering.
type recording struct {
	runs []*recRun // the main run first
}

type recRun struct {
	key, agent string
	system     string // the run's recorded system prompt ("" unknown)
	tools      []trace.ToolDef
	calls      []*trace.LLMCall
	systems    []string          // per call: the system prompt its request carried
	inputs     [][]trace.Message // per call: the conversation it answered
	norms      []string          // per call: the normalized request, built when first needed
	next       int               // the next call to answer
}

func newRecording(run *trace.Run) *recording {
	rec := &recording{}
	run.Walk(func(r *trace.Run) {
		rec.runs = append(rec.runs, newRecRun(r))
	})
	return rec
}

func newRecRun(r *trace.Run) *recRun {
	rr := &recRun{key: r.Meta.Key, agent: r.Meta.Agent, system: r.Meta.Instr.System, tools: r.Meta.Instr.Tools}
	var conv []trace.Message
	system := rr.system
	for i := range r.Steps {
		s := &r.Steps[i]
		switch {
		case s.Kind == trace.KindMessage && s.Message != nil:
			if s.Message.Role == "system" && len(conv) == 0 {
				system = joinNonEmpty(system, s.Message.Text())
				continue
			}
			conv = append(conv, *s.Message)
		case s.Kind == trace.KindLLM && s.LLM != nil:
			c := s.LLM
			if c.Synthetic || c.Error != "" {
				continue
			}
			callSystem := system
			switch c.InputMode {
			case "full":
				conv = nil
				callSystem = ""
				for _, m := range c.Input {
					if m.Role == "system" && len(conv) == 0 {
						callSystem = joinNonEmpty(callSystem, m.Text())
						continue
					}
					conv = append(conv, m)
				}
				if callSystem == "" {
					callSystem = system
				}
			case "delta":
				conv = append(conv, c.Input...)
			}
			rr.calls = append(rr.calls, c)
			rr.systems = append(rr.systems, callSystem)
			rr.inputs = append(rr.inputs, append([]trace.Message(nil), conv...))
			conv = append(conv, c.Output)
		case s.Kind == trace.KindTool && s.Tool != nil:
			conv = append(conv, trace.Message{Role: "tool", Parts: []trace.Part{{Type: trace.PartToolResult, ID: s.Tool.CallID,
				Text: s.Tool.Output, IsError: s.Tool.Status == trace.ToolError}}})
		}
	}
	if rr.system == "" && len(rr.systems) > 0 {
		rr.system = rr.systems[0]
	}
	rr.norms = make([]string, len(rr.calls))
	return rr
}

func (rr *recRun) opts(k int) normOptions {
	return normOptions{system: rr.systems[k] != "", tools: len(rr.tools) > 0}
}

// norm is the normalized request call k answered.
func (rr *recRun) norm(k int) string {
	if rr.norms[k] == "" {
		rr.norms[k] = normalize(rr.systems[k], rr.inputs[k], rr.tools, rr.opts(k))
	}
	return rr.norms[k]
}

func (rr *recRun) label() string {
	if rr.key == "" {
		return "the main run"
	}
	return fmt.Sprintf("run %q", rr.key)
}

// answer is what recorded mode makes of a request.
type answer struct {
	call    *trace.LLMCall // answer with it
	forward bool           // forward it
	status  int            // else: an error
	kind    string
	msg     string
}

// answerRecorded matches req against the recording (the lock is taken
// here).
func (p *Proxy) answerRecorded(ex *Exchange, req *request) answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := p.rec
	main := rec.runs[0]
	if p.cfg.Mode == ModeFork && !p.forkDone && main.next >= p.cfg.ForkStep-1 {
		p.forkDone = true
	}
	if p.forkDone {
		return answer{forward: true}
	}
	if p.diverged != nil {
		if p.cfg.AfterDivergence == AfterForward {
			return answer{forward: true}
		}
		msg := fmt.Sprintf("replay proxy: this run diverged from the recording at model call %d (%s); nothing is answered after the first divergence", p.diverged.Step, p.diverged.Reason)
		ex.Fault, ex.Status, ex.Error = FaultDiverged, http.StatusConflict, msg
		return answer{status: http.StatusConflict, kind: "replay_diverged", msg: msg}
	}
	got := map[normOptions]string{}
	gotFor := func(o normOptions) string {
		s, ok := got[o]
		if !ok {
			s = normalize(req.System, req.Messages, req.Tools, o)
			got[o] = s
		}
		return s
	}
	for _, rr := range rec.runs {
		if rr.next < len(rr.calls) && rr.norm(rr.next) == gotFor(rr.opts(rr.next)) {
			k := rr.next
			rr.next++
			return p.recordedAnswer(ex, rr, k)
		}
	}
	// The agent asked the last answered request again (a client-side
	// retry): the same answer.
	for _, rr := range rec.runs {
		if k := rr.next - 1; k >= 0 && rr.norm(k) == gotFor(rr.opts(k)) {
			return p.recordedAnswer(ex, rr, k)
		}
	}
	d := p.divergence(req, gotFor)
	d.Exchange = len(p.exchanges) - 1
	for i, e := range p.exchanges {
		if e == ex {
			d.Exchange = i
		}
	}
	p.diverged = d
	if p.cfg.AfterDivergence == AfterForward {
		return answer{forward: true}
	}
	msg := "replay proxy: " + d.String() + "; the recording has no answer for this request (see the run's divergence report for the diff)"
	ex.Fault, ex.Status, ex.Error = FaultDiverged, http.StatusConflict, msg
	return answer{status: http.StatusConflict, kind: "replay_diverged", msg: msg}
}

func (p *Proxy) recordedAnswer(ex *Exchange, rr *recRun, k int) answer {
	call := *rr.calls[k]
	call.Produced = ProducedRecorded
	ex.Run, ex.Step, ex.Status, ex.Produced = rr.key, k+1, http.StatusOK, ProducedRecorded
	ex.Response = &call
	ex.Model = call.Model
	if ex.Model == "" && ex.req != nil {
		ex.Model = ex.req.Model
	}
	return answer{call: &call}
}

// divergence describes a request that matched no recorded call, against
// the run it most likely belongs to.
func (p *Proxy) divergence(req *request, gotFor func(normOptions) string) *Divergence {
	var best *recRun
	sys := normText(req.System)
	for _, rr := range p.rec.runs {
		if rr.next < len(rr.calls) && rr.system != "" && normText(rr.systems[rr.next]) == sys {
			best = rr
			break
		}
	}
	if best == nil {
		for _, rr := range p.rec.runs {
			if rr.next < len(rr.calls) {
				best = rr
				break
			}
		}
	}
	if best == nil {
		main := p.rec.runs[0]
		total := 0
		for _, rr := range p.rec.runs {
			total += len(rr.calls)
		}
		return &Divergence{Step: main.next + 1, Run: main.key, Agent: main.agent,
			Reason: fmt.Sprintf("the recording has no more model calls (all %d were answered) and the agent made another", total)}
	}
	k := best.next
	exp, got := best.norm(k), gotFor(best.opts(k))
	reason := firstDifference(exp, got)
	if best.systems[k] != "" && normText(best.systems[k]) != sys {
		reason = "the system prompt differs; " + reason
	}
	return &Divergence{Step: k + 1, Run: best.key, Agent: best.agent, Reason: reason, Diff: diffText(exp, got)}
}

// promptFor returns the prompt that replaces req's system prompt, if any:
// a sub-agent's from Config.Prompts, else Config.System.
func (p *Proxy) promptFor(req *request) (string, bool) {
	if len(p.cfg.Prompts) > 0 {
		sys := normText(req.System)
		if p.rec != nil {
			for _, rr := range p.rec.runs {
				text, ok := p.cfg.Prompts[rr.agent]
				if !ok {
					text, ok = p.cfg.Prompts[rr.key]
				}
				if ok && rr.system != "" && normText(rr.system) == sys {
					return text, true
				}
			}
		}
		for name, text := range p.cfg.Prompts {
			if namesAgent(req.System, name) {
				return text, true
			}
		}
	}
	if p.cfg.System != nil {
		return *p.cfg.System, true
	}
	return "", false
}

// namesAgent reports whether a system prompt names agent name: it starts
// with the name followed by a line break, ':' or '.', or its front matter
// says "name: NAME".
func namesAgent(system, name string) bool {
	if name == "" {
		return false
	}
	s := strings.TrimSpace(system)
	if rest, ok := strings.CutPrefix(s, name); ok && (rest == "" || strings.ContainsAny(rest[:1], "\n:.")) {
		return true
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "name: "+name {
			return true
		}
	}
	return false
}
