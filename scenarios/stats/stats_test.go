package stats

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol
}

// binomTailExact is P(X ≤ m) and P(X = m) for X ~ Binomial(n, 1/2), in
// exact rational arithmetic: the second implementation McNemar is checked
// against.
func binomTailExact(n, m int) (cdf, pm float64) {
	var sum big.Int
	var c big.Int
	for i := 0; i <= m; i++ {
		c.Binomial(int64(n), int64(i))
		sum.Add(&sum, &c)
	}
	den := new(big.Int).Lsh(big.NewInt(1), uint(n))
	cdf, _ = new(big.Rat).SetFrac(&sum, den).Float64()
	pm, _ = new(big.Rat).SetFrac(&c, den).Float64()
	return cdf, pm
}

func TestMcNemar(t *testing.T) {
	tests := []struct {
		name    string
		b, c    int
		p, midP float64
	}{
		// R: binom.test(3, 13)$p.value = 0.09229 (= mcnemar exact); 756/8192.
		{"R binom.test(3,13)", 3, 10, 756.0 / 8192, 470.0 / 8192},
		{"symmetric", 10, 3, 756.0 / 8192, 470.0 / 8192},
		// Fagerland, Lydersen, Laake 2013, Bentur et al. example: 0.070 / 0.039.
		{"Fagerland 2013 example", 1, 7, 18.0 / 256, 10.0 / 256},
		{"zero discordant pairs", 0, 0, 1, 1},
		{"one discordant pair", 0, 1, 1, 0.5},
		{"b = c", 5, 5, 1, 1},
		{"one-sided all", 0, 5, 2.0 / 32, 1.0 / 32},
		{"negative", -1, 3, math.NaN(), math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, mid := McNemar(tt.b, tt.c)
			if !near(p, tt.p, 1e-12) || !near(mid, tt.midP, 1e-12) {
				t.Errorf("McNemar(%d, %d) = %v, %v; want %v, %v", tt.b, tt.c, p, mid, tt.p, tt.midP)
			}
		})
	}
	// Against exact rational sums over a grid, and a large table.
	pairs := [][2]int{{300, 360}, {1000, 1100}}
	for b := range 41 {
		for c := range 41 {
			pairs = append(pairs, [2]int{b, c})
		}
	}
	for _, bc := range pairs {
		b, c := bc[0], bc[1]
		if b+c == 0 {
			continue
		}
		cdf, pm := binomTailExact(b+c, min(b, c))
		wantP, wantMid := math.Min(1, 2*cdf), math.Min(1, 2*cdf-pm)
		p, mid := McNemar(b, c)
		if !near(p, wantP, 1e-12+1e-9*wantP) || !near(mid, wantMid, 1e-12+1e-9*wantMid) {
			t.Errorf("McNemar(%d, %d) = %v, %v; exact %v, %v", b, c, p, mid, wantP, wantMid)
		}
	}
}

// wilsonBisect inverts the score test |p̂ − p| ≤ z·√(p(1−p)/n) by
// bisection: an implementation of the Wilson interval that shares no
// formula with Wilson.
func wilsonBisect(k, n int, z float64) (lo, hi float64) {
	ph := float64(k) / float64(n)
	in := func(p float64) bool {
		return math.Abs(ph-p) <= z*math.Sqrt(p*(1-p)/float64(n))
	}
	edge := func(a, b float64) float64 { // in(a) != in(b)
		ia := in(a)
		for range 200 {
			m := (a + b) / 2
			if in(m) == ia {
				a = m
			} else {
				b = m
			}
		}
		return (a + b) / 2
	}
	lo, hi = 0, 1
	if k > 0 {
		lo = edge(0, ph)
	}
	if k < n {
		hi = edge(ph, 1)
	}
	return lo, hi
}

