// Package openhands imports OpenHands trajectories: the event stream of one
// conversation (a JSON list of events, as OpenHands saves a trajectory),
// and the JSON Lines outputs of its evaluation harness and issue resolver,
// one record per instance or issue:
//
//	{"instance_id", "instance": {"repo", "base_commit", …}, "instruction", "metadata": {"llm_config", "agent_class", …},
//	 "history": [events…], "metrics": {"accumulated_cost", "accumulated_token_usage", …},
//	 "test_result": {"git_patch", "report"?: {"resolved"}}, "error"}
//	{"issue": {"owner", "repo", "number"}, "issue_type", "base_commit", "git_patch", "history", "metrics", "success", …}
//
// # Events
//
// An event is an action ({id, source, action, args, tool_call_metadata?})
// or an observation ({id, cause, observation, content, extras}); older
// resolver outputs write the args (or extras) flat into the event, without
// id, source or cause. The first "system" action is the system prompt and
// its tool definitions. A user "message" is a user message; an agent action
// that carries tool_call_metadata.model_response is one model call (the
// full chat.completion with usage, counted once per response id however
// many actions it produced) and one tool call (tool_call_metadata
// .function_name and .tool_call_id, the arguments of the matching tool call
// in the response); its observation is the event whose cause is its id (in
// the old layout: the next observation), and the observation's content is
// the result, with extras.metadata.exit_code for shell commands. An agent
// action without model response (old layout) is a model call without usage,
// its thought as text, and a tool call named as OpenHands' tools are
// (execute_bash, execute_ipython_cell, str_replace_editor, think, finish,
// browser). An error observation without cause (OpenHands refused the
// model's tool call) is a harness note the model saw: a Meta user message.
// State changes, recalls and empty observations are not steps.
//
// Usage: litellm's prompt_tokens include cache reads and writes, which are
// subtracted.
//
// # Records
//
// An output file is a trace.Multi: each line is a run of its own (key: the
// instance_id, else owner/repo#number of the issue, else "line N"), and the
// records of one file share the file's base name as their session. Refs:
// instance.repo and instance.base_commit (or issue.owner/issue.repo and
// base_commit) are recorded refs; a record whose base commit is missing or
// empty imports with a warning naming it and the field. The patch
// (test_result.git_patch, or git_patch) is the run's patch and decision;
// test_result.report.resolved (an evaluated SWE-bench record) or the
// resolver's success is its verdict.
package openhands

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/sweagent"
)

// Name is the format name used by --format and stored in runs.
const Name = "openhands"

// Format is the OpenHands trajectory and evaluation-output format.
type Format struct{}

// Name implements trace.Format.
func (Format) Name() string { return Name }

var (
	listRE   = regexp.MustCompile(`^\s*\[\s*\{`)
	sourceRE = regexp.MustCompile(`"source"\s*:\s*"(user|agent|environment)"`)
	kindRE   = regexp.MustCompile(`"(action|observation)"\s*:\s*"`)
	recKeyRE = regexp.MustCompile(`"(instance_id|git_patch|test_result|issue)"\s*:`)
	recRE    = regexp.MustCompile(`"(history|instruction)"\s*:`)
)

// Detect implements trace.Format: a JSON list whose first event has a
// source and an action or observation, or JSON Lines whose first record
// has an instance or issue and a history or instruction.
func (Format) Detect(src *trace.Source) bool {
	if src.IsDir {
		return false
	}
	h := bytes.TrimPrefix(src.Head, []byte("\xef\xbb\xbf"))
	if listRE.Match(h) {
		first := h[:min(len(h), 4096)]
		return sourceRE.Match(first) && kindRE.Match(first)
	}
	t := bytes.TrimLeft(h, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return false
	}
	line, _, _ := bytes.Cut(t, []byte("\n"))
	return recKeyRE.Match(line) && recRE.Match(line)
}

