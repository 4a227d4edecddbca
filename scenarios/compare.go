package scenarios

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"text/tabwriter"

	"github.com/agentreplay/replay/scenarios/stats"
)

// CompareSchema versions replay compare's JSON.
const CompareSchema = "replay.compare/v1"

// Metric verdicts.
const (
	Better       = "better"
	Worse        = "worse"
	Inconclusive = "inconclusive"
)

// CompareOptions tune the statistics.
type CompareOptions struct {
	Baseline string  // the arm the others are compared with
	AA       string  // the baseline's copy (an A/A arm), "" when none ran
	Alpha    float64 // significance level (default 0.05)
	Seed     uint64  // for the permutation test and the bootstraps
	Boot     int     // bootstrap resamples (default 2000)
	Iters    int     // Monte Carlo permutations past 20 cases (default 20000)
	Power    float64 // for the smallest detectable effect (default 0.8)
}

// Comparison is what replay compare reports.
type Comparison struct {
	Schema     string           `json:"schema"`
	Suite      string           `json:"suite"`
	Baseline   string           `json:"baseline"`
	Alpha      float64          `json:"alpha"`
	Seed       uint64           `json:"seed"`
	Cases      int              `json:"cases"`   // cases every arm has a result for
	Repeats    int              `json:"repeats"` // per case and arm (the most any had)
	Arms       []ArmSummary     `json:"arms"`
	Versus     []VersusBaseline `json:"versus_baseline"`
	Noise      NoiseFloor       `json:"noise_floor"`
	Incomplete []string         `json:"incomplete"`
}

// ArmSummary is one arm over the cases.
type ArmSummary struct {
	Name string `json:"name"`
	Hash string `json:"hash"`
	// Flags are the replay run flags that make the arm.
	Flags string `json:"flags"`
	// PassRate is the mean over cases of each case's pass rate, with a
	// case-level bootstrap interval; with one repeat, Wilson's interval of
	// the proportion of cases passed.
	PassRate     float64 `json:"pass_rate"`
	PassLo       float64 `json:"pass_rate_lo"`
	PassHi       float64 `json:"pass_rate_hi"`
	PassAtK      float64 `json:"pass_at_k"`
	PassHatK     float64 `json:"pass_hat_k"`
	Runs         int     `json:"runs"`
	Errors       int     `json:"errors"`
	CostUSD      float64 `json:"cost_usd"`
	CostP50      float64 `json:"cost_p50_usd"`
	CostP95      float64 `json:"cost_p95_usd"`
	LatencyP50MS float64 `json:"latency_p50_ms"`
	LatencyP95MS float64 `json:"latency_p95_ms"`
	TokensP50    float64 `json:"tokens_p50"`
}

// VersusBaseline is one arm against the baseline, case by case.
type VersusBaseline struct {
	Variant string `json:"variant"`
	// Test is "mcnemar-exact" (one repeat: the 2×2 table of cases) or
	// "sign-flip" (several: per-case pass-rate differences).
	Test      string  `json:"test"`
	Delta     float64 `json:"delta"` // pass rate: variant − baseline
	Lo        float64 `json:"delta_lo"`
	Hi        float64 `json:"delta_hi"`
	P         float64 `json:"p"`
	MidP      float64 `json:"mid_p,omitempty"` // McNemar's mid-p
	PAdjusted float64 `json:"p_holm"`          // Holm-corrected over the arms
	// Table is the 2×2 table with one repeat: both pass, only the
	// baseline, only the variant, both fail.
	Table     *[4]int   `json:"table,omitempty"`
	Improved  int       `json:"improved_cases"`
	Regressed int       `json:"regressed_cases"`
	Cost      RatioStat `json:"cost_ratio"`
	Tokens    RatioStat `json:"tokens_ratio"`
	Latency   RatioStat `json:"latency_ratio"`
	Verdicts  Verdicts  `json:"verdicts"`
	Flipped   []Flip    `json:"flipped"`
	Critical  []string  `json:"critical_newly_failing"`
	caseDelta []float64 // per case, for the permutation test
}