func TestWilson(t *testing.T) {
	tests := []struct {
		name   string
		k, n   int
		alpha  float64
		lo, hi float64
		tol    float64
	}{
		// Newcombe 1998 (Stat Med 17:857), Table I, method 3, to 4 decimals.
		{"Newcombe 81/263", 81, 263, 0.05, 0.2553, 0.3662, 5e-5},
		{"Newcombe 15/148", 15, 148, 0.05, 0.0624, 0.1605, 5e-5},
		{"Newcombe 0/20", 0, 20, 0.05, 0, 0.1611, 5e-5},
		{"Newcombe 1/29", 1, 29, 0.05, 0.0061, 0.1718, 5e-5},
		{"all pass", 29, 29, 0.05, 0.883030, 1, 5e-6},
		{"n = 0", 0, 0, 0.05, 0, 1, 0},
		{"k > n", 3, 2, 0.05, math.NaN(), math.NaN(), 0},
		{"bad alpha", 1, 2, 0, math.NaN(), math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := Wilson(tt.k, tt.n, tt.alpha)
			if !near(lo, tt.lo, tt.tol) || !near(hi, tt.hi, tt.tol) {
				t.Errorf("Wilson(%d, %d) = %v, %v; want %v, %v", tt.k, tt.n, lo, hi, tt.lo, tt.hi)
			}
		})
	}
	for _, alpha := range []float64{0.05, 0.1, 0.01} {
		z := zQuantile(1 - alpha/2)
		for n := 1; n <= 40; n++ {
			for k := 0; k <= n; k++ {
				lo, hi := Wilson(k, n, alpha)
				wlo, whi := wilsonBisect(k, n, z)
				if !near(lo, wlo, 1e-9) || !near(hi, whi, 1e-9) {
					t.Fatalf("Wilson(%d, %d, %v) = %v, %v; bisection %v, %v", k, n, alpha, lo, hi, wlo, whi)
				}
			}
		}
	}
}

// newcombeSecond is Newcombe's method 10 built from case vectors: the
// margins' correlation is the Pearson correlation of the expanded 0/1
// outcomes, the Wilson limits come from wilsonBisect.
func newcombeSecond(n11, n10, n01, n00 int, alpha float64) (diff, lo, hi float64) {
	var a, b []float64
	add := func(cnt int, x, y float64) {
		for range cnt {
			a, b = append(a, x), append(b, y)
		}
	}
	add(n11, 1, 1)
	add(n10, 1, 0)
	add(n01, 0, 1)
	add(n00, 0, 0)
	n := float64(len(a))
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / n
	}
	ma, mb := mean(a), mean(b)
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	phi := 0.0
	if saa > 0 && sbb > 0 {
		r := sab / math.Sqrt(saa*sbb)
		// Newcombe's correction in correlation units: D/√P = r and
		// (n/2)/√P = r·(n/2)/D, with D = n·sab.
		d := n * sab
		switch {
		case d > n/2:
			phi = r * (d - n/2) / d
		case d < 0:
			phi = r
		}
	}
	z := zQuantile(1 - alpha/2)
	lA, uA := wilsonBisect(n11+n10, len(a), z)
	lB, uB := wilsonBisect(n11+n01, len(a), z)
	diff = mb - ma
	lo = diff - math.Sqrt((mb-lB)*(mb-lB)+(uA-ma)*(uA-ma)-2*phi*(mb-lB)*(uA-ma))
	hi = diff + math.Sqrt((ma-lA)*(ma-lA)+(uB-mb)*(uB-mb)-2*phi*(ma-lA)*(uB-mb))
	return diff, math.Max(-1, lo), math.Min(1, hi)
}