func isList(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b := make([]byte, 512)
	n, _ := f.Read(b)
	t := bytes.TrimLeft(bytes.TrimPrefix(b[:n], []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(t) > 0 && t[0] == '[', nil
}

// Records implements trace.Multi: the keys of an output file's records (an
// event-stream trajectory is one record, key "").
func (Format) Records(ctx context.Context, src *trace.Source, opts trace.Options) ([]string, error) {
	list, err := isList(src.Path)
	if err != nil {
		return nil, err
	}
	if list {
		return []string{""}, nil
	}
	f, err := os.Open(src.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var keys []string
	err = trace.ScanLines(ctx, f, src.Path, opts, func(trace.Warning) {}, func(n int, b []byte) error {
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return trace.BadJSON(err)
		}
		keys = append(keys, r.key(n))
		return nil
	})
	return uniqueKeys(keys), err
}

// uniqueKeys suffixes repeated keys with "#N".
func uniqueKeys(keys []string) []string {
	seen := map[string]int{}
	for i, k := range keys {
		seen[k]++
		if n := seen[k]; n > 1 {
			keys[i] = fmt.Sprintf("%s#%d", k, n)
		}
	}
	return keys
}

// Import implements trace.Format.
func (Format) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	list, err := isList(src.Path)
	if err != nil {
		return err
	}
	if list {
		b, err := os.ReadFile(src.Path)
		if err != nil {
			return err
		}
		var events []json.RawMessage
		if err := json.Unmarshal(b, &events); err != nil {
			return fmt.Errorf("%s: not an OpenHands event list: %w", src.Path, trace.BadJSON(err))
		}
		meta := trace.RunMeta{Format: Name, Source: src.Path, Session: strings.TrimSuffix(filepath.Base(src.Path), filepath.Ext(src.Path))}
		c := &converter{name: src.Path, e: e, meta: meta}
		if err := c.events(ctx, events); err != nil {
			return err
		}
		return c.finish(nil)
	}
	return importRecords(ctx, src, opts, e)
}

// record is one line of an evaluation or resolver output.
type record struct {
	InstanceID string `json:"instance_id"`
	Instance   *struct {
		Repo       string `json:"repo"`
		BaseCommit string `json:"base_commit"`
		InstanceID string `json:"instance_id"`
		Image      string `json:"image"`
	} `json:"instance"`
	Issue *struct {
		Owner  string `json:"owner"`
		Repo   string `json:"repo"`
		Number int64  `json:"number"`
	} `json:"issue"`
	IssueType   string            `json:"issue_type"`
	BaseCommit  *string           `json:"base_commit"`
	GitPatch    *string           `json:"git_patch"`
	Instruction string            `json:"instruction"`
	History     []json.RawMessage `json:"history"`
	Metadata    *struct {
		AgentClass string `json:"agent_class"`
		GitCommit  string `json:"git_commit"`
		Dataset    string `json:"dataset"`
		LLMConfig  *struct {
			Model       string   `json:"model"`
			Temperature *float64 `json:"temperature"`
			TopP        *float64 `json:"top_p"`
		} `json:"llm_config"`
	} `json:"metadata"`
	Metrics *struct {
		AccumulatedCost       *float64  `json:"accumulated_cost"`
		AccumulatedTokenUsage *tokUsage `json:"accumulated_token_usage"`
	} `json:"metrics"`
	TestResult *struct {
		GitPatch *string `json:"git_patch"`
		Report   *struct {
			Resolved *bool `json:"resolved"`
		} `json:"report"`
	} `json:"test_result"`
	Success *bool           `json:"success"`
	Error   json.RawMessage `json:"error"`
}

type tokUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	CacheReadTokens  int64 `json:"cache_read_tokens"`
	CacheWriteTokens int64 `json:"cache_write_tokens"`
}

func (r *record) key(line int) string {
	switch {
	case r.InstanceID != "":
		return r.InstanceID
	case r.Instance != nil && r.Instance.InstanceID != "":
		return r.Instance.InstanceID
	case r.Issue != nil && r.Issue.Owner != "" && r.Issue.Repo != "":
		return fmt.Sprintf("%s/%s#%d", r.Issue.Owner, r.Issue.Repo, r.Issue.Number)
	}
	return fmt.Sprintf("line %d", line)
}

