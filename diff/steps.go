package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentreplay/replay/replay/trace"
)

func info(r *trace.Run) RunInfo {
	in := RunInfo{ID: r.Meta.ID, Agent: r.Meta.Agent, Format: r.Meta.Format, Source: r.Meta.Source, Models: []string{},
		Status: trace.StatusUnknown, Steps: len(r.Steps), Replay: r.Meta.Replay}
	if o := r.Outcome; o != nil {
		if o.Status != "" {
			in.Status = o.Status
		}
		in.Stopped, in.StoppedAt = o.Stopped, o.StoppedAt
	}
	seen := map[string]bool{}
	for _, s := range r.Steps {
		if l := s.LLM; l != nil && !l.Synthetic {
			m := l.Model
			if m == "" {
				m = l.Params.Model
			}
			if m != "" && !seen[m] {
				seen[m] = true
				in.Models = append(in.Models, m)
			}
		}
	}
	slices.Sort(in.Models)
	return in
}

// warnings: runs of different traces or agents may be compared, but say so.
func warnings(a, b *trace.Run) []string {
	w := []string{}
	related := func(x, y *trace.Run) bool {
		xo, yo := x.Meta.Replay, y.Meta.Replay
		switch {
		case x.Meta.ID != "" && x.Meta.ID == y.Meta.ID:
			return true
		case yo != nil && x.Meta.ID != "" && yo.Of == x.Meta.ID:
			return true
		case xo != nil && y.Meta.ID != "" && xo.Of == y.Meta.ID:
			return true
		case xo != nil && yo != nil && xo.Of == yo.Of:
			return true
		case x.Meta.Session != "" && x.Meta.Session == y.Meta.Session:
			return true
		}
		return false
	}
	if !related(a, b) {
		w = append(w, "the runs are not of the same trace (neither is a replay of the other): the diff compares unrelated runs")
	}
	if a.Meta.Agent != b.Meta.Agent && a.Meta.Agent != "" && b.Meta.Agent != "" {
		w = append(w, fmt.Sprintf("the runs are of different agents: %q and %q", a.Meta.Agent, b.Meta.Agent))
	}
	return w
}

// views turns a run's steps into the diff's steps.
func views(r *trace.Run) []*Step {
	out := make([]*Step, len(r.Steps))
	for i, s := range r.Steps {
		v := &Step{N: i + 1, Kind: s.Kind}
		switch {
		case s.Tool != nil:
			t := s.Tool
			v.Kind, v.Tool, v.Args, v.Status, v.Output = trace.KindTool, t.Name, t.Arguments, t.Status, t.Output
			if v.Output == "" && len(t.OutputRaw) > 0 {
				v.Output = string(t.OutputRaw)
			}
			v.Produced, v.Child, v.LatencyMS = t.Produced, t.Child, t.DurationMS
			v.callKey = callKey(t.Name, t.Arguments)
		case s.LLM != nil:
			l := s.LLM
			v.Kind, v.Text, v.Model, v.Usage, v.Cost, v.LatencyMS, v.Error, v.Produced = trace.KindLLM, l.Output.Text(), l.Model, l.Usage, l.Cost, l.LatencyMS, l.Error, l.Produced
			for _, p := range l.Output.Parts {
				if p.Type == trace.PartToolCall {
					v.Calls = append(v.Calls, p.Name)
				}
			}
		case s.Message != nil:
			v.Kind, v.Role, v.Text = trace.KindMessage, s.Message.Role, s.Message.Text()
		}
		out[i] = v
	}
	inCallOrder(r, out)
	return out
}

