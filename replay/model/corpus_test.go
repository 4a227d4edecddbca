package model

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
)

// cassette is a vcrpy cassette: recorded HTTP interactions.
type cassette struct {
	Interactions []struct {
		Request struct {
			Body   string `yaml:"body"`
			Method string `yaml:"method"`
			URI    string `yaml:"uri"`
		} `yaml:"request"`
		Response struct {
			Body struct {
				String string `yaml:"string"`
			} `yaml:"body"`
			Status struct {
				Code int `yaml:"code"`
			} `yaml:"status"`
		} `yaml:"response"`
	} `yaml:"interactions"`
}

// chatBody is the part of a chat.completions request body this test turns
// back into a canonical Request.
type chatBody struct {
	Model    string `json:"model"`
	Messages []struct {
		Role       string  `json:"role"`
		Name       string  `json:"name"`
		Content    *string `json:"content"`
		ToolCallID string  `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
}

// requestFromChat turns a recorded chat.completions body into the canonical
// Request an engine would build for it: a leading system message becomes
// the system prompt, tool results become tool_result parts.
func requestFromChat(t *testing.T, body []byte) Request {
	t.Helper()
	var b chatBody
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("recorded request: %v", err)
	}
	req := Request{Params: trace.Params{Model: b.Model}}
	for i, m := range b.Messages {
		text := ""
		if m.Content != nil {
			text = *m.Content
		}
		if i == 0 && m.Role == "system" {
			req.System = text
			continue
		}
		msg := trace.Message{Role: m.Role, Name: m.Name}
		switch {
		case m.Role == "tool":
			msg.Parts = append(msg.Parts, toolResult(m.ToolCallID, text, false))
		case text != "":
			msg.Parts = append(msg.Parts, part(trace.PartText, text))
		}
		for _, tc := range m.ToolCalls {
			msg.Parts = append(msg.Parts, toolCall(tc.ID, tc.Function.Name, tc.Function.Arguments))
		}
		req.Messages = append(req.Messages, msg)
	}
	for _, tl := range b.Tools {
		req.Tools = append(req.Tools, trace.ToolDef{Name: tl.Function.Name, Description: tl.Function.Description, Schema: tl.Function.Parameters})
	}
	return req
}

// sentFields keeps the fields of a request body that carry the
// conversation: what both the recorded client and ours must agree on.
func sentFields(t *testing.T, body []byte) map[string]any {
	m := decode(t, body).(map[string]any)
	out := map[string]any{}
	for _, k := range []string{"model", "messages", "tools"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestCorpusChatCassettes replays every chat.completions interaction of the
// vcrpy cassettes in shared/corpus/openai-chat through the client against a
// fake endpoint answering the recorded response. The request our client
// sends for the canonical form of the recorded request must carry the same
// model, messages and tools as the recorded one, and the recorded response
// must parse. Interactions with other APIs (Responses, Anthropic Messages)
// are skipped.
//
// Hand-derived expectations, read from the usage and choices of each
// cassette's response bodies (the same numbers come out of
// `python3 -c 'import yaml,json; …json.loads(i["response"]["body"]["string"])["usage"]…'`):
//   - openai_test_tool_calls: one call, gpt-4o-mini-2024-07-18, prompt 207
//     (0 cached), completion 46, two parallel tool calls get_weather and
//     get_population, finish_reason tool_calls.
//   - openai_test_cached_tokens: two calls, prompt 1370 each, the second
//     with 1280 cached: input 1370+90, cache_read 1280, output 22+155.
//   - autogen_TestTeam.test_team_run: four calls, gpt-4o-2024-08-06, prompt
//     28+160+321+489 = 998, completion 111+170+147+77 = 505, no tool calls.
func TestCorpusChatCassettes(t *testing.T) {
	dir := testutil.RequireCorpus(t, "openai-chat")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	type totals struct {
		calls  int
		usage  trace.Usage
		tools  []string
		models []string
		stops  []string
	}
	got := map[string]*totals{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var cs cassette
		if err := yaml.Unmarshal(data, &cs); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		for i, it := range cs.Interactions {
			if !strings.HasSuffix(it.Request.URI, "/chat/completions") {
				t.Logf("%s #%d: %s is not chat.completions: skipped", name, i, it.Request.URI)
				continue
			}
			api := newFakeAPI(t, reply{status: it.Response.Status.Code, body: it.Response.Body.String})
			c, _ := newTestClient(t, api, Config{APIKey: "sk-test"})
			req := requestFromChat(t, []byte(it.Request.Body))
			call, err := c.Complete(context.Background(), req)
			if err != nil {
				t.Errorf("%s #%d: %v", name, i, err)
				continue
			}
			if d := cmp.Diff(sentFields(t, []byte(it.Request.Body)), sentFields(t, api.requests()[0].Body)); d != "" {
				t.Errorf("%s #%d: request sent differs from the recorded one (-recorded +sent):\n%s", name, i, d)
			}
			tt := got[name]
			if tt == nil {
				tt = &totals{}
				got[name] = tt
			}
			tt.calls++
			if call.Usage != nil {
				tt.usage.Add(*call.Usage)
			}
			for _, p := range call.Output.Parts {
				if p.Type == trace.PartToolCall {
					tt.tools = append(tt.tools, p.Name)
					if !json.Valid(p.Arguments) {
						t.Errorf("%s #%d: arguments of %s are not valid JSON: %s", name, i, p.Name, p.Arguments)
					}
				}
			}
			if !slices.Contains(tt.models, call.Model) {
				tt.models = append(tt.models, call.Model)
			}
			tt.stops = append(tt.stops, call.StopReason)
		}
	}
	want := map[string]*totals{
		"openinference__openai_test_tool_calls": {calls: 1, usage: trace.Usage{Input: 207, Output: 46},
			tools: []string{"get_weather", "get_population"}, models: []string{"gpt-4o-mini-2024-07-18"}, stops: []string{"tool_calls"}},
		"openinference__openai_test_cached_tokens": {calls: 2, usage: trace.Usage{Input: 1370 + 90, CacheRead: 1280, Output: 22 + 155},
			models: []string{"gpt-4o-mini-2024-07-18"}, stops: []string{"stop", "stop"}},
		"openinference__autogen_TestTeam.test_team_run": {calls: 4, usage: trace.Usage{Input: 998, Output: 505},
			models: []string{"gpt-4o-2024-08-06"}, stops: []string{"stop", "stop", "stop", "stop"}},
	}
	for name, w := range want {
		g := got[name]
		if g == nil {
			t.Errorf("%s: not in the corpus or not replayed", name)
			continue
		}
		if d := cmp.Diff(w, g, cmp.AllowUnexported(totals{})); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
}

// TestCorpusChatResponses parses the bare response bodies of the corpus
// (langchain4j's two calls): first a tool call add {"a":45,"b":79} with
// prompt 162 / completion 17, then the answer with prompt 189 / completion
// 13 (read from the files' usage blocks).
func TestCorpusChatResponses(t *testing.T) {
	dir := testutil.RequireCorpus(t, "openai-chat")
	tests := []struct {
		file  string
		usage trace.Usage
		parts []trace.Part
	}{
		{"openinference__langchain4j_v1_chat_completions-1st-call.json", trace.Usage{Input: 162, Output: 17},
			[]trace.Part{toolCall("call_Qm51xgE57uzoj2f6qkZAWwb4", "add", `{"a":45,"b":79}`)}},
		{"openinference__langchain4j_v1_chat_completions-2nd-call.json", trace.Usage{Input: 189, Output: 13},
			[]trace.Part{part(trace.PartText, "The sum of 45 plus 79 is 124.")}},
	}
	for _, tt := range tests {
		body, err := os.ReadFile(filepath.Join(dir, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		api := newFakeAPI(t, reply{body: string(body)})
		c, _ := newTestClient(t, api, Config{})
		call, err := c.Complete(context.Background(), Request{Messages: []trace.Message{userText("What is 45 plus 79?")}, Params: trace.Params{Model: "gpt-4.1-nano"}})
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if d := cmp.Diff(&tt.usage, call.Usage); d != "" {
			t.Errorf("%s usage (-want +got):\n%s", tt.file, d)
		}
		if d := cmp.Diff(tt.parts, call.Output.Parts); d != "" {
			t.Errorf("%s output (-want +got):\n%s", tt.file, d)
		}
		if call.Cost.Priced == nil {
			t.Errorf("%s: gpt-4.1-nano-2025-04-14 not priced", tt.file)
		}
	}
}

// replayRecorded drives rec the way verify's agent loop would: every answer
// is followed by the recorded results of its tool calls, a Task call runs
// its sub-agent from the recording. It returns the model calls answered per
// run key and the divergences of all runs.
// alter, when not nil, changes the result fed back for a tool call.
func replayRecorded(t *testing.T, rec *Recorded, run *trace.Run, calls map[string]int, alter func(tool, text string) string) []Divergence {
	t.Helper()
	results := map[string]*trace.ToolCall{}
	for _, s := range run.Steps {
		if s.Tool != nil {
			results[s.Tool.CallID] = s.Tool
		}
	}
	children := map[string]*trace.Run{}
	for _, c := range run.Children {
		children[c.Meta.Key] = c
	}
	var divs []Divergence
	var conv []trace.Message
	for {
		call, err := rec.Complete(context.Background(), Request{Messages: conv, Params: trace.Params{Model: "recorded"}})
		if errors.Is(err, ErrRecordingExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		calls[run.Meta.Key]++
		conv = append(conv, call.Output)
		fed := trace.Message{Role: "user"}
		for _, p := range call.Output.Parts {
			if p.Type != trace.PartToolCall {
				continue
			}
			if sub, err := rec.Sub(p.ID); err == nil {
				child := children[sub.Key()]
				if child == nil {
					t.Fatalf("Sub(%s) = run %q, not a child of %q", p.ID, sub.Key(), run.Meta.Key)
				}
				divs = append(divs, replayRecorded(t, sub, child, calls, alter)...)
			}
			if tc := results[p.ID]; tc != nil && tc.Status != trace.ToolMissing {
				text := tc.Output
				if alter != nil {
					text = alter(p.Name, text)
				}
				fed.Parts = append(fed.Parts, toolResult(p.ID, text, tc.Status == trace.ToolError))
			}
		}
		if len(fed.Parts) > 0 {
			conv = append(conv, fed)
		}
	}
	if rec.Answered() != rec.Len() {
		t.Errorf("run %q: answered %d of %d recorded calls", run.Meta.Key, rec.Answered(), rec.Len())
	}
	return append(divs, rec.Divergences()...)
}

// TestCorpusRecordedClaudeCode imports every Claude Code transcript of the
// corpus and replays it faithfully through Recorded: every recorded model
// call of every run (sub-agents included) is answered, in order, and
// feeding back the recorded tool results never counts as a divergence
// (calls without a recorded result may show as missing or unrecorded).
//
// Hand-derived counts (distinct message.id of assistant lines, by
// isSidechain, from
// `jq -c '[.type, .isSidechain, .message.id, (.message.content|…|.type+":"+.name)]'`):
//   - happy__task_non_sdk: main run 2 calls (msg_01RVV…, msg_01LPP…), one
//     Task sub-agent with 3 calls (msg_01GHt…, msg_01HXw…, msg_01UA9…).
//   - ccviewer__5c0375b4: main run 10 calls, two sub-agent transcripts with
//     3 and 7 calls.
func TestCorpusRecordedClaudeCode(t *testing.T) {
	dir := testutil.RequireCorpus(t, "claude-code")
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	want := map[string][]int{ // main run calls, then sub-agent calls sorted
		"happy__task_non_sdk":                            {2, 3},
		"ccviewer__5c0375b4-57a5-4f26-b12d-d022ee4e51b7": {10, 3, 7},
	}
	seen := 0
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
		run, err := trace.Collect(func(e trace.Emitter) error {
			_, err := importers.Import(context.Background(), path, "", trace.Options{}, e)
			return err
		})
		if err != nil {
			t.Errorf("%s: import: %v", name, err)
			continue
		}
		calls := map[string]int{}
		divs := replayRecorded(t, NewRecorded(run), run, calls, nil)
		for _, d := range divs {
			if d.Kind == DivergedResult {
				t.Errorf("%s: %s", name, d)
			} else {
				t.Logf("%s: %s", name, d)
			}
		}
		// A sandbox that answers WebFetch differently is noticed, in the
		// sub-agent run that made the call.
		if name == "happy__task_non_sdk" {
			divs := replayRecorded(t, NewRecorded(run), run, map[string]int{}, func(tool, text string) string {
				if tool == "WebFetch" {
					return text + " (fetched again)"
				}
				return text
			})
			if len(divs) != 1 || divs[0].Kind != DivergedResult || divs[0].Tool != "WebFetch" || divs[0].Run == "" || divs[0].Call != 2 {
				t.Errorf("%s with WebFetch altered: divergences %v, want one in the sub-agent's call 3", name, divs)
			}
		}
		w, ok := want[name]
		if !ok {
			continue
		}
		seen++
		got := []int{calls[""]}
		var subs []int
		for k, n := range calls {
			if k != "" {
				subs = append(subs, n)
			}
		}
		slices.Sort(subs)
		got = append(got, subs...)
		if d := cmp.Diff(w, got); d != "" {
			t.Errorf("%s: calls answered (main, then sub-agents) (-want +got):\n%s", name, d)
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d hand-checked transcripts", seen, len(want))
	}
}
