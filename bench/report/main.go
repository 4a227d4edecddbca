// Command report turns `go test -bench` output into bench/results.json and a
// table. It reads the benchmark output on stdin and echoes it to stderr as it
// goes, so a long run shows progress.
//
// Convention: a benchmark reports its main number as a custom metric
// (b.ReportMetric(v, "MB/s")); when it measured a baseline in the same run it
// also reports "<baseline>_<unit>" and "ratio_vs_<baseline>" (ratio > 1: we
// are better). Without custom metrics, ns/op is the value.
//
// A target is a metric named "max_<metric>" or "min_<metric>" whose value
// is the bound on <metric> of the same benchmark (b.ReportMetric(5,
// "max_ms/op-p50"): a p50 of at most 5 ms). The report prints a table of
// target, measured and met or missed, and exits 1 when a target is missed
// or a benchmark that names one did not report the metric. Units mean what
// they say: MB is 10^6 bytes, MiB 2^20.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is one benchmark in results.json.
type Result struct {
	Name          string             `json:"name"`
	Package       string             `json:"package,omitempty"`
	Value         float64            `json:"value"`
	Unit          string             `json:"unit"`
	Baseline      string             `json:"baseline,omitempty"`
	BaselineValue *float64           `json:"baseline_value,omitempty"`
	Ratio         *float64           `json:"ratio,omitempty"`
	Iterations    int64              `json:"iterations"`
	Metrics       map[string]float64 `json:"metrics"`
	Targets       []Target           `json:"targets,omitempty"`
}

// Target is a bound a benchmark's metric must keep, and whether it did.
type Target struct {
	Metric   string   `json:"metric"`
	Op       string   `json:"op"` // "<=" or ">="
	Bound    float64  `json:"bound"`
	Measured *float64 `json:"measured"` // nil: the benchmark did not report the metric
	Met      bool     `json:"met"`
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

func main() {
	out := flag.String("o", "bench/results.json", "results file to write")
	flag.Parse()
	results, failed, err := parse(io.TeeReader(os.Stdin, os.Stderr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench report:", err)
		os.Exit(2)
	}
	b, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench report:", err)
		os.Exit(2)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "benchmark\tvalue\tunit\tbaseline\tbaseline value\tratio\t")
	for _, r := range results {
		bv, ratio := "", ""
		if r.BaselineValue != nil {
			bv = strconv.FormatFloat(*r.BaselineValue, 'g', 4, 64)
		}
		if r.Ratio != nil {
			ratio = strconv.FormatFloat(*r.Ratio, 'f', 2, 64) + "x"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, strconv.FormatFloat(r.Value, 'g', 4, 64), r.Unit, r.Baseline, bv, ratio)
	}
	tw.Flush()
	missed := writeTargets(os.Stdout, results)
	fmt.Printf("\nwrote %s (%d benchmarks)\n", *out, len(results))
	if failed {
		fmt.Fprintln(os.Stderr, "bench report: some benchmark packages failed (see above)")
		os.Exit(1)
	}
	if missed > 0 {
		fmt.Fprintf(os.Stderr, "bench report: %d target(s) missed\n", missed)
		os.Exit(1)
	}
}

func parse(r io.Reader) ([]Result, bool, error) {
	var (
		results []Result
		pkg     string
		failed  bool
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
			continue
		case strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "--- FAIL"):
			failed = true
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(m[2], 10, 64)
		name := m[1]
		if pkg != "" {
			name = pkg[strings.LastIndex(pkg, "/")+1:] + "." + name
		}
		res := Result{Name: name, Package: pkg, Iterations: n, Metrics: map[string]float64{}}
		f := strings.Fields(m[3])
		var order []string
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res.Metrics[f[i+1]] = v
			order = append(order, f[i+1])
		}
		pick(&res, order)
		res.Targets = targets(res.Metrics, order)
		results = append(results, res)
	}
	return results, failed, sc.Err()
}

// pick chooses the value, unit and baseline of a result from its metrics.
func pick(r *Result, order []string) {
	// MB/s comes with b.SetBytes; a benchmark that reports a metric of its
	// own means that one.
	std := map[string]bool{"ns/op": true, "B/op": true, "allocs/op": true, "MB/s": true}
	for _, name := range order {
		base, ok := strings.CutPrefix(name, "ratio_vs_")
		if !ok {
			continue
		}
		for _, u := range order {
			if unit, ok := strings.CutPrefix(u, base+"_"); ok {
				if v, ok := r.Metrics[unit]; ok {
					r.Value, r.Unit, r.Baseline = v, unit, base
					bv, ratio := r.Metrics[u], r.Metrics[name]
					r.BaselineValue, r.Ratio = &bv, &ratio
					return
				}
			}
		}
	}
	for _, name := range order {
		if !std[name] && !strings.HasPrefix(name, "ratio_vs_") && !isTarget(name) {
			r.Value, r.Unit = r.Metrics[name], name
			return
		}
	}
	if v, ok := r.Metrics["MB/s"]; ok {
		r.Value, r.Unit = v, "MB/s"
		return
	}
	r.Value, r.Unit = r.Metrics["ns/op"], "ns/op"
}

func isTarget(name string) bool {
	return strings.HasPrefix(name, "max_") || strings.HasPrefix(name, "min_")
}

// targets reads the max_/min_ metrics of a benchmark as bounds on its
// other metrics.
func targets(m map[string]float64, order []string) []Target {
	var ts []Target
	for _, name := range order {
		var t Target
		switch {
		case strings.HasPrefix(name, "max_"):
			t = Target{Metric: strings.TrimPrefix(name, "max_"), Op: "<=", Bound: m[name]}
		case strings.HasPrefix(name, "min_"):
			t = Target{Metric: strings.TrimPrefix(name, "min_"), Op: ">=", Bound: m[name]}
		default:
			continue
		}
		if v, ok := m[t.Metric]; ok {
			t.Measured = &v
			t.Met = t.Op == "<=" && v <= t.Bound || t.Op == ">=" && v >= t.Bound
		}
		ts = append(ts, t)
	}
	return ts
}

// writeTargets prints every target with its verdict and returns how many
// were missed.
func writeTargets(w io.Writer, results []Result) int {
	missed, n := 0, 0
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nbenchmark\tmetric\ttarget\tmeasured\tverdict")
	for _, r := range results {
		for _, t := range r.Targets {
			n++
			measured, verdict := "not reported", "MISSED"
			if t.Measured != nil {
				measured = strconv.FormatFloat(*t.Measured, 'g', 4, 64)
				if t.Met {
					verdict = "met"
				}
			}
			if verdict != "met" {
				missed++
			}
			fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\t%s\n", r.Name, t.Metric, t.Op, strconv.FormatFloat(t.Bound, 'g', 4, 64), measured, verdict)
		}
	}
	if n > 0 {
		tw.Flush()
	}
	return missed
}