// inCallOrder puts the tool steps that answer one model response in the
// order the response made the calls. A harness that runs calls at once
// (Claude Code runs read-only tools in parallel) records the results as
// they came back, a replay as it ran them: the order of results within
// one response is no decision of the model's, so it must not read as an
// order change. Steps keep their numbers (N).
func inCallOrder(r *trace.Run, vs []*Step) {
	for i := 0; i < len(r.Steps); i++ {
		l := r.Steps[i].LLM
		if l == nil {
			continue
		}
		pos := map[string]int{}
		for _, p := range l.Output.Parts {
			if p.Type == trace.PartToolCall && p.ID != "" {
				pos[p.ID] = len(pos)
			}
		}
		if len(pos) < 2 {
			continue
		}
		j := i + 1
		for j < len(r.Steps) && r.Steps[j].Tool != nil {
			if _, ok := pos[r.Steps[j].Tool.CallID]; !ok {
				break
			}
			j++
		}
		block := vs[i+1 : j]
		ids := make(map[*Step]int, len(block))
		for k, v := range block {
			ids[v] = pos[r.Steps[i+1+k].Tool.CallID]
		}
		sort.SliceStable(block, func(x, y int) bool { return ids[block[x]] < ids[block[y]] })
		i = j - 1
	}
}

// interner numbers strings.
type interner map[string]int

func (in interner) id(s string) int {
	if n, ok := in[s]; ok {
		return n
	}
	n := len(in)
	in[s] = n
	return n
}

// keys computes the aligner's view of both runs' steps with one interner,
// so equal numbers mean equal strings across the runs.
func keys(sa, sb []*Step) ([]key, []key) {
	in := interner{}
	f := func(ss []*Step) []key {
		ks := make([]key, len(ss))
		for i, s := range ss {
			var content, sig, name string
			switch s.Kind {
			case trace.KindTool:
				name = "tool\x00" + s.Tool
				sig = name + "\x00" + argShape(s.Tool, s.Args)
				content = s.callKey + "\x00" + s.Status + "\x00" + s.Output
			case trace.KindLLM:
				name = "llm"
				sig = "llm\x00" + strings.Join(s.Calls, ",")
				content = sig + "\x00" + s.Text + "\x00" + s.Error
			default:
				name = s.Kind + "\x00" + s.Role
				sig = name
				content = name + "\x00" + s.Text
			}
			ks[i] = key{content: in.id("c" + content), sig: in.id("s" + sig), name: in.id("n" + name), kind: in.id("k" + s.Kind)}
		}
		return ks
	}
	return f(sa), f(sb)
}

// alignSteps aligns two step lists and classifies each pair.
func alignSteps(sa, sb []*Step) []StepPair {
	ka, kb := keys(sa, sb)
	ps := align(ka, kb)
	out := make([]StepPair, len(ps))
	var onlyA, onlyB map[string]int // call keys of unpaired tool steps
	for i, p := range ps {
		sp := StepPair{}
		switch {
		case p.a >= 0 && p.b >= 0:
			sp.A, sp.B = sa[p.a], sb[p.b]
			if ka[p.a].content == kb[p.b].content {
				sp.Op = OpEqual
			} else {
				sp.Op = OpChanged
			}
		case p.a >= 0:
			sp.Op, sp.A = OpDeleted, sa[p.a]
			if sp.A.Kind == trace.KindTool {
				if onlyA == nil {
					onlyA = map[string]int{}
				}
				onlyA[sp.A.callKey]++
			}
		default:
			sp.Op, sp.B = OpInserted, sb[p.b]
			if sp.B.Kind == trace.KindTool {
				if onlyB == nil {
					onlyB = map[string]int{}
				}
				onlyB[sp.B.callKey]++
			}
		}
		out[i] = sp
	}
	for i := range out {
		sp := &out[i]
		switch sp.Op {
		case OpChanged:
			if sp.A.Kind != trace.KindTool || sp.B.Kind != trace.KindTool {
				continue
			}
			switch {
			case sp.A.Tool != sp.B.Tool:
				sp.Kind = ToolChoice
			case sp.A.callKey != sp.B.callKey:
				sp.Kind = ArgsOnly
				sp.ArgChanges = argChanges(sp.A.Tool, sp.A.Args, sp.B.Args)
			default:
				sp.Kind = ResultStatus
			}
		case OpDeleted:
			if sp.A.Kind == trace.KindTool {
				sp.Kind = Deleted
				if onlyB[sp.A.callKey] > 0 {
					sp.Kind = OrderChange
				}
			}
		case OpInserted:
			if sp.B.Kind == trace.KindTool {
				sp.Kind = Inserted
				if onlyA[sp.B.callKey] > 0 {
					sp.Kind = OrderChange
				}
			}
		}
	}
	return out
}

