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
