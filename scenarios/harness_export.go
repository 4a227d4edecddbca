package scenarios

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/scenarios/harness"
)

// Export formats.
const (
	FormatNative  = "replay"
	FormatHarness = "agent-eval-harness"
)

// exportHarness writes the runs as an agent-eval-harness eval in dir: the
// suite is exported as replay's own first (its worlds pinned and bundled,
// in a staging directory), then each case becomes a case directory that
// carries everything it needs (the trace, the bundle, the GitHub
// snapshot), so that it runs on another machine.
func (x *Exporter) exportHarness(ctx context.Context, dir string, runs []ExportInput) (*ExportReport, error) {
	stage, err := os.MkdirTemp("", "replay-harness-export-")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(stage)
	nx := *x
	nx.Format, nx.Bundle = FormatNative, true
	rep, err := nx.Export(ctx, stage, runs)
	if rep != nil {
		rep.Dir = dir
	}
	if err != nil {
		return rep, err
	}
	suite, err := Load(stage)
	if err != nil {
		return rep, fmt.Errorf("export: read the staged suite: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, harness.CasesDir), 0o755); err != nil {
		return rep, fmt.Errorf("export: %w", err)
	}
	rep.Cases = nil
	var origs []*trace.Run
	for _, c := range suite.Cases {
		orig, err := readTrace(c.TracePath())
		if err != nil {
			return rep, fmt.Errorf("export %s: %w", c.ID, err)
		}
		if err := x.writeHarnessCase(filepath.Join(dir, harness.CasesDir, c.ID), c, orig); err != nil {
			return rep, fmt.Errorf("export %s: %w", c.ID, err)
		}
		origs = append(origs, orig)
		rep.Cases = append(rep.Cases, filepath.Join(harness.CasesDir, c.ID))
	}
	ef := filepath.Join(dir, harness.EvalFile)
	if _, err := os.Stat(ef); os.IsNotExist(err) {
		name := x.Name
		if name == "" {
			abs, _ := filepath.Abs(dir)
			name = filepath.Base(abs)
		}
		if err := os.WriteFile(ef, evalYAML(name, origs), 0o644); err != nil {
			return rep, fmt.Errorf("export: %w", err)
		}
	}
	return rep, nil
}

func readTrace(p string) (*trace.Run, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return trace.DecodeRun(context.Background(), f, p)
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeHarnessCase writes one case directory: trace.jsonl, repo/ (a git
// bundle of the pinned commit), github/ (the snapshot), input.yaml and
// annotations.yaml.
func (x *Exporter) writeHarnessCase(cdir string, c *Case, orig *trace.Run) error {
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return err
	}
	in := harness.Input{Forge: "github", Replay: harness.ReplayRef{Case: c.ID, Agent: orig.Meta.Agent, Trace: harness.TraceFile, TraceID: c.Trace.ID}}
	if err := copyFile(filepath.Join(cdir, harness.TraceFile), c.TracePath()); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(cdir, harness.TraceFile))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	in.Replay.TraceSHA256 = hex.EncodeToString(sum[:])
	if c.World.Repo != "" {
		if err := copyFile(filepath.Join(cdir, filepath.FromSlash(harness.RepoBundle)), resolvePath(c.Dir, c.World.Repo)); err != nil {
			return fmt.Errorf("copy the repository bundle: %w", err)
		}
		in.Replay.Repo, in.Replay.Commit = harness.RepoBundle, c.World.Commit
	}
	files := map[string][]byte{}
	if c.World.GitHub != "" {
		gsrc := resolvePath(c.Dir, c.World.GitHub)
		entries, err := os.ReadDir(gsrc)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			if err := copyFile(filepath.Join(cdir, harness.GitHubDir, e.Name()), filepath.Join(gsrc, e.Name())); err != nil {
				return err
			}
			files[e.Name()], _ = os.ReadFile(filepath.Join(gsrc, e.Name()))
		}
		in.Replay.GitHub = harness.GitHubDir
	}
	if c.Fork != nil {
		in.Replay.FromStep = c.Fork.FromStep
	}
	in.Fixture = fixtureOf(files, orig)
	ann, notes := annotationsOf(c, orig, in.Fixture, x.Pricer)

	head := fmt.Sprintf("# A case of replay's agent-eval-harness export (replay eval export --format agent-eval-harness),\n# from run %s on %s. The harness passes these fields as {field} placeholders;\n# replay eval runner reads the replay section (paths relative to this directory).\n", c.Trace.ID, x.now().UTC().Format(time.RFC3339))
	if err := writeYAML(filepath.Join(cdir, harness.InputFile), head, in); err != nil {
		return err
	}
	ahead := "# The expected state after the run: the human's decision. replay eval run and the\n# eval's judges check state, labels, review_decision, max_turns and max_cost_usd;\n# expectations is free text for the LLM judge (replay reports it as not checked).\n"
	body, err := yaml.MarshalWithOptions(ann, yaml.Indent(2), yaml.IndentSequence(true), yaml.UseLiteralStyleIfMultiline(true))
	if err != nil {
		return err
	}
	if notes != "" {
		nb, err := yaml.MarshalWithOptions(map[string]string{"expectations": notes}, yaml.UseLiteralStyleIfMultiline(true))
		if err != nil {
			return err
		}
		body = append(body, nb...)
	}
	return os.WriteFile(filepath.Join(cdir, harness.AnnotationsFile), append([]byte(ahead), body...), 0o644)
}

