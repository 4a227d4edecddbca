package replay

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

type mapFiles map[string]string

func (m mapFiles) File(name string) ([]byte, bool) {
	s, ok := m[name]
	return []byte(s), ok
}

func issueState() *GitHubState {
	return NewGitHubState(mapFiles{
		"issue.json":    `{"number": 7, "title": "crash", "state": "open", "html_url": "https://github.com/acme/widgets/issues/7", "labels": [{"name": "triage"}], "assignees": []}`,
		"comments.json": `[]`,
	}, "", 0, func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) })
}

// Each gh or REST write is understood as the effects GitHub would apply,
// answered as gh prints it; what replay cannot reproduce is not a write it
// answers (the policy denies it, as before).
func TestGHWrites(t *testing.T) {
	for _, tc := range []struct {
		cmd     string
		effects string // kind:what;…
		out     string // prefix of the answer
	}{
		{"gh issue edit 7 --add-label bug --add-label p1,needs-info", "label-add:bug,p1,needs-info", "https://github.com/acme/widgets/issues/7"},
		{"gh issue edit 7 --remove-label triage --add-assignee ada", "label-remove:triage;assign:ada", "https://github.com/acme/widgets/issues/7"},
		{"gh issue edit --title 'A better title'", "edit:A better title", "https://github.com/acme/widgets/issues/7"},
		{`gh issue comment 7 --body "Thanks, reproduced."`, "comment:Thanks, reproduced.", "https://github.com/acme/widgets/issues/7#issuecomment-9000000001"},
		{"gh issue comment https://github.com/acme/widgets/issues/7 -b ok", "comment:ok", "https://github.com/acme/widgets/issues/7#issuecomment-"},
		{"gh issue close 7 --comment 'Duplicate of #3' --reason 'not planned'", "comment:Duplicate of #3;close:not planned", ""},
		{"gh issue reopen 7", "reopen:", ""},
		{"gh issue edit 8 -R acme/other --add-label x", "label-add:x", "https://github.com/acme/other/issues/8"},
		{"gh api -X POST repos/acme/widgets/issues/7/labels -f 'labels[]=bug'", "label-add:bug", `[{"name":"triage"},{"name":"bug"}]`},
		{"gh api --method DELETE repos/acme/widgets/issues/7/labels/triage", "label-remove:triage", `[]`},
		{"gh api repos/acme/widgets/issues/7/comments -f body=hi", "comment:hi", `{"body":"hi"`},
		{"gh api -X PATCH repos/acme/widgets/issues/7 -f state=closed -f state_reason=completed", "close:completed", `{"assignees":[]`},
		{"gh api -X PUT repos/acme/widgets/issues/7/labels -f 'labels[]=bug'", "label-remove:triage;label-add:bug", `[{"name":"bug"}]`},
		// Not writes replay answers.
		{"gh issue view 7", "", ""},
		{"gh issue comment 7 --body-file notes.md", "", ""},
		{"gh issue comment 7 --body x | tee log", "", ""},
		{"gh pr review 7 --approve", "", ""}, // a review of an issue
		{"gh api -X POST repos/acme/widgets/pulls/7/reviews -f event=PENDING", "", ""},
		{"gh api repos/acme/widgets/issues/7", "", ""},
		{"gh repo delete acme/widgets", "", ""},
	} {
		st := issueState()
		effs, out, ok := st.ApplyWrite(tc.cmd)
		var got []string
		for _, e := range effs {
			what := strings.Join(append(append([]string{}, e.Labels...), e.Assignees...), ",")
			what += e.Body + e.Title + e.Reason + e.Review
			if e.Kind == trace.EffectClose && e.Body == "" {
				what = e.Reason
			}
			got = append(got, e.Kind+":"+what)
		}
		if g := strings.Join(got, ";"); g != tc.effects || ok != (tc.effects != "") {
			t.Errorf("%s: effects %q ok %v, want %q", tc.cmd, g, ok, tc.effects)
			continue
		}
		if !strings.HasPrefix(out, tc.out) {
			t.Errorf("%s: answer %q, want it to start %q", tc.cmd, out, tc.out)
		}
	}
}

// A read after a write sees it: the label the agent added is listed, its
// comment is among the comments.
func TestReadsSeeWrites(t *testing.T) {
	st := issueState()
	for _, cmd := range []string{"gh issue edit 7 --add-label bug", "gh issue comment 7 --body 'On it.'"} {
		if _, _, ok := st.ApplyWrite(cmd); !ok {
			t.Fatal(cmd)
		}
	}
	out, ok := ghAnswer(st, "gh issue view 7 --json labels,comments,state")
	if !ok {
		t.Fatal("the read was not answered from the run's copy")
	}
	var v struct {
		Labels   []struct{ Name string }
		Comments []struct {
			Author struct{ Login string }
			Body   string
		}
		State string
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Labels) != 2 || v.Labels[1].Name != "bug" || len(v.Comments) != 1 || v.Comments[0].Author.Login != AgentLogin || v.State != "OPEN" {
		t.Errorf("%s", out)
	}
	if view, _ := ghAnswer(st, "gh issue view 7"); !strings.Contains(view, "labels:\ttriage, bug") {
		t.Errorf("gh issue view:\n%s", view)
	}
	if api, _ := ghAnswer(st, "gh api repos/acme/widgets/issues/7/comments"); !strings.Contains(api, "On it.") {
		t.Errorf("gh api comments: %s", api)
	}
}

// A recorded run's writes are read from its calls (WriteEffects), for
// diffing an original that records none.
func TestWriteEffectsOfARecording(t *testing.T) {
	r := &trace.Run{Meta: trace.RunMeta{Refs: trace.Refs{Repo: &trace.Ref{Value: "https://github.com/acme/widgets.git"}, PR: &trace.Ref{Value: "42"}}},
		Steps: []trace.Step{
			{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: "c1", Name: "Bash", Status: trace.ToolOK, Arguments: json.RawMessage(`{"command":"gh pr review 42 --request-changes --body 'add a test'"}`)}},
			{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: "c2", Name: "Bash", Status: trace.ToolError, Arguments: json.RawMessage(`{"command":"gh pr comment 42 --body failed"}`)}},
		}}
	effs := WriteEffects(r)
	if len(effs) != 1 || effs[0].Kind != trace.EffectReview || effs[0].Review != "REQUEST_CHANGES" || effs[0].Target != "acme/widgets#42" || effs[0].Call != "c1" || effs[0].Answer != trace.EffectRecorded {
		t.Errorf("%+v", effs)
	}
}
