// Package stats is the statistics of replay compare: is variant B better
// than variant A on the same cases, or is the difference noise? Cases are
// paired (every variant runs every case); a case has k repeats per arm,
// each with a pass/fail outcome and a cost, token count and latency.
//
// The package is pure: no I/O, no state, no clock. Every random procedure
// takes a seed and draws from math/rand/v2's PCG seeded with (seed, seed),
// so the same seed gives bit-identical results. Distribution functions come
// from gonum.org/v1/gonum/stat/distuv. Invalid arguments give NaN (there is
// no error to return from a formula); each function says which.
//
// Notation: z_p = Φ⁻¹(p) is the standard normal quantile; a paired 2×2
// table has n11 cases where both arms pass, n10 where only A passes, n01
// where only B passes, n00 where both fail, n = n11+n10+n01+n00.
//
// # One run per arm: the paired 2×2 table
//
// McNemar, exact conditional test. Under H0 (pA = pB) the discordant pairs
// split as X ~ Binomial(b+c, 1/2), b = n10, c = n01, m = min(b, c):
//
//	p     = min(1, 2·P(X ≤ m))
//	mid-p = min(1, 2·P(X ≤ m) − P(X = m))  (= 2·[P(X < m) + ½·P(X = m)])
//
// b + c = 0 gives p = mid-p = 1. (When b = c the uncapped 2·P(X ≤ m) is
// 1 + P(X = m), so mid-p is exactly 1 there.) Source: M. W. Fagerland,
// S. Lydersen, P. Laake (2013), "The McNemar test for binary matched-pairs
// data: mid-p and asymptotic are better than exact conditional", BMC Medical
// Research Methodology 13:91, which recommends the mid-p; its worked
// example (Bentur et al. 2009, b = 1, c = 7) gives p = 0.070, mid-p = 0.039.
// The mid-p is formed from the uncapped 2·P(X ≤ m): subtracting P(X = m)
// from the capped p would wrongly give 1 − P(X = m) when b = c.
//
// Wilson score interval for k successes in n trials, z = z_{1−α/2}:
//
//	(k + z²/2)/(n + z²) ± z/(n + z²)·√(k(n−k)/n + z²/4)
//
// with the bound at 0 (k = 0) or 1 (k = n) exact; n = 0 gives (0, 1).
// Source: E. B. Wilson (1927), "Probable inference, the law of succession,
// and statistical inference", JASA 22:209; R. G. Newcombe (1998), "Two-sided
// confidence intervals for the single proportion: comparison of seven
// methods", Statistics in Medicine 17:857 (method 3).
//
// Difference of paired proportions, Newcombe's hybrid score interval
// (method 10 of R. G. Newcombe (1998), "Improved confidence intervals for
// the difference between binomial proportions based on paired data",
// Statistics in Medicine 17:2635). With pA = (n11+n10)/n, pB = (n11+n01)/n,
// θ = pB − pA, and (lA, uA), (lB, uB) their Wilson intervals:
//
//	L = θ − √((pB−lB)² − 2φ(pB−lB)(uA−pA) + (uA−pA)²)
//	U = θ + √((pA−lA)² − 2φ(pA−lA)(uB−pB) + (uB−pB)²)
//
// where φ is the corrected correlation of the two margins: with
// D = n11·n00 − n10·n01 and P the product of the four margins,
// φ = (D − n/2)/√P if D > n/2, 0 if 0 ≤ D ≤ n/2, D/√P if D < 0, and 0 when
// a margin is empty. The bounds are truncated to [−1, 1]. The same formula
// is the "Newcombe square-and-add" interval of Fagerland, Lydersen & Laake
// (2017), Statistical Analysis of Contingency Tables, ch. 8; its example
// (Cavo et al. 2012; n11, n10, n01, n00 = 59, 6, 16, 80) gives pB − pA =
// 0.0621 (0.0046 to 0.1186).
//
// # k repeats per arm
//
// pass@k, the unbiased estimator from n runs with c passes (M. Chen et al.
// (2021), "Evaluating Large Language Models Trained on Code", arXiv
// 2107.03374, eq. 1 and its numerically stable form):
//
//	pass@k = 1 − C(n−c, k)/C(n, k) = 1 − ∏_{i=n−c+1}^{n} (1 − k/i)   (1 if n−c < k)
//
// pass^k, the chance that all of k runs pass (S. Yao et al. (2024),
// "τ-bench: A Benchmark for Tool-Agent-User Interaction in Real-World
// Domains", arXiv 2406.12045):
//
//	pass^k = C(c, k)/C(n, k) = ∏_{i=0}^{k−1} (c−i)/(n−i)   (0 if c < k)
//
// Flip rate of one case's repeats in one arm: the fraction of the n(n−1)/2
// unordered pairs of repeats that disagree, 2·s·f/(n(n−1)) for s passes and
// f fails; its expectation is 2p(1−p), the chance two independent repeats
// differ. Reproduces counts the repeats that reproduce (k of n).
//
// Sign-flip permutation test of a zero mean paired difference (R. A.
// Fisher (1935), The Design of Experiments, §21; E. J. G. Pitman (1937),
// "Significance tests which may be applied to samples from any
// populations", JRSS Suppl. 4:119). Under H0 each per-case difference d_i
// is symmetric about 0, so its sign is exchangeable. With m non-zero
// differences (zeros flip to themselves) and m ≤ 20, all 2^m sign vectors
// are enumerated and p = #{|Σ s_i d_i| ≥ |Σ d_i|}/2^m (the observed vector
// is among them); above 20 the test draws iters sign vectors and uses
// p = (1 + #{…})/(1 + iters) (B. V. North, D. Curtis, P. C. Sham (2002),
// "A note on the calculation of empirical P values from Monte Carlo
// procedures", AJHG 71:439). Sums stand for means; ties within 1e-9·Σ|d_i|
// count as ties.
//
// Case-level percentile bootstrap of the mean (B. Efron, R. J. Tibshirani
// (1993), An Introduction to the Bootstrap, ch. 13): B resamples of the n
// per-case values with replacement; the interval is the α/2 and 1−α/2
// type-7 quantiles of the B resampled means. Cases are resampled, never the
// n·k runs, so the interval keeps the within-case correlation of repeats.
//
// # Cost, tokens, latency
//
// Paired geometric-mean ratio: r = exp(mean_i log(b_i/a_i)) over the cases
// where both values are > 0, with the bootstrap interval above on the logs,
// exponentiated. Quantile is Hyndman & Fan's type 7 (R. J. Hyndman,
// Y. Fan (1996), "Sample quantiles in statistical packages", The American
// Statistician 50:361; R's and NumPy's default): h = (n−1)q, linear
// interpolation between the sorted values x_⌊h⌋ and x_⌊h⌋+1.
//
// # Several variants against one baseline
//
// Holm's step-down adjustment (S. Holm (1979), "A simple sequentially
// rejective multiple test procedure", Scand. J. Statist. 6:65): with the m
// p-values sorted, adj₍ᵢ₎ = max_{j≤i} min(1, (m−j+1)·p₍ⱼ₎), returned in input
// order; it controls the family-wise error rate, and a variant whose
// adjusted p exceeds alpha is reported as tied with the baseline.
//
// # Noise floor: the smallest detectable difference
//
// MinDetectable is a normal approximation for the test on per-case
// differences d_i = p̂B,i − p̂A,i of mean outcomes over k repeats. Each
// repeat is taken as Bernoulli(p) within its case and the arms as
// independent given the case; then the between-case variation cancels in
// the pairing and Var(d_i) = (pA(1−pA) + pB(1−pB))/k, which is an upper
// bound when cases differ in their pass rates (the within-case variance
// averages to less than p(1−p)), so the answer is conservative. With
// p = baseRate (reflected to min(p, 1−p), by symmetry) and σ₀² = 2p(1−p)/k
// under H0, σ₁² = (p(1−p) + (p+δ)(1−p−δ))/k under the alternative, the
// detectable δ solves
//
//	δ·√n = z_{1−α/2}·σ₀ + z_{power}·σ₁
//
// (by bisection; the standard two-sided sample-size formula with separate
// null and alternative variances, as in R. G. Connor (1987), "Sample size
// for testing differences in proportions for the paired-sample design",
// Biometrics 43:207, whose k = 1 case has Var = ψ − δ² with ψ the
// discordance probability). It ignores the tiny probability of rejecting in
// the wrong direction.
package stats
