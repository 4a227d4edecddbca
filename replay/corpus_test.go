package replay_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
)

func importCorpus(t *testing.T, path string) *trace.Run {
	t.Helper()
	src, err := importers.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := importers.Detect(src, "")
	if err != nil {
		t.Fatal(err)
	}
	run, err := trace.Collect(func(e trace.Emitter) error {
		return importers.ImportSource(context.Background(), f, src, trace.Options{}, e)
	})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func harnessOutcomes(r *trace.Run) map[string]int {
	out := map[string]int{}
	var walk func(*trace.Run)
	walk = func(r *trace.Run) {
		for _, s := range r.Steps {
			if s.Tool != nil && s.Tool.Harness != "" {
				out[s.Tool.Harness]++
			}
		}
		for _, c := range r.Children {
			walk(c)
		}
	}
	walk(r)
	return out
}

// TestCorpusVerdicts runs verify's loop over the real traces of the corpus
// (the recorded model; no workspace, so workspace calls are denied): every
// recording is followed to its end, whatever its first answer, and the
// harness outcomes found are the ones the traces hold, with no others.
func TestCorpusVerdicts(t *testing.T) {
	dir := testutil.RequireCorpus(t, "")
	// From the traces' own texts: "Permission prompt was aborted.", "[Request
	// interrupted by user for tool use]", "Claude requested permissions to
	// write to …, but you haven't granted it yet".
	wantHarness := map[string]map[string]int{
		"claude-code/happy__permission-prompt-aborted-with-interrupt.jsonl": {trace.HarnessAborted: 1},
		"claude-code/happy__c9de1ad3-3355-4392-b91b-6fcf853be4b0.jsonl":     {trace.HarnessAborted: 1, trace.HarnessInterrupted: 1},
		"claude-code/ccviewer__1af7fc5e-8455-4414-9ccd-011d40f70b2a.jsonl":  {trace.HarnessNoPermission: 1},
	}
	for _, sub := range []string{"claude-code", "codex", "otel-genai", "langfuse"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		for _, f := range files {
			name := sub + "/" + filepath.Base(f)
			t.Run(name, func(t *testing.T) {
				run := importCorpus(t, f)
				got := harnessOutcomes(run)
				want := wantHarness[name]
				if len(got) != len(want) {
					t.Errorf("harness outcomes %v, want %v", got, want)
				}
				for k, n := range want {
					if got[k] != n {
						t.Errorf("harness outcomes %v, want %v", got, want)
					}
				}
				rep, err := replay.Run(context.Background(), run, replay.Config{Mode: replay.ModeVerify})
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if len(rep.Unreplayed) != 0 {
					t.Errorf("not followed to the end: %v", rep.Unreplayed)
				}
			})
		}
	}
}
