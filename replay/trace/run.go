// Package trace holds the canonical run model, the native JSONL codec and the
// interfaces the format importers implement.
//
// A run is what one agent invocation did: identity, the git/GitHub refs it
// points to, its instructions, an ordered list of steps (messages added to the
// conversation, model responses, tool invocations), and its outcome. Sub-agent
// runs are child runs of the run that started them.
//
// Importers do not build a Run in memory: they emit a stream of Events (see
// event.go) so that a 500 MB trace can be imported in bounded memory. A Run is
// what Collect builds from such a stream when the whole run is wanted.
package trace

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Step kinds.
const (
	KindMessage = "message" // a message added to the conversation (user prompt, system note)
	KindLLM     = "llm"     // one model response, counted once
	KindTool    = "tool"    // one tool invocation with its result
)

// Provenance of a ref.
const (
	Recorded = "recorded" // written in the trace
	Inferred = "inferred" // derived from other data; From says how
	Flag     = "flag"     // given on the command line
)

// Run statuses.
const (
	StatusOK          = "ok"
	StatusError       = "error"
	StatusInterrupted = "interrupted"
	StatusUnknown     = "unknown"
)

// Run is one agent invocation with its sub-agent runs.
type Run struct {
	Meta     RunMeta   `json:"meta"`
	Steps    []Step    `json:"steps,omitempty"`
	Outcome  *Outcome  `json:"outcome,omitempty"`
	Children []*Run    `json:"children,omitempty"`
	Warnings []Warning `json:"warnings,omitempty"` // main run only: warnings of the whole import
	// Feedback is what humans did about the run (main run only): from
	// feedback events in the trace, a feedback file or GitHub, oldest
	// first.
	Feedback []Feedback `json:"feedback,omitempty"`
	// Effects are the GitHub writes the run made, in order (EvEffect
	// events; traces of native version 1 and other formats have none).
	Effects []Effect `json:"effects,omitempty"`
}

// RunMeta is everything about a run that is not a step or its outcome. In an
// event stream a run event may be repeated: later events fill in fields that
// were empty (see RunMeta.Merge), so an importer can declare a run early and
// add what it learns later.
type RunMeta struct {
	Key        string `json:"key,omitempty"`         // local key within the trace; "" is the main run
	ID         string `json:"id,omitempty"`          // store id (main run only, set by the store)
	Parent     string `json:"parent,omitempty"`      // key of the parent run (sub-agents)
	ParentCall string `json:"parent_call,omitempty"` // tool call id in the parent that started this run
	Format     string `json:"format,omitempty"`      // source format name
	Source     string `json:"source,omitempty"`      // source path or URL
	Agent      string `json:"agent,omitempty"`       // role or name of the agent
	// Session is the agent's own session id; Sessions lists further ids when
	// the session id changed mid-trace (Claude Code --continue).
	Session   string   `json:"session,omitempty"`
	Sessions  []string `json:"sessions,omitempty"`
	Generator string   `json:"generator,omitempty"` // program and version that wrote the trace
	// Instance is the benchmark instance the run worked on (a SWE-bench
	// instance_id such as "pydicom__pydicom-1458", an inspect_ai sample id).
	Instance   string            `json:"instance,omitempty"`
	Refs       Refs              `json:"refs,omitzero"`
	Instr      Instructions      `json:"instructions,omitzero"`
	Defaults   Params            `json:"defaults,omitzero"` // model defaults of the run
	StartedAt  time.Time         `json:"started_at,omitzero"`
	EndedAt    time.Time         `json:"ended_at,omitzero"`
	Blockers   []string          `json:"not_replayable,omitempty"` // reasons, from the importer, why the run cannot be replayed
	Attributes map[string]string `json:"attributes,omitempty"`     // other recorded facts worth keeping (e.g. fullsend.* keys)
	// Replay is set on a run that replay produced: what it replays and how.
	Replay *Origin `json:"replay,omitempty"`
}

// Origin links a run produced by replay to the run it replays.
type Origin struct {
	Of      string            `json:"of"`                // id of the original run in the store
	Mode    string            `json:"mode"`              // "verify" or "run"
	Variant map[string]string `json:"variant,omitempty"` // what was changed: flag name -> value
	Sample  int               `json:"sample,omitempty"`  // repetition number (--repeat), from 0
}

