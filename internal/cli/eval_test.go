package cli

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/fakemodel"
	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
	"github.com/agentreplay/replay/scenarios"
)

const exampleSuite = "../../testdata/example/suite"

// fakeReviewer serves the example's scripted counterfactual model.
func fakeReviewer(t *testing.T) string {
	t.Helper()
	script, err := fakemodel.Load("../../testdata/example/fake-model.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&fakemodel.Server{Script: script})
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// evalFlags are a fresh store and the test's executor (replayEnv's), without
// the example's world flags: a suite pins its own.
func evalEnv(t *testing.T) (map[string]string, []string) {
	env, flags := replayEnv(t)
	return env, []string{flags[0], flags[1]}
}

func executorFlag(t *testing.T) []string {
	_, flags := replayEnv(t)
	return []string{"--executor", flags[3]}
}

func resultLines(t *testing.T, path string) []scenarios.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []scenarios.Record
	sc := bufio.NewScanner(f)
	for i := 0; sc.Scan(); i++ {
		if i == 0 {
			continue
		}
		var r scenarios.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s line %d: %v", path, i+1, err)
		}
		out = append(out, r)
	}
	return out
}

// TestEvalRunsTheBundledSuite: the example exported as a case (a maintainer
// overrode the bot's request-changes and approved) passes with the
// counterfactual model that approves; the JUnit report says so; --resume
// redoes nothing; --repeat gives separate samples.
func TestEvalRunsTheBundledSuite(t *testing.T) {
	env, home := evalEnv(t)
	base := fakeReviewer(t)
	results := filepath.Join(t.TempDir(), "results.jsonl")
	junit := filepath.Join(t.TempDir(), "junit.xml")
	md := filepath.Join(t.TempDir(), "summary.md")
	summary := filepath.Join(t.TempDir(), "step-summary.md")
	env["GITHUB_ACTIONS"], env["GITHUB_STEP_SUMMARY"] = "true", summary
	args := append(append([]string{}, home...), append([]string{"eval", "run", exampleSuite, "--model", "fake-reviewer", "--base-url", base,
		"--results", results, "--junit", junit, "--md", md, "--repeat", "2"}, executorFlag(t)...)...)
	code, out, errs := runCLI(t, env, args...)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if !regexp.MustCompile(`review-widgets-42-5c737df2\s+cli\s+pass\s+2/2\s+approve,approve`).MatchString(out) {
		t.Errorf("summary table:\n%s", out)
	}
	recs := resultLines(t, results)
	if len(recs) != 2 || recs[0].Repeat == recs[1].Repeat || recs[0].Run == recs[1].Run || recs[0].Status != "pass" {
		t.Fatalf("results: want two passing repeats with their own runs: %+v", recs)
	}
	var ju struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name  string `xml:"name,attr"`
				Props []struct {
					Name  string `xml:"name,attr"`
					Value string `xml:"value,attr"`
				} `xml:"properties>property"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	b, _ := os.ReadFile(junit)
	if err := xml.Unmarshal(b, &ju); err != nil || ju.Tests != 1 || ju.Failures != 0 || ju.Suites[0].Cases[0].Name != "review-widgets-42-5c737df2" {
		t.Fatalf("junit %v: %s", err, b)
	}
	if !strings.Contains(string(b), `<property name="passed" value="2/2">`) {
		t.Errorf("junit lacks the k/n count:\n%s", b)
	}
	for _, f := range []string{md, summary} {
		if b, _ := os.ReadFile(f); !strings.Contains(string(b), "**1 pass, 0 fail") {
			t.Errorf("%s:\n%s", f, b)
		}
	}

	// Resume: everything is done; nothing runs, nothing is appended.
	code, out, errs = runCLI(t, env, append(args, "--resume")...)
	if code != ExitOK || !strings.Contains(errs, "2 of 2 runs done") {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errs)
	}
	if again := resultLines(t, results); len(again) != 2 {
		t.Errorf("resume appended %d records to a finished suite", len(again)-2)
	}

	// A run without --resume keeps the earlier file.
	code, _, errs = runCLI(t, env, args...)
	if code != ExitOK || !strings.Contains(errs, "the earlier results are kept as "+results+".") {
		t.Fatalf("rerun: exit %d\n%s", code, errs)
	}
}

// TestEvalExportMakesTheBundledSuite: the bundled suite is what eval export
// makes of the example with its feedback file; exported again, the case is
// the same case.
func TestEvalExportMakesTheBundledSuite(t *testing.T) {
	requireGit(t)
	env := map[string]string{"REPLAY_CACHE": t.TempDir(), "HOME": t.TempDir()}
	home := t.TempDir()
	out := filepath.Join(t.TempDir(), "suite")
	suite, _ := filepath.Abs(exampleSuite)
	t.Chdir("../..") // the feedback's source names the file as given: as the README's command gives it
	for i := 0; i < 2; i++ {
		code, stdout, errs := runCLI(t, env, "--home", home, "eval", "export", "testdata/example/run", "--feedback", "testdata/example/feedback.jsonl",
			"--repo", "testdata/example/widgets.bundle", "--github-fixture", "testdata/example/github", "--bundle", "--name", "example-review", "-o", out)
		if code != ExitOK || !strings.Contains(stdout, "review-widgets-42-5c737df2.yaml") {
			t.Fatalf("export: exit %d\n%s\n%s", code, stdout, errs)
		}
	}
	strip := func(b []byte) string {
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "#") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	for _, f := range []string{"cases/review-widgets-42-5c737df2.yaml", "suite.yaml", "traces/review-widgets-42-5c737df2.jsonl", "worlds/review-widgets-42-5c737df2/github/pr.json", "worlds/review-widgets-42-5c737df2.bundle"} {
		got, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(suite, f))
		if strip(got) != strip(want) {
			t.Errorf("%s differs from the bundled suite's (go run ./cmd/replay eval export … again to refresh it):\n%s\n---\n%s", f, got, want)
		}
	}
	if _, err := scenarios.Load(out); err != nil {
		t.Errorf("the exported suite does not load: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(out, "cases"))
	if len(entries) != 1 {
		t.Errorf("exporting twice made %d case files, want the one case rewritten", len(entries))
	}
	// A run without feedback is skipped, and a suite of nothing is refused.
	code, _, errs := runCLI(t, env, "--home", t.TempDir(), "eval", "export", "testdata/example/run", "--repo", "testdata/example/widgets.bundle",
		"--github-fixture", "testdata/example/github", "-o", filepath.Join(t.TempDir(), "s"))
	if code != ExitIncomplete || !strings.Contains(errs, "no human feedback") || !strings.Contains(errs, "an empty suite is never a pass") {
		t.Errorf("export without feedback: exit %d\n%s", code, errs)
	}
}

func requireGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is not installed; CI must install it")
		}
		t.Skip("git is not installed")
	}
}

// copySuite copies the bundled suite to a temporary directory.
func copySuite(t *testing.T) string {
	dst := filepath.Join(t.TempDir(), "suite")
	copyDir(t, exampleSuite, dst)
	return dst
}

// TestEvalInvalidSuiteRunsNothing: a bad case file fails before any case
// runs, naming file:line: field, and writes no results.
func TestEvalInvalidSuiteRunsNothing(t *testing.T) {
	dir := copySuite(t)
	bad := filepath.Join(dir, "cases", "bad.yaml")
	os.WriteFile(bad, []byte("id: bad\ntrace:\n  path: ../traces/review-widgets-42-5c737df2.jsonl\nexpect:\n  max_steps: many\n"), 0o644)
	code, out, errs := runCLI(t, map[string]string{}, "--home", t.TempDir(), "eval", "run", dir, "--model", "m", "--base-url", "http://127.0.0.1:9/v1")
	if code != ExitUsage || !strings.Contains(errs, bad+":5: expect.max_steps: got string, want integer") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.jsonl")); err == nil {
		t.Error("an invalid suite wrote results")
	}
	// The plan and its estimate, nothing run.
	os.Remove(bad)
	code, out, errs = runCLI(t, map[string]string{}, "--home", t.TempDir(), "eval", "run", dir, "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--dry-run", "--repeat", "3")
	if code != ExitOK || !strings.Contains(out, "1 case(s), 3 run(s)") || !strings.Contains(out, "estimate for the 3 run(s) to make:") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.jsonl")); err == nil {
		t.Error("a dry run wrote results")
	}
}

// TestEvalErrorCaseDoesNotStopTheOthers: a case whose world cannot be
// rebuilt is an error with its reason; the other case runs and passes; the
// suite is incomplete (exit 3), never a pass.
func TestEvalErrorCaseDoesNotStopTheOthers(t *testing.T) {
	env, home := evalEnv(t)
	dir := copySuite(t)
	c, _ := os.ReadFile(filepath.Join(dir, "cases", "review-widgets-42-5c737df2.yaml"))
	broken := strings.NewReplacer("id: review-widgets-42-5c737df2", "id: broken-world", "worlds/review-widgets-42-5c737df2.bundle", "worlds/missing.bundle").Replace(string(c))
	os.WriteFile(filepath.Join(dir, "cases", "broken.yaml"), []byte(broken), 0o644)
	args := append(append([]string{}, home...), append([]string{"eval", "run", dir, "--model", "fake-reviewer", "--base-url", fakeReviewer(t), "--json"}, executorFlag(t)...)...)
	code, out, errs := runCLI(t, env, args...)
	if code != ExitIncomplete {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitIncomplete, out, errs)
	}
	var rep scenarios.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]scenarios.CaseResult{}
	for _, c := range rep.Cases {
		got[c.Case] = c
	}
	if got["review-widgets-42-5c737df2"].Status != "pass" || got["broken-world"].Status != "error" || !strings.Contains(strings.Join(got["broken-world"].Errors, " "), "missing.bundle") {
		t.Errorf("verdicts: %+v", rep.Cases)
	}
	if rep.Schema != "replay.eval/v1" || rep.Totals.Error != 1 || rep.ExitCode != 3 || len(rep.Incomplete) == 0 {
		t.Errorf("report: %+v", rep)
	}
}

// TestEvalResumeAfterSIGKILL: a suite killed outright in the middle, then
// resumed: every cell completes once, no result is duplicated, and no
// sandbox is left.
func TestEvalResumeAfterSIGKILL(t *testing.T) {
	env, home := evalEnv(t)
	dir := copySuite(t)
	results := filepath.Join(dir, "results.jsonl")
	bin := filepath.Join(t.TempDir(), "replay")
	self, _ := os.Executable()
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, home...), append([]string{"eval", "run", dir, "--model", "fake-reviewer", "--base-url", fakeReviewer(t), "--repeat", "4", "--parallel", "1", "--no-cache"}, executorFlag(t)...)...)
	cmd := exec.Command(bin, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(results); strings.Count(string(b), "\n") >= 3 { // the header and two cells
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	before := resultLines(t, results)
	if len(before) < 2 || len(before) >= 4 {
		t.Fatalf("killed with %d cells done, want some but not all", len(before))
	}
	code, out, errs := runCLI(t, env, append(args, "--resume")...)
	if code != ExitOK {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errs)
	}
	recs := resultLines(t, results)
	seen := map[int]int{}
	for _, r := range recs {
		seen[r.Repeat]++
	}
	for i := 0; i < 4; i++ {
		if seen[i] != 1 {
			t.Errorf("repeat %d has %d results, want exactly one: %+v", i, seen[i], recs)
		}
	}
	if len(recs) != 4 {
		t.Errorf("%d results after resume, want 4", len(recs))
	}
	if left := sandboxtest.Leftovers(t, sandboxtest.Docker(t), map[string]string{sandbox.LabelManaged: "true", sandbox.LabelOwnerPID: strconv.Itoa(cmd.Process.Pid)}); len(left) > 0 {
		t.Errorf("sandboxes of the killed run left after resume: %v", left)
	}
}

// TestEvalMerge: shard files join into one report; a missing shard is
// incomplete (exit 3), never a pass.
func TestEvalMerge(t *testing.T) {
	dir := t.TempDir()
	const id = "review-widgets-42-5c737df2"
	write := func(name, shard string, status string) string {
		p := filepath.Join(dir, name)
		rf, _, err := scenarios.CreateResults(p, scenarios.Header{Suite: "example-review", Shard: shard, Cases: 1, Cells: 1})
		if err != nil {
			t.Fatal(err)
		}
		if status != "" {
			rf.Append(scenarios.Record{Key: scenarios.Key{Case: id, Variant: "h", Repeat: 0}, VariantName: "cli", Status: status})
		}
		rf.Close()
		return p
	}
	a, b := write("a.jsonl", "1/2", "pass"), write("b.jsonl", "2/2", "")
	junit := filepath.Join(dir, "junit.xml")
	code, out, errs := runCLI(t, nil, "eval", "merge", a, b, "--suite", exampleSuite, "--junit", junit)
	if code != ExitOK || !strings.Contains(out, "1 pass, 0 fail") {
		t.Fatalf("merge: exit %d\n%s\n%s", code, out, errs)
	}
	if b, _ := os.ReadFile(junit); !strings.Contains(string(b), `tests="1"`) {
		t.Errorf("junit:\n%s", b)
	}
	code, out, _ = runCLI(t, nil, "eval", "merge", a, "--suite", exampleSuite)
	if code != ExitIncomplete || !strings.Contains(out, "shard(s) [2/2] missing") {
		t.Errorf("a missing shard: exit %d\n%s", code, out)
	}
}
