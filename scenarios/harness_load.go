package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/scenarios/harness"
)

// HarnessCase is what a case read from an agent-eval-harness case
// directory checks besides its Expect: the annotations on the item's state
// after the run (labels, state, review decision), computed from the GitHub
// snapshot with the run's effects and decision applied.
type HarnessCase struct {
	Input       *harness.Input
	Annotations *harness.Annotations
	// GitHub is the case's snapshot directory ("" when it has none).
	GitHub string
}

// harnessDirs lists the case directories of an agent-eval-harness eval at
// path: an eval directory (eval.yaml; cases under dataset.path, default
// cases/), a directory of cases, or one case directory. ok is false when
// path is none of them.
func harnessDirs(path string) (dirs []string, name string, ok bool, err error) {
	name = filepath.Base(filepath.Clean(path))
	if fileExists(filepath.Join(path, SuiteFile)) {
		return nil, "", false, nil
	}
	if fileExists(filepath.Join(path, harness.InputFile)) {
		return []string{path}, name, true, nil
	}
	casesDir := ""
	if ef := filepath.Join(path, harness.EvalFile); fileExists(ef) {
		ev, err := harness.ReadEval(ef)
		if err != nil {
			return nil, "", true, err
		}
		if ev.Name != "" {
			name = ev.Name
		}
		casesDir = filepath.Join(path, harness.CasesDir)
		if ev.Dataset.Path != "" {
			casesDir = resolvePath(path, ev.Dataset.Path)
		}
	} else if entries, err := os.ReadDir(path); err == nil {
		for _, e := range entries {
			if e.IsDir() && fileExists(filepath.Join(path, e.Name(), harness.InputFile)) {
				casesDir = path
				break
			}
		}
	}
	if casesDir == "" {
		return nil, "", false, nil
	}
	entries, err := os.ReadDir(casesDir)
	if err != nil {
		return nil, "", true, fmt.Errorf("load eval %s: %w", path, err)
	}
	for _, e := range entries {
		if d := filepath.Join(casesDir, e.Name()); e.IsDir() && fileExists(filepath.Join(d, harness.InputFile)) {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	return dirs, name, true, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// loadHarness reads the case directories of an agent-eval-harness eval
// as a suite.
func loadHarness(path string, dirs []string, name string) (*Suite, error) {
	s := &Suite{Name: name, Dir: path}
	if abs, err := filepath.Abs(path); err == nil {
		s.Dir = abs
	}
	var errs []error
	for _, d := range dirs {
		c, err := harnessCase(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Cases = append(s.Cases, c)
	}
	l := &loader{}
	l.checkIDs(s)
	errs = append(errs, l.errs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(s.Cases) == 0 {
		return nil, fmt.Errorf("load eval %s: no case directories (an empty suite is never a pass): export some with replay eval export --format agent-eval-harness", path)
	}
	return s, nil
}

func harnessCase(dir string) (*Case, error) {
	inFile := filepath.Join(dir, harness.InputFile)
	in, err := harness.ReadInput(inFile)
	if err != nil {
		return nil, err
	}
	if in.Replay.Trace == "" {
		return nil, &FileError{File: inFile, Line: 1, Field: "replay.trace", Msg: "the case names no trace to replay: replay runs cases of replay eval export --format agent-eval-harness (the factory's live cases need its own runner)"}
	}
	hc := &HarnessCase{Input: in, Annotations: &harness.Annotations{}}
	if af := filepath.Join(dir, harness.AnnotationsFile); fileExists(af) {
		if hc.Annotations, err = harness.ReadAnnotations(af); err != nil {
			return nil, err
		}
	}
	id := in.Replay.Case
	if id == "" {
		id = filepath.Base(dir)
	}
	abs, _ := filepath.Abs(dir)
	c := &Case{ID: id, Title: in.Fixture.Title, File: inFile, Line: 1, Dir: abs, Harness: hc,
		Trace: TraceRef{Path: in.Replay.Trace, SHA256: in.Replay.TraceSHA256, ID: in.Replay.TraceID},
		World: World{Repo: in.Replay.Repo, Commit: in.Replay.Commit, GitHub: in.Replay.GitHub}}
	if in.Replay.GitHub != "" {
		hc.GitHub = resolvePath(abs, in.Replay.GitHub)
	}
	if in.Replay.FromStep > 1 {
		c.Fork = &Fork{FromStep: in.Replay.FromStep}
	}
	a := hc.Annotations
	c.Expect.MaxSteps, c.Expect.MaxCostUSD = a.MaxTurns, a.MaxCostUSD
	if len(a.Decision) > 0 {
		c.Feedback = &Feedback{Human: trace.HumanOverride, Decision: a.Decision, Source: "file:" + filepath.Join(dir, harness.AnnotationsFile)}
		c.Expect.Decision = ExpectHuman
	}
	b, err := os.ReadFile(c.TracePath())
	switch {
	case err != nil:
		return nil, &FileError{File: inFile, Field: "replay.trace", Msg: err.Error()}
	case c.Trace.SHA256 != "":
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != c.Trace.SHA256 {
			return nil, &FileError{File: inFile, Field: "replay.trace_sha256", Msg: fmt.Sprintf("%s has sha256 %s, not the %s the case was made from: the trace changed since export", c.Trace.Path, got[:12], c.Trace.SHA256[:12])}
		}
	}
	return c, nil
}

// NotChecked are the expectations of a case replay does not check (an
// agent-eval-harness case's free text for its LLM judge): reported, never
// counted as passed.
func (c *Case) NotChecked() []string {
	if c.Harness == nil {
		return nil
	}
	return c.Harness.Annotations.Unchecked
}

// checkHarness checks an agent-eval-harness case's annotations on the
// state of its item after the run (max_turns and max_cost_usd are the
// Expect's).
func (c *Case) checkHarness(newRun *trace.Run) []Failure {
	h := c.Harness
	repo, num := replay.RunTarget(newRun)
	if h.Input.Fixture.Repo != "" && h.Input.Fixture.Number > 0 {
		repo, num = h.Input.Fixture.Repo, h.Input.Fixture.Number
	}
	var snap replay.GitHubFiles
	if h.GitHub != "" {
		snap = harness.DirFiles(h.GitHub)
	}
	st := replay.NewGitHubState(snap, repo, num, nil)
	st.PR = h.Input.Fixture.Type == harness.PullRequest
	effs := newRun.AllEffects()
	for _, e := range effs {
		st.Apply(e)
	}
	var dec *trace.Decision
	if newRun.Outcome != nil {
		dec = newRun.Outcome.Decision
	}
	harness.ApplyDecision(st, dec, effs)
	var out []Failure
	for _, f := range h.Annotations.Check(harness.FixtureStateOf(st), harness.Metrics{}) {
		out = append(out, Failure{Expect: f.Expect, Msg: f.Msg})
	}
	return out
}