// argChanges are the meaningful changes of a call's arguments.
func argChanges(tool string, a, b json.RawMessage) []Change {
	cs := jsonChanges(a, b)
	out := cs[:0]
	for _, c := range cs {
		top, _, _ := strings.Cut(strings.TrimPrefix(c.Path, "."), ".")
		top, _, _ = strings.Cut(top, "[")
		if !cosmetic(tool, top) {
			out = append(out, c)
		}
	}
	return out
}

// normalize turns result_status pairs whose results are the same up to
// meaningless differences into equal pairs.
func normalize(ps []StepPair, same func(string, string, bool, string, bool) bool) {
	if same == nil {
		return
	}
	for i := range ps {
		sp := &ps[i]
		if sp.Kind == ResultStatus && same(sp.A.Tool, sp.A.Output, sp.A.Status != trace.ToolOK, sp.B.Output, sp.B.Status != trace.ToolOK) {
			sp.Op, sp.Kind, sp.Normalized = OpEqual, "", true
		}
	}
}

// forkStep is K of a replay forked at step K (0: not forked).
func forkStep(r *trace.Run) int {
	if o := r.Meta.Replay; o != nil {
		if k, err := strconv.Atoi(o.Variant["from-step"]); err == nil && k > 1 {
			return k
		}
	}
	return 0
}

// prefix counts the steps before K that the fork reproduced.
func prefix(ps []StepPair, from int) *Prefix {
	if from <= 1 {
		return nil
	}
	p := &Prefix{FromStep: from, Of: from - 1}
	for _, sp := range ps {
		if sp.Op == OpEqual && sp.A.N < from && sp.B.N < from && sp.A.N == sp.B.N {
			p.Reproduced++
		}
	}
	return p
}

// beforeFork reports whether a pair lies in the prefix of a fork at step K.
func beforeFork(sp StepPair, from int) bool {
	if from <= 1 {
		return false
	}
	if sp.B != nil {
		return sp.B.N < from
	}
	return sp.A.N < from
}

// firstDivergence is the first pair (at or after the fork) whose actions
// differ, and its index.
func firstDivergence(ps []StepPair, from int) (*Divergence, int) {
	for i, sp := range ps {
		if sp.Kind == "" || beforeFork(sp, from) {
			continue
		}
		return divergenceAt("", ps, i), i
	}
	return nil, -1
}

func divergenceAt(run string, ps []StepPair, i int) *Divergence {
	sp := ps[i]
	d := &Divergence{Kind: sp.Kind, Run: run, Pair: i, Original: "-", Replay: "-"}
	if sp.A != nil {
		d.A, d.Original = sp.A.N, callText(sp.A)
	}
	if sp.B != nil {
		d.B, d.Replay = sp.B.N, callText(sp.B)
	}
	switch sp.Kind {
	case ToolChoice:
		d.What = sp.A.Tool + " → " + sp.B.Tool
	case ArgsOnly:
		var paths []string
		for _, c := range sp.ArgChanges {
			paths = append(paths, c.Path)
		}
		d.What = sp.A.Tool + " " + clip(strings.Join(paths, ", "), 60)
	case ResultStatus:
		d.What = sp.A.Tool + " result " + statusOf(sp.A) + " → " + statusOf(sp.B)
	case Deleted:
		d.What = "only A calls " + sp.A.Tool
	case Inserted:
		d.What = "only B calls " + sp.B.Tool
	case OrderChange:
		if sp.A != nil {
			d.What = sp.A.Tool + " moved"
		} else {
			d.What = sp.B.Tool + " moved"
		}
	}
	return d
}

func statusOf(s *Step) string {
	if s.Status == trace.ToolOK || s.Status == "" {
		return "ok (" + plural(len(s.Output), "byte") + ")"
	}
	return s.Status
}

// recovery is the first tool step after the divergence where the runs do
// the same again.
func recovery(ps []StepPair, from int) *Recovery {
	if from < 0 {
		return nil
	}
	for i := from + 1; i < len(ps); i++ {
		if sp := ps[i]; sp.Op == OpEqual && sp.A.Kind == trace.KindTool {
			return &Recovery{A: sp.A.N, B: sp.B.N, Pair: i}
		}
	}
	return nil
}

