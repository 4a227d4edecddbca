package claudecode

import (
	"fmt"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// render writes a run as stable text for golden files: one line per step,
// children after the steps of their parent.
func render(r *trace.Run) string {
	var sb strings.Builder
	var walk func(r *trace.Run, depth int)
	walk = func(r *trace.Run, depth int) {
		ind := strings.Repeat("  ", depth)
		m := r.Meta
		fmt.Fprintf(&sb, "%srun %q parent=%q call=%q agent=%q format=%s session=%s sessions=%v gen=%q model=%q\n",
			ind, m.Key, m.Parent, m.ParentCall, m.Agent, m.Format, m.Session, m.Sessions, m.Generator, m.Defaults.Model)
		m.Refs.Each(func(name string, ref *trace.Ref) {
			fmt.Fprintf(&sb, "%s  ref %s=%q (%s from %s)\n", ind, name, ref.Value, ref.Provenance, ref.From)
		})
		if len(m.Instr.Tools) > 0 {
			var names []string
			for _, t := range m.Instr.Tools {
				names = append(names, t.Name)
			}
			fmt.Fprintf(&sb, "%s  tools %s\n", ind, strings.Join(names, ","))
		}
		if len(m.Attributes) > 0 {
			fmt.Fprintf(&sb, "%s  attributes %d\n", ind, len(m.Attributes))
		}
		fmt.Fprintf(&sb, "%s  time %s .. %s\n", ind, m.StartedAt.Format("15:04:05.000"), m.EndedAt.Format("15:04:05.000"))
		for _, s := range r.Steps {
			switch s.Kind {
			case trace.KindMessage:
				fmt.Fprintf(&sb, "%s  message %s name=%q meta=%v %s\n", ind, s.Message.Role, s.Message.Name, s.Message.Meta, parts(s.Message.Parts))
			case trace.KindLLM:
				l := s.LLM
				u := "-"
				if l.Usage != nil {
					u = fmt.Sprintf("in=%d out=%d cr=%d cw=%d", l.Usage.Input, l.Usage.Output, l.Usage.CacheRead, l.Usage.CacheWrite)
				}
				fmt.Fprintf(&sb, "%s  llm %s model=%q synthetic=%v err=%q usage[%s] %s\n", ind, l.ID, l.Model, l.Synthetic, l.Error, u, parts(l.Output.Parts))
			case trace.KindTool:
				t := s.Tool
				ec := "-"
				if t.ExitCode != nil {
					ec = fmt.Sprint(*t.ExitCode)
				}
				fmt.Fprintf(&sb, "%s  tool %s %s status=%s exit=%s dur=%d child=%q args=%s out=%q raw=%s detail=%s\n", ind,
					t.CallID, t.Name, t.Status, ec, t.DurationMS, t.Child, t.Arguments, clip(t.Output), t.OutputRaw, t.Detail)
			}
		}
		for _, c := range r.Children {
			walk(c, depth+1)
		}
		if o := r.Outcome; o != nil {
			rec := ""
			if t := o.Recorded; t != nil {
				rec = fmt.Sprintf(" recorded[turns=%d dur=%d", t.Turns, t.DurationMS)
				if t.CostUSD != nil {
					rec += fmt.Sprintf(" cost=%g", *t.CostUSD)
				}
				if t.Usage != nil {
					rec += fmt.Sprintf(" usage=%+v", *t.Usage)
				}
				rec += "]"
			}
			fmt.Fprintf(&sb, "%s  outcome %s err=%q final=%q%s\n", ind, o.Status, o.Error, clip(o.Final), rec)
		}
	}
	walk(r, 0)
	for _, w := range r.Warnings {
		fmt.Fprintf(&sb, "warning %s\n", w.Message)
	}
	return sb.String()
}

func parts(ps []trace.Part) string {
	var out []string
	for _, p := range ps {
		switch p.Type {
		case trace.PartToolCall:
			out = append(out, fmt.Sprintf("[tool_call %s %s]", p.ID, p.Name))
		case trace.PartOther, trace.PartImage:
			out = append(out, fmt.Sprintf("[%s %s raw=%d]", p.Type, p.Name, len(p.Raw)))
		default:
			out = append(out, fmt.Sprintf("[%s %q]", p.Type, clip(p.Text)))
		}
	}
	return strings.Join(out, " ")
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