func writeYAML(name, head string, v any) error {
	body, err := yaml.MarshalWithOptions(v, yaml.Indent(2), yaml.IndentSequence(true), yaml.UseLiteralStyleIfMultiline(true))
	if err != nil {
		return err
	}
	return os.WriteFile(name, append([]byte(head), body...), 0o644)
}

// fixtureOf is the fixture fields of the GitHub snapshot in the factory's
// shape (type, title, body) with where it lives.
func fixtureOf(files map[string][]byte, orig *trace.Run) harness.Fixture {
	fx := harness.Fixture{Type: harness.Issue}
	b, ok := files["issue.json"]
	if pr, isPR := files["pr.json"]; isPR {
		fx.Type, b, ok = harness.PullRequest, pr, true
	}
	if orig.Meta.Refs.PR != nil && !ok {
		fx.Type = harness.PullRequest
	}
	if !ok {
		return fx
	}
	var it struct {
		Number  int    `json:"number"`
		Title   string `json:"title"`
		Body    string `json:"body"`
		State   string `json:"state"`
		Merged  bool   `json:"merged"`
		HTMLURL string `json:"html_url"`
		User    struct {
			Login string `json:"login"`
		} `json:"user"`
		Labels []struct {
			Name string `json:"name"`
		} `json:"labels"`
		Head struct {
			SHA string `json:"sha"`
		} `json:"head"`
		Base struct {
			Ref string `json:"ref"`
		} `json:"base"`
	}
	if json.Unmarshal(b, &it) != nil {
		return fx
	}
	fx.Title, fx.Body, fx.URL, fx.Number, fx.Author, fx.HeadSHA, fx.BaseRef = it.Title, it.Body, it.HTMLURL, it.Number, it.User.Login, it.Head.SHA, it.Base.Ref
	fx.State = strings.ToLower(it.State)
	if it.Merged {
		fx.State = "merged"
	}
	if parts := strings.Split(strings.TrimPrefix(it.HTMLURL, "https://github.com/"), "/"); len(parts) >= 2 && strings.HasPrefix(it.HTMLURL, "https://github.com/") {
		fx.Repo = parts[0] + "/" + parts[1]
	}
	for _, l := range it.Labels {
		fx.Labels = append(fx.Labels, l.Name)
	}
	return fx
}

// Headroom of the budgets an export writes: the original's turns and cost
// times this (turns at least 3 more).
const budgetHeadroom = 1.5

