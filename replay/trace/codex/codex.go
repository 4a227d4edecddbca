package codex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Name is the format name used by --format and stored in runs.
const Name = "codex"

// Format is the Codex CLI rollout format.
type Format struct{}

// Name implements trace.Format.
func (Format) Name() string { return Name }

// Detect implements trace.Format: the first line is a rollout line
// ({"timestamp":…,"type":…,"payload":…}) or an old rollout's session line.
func (Format) Detect(src *trace.Source) bool {
	if src.IsDir {
		return false
	}
	h := bytes.TrimLeft(src.Head, " \t\r\n")
	h = bytes.TrimPrefix(h, []byte("\xef\xbb\xbf"))
	first, _, _ := bytes.Cut(h, []byte("\n"))
	if len(first) == 0 || first[0] != '{' {
		return false
	}
	if bytes.Contains(first, []byte(`"payload"`)) {
		for _, t := range []string{"session_meta", "response_item", "turn_context", "event_msg", "compacted"} {
			if bytes.Contains(first, []byte(`"type":"`+t+`"`)) {
				return true
			}
		}
		return false
	}
	// Before mid-2025 the first line was the session itself:
	// {"id":…,"timestamp":…,"instructions":…,"git":…}.
	prefix := first[:min(len(first), 512)]
	return bytes.HasPrefix(first, []byte(`{"id":"`)) && bytes.Contains(prefix, []byte(`"timestamp":"`)) &&
		(bytes.Contains(first, []byte(`"instructions":`)) || bytes.Contains(first, []byte(`"git":`))) &&
		!bytes.Contains(prefix, []byte(`"type":`))
}

// Import implements trace.Format.
func (Format) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	f, err := os.Open(src.Path)
	if err != nil {
		return fmt.Errorf("import %q: %w", src.Path, err)
	}
	defer f.Close()
	return Decode(ctx, f, src.Path, opts, e)
}

// Decode reads a rollout from r and emits its run. name is used in messages
// and as the run's Source.
func Decode(ctx context.Context, r io.Reader, name string, opts trace.Options, e trace.Emitter) error {
	d := &decoder{
		name:    name,
		e:       e,
		calls:   map[string]*callInfo{},
		unknown: map[string]*unknownType{},
		meta:    trace.RunMeta{Format: Name, Source: name},
	}
	err := trace.ScanLines(ctx, r, name, opts, d.warn, d.line)
	if err != nil {
		return err
	}
	if d.lines == 0 {
		return fmt.Errorf("%s: %w: no rollout records", name, trace.ErrNotTrace)
	}
	if err := d.finish(); err != nil {
		return fmt.Errorf("import %s: %w", name, err)
	}
	return nil
}

