package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/agentreplay/replay/internal/fakemodel"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/scenarios"
	"github.com/agentreplay/replay/scenarios/harness"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// replayBinary builds the replay command once: the harness runs the
// runner as a program.
func replayBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "replay-cli-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "replay")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/agentreplay/replay/cmd/replay").CombinedOutput(); err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		t.Fatalf("build replay: %v", binErr)
	}
	return binPath
}

// exportHarnessExample exports the bundled example (a maintainer overrode
// the bot's request-changes with an approve) as an agent-eval-harness eval.
func exportHarnessExample(t *testing.T, env map[string]string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "eval")
	code, stdout, errs := runCLI(t, env, "--home", t.TempDir(), "eval", "export", "../../testdata/example/run", "--feedback", "../../testdata/example/feedback.jsonl",
		"--repo", "../../testdata/example/widgets.bundle", "--github-fixture", "../../testdata/example/github", "--format", scenarios.FormatHarness, "--name", "example-review", "-o", out)
	if code != ExitOK || !strings.Contains(stdout, filepath.Join("cases", "review-widgets-42-5c737df2")) {
		t.Fatalf("export: exit %d\n%s\n%s", code, stdout, errs)
	}
	return out
}

// harnessInvocation is the runner as the harness starts it: the eval's
// runner.command with the placeholders substituted (empty ones too), the
// case's workspace (a copy of the case directory with output/ made) as
// its working directory, killed at {timeout}.
type harnessInvocation struct {
	bin, caseDir string
	env          map[string]string
	extra        []string // the test's own flags (store, executor)
	ph           map[string]string
}

type harnessResult struct {
	code      int
	killed    bool
	stdout    string
	stderr    string
	workspace string
	took      time.Duration
}

