package scenarios

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"

	"github.com/agentreplay/replay/diff"
	"github.com/agentreplay/replay/replay/trace"
)

// The variables a predicate sees (Expect.Predicates). Decisions are the
// JSON values of the runs' decisions (null when there is none).
var predicateVars = []cel.EnvOption{
	cel.Variable("decision", cel.DynType), // the new run's decision
	cel.Variable("findings", cel.DynType), // decision.findings, [] when there are none
	cel.Variable("original", cel.DynType), // the original run's decision
	cel.Variable("human", cel.DynType),    // the human's decision (the case's feedback), null when none
	cel.Variable("tools", cel.MapType(cel.StringType, cel.IntType)),
	cel.Variable("steps", cel.IntType), // model calls of the new run, sub-agents included
	cel.Variable("cost_usd", cel.DoubleType),
	cel.Variable("status", cel.StringType), // ok, error, interrupted
	cel.Variable("final", cel.StringType),  // the final message
	cel.Variable("patch", cel.StringType),  // the change to the workspace (a unified diff)
}

type predicate struct {
	src string
	prg cel.Program
}

func compilePredicate(src string) (*predicate, error) {
	env, err := cel.NewEnv(predicateVars...)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%q does not compile: %s", src, strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("%q is a %s, want a condition (true or false)", src, t)
	}
	prg, err := env.Program(ast)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", src, err)
	}
	return &predicate{src: src, prg: prg}, nil
}

// Failure is one expectation a run did not meet.
type Failure struct {
	Expect string `json:"expect"` // which: decision, predicate, tools_used, …
	Msg    string `json:"message"`
}

// Observed is what a new run did, as the expectations read it.
type Observed struct {
	Decision json.RawMessage
	Tools    map[string]int64
	Calls    []trace.ToolCall
	Steps    int
	CostUSD  float64
	Status   string
	Final    string
	Patch    string
	Denied   []string // "NAME: reason" of calls denied by policy
}

// Observe reads a run (sub-agents included).
func Observe(r *trace.Run, pricer trace.Pricer) Observed {
	o := Observed{Tools: map[string]int64{}}
	if r == nil {
		return o
	}
	r.Walk(func(x *trace.Run) {
		for _, s := range x.Steps {
			switch {
			case s.LLM != nil:
				if !s.LLM.Synthetic {
					o.Steps++
				}
				o.CostUSD += stepCost(s.LLM, pricer)
			case s.Tool != nil:
				o.Tools[s.Tool.Name]++
				o.Calls = append(o.Calls, *s.Tool)
				if s.Tool.Produced == "denied" {
					o.Denied = append(o.Denied, s.Tool.Name)
				}
			}
		}
	})
	if out := r.Outcome; out != nil {
		o.Status, o.Final, o.Patch = out.Status, out.Final, out.Patch
		if out.Decision != nil {
			o.Decision = out.Decision.Value
		}
	}
	return o
}

func stepCost(c *trace.LLMCall, pricer trace.Pricer) float64 {
	switch {
	case c.Cost.Priced != nil:
		return *c.Cost.Priced
	case c.Cost.Recorded != nil:
		return *c.Cost.Recorded
	case pricer != nil && c.Usage != nil:
		model := c.Model
		if model == "" {
			model = c.Params.Model
		}
		if p, ok := pricer.Price(model, *c.Usage); ok {
			return p
		}
	}
	return 0
}

