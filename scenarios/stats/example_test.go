package stats_test

import (
	"fmt"

	"github.com/agentreplay/replay/scenarios/stats"
)

// One run per arm: v1 and v2 over the same 20 cases.
func ExampleMcNemar() {
	v1 := []bool{true, true, false, true, false, true, true, false, true, true, false, false, true, true, false, true, false, true, true, false}
	v2 := []bool{true, true, true, true, true, true, true, false, true, true, true, true, true, true, false, true, true, true, true, true}
	n11, n10, n01, n00 := stats.Pairs(v1, v2)
	p, midP := stats.McNemar(n10, n01)
	diff, lo, hi := stats.PairedDiffCI(n11, n10, n01, n00, 0.05)
	fmt.Printf("table %d %d %d %d\n", n11, n10, n01, n00)
	fmt.Printf("McNemar p = %.6f, mid-p = %.6f\n", p, midP)
	fmt.Printf("pB − pA = %.2f (95%% CI %.3f to %.3f)\n", diff, lo, hi)
	// Output:
	// table 12 0 6 2
	// McNemar p = 0.031250, mid-p = 0.015625
	// pB − pA = 0.30 (95% CI 0.064 to 0.508)
}

func ExampleWilson() {
	lo, hi := stats.Wilson(81, 263, 0.05)
	fmt.Printf("%.4f to %.4f\n", lo, hi)
	// Output: 0.2553 to 0.3662
}

// k = 10 repeats of one case: 3 passed.
func ExamplePassAtK() {
	fmt.Printf("pass@1 %.2f  pass@5 %.4f  pass^2 %.4f\n",
		stats.PassAtK(10, 3, 1), stats.PassAtK(10, 3, 5), stats.PassHatK(10, 3, 2))
	// Output: pass@1 0.30  pass@5 0.9167  pass^2 0.0667
}

// k repeats per arm: per-case differences of pass rates (B − A), tested
// with the sign flip and bounded with the case-level bootstrap.
func ExampleSignFlip() {
	diffs := []float64{0.2, 0.4, 0, 0.6, -0.2, 0.2, 0.4, 0, 0.2, 0.8}
	p := stats.SignFlip(diffs, 10000, 1) // 10/256: 8 non-zero differences, enumerated
	lo, hi := stats.BootstrapMean(diffs, 10000, 0.05, 1)
	fmt.Printf("sign-flip p = %.4f\n", p)
	fmt.Printf("mean delta 95%% CI %.2f to %.2f\n", lo, hi)
	// Output:
	// sign-flip p = 0.0391
	// mean delta 95% CI 0.10 to 0.44
}

func ExampleGeoMeanRatio() {
	costA := []float64{0.10, 0.25, 0.40, 0, 0.08}
	costB := []float64{0.12, 0.30, 0.44, 0.05, 0.10}
	r, lo, hi, used := stats.GeoMeanRatio(costA, costB, 5000, 0.05, 1)
	fmt.Printf("cost ×%.3f (95%% CI %.3f to %.3f) over %d cases\n", r, lo, hi, used)
	// Output: cost ×1.186 (95% CI 1.124 to 1.237) over 4 cases
}

func ExampleQuantile() {
	latency := []float64{1.2, 0.8, 3.5, 1.1, 0.9, 1.4, 7.9, 1.0, 1.3, 1.2}
	fmt.Printf("p50 %.2f  p95 %.3f\n", stats.Quantile(latency, 0.5), stats.Quantile(latency, 0.95))
	// Output: p50 1.20  p95 5.920
}

// Three variants against one baseline.
func ExampleHolm() {
	fmt.Println(stats.Holm([]float64{0.01, 0.04, 0.03}))
	// Output: [0.03 0.06 0.06]
}

func ExampleMinDetectable() {
	fmt.Printf("%.3f\n", stats.MinDetectable(50, 5, 0.05, 0.8, 0.7))
	// Output: 0.116
}

// The noise floor of one case: the baseline against itself.
func ExampleFlipRate() {
	repeats := []bool{true, false, false, true, false, false, false, true, false, false}
	k, n := stats.Reproduces(repeats)
	fmt.Printf("reproduces %d of %d times, flip rate %.3f\n", k, n, stats.FlipRate(repeats))
	// Output: reproduces 3 of 10 times, flip rate 0.467
}