func TestPairedDiffCI(t *testing.T) {
	tests := []struct {
		name               string
		n11, n10, n01, n00 int
		diff, lo, hi, tol  float64
	}{
		// Fagerland, Lydersen, Laake 2017, ch. 8, Cavo et al. 2012 (as in the
		// R package contingencytables' tests): −0.0621 (−0.1186 to −0.0046)
		// for p1 − p2; here pB − pA, so the signs turn.
		{"Cavo 2012", 59, 6, 16, 80, 0.0621, 0.0046, 0.1186, 5e-5},
		{"no discordant pairs", 5, 0, 0, 5, 0, -0.166593, 0.166593, 5e-6},
		{"all pass", 10, 0, 0, 0, 0, -0.277533, 0.277533, 5e-6},
		// pA = 1, pB = 0: lo = −1, hi = −1 + √2·(1 − Wilson(1, 1).lo).
		{"one case", 0, 1, 0, 0, -1, -1, -1 + math.Sqrt2*(1-0.20654931), 1e-7},
		{"empty", 0, 0, 0, 0, 0, -1, 1, 0},
		{"negative", -1, 0, 0, 0, math.NaN(), math.NaN(), math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, lo, hi := PairedDiffCI(tt.n11, tt.n10, tt.n01, tt.n00, 0.05)
			if !near(d, tt.diff, tt.tol) || !near(lo, tt.lo, tt.tol) || !near(hi, tt.hi, tt.tol) {
				t.Errorf("PairedDiffCI = %v (%v, %v); want %v (%v, %v)", d, lo, hi, tt.diff, tt.lo, tt.hi)
			}
		})
	}
	// Against the second implementation on every table with n ≤ 12.
	for n := 1; n <= 12; n++ {
		for a := 0; a <= n; a++ {
			for b := 0; a+b <= n; b++ {
				for c := 0; a+b+c <= n; c++ {
					d := n - a - b - c
					g, gl, gh := PairedDiffCI(a, b, c, d, 0.05)
					w, wl, wh := newcombeSecond(a, b, c, d, 0.05)
					if !near(g, w, 1e-12) || !near(gl, wl, 1e-7) || !near(gh, wh, 1e-7) {
						t.Fatalf("PairedDiffCI(%d,%d,%d,%d) = %v (%v, %v); second %v (%v, %v)", a, b, c, d, g, gl, gh, w, wl, wh)
					}
					if gl > g || gh < g {
						t.Fatalf("PairedDiffCI(%d,%d,%d,%d): %v outside (%v, %v)", a, b, c, d, g, gl, gh)
					}
				}
			}
		}
	}
}

// TestPairedDiffCICoverage enumerates every table of n = 30 cases under
// a few true multinomials and checks the exact coverage of the 95%
// interval; Newcombe reports method 10 near nominal (mean ≈ 0.95, seldom
// below 0.93).
func TestPairedDiffCICoverage(t *testing.T) {
	const n = 30
	lf := func(k int) float64 { v, _ := math.Lgamma(float64(k + 1)); return v }
	for _, pr := range [][4]float64{
		{0.4, 0.1, 0.1, 0.4}, {0.3, 0.05, 0.25, 0.4}, {0.6, 0.2, 0.1, 0.1}, {0.25, 0.25, 0.25, 0.25},
	} {
		delta := pr[2] - pr[1]
		cover := 0.0
		for a := 0; a <= n; a++ {
			for b := 0; a+b <= n; b++ {
				for c := 0; a+b+c <= n; c++ {
					d := n - a - b - c
					lp := lf(n) - lf(a) - lf(b) - lf(c) - lf(d) +
						float64(a)*math.Log(pr[0]) + float64(b)*math.Log(pr[1]) +
						float64(c)*math.Log(pr[2]) + float64(d)*math.Log(pr[3])
					_, lo, hi := PairedDiffCI(a, b, c, d, 0.05)
					if lo <= delta && delta <= hi {
						cover += math.Exp(lp)
					}
				}
			}
		}
		if cover < 0.92 || cover > 0.99 {
			t.Errorf("coverage at %v = %.4f, want ≈ 0.95", pr, cover)
		}
	}
}

// ratBinom is C(n, k) as a big.Rat.
func ratBinom(n, k int) *big.Rat {
	if k < 0 || k > n {
		return new(big.Rat)
	}
	var c big.Int
	c.Binomial(int64(n), int64(k))
	return new(big.Rat).SetInt(&c)
}

