package stats

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Pairs counts the paired 2×2 table of two arms run once on the same cases:
// n11 both pass, n10 only A passes, n01 only B passes, n00 both fail. Cases
// beyond the shorter slice are ignored.
func Pairs(a, b []bool) (n11, n10, n01, n00 int) {
	for i := range min(len(a), len(b)) {
		switch {
		case a[i] && b[i]:
			n11++
		case a[i]:
			n10++
		case b[i]:
			n01++
		default:
			n00++
		}
	}
	return n11, n10, n01, n00
}

// McNemar is the exact two-sided McNemar test on the discordant pairs of a
// paired 2×2 table: b cases where only A passes, c where only B passes.
// p is the exact conditional p-value, midP the mid-p value (see the package
// doc). With no discordant pair both are 1; negative counts give NaN.
func McNemar(b, c int) (p, midP float64) {
	if b < 0 || c < 0 {
		return math.NaN(), math.NaN()
	}
	n := b + c
	if n == 0 {
		return 1, 1
	}
	m := float64(min(b, c))
	x := distuv.Binomial{N: float64(n), P: 0.5}
	cdf, pm := x.CDF(m), x.Prob(m)
	p = math.Min(1, 2*cdf)
	midP = math.Min(1, 2*cdf-pm)
	return p, midP
}

// Wilson is the Wilson score interval for k successes in n trials at level
// 1−alpha. n = 0 gives (0, 1); invalid arguments give NaN.
func Wilson(k, n int, alpha float64) (lo, hi float64) {
	if n == 0 && k == 0 && validAlpha(alpha) {
		return 0, 1
	}
	if k < 0 || n <= 0 || k > n || !validAlpha(alpha) {
		return math.NaN(), math.NaN()
	}
	z := zQuantile(1 - alpha/2)
	nf, kf := float64(n), float64(k)
	z2 := z * z
	center := (kf + z2/2) / (nf + z2)
	half := z / (nf + z2) * math.Sqrt(kf*(nf-kf)/nf+z2/4)
	lo, hi = center-half, center+half
	if k == 0 {
		lo = 0
	}
	if k == n {
		hi = 1
	}
	return math.Max(0, lo), math.Min(1, hi)
}

// PairedDiffCI is the difference of paired proportions pB − pA with
// Newcombe's hybrid score interval (method 10, with the corrected phi) at
// level 1−alpha, from the paired 2×2 table: n11 both pass, n10 only A
// passes, n01 only B passes, n00 both fail. An empty table gives
// (0, −1, 1); invalid arguments give NaN.
func PairedDiffCI(n11, n10, n01, n00 int, alpha float64) (diff, lo, hi float64) {
	if n11 < 0 || n10 < 0 || n01 < 0 || n00 < 0 || !validAlpha(alpha) {
		return math.NaN(), math.NaN(), math.NaN()
	}
	n := n11 + n10 + n01 + n00
	if n == 0 {
		return 0, -1, 1
	}
	nf := float64(n)
	pA := float64(n11+n10) / nf
	pB := float64(n11+n01) / nf
	diff = pB - pA
	lA, uA := Wilson(n11+n10, n, alpha)
	lB, uB := Wilson(n11+n01, n, alpha)
	phi := newcombePhi(n11, n10, n01, n00)
	// Newcombe's θ = p1 − p2 with p1 = pB, p2 = pA.
	dl := sq(pB-lB) - 2*phi*(pB-lB)*(uA-pA) + sq(uA-pA)
	du := sq(pA-lA) - 2*phi*(pA-lA)*(uB-pB) + sq(uB-pB)
	lo = diff - math.Sqrt(math.Max(0, dl))
	hi = diff + math.Sqrt(math.Max(0, du))
	return diff, math.Max(-1, lo), math.Min(1, hi)
}

// newcombePhi is Newcombe's corrected phi: with A = n11·n00 − n10·n01 and
// the four margins' product P, phi = (A − n/2)/√P when A > n/2, 0 when
// 0 ≤ A ≤ n/2, A/√P when A < 0, and 0 when a margin is empty.
func newcombePhi(n11, n10, n01, n00 int) float64 {
	n := float64(n11 + n10 + n01 + n00)
	r1, r0 := float64(n11+n10), float64(n01+n00)
	c1, c0 := float64(n11+n01), float64(n10+n00)
	if r1 == 0 || r0 == 0 || c1 == 0 || c0 == 0 {
		return 0
	}
	a := float64(n11)*float64(n00) - float64(n10)*float64(n01)
	den := math.Sqrt(r1 * r0 * c1 * c0)
	switch {
	case a > n/2:
		return (a - n/2) / den
	case a >= 0:
		return 0
	default:
		return a / den
	}
}

func sq(x float64) float64 { return x * x }

func validAlpha(alpha float64) bool { return alpha > 0 && alpha < 1 }

// zQuantile is the standard normal quantile Φ⁻¹(p).
func zQuantile(p float64) float64 { return distuv.UnitNormal.Quantile(p) }