// Check says which of the case's expectations the new run fails. orig is
// the original run (for decision: original and the predicates' original).
func (c *Case) Check(newRun, orig *trace.Run, pricer trace.Pricer) []Failure {
	o := Observe(newRun, pricer)
	var fails []Failure
	fail := func(what, format string, args ...any) {
		fails = append(fails, Failure{Expect: what, Msg: fmt.Sprintf(format, args...)})
	}
	e := c.Expect
	var human json.RawMessage
	if c.Feedback != nil && c.Feedback.Decision != nil {
		human, _ = json.Marshal(c.Feedback.Decision)
	}
	var origDecision json.RawMessage
	if orig != nil && orig.Outcome != nil && orig.Outcome.Decision != nil {
		origDecision = orig.Outcome.Decision.Value
	}
	switch e.Decision {
	case ExpectHuman:
		switch {
		case len(o.Decision) == 0:
			fail("decision", "the run made no decision; the human decided %s", compact(human))
		case !Contains(o.Decision, human):
			fail("decision", "decided %s; the human decided %s", label(o.Decision), compact(human))
		}
	case ExpectOriginal, ExpectNotOriginal:
		same := false
		if len(o.Decision) > 0 && orig != nil {
			same = diff.Runs(orig, newRun, diff.Options{}).Decision.Agree
		}
		if e.Decision == ExpectOriginal && !same {
			fail("decision", "decided %s; the original decided %s", label(o.Decision), label(origDecision))
		}
		if e.Decision == ExpectNotOriginal && (same || len(o.Decision) == 0) {
			if len(o.Decision) == 0 {
				fail("decision", "the run made no decision; it should differ from the original's %s", label(origDecision))
			} else {
				fail("decision", "decided %s again, as the original did (the human did not accept it)", label(o.Decision))
			}
		}
	}
	if len(c.preds) > 0 {
		vars := map[string]any{
			"decision": jsonValue(o.Decision), "findings": findingsOf(o.Decision), "original": jsonValue(origDecision),
			"human": jsonValue(human), "tools": o.Tools, "steps": int64(o.Steps), "cost_usd": o.CostUSD,
			"status": o.Status, "final": o.Final, "patch": o.Patch,
		}
		for _, p := range c.preds {
			out, _, err := p.prg.Eval(vars)
			switch {
			case err != nil:
				fail("predicates", "%s: %v", p.src, err)
			case out.Value() != true:
				fail("predicates", "%s is false", p.src)
			}
		}
	}
	for _, t := range e.ToolsUsed {
		if n := matchCalls(o.Calls, t); n == 0 {
			fail("tools_used", "%s was never called", t)
		}
	}
	for _, t := range e.ToolsNeverUsed {
		if n := matchCalls(o.Calls, t); n > 0 {
			fail("tools_never_used", "%s was called %d time(s)", t, n)
		}
	}
	if e.MaxSteps > 0 && o.Steps > e.MaxSteps {
		fail("max_steps", "%d model calls, more than %d", o.Steps, e.MaxSteps)
	}
	if e.MaxCostUSD > 0 && o.CostUSD > e.MaxCostUSD {
		fail("max_cost_usd", "cost $%.4f, more than $%.4f", o.CostUSD, e.MaxCostUSD)
	}
	if c.Harness != nil && newRun != nil {
		fails = append(fails, c.checkHarness(newRun)...)
	}
	if e.NoDeniedCalls && len(o.Denied) > 0 {
		fail("no_denied_calls", "%d call(s) denied by policy: %s", len(o.Denied), strings.Join(uniq(o.Denied), ", "))
	}
	return fails
}

// matchCalls counts the calls a NAME or NAME:TEXT pattern matches: the
// tool's name, and TEXT within its arguments (the command of a shell
// call, else the arguments' JSON).
func matchCalls(calls []trace.ToolCall, pattern string) int {
	name, text, hasText := strings.Cut(pattern, ":")
	name, text = strings.TrimSpace(name), strings.TrimSpace(text)
	n := 0
	for _, c := range calls {
		if !strings.EqualFold(c.Name, name) {
			continue
		}
		if hasText && !strings.Contains(argsText(c.Arguments), text) {
			continue
		}
		n++
	}
	return n
}

func argsText(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		for _, k := range []string{"command", "cmd"} {
			switch v := m[k].(type) {
			case string:
				return v
			case []any:
				var parts []string
				for _, p := range v {
					parts = append(parts, fmt.Sprint(p))
				}
				return strings.Join(parts, " ")
			}
		}
	}
	return string(raw)
}

// Contains reports whether decision holds want: every field of want
// (recursively for objects) is in decision with an equal value. A
// human's {"action": "request-changes"} is met by the agent's
// {"action": "request-changes", "findings": […]}.
func Contains(decision, want json.RawMessage) bool {
	var d, w any
	if json.Unmarshal(decision, &d) != nil || json.Unmarshal(want, &w) != nil {
		return false
	}
	return contains(d, w)
}

func contains(d, w any) bool {
	wm, ok := w.(map[string]any)
	if !ok {
		return reflect.DeepEqual(d, w)
	}
	dm, ok := d.(map[string]any)
	if !ok {
		return false
	}
	for k, wv := range wm {
		dv, ok := dm[k]
		if !ok || !contains(dv, wv) {
			return false
		}
	}
	return true
}

func jsonValue(raw json.RawMessage) any {
	var v any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &v)
	}
	return v
}

func findingsOf(raw json.RawMessage) any {
	if m, ok := jsonValue(raw).(map[string]any); ok {
		if f, ok := m["findings"].([]any); ok {
			return f
		}
	}
	return []any{}
}

// label is a decision in a few words: its action, else its JSON.
func label(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	if m, ok := jsonValue(raw).(map[string]any); ok {
		if a, ok := m["action"].(string); ok {
			return a
		}
	}
	return compact(raw)
}

func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if a, ok := m["action"].(string); ok {
			return a
		}
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func uniq(s []string) []string {
	m := map[string]bool{}
	var out []string
	for _, x := range s {
		if !m[x] {
			m[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}