func TestPassAtK(t *testing.T) {
	tests := []struct {
		name    string
		n, c, k int
		at, hat float64
	}{
		{"k = 1 is the pass rate", 10, 3, 1, 0.3, 0.3},
		{"n=10 c=3 k=5", 10, 3, 5, 1 - 21.0/252, 0},
		{"n=10 c=3 k=2", 10, 3, 2, 1 - 21.0/45, 3.0 / 45},
		{"all pass", 5, 5, 5, 1, 1},
		{"none pass", 5, 0, 3, 0, 0},
		{"one run", 1, 1, 1, 1, 1},
		{"k > n", 3, 1, 4, math.NaN(), math.NaN()},
		{"n = 0", 0, 0, 1, math.NaN(), math.NaN()},
		{"k = 0", 3, 1, 0, math.NaN(), math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PassAtK(tt.n, tt.c, tt.k); !near(got, tt.at, 1e-12) {
				t.Errorf("PassAtK = %v, want %v", got, tt.at)
			}
			if got := PassHatK(tt.n, tt.c, tt.k); !near(got, tt.hat, 1e-12) {
				t.Errorf("PassHatK = %v, want %v", got, tt.hat)
			}
		})
	}
	for n := 1; n <= 40; n++ {
		for c := 0; c <= n; c++ {
			for k := 1; k <= n; k++ {
				q := new(big.Rat).Quo(ratBinom(n-c, k), ratBinom(n, k))
				at, _ := new(big.Rat).Sub(big.NewRat(1, 1), q).Float64()
				hat, _ := new(big.Rat).Quo(ratBinom(c, k), ratBinom(n, k)).Float64()
				if g := PassAtK(n, c, k); !near(g, at, 1e-12) {
					t.Fatalf("PassAtK(%d,%d,%d) = %v, exact %v", n, c, k, g, at)
				}
				if g := PassHatK(n, c, k); !near(g, hat, 1e-12) {
					t.Fatalf("PassHatK(%d,%d,%d) = %v, exact %v", n, c, k, g, hat)
				}
			}
		}
	}
}

func TestFlipRateReproduces(t *testing.T) {
	tests := []struct {
		name string
		o    []bool
		flip float64
		k, n int
	}{
		{"n = 0", nil, math.NaN(), 0, 0},
		{"k = 1", []bool{true}, math.NaN(), 1, 1},
		{"two disagree", []bool{true, false}, 1, 1, 2},
		{"stable pass", []bool{true, true, true}, 0, 3, 3},
		{"stable fail", []bool{false, false, false}, 0, 0, 3},
		{"even split", []bool{true, true, false, false}, 4.0 / 6, 2, 4},
		{"3 of 10", []bool{true, false, false, true, false, false, false, true, false, false}, 42.0 / 90, 3, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FlipRate(tt.o); !near(got, tt.flip, 1e-12) {
				t.Errorf("FlipRate = %v, want %v", got, tt.flip)
			}
			// Naive: count disagreeing pairs.
			if len(tt.o) >= 2 {
				dis, all := 0, 0
				for i := range tt.o {
					for j := i + 1; j < len(tt.o); j++ {
						all++
						if tt.o[i] != tt.o[j] {
							dis++
						}
					}
				}
				if got := FlipRate(tt.o); !near(got, float64(dis)/float64(all), 1e-12) {
					t.Errorf("FlipRate = %v, pairs %d/%d", got, dis, all)
				}
			}
			if k, n := Reproduces(tt.o); k != tt.k || n != tt.n {
				t.Errorf("Reproduces = %d of %d, want %d of %d", k, n, tt.k, tt.n)
			}
		})
	}
}

func TestPairs(t *testing.T) {
	a := []bool{true, true, false, false, true}
	b := []bool{true, false, true, false}
	n11, n10, n01, n00 := Pairs(a, b)
	if n11 != 1 || n10 != 1 || n01 != 1 || n00 != 1 {
		t.Errorf("Pairs = %d %d %d %d, want 1 1 1 1", n11, n10, n01, n00)
	}
}

