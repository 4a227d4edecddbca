package world

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// BenchmarkCommitSearch: a trace with 20 recorded whole-file reads and no
// commit, over a repository of 200 commits near the run's start (each
// changing one of 20 files of a 2,000-file tree): the search fetches every
// ref of a local repository into a fresh cache, scores all 200 candidates
// and finds the one commit that reproduces all 20 reads. Target (issue
// 11): under 5 s, with no container.
func BenchmarkCommitSearch(b *testing.B) {
	requireGit(b)
	dir := newRepo(b)
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	// A fast-import stream: a base tree, then 200 commits a minute apart
	// around the run's start, commit k writing version k of file k%20.
	var fi bytes.Buffer
	mark := 0
	blob := func(content string) int {
		mark++
		fmt.Fprintf(&fi, "blob\nmark :%d\ndata %d\n%s\n", mark, len(content), content)
		return mark
	}
	content := func(f, v int) string {
		return fmt.Sprintf("# file %d, version %d\n%s", f, v, strings.Repeat("x = 1\n", 50))
	}
	var files []string
	for i := 0; i < 2000; i++ {
		files = append(files, fmt.Sprintf("M 100644 :%d pkg%02d/f%04d.py\n", blob(fmt.Sprintf("static %d\n", i)), i%40, i))
	}
	const commits, target = 200, 120
	want := map[int]int{} // file -> version as of the target commit
	for k := 0; k < commits; k++ {
		f := k % 20
		m := blob(content(f, k))
		if k <= target {
			want[f] = k
		}
		when := at.Add(time.Duration(k-100) * time.Minute).Unix()
		fmt.Fprintf(&fi, "commit refs/heads/main\ncommitter Ada <ada@example.com> %d +0000\ndata 8\ncommit %d\n", when, k%10)
		if k == 0 {
			fi.WriteString(strings.Join(files, ""))
		}
		fmt.Fprintf(&fi, "M 100644 :%d hot/h%02d.py\n\n", m, f)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Stdin, cmd.Env = dir, &fi, gitEnv("")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, out)
	}
	var reads []RecordedRead
	for f := 0; f < 20; f++ {
		reads = append(reads, RecordedRead{Path: fmt.Sprintf("hot/h%02d.py", f), Content: content(f, want[f])})
	}
	tg := Target{TraceID: "bec0000000000000000000000000000a", At: at, Refs: map[string]trace.Ref{}, Reads: reads}
	ctx := context.Background()
	var total time.Duration
	rounds := max(b.N, 3)
	b.ResetTimer()
	for i := 0; i < rounds; i++ {
		w := newTestWorld(b, func(c *Config) { c.Now = time.Now })
		start := time.Now()
		res, err := w.Fetch(ctx, tg, FetchOptions{Repo: dir, CommitWindow: 24 * time.Hour})
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if res.Search.Score != 20 || res.Search.Searched != commits {
			b.Fatalf("search: %d of 20 over %d commits, want 20 over %d", res.Search.Score, res.Search.Searched, commits)
		}
	}
	b.StopTimer()
	b.ReportMetric(total.Seconds()/float64(rounds), "s/search")
	b.ReportMetric(5, "max_s/search")
}
