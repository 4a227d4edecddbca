// Command report turns `go test -bench` output into bench/results.json and a
// table. It reads the benchmark output on stdin and echoes it to stderr as it
// goes, so a long run shows progress.
//
// Convention: a benchmark reports its main number as a custom metric
// (b.ReportMetric(v, "MB/s")); when it measured a baseline in the same run it
// also reports "<baseline>_<unit>" and "ratio_vs_<baseline>" (ratio > 1: we
// are better). Without custom metrics, ns/op is the value.
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
	fmt.Printf("\nwrote %s (%d benchmarks)\n", *out, len(results))
	if failed {
		fmt.Fprintln(os.Stderr, "bench report: some benchmark packages failed (see above)")
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
		if !std[name] && !strings.HasPrefix(name, "ratio_vs_") {
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
