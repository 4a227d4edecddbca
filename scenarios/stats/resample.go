package stats

import (
	"math"
	"math/rand/v2"
	"slices"
)

// exactMax is the largest number of non-zero differences for which SignFlip
// enumerates every sign vector (2^20 ≈ 10⁶ sums).
const exactMax = 20

// newRand is the package's only source of randomness: PCG seeded with
// (seed, seed).
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// SignFlip is the two-sided paired permutation (sign-flip) test of a zero
// mean difference. With at most 20 non-zero differences it is exact: all
// 2^m sign vectors of the m non-zero differences are enumerated (zeros
// flip to themselves) and p = #{|mean*| ≥ |mean|}/2^m. Otherwise iters
// random sign vectors are drawn from seed and p = (1 + #{|mean*| ≥
// |mean|})/(1 + iters). No difference, or all zero, gives 1; iters < 1
// when Monte Carlo is needed, or a non-finite difference, gives NaN.
func SignFlip(diffs []float64, iters int, seed uint64) float64 {
	var nz []float64
	var scale float64
	for _, d := range diffs {
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return math.NaN()
		}
		if d != 0 {
			nz = append(nz, math.Abs(d))
			scale += math.Abs(d)
		}
	}
	if len(nz) == 0 {
		return 1
	}
	var obs float64
	for _, d := range diffs {
		obs += d
	}
	// Sums stand for means (same n); the tolerance keeps ties that differ
	// only by rounding counted as ties.
	thr := math.Abs(obs) - 1e-9*scale
	if len(nz) <= exactMax {
		return signFlipExact(nz, thr)
	}
	if iters < 1 {
		return math.NaN()
	}
	return signFlipMC(nz, thr, iters, seed)
}

// signFlipExact counts, over all 2^m sign vectors of the absolute values
// nz, those whose |sum| reaches thr. Each sum is formed afresh (in the same
// order), so rounding does not accumulate across the 2^m vectors.
func signFlipExact(nz []float64, thr float64) float64 {
	total := uint64(1) << len(nz)
	count := 0
	for mask := range total {
		var s float64
		for j, v := range nz {
			if mask>>j&1 == 1 {
				s -= v
			} else {
				s += v
			}
		}
		if math.Abs(s) >= thr {
			count++
		}
	}
	return float64(count) / float64(total)
}

// signFlipMC draws iters random sign vectors from seed.
func signFlipMC(nz []float64, thr float64, iters int, seed uint64) float64 {
	r := newRand(seed)
	count := 0
	for range iters {
		var s float64
		var w uint64
		for j, v := range nz {
			if j%64 == 0 {
				w = r.Uint64()
			}
			if w&1 == 1 {
				s += v
			} else {
				s -= v
			}
			w >>= 1
		}
		if math.Abs(s) >= thr {
			count++
		}
	}
	return float64(1+count) / float64(1+iters)
}

// BootstrapMean is the case-level percentile bootstrap interval at level
// 1−alpha for the mean of per-case values: b resamples of the cases with
// replacement, drawn from seed; the bounds are the type-7 quantiles alpha/2
// and 1−alpha/2 of the b resampled means. Pass one value per case (e.g. a
// case's pass-rate difference over its repeats), never one per run. No
// value, b < 1 or an invalid alpha gives NaN; one value gives (v, v).
func BootstrapMean(diffs []float64, b int, alpha float64, seed uint64) (lo, hi float64) {
	if len(diffs) == 0 || b < 1 || !validAlpha(alpha) {
		return math.NaN(), math.NaN()
	}
	means := bootMeans(diffs, b, seed)
	return Quantile(means, alpha/2), Quantile(means, 1-alpha/2)
}

func bootMeans(xs []float64, b int, seed uint64) []float64 {
	r := newRand(seed)
	n := len(xs)
	means := make([]float64, b)
	for i := range means {
		var s float64
		for range n {
			s += xs[r.IntN(n)]
		}
		means[i] = s / float64(n)
	}
	return means
}

// GeoMeanRatio is the paired per-case ratio b/a (cost, tokens, latency of
// arm B over arm A) as the geometric mean exp(mean(log(b_i/a_i))), with the
// case-level percentile bootstrap interval of BootstrapMean on the logs
// (boot resamples from seed), exponentiated. Pairs where either value is
// ≤ 0 or not finite are left out; used says how many were kept. Slices of
// different lengths, no usable pair, boot < 1 or an invalid alpha give NaN.
func GeoMeanRatio(a, b []float64, boot int, alpha float64, seed uint64) (ratio, lo, hi float64, used int) {
	nan := math.NaN()
	if len(a) != len(b) {
		return nan, nan, nan, 0
	}
	var logs []float64
	for i := range a {
		if usable(a[i]) && usable(b[i]) {
			logs = append(logs, math.Log(b[i])-math.Log(a[i]))
		}
	}
	used = len(logs)
	if used == 0 || boot < 1 || !validAlpha(alpha) {
		return nan, nan, nan, used
	}
	var s float64
	for _, l := range logs {
		s += l
	}
	ratio = math.Exp(s / float64(used))
	llo, lhi := BootstrapMean(logs, boot, alpha, seed)
	return ratio, math.Exp(llo), math.Exp(lhi), used
}

func usable(x float64) bool { return x > 0 && !math.IsInf(x, 1) }

// Quantile is the q-quantile of xs by Hyndman & Fan's type 7 (R's and
// NumPy's default): with the sorted values x₀ ≤ … ≤ x_{n−1} and h = (n−1)q,
// x_⌊h⌋ + (h−⌊h⌋)(x_⌊h⌋+1 − x_⌊h⌋). xs is not changed. No value, q outside
// [0, 1] or a NaN value gives NaN.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 || !(q >= 0 && q <= 1) {
		return math.NaN()
	}
	s := slices.Clone(xs)
	for _, x := range s {
		if math.IsNaN(x) {
			return math.NaN()
		}
	}
	slices.Sort(s)
	h := float64(len(s)-1) * q
	i := int(math.Floor(h))
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[i] + (h-float64(i))*(s[i+1]-s[i])
}

// Holm is the Holm–Bonferroni step-down adjustment of m p-values, in input
// order: with p₍₁₎ ≤ … ≤ p₍ₘ₎, adj₍ᵢ₎ = max_{j≤i} min(1, (m−j+1)·p₍ⱼ₎).
// Reject hypothesis i at family-wise level alpha when adj_i ≤ alpha. NaN
// p-values stay NaN and do not count in m.
func Holm(p []float64) []float64 {
	out := make([]float64, len(p))
	var idx []int
	for i, v := range p {
		if math.IsNaN(v) {
			out[i] = math.NaN()
			continue
		}
		idx = append(idx, i)
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		switch {
		case p[x] < p[y]:
			return -1
		case p[x] > p[y]:
			return 1
		}
		return 0
	})
	m := len(idx)
	run := 0.0
	for j, i := range idx {
		run = math.Max(run, math.Min(1, float64(m-j)*p[i]))
		out[i] = run
	}
	return out
}