// alignChildren pairs the sub-agent runs of a and b: by the aligned parent
// calls that started them, then by agent in order; each pair is aligned in
// turn (not flattened into the parent).
func alignChildren(a, b *trace.Run, ps []StepPair, same func(string, string, bool, string, bool) bool) []ChildDiff {
	ca, cb := map[string]*trace.Run{}, map[string]*trace.Run{}
	for _, c := range a.Children {
		ca[c.Meta.Key] = c
	}
	for _, c := range b.Children {
		cb[c.Meta.Key] = c
	}
	// A child started by call id (ParentCall) or named by the call (Child).
	byCall := func(r *trace.Run, m map[string]*trace.Run, s *Step, callID string) *trace.Run {
		if s.Child != "" && m[s.Child] != nil {
			return m[s.Child]
		}
		for _, c := range r.Children {
			if callID != "" && c.Meta.ParentCall == callID {
				return c
			}
		}
		return nil
	}
	used := map[*trace.Run]bool{}
	var out []ChildDiff
	for _, sp := range ps {
		if sp.A == nil || sp.B == nil || sp.A.Kind != trace.KindTool || sp.B.Kind != trace.KindTool {
			continue
		}
		x := byCall(a, ca, sp.A, callID(a, sp.A.N))
		y := byCall(b, cb, sp.B, callID(b, sp.B.N))
		if x == nil || y == nil || used[x] || used[y] {
			continue
		}
		used[x], used[y] = true, true
		out = append(out, childDiff(x, y, "parent call", same))
	}
	var restA, restB []*trace.Run
	for _, c := range a.Children {
		if !used[c] {
			restA = append(restA, c)
		}
	}
	for _, c := range b.Children {
		if !used[c] {
			restB = append(restB, c)
		}
	}
	for _, x := range restA {
		var match *trace.Run
		for _, y := range restB {
			if !used[y] && y.Meta.Agent == x.Meta.Agent {
				match = y
				break
			}
		}
		if match != nil {
			used[x], used[match] = true, true
			out = append(out, childDiff(x, match, "agent", same))
		} else {
			used[x] = true
			out = append(out, childDiff(x, nil, "none", same))
		}
	}
	for _, y := range restB {
		if !used[y] {
			out = append(out, childDiff(nil, y, "none", same))
		}
	}
	if out == nil {
		out = []ChildDiff{}
	}
	return out
}

func callID(r *trace.Run, n int) string {
	if n >= 1 && n <= len(r.Steps) && r.Steps[n-1].Tool != nil {
		return r.Steps[n-1].Tool.CallID
	}
	return ""
}

func childDiff(x, y *trace.Run, how string, same func(string, string, bool, string, bool) bool) ChildDiff {
	cd := ChildDiff{Match: how}
	ex, ey := x, y
	if ex == nil {
		ex = &trace.Run{}
	} else {
		cd.A, cd.Agent = x.Meta.Key, x.Meta.Agent
	}
	if ey == nil {
		ey = &trace.Run{}
	} else {
		cd.B = y.Meta.Key
		if cd.Agent == "" {
			cd.Agent = y.Meta.Agent
		}
	}
	cd.Steps = alignSteps(views(ex), views(ey))
	normalize(cd.Steps, same)
	run := cd.B
	if run == "" {
		run = cd.A
	}
	for i, sp := range cd.Steps {
		if sp.Kind != "" {
			cd.First = divergenceAt(run, cd.Steps, i)
			cd.First.Step = stepOf(cd.First)
			break
		}
	}
	if x != nil && y != nil && (len(x.Children) > 0 || len(y.Children) > 0) {
		cd.Children = alignChildren(ex, ey, cd.Steps, same)
	}
	return cd
}

func final(r *trace.Run) string {
	if r.Outcome != nil && r.Outcome.Final != "" {
		return r.Outcome.Final
	}
	for i := len(r.Steps) - 1; i >= 0; i-- {
		if l := r.Steps[i].LLM; l != nil {
			if t := l.Output.Text(); t != "" {
				return t
			}
		}
	}
	return ""
}

