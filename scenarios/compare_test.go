package scenarios

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
)

// armsPlan: n cases, each run by the named arms k times.
func armsPlan(n, k int, arms ...string) *Plan {
	s := &Suite{Name: "s"}
	for _, a := range arms {
		s.Variants = append(s.Variants, Variant{Name: a, Model: a})
	}
	for i := 0; i < n; i++ {
		s.Cases = append(s.Cases, &Case{ID: fmt.Sprintf("c%02d", i)})
	}
	p, err := NewPlan(s, PlanOptions{Repeat: k})
	if err != nil {
		panic(err)
	}
	return p
}

// outcomes fills records: pass(arm, case, repeat) says each run's outcome.
func outcomes(p *Plan, pass func(arm string, c, r int) bool, cost func(arm string) float64) []Record {
	var out []Record
	for _, c := range p.Cells {
		var ci int
		fmt.Sscanf(c.Case.ID, "c%d", &ci)
		st := Fail
		if pass(c.Variant.Name, ci, c.Repeat) {
			st = Pass
		}
		out = append(out, Record{Key: c.Key(), VariantName: c.Variant.Name, Status: st, CostUSD: cost(c.Variant.Name), DurationMS: 1000})
	}
	return out
}

func TestCompareOneRepeatIsMcNemar(t *testing.T) {
	p := armsPlan(20, 1, "a", "b")
	// a passes cases 0-9, b passes 0-9 and 10-17: 8 discordant, all for b.
	recs := outcomes(p, func(arm string, c, _ int) bool { return c < 10 || (arm == "b" && c < 18) }, func(arm string) float64 {
		return map[string]float64{"a": 1, "b": 0.5}[arm]
	})
	cmp, err := Compare("s", p, recs, CompareOptions{Baseline: "a", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := cmp.Versus[0]
	if v.Test != "mcnemar-exact" || *v.Table != [4]int{10, 0, 8, 2} || v.Improved != 8 || v.Regressed != 0 {
		t.Fatalf("versus %+v table %v", v, *v.Table)
	}
	// Exact McNemar with b=0, c=8: 2·0.5^8.
	if want := 2 * math.Pow(0.5, 8); math.Abs(v.P-want) > 1e-12 || math.Abs(v.Delta-0.4) > 1e-12 {
		t.Errorf("p %g delta %g, want %g and 0.4", v.P, v.Delta, want)
	}
	if v.Verdicts.PassRate != Better || v.Verdicts.Cost != Better || v.Cost.Ratio != 0.5 {
		t.Errorf("verdicts %+v cost %+v", v.Verdicts, v.Cost)
	}
	if cmp.Arms[0].PassRate != 0.5 || cmp.Arms[1].PassRate != 0.9 {
		t.Errorf("arms %+v", cmp.Arms)
	}
}

func TestCompareRepeatsAndNoise(t *testing.T) {
	p := armsPlan(8, 4, "a", "b", "a~aa")
	// a passes half its repeats of every case (a noisy baseline), b all.
	recs := outcomes(p, func(arm string, c, r int) bool { return arm == "b" || r%2 == 0 }, func(string) float64 { return 1 })
	cmp, err := Compare("s", p, recs, CompareOptions{Baseline: "a", AA: "a~aa", Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Versus) != 1 || cmp.Noise.AA == nil {
		t.Fatalf("the A/A arm is the noise floor's, not a variant: %+v", cmp.Versus)
	}
	v := cmp.Versus[0]
	// Every case differs by +0.5: the exact sign-flip p over 8 cases is 2/256.
	if v.Test != "sign-flip" || math.Abs(v.Delta-0.5) > 1e-12 || math.Abs(v.P-2.0/256) > 1e-12 || v.Verdicts.PassRate != Better {
		t.Errorf("versus %+v", v)
	}
	if aa := cmp.Noise.AA; aa.Delta != 0 || aa.P != 1 || aa.Verdicts.PassRate != Inconclusive {
		t.Errorf("A/A %+v", aa)
	}
	if cmp.Noise.FlipRate == 0 || cmp.Noise.Reproduces[0].Passed != 2 || cmp.Noise.Reproduces[0].Runs != 4 {
		t.Errorf("noise %+v", cmp.Noise)
	}
	if cmp.Noise.MinDetectable == nil || *cmp.Noise.MinDetectable <= 0 || *cmp.Noise.MinDetectable >= 1 {
		t.Errorf("min detectable %v", cmp.Noise.MinDetectable)
	}
	// The same seed, the same bytes; JSON carries no NaN.
	var x, y bytes.Buffer
	cmp.WriteJSON(&x)
	again, _ := Compare("s", p, recs, CompareOptions{Baseline: "a", AA: "a~aa", Seed: 7})
	again.WriteJSON(&y)
	if x.String() != y.String() {
		t.Error("the same seed gave another report")
	}
}

func TestCompareEdgeCases(t *testing.T) {
	// All identical: nothing to tell apart.
	p := armsPlan(10, 1, "a", "b")
	cmp, _ := Compare("s", p, outcomes(p, func(string, int, int) bool { return true }, func(string) float64 { return 1 }), CompareOptions{Baseline: "a"})
	if v := cmp.Versus[0]; v.P != 1 || v.Delta != 0 || v.Verdicts.PassRate != Inconclusive || *v.Table != [4]int{10, 0, 0, 0} {
		t.Errorf("identical arms: %+v", v)
	}
	// One case: a flip, but no test over one case can tell.
	p = armsPlan(1, 5, "a", "b")
	cmp, _ = Compare("s", p, outcomes(p, func(arm string, _, _ int) bool { return arm == "a" }, func(string) float64 { return 1 }), CompareOptions{Baseline: "a"})
	v := cmp.Versus[0]
	if v.Delta != -1 || v.Verdicts.PassRate != Inconclusive || len(v.Flipped) != 1 || cmp.Noise.MinDetectable != nil || cmp.Noise.MinCases != 6 {
		t.Errorf("one case: %+v noise %+v", v, cmp.Noise)
	}
	var txt bytes.Buffer
	cmp.WriteText(&txt)
	if !strings.Contains(txt.String(), "needs at least 6 cases") || !strings.Contains(txt.String(), "b flips c00: 100% → 0%") {
		t.Errorf("text:\n%s", txt.String())
	}
	// Errors make it incomplete, never a verdict.
	p = armsPlan(10, 1, "a", "b")
	recs := outcomes(p, func(arm string, c, _ int) bool { return arm == "b" }, func(string) float64 { return 1 })
	recs[3].Status, recs[3].Error = Error, "sandbox fault"
	cmp, _ = Compare("s", p, recs, CompareOptions{Baseline: "a"})
	if len(cmp.Incomplete) == 0 || cmp.Versus[0].Verdicts.PassRate != Inconclusive || cmp.Cases != 9 {
		t.Errorf("with an error: %+v", cmp)
	}
	if _, err := Compare("s", p, recs, CompareOptions{Baseline: "zzz"}); err == nil {
		t.Error("an unknown baseline")
	}
}

func TestCompareHolmAndGates(t *testing.T) {
	p := armsPlan(20, 1, "a", "better", "same", "worse")
	recs := outcomes(p, func(arm string, c, _ int) bool {
		switch arm {
		case "better":
			return true
		case "worse":
			return c < 4
		}
		return c < 16
	}, func(arm string) float64 { return map[string]float64{"a": 1, "better": 1.5, "same": 1, "worse": 1}[arm] })
	cmp, _ := Compare("s", p, recs, CompareOptions{Baseline: "a"})
	got := map[string]VersusBaseline{}
	for _, v := range cmp.Versus {
		got[v.Variant] = v
		if v.PAdjusted < v.P-1e-12 {
			t.Errorf("%s: Holm lowered p %g to %g", v.Variant, v.P, v.PAdjusted)
		}
	}
	if got["same"].Verdicts.PassRate != Inconclusive || got["worse"].Verdicts.PassRate != Worse {
		t.Errorf("verdicts %+v", got)
	}
	var gates []Gate
	for _, s := range []string{"pass_rate<baseline", "cost>1.2x", "critical_newly_fails"} {
		g, err := ParseGate(s)
		if err != nil {
			t.Fatal(err)
		}
		gates = append(gates, g)
	}
	failed := strings.Join(cmp.Failed(gates), "; ")
	if !strings.Contains(failed, "worse: pass_rate<baseline") || !strings.Contains(failed, "better: cost>1.2x") || strings.Contains(failed, "same:") {
		t.Errorf("gates tripped: %s", failed)
	}
	for _, bad := range []string{"pass_rate>baseline", "cost>x", "cost>1.2", "speed>2x"} {
		if _, err := ParseGate(bad); err == nil {
			t.Errorf("ParseGate(%q) accepted", bad)
		}
	}
}

func TestCompareHTMLIsInert(t *testing.T) {
	p := armsPlan(2, 1, "a", "b")
	p.Cases[0].ID = `<script>alert(1)</script>`
	recs := outcomes(p, func(arm string, c, _ int) bool { return arm == "a" }, func(string) float64 { return 1 })
	for i := range recs {
		recs[i].Divergence = `step 1: <img src=x onerror=alert(1)>`
	}
	cmp, _ := Compare("s", p, recs, CompareOptions{Baseline: "a"})
	var b bytes.Buffer
	if err := cmp.WriteHTML(&b, p, recs); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	if strings.Contains(h, "<script>") || strings.Contains(h, "<img") || !strings.Contains(h, "default-src 'none'") || !strings.Contains(h, `class="fail"`) || !strings.Contains(h, "1/1") {
		t.Errorf("html:\n%s", h)
	}
}