// rolloutLine is one line of a rollout.
type rolloutLine struct {
	Timestamp string          `json:"timestamp"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	// Old rollouts: the session line, and the state lines.
	ID         string `json:"id"`
	RecordType string `json:"record_type"`
}

type sessionMeta struct {
	ID               string          `json:"id"`
	Timestamp        string          `json:"timestamp"`
	Cwd              string          `json:"cwd"`
	Originator       string          `json:"originator"`
	CLIVersion       string          `json:"cli_version"`
	Instructions     json.RawMessage `json:"instructions"`
	BaseInstructions json.RawMessage `json:"base_instructions"`
	ModelProvider    string          `json:"model_provider"`
	Source           json.RawMessage `json:"source"`
	ForkedFromID     string          `json:"forked_from_id"`
	AgentNickname    string          `json:"agent_nickname"`
	AgentRole        string          `json:"agent_role"`
	Git              *struct {
		CommitHash    string `json:"commit_hash"`
		Branch        string `json:"branch"`
		RepositoryURL string `json:"repository_url"`
	} `json:"git"`
}

type turnContext struct {
	Cwd            string          `json:"cwd"`
	Model          string          `json:"model"`
	Effort         string          `json:"effort"`
	ApprovalPolicy json.RawMessage `json:"approval_policy"`
	SandboxPolicy  json.RawMessage `json:"sandbox_policy"`
}

type responseItem struct {
	Type             string          `json:"type"`
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	Summary          json.RawMessage `json:"summary"`
	EncryptedContent json.RawMessage `json:"encrypted_content"`
	Name             string          `json:"name"`
	Namespace        string          `json:"namespace"`
	Arguments        json.RawMessage `json:"arguments"`
	Input            json.RawMessage `json:"input"`
	CallID           string          `json:"call_id"`
	ID               string          `json:"id"`
	Output           json.RawMessage `json:"output"`
	Status           string          `json:"status"`
	Action           json.RawMessage `json:"action"`
	Tools            json.RawMessage `json:"tools"`
}

type tokenUsage struct {
	InputTokens           int64 `json:"input_tokens"`
	CachedInputTokens     int64 `json:"cached_input_tokens"`
	OutputTokens          int64 `json:"output_tokens"`
	ReasoningOutputTokens int64 `json:"reasoning_output_tokens"`
	TotalTokens           int64 `json:"total_tokens"`
}

type eventMsg struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Info    *struct {
		Total *tokenUsage `json:"total_token_usage"`
		Last  *tokenUsage `json:"last_token_usage"`
	} `json:"info"`
	// Before the info wrapper (codex ≤ 0.2x) token_count carried the counts
	// of the turn itself.
	InputTokens       *int64          `json:"input_tokens"`
	CachedInputTokens *int64          `json:"cached_input_tokens"`
	OutputTokens      *int64          `json:"output_tokens"`
	ReasoningTokens   *int64          `json:"reasoning_output_tokens"`
	CallID            string          `json:"call_id"`
	ExitCode          *int            `json:"exit_code"`
	Duration          json.RawMessage `json:"duration"`
	Success           *bool           `json:"success"`
	Result            json.RawMessage `json:"result"`
	Reason            string          `json:"reason"`
	Status            string          `json:"status"` // exec_command_end, patch_apply_end: completed, failed, declined
	LastAgentMessage  string          `json:"last_agent_message"`
}

type compactedItem struct {
	Message string `json:"message"`
}

// response is the model response being gathered.
type response struct {
	parts []trace.Part
	start time.Time
	usage *trace.Usage
	uTime time.Time // when its token_count was written
	model string
	calls []string // call ids made in this response
	held  []*trace.Event
	// sawOutput: a tool output of this response arrived before its
	// token_count (possible only before the ordering is known, or in the
	// "after" ordering).
	sawOutput bool
}

// callInfo is a tool call whose result has not been seen.
type callInfo struct {
	line    int // where the call was recorded
	name    string
	args    json.RawMessage
	time    time.Time
	pending bool // its response has not been emitted yet
	// from exec_command_end / patch_apply_end / mcp_tool_call_end
	exit     *int
	durMS    int64
	failed   bool
	declined bool // the user declined the approval (status "declined")
	hasInfo  bool
}

type unknownType struct {
	n, first int
}

// Orderings of token_count and response items (see the package doc).
const (
	orderUnknown = iota
	orderBefore
	orderAfter
)

type decoder struct {
	name  string
	e     trace.Emitter
	lines int
	line0 int // current line number

	meta     trace.RunMeta
	declared bool
	model    string
	provider string

	order       int
	cur         *response
	calls       map[string]*callInfo
	callOrder   []string
	lastTotal   *tokenUsage
	tokenCounts int
	noUsage     int
	responses   int
	orphans     int // tool outputs whose call was not seen
	orphanLine  int
	tally       trace.Tally // wrong-typed values, calls without output

	lastUser     string
	lastUserFrom string

	final      string
	status     string
	errMsg     string
	lastTime   time.Time
	firstTime  time.Time
	unknown    map[string]*unknownType
	unknownOrd []string
	warnings   []trace.Warning
}

func (d *decoder) warn(w trace.Warning) { d.warnings = append(d.warnings, w) }

// decode decodes b into v. A value of the wrong type is left out and
// warned about (named by its path below field), the rest of v still decoded;
// only invalid JSON is an error.
func (d *decoder) decode(field string, b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &te) {
		return err
	}
	rv := reflect.ValueOf(v).Elem()
	rv.Set(reflect.Zero(rv.Type()))
	problems, err := trace.DecodeLoose(b, v)
	if err != nil {
		return err
	}
	for _, p := range problems {
		f := p.Field
		if field != "" {
			f = strings.TrimSuffix(field+"."+f, ".")
		}
		if f == "" {
			d.tally.Add(trace.Warning{File: d.name, Line: d.line0, Message: fmt.Sprintf("the record is %s, not an object; skipped", p.Got)})
			continue
		}
		d.tally.Add(trace.Warning{File: d.name, Line: d.line0, Field: f, Message: p.String() + "; ignored"})
	}
	return nil
}

func (d *decoder) bad(what string, err error) error {
	return trace.BadJSON(fmt.Errorf("%s: %w", what, err))
}

// line handles one line of the rollout.
func (d *decoder) line(n int, b []byte) error {
	d.line0 = n
	var l rolloutLine
	if err := d.decode("", b, &l); err != nil {
		return trace.BadJSON(err)
	}
	d.lines++
	ts := parseTime(l.Timestamp)
	if !ts.IsZero() {
		if d.firstTime.IsZero() {
			d.firstTime = ts
		}
		if ts.After(d.lastTime) {
			d.lastTime = ts
		}
	}
	if len(l.Payload) == 0 {
		return d.oldLine(n, b, l, ts)
	}
	switch l.Type {
	case "session_meta":
		var m sessionMeta
		if err := d.decode("payload", l.Payload, &m); err != nil {
			return d.bad("session_meta", err)
		}
		return d.sessionMeta(&m, ts)
	case "turn_context":
		var tc turnContext
		if err := d.decode("payload", l.Payload, &tc); err != nil {
			return d.bad("turn_context", err)
		}
		d.turnContext(&tc)
		return nil
	case "response_item":
		var it responseItem
		if err := d.decode("payload", l.Payload, &it); err != nil {
			return d.bad("response_item", err)
		}
		return d.responseItem(&it, l.Payload, ts)
	case "event_msg":
		var ev eventMsg
		if err := d.decode("payload", l.Payload, &ev); err != nil {
			return d.bad("event_msg", err)
		}
		return d.eventMsg(&ev, ts)
	case "compacted":
		var c compactedItem
		if err := d.decode("payload", l.Payload, &c); err != nil {
			return d.bad("compacted", err)
		}
		return d.compacted(&c, ts)
	}
	d.count(l.Type, n)
	return nil
}

// oldLine handles a line of a rollout written before the {type, payload}
// wrapper: the session line, state lines and bare response items.
func (d *decoder) oldLine(n int, b []byte, l rolloutLine, ts time.Time) error {
	switch {
	case l.RecordType != "":
		if l.RecordType != "state" {
			d.count("record_type/"+l.RecordType, n)
		}
		return nil
	case l.Type == "" && l.ID != "" && !d.declared:
		var m sessionMeta
		if err := d.decode("", b, &m); err != nil {
			return d.bad("session", err)
		}
		return d.sessionMeta(&m, ts)
	case l.Type != "":
		var it responseItem
		if err := d.decode("", b, &it); err != nil {
			return d.bad(l.Type, err)
		}
		return d.responseItem(&it, b, ts)
	}
	d.count("(untyped)", n)
	return nil
}

func (d *decoder) count(t string, line int) {
	u := d.unknown[t]
	if u == nil {
		u = &unknownType{first: line}
		d.unknown[t] = u
		d.unknownOrd = append(d.unknownOrd, t)
	}
	u.n++
}

// declare emits the run's declaration before its first step.
func (d *decoder) declare() error {
	if d.declared {
		return nil
	}
	d.declared = true
	m := d.meta
	if m.StartedAt.IsZero() {
		m.StartedAt = d.firstTime
	}
	return d.e.Emit(&trace.Event{Type: trace.EvRun, Meta: &m})
}

func recorded(v, from string) *trace.Ref {
	if v == "" {
		return nil
	}
	return &trace.Ref{Value: v, Provenance: trace.Recorded, From: from}
}

func (d *decoder) sessionMeta(m *sessionMeta, ts time.Time) error {
	if d.declared {
		// A resumed or forked rollout can hold another session line.
		if m.ID != "" && m.ID != d.meta.Session {
			return d.e.Emit(&trace.Event{Type: trace.EvRun, Meta: &trace.RunMeta{Sessions: []string{m.ID}}})
		}
		return nil
	}
	dm := &d.meta
	dm.Session = m.ID
	if t := parseTime(m.Timestamp); !t.IsZero() {
		dm.StartedAt = t
	} else {
		dm.StartedAt = ts
	}
	if m.CLIVersion != "" {
		dm.Generator = "codex " + m.CLIVersion
	}
	dm.Refs.Cwd = recorded(m.Cwd, "session_meta.cwd")
	if g := m.Git; g != nil {
		dm.Refs.Commit = recorded(g.CommitHash, "session_meta.git.commit_hash")
		dm.Refs.Branch = recorded(g.Branch, "session_meta.git.branch")
		dm.Refs.Repo = recorded(g.RepositoryURL, "session_meta.git.repository_url")
	}
	dm.Instr.System = instructions(m.BaseInstructions)
	if dm.Instr.System == "" {
		dm.Instr.System = instructions(m.Instructions)
	}
	d.provider = m.ModelProvider
	dm.Defaults.Provider = m.ModelProvider
	attrs := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			attrs[k] = v
		}
	}
	set("codex.originator", m.Originator)
	set("codex.forked_from_id", m.ForkedFromID)
	src, agent := source(m.Source)
	set("codex.source", src)
	dm.Agent = firstNonEmpty(m.AgentRole, m.AgentNickname, agent)
	if len(attrs) > 0 {
		dm.Attributes = attrs
	}
	return d.declare()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// instructions reads base_instructions ({"text":…}) or instructions (a
// string).
func instructions(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.Text
	}
	return ""
}

// source reads session_meta.source: "cli", "exec", … or {"subagent": …}.
// It returns the attribute value and, for a sub-agent, its role.
func source(raw json.RawMessage) (attr, agent string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, ""
	}
	var o struct {
		Subagent json.RawMessage `json:"subagent"`
	}
	if json.Unmarshal(raw, &o) == nil && len(o.Subagent) > 0 {
		var kind string
		if json.Unmarshal(o.Subagent, &kind) == nil {
			return "subagent:" + kind, kind
		}
		var spawn struct {
			ThreadSpawn *struct {
				AgentRole     string `json:"agent_role"`
				AgentNickname string `json:"agent_nickname"`
				ParentThread  string `json:"parent_thread_id"`
			} `json:"thread_spawn"`
		}
		if json.Unmarshal(o.Subagent, &spawn) == nil && spawn.ThreadSpawn != nil {
			return "subagent:thread_spawn:" + spawn.ThreadSpawn.ParentThread, firstNonEmpty(spawn.ThreadSpawn.AgentRole, spawn.ThreadSpawn.AgentNickname)
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String(), ""
	}
	return string(raw), ""
}

func (d *decoder) turnContext(tc *turnContext) {
	if tc.Model != "" {
		d.model = tc.Model
	}
	if d.meta.Defaults.Model == "" && tc.Model != "" {
		d.meta.Defaults.Model = tc.Model
		if d.meta.Attributes == nil {
			d.meta.Attributes = map[string]string{}
		}
		if tc.Effort != "" {
			d.meta.Attributes["codex.reasoning_effort"] = tc.Effort
		}
		if s := compactJSON(tc.ApprovalPolicy); s != "" {
			d.meta.Attributes["codex.approval_policy"] = s
		}
		if s := compactJSON(tc.SandboxPolicy); s != "" {
			d.meta.Attributes["codex.sandbox_policy"] = s
		}
	}
}

// compactJSON renders a small JSON value as an attribute: strings unquoted.
func compactJSON(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

// item returns the response a model item at ts belongs to. Once a tool
// output of the current response was seen, a new model item starts the next
// response (unless token_counts come first, where outputs interleave with
// the calls of their response).
func (d *decoder) item(ts time.Time) (*response, error) {
	if d.cur != nil && d.cur.sawOutput && d.order != orderBefore {
		if err := d.flush(); err != nil {
			return nil, err
		}
	}
	return d.open(ts), nil
}

// open returns the response being gathered, starting one at ts.
func (d *decoder) open(ts time.Time) *response {
	if d.cur == nil {
		d.cur = &response{start: ts, model: d.model}
	}
	if d.cur.start.IsZero() {
		d.cur.start = ts
	}
	return d.cur
}

func (d *decoder) responseItem(it *responseItem, raw json.RawMessage, ts time.Time) error {
	switch it.Type {
	case "message":
		switch it.Role {
		case "assistant":
			r, err := d.item(ts)
			if err != nil {
				return err
			}
			r.parts = append(r.parts, contentParts(it.Content)...)
			return nil
		case "user", "developer", "system":
			if err := d.flush(); err != nil {
				return err
			}
			return d.userItem(it, ts)
		}
		d.count("response_item/message:"+it.Role, d.line0)
		return nil
	case "reasoning":
		r, err := d.item(ts)
		if err != nil {
			return err
		}
		r.parts = append(r.parts, reasoningPart(it, raw))
		return nil
	case "function_call":
		name := it.Name
		if it.Namespace != "" {
			name = it.Namespace + "." + name
		}
		return d.call(firstNonEmpty(it.CallID, it.ID), name, argsFromString(it.Arguments), ts)
	case "custom_tool_call":
		return d.call(firstNonEmpty(it.CallID, it.ID), it.Name, verbatim(it.Input), ts)
	case "local_shell_call":
		return d.call(firstNonEmpty(it.CallID, it.ID), "local_shell", verbatim(it.Action), ts)
	case "web_search_call":
		// Run by the provider: no output is recorded.
		r, err := d.item(ts)
		if err != nil {
			return err
		}
		args := verbatim(it.Action)
		r.parts = append(r.parts, trace.Part{Type: trace.PartToolCall, ID: it.ID, Name: "web_search", Arguments: args})
		status := trace.ToolOK
		if it.Status != "" && it.Status != "completed" {
			status = trace.ToolMissing
		}
		r.held = append(r.held, &trace.Event{Type: trace.EvTool, Time: ts, Tool: &trace.ToolCall{CallID: it.ID, Name: "web_search", Arguments: args, Status: status}})
		return nil
	case "tool_search_call":
		return d.call(firstNonEmpty(it.CallID, it.ID), "tool_search", verbatim(it.Arguments), ts)
	case "function_call_output", "custom_tool_call_output":
		return d.output(it.CallID, it.Output, ts)
	case "tool_search_output":
		return d.output(it.CallID, it.Tools, ts)
	case "ghost_snapshot", "compaction", "compaction_summary", "other":
		return nil
	}
	d.count("response_item/"+it.Type, d.line0)
	return nil
}

// call records a tool call the model made.
func (d *decoder) call(id, name string, args json.RawMessage, ts time.Time) error {
	r, err := d.item(ts)
	if err != nil {
		return err
	}
	r.parts = append(r.parts, trace.Part{Type: trace.PartToolCall, ID: id, Name: name, Arguments: args})
	if id == "" {
		return nil
	}
	if _, dup := d.calls[id]; !dup {
		d.callOrder = append(d.callOrder, id)
	}
	d.calls[id] = &callInfo{line: d.line0, name: name, args: args, time: ts, pending: true}
	r.calls = append(r.calls, id)
	return nil
}

// output turns a tool result into a tool step.
func (d *decoder) output(id string, raw json.RawMessage, ts time.Time) error {
	ci := d.calls[id]
	tc := &trace.ToolCall{CallID: id, Status: trace.ToolOK}
	if ci == nil {
		if d.orphans == 0 {
			d.orphanLine = d.line0
		}
		d.orphans++
	}
	if ci != nil {
		tc.Name, tc.Arguments = ci.name, ci.args
		if !ci.time.IsZero() && !ts.Before(ci.time) {
			tc.DurationMS = ts.Sub(ci.time).Milliseconds()
		}
	}
	unpackOutput(raw, tc)
	if ci != nil && ci.hasInfo {
		applyInfo(tc, ci)
	}
	if tc.Harness = harnessOutcome(tc, ci != nil && ci.declined); tc.Harness != "" && tc.Status == trace.ToolOK {
		tc.Status = trace.ToolError
	}
	ev := &trace.Event{Type: trace.EvTool, Time: ts, Tool: tc}
	delete(d.calls, id)
	if ci != nil && ci.pending && d.cur != nil {
		// Its response is not out yet: the tool step follows it.
		d.cur.held = append(d.cur.held, ev)
		d.cur.sawOutput = true
		return nil
	}
	if err := d.declare(); err != nil {
		return err
	}
	return d.e.Emit(ev)
}

func applyInfo(tc *trace.ToolCall, ci *callInfo) {
	if ci.exit != nil && tc.ExitCode == nil {
		tc.ExitCode = ci.exit
	}
	if ci.durMS > 0 {
		tc.DurationMS = ci.durMS
	}
	if ci.failed || (tc.ExitCode != nil && *tc.ExitCode != 0) {
		if tc.Status == trace.ToolOK {
			tc.Status = trace.ToolError
		}
	}
}

// userItem emits a user (or developer) message from a response item.
func (d *decoder) userItem(it *responseItem, ts time.Time) error {
	parts := contentParts(it.Content)
	m := &trace.Message{Role: "user", Parts: parts}
	if it.Role != "user" {
		m.Role, m.Meta = "system", true
	} else if isHarnessText(parts) {
		m.Meta = true
	}
	if !m.Meta {
		t := textOf(parts)
		if d.lastUserFrom == "event" && strings.TrimSpace(t) == d.lastUser {
			d.lastUser, d.lastUserFrom = "", ""
			return nil
		}
		d.lastUser, d.lastUserFrom = strings.TrimSpace(t), "item"
	}
	if err := d.declare(); err != nil {
		return err
	}
	return d.e.Emit(&trace.Event{Type: trace.EvMessage, Time: ts, Message: m})
}

// harnessPrefixes start the texts Codex injects as user items.
var harnessPrefixes = []string{
	"<environment_context", "<user_instructions", "# AGENTS.md instructions", "<INSTRUCTIONS>",
	"<permissions instructions", "<collaboration_mode", "<user_shell_command", "<turn_aborted",
	"<subagent_notification", "<skill", "<model_switch", "<personality",
}

func isHarnessText(parts []trace.Part) bool {
	if len(parts) == 0 {
		return false
	}
	for _, p := range parts {
		if p.Type != trace.PartText {
			continue
		}
		t := strings.TrimSpace(p.Text)
		ok := false
		for _, h := range harnessPrefixes {
			if strings.HasPrefix(t, h) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func textOf(parts []trace.Part) string {
	var b []string
	for _, p := range parts {
		if p.Type == trace.PartText {
			b = append(b, p.Text)
		}
	}
	return strings.Join(b, "\n")
}

// contentParts reads a message's content items: input_text, output_text,
// input_image; others are kept verbatim.
func contentParts(raw json.RawMessage) []trace.Part {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return []trace.Part{{Type: trace.PartText, Text: s}}
		}
		return nil
	}
	parts := make([]trace.Part, 0, len(items))
	for _, item := range items {
		var c struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		_ = json.Unmarshal(item, &c)
		switch c.Type {
		case "input_text", "output_text", "text":
			parts = append(parts, trace.Part{Type: trace.PartText, Text: c.Text})
		case "input_image":
			parts = append(parts, trace.Part{Type: trace.PartImage, Raw: append(json.RawMessage(nil), item...)})
		default:
			parts = append(parts, trace.Part{Type: trace.PartOther, Raw: append(json.RawMessage(nil), item...)})
		}
	}
	return parts
}

// reasoningPart reads a reasoning item: its summary (and plain content)
// as text, the item verbatim in Raw when it carries encrypted content.
func reasoningPart(it *responseItem, raw json.RawMessage) trace.Part {
	var texts []string
	for _, field := range []json.RawMessage{it.Summary, it.Content} {
		var items []struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(field, &items) == nil {
			for _, s := range items {
				if s.Text != "" {
					texts = append(texts, s.Text)
				}
			}
		}
	}
	p := trace.Part{Type: trace.PartReasoning, Text: strings.Join(texts, "\n\n")}
	if ec := bytes.TrimSpace(it.EncryptedContent); len(ec) > 0 && string(ec) != "null" {
		p.Raw = append(json.RawMessage(nil), raw...)
	}
	return p
}

// argsFromString parses function call arguments, a string holding JSON.
func argsFromString(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return verbatim(raw) // already structured
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return nil
	}
	if json.Valid([]byte(t)) {
		var b bytes.Buffer
		if json.Compact(&b, []byte(t)) == nil {
			return b.Bytes()
		}
	}
	q, _ := json.Marshal(s)
	return q
}

// verbatim copies a raw JSON value (null becomes nothing).
func verbatim(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return append(json.RawMessage(nil), raw...)
}

var (
	exitRe = regexp.MustCompile(`(?m)^(?:Exit code:|Process exited with code) (-?\d+)\s*$`)
	wallRe = regexp.MustCompile(`(?m)^Wall time: ([0-9.]+) ?(?:seconds|s)\s*$`)
)

// unpackOutput reads a tool output: a JSON string holding {"output",
// "metadata"}, shell_command's text, content items, or {content, success}.
func unpackOutput(raw json.RawMessage, tc *trace.ToolCall) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			tc.OutputRaw = verbatim(raw)
			return
		}
		if unpackWrapped(s, tc) {
			return
		}
		tc.Output = s
		head := s[:min(len(s), 512)]
		if m := exitRe.FindStringSubmatch(head); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				tc.ExitCode = &n
				if n != 0 {
					tc.Status = trace.ToolError
				}
			}
		}
		if m := wallRe.FindStringSubmatch(head); m != nil {
			if f, err := strconv.ParseFloat(m[1], 64); err == nil {
				tc.DurationMS = int64(math.Round(f * 1000))
			}
		}
		if s == "aborted" || strings.HasPrefix(s, "aborted by user") {
			tc.Status = trace.ToolInterrupted
		}
	case '[':
		var items []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if json.Unmarshal(raw, &items) == nil {
			var texts []string
			other := false
			for _, it := range items {
				if it.Type == "input_text" || it.Type == "output_text" || it.Type == "text" {
					texts = append(texts, it.Text)
				} else {
					other = true
				}
			}
			tc.Output = strings.Join(texts, "\n")
			if other {
				tc.OutputRaw = verbatim(raw)
			}
			return
		}
		tc.OutputRaw = verbatim(raw)
	case '{':
		var o struct {
			Content *string `json:"content"`
			Success *bool   `json:"success"`
		}
		if json.Unmarshal(raw, &o) == nil && o.Content != nil {
			tc.Output = *o.Content
			if o.Success != nil && !*o.Success {
				tc.Status = trace.ToolError
			}
			return
		}
		tc.OutputRaw = verbatim(raw)
	default:
		tc.OutputRaw = verbatim(raw)
	}
}

// harnessOutcome recognises the results Codex itself writes instead of the
// tool's: an approval the user declined ("exec command rejected by user",
// "patch rejected by user", exec_command_end/patch_apply_end status
// "declined"), an interrupted call ("aborted"), and a command its sandbox
// refused when it could not ask ("failed in sandbox …").
func harnessOutcome(tc *trace.ToolCall, declined bool) string {
	t := strings.TrimSpace(tc.Output)
	switch {
	case declined, t == "rejected by user", t == "exec command rejected by user", t == "patch rejected by user",
		t == "unified exec command rejected by user":
		return trace.HarnessRejected
	case tc.Status == trace.ToolInterrupted:
		return trace.HarnessInterrupted
	case strings.HasPrefix(t, "failed in sandbox "), strings.HasPrefix(t, "sandbox denied exec error"):
		return trace.HarnessSandbox
	}
	return ""
}

// unpackWrapped reads the {"output":…,"metadata":{"exit_code","duration_seconds"}}
// JSON that shell tools returned as a string.
func unpackWrapped(s string, tc *trace.ToolCall) bool {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "{") || !strings.Contains(t, `"output"`) {
		return false
	}
	var w struct {
		Output   *string         `json:"output"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if json.Unmarshal([]byte(t), &w) != nil || w.Output == nil {
		return false
	}
	tc.Output = *w.Output
	var md struct {
		ExitCode        *int     `json:"exit_code"`
		DurationSeconds *float64 `json:"duration_seconds"`
	}
	if json.Unmarshal(w.Metadata, &md) == nil {
		tc.ExitCode = md.ExitCode
		if md.DurationSeconds != nil {
			tc.DurationMS = int64(math.Round(*md.DurationSeconds * 1000))
		}
		if md.ExitCode != nil && *md.ExitCode != 0 {
			tc.Status = trace.ToolError
		}
	}
	if len(bytes.TrimSpace(w.Metadata)) > 0 {
		tc.Detail = verbatim(w.Metadata)
	}
	return true
}