// annotationsOf is the expected state of a case: the human's decision as
// labels, state and review decision; the original's turns and cost with
// headroom; free text for the judge (what the human did and said).
func annotationsOf(c *Case, orig *trace.Run, fx harness.Fixture, pricer trace.Pricer) (harness.Annotations, string) {
	a := harness.Annotations{State: fx.State}
	var human map[string]any
	if c.Feedback != nil {
		human = c.Feedback.Decision
	}
	var decided map[string]any
	if orig.Outcome != nil && orig.Outcome.Decision != nil {
		json.Unmarshal(orig.Outcome.Decision.Value, &decided)
	}
	want := human
	if c.Expect.Decision == ExpectOriginal {
		want = decided
	}
	if want != nil {
		a.Decision = want
		action, _ := want["action"].(string)
		if fx.Type == harness.PullRequest {
			a.ReviewDecision = map[string]string{"approve": "APPROVED", "request-changes": "CHANGES_REQUESTED"}[strings.ToLower(strings.ReplaceAll(action, "_", "-"))]
		}
	}
	if labels, ok := stringList(want["labels"]); ok {
		a.Labels.Required = labels
		if was, ok := stringList(decided["labels"]); ok && c.Expect.Decision != ExpectOriginal {
			for _, l := range was {
				if !containsFold(labels, l) {
					a.Labels.Forbidden = append(a.Labels.Forbidden, l)
				}
			}
		}
	} else {
		a.Labels.Required = fx.Labels // the human changed no label: they stay
	}
	o := Observe(orig, pricer)
	if o.Steps > 0 {
		a.MaxTurns = max(int(math.Ceil(float64(o.Steps)*budgetHeadroom)), o.Steps+3)
	}
	cost := o.CostUSD
	if orig.Outcome != nil && orig.Outcome.Recorded != nil && orig.Outcome.Recorded.CostUSD != nil {
		cost = *orig.Outcome.Recorded.CostUSD
	}
	if cost > 0 {
		a.MaxCostUSD = math.Ceil(cost*budgetHeadroom*100) / 100
	}
	var notes []string
	if fb := c.Feedback; fb != nil {
		who := fb.By
		if who == "" {
			who = "a human"
		}
		line := fmt.Sprintf("The original run decided %s; %s (%s)", label(decisionValue(orig)), who, fb.Human)
		if human != nil {
			hb, _ := json.Marshal(human)
			line += " decided " + string(hb)
		}
		notes = append(notes, line+".")
		if fb.Note != "" {
			notes = append(notes, "Their note: "+fb.Note)
		}
		if fb.URL != "" {
			notes = append(notes, "Where: "+fb.URL)
		}
	}
	switch c.Expect.Decision {
	case ExpectNotOriginal:
		notes = append(notes, "A good run does not decide as the original did.")
	case ExpectOriginal:
		notes = append(notes, "A good run decides as the original did (the human confirmed it).")
	}
	return a, strings.Join(notes, "\n")
}

func decisionValue(r *trace.Run) json.RawMessage {
	if r.Outcome != nil && r.Outcome.Decision != nil {
		return r.Outcome.Decision.Value
	}
	return nil
}

func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := []string{}
	for _, x := range list {
		switch t := x.(type) {
		case string:
			out = append(out, t)
		case map[string]any:
			if n, ok := t["name"].(string); ok {
				out = append(out, n)
			}
		}
	}
	return out, true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// RunnerCommand is the eval's runner: replay eval runner with every
// placeholder of the opaque CLI runner contract.
var RunnerCommand = []string{"replay", "eval", "runner",
	"--agent", "{agent}", "--workspace", "{workspace}", "--output", "{output_dir}",
	"--model", "{model}", "--subagent-model", "{subagent_model}", "--system-prompt", "{system_prompt}",
	"--max-cost", "{max_budget_usd}", "--timeout", "{timeout}", "--effort", "{effort}"}