func importRecords(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	f, err := os.Open(src.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	session := strings.TrimSuffix(filepath.Base(src.Path), filepath.Ext(src.Path))
	var (
		keys     []string
		done     bool
		imported string
		warns    []trace.Warning
	)
	seen := map[string]int{}
	err = trace.ScanLines(ctx, f, src.Path, opts, func(w trace.Warning) { warns = append(warns, w) }, func(n int, b []byte) error {
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return trace.BadJSON(err)
		}
		key := r.key(n)
		seen[key]++
		if c := seen[key]; c > 1 {
			key = fmt.Sprintf("%s#%d", key, c)
		}
		keys = append(keys, key)
		if done || (opts.Record != "" && key != opts.Record) {
			return nil
		}
		done, imported = true, key
		return importRecord(ctx, &r, src.Path, n, key, session, e)
	})
	if err != nil {
		return err
	}
	for i := range warns {
		if err := e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &warns[i]}); err != nil {
			return err
		}
	}
	switch {
	case len(keys) == 0:
		return fmt.Errorf("%s: %w: no records", src.Path, trace.ErrNotTrace)
	case !done:
		return fmt.Errorf("%s: no record %q (the file holds %s)", src.Path, opts.Record, strings.Join(keys, ", "))
	case opts.Record == "" && len(keys) > 1:
		return e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &trace.Warning{File: src.Path, Message: fmt.Sprintf(
			"the file holds %d records (%s); this run is the first, %q: `replay import` stores each record as a run of its own",
			len(keys), strings.Join(keys, ", "), imported)}})
	}
	return nil
}

func importRecord(ctx context.Context, r *record, name string, line int, key, session string, e trace.Emitter) error {
	warn := func(msg string, args ...any) error {
		return e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &trace.Warning{File: name, Line: line, Message: fmt.Sprintf(msg, args...)}})
	}
	meta := trace.RunMeta{Format: Name, Source: name, Session: session, Instance: key}
	refs := &meta.Refs
	var pending []func() error
	switch {
	case r.Instance != nil:
		if r.Instance.Repo != "" {
			refs.Repo = &trace.Ref{Value: r.Instance.Repo, Provenance: trace.Recorded, From: "instance.repo"}
		} else {
			pending = append(pending, func() error {
				return warn("record %q: no repository (instance.repo is empty); give --repo to replay it", key)
			})
		}
		if r.Instance.BaseCommit != "" {
			refs.BaseCommit = &trace.Ref{Value: r.Instance.BaseCommit, Provenance: trace.Recorded, From: "instance.base_commit"}
		} else {
			pending = append(pending, func() error {
				return warn("record %q: no base commit (instance.base_commit is missing or empty); give --commit to replay it", key)
			})
		}
		if r.Instance.Image != "" {
			refs.Image = &trace.Ref{Value: r.Instance.Image, Provenance: trace.Recorded, From: "instance.image"}
		}
	case r.Issue != nil:
		repo := r.Issue.Owner + "/" + r.Issue.Repo
		refs.Repo = &trace.Ref{Value: repo, Provenance: trace.Recorded, From: "issue.owner, issue.repo"}
		item := &trace.Ref{Value: fmt.Sprintf("%s#%d", repo, r.Issue.Number), Provenance: trace.Recorded, From: "issue.number"}
		if r.IssueType == "pr" {
			refs.PR = item
		} else {
			refs.Issue = item
		}
		refs.WorkItem = &trace.Ref{Value: item.Value, Provenance: trace.Recorded, From: "issue"}
		if r.BaseCommit != nil && *r.BaseCommit != "" {
			refs.BaseCommit = &trace.Ref{Value: *r.BaseCommit, Provenance: trace.Recorded, From: "base_commit"}
		} else {
			pending = append(pending, func() error {
				return warn("record %q: no base commit (base_commit is missing or empty); give --commit to replay it", key)
			})
		}
	default:
		pending = append(pending, func() error {
			return warn("record %q: no repository and no base commit (neither instance.repo/instance.base_commit nor issue/base_commit); give --repo and --commit to replay it", key)
		})
	}
	if md := r.Metadata; md != nil {
		meta.Agent = md.AgentClass
		if md.GitCommit != "" {
			meta.Generator = "OpenHands " + md.GitCommit
		}
		if c := md.LLMConfig; c != nil {
			meta.Defaults = trace.Params{Model: c.Model, Temperature: c.Temperature, TopP: c.TopP}
		}
		if md.Dataset != "" {
			meta.Attributes = map[string]string{"openhands.dataset": md.Dataset}
		}
	}
	c := &converter{name: name, line: line, e: e, meta: meta, instruction: r.Instruction}
	if err := c.events(ctx, r.History); err != nil {
		return err
	}
	for _, p := range pending {
		if err := p(); err != nil {
			return err
		}
	}
	return c.finish(r)
}

