package cli

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/internal/fakemodel"
	"github.com/agentreplay/replay/scenarios"
)

// TestCompareTwoPromptVersions: the README's worked example. Over the
// bundled suite, prompt v2 (strict) makes the scripted model request
// changes where the maintainer approved: the case flips; one case cannot
// make it significant, and the report says so; the A/A arm shows nothing.
func TestCompareTwoPromptVersions(t *testing.T) {
	env, home := evalEnv(t)
	script, err := fakemodel.Load("../../testdata/example/compare-model.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&fakemodel.Server{Script: script})
	t.Cleanup(srv.Close)
	env["OPENAI_BASE_URL"] = srv.URL + "/v1"
	results := filepath.Join(t.TempDir(), "compare.jsonl")
	page := filepath.Join(t.TempDir(), "c.html")
	args := append(append([]string{}, home...), "compare", exampleSuite,
		"--variant", `v1=--model fake-reviewer --system-file ../../testdata/example/prompts/review-v1.md`,
		"--variant", `v2=--model fake-reviewer --system-file "../../testdata/example/prompts/review-v2.md"`,
		"--baseline", "v1", "--repeat", "2", "--aa", "--results", results, "--fail-if", "pass_rate<baseline", "--json", "--html", page)
	args = append(args, executorFlag(t)...)
	code, out, errs := runCLI(t, env, args...)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var cmp scenarios.Comparison
	if err := json.Unmarshal([]byte(out), &cmp); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rates := map[string]float64{}
	for _, a := range cmp.Arms {
		rates[a.Name] = a.PassRate
	}
	if cmp.Schema != "replay.compare/v1" || rates["v1"] != 1 || rates["v2"] != 0 || rates["v1~aa"] != 1 || cmp.Cases != 1 || cmp.Repeats != 2 {
		t.Fatalf("comparison %+v", cmp)
	}
	v := cmp.Versus[0]
	if v.Variant != "v2" || v.Delta != -1 || len(v.Flipped) != 1 || v.Verdicts.PassRate != scenarios.Inconclusive || v.Test != "sign-flip" {
		t.Errorf("v2 against v1: %+v", v)
	}
	if cmp.Noise.AA == nil || cmp.Noise.AA.Delta != 0 || cmp.Noise.MinDetectable != nil || cmp.Noise.MinCases != 6 || len(cmp.Incomplete) != 0 {
		t.Errorf("noise floor %+v", cmp.Noise)
	}
	if b, _ := os.ReadFile(page); !strings.Contains(string(b), `<td class="fail" title="0/2 runs passed; first divergence`) {
		t.Errorf("the HTML grid lacks v2's failing cell:\n%s", b)
	}
	if b, _ := os.ReadFile(results); strings.Count(string(b), "\n") != 1+3*2 {
		t.Errorf("results file: want a header and 6 runs:\n%s", b)
	}

	// --plan spends nothing and says what this many cases can show.
	code, out, errs = runCLI(t, env, append(append([]string{}, home...), "compare", exampleSuite, "--variant", "v2=--model fake-reviewer", "--repeat", "5", "--plan")...)
	if code != ExitOK || !strings.Contains(out, "1 case(s), 10 run(s)") || !strings.Contains(out, "needs at least 6 cases") {
		t.Errorf("plan: exit %d\n%s\n%s", code, out, errs)
	}
	// Bad variants are usage errors.
	for _, bad := range []string{"v2", "v2=--modle x", "v2=--tool-policy Bash=maybe"} {
		if code, _, errs := runCLI(t, env, append(append([]string{}, home...), "compare", exampleSuite, "--variant", bad)...); code != ExitUsage {
			t.Errorf("--variant %q: exit %d %s", bad, code, errs)
		}
	}
}

// TestComparePromptRefs: every version of a prompt file between two tags
// is a variant, the first the baseline.
func TestComparePromptRefs(t *testing.T) {
	requireGit(t)
	env, home := evalEnv(t)
	script, _ := fakemodel.Load("../../testdata/example/compare-model.json")
	srv := httptest.NewServer(&fakemodel.Server{Script: script})
	t.Cleanup(srv.Close)
	env["OPENAI_BASE_URL"] = srv.URL + "/v1"
	repo := filepath.Join(t.TempDir(), "prompts")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			"GIT_AUTHOR_DATE=2026-10-01T10:00:00Z", "GIT_COMMITTER_DATE=2026-10-01T10:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	os.MkdirAll(repo, 0o755)
	git("init", "-q", "-b", "main")
	for i, v := range []string{"v1", "v2"} {
		b, _ := os.ReadFile("../../testdata/example/prompts/review-" + v + ".md")
		os.WriteFile(filepath.Join(repo, "review.md"), b, 0o644)
		git("add", "-A")
		git("commit", "-q", "-m", "review prompt "+v)
		git("tag", v)
		_ = i
	}
	args := append(append([]string{}, home...), "compare", exampleSuite, "--prompt-refs", "v1..v2", "--prompt-path", "review.md", "--prompt-repo", repo, "--json", "--results", filepath.Join(t.TempDir(), "r.jsonl"))
	code, out, errs := runCLI(t, env, append(args, executorFlag(t)...)...)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var cmp scenarios.Comparison
	if err := json.Unmarshal([]byte(out), &cmp); err != nil {
		t.Fatal(err)
	}
	if len(cmp.Arms) != 2 || cmp.Baseline != cmp.Arms[0].Name || !strings.HasPrefix(cmp.Arms[0].Name, "p-") || cmp.Arms[0].PassRate != 1 || cmp.Arms[1].PassRate != 0 {
		t.Errorf("arms %+v baseline %s", cmp.Arms, cmp.Baseline)
	}
	if !strings.Contains(errs, "prompt version") || !strings.Contains(errs, "review prompt v2") {
		t.Errorf("stderr does not list the versions:\n%s", errs)
	}
}