// evalYAML is the eval config: its runner is replay itself; its judges
// are the factory's deterministic checks over fixture-state.json and
// metrics.json, the review decision, and an LLM judge of the free text.
func evalYAML(name string, origs []*trace.Run) []byte {
	agents, models := map[string]bool{}, map[string]bool{}
	for _, o := range origs {
		if o.Meta.Agent != "" {
			agents[o.Meta.Agent] = true
		}
		o.Walk(func(r *trace.Run) {
			for _, st := range r.Steps {
				if st.LLM != nil && !st.LLM.Synthetic && st.LLM.Model != "" && r == o {
					models[st.LLM.Model] = true
				}
			}
		})
	}
	skill := firstKey(agents, "agent")
	model := firstKey(models, "")
	var cmd []string
	for _, w := range RunnerCommand {
		cmd = append(cmd, fmt.Sprintf("    - %q", w))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# An agent-eval-harness eval made by replay eval export --format agent-eval-harness.
# Each case replays a production run (cases/*/trace.jsonl) hermetically in its
# pinned world (repo/repo.bundle, github/): the runner is replay itself, which
# answers GitHub writes in the run's copy of the snapshot (nothing reaches
# GitHub) and writes output/fixture-state.json and output/metrics.json.
name: %s
description: Replayed production runs of the %s agent, labelled by the humans who overrode, reverted or confirmed them
skill: %s

execution:
  mode: case
  timeout: 900
  parallelism: 2
  env:
    OPENAI_API_KEY: $OPENAI_API_KEY
    OPENAI_BASE_URL: $OPENAI_BASE_URL

runner:
  type: cli
  command:
%s
  env:
    OPENAI_API_KEY: $OPENAI_API_KEY
    OPENAI_BASE_URL: $OPENAI_BASE_URL

models:
  skill: %s
  judge: %s

dataset:
  path: cases
  schema: |
    Each case directory contains:
    - input.yaml: the fixture (forge, type, title, body) and, under replay, the trace and its pinned world.
    - annotations.yaml: the expected state (state, labels, review_decision, max_turns, max_cost_usd) and free text for the judge.
    - repo/: a git bundle of the commit the original run saw.
    - trace.jsonl, github/: the original run and the GitHub snapshot as of it.

outputs:
  - path: output
    schema: |
      fixture-state.json: the issue or pull request after the run: the snapshot with the
      run's GitHub writes and decision applied (state, labels, assignees, comments, and
      for pull requests mergeable, review_decision, reviews).
      metrics.json: turns, tokens and cost of the new run.
      run.jsonl, decision.json, diff.json, diff.md: the new run, its decision and its diff against the original.

judges:
  - name: decision_quality
    description: Whether the run decided as the human who reviewed the original did
    prompt: |
      You are evaluating an agent's decision on a GitHub issue or pull request.
      Here is the state of the item after the agent ran, and its decision:
      {{ outputs }}
      Here is what the human who reviewed the original run decided, and why:
      {{ annotations }}
      Score 1-5: 1 = the opposite of the human's decision, 3 = the human's decision
      for reasons the human would not give, 5 = the human's decision and reasons.
      Respond with just a number 1-5.

  - name: required_labels
    description: All required labels from annotations.yaml must be present
    check: |
      import json
      state = json.loads(outputs["files"]["output/fixture-state.json"])
      actual = [l.lower() for l in state.get("labels", [])]
      required = outputs.get("annotations", {}).get("labels", {}).get("required", [])
      missing = [l for l in required if l.lower() not in actual]
      if missing:
          return False, f"Missing labels: {missing} (actual: {actual})"
      return True, f"All required labels present: {required}"

  - name: forbidden_labels
    description: Labels listed in annotations.yaml forbidden list must NOT be present
    check: |
      import json
      state = json.loads(outputs["files"]["output/fixture-state.json"])
      actual = [l.lower() for l in state.get("labels", [])]
      forbidden = outputs.get("annotations", {}).get("labels", {}).get("forbidden", [])
      present = [l for l in forbidden if l.lower() in actual]
      if present:
          return False, f"Forbidden labels present: {present} (actual: {actual})"
      return True, f"No forbidden labels found (checked: {forbidden})"

  - name: state
    description: The issue or pull request must be in the expected state
    check: |
      import json
      state = json.loads(outputs["files"]["output/fixture-state.json"])
      want = outputs.get("annotations", {}).get("state")
      if not want:
          return True, "No state expected"
      if state.get("state", "").lower() != want.lower():
          return False, f"State {state.get('state')}, want {want}"
      return True, f"State {want}"

  - name: review_decision
    description: A pull request's review decision must be the human's
    check: |
      import json
      state = json.loads(outputs["files"]["output/fixture-state.json"])
      want = outputs.get("annotations", {}).get("review_decision")
      if not want:
          return True, "No review decision expected"
      got = state.get("review_decision") or ""
      if got != want:
          return False, f"Review decision {got or 'none'}, want {want}"
      return True, f"Review decision {want}"

  - name: max_turns
    description: Agent must complete within the declared turn budget
    check: |
      import json
      metrics = json.loads(outputs["files"]["output/metrics.json"])
      limit = outputs.get("annotations", {}).get("max_turns")
      if limit is None:
          return True, "No turn budget declared"
      if int(metrics.get("num_turns", 0)) > int(limit):
          return False, f"Exceeded max_turns: {metrics.get('num_turns')} > {limit}"
      return True, f"Turns OK: {metrics.get('num_turns')} <= {limit}"

  - name: max_cost
    description: Agent must complete within the declared cost budget
    check: |
      import json
      metrics = json.loads(outputs["files"]["output/metrics.json"])
      limit = outputs.get("annotations", {}).get("max_cost_usd")
      if limit is None:
          return True, "No cost budget declared"
      if float(metrics.get("total_cost_usd", 0)) > float(limit):
          return False, f"Exceeded max_cost_usd: {metrics.get('total_cost_usd')} > {limit}"
      return True, f"Cost OK: {metrics.get('total_cost_usd')} <= {limit}"
`, yamlString(name), skill, yamlString(skill), strings.Join(cmd, "\n"), yamlString(orDefault(model, "gpt-4o-mini")), yamlString(orDefault(model, "gpt-4o-mini")))
	return []byte(b.String())
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func firstKey(m map[string]bool, def string) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return def
	}
	return keys[0]
}