// event is one OpenHands event, in the current layout or the old flat one.
type event struct {
	ID           *int64          `json:"id"`
	Timestamp    string          `json:"timestamp"`
	Source       string          `json:"source"`
	Message      string          `json:"message"`
	Action       string          `json:"action"`
	Args         json.RawMessage `json:"args"`
	Observation  string          `json:"observation"`
	Cause        *int64          `json:"cause"`
	Content      *string         `json:"content"`
	Extras       json.RawMessage `json:"extras"`
	ToolCallMeta *struct {
		FunctionName  string         `json:"function_name"`
		ToolCallID    string         `json:"tool_call_id"`
		ModelResponse *modelResponse `json:"model_response"`
	} `json:"tool_call_metadata"`
}

type modelResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		FinishReason string `json:"finish_reason"`
		Message      struct {
			Content   json.RawMessage `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int64 `json:"prompt_tokens"`
		CompletionTokens    int64 `json:"completion_tokens"`
		CacheCreationTokens int64 `json:"cache_creation_input_tokens"`
		CacheReadTokens     int64 `json:"cache_read_input_tokens"`
		PromptDetails       *struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
		CompletionDetails *struct {
			ReasoningTokens int64 `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
	} `json:"usage"`
}

type converter struct {
	name        string
	line        int // the record's line (JSONL), 0 for an event list
	e           trace.Emitter
	meta        trace.RunMeta
	instruction string
	declared    bool
	responses   map[string]bool            // model responses already emitted
	args        map[string]json.RawMessage // tool call arguments by call id, from the responses
	pending     []*pendingCall             // tool calls awaiting their observation
	finished    bool
	sawCwd      bool // a recorded working directory was declared
	final       string
	calls       int
}

type pendingCall struct {
	id   *int64
	tool *trace.ToolCall
	time time.Time
}

func (c *converter) declare() error {
	if c.declared {
		return nil
	}
	c.declared = true
	if c.meta.Refs.Cwd == nil {
		c.meta.Refs.Cwd = &trace.Ref{Value: "/workspace", Provenance: trace.Inferred, From: "OpenHands' sandbox works in /workspace"}
	}
	return c.e.Emit(&trace.Event{Type: trace.EvRun, Meta: &c.meta})
}

func (c *converter) emit(ev *trace.Event) error {
	if err := c.declare(); err != nil {
		return err
	}
	return c.e.Emit(ev)
}

// args returns an event's arguments: args, or the event itself in the old
// layout.
func (ev *event) args(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	src := ev.Args
	if len(bytes.TrimSpace(src)) == 0 || string(bytes.TrimSpace(src)) == "null" {
		src = raw
	}
	json.Unmarshal(src, &m)
	return m
}

func str(m map[string]json.RawMessage, key string) string {
	var s string
	json.Unmarshal(m[key], &s)
	return s
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// toolNames are OpenHands' tool names for the actions of the old layout.
var toolNames = map[string]string{
	"run": "execute_bash", "run_ipython": "execute_ipython_cell", "read": "str_replace_editor",
	"edit": "str_replace_editor", "think": "think", "finish": "finish", "browse": "browser",
	"browse_interactive": "browser", "delegate": "delegate",
}

func (c *converter) events(ctx context.Context, raws []json.RawMessage) error {
	for i, raw := range raws {
		if i&63 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var ev event
		if err := json.Unmarshal(raw, &ev); err != nil {
			if werr := c.warnf("event %d is not an OpenHands event (%v); skipped", i, err); werr != nil {
				return werr
			}
			continue
		}
		if err := c.event(&ev, raw); err != nil {
			return err
		}
	}
	return nil
}

func (c *converter) warnf(msg string, args ...any) error {
	return c.emit(&trace.Event{Type: trace.EvWarning, Warning: &trace.Warning{File: c.name, Line: c.line, Message: fmt.Sprintf(msg, args...)}})
}

func (c *converter) event(ev *event, raw json.RawMessage) error {
	at := parseTime(ev.Timestamp)
	if c.meta.StartedAt.IsZero() && !at.IsZero() {
		c.meta.StartedAt = at
	}
	switch {
	case ev.Action == "system":
		a := ev.args(raw)
		if !c.declared && c.meta.Instr.System == "" {
			c.meta.Instr.System = str(a, "content")
			c.meta.Instr.Tools = toolDefs(a["tools"])
			if v := str(a, "openhands_version"); v != "" && c.meta.Generator == "" {
				c.meta.Generator = "OpenHands " + v
			}
			if ac := str(a, "agent_class"); ac != "" && c.meta.Agent == "" {
				c.meta.Agent = ac
			}
		}
		return nil
	case ev.Action == "message" && (ev.Source == "user" || (ev.Source == "" && ev.ToolCallMeta == nil && !c.sawAgent())):
		a := ev.args(raw)
		text := str(a, "content")
		if text == "" {
			text = ev.Message
		}
		if err := c.flush(); err != nil {
			return err
		}
		return c.emit(&trace.Event{Type: trace.EvMessage, Time: at, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: text}}}})
	case ev.Action != "":
		if ev.Source == "environment" || ev.Action == "recall" || ev.Action == "change_agent_state" {
			return nil
		}
		return c.action(ev, raw, at)
	case ev.Observation != "":
		return c.observation(ev, raw)
	}
	return nil
}

