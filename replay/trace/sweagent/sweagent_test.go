package sweagent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// TestV0 imports a 0.x trajectory: commands as actions, observations as
// user messages, nothing but the working directory naming the repository.
func TestV0(t *testing.T) {
	run, sum := testutil.ImportFile(t, Format{}, "testdata/v0.traj.json")
	if sum.LLMCalls != 3 || sum.ToolCalls != 3 || sum.Tools["open"] != 1 || sum.Tools["bash"] != 1 || sum.Tools["submit"] != 1 {
		t.Errorf("llm %d tools %d %v; want 3 model calls and open, bash, submit", sum.LLMCalls, sum.ToolCalls, sum.Tools)
	}
	m := run.Meta
	if m.Refs.Repo == nil || m.Refs.Repo.Value != "acme/widgets" || m.Refs.Repo.Provenance != trace.Inferred {
		t.Errorf("repo = %+v, want acme/widgets inferred from the working directory", m.Refs.Repo)
	}
	if m.Instr.System != "SETTING: you are an autonomous programmer." || m.Instance != "v0" {
		t.Errorf("system %q instance %q", m.Instr.System, m.Instance)
	}
	var tools []*trace.ToolCall
	var demo, task int
	for _, s := range run.Steps {
		if s.Tool != nil {
			tools = append(tools, s.Tool)
		}
		if s.Message != nil && s.Message.Meta {
			demo++
		} else if s.Message != nil {
			task++
		}
	}
	if demo != 1 || task != 1 {
		t.Errorf("%d meta and %d task messages, want the demonstration as meta and the task", demo, task)
	}
	// The raw observation, not the history's templated copy; the submit's
	// result only trajectory[] has.
	if tools[0].Output != "[File: /acme__widgets/src/app.py (2 lines total)]\n1:def f():\n2:    return 1" || string(tools[1].Arguments) != `{"command":"python -c 'print(1)'"}` {
		t.Errorf("tools[0] output %q, tools[1] args %s", tools[0].Output, tools[1].Arguments)
	}
	if tools[2].Status != trace.ToolOK || !strings.HasPrefix(tools[2].Output, "\ndiff --git") {
		t.Errorf("submit: %+v", tools[2])
	}
	o := run.Outcome
	if o.Status != trace.StatusOK || !strings.HasPrefix(o.Patch, "diff --git a/src/app.py") || strings.Contains(o.Patch, "\r") {
		t.Errorf("outcome %q patch %q", o.Status, o.Patch)
	}
	if string(o.Decision.Value) != `{"exit_status":"submitted","files":["src/app.py"]}` {
		t.Errorf("decision %s", o.Decision.Value)
	}
	if sum.Tokens.Input != 1000 || sum.Tokens.Output != 50 || sum.TokensOf != "recorded totals" || *sum.Cost.Recorded != 0.25 {
		t.Errorf("tokens %+v from %s, cost %v", sum.Tokens, sum.TokensOf, sum.Cost.Recorded)
	}
	if len(sum.Warnings) != 1 || !strings.Contains(sum.Warnings[0], `record "v0": no base commit`) {
		t.Errorf("warnings %q, want one naming the record and the missing base commit", sum.Warnings)
	}
}

// TestV1 imports a 1.x trajectory: tool calls with ids, replay_config (here
// a JSON string) with model, base commit and image.
func TestV1(t *testing.T) {
	run, sum := testutil.ImportFile(t, Format{}, "testdata/v1.traj.json")
	m := run.Meta
	if m.Refs.BaseCommit == nil || m.Refs.BaseCommit.Value != "0123456789abcdef0123456789abcdef01234567" || m.Refs.BaseCommit.Provenance != trace.Recorded ||
		m.Refs.Image == nil || m.Refs.Image.Value != "swebench/sweb.eval.x86_64.acme_1776_widgets-7:latest" ||
		m.Refs.Repo == nil || m.Refs.Repo.Value != "acme/widgets" || m.Instance != "acme__widgets-7" || m.Defaults.Model != "claude-sonnet-4-20250514" {
		t.Errorf("meta %+v refs repo %+v", m, m.Refs.Repo)
	}
	if len(sum.Warnings) != 0 {
		t.Errorf("warnings %q", sum.Warnings)
	}
	var tools []*trace.ToolCall
	for _, s := range run.Steps {
		if s.Tool != nil {
			tools = append(tools, s.Tool)
		}
	}
	if len(tools) != 2 || tools[0].Name != "str_replace_editor" || string(tools[0].Arguments) != `{"command":"view","path":"/testbed/app.py"}` ||
		tools[0].CallID != "call_1" || tools[1].CallID != "call_1#2" || tools[0].DurationMS != 500 || tools[0].Output != "1\tdef f():\n2\t    return 1" {
		t.Errorf("tools %+v", tools)
	}
}

