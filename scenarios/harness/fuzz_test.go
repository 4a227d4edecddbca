package harness_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agentreplay/replay/scenarios/harness"
)

func seeds(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(""))
	f.Add([]byte("fixture: {type: issue}\nreplay: {trace: t.jsonl}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("{1: 2}"))
}

// The readers never panic, and what they accept they accept whole.
func FuzzParseInput(f *testing.F) {
	seeds(f, "input.yaml", "input-factory.yaml", "bad-input.yaml")
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := harness.ParseInput("input.yaml", b)
		if err == nil && in.Fixture.Type != harness.Issue && in.Fixture.Type != harness.PullRequest {
			t.Fatalf("accepted fixture type %q", in.Fixture.Type)
		}
	})
}

func FuzzParseAnnotations(f *testing.F) {
	seeds(f, "annotations.yaml")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := harness.ParseAnnotations("annotations.yaml", b)
		if err == nil && (a.MaxTurns < 0 || a.MaxCostUSD < 0) {
			t.Fatalf("accepted negative budgets: %+v", a)
		}
	})
}

func FuzzParseEval(f *testing.F) {
	seeds(f, "eval.yaml")
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := harness.ParseEval("eval.yaml", b)
		if err == nil && e.Skill == "" {
			t.Fatal("accepted an eval without its skill")
		}
	})
}
