package world

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"
)

// TestCorpusTargets resolves, offline and with an empty cache, every real
// trace of the shared corpus that names refs: each fails with a clear
// error (no repository named; not cached), never a panic or a silent
// success. Two are checked by hand:
//
//   - claude-code/happy__goal-status_completed.jsonl records only cwd and
//     gitBranch (jq -r 'select(.gitBranch) | .gitBranch' | sort -u gives
//     fix/mass-cli-fixes-1405-1408): no repository, so --repo is asked for.
//   - fullsend/run-telemetry__complete.jsonl records fullsend.work_item_id
//     acme/demo#1 (jq '.. | .key? | select(. == "fullsend.work_item_id")'):
//     the repository is acme/demo on GitHub, and offline its issue is not
//     cached.
func TestCorpusTargets(t *testing.T) {
	root := testutil.RequireCorpus(t, "")
	dirs, _ := os.ReadDir(root)
	seen := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(root, d.Name(), "*"))
		for _, f := range files {
			if st, err := os.Stat(f); err != nil || st.IsDir() || strings.HasSuffix(f, ".md") {
				continue
			}
			rel := d.Name() + "/" + filepath.Base(f)
			sum, ok := trySummary(f)
			if !ok || len(sum.Refs) == 0 {
				continue
			}
			seen++
			w := newTestWorld(t, func(c *Config) { c.Offline = true })
			_, err := w.Fetch(context.Background(), TargetOf(sum), FetchOptions{})
			if err == nil {
				t.Errorf("%s: resolved offline from an empty cache", rel)
				continue
			}
			if !errors.Is(err, ErrNoRepo) && !errors.Is(err, ErrOffline) {
				t.Errorf("%s: %v, want ErrNoRepo or ErrOffline", rel, err)
			}
			switch rel {
			case "claude-code/happy__goal-status_completed.jsonl":
				if sum.Refs["branch"].Value != "fix/mass-cli-fixes-1405-1408" || !errors.Is(err, ErrNoRepo) || !strings.Contains(err.Error(), "pass --repo") {
					t.Errorf("%s: branch %q, err %v", rel, sum.Refs["branch"].Value, err)
				}
			case "fullsend/run-telemetry__complete.jsonl":
				if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "acme/demo#1") {
					t.Errorf("%s: %v", rel, err)
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no corpus trace with refs")
	}
}