// TestCorpus imports the real trajectories, with counts read from the raw
// files: every assistant message with an action is one model call and one
// tool call; replay_config.env.repo.base_commit is the base commit when
// present.
func TestCorpus(t *testing.T) {
	dir := testutil.RequireCorpus(t, "swe-agent")
	files, _ := filepath.Glob(filepath.Join(dir, "*.traj"))
	if len(files) == 0 {
		t.Fatalf("no trajectories in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var raw struct {
				History []struct {
					Role   string  `json:"role"`
					Action *string `json:"action"`
				} `json:"history"`
				Info struct {
					Submission string `json:"submission"`
				} `json:"info"`
				ReplayConfig *struct {
					Env struct {
						Repo struct {
							BaseCommit string `json:"base_commit"`
						} `json:"repo"`
						Deployment struct {
							Image string `json:"image"`
						} `json:"deployment"`
					} `json:"env"`
				} `json:"replay_config"`
			}
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, m := range raw.History {
				if m.Role == "assistant" && m.Action != nil && strings.TrimSpace(*m.Action) != "" {
					want++
				}
			}
			run, sum := testutil.ImportFile(t, Format{}, f)
			if sum.LLMCalls != want || sum.ToolCalls != want {
				t.Errorf("%d llm calls, %d tool calls; the file has %d actions", sum.LLMCalls, sum.ToolCalls, want)
			}
			for _, s := range run.Steps {
				if s.Tool != nil && s.Tool.Status != trace.ToolOK {
					t.Errorf("tool %s %s: status %s, want every action answered", s.Tool.CallID, s.Tool.Name, s.Tool.Status)
				}
			}
			if run.Outcome == nil || run.Outcome.Patch != NormalizePatch(raw.Info.Submission) {
				t.Errorf("patch is not the submission")
			}
			base := ""
			if raw.ReplayConfig != nil {
				base = raw.ReplayConfig.Env.Repo.BaseCommit
				if img := raw.ReplayConfig.Env.Deployment.Image; run.Meta.Refs.Image == nil || run.Meta.Refs.Image.Value != img {
					t.Errorf("image %+v, want %q", run.Meta.Refs.Image, img)
				}
			}
			switch {
			case base != "" && (run.Meta.Refs.BaseCommit == nil || run.Meta.Refs.BaseCommit.Value != base):
				t.Errorf("base commit %+v, want %s", run.Meta.Refs.BaseCommit, base)
			case base == "" && !hasWarning(sum.Warnings, "no base commit"):
				t.Errorf("no base commit in the file and no warning saying so: %q", sum.Warnings)
			}
			if run.Meta.Refs.Repo == nil && !hasWarning(sum.Warnings, "no repository") {
				t.Errorf("no repository and no warning saying so: %q", sum.Warnings)
			}
		})
	}
	// What the files say about themselves (SOURCES.md): pydicom's GPT-4 run
	// cost 1.26719 USD over 122612 + 1369 tokens.
	if f := filepath.Join(dir, "sweagent__pydicom__pydicom-1458.traj"); fileExists(f) {
		run, sum := testutil.ImportFile(t, Format{}, f)
		if sum.Cost.Recorded == nil || *sum.Cost.Recorded != 1.26719 || sum.Tokens.Input != 122612 || sum.Tokens.Output != 1369 ||
			run.Meta.Refs.Repo.Value != "pydicom/pydicom" || run.Meta.Instance != "pydicom__pydicom-1458" {
			t.Errorf("pydicom: cost %v tokens %+v repo %+v instance %q", sum.Cost.Recorded, sum.Tokens, run.Meta.Refs.Repo, run.Meta.Instance)
		}
	}
}

func hasWarning(ws []string, s string) bool {
	for _, w := range ws {
		if strings.Contains(w, s) {
			return true
		}
	}
	return false
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func FuzzDecode(f *testing.F) {
	for _, p := range []string{"testdata/v0.traj.json", "testdata/v1.traj.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"trajectory":[],"history":[{"role":"assistant","action":"submit","tool_calls":[{"id":"","function":{"name":"","arguments":"x"}}]}],"replay_config":"{"}`))
	f.Add([]byte(`{"history":[{"role":"tool","content":[{"type":"text"}]}],"info":{"exit_status":"exit_cost","model_stats":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c trace.Collector
		if err := Decode(context.Background(), b, "fuzz.traj", &c); err != nil {
			return
		}
		r := c.Run()
		for _, s := range r.Steps {
			if s.Tool != nil && s.Tool.CallID == "" {
				t.Fatalf("tool call without id: %+v", s.Tool)
			}
		}
	})
}