func (c *converter) sawAgent() bool { return c.calls > 0 }

func (c *converter) action(ev *event, raw json.RawMessage, at time.Time) error {
	a := ev.args(raw)
	thought := str(a, "thought")
	var resp *modelResponse
	name, callID := toolNames[ev.Action], ""
	if m := ev.ToolCallMeta; m != nil {
		resp = m.ModelResponse
		if m.FunctionName != "" {
			name = m.FunctionName
		}
		callID = m.ToolCallID
	}
	if ev.Action == "message" {
		name = ""
		if thought == "" {
			thought = str(a, "content")
		}
	}
	c.calls++
	if callID == "" && name != "" {
		callID = fmt.Sprintf("call-%d", c.calls)
	}
	if resp != nil {
		for _, ch := range resp.Choices {
			for _, tc := range ch.Message.ToolCalls {
				if json.Valid([]byte(tc.Function.Arguments)) {
					if c.args == nil {
						c.args = map[string]json.RawMessage{}
					}
					c.args[tc.ID] = json.RawMessage(tc.Function.Arguments)
				}
			}
		}
	}
	args := c.args[callID]
	if args == nil && name != "" {
		args = oldArgs(ev.Action, a)
	}
	// The model call: once per response. A new response ends the calls of
	// the previous one that got no observation.
	if resp == nil || !c.responses[resp.ID] {
		if err := c.flush(); err != nil {
			return err
		}
		llm := &trace.LLMCall{Model: c.meta.Defaults.Model, Output: trace.Message{Role: "assistant"}}
		if resp != nil {
			if c.responses == nil {
				c.responses = map[string]bool{}
			}
			c.responses[resp.ID] = true
			llm.ID, llm.Model, llm.Usage = resp.ID, resp.Model, usageOf(resp)
			for _, ch := range resp.Choices[:min(1, len(resp.Choices))] {
				llm.StopReason = ch.FinishReason
				if t := contentText(ch.Message.Content); t != "" {
					llm.Output.Parts = append(llm.Output.Parts, trace.Part{Type: trace.PartText, Text: t})
				}
				for _, tc := range ch.Message.ToolCalls {
					var ta json.RawMessage
					if json.Valid([]byte(tc.Function.Arguments)) {
						ta = json.RawMessage(tc.Function.Arguments)
					}
					llm.Output.Parts = append(llm.Output.Parts, trace.Part{Type: trace.PartToolCall, ID: tc.ID, Name: tc.Function.Name, Arguments: ta})
				}
			}
		} else {
			if thought != "" {
				llm.Output.Parts = append(llm.Output.Parts, trace.Part{Type: trace.PartText, Text: thought})
			}
			if name != "" {
				llm.Output.Parts = append(llm.Output.Parts, trace.Part{Type: trace.PartToolCall, ID: callID, Name: name, Arguments: args})
			}
		}
		if t := llm.Output.Text(); t != "" {
			c.final = t
		}
		if err := c.emit(&trace.Event{Type: trace.EvLLM, Time: at, LLM: llm}); err != nil {
			return err
		}
	}
	if name == "" {
		return nil
	}
	tool := &trace.ToolCall{CallID: callID, Name: name, Arguments: args, Status: trace.ToolMissing}
	if ev.Action == "finish" {
		// finish ends the conversation: OpenHands answers it with no
		// observation.
		c.finished = true
		if t := str(a, "final_thought"); t != "" {
			c.final = t
		} else if t := str(a, "message"); t != "" {
			c.final = t
		}
		tool.Status = trace.ToolOK
		return c.emit(&trace.Event{Type: trace.EvTool, Time: at, Tool: tool})
	}
	c.pending = append(c.pending, &pendingCall{id: ev.ID, tool: tool, time: at})
	return nil
}