// Ref is one pointer to the world with its provenance.
type Ref struct {
	Value      string `json:"value"`
	Provenance string `json:"provenance"`     // Recorded, Inferred or Flag
	From       string `json:"from,omitempty"` // field it came from, or how it was inferred
}

// Refs are the git and GitHub pointers of a run.
type Refs struct {
	Repo       *Ref `json:"repo,omitempty"` // URL or owner/name
	Commit     *Ref `json:"commit,omitempty"`
	BaseCommit *Ref `json:"base_commit,omitempty"`
	Branch     *Ref `json:"branch,omitempty"`
	PR         *Ref `json:"pr,omitempty"`
	Issue      *Ref `json:"issue,omitempty"`
	WorkItem   *Ref `json:"work_item,omitempty"` // owner/repo#N
	Cwd        *Ref `json:"cwd,omitempty"`
	// Image is the container image the run's tools ran in (a benchmark
	// harness records it: SWE-agent's deployment image, SWE-bench's
	// per-instance image).
	Image *Ref `json:"image,omitempty"`
}

// Instructions are what the agent was told before the conversation.
type Instructions struct {
	System        string    `json:"system,omitempty"`
	SystemRef     string    `json:"system_ref,omitempty"` // e.g. owner/repo@ref:path
	PromptName    string    `json:"prompt_name,omitempty"`
	PromptVersion string    `json:"prompt_version,omitempty"`
	Tools         []ToolDef `json:"tools,omitempty"`
}

// ToolDef is a tool the model was offered. Schema may be empty when only the
// name was recorded.
type ToolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
}

// Params are model request parameters.
type Params struct {
	Model       string   `json:"model,omitempty"`
	Provider    string   `json:"provider,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	TopK        *int64   `json:"top_k,omitempty"`
	MaxTokens   *int64   `json:"max_tokens,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	// Effort is the reasoning effort asked for (low, medium, high), when
	// one was.
	Effort string `json:"reasoning_effort,omitempty"`
}

// Step is one entry of a run, in order. Exactly one of Message, LLM and Tool
// is set, as Kind says.
type Step struct {
	Kind    string    `json:"kind"`
	Time    time.Time `json:"time,omitzero"`
	Message *Message  `json:"message,omitempty"`
	LLM     *LLMCall  `json:"llm,omitempty"`
	Tool    *ToolCall `json:"tool,omitempty"`
}

// Message is a chat message made of parts.
type Message struct {
	Role  string `json:"role"` // system, user, assistant, tool
	Name  string `json:"name,omitempty"`
	Parts []Part `json:"parts,omitempty"`
	// Meta marks a message the agent harness injected rather than a human
	// typed (Claude Code isMeta, slash-command expansions, summaries).
	Meta bool `json:"meta,omitempty"`
}

// Text joins the non-empty text parts of m, one a line.
func (m Message) Text() string {
	var texts []string
	for _, p := range m.Parts {
		if p.Type == PartText && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n")
}

// Part types.
const (
	PartText       = "text"
	PartReasoning  = "reasoning"
	PartToolCall   = "tool_call"
	PartToolResult = "tool_result"
	PartImage      = "image"
	PartOther      = "other"
)

// Part is one piece of a message.
type Part struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`   // tool call id (tool_call, tool_result)
	Name      string          `json:"name,omitempty"` // tool name (tool_call)
	Arguments json.RawMessage `json:"arguments,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	Raw       json.RawMessage `json:"raw,omitempty"` // content kept verbatim (images, unknown parts)
}