func (d *decoder) compacted(c *compactedItem, ts time.Time) error {
	if err := d.flush(); err != nil {
		return err
	}
	if strings.TrimSpace(c.Message) == "" {
		return nil
	}
	if err := d.declare(); err != nil {
		return err
	}
	return d.e.Emit(&trace.Event{Type: trace.EvMessage, Time: ts, Message: &trace.Message{Role: "user", Meta: true, Parts: []trace.Part{{Type: trace.PartText, Text: c.Message}}}})
}

func (d *decoder) eventMsg(ev *eventMsg, ts time.Time) error {
	switch ev.Type {
	case "token_count":
		return d.tokenCount(ev, ts)
	case "user_message":
		t := strings.TrimSpace(ev.Message)
		if d.lastUserFrom == "item" && t == d.lastUser {
			d.lastUser, d.lastUserFrom = "", ""
			return nil
		}
		if err := d.flush(); err != nil {
			return err
		}
		if t == "" {
			return nil
		}
		d.lastUser, d.lastUserFrom = t, "event"
		if err := d.declare(); err != nil {
			return err
		}
		return d.e.Emit(&trace.Event{Type: trace.EvMessage, Time: ts, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: ev.Message}}}})
	case "agent_message":
		if ev.Message != "" {
			d.final = ev.Message
		}
	case "task_complete", "turn_complete":
		d.status = trace.StatusOK
		d.errMsg = ""
		if ev.LastAgentMessage != "" {
			d.final = ev.LastAgentMessage
		}
	case "turn_aborted":
		if err := d.flush(); err != nil {
			return err
		}
		if err := d.abandon(trace.ToolInterrupted); err != nil {
			return err
		}
		d.status = trace.StatusInterrupted
		d.errMsg = "turn aborted"
		if ev.Reason != "" {
			d.errMsg += ": " + ev.Reason
		}
	case "error":
		d.status = trace.StatusError
		d.errMsg = ev.Message
	case "task_started", "turn_started":
		d.status, d.errMsg = "", ""
	case "exec_command_end", "patch_apply_end", "mcp_tool_call_end":
		d.toolInfo(ev)
	default:
		if !skippedEvent(ev.Type) {
			d.count("event_msg/"+ev.Type, d.line0)
		}
	}
	return nil
}