func (h harnessInvocation) run(t *testing.T) harnessResult {
	t.Helper()
	ws := filepath.Join(t.TempDir(), "workspace")
	if out, err := exec.Command("cp", "-r", h.caseDir, ws).CombinedOutput(); err != nil {
		t.Fatalf("copy the case into a workspace: %v %s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(ws, "output"), 0o755); err != nil {
		t.Fatal(err)
	}
	ev, err := harness.ReadEval(filepath.Join(filepath.Dir(filepath.Dir(h.caseDir)), harness.EvalFile))
	if err != nil {
		t.Fatal(err)
	}
	ph := map[string]string{"agent": "review", "workspace": ws, "output_dir": filepath.Join(ws, "output"), "model": "", "subagent_model": "",
		"timeout": "120", "max_budget_usd": "", "effort": "", "system_prompt": "", "args": ""}
	for k, v := range h.ph {
		ph[k] = v
	}
	var args []string
	for i, w := range ev.Runner.Command {
		for k, v := range ph {
			w = strings.ReplaceAll(w, "{"+k+"}", v)
		}
		if i == 0 {
			if w != "replay" {
				t.Fatalf("the eval's runner is %q, want replay", w)
			}
			continue
		}
		args = append(args, w)
	}
	timeout, err := runnerTimeout(ph["timeout"])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, append(args, h.extra...)...)
	cmd.Dir = ws
	for k, v := range h.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"))
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err = cmd.Run()
	res := harnessResult{stdout: so.String(), stderr: se.String(), workspace: ws, took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		res.killed, res.code = true, -1
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return res
}

func readJSONFile(t *testing.T, p string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return b
}

// checkArtifacts validates metrics.json and fixture-state.json against the
// schemas written from the harness's and the factory's formats.
func checkArtifacts(t *testing.T, ws string) (harness.Metrics, harness.FixtureState) {
	t.Helper()
	var m harness.Metrics
	var fs harness.FixtureState
	if err := harness.Validate("metrics", readJSONFile(t, filepath.Join(ws, "output", harness.MetricsFile), &m)); err != nil {
		t.Errorf("metrics.json: %v", err)
	}
	if err := harness.Validate("fixture_state", readJSONFile(t, filepath.Join(ws, "output", harness.FixtureStateFile), &fs)); err != nil {
		t.Errorf("fixture-state.json: %v", err)
	}
	return m, fs
}

func scriptServer(t *testing.T, file string) string {
	t.Helper()
	script, err := fakemodel.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&fakemodel.Server{Script: script})
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// TestHarnessRunnerContract drives replay eval runner exactly as
// agent-eval-harness does, on the bundled example exported as an eval:
// with the model that agrees with the human, the fixture state's review
// decision and labels are the annotations' and the exit is 0; with the
// model that repeats the original mistake they are not and the exit is 1;
// a model that never answers is stopped before the harness's {timeout}
// kill, with the artifacts written and exit 3.
func TestHarnessRunnerContract(t *testing.T) {
	env, flags := replayEnv(t) // Docker is real: skips without a daemon, fails under CI=true
	bin := replayBinary(t)
	evalDir := exportHarnessExample(t, env)
	caseDir := filepath.Join(evalDir, "cases", "review-widgets-42-5c737df2")
	ann, err := harness.ReadAnnotations(filepath.Join(caseDir, harness.AnnotationsFile))
	if err != nil {
		t.Fatal(err)
	}
	if ann.ReviewDecision != "APPROVED" || ann.State != "open" || len(ann.Labels.Required) != 1 || ann.MaxTurns < 10 || ann.MaxCostUSD < 0.13 || len(ann.Unchecked) != 1 {
		t.Fatalf("annotations of the exported case: %+v", ann)
	}
	if _, err := harness.ReadInput(filepath.Join(caseDir, harness.InputFile)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{harness.TraceFile, harness.RepoBundle, "github/pr.json"} {
		if _, err := os.Stat(filepath.Join(caseDir, f)); err != nil {
			t.Errorf("the case must carry %s: %v", f, err)
		}
	}
	extra := []string{"--home", flags[1], "--executor", executorFlag(t)[1]}

	run := func(t *testing.T, model string, ph map[string]string) harnessResult {
		e := map[string]string{"OPENAI_BASE_URL": model}
		for k, v := range env {
			e[k] = v
		}
		return harnessInvocation{bin: bin, caseDir: caseDir, env: e, extra: extra, ph: ph}.run(t)
	}

	t.Run("agrees with the human", func(t *testing.T) {
		r := run(t, scriptServer(t, "../../testdata/example/fake-model.json"), map[string]string{"model": "fake-reviewer", "max_budget_usd": "2.00"})
		if r.code != 0 {
			t.Fatalf("exit %d (killed %v)\n%s\n%s", r.code, r.killed, r.stdout, r.stderr)
		}
		m, fs := checkArtifacts(t, r.workspace)
		if fs.ReviewDecision == nil || *fs.ReviewDecision != ann.ReviewDecision || !strings.EqualFold(fs.State, ann.State) || fs.Labels[0] != ann.Labels.Required[0] {
			t.Errorf("fixture state %+v does not match the annotations %+v", fs, ann)
		}
		if m.NumTurns == nil || *m.NumTurns != 7 || m.Model != "fake-reviewer" || m.TokenUsage == nil || m.TokenUsage.Input == 0 {
			t.Errorf("metrics %+v", m)
		}
		for _, f := range []string{runnerRunFile, runnerDecisionFile, runnerDiffJSON, runnerDiffMD, runnerVerdictFile} {
			if _, err := os.Stat(filepath.Join(r.workspace, "output", f)); err != nil {
				t.Errorf("output/%s: %v", f, err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(r.workspace, "output", runnerDiffMD)); !strings.Contains(string(b), "approve") {
			t.Errorf("diff.md:\n%s", b)
		}
		if !strings.Contains(r.stdout, "case review-widgets-42-5c737df2: pass") || !strings.Contains(r.stdout, "not checked expectations") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		f, err := os.Open(filepath.Join(r.workspace, "output", runnerRunFile))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		nr, err := trace.DecodeRun(context.Background(), f, "run.jsonl")
		if err != nil || nr.Meta.Replay == nil || nr.Meta.Replay.Variant["model"] != "fake-reviewer" {
			t.Errorf("run.jsonl: %v %+v", err, nr.Meta.Replay)
		}
	})

	t.Run("repeats the original mistake", func(t *testing.T) {
		r := run(t, scriptServer(t, "../../testdata/example/compare-model.json"), map[string]string{"model": "fake-reviewer", "system_prompt": "Be strict"})
		if r.code != ExitCheckFailed {
			t.Fatalf("exit %d, want %d (a case that fails its annotations)\n%s\n%s", r.code, ExitCheckFailed, r.stdout, r.stderr)
		}
		_, fs := checkArtifacts(t, r.workspace)
		if fs.ReviewDecision == nil || *fs.ReviewDecision != "CHANGES_REQUESTED" {
			t.Errorf("review decision %v, want CHANGES_REQUESTED", fs.ReviewDecision)
		}
		if !strings.Contains(r.stdout, "fail review_decision: review decision CHANGES_REQUESTED, want APPROVED") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		stop := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}))
		defer hang.Close()
		defer close(stop)
		r := run(t, hang.URL+"/v1", map[string]string{"model": "slow", "timeout": "15"})
		if r.killed {
			t.Fatalf("the harness killed the runner at its timeout (it must stop first and write what it has)\n%s", r.stderr)
		}
		if r.code != ExitIncomplete {
			t.Fatalf("exit %d, want %d\n%s\n%s", r.code, ExitIncomplete, r.stdout, r.stderr)
		}
		m, fs := checkArtifacts(t, r.workspace)
		if fs.FixtureType != harness.PullRequest || m.NumTurns == nil {
			t.Errorf("artifacts of a stopped run: %+v %+v", fs, m)
		}
		var v runnerVerdict
		readJSONFile(t, filepath.Join(r.workspace, "output", runnerVerdictFile), &v)
		if v.Status != "incomplete" || v.Stopped != "timeout" || v.Pass {
			t.Errorf("verdict %+v", v)
		}
	})
}

// TestEvalRunReadsHarnessCases: replay eval run takes the exported eval
// directly; the free text is reported as not checked.
func TestEvalRunReadsHarnessCases(t *testing.T) {
	env, home := evalEnv(t)
	evalDir := exportHarnessExample(t, env)
	results := filepath.Join(t.TempDir(), "results.jsonl")
	args := append(append([]string{}, home...), append([]string{"eval", "run", evalDir, "--model", "fake-reviewer", "--base-url", fakeReviewer(t), "--results", results}, executorFlag(t)...)...)
	code, out, errs := runCLI(t, env, args...)
	if code != ExitOK || !strings.Contains(out, "not checked: review-widgets-42-5c737df2: expectations") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	recs := resultLines(t, results)
	if len(recs) != 1 || recs[0].Status != scenarios.Pass || len(recs[0].NotChecked) != 1 {
		t.Errorf("results %+v", recs)
	}

	// The model that repeats the mistake fails the review decision.
	sys := filepath.Join(t.TempDir(), "strict.md")
	os.WriteFile(sys, []byte("Be strict"), 0o644)
	args = append(append([]string{}, home...), append([]string{"eval", "run", evalDir, "--model", "fake-reviewer", "--system-file", sys,
		"--base-url", scriptServer(t, "../../testdata/example/compare-model.json"), "--results", filepath.Join(t.TempDir(), "r.jsonl"), "--json"}, executorFlag(t)...)...)
	code, out, errs = runCLI(t, env, args...)
	if code != ExitCheckFailed {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var rep scenarios.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Cases) != 1 {
		t.Fatalf("%v\n%s", err, out)
	}
	var expects []string
	for _, f := range rep.Cases[0].Failures {
		expects = append(expects, f.Expect)
	}
	if !strings.Contains(strings.Join(expects, ","), "review_decision") {
		t.Errorf("failures %v, want review_decision among them", rep.Cases[0].Failures)
	}
}

// TestGitHubWritesAreEffects: a counterfactual triage whose agent adds a
// label, reads the issue back and comments sees its own label; the
// effects are in the new run, its diff and fixture-state.json, and
// nothing was sent to GitHub: the fake GitHub API fails the test on any
// request that is not a read.
func TestGitHubWritesAreEffects(t *testing.T) {
	env, flags := replayEnv(t)
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("a %s %s reached GitHub", r.Method, r.URL.Path)
			http.Error(w, "no writes", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch strings.TrimPrefix(r.URL.Path, "/api/v3") {
		case "/repos/acme/widgets/issues/7":
			w.Write([]byte(`{"number": 7, "title": "page_count crashes on an empty list", "body": "page_count([]) raises ZeroDivisionError.", "state": "open",
				"html_url": "https://github.com/acme/widgets/issues/7", "user": {"login": "ada-dev"}, "labels": [{"name": "triage"}], "assignees": [],
				"created_at": "2025-11-20T09:00:00Z", "updated_at": "2025-11-20T09:00:00Z"}`))
		case "/repos/acme/widgets/issues/7/comments", "/repos/acme/widgets/issues/7/timeline":
			w.Write([]byte(`[]`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer gh.Close()
	env["GITHUB_API_URL"] = gh.URL

	// The original: a triage run of issue 7 that labelled it a question;
	// a maintainer made it a bug.
	orig := &trace.Run{
		Meta: trace.RunMeta{Format: "replay-run", Agent: "triage", StartedAt: time.Date(2025, 11, 21, 10, 0, 0, 0, time.UTC),
			Refs: trace.Refs{Repo: &trace.Ref{Value: "acme/widgets", Provenance: trace.Recorded}, Issue: &trace.Ref{Value: "7", Provenance: trace.Recorded},
				WorkItem: &trace.Ref{Value: "acme/widgets#7", Provenance: trace.Recorded}, Commit: &trace.Ref{Value: "072bdd28f8409b602018042d087e7b7fa184dc79", Provenance: trace.Recorded},
				Cwd: &trace.Ref{Value: "/sandbox/workspace/widgets", Provenance: trace.Recorded}},
			Defaults: trace.Params{Model: "claude-sonnet-4-5-20250929"}},
		Steps: []trace.Step{
			{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: "Triage issue acme/widgets#7: label it and comment."}}}},
			{Kind: trace.KindLLM, LLM: &trace.LLMCall{Model: "claude-sonnet-4-5-20250929", Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartText, Text: `{"action": "triage", "labels": ["question"]}`}}},
				Usage: &trace.Usage{Input: 900, Output: 40}}},
		},
		Outcome:  &trace.Outcome{Status: trace.StatusOK, Final: `{"action": "triage", "labels": ["question"]}`, Decision: &trace.Decision{Kind: "json", Source: "final message", Value: json.RawMessage(`{"action":"triage","labels":["question"]}`)}},
		Feedback: []trace.Feedback{{Human: trace.HumanOverride, Decision: json.RawMessage(`{"labels":["bug"]}`), By: "ada-maintainer", At: time.Date(2025, 11, 21, 12, 0, 0, 0, time.UTC), Source: "trace"}},
	}
	tp := filepath.Join(t.TempDir(), "triage.jsonl")
	f, err := os.Create(tp)
	if err != nil {
		t.Fatal(err)
	}
	if err := trace.Encode(f, orig); err != nil {
		t.Fatal(err)
	}
	f.Close()

	evalDir := filepath.Join(t.TempDir(), "eval")
	code, out, errs := runCLI(t, env, "--home", t.TempDir(), "eval", "export", tp, "--repo", "../../testdata/example/widgets.bundle", "--format", scenarios.FormatHarness, "-o", evalDir)
	if code != ExitOK {
		t.Fatalf("export: exit %d\n%s\n%s", code, out, errs)
	}
	caseDir := strings.TrimSpace(strings.Split(out, "\n")[0])
	var ann map[string]any
	b, _ := os.ReadFile(filepath.Join(caseDir, harness.AnnotationsFile))
	if err := yaml.Unmarshal(b, &ann); err != nil || !strings.Contains(string(b), "- bug") || !strings.Contains(string(b), "forbidden:\n    - question") {
		t.Fatalf("annotations %v:\n%s", err, b)
	}

	script := filepath.Join(t.TempDir(), "triager.json")
	os.WriteFile(script, []byte(`[{"match": "Triage issue", "answers": [
		{"tool_calls": [{"name": "Bash", "arguments": {"command": "gh issue edit 7 --add-label bug"}}]},
		{"tool_calls": [{"name": "Bash", "arguments": {"command": "gh issue view 7 --json labels,state"}}]},
		{"tool_calls": [{"name": "Bash", "arguments": {"command": "gh issue comment 7 --body 'Confirmed: page_count divides by zero on an empty list.'"}}]},
		{"content": "{\"action\": \"triage\", \"labels\": [\"bug\"]}"}]}]`), 0o644)
	outDir := filepath.Join(t.TempDir(), "output")
	code, out, errs = runCLI(t, env, append([]string{flags[0], flags[1], "eval", "runner", "--agent", "triage", "--workspace", caseDir, "--output", outDir,
		"--model", "fake-triager", "--base-url", scriptServer(t, script), "--timeout", "120", "--effort", "", "--system-prompt", ""}, executorFlag(t)...)...)
	if code != ExitOK {
		t.Fatalf("runner: exit %d\n%s\n%s", code, out, errs)
	}

	// The run: the write answered as GitHub would, the read after it sees
	// the label, the effects recorded.
	rf, err := os.Open(filepath.Join(outDir, runnerRunFile))
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	nr, err := trace.DecodeRun(context.Background(), rf, "run.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var outputs []string
	for _, s := range nr.Steps {
		if s.Tool != nil {
			outputs = append(outputs, s.Tool.Produced+": "+s.Tool.Output)
		}
	}
	if len(outputs) != 3 || outputs[0] != "effect: https://github.com/acme/widgets/issues/7" ||
		!strings.HasPrefix(outputs[1], "snapshot: ") || !strings.Contains(outputs[1], `"name":"bug"`) || !strings.Contains(outputs[1], `"name":"triage"`) ||
		!strings.HasPrefix(outputs[2], "effect: https://github.com/acme/widgets/issues/7#issuecomment-") {
		t.Errorf("tool results:\n%s", strings.Join(outputs, "\n"))
	}
	if len(nr.Effects) != 2 || nr.Effects[0].Kind != trace.EffectLabelAdd || nr.Effects[0].Labels[0] != "bug" || nr.Effects[1].Kind != trace.EffectComment || nr.Effects[0].Answer != trace.EffectSimulated {
		t.Errorf("effects of the run: %+v", nr.Effects)
	}
	// The diff shows them as added; fixture-state.json has them applied.
	var d struct {
		Decision struct {
			Effects struct {
				Added []trace.Effect `json:"added"`
			} `json:"effects"`
		} `json:"decision"`
	}
	readJSONFile(t, filepath.Join(outDir, runnerDiffJSON), &d)
	if len(d.Decision.Effects.Added) != 2 {
		t.Errorf("diff.json effects: %+v", d.Decision.Effects)
	}
	if md, _ := os.ReadFile(filepath.Join(outDir, runnerDiffMD)); !strings.Contains(string(md), "label\\-add acme/widgets") {
		t.Errorf("diff.md does not show the effect:\n%s", md)
	}
	var fs harness.FixtureState
	if err := harness.Validate("fixture_state", readJSONFile(t, filepath.Join(outDir, harness.FixtureStateFile), &fs)); err != nil {
		t.Error(err)
	}
	if strings.Join(fs.Labels, ",") != "triage,bug" || len(fs.Comments) != 1 || !strings.HasPrefix(fs.Comments[0].Body, "Confirmed:") || fs.FixtureType != harness.Issue || fs.State != "OPEN" {
		t.Errorf("fixture state %+v", fs)
	}
}
