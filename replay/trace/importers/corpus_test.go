package importers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
)

// TestCorpusDetection runs detection over every real trace in shared/corpus.
// Detection must never fail on them other than with "not a trace", the
// native format must never claim a foreign file, and where the format a
// corpus folder holds is registered, it must be the one detected.
func TestCorpusDetection(t *testing.T) {
	root := testutil.RequireCorpus(t, "")
	// Corpus folder -> the format that must read it, once registered.
	want := map[string]string{
		"claude-code":   "claude-code",
		"codex":         "codex",
		"langfuse":      "langfuse",
		"otel-genai":    "otel-spans",
		"openinference": "otel-spans",
		"fullsend":      "otlp-json",
		"swe-agent":     "swe-agent",
		"openhands":     "openhands",
		"inspect":       "inspect-ai",
	}
	registered := importers.Names()
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(root, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			files++
			path := filepath.Join(root, d.Name(), e.Name())
			src, err := importers.Open(path)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			f, err := importers.Detect(src, "")
			got := ""
			switch {
			case err == nil:
				got = f.Name()
			case !errors.Is(err, trace.ErrNotTrace):
				t.Errorf("%s: detection failed: %v", path, err)
			}
			if got == trace.NativeName {
				t.Errorf("%s: a foreign trace detected as native", path)
			}
			if w, ok := want[d.Name()]; ok && slices.Contains(registered, w) && got != w {
				t.Errorf("%s: detected as %q, want %q", path, got, w)
			}
			if got == "" {
				t.Logf("%s/%s: no registered format reads it", d.Name(), e.Name())
				continue
			}
			// Every file a format claims imports: never an error, never a
			// silent empty run.
			z := &trace.Summarizer{}
			if _, err := importers.Import(context.Background(), path, "", trace.Options{}, z); err != nil {
				t.Errorf("%s: import as %s: %v", path, got, err)
				continue
			}
			if s := z.Summary(); s.Steps == 0 && s.Replay.OK {
				t.Errorf("%s: imported as %s with no steps, yet said to be replayable", path, got)
			}
		}
	}
	if files == 0 {
		t.Fatalf("no corpus files under %s", root)
	}
}