// LLMCall is one model response, counted once however the source split it.
type LLMCall struct {
	ID     string    `json:"id,omitempty"` // provider response id
	Params Params    `json:"params,omitzero"`
	Model  string    `json:"model,omitempty"` // model that answered
	Input  []Message `json:"input,omitempty"`
	// InputMode says what Input holds: "" when the source did not record the
	// request (the conversation is the preceding steps), "full" when Input is
	// the whole request, "delta" when it holds only messages new since the
	// previous call.
	InputMode  string  `json:"input_mode,omitempty"`
	Output     Message `json:"output"`
	StopReason string  `json:"stop_reason,omitempty"`
	Usage      *Usage  `json:"usage,omitempty"`
	Cost       Cost    `json:"cost,omitzero"`
	LatencyMS  int64   `json:"latency_ms,omitempty"`
	Error      string  `json:"error,omitempty"`     // the call failed (API error)
	Synthetic  bool    `json:"synthetic,omitempty"` // written by the harness, not a model: no spend
	Produced   string  `json:"produced,omitempty"`  // in replays: how the response was obtained (model, cache, recorded)
}

// Usage holds four disjoint token counts. Reasoning is part of Output,
// reported apart when known.
type Usage struct {
	Input      int64 `json:"input"`
	Output     int64 `json:"output"`
	CacheRead  int64 `json:"cache_read"`
	CacheWrite int64 `json:"cache_write"`
	Reasoning  int64 `json:"reasoning,omitempty"`
}

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.Input += o.Input
	u.Output += o.Output
	u.CacheRead += o.CacheRead
	u.CacheWrite += o.CacheWrite
	u.Reasoning += o.Reasoning
}

// IsZero reports whether all counts are zero.
func (u Usage) IsZero() bool { return u == Usage{} }

// Cost in USD: as the source recorded it, and as computed from the pricing
// table. The two are never mixed.
type Cost struct {
	Recorded *float64 `json:"recorded,omitempty"`
	Priced   *float64 `json:"priced,omitempty"`
}