// oldArgs makes tool arguments from an action's args, as OpenHands' tools
// take them.
func oldArgs(action string, a map[string]json.RawMessage) json.RawMessage {
	m := map[string]json.RawMessage{}
	for k, v := range a {
		switch k {
		case "thought", "action", "keep_prompt", "is_confirmed", "confirmation_state", "action_risk", "security_risk",
			"blocking", "hidden", "is_static", "cwd", "images_urls", "wait_for_response", "outputs", "kernel_init_code":
			continue
		}
		m[k] = v
	}
	if action == "read" {
		if _, ok := m["command"]; !ok {
			m["command"] = json.RawMessage(`"view"`)
		}
	}
	b, _ := json.Marshal(m)
	return b
}

func (c *converter) observation(ev *event, raw json.RawMessage) error {
	text := ""
	if ev.Content != nil {
		text = *ev.Content
	}
	switch ev.Observation {
	case "null", "agent_state_changed", "recall", "user_rejected":
		if ev.Observation == "recall" && strings.TrimSpace(text) != "" {
			if err := c.flush(); err != nil {
				return err
			}
			return c.emit(&trace.Event{Type: trace.EvMessage, Message: &trace.Message{Role: "user", Meta: true, Parts: []trace.Part{{Type: trace.PartText, Text: text}}}})
		}
		return nil
	}
	// Find the call it answers: by cause, else (old layout) the oldest.
	idx := -1
	for i, p := range c.pending {
		if ev.Cause != nil && p.id != nil && *p.id == *ev.Cause {
			idx = i
			break
		}
	}
	if idx < 0 && ev.Cause == nil && ev.ID == nil && len(c.pending) > 0 {
		idx = 0
	}
	if idx < 0 {
		if ev.Observation == "error" && text != "" {
			if err := c.flush(); err != nil {
				return err
			}
			return c.emit(&trace.Event{Type: trace.EvMessage, Message: &trace.Message{Role: "user", Meta: true, Parts: []trace.Part{{Type: trace.PartText, Text: text}}}})
		}
		return nil
	}
	p := c.pending[idx]
	t := p.tool
	t.Output, t.Status = text, trace.ToolOK
	var ex struct {
		ExitCode *int `json:"exit_code"`
		Metadata *struct {
			ExitCode   *int   `json:"exit_code"`
			WorkingDir string `json:"working_dir"`
		} `json:"metadata"`
	}
	src := ev.Extras
	if len(bytes.TrimSpace(src)) == 0 || string(bytes.TrimSpace(src)) == "null" {
		src = raw
	}
	json.Unmarshal(src, &ex)
	if m := ex.Metadata; m != nil && strings.HasPrefix(m.WorkingDir, "/") && !c.sawCwd {
		// The shell's first working directory is where the run started
		// (the repository, in an evaluation).
		c.sawCwd = true
		cwd := &trace.Ref{Value: m.WorkingDir, Provenance: trace.Recorded, From: "the first shell observation's extras.metadata.working_dir"}
		if err := c.emit(&trace.Event{Type: trace.EvRun, Meta: &trace.RunMeta{Refs: trace.Refs{Cwd: cwd}}}); err != nil {
			return err
		}
	}
	switch {
	case ex.Metadata != nil && ex.Metadata.ExitCode != nil:
		t.ExitCode = ex.Metadata.ExitCode
	case ex.ExitCode != nil:
		t.ExitCode = ex.ExitCode
	}
	if ev.Observation == "error" {
		t.Status = trace.ToolError
	}
	if at := parseTime(ev.Timestamp); !at.IsZero() && !p.time.IsZero() && at.After(p.time) {
		t.DurationMS = at.Sub(p.time).Milliseconds()
	}
	// Calls before it that got no observation are emitted as missing.
	for _, q := range c.pending[:idx] {
		if err := c.emit(&trace.Event{Type: trace.EvTool, Time: q.time, Tool: q.tool}); err != nil {
			return err
		}
	}
	c.pending = c.pending[idx+1:]
	return c.emit(&trace.Event{Type: trace.EvTool, Time: p.time, Tool: t})
}