// RatioStat is a paired geometric-mean ratio (variant ÷ baseline) with a
// case-level bootstrap interval; Pairs counts the cases that had both.
type RatioStat struct {
	Ratio float64 `json:"ratio"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Pairs int     `json:"pairs"`
}

// Verdicts are per metric: better, worse or inconclusive.
type Verdicts struct {
	PassRate string `json:"pass_rate"`
	Cost     string `json:"cost"`
	Latency  string `json:"latency"`
}

// Flip is a case whose pass rate changed between the arms.
type Flip struct {
	Case       string  `json:"case"`
	Baseline   float64 `json:"baseline_pass_rate"`
	Variant    float64 `json:"variant_pass_rate"`
	Divergence string  `json:"first_divergence,omitempty"`
}

// NoiseFloor is how much the baseline disagrees with itself.
type NoiseFloor struct {
	// FlipRate is the mean over cases of the baseline's disagreement
	// between its own repeats (stats.FlipRate); 0 with one repeat.
	FlipRate float64 `json:"flip_rate"`
	// Reproduces says per case how often the baseline passed: "the bad
	// decision reproduces 3 of 10 times" for a case whose expectation is
	// the original's decision.
	Reproduces []Repro `json:"reproduces"`
	// MinDetectable is the smallest pass-rate difference this many cases
	// and repeats can detect at Alpha with 80% power; null when none can
	// be: the exact tests over cases cannot reach Alpha with fewer than
	// MinCases cases, however many repeats.
	MinDetectable *float64 `json:"min_detectable_effect"`
	MinCases      int      `json:"min_cases"`
	// AA is the baseline against its own copy, when one ran (--aa).
	AA *VersusBaseline `json:"aa,omitempty"`
}

// Repro is one case's baseline passes.
type Repro struct {
	Case   string `json:"case"`
	Passed int    `json:"passed"`
	Runs   int    `json:"runs"`
}

type cell struct {
	pass    []bool
	cost    []float64
	latency []float64
	tokens  []float64
	div     string
}

// Compare computes the paired statistics of every arm against the
// baseline from the records of one plan. Cases missing a valid run in some
// arm are left out of the paired statistics and named in Incomplete.
func Compare(suite string, p *Plan, recs []Record, o CompareOptions) (*Comparison, error) {
	if o.Alpha == 0 {
		o.Alpha = 0.05
	}
	if o.Boot == 0 {
		o.Boot = 2000
	}
	if o.Iters == 0 {
		o.Iters = 20000
	}
	if o.Power == 0 {
		o.Power = 0.8
	}
	cmp := &Comparison{Schema: CompareSchema, Suite: suite, Baseline: o.Baseline, Alpha: o.Alpha, Seed: o.Seed, Incomplete: []string{}}
	type armInfo struct{ name, hash, flags string }
	var arms []armInfo
	seen := map[string]bool{}
	var caseIDs []string
	seenCase := map[string]bool{}
	critical := map[string]bool{}
	for _, c := range p.Cells {
		if !seen[c.Variant.Name] {
			seen[c.Variant.Name] = true
			arms = append(arms, armInfo{c.Variant.Name, c.VariantHash, c.Variant.Flags()})
		}
		if !seenCase[c.Case.ID] {
			seenCase[c.Case.ID] = true
			caseIDs = append(caseIDs, c.Case.ID)
			critical[c.Case.ID] = c.Case.Critical
		}
	}
	if !seen[o.Baseline] {
		return nil, fmt.Errorf("compare: the baseline %q is not one of the arms", o.Baseline)
	}
	data := map[string]map[string]*cell{} // arm -> case -> cell
	errs := map[string]int{}
	skipped := 0
	for _, a := range arms {
		data[a.name] = map[string]*cell{}
	}
	for _, r := range recs {
		m := data[r.VariantName]
		if m == nil {
			continue
		}
		switch r.Status {
		case Pass, Fail:
			c := m[r.Case]
			if c == nil {
				c = &cell{}
				m[r.Case] = c
			}
			c.pass = append(c.pass, r.Status == Pass)
			c.cost = append(c.cost, r.CostUSD)
			c.latency = append(c.latency, float64(r.DurationMS))
			c.tokens = append(c.tokens, float64(r.Tokens.Input+r.Tokens.Output+r.Tokens.CacheRead+r.Tokens.CacheWrite))
			if r.Status == Fail && c.div == "" {
				c.div = r.Divergence
			}
		case Error:
			errs[r.VariantName]++
		case Skipped:
			skipped++
		}
	}
	// Cases every arm has a result for.
	var paired []string
	for _, id := range caseIDs {
		ok := true
		for _, a := range arms {
			if data[a.name][id] == nil {
				ok = false
			}
		}
		if ok {
			paired = append(paired, id)
		} else {
			cmp.Incomplete = append(cmp.Incomplete, fmt.Sprintf("case %s has no finished run in some arm: left out of the comparison", id))
		}
	}
	for _, a := range arms {
		if n := errs[a.name]; n > 0 {
			cmp.Incomplete = append(cmp.Incomplete, fmt.Sprintf("%d run(s) of %s ended in an error", n, a.name))
		}
	}
	if skipped > 0 {
		cmp.Incomplete = append(cmp.Incomplete, fmt.Sprintf("%d run(s) skipped (budget or interrupt)", skipped))
	}
	cmp.Cases = len(paired)
	for _, id := range paired {
		for _, a := range arms {
			cmp.Repeats = max(cmp.Repeats, len(data[a.name][id].pass))
		}
	}
	if len(paired) == 0 {
		cmp.Incomplete = append(cmp.Incomplete, "no case has a finished run in every arm: nothing to compare")
	}
	rate := func(c *cell) float64 {
		k, n := stats.Reproduces(c.pass)
		return float64(k) / float64(n)
	}
	for _, a := range arms {
		s := ArmSummary{Name: a.name, Hash: a.hash, Flags: a.flags, Errors: errs[a.name]}
		var rates, costs, lats, toks []float64
		passedCases := 0
		for _, id := range paired {
			c := data[a.name][id]
			r := rate(c)
			rates = append(rates, r)
			if r == 1 {
				passedCases++
			}
			s.Runs += len(c.pass)
			costs = append(costs, c.cost...)
			lats = append(lats, c.latency...)
			toks = append(toks, c.tokens...)
			k, _ := stats.Reproduces(c.pass)
			s.PassAtK += stats.PassAtK(len(c.pass), k, len(c.pass))
			s.PassHatK += stats.PassHatK(len(c.pass), k, len(c.pass))
			for _, x := range c.cost {
				s.CostUSD += x
			}
		}
		if n := len(paired); n > 0 {
			s.PassRate = mean(rates)
			s.PassAtK /= float64(n)
			s.PassHatK /= float64(n)
			if cmp.Repeats <= 1 {
				s.PassLo, s.PassHi = stats.Wilson(passedCases, n, o.Alpha)
			} else {
				s.PassLo, s.PassHi = stats.BootstrapMean(rates, o.Boot, o.Alpha, o.Seed)
			}
			s.CostP50, s.CostP95 = stats.Quantile(costs, 0.5), stats.Quantile(costs, 0.95)
			s.LatencyP50MS, s.LatencyP95MS = stats.Quantile(lats, 0.5), stats.Quantile(lats, 0.95)
			s.TokensP50 = stats.Quantile(toks, 0.5)
		}
		cmp.Arms = append(cmp.Arms, s)
	}
	versus := func(name string) VersusBaseline {
		v := VersusBaseline{Variant: name, Flipped: []Flip{}, Critical: []string{}}
		var costA, costB, latA, latB, tokA, tokB []float64
		var t [4]int
		for _, id := range paired {
			a, b := data[o.Baseline][id], data[name][id]
			ra, rb := rate(a), rate(b)
			v.caseDelta = append(v.caseDelta, rb-ra)
			switch {
			case rb > ra:
				v.Improved++
			case rb < ra:
				v.Regressed++
				if critical[id] && ra == 1 {
					v.Critical = append(v.Critical, id)
				}
			}
			if ra != rb {
				v.Flipped = append(v.Flipped, Flip{Case: id, Baseline: ra, Variant: rb, Divergence: b.div})
			}
			switch {
			case ra == 1 && rb == 1:
				t[0]++
			case ra == 1:
				t[1]++
			case rb == 1:
				t[2]++
			default:
				t[3]++
			}
			costA, costB = append(costA, mean(a.cost)), append(costB, mean(b.cost))
			latA, latB = append(latA, mean(a.latency)), append(latB, mean(b.latency))
			tokA, tokB = append(tokA, mean(a.tokens)), append(tokB, mean(b.tokens))
		}
		if len(paired) == 0 {
			v.Test, v.P, v.PAdjusted = "none", 1, 1
			v.Verdicts = Verdicts{Inconclusive, Inconclusive, Inconclusive}
			return v
		}
		v.Delta = mean(v.caseDelta)
		if cmp.Repeats <= 1 {
			v.Test = "mcnemar-exact"
			v.Table = &t
			v.P, v.MidP = stats.McNemar(t[1], t[2])
			_, v.Lo, v.Hi = stats.PairedDiffCI(t[0], t[1], t[2], t[3], o.Alpha)
		} else {
			v.Test = "sign-flip"
			v.P = stats.SignFlip(v.caseDelta, o.Iters, o.Seed)
			v.Lo, v.Hi = stats.BootstrapMean(v.caseDelta, o.Boot, o.Alpha, o.Seed)
		}
		ratio := func(a, b []float64) RatioStat {
			r, lo, hi, used := stats.GeoMeanRatio(a, b, o.Boot, o.Alpha, o.Seed)
			return RatioStat{Ratio: r, Lo: lo, Hi: hi, Pairs: used}
		}
		v.Cost, v.Tokens, v.Latency = ratio(costA, costB), ratio(tokA, tokB), ratio(latA, latB)
		return v
	}
	var others []string
	for _, a := range arms {
		if a.name != o.Baseline && a.name != o.AA {
			others = append(others, a.name)
		}
	}
	var ps []float64
	for _, name := range others {
		v := versus(name)
		cmp.Versus = append(cmp.Versus, v)
		ps = append(ps, v.P)
	}
	adj := stats.Holm(ps)
	for i := range cmp.Versus {
		v := &cmp.Versus[i]
		v.PAdjusted = adj[i]
		v.Verdicts = verdicts(v, o.Alpha, len(cmp.Incomplete) > 0)
	}
	// The noise floor.
	var flips []float64
	for _, id := range paired {
		c := data[o.Baseline][id]
		k, _ := stats.Reproduces(c.pass)
		cmp.Noise.Reproduces = append(cmp.Noise.Reproduces, Repro{Case: id, Passed: k, Runs: len(c.pass)})
		if f := stats.FlipRate(c.pass); !math.IsNaN(f) { // NaN with one repeat
			flips = append(flips, f)
		}
	}
	cmp.Noise.FlipRate = mean(flips)
	if len(paired) > 0 {
		base := 0.0
		for _, a := range cmp.Arms {
			if a.Name == o.Baseline {
				base = a.PassRate
			}
		}
		cmp.Noise.MinDetectable = minDetectable(len(paired), max(cmp.Repeats, 1), o.Alpha, o.Power, base)
	}
	cmp.Noise.MinCases = MinCases(o.Alpha)
	if o.AA != "" && seen[o.AA] {
		v := versus(o.AA)
		v.PAdjusted = v.P
		v.Verdicts = verdicts(&v, o.Alpha, len(cmp.Incomplete) > 0)
		cmp.Noise.AA = &v
	}
	return cmp, nil
}

// MinCases is the fewest cases with which a paired exact test (McNemar's,
// or the sign-flip test) can reach alpha at all: its smallest two-sided p
// over n cases is 2·2⁻ⁿ.
func MinCases(alpha float64) int {
	n := 1
	for 2*math.Pow(0.5, float64(n)) > alpha && n < 64 {
		n++
	}
	return n
}

// minDetectable is stats.MinDetectable, nil where no difference can be
// shown (too few cases for the exact tests, or none within [0, 1]).
func minDetectable(n, k int, alpha, power, base float64) *float64 {
	if n < MinCases(alpha) {
		return nil
	}
	d := stats.MinDetectable(n, k, alpha, power, base)
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return nil
	}
	return &d
}

// MinDetectableText says it in words.
func MinDetectableText(n, k int, alpha, power, base float64) string {
	if d := minDetectable(n, k, alpha, power, base); d != nil {
		return fmt.Sprintf("a pass-rate difference of about %s", pct(*d))
	}
	return fmt.Sprintf("no difference at all: a paired test over cases needs at least %d cases to reach alpha %.2g, however many repeats", MinCases(alpha), alpha)
}

// minRatioPairs is the fewest paired cases a cost or latency verdict
// rests on: a bootstrap over fewer says nothing.
const minRatioPairs = 5

// verdicts: the pass rate is better or worse when its (Holm-adjusted) p is
// under alpha; cost and latency when the ratio's interval lies wholly
// below or above 1. Incomplete data is inconclusive.
func verdicts(v *VersusBaseline, alpha float64, incomplete bool) Verdicts {
	out := Verdicts{Inconclusive, Inconclusive, Inconclusive}
	if incomplete {
		return out
	}
	if v.PAdjusted < alpha && v.Delta != 0 {
		out.PassRate = map[bool]string{true: Better, false: Worse}[v.Delta > 0]
	}
	ratioVerdict := func(r RatioStat) string {
		switch {
		case r.Pairs < minRatioPairs:
			return Inconclusive
		case r.Hi < 1:
			return Better
		case r.Lo > 1:
			return Worse
		}
		return Inconclusive
	}
	out.Cost, out.Latency = ratioVerdict(v.Cost), ratioVerdict(v.Latency)
	return out
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Gate is a --fail-if condition.
type Gate struct {
	Src    string
	Metric string  // pass_rate, cost, latency, tokens, critical
	Factor float64 // for ratios: fail above it
}

// ParseGate reads "pass_rate<baseline", "cost>1.2x", "latency>1.5x",
// "tokens>2x" or "critical_newly_fails".
func ParseGate(s string) (Gate, error) {
	g := Gate{Src: s}
	t := strings.ReplaceAll(s, " ", "")
	switch {
	case t == "pass_rate<baseline":
		g.Metric = "pass_rate"
		return g, nil
	case t == "critical_newly_fails" || t == "critical-newly-fails":
		g.Metric = "critical"
		return g, nil
	}
	for _, m := range []string{"cost", "latency", "tokens"} {
		if rest, ok := strings.CutPrefix(t, m+">"); ok {
			var f float64
			if _, err := fmt.Sscanf(strings.TrimSuffix(rest, "x"), "%g", &f); err == nil && f > 0 && strings.HasSuffix(rest, "x") {
				g.Metric, g.Factor = m, f
				return g, nil
			}
		}
	}
	return g, fmt.Errorf("--fail-if %q: want pass_rate<baseline (significantly lower), cost>1.2x, latency>1.5x, tokens>2x (geometric-mean ratio) or critical_newly_fails", s)
}

// Failed says which gates the comparison trips, as "variant: gate" lines.
func (c *Comparison) Failed(gates []Gate) []string {
	var out []string
	for _, v := range c.Versus {
		for _, g := range gates {
			hit := false
			switch g.Metric {
			case "pass_rate":
				hit = v.Verdicts.PassRate == Worse
			case "critical":
				hit = len(v.Critical) > 0
			case "cost":
				hit = v.Cost.Pairs > 0 && v.Cost.Ratio > g.Factor
			case "latency":
				hit = v.Latency.Pairs > 0 && v.Latency.Ratio > g.Factor
			case "tokens":
				hit = v.Tokens.Pairs > 0 && v.Tokens.Ratio > g.Factor
			}
			if hit {
				out = append(out, v.Variant+": "+g.Src)
			}
		}
	}
	return out
}

// WriteJSON writes the comparison (replay.compare/v1).
func (c *Comparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sanitize(c))
}

// sanitize replaces NaN and infinities (a ratio over no pairs, a flip
// rate of one repeat) by 0, which JSON cannot carry; the counts beside
// them (Pairs, Runs) say such a value means nothing.
func sanitize(c *Comparison) *Comparison {
	cp := *c
	if c.Noise.AA != nil {
		aa := *c.Noise.AA
		cp.Noise.AA = &aa
	}
	cp.Arms = append([]ArmSummary(nil), c.Arms...)
	cp.Versus = append([]VersusBaseline(nil), c.Versus...)
	zeroNaN(reflect.ValueOf(&cp).Elem())
	return &cp
}

func zeroNaN(v reflect.Value) {
	switch v.Kind() {
	case reflect.Float64:
		if f := v.Float(); (math.IsNaN(f) || math.IsInf(f, 0)) && v.CanSet() {
			v.SetFloat(0)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			zeroNaN(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				zeroNaN(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			zeroNaN(v.Index(i))
		}
	}
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// WriteText writes the table and the flipped cases.
func (c *Comparison) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIANT\tPASS RATE\tΔ VS BASELINE\tp (HOLM)\tCASES +/−\tCOST RATIO\tLATENCY p50/p95\tVERDICT")
	vs := map[string]VersusBaseline{}
	for _, v := range c.Versus {
		vs[v.Variant] = v
	}
	for _, a := range c.Arms {
		rate := fmt.Sprintf("%s [%s, %s]", pct(a.PassRate), pct(a.PassLo), pct(a.PassHi))
		lat := fmt.Sprintf("%.1fs / %.1fs", a.LatencyP50MS/1000, a.LatencyP95MS/1000)
		v, ok := vs[a.Name]
		switch {
		case a.Name == c.Baseline:
			fmt.Fprintf(tw, "%s (baseline)\t%s\t\t\t\t\t%s\t\n", a.Name, rate, lat)
		case c.Noise.AA != nil && a.Name == c.Noise.AA.Variant:
			aa := c.Noise.AA
			fmt.Fprintf(tw, "%s (A/A)\t%s\t%+.0f pts [%+.0f, %+.0f]\t%.3g\t%d/%d\t%s\t%s\t%s\n", a.Name, rate, 100*aa.Delta, 100*aa.Lo, 100*aa.Hi, aa.P, aa.Improved, aa.Regressed, ratioText(aa.Cost), lat, aa.Verdicts.PassRate)
		case ok:
			fmt.Fprintf(tw, "%s\t%s\t%+.0f pts [%+.0f, %+.0f]\t%.3g (%.3g)\t%d/%d\t%s\t%s\t%s\n", a.Name, rate, 100*v.Delta, 100*v.Lo, 100*v.Hi, v.P, v.PAdjusted, v.Improved, v.Regressed, ratioText(v.Cost), lat, verdictText(v.Verdicts))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d case(s) × %d repeat(s) per arm; alpha %.2g; seed %d\n", c.Cases, c.Repeats, c.Alpha, c.Seed)
	n := c.Noise
	fmt.Fprintf(w, "noise floor: the baseline disagrees with itself in %s of its repeat pairs; %d case(s) × %d repeat(s) can detect %s\n", pct(n.FlipRate), c.Cases, c.Repeats, c.detectText())
	for _, r := range n.Reproduces {
		if r.Runs > 1 && r.Passed > 0 && r.Passed < r.Runs {
			fmt.Fprintf(w, "  %s: the baseline passes %d of %d times\n", r.Case, r.Passed, r.Runs)
		}
	}
	for _, v := range c.Versus {
		for _, f := range v.Flipped {
			fmt.Fprintf(w, "%s flips %s: %s → %s", v.Variant, f.Case, pct(f.Baseline), pct(f.Variant))
			if f.Divergence != "" {
				fmt.Fprintf(w, " (first divergence %s)", f.Divergence)
			}
			fmt.Fprintln(w)
		}
		for _, id := range v.Critical {
			fmt.Fprintf(w, "%s: critical case %s newly fails\n", v.Variant, id)
		}
	}
	for _, s := range c.Incomplete {
		fmt.Fprintf(w, "incomplete: %s\n", s)
	}
	return nil
}

func (c *Comparison) detectText() string {
	if d := c.Noise.MinDetectable; d != nil {
		return fmt.Sprintf("a pass-rate difference of about %s", pct(*d))
	}
	return fmt.Sprintf("no difference at all: a paired test over cases needs at least %d cases to reach alpha %.2g, however many repeats", c.Noise.MinCases, c.Alpha)
}

func ratioText(r RatioStat) string {
	if r.Pairs == 0 || math.IsNaN(r.Ratio) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f× [%.2f, %.2f]", r.Ratio, r.Lo, r.Hi)
}

func verdictText(v Verdicts) string {
	var parts []string
	for _, m := range []struct{ name, v string }{{"pass rate", v.PassRate}, {"cost", v.Cost}, {"latency", v.Latency}} {
		if m.v != Inconclusive {
			parts = append(parts, m.name+" "+m.v)
		}
	}
	if len(parts) == 0 {
		return "tied (inconclusive)"
	}
	return strings.Join(parts, ", ")
}

// WriteMarkdown writes the table for a PR comment or step summary.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## replay compare: %s\n\n%d case(s) × %d repeat(s) per arm, baseline **%s**, alpha %.2g\n\n", md(c.Suite), c.Cases, c.Repeats, md(c.Baseline), c.Alpha)
	b.WriteString("| variant | pass rate | Δ vs baseline | p (Holm) | cases +/− | cost ratio | verdict |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	vs := map[string]VersusBaseline{}
	for _, v := range c.Versus {
		vs[v.Variant] = v
	}
	for _, a := range c.Arms {
		rate := fmt.Sprintf("%s [%s, %s]", pct(a.PassRate), pct(a.PassLo), pct(a.PassHi))
		if v, ok := vs[a.Name]; ok {
			fmt.Fprintf(&b, "| %s | %s | %+.0f pts [%+.0f, %+.0f] | %.3g (%.3g) | %d/%d | %s | %s |\n", md(a.Name), rate, 100*v.Delta, 100*v.Lo, 100*v.Hi, v.P, v.PAdjusted, v.Improved, v.Regressed, ratioText(v.Cost), verdictText(v.Verdicts))
		} else {
			fmt.Fprintf(&b, "| %s (baseline) | %s | | | | | |\n", md(a.Name), rate)
		}
	}
	fmt.Fprintf(&b, "\nNoise floor: the baseline disagrees with itself in %s of its repeat pairs; %d case(s) × %d repeat(s) can detect %s.\n", pct(c.Noise.FlipRate), c.Cases, c.Repeats, md(c.detectText()))
	for _, v := range c.Versus {
		for _, f := range v.Flipped {
			fmt.Fprintf(&b, "- %s flips %s: %s → %s", md(v.Variant), md(f.Case), pct(f.Baseline), pct(f.Variant))
			if f.Divergence != "" {
				fmt.Fprintf(&b, " (first divergence %s)", md(f.Divergence))
			}
			b.WriteString("\n")
		}
	}
	for _, s := range c.Incomplete {
		fmt.Fprintf(&b, "> incomplete: %s\n", md(s))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