// signFlipNaive enumerates sign vectors of all n differences, zeros
// included, and compares means.
func signFlipNaive(d []float64) float64 {
	n := len(d)
	var obs float64
	for _, x := range d {
		obs += x
	}
	obs = math.Abs(obs / float64(n))
	count, total := 0, 1<<n
	for mask := range total {
		var s float64
		for i, x := range d {
			if mask&(1<<i) != 0 {
				s -= x
			} else {
				s += x
			}
		}
		if math.Abs(s/float64(n)) >= obs-1e-12 {
			count++
		}
	}
	return float64(count) / float64(total)
}

func TestSignFlip(t *testing.T) {
	tests := []struct {
		name string
		d    []float64
		want float64
	}{
		{"empty", nil, 1},
		{"all zero", []float64{0, 0, 0}, 1},
		{"one case", []float64{0.4}, 1},
		{"five positive", []float64{1, 1, 1, 1, 1}, 2.0 / 32},
		{"ties", []float64{1, 1, 1, -1}, 10.0 / 16},
		{"zeros do not count", []float64{1, 0, 1, 0, 1, 1, 1}, 2.0 / 32},
		{"NaN", []float64{1, math.NaN()}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SignFlip(tt.d, 1000, 1); !near(got, tt.want, 1e-12) {
				t.Errorf("SignFlip = %v, want %v", got, tt.want)
			}
		})
	}
	// Exact against the naive enumeration on random per-case differences
	// of pass rates over k = 5 (many ties, zeros) and continuous values.
	r := rand.New(rand.NewPCG(7, 7))
	for trial := range 60 {
		n := 1 + r.IntN(14)
		d := make([]float64, n)
		for i := range d {
			if trial%2 == 0 {
				d[i] = float64(r.IntN(11)-5) / 5
			} else {
				d[i] = r.NormFloat64() + 0.3
			}
		}
		if got, want := SignFlip(d, 0, 0), signFlipNaive(d); !near(got, want, 1e-12) {
			t.Fatalf("SignFlip(%v) = %v, naive %v", d, got, want)
		}
	}
	// Monte Carlo agrees with the exact value within 4 standard errors.
	d := []float64{0.2, 0.4, -0.2, 0.6, 0, 0.2, -0.4, 0.8, 0.2, 0.4, -0.2, 0.2, 0.6, 0.2, -0.6}
	var nz []float64
	var obs, scale float64
	for _, x := range d {
		obs += x
		if x != 0 {
			nz = append(nz, math.Abs(x))
			scale += math.Abs(x)
		}
	}
	thr := math.Abs(obs) - 1e-9*scale
	exact := signFlipExact(nz, thr)
	const iters = 20000
	mc := signFlipMC(nz, thr, iters, 42)
	if se := math.Sqrt(exact * (1 - exact) / iters); math.Abs(mc-exact) > 4*se+1.0/iters {
		t.Errorf("Monte Carlo %v vs exact %v (se %v)", mc, exact, se)
	}
	// Above 20 non-zero differences: Monte Carlo, p ≥ 1/(1+iters).
	many := make([]float64, 30)
	for i := range many {
		many[i] = 1
	}
	if got := SignFlip(many, 999, 3); got != 1.0/1000 {
		t.Errorf("SignFlip(30 ones) = %v, want 1/1000", got)
	}
	// 20 non-zero differences are still enumerated: 2 of 2^20 vectors.
	if got := SignFlip(many[:20], 0, 3); got != 2.0/(1<<20) {
		t.Errorf("SignFlip(20 ones) = %v, want 2/2^20", got)
	}
	if got := SignFlip(many, 0, 3); !math.IsNaN(got) {
		t.Errorf("SignFlip with iters 0 = %v, want NaN", got)
	}
}

