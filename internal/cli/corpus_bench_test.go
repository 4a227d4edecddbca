package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The corpus's benchmark trajectories (SWE-agent, OpenHands, inspect_ai):
// each imports, as many runs as the raw file holds records, and verifies
// what it can offline. No repository can be cloned here, so none is a
// pass: a run naming a repository says it has none to replay in, with the
// way to give one (--repo), a run naming none says so, a run with no call
// to re-execute says that; every verify exits 3.
func TestBenchmarkCorpusVerifiesOffline(t *testing.T) {
	var files []string
	for _, fam := range []string{"swe-agent", "openhands", "inspect"} {
		fs, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "corpus", fam, "*"))
		files = append(files, fs...)
	}
	if len(files) == 0 {
		t.Skip("no corpus at ../shared/corpus")
	}
	env, flags := replayEnv(t)
	home := flags[:2]
	code, out, errs := runCLI(t, env, append(append([]string{}, home...), append([]string{"import", "--json"}, files...)...)...)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s", code, errs)
	}
	var imp struct {
		Results []struct {
			Path, ID, Format string
			ToolCalls        int `json:"tool_calls"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &imp); err != nil {
		t.Fatal(err)
	}
	perFile := map[string]int{}
	for _, r := range imp.Results {
		perFile[r.Path]++
	}
	for _, f := range files {
		want := 1
		if strings.HasSuffix(f, ".jsonl") {
			want = 0
			fh, _ := os.Open(f)
			sc := bufio.NewScanner(fh)
			sc.Buffer(nil, 64<<20)
			for sc.Scan() {
				if strings.TrimSpace(sc.Text()) != "" {
					want++
				}
			}
			fh.Close()
		}
		if strings.HasSuffix(f, ".eval") || filepath.Base(filepath.Dir(f)) == "inspect" {
			if perFile[f] == 0 {
				t.Errorf("%s: no run imported", filepath.Base(f))
			}
			continue // a log holds a run per sample
		}
		if perFile[f] != want {
			t.Errorf("%s: %d runs imported, the file holds %d records", filepath.Base(f), perFile[f], want)
		}
	}
	counts := map[string]int{}
	for _, r := range imp.Results {
		args := append(append([]string{}, home...), "verify", r.ID, "--offline", "--executor", flags[3])
		code, out, errs := runCLI(t, env, args...)
		name := filepath.Base(r.Path) + " " + r.ID[:8]
		if code != 3 {
			t.Errorf("%s: verify exit %d, want 3 (nothing of the world checked)\n%s\n%s", name, code, out, errs)
			continue
		}
		switch {
		case strings.Contains(errs, "no repository to replay in"):
			counts["no repository (offline)"]++
		case strings.Contains(errs, "names no repository"):
			counts["names no repository"]++
		case strings.Contains(errs, "no tool call was re-executed"):
			counts["no call re-executed"]++
		default:
			t.Errorf("%s: exit 3 without saying why:\n%s", name, errs)
			continue
		}
		if !strings.Contains(errs, "--repo") && !strings.Contains(errs, "no tool call was re-executed") {
			t.Errorf("%s: no --repo hint:\n%s", name, errs)
		}
	}
	t.Logf("%d runs from %d files: %v", len(imp.Results), len(files), counts)
}