func stopped(in RunInfo, side string) []string {
	var out []string
	switch {
	case in.Stopped != "":
		s := fmt.Sprintf("%s stopped early: %s", side, in.Stopped)
		if in.StoppedAt > 0 {
			s += fmt.Sprintf(" at step %d", in.StoppedAt)
		}
		out = append(out, s)
	case in.Status == trace.StatusError || in.Status == trace.StatusInterrupted:
		out = append(out, fmt.Sprintf("%s ended with status %s", side, in.Status))
	}
	return out
}

func verdictLine(r *Report) string {
	var parts []string
	if p := r.Verdict.Prefix; p != nil {
		parts = append(parts, fmt.Sprintf("prefix reproduced: %d/%d steps", p.Reproduced, p.Of))
	}
	switch d := r.Verdict.First; {
	case d == nil:
		parts = append(parts, "same actions")
	case d.Kind == FinalOutput || d.Kind == DecisionKind:
		parts = append(parts, "same actions, "+d.What)
	default:
		where := fmt.Sprintf("step %d", d.B)
		if d.B == 0 {
			where = fmt.Sprintf("A's step %d", d.A)
		}
		if d.Run != "" {
			where += " of sub-agent " + d.Run
		}
		parts = append(parts, fmt.Sprintf("diverged at %s (%s: %s)", where, d.Kind, d.What))
	}
	dl := r.Decision.Label
	if dl[0] == dl[1] {
		if r.Decision.Agree {
			parts = append(parts, "decision "+dl[0]+" (unchanged)")
		} else {
			parts = append(parts, "decision "+dl[0]+", changed")
		}
	} else {
		parts = append(parts, "decision "+dl[0]+" → "+dl[1])
	}
	line := strings.Join(parts, "; ")
	for _, s := range r.Verdict.Stopped {
		line += "; " + s
	}
	return line
}

// stepOf is the step a divergence is reported at: B's, else A's.
func stepOf(d *Divergence) int {
	if d.B > 0 {
		return d.B
	}
	return d.A
}

// callText shows a step in a few words.
func callText(s *Step) string {
	switch s.Kind {
	case trace.KindTool:
		return clip(s.Tool+" "+argSummary(s.Args), 120)
	case trace.KindLLM:
		if len(s.Calls) > 0 {
			return "model calls " + strings.Join(s.Calls, ", ")
		}
		return "model: " + clip(oneLine(s.Text), 100)
	}
	return s.Role + ": " + clip(oneLine(s.Text), 100)
}

// argSummary shows a call's main argument, else its compact arguments.
func argSummary(args json.RawMessage) string {
	var a map[string]any
	if json.Unmarshal(args, &a) == nil {
		for _, k := range []string{"command", "file_path", "pattern", "path", "description", "url", "query", "prompt"} {
			if s, ok := a[k].(string); ok && s != "" {
				return oneLine(s)
			}
		}
	}
	return canonical(args)
}

// canonical is JSON with sorted keys and no insignificant space; text
// that is not JSON stays as it is.
func canonical(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return string(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// cosmetic reports whether an argument of a tool carries no meaning for
// what the call does: the description Claude Code asks of Bash and Task
// calls (as the engine's own call matching ignores it).
func cosmetic(tool, arg string) bool {
	return arg == "description" && (tool == "Bash" || tool == "Task" || tool == "Agent")
}

// callKey identifies a call: its tool and canonical arguments, cosmetic
// arguments left out.
func callKey(name string, args json.RawMessage) string {
	if name == "Bash" || name == "Task" || name == "Agent" {
		var m map[string]json.RawMessage
		if json.Unmarshal(args, &m) == nil && m["description"] != nil {
			delete(m, "description")
			args, _ = json.Marshal(m)
		}
	}
	c := canonical(args)
	if c == "" {
		c = "{}"
	}
	return name + "\x00" + c
}

// argShape is the sorted top-level keys of a call's arguments.
func argShape(tool string, raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return "?"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		if !cosmetic(tool, k) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// clip cuts s to n runes with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