func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	d := make([]float64, 40)
	a := make([]float64, 40)
	b := make([]float64, 40)
	for i := range d {
		d[i] = r.NormFloat64() * 0.3
		a[i] = 1 + r.Float64()
		b[i] = a[i] * (0.8 + 0.4*r.Float64())
	}
	p1, p2, p3 := SignFlip(d, 5000, 1), SignFlip(d, 5000, 1), SignFlip(d, 5000, 2)
	if p1 != p2 {
		t.Errorf("SignFlip: same seed %v != %v", p1, p2)
	}
	if p1 == p3 {
		t.Errorf("SignFlip: seeds 1 and 2 drew the same p %v", p1)
	}
	l1, h1 := BootstrapMean(d, 2000, 0.05, 1)
	l2, h2 := BootstrapMean(d, 2000, 0.05, 1)
	l3, h3 := BootstrapMean(d, 2000, 0.05, 2)
	if l1 != l2 || h1 != h2 {
		t.Errorf("BootstrapMean: same seed (%v, %v) != (%v, %v)", l1, h1, l2, h2)
	}
	if l1 == l3 && h1 == h3 {
		t.Errorf("BootstrapMean: seeds 1 and 2 gave the same interval")
	}
	_, gl1, gh1, _ := GeoMeanRatio(a, b, 2000, 0.05, 1)
	_, gl2, gh2, _ := GeoMeanRatio(a, b, 2000, 0.05, 1)
	_, gl3, gh3, _ := GeoMeanRatio(a, b, 2000, 0.05, 9)
	if gl1 != gl2 || gh1 != gh2 {
		t.Errorf("GeoMeanRatio: same seed differs")
	}
	if gl1 == gl3 && gh1 == gh3 {
		t.Errorf("GeoMeanRatio: seeds 1 and 9 gave the same interval")
	}
}

func TestBootstrapMean(t *testing.T) {
	tests := []struct {
		name   string
		d      []float64
		b      int
		alpha  float64
		lo, hi float64
	}{
		{"empty", nil, 100, 0.05, math.NaN(), math.NaN()},
		{"one case", []float64{0.4}, 100, 0.05, 0.4, 0.4},
		{"all cases identical", []float64{0.2, 0.2, 0.2, 0.2}, 100, 0.05, 0.2, 0.2},
		// Means of {0, 1} resampled: 0 (¼), ½ (½), 1 (¼); the 10% and 90%
		// quantiles fall inside the runs of 0 and 1.
		{"two cases", []float64{0, 1}, 4000, 0.2, 0, 1},
		{"b = 0", []float64{1, 2}, 0, 0.05, math.NaN(), math.NaN()},
		{"bad alpha", []float64{1, 2}, 10, 1, math.NaN(), math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := BootstrapMean(tt.d, tt.b, tt.alpha, 5)
			if !near(lo, tt.lo, 1e-12) || !near(hi, tt.hi, 1e-12) {
				t.Errorf("BootstrapMean = (%v, %v), want (%v, %v)", lo, hi, tt.lo, tt.hi)
			}
		})
	}
	// Exact bootstrap distribution of {1, 2, 6}: the 27 equally likely
	// resamples. The 5% quantile is the mean 4/3 (CDF 1/27 at 1 < 0.05 ≤
	// 4/27 at 4/3) and the 95% quantile 14/3 (CDF 23/27 at 13/3 < 0.95 ≤
	// 26/27); B = 20000 draws land inside those runs.
	lo, hi := BootstrapMean([]float64{1, 2, 6}, 20000, 0.1, 3)
	if !near(lo, 4.0/3, 1e-12) || !near(hi, 14.0/3, 1e-12) {
		t.Errorf("BootstrapMean({1,2,6}) = (%v, %v), want (4/3, 14/3)", lo, hi)
	}
	// Normal theory: for 400 draws the interval is close to mean ± z·s/√n.
	r := rand.New(rand.NewPCG(1, 2))
	d := make([]float64, 400)
	var s, ss float64
	for i := range d {
		d[i] = r.NormFloat64()
		s += d[i]
	}
	m := s / 400
	for _, x := range d {
		ss += (x - m) * (x - m)
	}
	half := 1.959964 * math.Sqrt(ss/399) / 20
	lo, hi = BootstrapMean(d, 4000, 0.05, 8)
	if math.Abs(lo-(m-half)) > 0.15*half || math.Abs(hi-(m+half)) > 0.15*half {
		t.Errorf("BootstrapMean = (%v, %v), normal theory (%v, %v)", lo, hi, m-half, m+half)
	}
}