// skippedEvent reports the event_msg types that repeat what response items
// hold, or carry nothing replay keeps: they are skipped without a warning.
func skippedEvent(typ string) bool {
	switch typ {
	case "agent_reasoning", "agent_reasoning_raw_content", "agent_reasoning_section_break",
		"exec_command_begin", "patch_apply_begin", "mcp_tool_call_begin", "exec_command_output_delta",
		"context_compacted", "thread_name_updated", "entered_review_mode", "exited_review_mode",
		"thread_rolled_back", "item_completed", "item_started", "plan_update", "web_search_begin", "web_search_end",
		"view_image_tool_call", "stream_error", "warning", "background_event", "image_generation_end",
		"guardian_assessment", "turn_diff", "get_history_entry_response", "session_configured",
		"dynamic_tool_call_request", "dynamic_tool_call_response", "undo_started", "undo_completed",
		"collab_agent_spawn_end", "collab_agent_interaction_end", "collab_waiting_end", "collab_close_end", "collab_resume_end":
		return true
	}
	return false
}

// toolInfo keeps what exec_command_end, patch_apply_end and
// mcp_tool_call_end say about a call, for its tool step.
func (d *decoder) toolInfo(ev *eventMsg) {
	ci := d.calls[ev.CallID]
	if ci == nil {
		d.tally.Add(trace.Warning{File: d.name, Line: d.line0, Field: "payload.call_id",
			Message: fmt.Sprintf("%s for a call that is not waiting for its output (never made, or answered already); its exit code and duration are left out", ev.Type)})
		return
	}
	ci.hasInfo = true
	if ev.ExitCode != nil {
		ci.exit = ev.ExitCode
	}
	if ms, ok := durationMS(ev.Duration); ok {
		ci.durMS = ms
	}
	if ev.Success != nil && !*ev.Success {
		ci.failed = true
	}
	if ev.Status == "declined" {
		ci.declined, ci.failed = true, true
	}
	if r := bytes.TrimSpace(ev.Result); len(r) > 0 && bytes.HasPrefix(r, []byte(`{"Err"`)) {
		ci.failed = true
	}
}

