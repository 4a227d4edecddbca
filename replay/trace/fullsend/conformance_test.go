package fullsend_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace/fullsend"
)

// TestCorpusTelemetry places each of the factory's own telemetry fixtures
// (fullsend-ai/fullsend internal/evalmeasure/testdata) as the
// run-telemetry.jsonl of a run directory. Expected values read off the
// files with
//
//	jq -c '.resourceSpans[].scopeSpans[].spans[] | {name, a: (.attributes | map({(.key): (.value|to_entries[0].value)}) | add)}'
//
// run span of complete/split: agent triage, work item acme/demo#1, tokens
// 100 in / 20 out, cost 0.54, 12 tool calls, 8 turns; missing-cost has no
// fullsend.cost_usd; prescript-skipped was skipped ("already handled");
// review-unknown-workitem has work item "unknown" (no repo).
func TestCorpusTelemetry(t *testing.T) {
	corpus := testutil.RequireCorpus(t, "fullsend")
	files, _ := filepath.Glob(filepath.Join(corpus, "*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no telemetry files in the corpus")
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "run-telemetry__"), ".jsonl")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "run-telemetry.jsonl"), b, 0o644)
			s, _, err := importDir(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			if s.Replay.OK {
				t.Error("a telemetry-only run directory must not be replayable")
			}
			hasReason := func(sub string) bool {
				for _, r := range s.Replay.Reasons {
					if strings.Contains(r, sub) {
						return true
					}
				}
				return false
			}
			if !hasReason("no conversation recorded") {
				t.Errorf("reasons %q do not say the conversation is missing", s.Replay.Reasons)
			}
			switch name {
			case "complete", "split":
				if s.Agent != "triage" || s.Refs["work_item"].Value != "acme/demo#1" || s.Refs["repo"].Value != "acme/demo" {
					t.Errorf("agent %q refs %v", s.Agent, s.Refs)
				}
				if s.Tokens.Input != 100 || s.Tokens.Output != 20 || s.TokensOf != "recorded totals" {
					t.Errorf("tokens %+v from %q", s.Tokens, s.TokensOf)
				}
				if s.Cost.Recorded == nil || *s.Cost.Recorded != 0.54 {
					t.Errorf("recorded cost %v, want 0.54", s.Cost.Recorded)
				}
				if s.Recorded == nil || s.Recorded.ToolCalls != 12 || s.Recorded.Turns != 8 {
					t.Errorf("recorded totals %+v", s.Recorded)
				}
				if s.Status != "ok" {
					t.Errorf("status %q", s.Status)
				}
			case "missing-cost":
				if s.Cost.Recorded != nil {
					t.Errorf("recorded cost %v, want none", *s.Cost.Recorded)
				}
			case "prescript-skipped":
				if !hasReason("already handled") {
					t.Errorf("reasons %q do not say the agent was skipped", s.Replay.Reasons)
				}
			case "review-unknown-workitem":
				if _, ok := s.Refs["repo"]; ok || s.Agent != "review" {
					t.Errorf("agent %q refs %v: an unknown work item gives no repo", s.Agent, s.Refs)
				}
			}
			if s.Format != fullsend.Name {
				t.Errorf("format %q", s.Format)
			}
		})
	}
}