func TestGeoMeanRatio(t *testing.T) {
	tests := []struct {
		name          string
		a, b          []float64
		ratio, lo, hi float64
		used          int
	}{
		{"constant ratio", []float64{1, 2, 4}, []float64{2, 4, 8}, 2, 2, 2, 3},
		{"zeros left out", []float64{0, 1, 2}, []float64{1, 3, 0}, 3, 3, 3, 1},
		{"one case", []float64{4}, []float64{1}, 0.25, 0.25, 0.25, 1},
		{"none usable", []float64{0}, []float64{1}, math.NaN(), math.NaN(), math.NaN(), 0},
		{"length mismatch", []float64{1, 2}, []float64{1}, math.NaN(), math.NaN(), math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, lo, hi, used := GeoMeanRatio(tt.a, tt.b, 500, 0.05, 1)
			if !near(r, tt.ratio, 1e-12) || !near(lo, tt.lo, 1e-12) || !near(hi, tt.hi, 1e-12) || used != tt.used {
				t.Errorf("GeoMeanRatio = %v (%v, %v) used %d; want %v (%v, %v) used %d",
					r, lo, hi, used, tt.ratio, tt.lo, tt.hi, tt.used)
			}
		})
	}
	// Against the n-th root of the product of ratios.
	a := []float64{1.2, 0.5, 3, 10, 0.7}
	b := []float64{1.0, 0.9, 2.5, 12, 0.7}
	prod := 1.0
	for i := range a {
		prod *= b[i] / a[i]
	}
	r, lo, hi, used := GeoMeanRatio(a, b, 2000, 0.05, 4)
	if !near(r, math.Pow(prod, 1.0/5), 1e-12) || used != 5 || !(lo <= r && r <= hi) {
		t.Errorf("GeoMeanRatio = %v (%v, %v) used %d; root of product %v", r, lo, hi, used, math.Pow(prod, 0.2))
	}
}

func TestQuantile(t *testing.T) {
	ten := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	tests := []struct {
		name string
		xs   []float64
		q    float64
		want float64
	}{
		// R: quantile(1:10, c(.5, .95)) = 5.5, 9.55 (type 7).
		{"R median 1:10", ten, 0.5, 5.5},
		{"R p95 1:10", ten, 0.95, 9.55},
		// R: quantile(c(7, 1, 3, 10, 2), .9) = 8.8.
		{"R p90", []float64{7, 1, 3, 10, 2}, 0.9, 8.8},
		{"min", ten, 0, 1},
		{"max", ten, 1, 10},
		{"one value", []float64{3}, 0.95, 3},
		{"empty", nil, 0.5, math.NaN()},
		{"q > 1", ten, 1.5, math.NaN()},
		{"NaN value", []float64{1, math.NaN()}, 0.5, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.xs)
			if got := Quantile(tt.xs, tt.q); !near(got, tt.want, 1e-12) {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
			if !slices.EqualFunc(before, tt.xs, func(x, y float64) bool { return x == y || (x != x && y != y) }) {
				t.Errorf("Quantile changed its input")
			}
		})
	}
}

// holmNaive applies the definition directly: for each hypothesis, the
// largest (m−j+1)·p₍ⱼ₎ over the hypotheses ranked at or before it.
func holmNaive(p []float64) []float64 {
	m := len(p)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		if p[x] < p[y] {
			return -1
		}
		if p[x] > p[y] {
			return 1
		}
		return 0
	})
	rank := make([]int, m)
	for r, i := range idx {
		rank[i] = r
	}
	out := make([]float64, m)
	for i := range p {
		best := 0.0
		for j := range p {
			if rank[j] <= rank[i] {
				best = math.Max(best, float64(m-rank[j])*p[j])
			}
		}
		out[i] = math.Min(1, best)
	}
	return out
}