func (c *converter) flush() error {
	for _, p := range c.pending {
		if err := c.emit(&trace.Event{Type: trace.EvTool, Time: p.time, Tool: p.tool}); err != nil {
			return err
		}
	}
	c.pending = nil
	return nil
}

func (c *converter) finish(r *record) error {
	if err := c.flush(); err != nil {
		return err
	}
	if !c.declared && c.instruction != "" {
		// A record without history: its instruction is the conversation.
		if err := c.emit(&trace.Event{Type: trace.EvMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: c.instruction}}}}); err != nil {
			return err
		}
	}
	if err := c.declare(); err != nil {
		return err
	}
	o := &trace.Outcome{Status: trace.StatusUnknown, Final: c.final}
	if c.finished {
		o.Status = trace.StatusOK
	}
	if r != nil {
		patch := r.GitPatch
		from := "git_patch"
		if tr := r.TestResult; tr != nil {
			if tr.GitPatch != nil {
				patch, from = tr.GitPatch, "test_result.git_patch"
			}
			if tr.Report != nil && tr.Report.Resolved != nil {
				o.Resolved, o.ResolvedFrom = tr.Report.Resolved, "test_result.report.resolved"
			}
		}
		if o.Resolved == nil && r.Success != nil {
			o.Resolved, o.ResolvedFrom = r.Success, "success"
		}
		if patch != nil {
			o.Patch = sweagent.NormalizePatch(*patch)
			v, _ := json.Marshal(struct {
				Files    []string `json:"files"`
				Resolved *bool    `json:"resolved,omitempty"`
			}{sweagent.PatchFiles(o.Patch), o.Resolved})
			o.Decision = &trace.Decision{Kind: "patch", Source: from, Value: v}
		}
		var errText string
		if json.Unmarshal(r.Error, &errText) == nil && errText != "" {
			o.Status, o.Error = trace.StatusError, errText
		}
		if m := r.Metrics; m != nil {
			tot := &trace.Totals{}
			if m.AccumulatedCost != nil && *m.AccumulatedCost > 0 {
				tot.CostUSD = m.AccumulatedCost
			}
			if u := m.AccumulatedTokenUsage; u != nil && (u.PromptTokens > 0 || u.CompletionTokens > 0) {
				tot.Usage = &trace.Usage{Input: max(0, u.PromptTokens-u.CacheReadTokens-u.CacheWriteTokens), Output: u.CompletionTokens,
					CacheRead: u.CacheReadTokens, CacheWrite: u.CacheWriteTokens}
			}
			if tot.CostUSD != nil || tot.Usage != nil {
				o.Recorded = tot
			}
		}
	}
	return c.e.Emit(&trace.Event{Type: trace.EvOutcome, Outcome: o})
}

func usageOf(r *modelResponse) *trace.Usage {
	u := r.Usage
	if u == nil {
		return nil
	}
	read := u.CacheReadTokens
	if read == 0 && u.PromptDetails != nil {
		read = u.PromptDetails.CachedTokens
	}
	out := &trace.Usage{Input: max(0, u.PromptTokens-read-u.CacheCreationTokens), Output: u.CompletionTokens, CacheRead: read, CacheWrite: u.CacheCreationTokens}
	if u.CompletionDetails != nil {
		out.Reasoning = u.CompletionDetails.ReasoningTokens
	}
	return out
}

func toolDefs(raw json.RawMessage) []trace.ToolDef {
	var tools []struct {
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &tools) != nil {
		return nil
	}
	var defs []trace.ToolDef
	for _, t := range tools {
		if t.Function.Name != "" {
			defs = append(defs, trace.ToolDef{Name: t.Function.Name, Description: t.Function.Description, Schema: t.Function.Parameters})
		}
	}
	return defs
}

func contentText(raw json.RawMessage) string { return trace.ContentText(raw) }