// durationMS reads a Rust Duration ({"secs","nanos"}), seconds, or a
// duration string.
func durationMS(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	var d struct {
		Secs  *int64 `json:"secs"`
		Nanos int64  `json:"nanos"`
	}
	if json.Unmarshal(raw, &d) == nil && d.Secs != nil {
		return *d.Secs*1000 + d.Nanos/1e6, true
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return int64(math.Round(f * 1000)), true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if dd, err := time.ParseDuration(s); err == nil {
			return dd.Milliseconds(), true
		}
	}
	return 0, false
}

// tokenCount handles event_msg token_count: the usage of one model response.
func (d *decoder) tokenCount(ev *eventMsg, ts time.Time) error {
	var last *tokenUsage
	switch {
	case ev.Info != nil:
		total := ev.Info.Total
		if total != nil && d.lastTotal != nil && *total == *d.lastTotal {
			return nil // sent again with a rate-limit update: not a new response
		}
		last = ev.Info.Last
		if last == nil && total != nil {
			l := *total
			if p := d.lastTotal; p != nil {
				l = tokenUsage{
					InputTokens: total.InputTokens - p.InputTokens, CachedInputTokens: total.CachedInputTokens - p.CachedInputTokens,
					OutputTokens: total.OutputTokens - p.OutputTokens, ReasoningOutputTokens: total.ReasoningOutputTokens - p.ReasoningOutputTokens,
				}
			}
			last = &l
		}
		if total != nil {
			t := *total
			d.lastTotal = &t
		}
	case ev.InputTokens != nil || ev.OutputTokens != nil:
		last = &tokenUsage{InputTokens: deref(ev.InputTokens), CachedInputTokens: deref(ev.CachedInputTokens), OutputTokens: deref(ev.OutputTokens), ReasoningOutputTokens: deref(ev.ReasoningTokens)}
	}
	if last == nil {
		return nil // rate limits only
	}
	d.tokenCounts++
	u := usage(*last)
	if d.order == orderUnknown {
		if d.cur != nil && len(d.cur.parts) > 0 {
			d.order = orderAfter
		} else {
			d.order = orderBefore
		}
	}
	if d.order == orderAfter {
		r := d.open(ts)
		r.usage, r.uTime = &u, ts
		return d.flush()
	}
	// Before: this count opens the response whose items follow.
	if err := d.flush(); err != nil {
		return err
	}
	r := d.open(time.Time{})
	r.usage, r.uTime = &u, ts
	return nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// usage converts Codex's counts, whose input includes the cached tokens.
func usage(t tokenUsage) trace.Usage {
	u := trace.Usage{
		Input:     t.InputTokens - t.CachedInputTokens,
		CacheRead: t.CachedInputTokens,
		Output:    t.OutputTokens,
		Reasoning: t.ReasoningOutputTokens,
	}
	if u.Input < 0 {
		u.Input = 0
	}
	return u
}

// flush emits the response being gathered as one llm step, then the tool
// steps held until it was out.
func (d *decoder) flush() error {
	r := d.cur
	if r == nil {
		return nil
	}
	d.cur = nil
	d.lastUser, d.lastUserFrom = "", ""
	if err := d.declare(); err != nil {
		return err
	}
	call := &trace.LLMCall{
		Params: trace.Params{Model: r.model, Provider: d.provider},
		Output: trace.Message{Role: "assistant", Parts: r.parts},
		Usage:  r.usage,
	}
	if r.usage == nil {
		d.noUsage++
	}
	d.responses++
	if t := textOf(r.parts); t != "" {
		d.final = t
	}
	ts := r.start
	if ts.IsZero() {
		ts = r.uTime
	}
	if err := d.e.Emit(&trace.Event{Type: trace.EvLLM, Time: ts, LLM: call}); err != nil {
		return err
	}
	for _, id := range r.calls {
		if ci := d.calls[id]; ci != nil {
			ci.pending = false
		}
	}
	for _, ev := range r.held {
		if err := d.e.Emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// abandon emits a tool step for every call left without a result.
func (d *decoder) abandon(status string) error {
	for _, id := range d.callOrder {
		ci := d.calls[id]
		if ci == nil {
			continue
		}
		delete(d.calls, id)
		if status == trace.ToolMissing {
			d.tally.Add(trace.Warning{File: d.name, Line: ci.line, Message: "a tool call without a recorded output (kept, marked missing)"})
		}
		tc := &trace.ToolCall{CallID: id, Name: ci.name, Arguments: ci.args, Status: status}
		if ci.hasInfo {
			applyInfo(tc, ci)
			tc.Status = status
		}
		if status == trace.ToolInterrupted {
			// turn_aborted: the user interrupted the turn while the call ran
			// (or waited for approval).
			tc.Harness = trace.HarnessInterrupted
		}
		if err := d.declare(); err != nil {
			return err
		}
		if err := d.e.Emit(&trace.Event{Type: trace.EvTool, Time: ci.time, Tool: tc}); err != nil {
			return err
		}
	}
	d.callOrder = d.callOrder[:0]
	return nil
}

func (d *decoder) finish() error {
	if err := d.flush(); err != nil {
		return err
	}
	if err := d.abandon(trace.ToolMissing); err != nil {
		return err
	}
	if err := d.declare(); err != nil {
		return err
	}
	// What was learned along the way.
	m := trace.RunMeta{Defaults: trace.Params{Model: d.meta.Defaults.Model}, EndedAt: d.lastTime, Attributes: d.meta.Attributes}
	if err := d.e.Emit(&trace.Event{Type: trace.EvRun, Meta: &m}); err != nil {
		return err
	}
	o := &trace.Outcome{Status: d.status, Error: d.errMsg, Final: d.final}
	switch {
	case o.Status == "" && d.responses > 0:
		o.Status = trace.StatusOK
	case o.Status == "":
		o.Status = trace.StatusUnknown
	}
	if t := d.lastTotal; t != nil {
		u := usage(*t)
		o.Recorded = &trace.Totals{Usage: &u}
	}
	if err := d.e.Emit(&trace.Event{Type: trace.EvOutcome, Outcome: o}); err != nil {
		return err
	}
	switch {
	case d.responses > 0 && d.tokenCounts == 0:
		d.warn(trace.Warning{File: d.name, Message: fmt.Sprintf("no token_count events: the %d model responses were grouped at user messages and tool outputs, and their usage is unknown", d.responses)})
	case d.noUsage > 0:
		d.warn(trace.Warning{File: d.name, Message: fmt.Sprintf("%d model responses without a token_count: their usage is unknown", d.noUsage)})
	}
	if d.orphans > 0 {
		d.warn(trace.Warning{File: d.name, Line: d.orphanLine, Field: "payload.call_id", Message: fmt.Sprintf("%d tool outputs whose call is not in the rollout: their tool name is unknown", d.orphans)})
	}
	d.warnings = append(d.warnings, d.tally.Warnings()...)
	for _, t := range d.unknownOrd {
		u := d.unknown[t]
		d.warn(trace.Warning{File: d.name, Line: u.first, Message: fmt.Sprintf("%d records of unknown type %q (first at line %d)", u.n, t, u.first)})
	}
	for i := range d.warnings {
		if err := d.e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &d.warnings[i]}); err != nil {
			return err
		}
	}
	return nil
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