func TestHolm(t *testing.T) {
	tests := []struct {
		name string
		p    []float64
		want []float64
	}{
		// R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02.
		{"R p.adjust", []float64{0.01, 0.04, 0.03, 0.005}, []float64{0.03, 0.06, 0.06, 0.02}},
		{"capped", []float64{0.5, 0.6}, []float64{1, 1}},
		{"one", []float64{0.02}, []float64{0.02}},
		{"empty", nil, []float64{}},
		{"ties", []float64{0.01, 0.01, 0.2}, []float64{0.03, 0.03, 0.2}},
		{"NaN kept apart", []float64{0.01, math.NaN(), 0.04}, []float64{0.02, math.NaN(), 0.04}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Holm(tt.p)
			if len(got) != len(tt.want) {
				t.Fatalf("Holm = %v, want %v", got, tt.want)
			}
			for i := range got {
				if !near(got[i], tt.want[i], 1e-12) {
					t.Errorf("Holm = %v, want %v", got, tt.want)
					break
				}
			}
		})
	}
	r := rand.New(rand.NewPCG(5, 5))
	for range 200 {
		p := make([]float64, 1+r.IntN(8))
		for i := range p {
			p[i] = math.Round(r.Float64()*40) / 100 // ties happen
		}
		got, want := Holm(p), holmNaive(p)
		for i := range got {
			if !near(got[i], want[i], 1e-12) {
				t.Fatalf("Holm(%v) = %v, naive %v", p, got, want)
			}
		}
	}
}

func TestMinDetectable(t *testing.T) {
	tests := []struct {
		name string
		n, k int
		base float64
		want float64
		tol  float64
	}{
		// Hand values of δ√n = z₀.₉₇₅σ₀ + z₀.₈σ₁ (computed apart in Python).
		{"n=100 k=1 p=0.5", 100, 1, 0.5, 0.195776, 1e-6},
		{"n=100 k=5 p=0.3", 100, 5, 0.3, 0.081943, 1e-6},
		{"symmetric p=0.7", 100, 5, 0.7, 0.081943, 1e-6},
		{"base 0: δ = z_β²/(nk + z_β²)", 50, 3, 0, 0.841621 * 0.841621 / (150 + 0.841621*0.841621), 1e-6},
		{"n = 0", 0, 5, 0.5, math.Inf(1), 0},
		{"k = 0", 10, 0, 0.5, math.Inf(1), 0},
		{"one case", 1, 1, 0.5, math.Inf(1), 0},
		{"bad power", 10, 1, 0.5, math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			power := 0.8
			if tt.name == "bad power" {
				power = 1
			}
			if got := MinDetectable(tt.n, tt.k, 0.05, power, tt.base); !near(got, tt.want, tt.tol) {
				t.Errorf("MinDetectable = %v, want %v", got, tt.want)
			}
		})
	}
	// Simulated power of the paired z test on per-case differences at the
	// returned δ is about the asked 0.8.
	const n, k, p = 100, 5, 0.3
	delta := MinDetectable(n, k, 0.05, 0.8, p)
	r := rand.New(rand.NewPCG(9, 9))
	binom := func(q float64) float64 {
		s := 0
		for range k {
			if r.Float64() < q {
				s++
			}
		}
		return float64(s) / k
	}
	const sims = 3000
	rejected := 0
	for range sims {
		var s, ss float64
		d := make([]float64, n)
		for i := range d {
			d[i] = binom(p+delta) - binom(p)
			s += d[i]
		}
		m := s / n
		for _, x := range d {
			ss += (x - m) * (x - m)
		}
		if math.Abs(m)/math.Sqrt(ss/(n-1)/n) > 1.959964 {
			rejected++
		}
	}
	if pw := float64(rejected) / sims; pw < 0.76 || pw > 0.84 {
		t.Errorf("simulated power at δ = %v: %v, want ≈ 0.8", delta, pw)
	}
}