// ToolCall is one tool invocation and its result.
type ToolCall struct {
	CallID    string          `json:"call_id,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Status: ok, error (the tool reported an error), interrupted, or missing
	// (the call was made but no result was recorded).
	Status     string          `json:"status"`
	Output     string          `json:"output,omitempty"`
	OutputRaw  json.RawMessage `json:"output_raw,omitempty"` // non-text result content, verbatim
	ExitCode   *int            `json:"exit_code,omitempty"`
	DurationMS int64           `json:"duration_ms,omitempty"`
	Child      string          `json:"child,omitempty"`    // key of the sub-agent run this call started
	Produced   string          `json:"produced,omitempty"` // in replays: exec, recorded, denied, …
	// Fault, in replays, names the sandbox limit that ended the call
	// (timeout, oom, pids, disk) or the sandbox failure it met (protocol,
	// exited, oom, run_timeout, …: the run stopped there).
	Fault string `json:"fault,omitempty"`
	// Harness, in an original, says that the agent's harness produced the
	// result instead of the tool: HarnessAborted, HarnessRejected,
	// HarnessInterrupted, HarnessHook, HarnessNoPermission, HarnessSandbox.
	// A replay answers such a call from
	// the recording, as the harness would again.
	Harness string          `json:"harness,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"` // source-specific side data (Claude Code toolUseResult)
}

// Harness outcomes (ToolCall.Harness).
const (
	HarnessAborted      = "permission-aborted" // the permission prompt was aborted
	HarnessRejected     = "rejected"           // the user refused the call at the prompt
	HarnessInterrupted  = "interrupted"        // the user interrupted the call
	HarnessHook         = "hook-blocked"       // a hook blocked the call
	HarnessNoPermission = "permission-denied"  // the harness had no permission to run it (claude -p without --allowedTools)
	HarnessSandbox      = "sandbox-denied"     // the harness's own sandbox refused the call (Codex "failed in sandbox …")
)

// Tool statuses.
const (
	ToolOK          = "ok"
	ToolError       = "error"
	ToolInterrupted = "interrupted"
	ToolMissing     = "missing"
)

// Outcome is how a run ended.
type Outcome struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Stopped says why a replay ended before the agent finished: a limit
	// (max-steps, max-cost, timeout), interrupted, model-error,
	// sandbox-fault; StoppedAt is the step (1-based, in its run) where.
	Stopped   string    `json:"stopped,omitempty"`
	StoppedAt int       `json:"stopped_at,omitempty"`
	Final     string    `json:"final,omitempty"` // the final message text
	Decision  *Decision `json:"decision,omitempty"`
	// Patch is the run's change to its workspace as a unified git diff
	// (paths relative to the repository root, a/ and b/ prefixes): what a
	// replay's sandbox reports at the end, or the submission a coding
	// agent's trajectory recorded. Empty when unknown.
	Patch    string  `json:"patch,omitempty"`
	Recorded *Totals `json:"recorded,omitempty"` // totals as the source recorded them
	// Resolved is a benchmark's verdict on the run when one was recorded
	// (SWE-bench's resolved, an inspect_ai scorer's correct/incorrect, the
	// OpenHands resolver's success); nil when none was.
	Resolved *bool `json:"resolved,omitempty"`
	// ResolvedFrom names the field the verdict came from.
	ResolvedFrom string `json:"resolved_from,omitempty"`
}

// IsReviewAction reports whether action is one of the factory's review
// result actions: a decision carrying one is a review.
func IsReviewAction(action string) bool {
	switch action {
	case "approve", "request-changes", "comment", "reject", "failure":
		return true
	}
	return false
}

// Decision is the structured result of a run (for a review: action and
// findings).
type Decision struct {
	Kind   string          `json:"kind,omitempty"`   // e.g. "review"
	Source string          `json:"source,omitempty"` // where it was found: final message, file path, tool call
	Value  json.RawMessage `json:"value,omitempty"`
}

// What a human did about a run (Feedback.Human).
const (
	// HumanOverride: the human decided otherwise (the agent approved, the
	// human requested changes; the agent's review was dismissed).
	HumanOverride = "override"
	// HumanRevert: the change the agent made or let through was reverted.
	HumanRevert = "revert"
	// HumanManualFix: the human fixed by hand what the agent left.
	HumanManualFix = "manual-fix"
	// HumanConfirm: the human agreed with the agent's decision.
	HumanConfirm = "confirm"
)

// IsHumanAct reports whether s is one of the Human* values.
func IsHumanAct(s string) bool {
	switch s {
	case HumanOverride, HumanRevert, HumanManualFix, HumanConfirm:
		return true
	}
	return false
}

// Feedback is one human act about a run: the label an eval case takes
// from production.
type Feedback struct {
	Human string `json:"human"` // HumanOverride, HumanRevert, HumanManualFix or HumanConfirm
	// Decision is the human's decision in the shape of the agent's (e.g.
	// {"action": "request-changes"}), when there is one.
	Decision json.RawMessage `json:"decision,omitempty"`
	By       string          `json:"by,omitempty"`
	At       time.Time       `json:"at,omitzero"`
	URL      string          `json:"url,omitempty"`
	Note     string          `json:"note,omitempty"`
	// Source says where the feedback came from: "trace" (an event in the
	// trace), "file:PATH:LINE" (a --feedback file), "github" (replay
	// feedback fetch).
	Source string `json:"source,omitempty"`
}

// Totals as a source recorded them for a whole run (sub-agents included where
// the source includes them).
type Totals struct {
	CostUSD    *float64 `json:"cost_usd,omitempty"`
	Usage      *Usage   `json:"usage,omitempty"`
	Turns      int64    `json:"turns,omitempty"`
	ToolCalls  int64    `json:"tool_calls,omitempty"`
	DurationMS int64    `json:"duration_ms,omitempty"`
}

// Warning is something an importer noticed but could continue past.
type Warning struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Field is the JSON path of the value the warning is about (e.g.
	// "message.usage"), when it is about one.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// String renders w as "file:line: field: message", leaving out what is unset.
func (w Warning) String() string {
	msg := w.Message
	if w.Field != "" {
		msg = w.Field + ": " + msg
	}
	switch {
	case w.File != "" && w.Line > 0:
		return w.File + ":" + strconv.Itoa(w.Line) + ": " + msg
	case w.File != "":
		return w.File + ": " + msg
	}
	return msg
}

// Float returns a pointer to f.
func Float(f float64) *float64 { return &f }

// Int returns a pointer to n.
func Int(n int64) *int64 { return &n }

// ContentText is the text of a chat message's content as the OpenAI wire
// format and the tools built on it record it: a string, or a list of
// {type, text} parts whose texts are joined by newlines ("" for anything
// else).
func ContentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var texts []string
	for _, p := range parts {
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n")
}
