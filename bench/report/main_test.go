package main

import (
	"strings"
	"testing"
)

func TestParsePicksValueAndBaseline(t *testing.T) {
	in := `goos: linux
pkg: github.com/agentreplay/replay/replay/trace/claudecode
BenchmarkImportTranscript-2   	       3	 412000000 ns/op	       350.5 MB/s	        97.10 jq_MB/s	         3.610 ratio_vs_jq
BenchmarkInspect10k-2   	      20	  21000000 ns/op	        21.00 ms/op-p50
BenchmarkPlain-2   	 1000000	      1050 ns/op	     128 B/op	       2 allocs/op
BenchmarkRSS-2   	       1	2386896525 ns/op	 220.17 MB/s	       110.8 peak-rss-MB
BenchmarkBytes-2   	       1	2386896525 ns/op	 220.17 MB/s
ok  	x	3.1s
`
	rs, failed, err := parse(strings.NewReader(in))
	if err != nil || failed {
		t.Fatalf("err %v failed %v", err, failed)
	}
	if len(rs) != 5 {
		t.Fatalf("got %d results, want 5", len(rs))
	}
	r := rs[0]
	if r.Name != "claudecode.BenchmarkImportTranscript" || r.Value != 350.5 || r.Unit != "MB/s" || r.Baseline != "jq" || *r.BaselineValue != 97.10 || *r.Ratio != 3.61 {
		t.Errorf("import result: %+v", r)
	}
	if !strings.HasSuffix(r.Package, "claudecode") {
		t.Errorf("package %q", r.Package)
	}
	if rs[1].Unit != "ms/op-p50" || rs[1].Value != 21 || rs[1].Baseline != "" {
		t.Errorf("inspect result: %+v", rs[1])
	}
	if rs[2].Unit != "ns/op" || rs[2].Value != 1050 {
		t.Errorf("plain result: %+v", rs[2])
	}
	if rs[3].Unit != "peak-rss-MB" || rs[3].Value != 110.8 {
		t.Errorf("a metric of its own wins over MB/s: %+v", rs[3])
	}
	if rs[4].Unit != "MB/s" || rs[4].Value != 220.17 {
		t.Errorf("MB/s alone: %+v", rs[4])
	}
}

func TestParseNoticesFailures(t *testing.T) {
	_, failed, _ := parse(strings.NewReader("--- FAIL: BenchmarkX\nFAIL\tpkg\t1s\n"))
	if !failed {
		t.Error("a failed benchmark run must be reported")
	}
}

// TestTargets: max_/min_ metrics are bounds on the benchmark's own
// metrics; the report says met or missed, and a missed one fails.
func TestTargets(t *testing.T) {
	in := `pkg: github.com/agentreplay/replay/sandbox
BenchmarkRoundTrip/echo-2   	 217	 7492552 ns/op	 127.1 docker_exec_ms/op-p50	 5.000 max_ms/op-p50	 10.00 min_ratio_vs_docker_exec	 6.199 ms/op-p50	 20.50 ratio_vs_docker_exec
BenchmarkDiff-2   	 3	 1 ns/op	 0.25 s	 1 max_s
BenchmarkLost-2   	 3	 1 ns/op	 0.25 s	 1 max_seconds
`
	rs, _, err := parse(strings.NewReader(in))
	if err != nil || len(rs) != 3 {
		t.Fatalf("%v %d", err, len(rs))
	}
	if rs[0].Unit != "ms/op-p50" || rs[0].Value != 6.199 || rs[0].Baseline != "docker_exec" {
		t.Errorf("a target is not the value: %+v", rs[0])
	}
	ts := rs[0].Targets
	if len(ts) != 2 || ts[0].Metric != "ms/op-p50" || ts[0].Op != "<=" || ts[0].Met || ts[1].Metric != "ratio_vs_docker_exec" || !ts[1].Met {
		t.Errorf("targets %+v", ts)
	}
	if !rs[1].Targets[0].Met || rs[2].Targets[0].Measured != nil || rs[2].Targets[0].Met {
		t.Errorf("met %+v, not reported %+v", rs[1].Targets, rs[2].Targets)
	}
	var out strings.Builder
	if missed := writeTargets(&out, rs); missed != 2 || !strings.Contains(out.String(), "MISSED") || !strings.Contains(out.String(), "not reported") {
		t.Errorf("%d missed:\n%s", missed, out.String())
	}
}
