package stats

import "math"

// PassAtK is the unbiased estimator of pass@k from n runs of which c
// passed: 1 − C(n−c, k)/C(n, k), computed as a product. It is NaN unless
// 0 ≤ c ≤ n and 1 ≤ k ≤ n.
func PassAtK(n, c, k int) float64 {
	if c < 0 || c > n || k < 1 || k > n {
		return math.NaN()
	}
	if n-c < k {
		return 1
	}
	// C(n−c, k)/C(n, k) = ∏_{i=n−c+1}^{n} (1 − k/i)
	q := 1.0
	for i := n - c + 1; i <= n; i++ {
		q *= 1 - float64(k)/float64(i)
	}
	return 1 - q
}

// PassHatK is the estimator of pass^k (all of k runs pass) from n runs of
// which c passed: C(c, k)/C(n, k), computed as a product. It is NaN unless
// 0 ≤ c ≤ n and 1 ≤ k ≤ n.
func PassHatK(n, c, k int) float64 {
	if c < 0 || c > n || k < 1 || k > n {
		return math.NaN()
	}
	if c < k {
		return 0
	}
	// C(c, k)/C(n, k) = ∏_{i=0}^{k−1} (c−i)/(n−i)
	q := 1.0
	for i := range k {
		q *= float64(c-i) / float64(n-i)
	}
	return q
}

// FlipRate is the fraction of unordered pairs of repeats (one case, one
// arm) whose outcomes disagree: 2·s·f/(n(n−1)) with s passes and f fails.
// 0 means the outcome is stable; an even split gives the most, n/(2(n−1))
// (1 for two repeats that disagree). Its expectation is 2p(1−p) for a case
// passing with probability p. Fewer than two repeats give NaN.
func FlipRate(outcomes []bool) float64 {
	n := len(outcomes)
	if n < 2 {
		return math.NaN()
	}
	s, _ := Reproduces(outcomes)
	f := n - s
	return 2 * float64(s) * float64(f) / (float64(n) * float64(n-1))
}

// Reproduces counts how many of the repeats are true (for instance: the
// original decision came back) out of how many: "reproduces k of n times".
func Reproduces(outcomes []bool) (k, n int) {
	for _, o := range outcomes {
		if o {
			k++
		}
	}
	return k, len(outcomes)
}

// MinDetectable is the smallest difference in pass rate that a paired
// comparison of n cases with k repeats per arm detects with the given power
// by a two-sided test at alpha, when the baseline passes at baseRate. It is
// the normal approximation of the package doc (per-case differences of
// mean outcomes; within-case Bernoulli repeats, arms independent given the
// case). It is +Inf when no difference within [0, 1] is detectable (n or k
// is 0, or the cases are too few), NaN for invalid arguments.
func MinDetectable(n, k int, alpha, power, baseRate float64) float64 {
	if n < 0 || k < 0 || !validAlpha(alpha) || !(power > 0 && power < 1) ||
		!(baseRate >= 0 && baseRate <= 1) {
		return math.NaN()
	}
	if n == 0 || k == 0 {
		return math.Inf(1)
	}
	p := math.Min(baseRate, 1-baseRate) // by symmetry, move away from the nearer bound
	za, zb := zQuantile(1-alpha/2), zQuantile(power)
	nf, kf := float64(n), float64(k)
	sigma0 := math.Sqrt(2 * p * (1 - p) / kf)
	f := func(d float64) float64 {
		q := p + d
		sigma1 := math.Sqrt((p*(1-p) + q*(1-q)) / kf)
		return d*math.Sqrt(nf) - (za*sigma0 + zb*sigma1)
	}
	lo, hi := 0.0, 1-p
	if f(hi) < 0 {
		return math.Inf(1)
	}
	// f(0) < 0 ≤ f(hi) and f is increasing wherever it crosses zero.
	for range 200 {
		mid := (lo + hi) / 2
		if f(mid) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}
