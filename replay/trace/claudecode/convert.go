package claudecode

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Bounds of what a run holds back: the events behind a pending model
// response, and the response itself. Real transcripts hold a handful of
// events (parallel tool results) and responses of a few hundred blocks; past
// a bound the response is emitted early, so that memory stays bounded
// whatever the input.
const (
	maxQueue      = 4096
	maxQueueBytes = 32 << 20
	maxParts      = 1 << 16
	maxPartBytes  = 64 << 20
)

// harnessOutcome recognises the results Claude Code itself writes instead
// of the tool's: an aborted permission prompt, a call the user refused, an
// interrupt, a hook's block.
func harnessOutcome(out string, interrupted, isErr bool) string {
	t := strings.TrimSpace(out)
	switch {
	case interrupted:
		return trace.HarnessInterrupted
	case !isErr:
		return ""
	case strings.HasPrefix(t, "Permission prompt was aborted"):
		return trace.HarnessAborted
	case strings.HasPrefix(t, "Claude requested permissions to"):
		return trace.HarnessNoPermission
	case strings.HasPrefix(t, "The user doesn't want to proceed with this tool use"), strings.HasPrefix(t, "The user doesn't want to take this action"):
		return trace.HarnessRejected
	case strings.Contains(t, "hook") && (strings.Contains(t, "blocked") || strings.Contains(t, "Blocked")):
		return trace.HarnessHook
	}
	return ""
}

// interruptPrefix starts the texts Claude Code writes when the user
// interrupts ("[Request interrupted by user]", "… for tool use]").
const interruptPrefix = "[Request interrupted by user"

// isBookkeeping reports record types that carry nothing replay needs. They
// are skipped silently; any other unknown type is counted in one warning.
func isBookkeeping(typ string) bool {
	switch typ {
	case "file-history-snapshot", "queue-operation", "last-prompt", "agent-setting", "agent-name",
		"ai-title", "custom-title", "progress", "mode", "permission-mode", "cost-state", "tag",
		// stream-json
		"stream_event", "rate_limit_event", "keep_alive", "control_request", "control_response",
		"control_cancel_request":
		return true
	}
	return false
}

// importer turns the records of one transcript or stream-json file (and the
// sub-agent files it leads to) into events. It holds, per run, at most one
// pending model response and the few events that arrived behind it, plus
// small maps of ids: memory does not grow with the input.
type importer struct {
	e       trace.Emitter
	opts    trace.Options
	stream  bool
	format  string
	rootKey string

	runs  map[string]*runState
	order []*runState

	calls       map[string]*call // tool calls waiting for their result
	callSeq     int
	taskPrompts map[string][]*call // unclaimed Task/Agent calls by prompt

	// transcript sidechains in the same file (Claude Code ≤ 1.x)
	seed       maphash.Seed
	chain      map[uint64]*runState // uuid of a sidechain line → its run
	sidechains int
	lastSide   *runState

	agents *agentSet // sub-agent transcript files

	unknown      map[string]*unknownType
	unknownOrder []string
	orphans      int
	orphanAt     trace.Warning
	retries      int
	retryAt      trace.Warning
	lateMerges   int
	lateAt       trace.Warning
	warnings     []trace.Warning
	tally        trace.Tally // values of the wrong type, records left out
	records      int         // conversation records seen (not bookkeeping)
	sawResult    bool        // stream-json: the result record was seen

	// The read buffer of the batch being converted: the strings of its
	// records refer to it, and own copies those that are kept.
	slabLo, slabHi uintptr
}

type unknownType struct {
	n    int
	file string
	line int
}

// call is a tool call waiting for its result.
type call struct {
	seq          int
	id, name     string
	args         json.RawMessage
	run          *runState
	time         time.Time
	prompt       string // Task/Agent: the sub-agent prompt
	subagentType string
	child        string // key of the sub-agent run it started
	isTask       bool
	file         string // where the call was recorded
	line         int
}

// runState is what the importer knows about one run.
type runState struct {
	meta        trace.RunMeta
	declared    bool
	pending     *pending
	queue       []*trace.Event
	queued      int    // bytes of text held in queue, roughly
	lastID      string // message.id of the last emitted response
	lastUse     usage  // its usage
	lastSession string

	status  string // last status marker: ok, error, interrupted
	errText string
	final   string
	steps   int
	outcome *trace.Outcome // stream-json: from the result record
}

// pending is a model response being merged from several lines.
type pending struct {
	id        string
	model     string
	stop      string
	time      time.Time
	usage     usage
	base      usage // usage already emitted for this message.id (see assistant)
	parts     []trace.Part
	size      int // bytes of text in parts, roughly
	synthetic bool
	err       string
}

// fileCtx is the file being read.
type fileCtx struct {
	path     string
	root     *runState
	subagent bool // every line belongs to root (a sub-agent's own file)
}

func newImporter(e trace.Emitter, opts trace.Options, stream bool, as RunAs) *importer {
	im := &importer{
		e:           e,
		opts:        opts,
		stream:      stream,
		rootKey:     as.Key,
		runs:        map[string]*runState{},
		calls:       map[string]*call{},
		taskPrompts: map[string][]*call{},
		seed:        maphash.MakeSeed(),
		chain:       map[uint64]*runState{},
		unknown:     map[string]*unknownType{},
		agents:      &agentSet{byID: map[string]*agentFile{}, byCall: map[string]*agentFile{}},
	}
	im.format = TranscriptName
	if stream {
		im.format = StreamName
	}
	return im
}

// own returns s, copied if it refers to the read buffer of the batch being
// converted: whatever the importer keeps or emits owns its memory, so that a
// kept string never keeps a whole buffer alive.
func (im *importer) own(s string) string {
	if len(s) == 0 {
		return s
	}
	if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); p >= im.slabLo && p < im.slabHi {
		return strings.Clone(s)
	}
	return s
}

// childKey makes the key of a sub-agent run unique within the import.
func (im *importer) childKey(base string) string {
	if im.rootKey == "" {
		return base
	}
	return im.rootKey + "/" + base
}

func (im *importer) newRun(key, parent, source string) *runState {
	r := &runState{meta: trace.RunMeta{Key: key, Parent: parent, Format: im.format, Source: source}}
	im.runs[key] = r
	im.order = append(im.order, r)
	return r
}

// declare emits the run event of r if it was not emitted yet.
func (im *importer) declare(r *runState) error {
	if r.declared {
		return nil
	}
	r.declared = true
	return im.e.Emit(&trace.Event{Type: trace.EvRun, Run: r.meta.Key, Meta: snapshot(&r.meta)})
}

// snapshot copies m for an event: the importer goes on changing its own.
func snapshot(m *trace.RunMeta) *trace.RunMeta {
	c := *m
	c.Sessions = slices.Clone(m.Sessions)
	c.Blockers = slices.Clone(m.Blockers)
	c.Instr.Tools = slices.Clone(m.Instr.Tools)
	c.Defaults.Stop = slices.Clone(m.Defaults.Stop)
	c.Attributes = maps.Clone(m.Attributes)
	return &c
}

// step emits a message or tool event of r, or holds it back behind r's
// pending response.
func (im *importer) step(r *runState, ev *trace.Event) error {
	r.steps++
	if r.pending != nil {
		r.queue = append(r.queue, ev)
		r.queued += eventSize(ev)
		if len(r.queue) >= maxQueue || r.queued >= maxQueueBytes {
			return im.flush(r)
		}
		return nil
	}
	if err := im.declare(r); err != nil {
		return err
	}
	return im.e.Emit(ev)
}

// eventSize is roughly the memory a held-back event keeps.
func eventSize(ev *trace.Event) int {
	n := 64
	if t := ev.Tool; t != nil {
		n += len(t.Output) + len(t.OutputRaw) + len(t.Arguments) + len(t.Detail)
	}
	if m := ev.Message; m != nil {
		for _, p := range m.Parts {
			n += len(p.Text) + len(p.Raw)
		}
	}
	return n
}

// flush emits r's pending response, then the events held back behind it.
func (im *importer) flush(r *runState) error {
	p := r.pending
	if p == nil {
		return nil
	}
	r.pending = nil
	if err := im.declare(r); err != nil {
		return err
	}
	l := &trace.LLMCall{
		ID:         p.id,
		Model:      p.model,
		Output:     trace.Message{Role: "assistant", Parts: p.parts},
		StopReason: p.stop,
	}
	if p.synthetic {
		l.Synthetic = true
		l.Error = p.err
	} else {
		u := p.usage
		if p.base != (usage{}) {
			// The rest of a response emitted early: only the tokens not
			// counted yet (the input is the same on every line).
			u = usage{Output: max(0, u.Output-p.base.Output)}
		}
		l.Usage = &trace.Usage{Input: u.Input, Output: u.Output, CacheRead: u.CacheRead, CacheWrite: u.CacheWrite}
	}
	r.lastID, r.lastUse = p.id, p.usage
	if err := im.e.Emit(&trace.Event{Type: trace.EvLLM, Run: r.meta.Key, Time: p.time, LLM: l}); err != nil {
		return err
	}
	q := r.queue
	r.queue, r.queued = r.queue[:0], 0
	for i, ev := range q {
		q[i] = nil
		if err := im.e.Emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// observe updates r's meta from the common fields of a record.
func (im *importer) observe(r *runState, rec *record) {
	m := &r.meta
	if t := rec.time(); !t.IsZero() {
		if m.StartedAt.IsZero() || t.Before(m.StartedAt) {
			m.StartedAt = t
		}
		if t.After(m.EndedAt) {
			m.EndedAt = t
		}
	}
	sid := rec.SessionID
	if sid == "" {
		sid = rec.SessionIDSnake
	}
	if sid != "" && sid != r.lastSession {
		r.lastSession = im.own(sid)
		switch {
		case m.Session == "":
			m.Session = r.lastSession
		case m.Session != sid && !slices.Contains(m.Sessions, sid):
			m.Sessions = append(m.Sessions, r.lastSession)
		}
	}
	if rec.Cwd != "" && m.Refs.Cwd == nil {
		m.Refs.Cwd = &trace.Ref{Value: im.own(rec.Cwd), Provenance: trace.Recorded, From: "cwd"}
	}
	if b := rec.GitBranch; b != "" && b != "HEAD" && m.Refs.Branch == nil {
		m.Refs.Branch = &trace.Ref{Value: im.own(b), Provenance: trace.Recorded, From: "gitBranch"}
	}
	v := rec.Version
	if v == "" {
		v = rec.ClaudeCodeVersion
	}
	if v != "" && m.Generator == "" {
		m.Generator = "claude-code " + v
	}
}

// line handles one decoded record of file f.
func (im *importer) line(f *fileCtx, n int, rec *record) error {
	badMessage := false
	for _, p := range rec.problems {
		if p.Field == "" {
			im.tally.Add(trace.Warning{File: f.path, Line: n, Message: fmt.Sprintf("the record is %s, not an object; skipped", p.Got)})
			return nil
		}
		msg := p.String() + "; ignored"
		if p.Field == "message" && (rec.Type == "user" || rec.Type == "assistant") {
			badMessage = true
			msg = p.String() + "; the record is skipped"
		}
		im.tally.Add(trace.Warning{File: f.path, Line: n, Field: p.Field, Message: msg})
	}
	switch rec.Type {
	case "user", "assistant":
		if m := &rec.Message; !rec.contentIsStr && len(m.Content) == 0 && m.ID == "" && m.Model == "" && m.Usage == (usage{}) {
			// Nothing to import: not a model call, not a message.
			if !badMessage {
				im.tally.Add(trace.Warning{File: f.path, Line: n, Field: "message", Message: "missing or empty in a " + rec.Type + " record; the record is skipped"})
			}
			return nil
		}
		r, err := im.route(f, rec)
		if err != nil || r == nil {
			return err
		}
		im.records++
		im.observe(r, rec)
		if rec.Type == "assistant" {
			return im.assistant(f, n, r, rec)
		}
		return im.user(f, n, r, rec)
	case "system":
		im.records++
		return im.system(f, n, rec)
	case "summary":
		im.records++
		if rec.Summary == "" {
			return nil
		}
		return im.step(f.root, &trace.Event{Type: trace.EvMessage, Run: f.root.meta.Key, Message: &trace.Message{
			Role: "system", Name: "summary", Meta: true, Parts: []trace.Part{{Type: trace.PartText, Text: im.own(rec.Summary)}},
		}})
	case "attachment":
		im.records++
		r, err := im.route(f, rec)
		if err != nil || r == nil {
			return err
		}
		im.observe(r, rec)
		if len(rec.Attachment) == 0 {
			return nil
		}
		var a struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(rec.Attachment, &a)
		return im.step(r, &trace.Event{Type: trace.EvMessage, Run: r.meta.Key, Time: rec.time(), Message: &trace.Message{
			Role: "user", Name: "attachment", Meta: true,
			Parts: []trace.Part{{Type: trace.PartOther, Name: a.Type, Raw: rec.Attachment}},
		}})
	case "pr-link":
		m := &f.root.meta
		if n, ok := rawInt(rec.PRNumber); ok && n > 0 {
			m.Refs.PR = &trace.Ref{Value: strconv.FormatInt(n, 10), Provenance: trace.Recorded, From: "pr-link.prNumber"}
		} else if rec.PRURL != "" {
			m.Refs.PR = &trace.Ref{Value: im.own(rec.PRURL), Provenance: trace.Recorded, From: "pr-link.prUrl"}
		}
		if rec.PRRepository != "" {
			m.Refs.Repo = &trace.Ref{Value: im.own(rec.PRRepository), Provenance: trace.Recorded, From: "pr-link.prRepository"}
		}
		return nil
	case "result":
		if !im.stream {
			break
		}
		im.records++
		return im.result(f, rec)
	}
	if isBookkeeping(rec.Type) {
		return nil
	}
	u := im.unknown[rec.Type]
	if u == nil {
		t := im.own(rec.Type)
		u = &unknownType{file: f.path, line: n}
		im.unknown[t] = u
		im.unknownOrder = append(im.unknownOrder, t)
	}
	u.n++
	return nil
}

// route returns the run a user, assistant or attachment record belongs to;
// nil means the record is to be skipped.
func (im *importer) route(f *fileCtx, rec *record) (*runState, error) {
	if im.stream {
		if rec.ParentToolUseID == "" {
			return f.root, nil
		}
		return im.streamChild(f, rec.ParentToolUseID), nil
	}
	if f.subagent || !rec.IsSidechain {
		return f.root, nil
	}
	return im.sidechain(f, rec), nil
}

// streamChild returns the run of the sub-agent started by tool call id.
func (im *importer) streamChild(f *fileCtx, id string) *runState {
	key := im.childKey("task-" + id)
	if r := im.runs[key]; r != nil {
		return r
	}
	r := im.newRun(key, f.root.meta.Key, f.path)
	r.meta.ParentCall = im.own(id)
	if c := im.calls[id]; c != nil {
		r.meta.Parent = c.run.meta.Key
		r.meta.Agent = c.subagentType
		c.child = key
	}
	return r
}

// sidechain returns the run of a sidechain line of a transcript.
func (im *importer) sidechain(f *fileCtx, rec *record) *runState {
	if rec.AgentID != "" {
		if a := im.agents.byID[rec.AgentID]; a != nil {
			return nil // its own file is imported: the inline copy would count twice
		}
		key := im.childKey("agent-" + rec.AgentID)
		r := im.runs[key]
		if r == nil {
			r = im.newRun(key, f.root.meta.Key, f.path)
			im.matchPrompt(r, rec)
		}
		return r
	}
	var r *runState
	if rec.ParentUUID != "" {
		r = im.chain[maphash.String(im.seed, rec.ParentUUID)]
		if r == nil {
			r = im.lastSide
		}
	}
	if r == nil {
		im.sidechains++
		r = im.newRun(im.childKey("sidechain-"+strconv.Itoa(im.sidechains)), f.root.meta.Key, f.path)
		im.matchPrompt(r, rec)
	}
	if rec.UUID != "" {
		im.chain[maphash.String(im.seed, rec.UUID)] = r
	}
	im.lastSide = r
	return r
}

// matchPrompt links a new sidechain run to the Task call whose prompt is the
// run's first user message.
func (im *importer) matchPrompt(r *runState, rec *record) {
	if rec.Type != "user" {
		return
	}
	p := promptText(rec)
	if p == "" {
		return
	}
	for _, c := range im.taskPrompts[p] {
		if c.child == "" {
			im.attach(r, c)
			im.dropPrompt(c)
			return
		}
	}
}

// attach records that call c started run r.
func (im *importer) attach(r *runState, c *call) {
	c.child = r.meta.Key
	if r.meta.ParentCall == "" || r.meta.ParentCall == c.id {
		r.meta.Parent = c.run.meta.Key
		r.meta.ParentCall = c.id
	}
	if r.meta.Agent == "" {
		r.meta.Agent = c.subagentType
	}
}

func (im *importer) dropPrompt(c *call) {
	if c.prompt == "" {
		return
	}
	cs := im.taskPrompts[c.prompt]
	if i := slices.Index(cs, c); i >= 0 {
		cs = slices.Delete(cs, i, i+1)
	}
	if len(cs) == 0 {
		delete(im.taskPrompts, c.prompt)
	} else {
		im.taskPrompts[c.prompt] = cs
	}
}

// promptText is the text of a user record: its string content or its text
// blocks joined.
func promptText(rec *record) string {
	if rec.contentIsStr {
		return rec.contentText
	}
	var sb strings.Builder
	for i := range rec.Message.Content {
		b := &rec.Message.Content[i]
		if b.Type == "text" {
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(b.Text)
		}
	}
	return sb.String()
}

func (im *importer) assistant(f *fileCtx, n int, r *runState, rec *record) error {
	m := &rec.Message
	if p := r.pending; p != nil && (m.ID == "" || p.id != m.ID) {
		if err := im.flush(r); err != nil {
			return err
		}
	}
	synthetic := m.Model == "<synthetic>" || rec.IsAPIErrorMessage
	p := r.pending
	if p == nil {
		if m.ID != "" && m.ID == r.lastID {
			// More lines of a response already emitted (it was flushed
			// early): they become a response of their own.
			if im.lateMerges == 0 {
				im.lateAt = trace.Warning{File: f.path, Line: n}
			}
			im.lateMerges++
		}
		p = &pending{id: im.own(m.ID), time: rec.time(), synthetic: synthetic}
		if m.ID != "" && m.ID == r.lastID {
			p.base = r.lastUse
		}
		if !synthetic {
			p.model = im.own(m.Model)
			if r.meta.Defaults.Model == "" {
				r.meta.Defaults.Model = p.model
			}
		}
		r.pending = p
		r.steps++
	}
	if m.StopReason != "" {
		p.stop = im.own(m.StopReason)
	}
	if m.Usage != (usage{}) {
		p.usage = m.Usage // the last line of a response carries the final usage
	}
	for i := range m.Content {
		b := &m.Content[i]
		switch b.Type {
		case "text":
			text := im.own(b.Text)
			p.size += len(text)
			p.parts = append(p.parts, trace.Part{Type: trace.PartText, Text: text})
			if !synthetic {
				r.final = text
			}
		case "thinking":
			p.size += len(b.Thinking)
			p.parts = append(p.parts, trace.Part{Type: trace.PartReasoning, Text: im.own(b.Thinking)})
		case "redacted_thinking":
			p.parts = append(p.parts, trace.Part{Type: trace.PartReasoning, Name: "redacted_thinking"})
		case "tool_use":
			id, name := im.own(b.ID), im.own(b.Name)
			p.size += len(b.Input)
			p.parts = append(p.parts, trace.Part{Type: trace.PartToolCall, ID: id, Name: name, Arguments: b.Input})
			im.register(r, id, name, b.Input, p.time)
			if c := im.calls[id]; c != nil && c.line == 0 {
				c.file, c.line = f.path, n
			}
		default:
			p.parts = append(p.parts, trace.Part{Type: trace.PartOther, Name: im.own(b.Type), ID: im.own(b.ID), Arguments: b.Input})
		}
	}
	switch {
	case synthetic && (rec.IsAPIErrorMessage || len(rec.Error) > 0):
		p.err = apiError(rec)
		r.status, r.errText = trace.StatusError, p.err
	case !synthetic:
		r.status, r.errText = trace.StatusOK, ""
	}
	if len(p.parts) >= maxParts || p.size >= maxPartBytes {
		return im.flush(r)
	}
	return nil
}

// apiError describes the API error a synthetic assistant line reports.
func apiError(rec *record) string {
	var sb strings.Builder
	sb.WriteString("API error")
	if st, ok := rawInt(rec.APIErrorStatus); ok {
		sb.WriteString(" ")
		sb.WriteString(strconv.FormatInt(st, 10))
	}
	if e := rawString(rec.Error); e != "" {
		sb.WriteString(" (" + e + ")")
	}
	for i := range rec.Message.Content {
		if b := &rec.Message.Content[i]; b.Type == "text" && b.Text != "" {
			sb.WriteString(": " + b.Text)
			break
		}
	}
	return sb.String()
}

// register records a tool call made by a response of run r.
func (im *importer) register(r *runState, id, name string, input json.RawMessage, t time.Time) {
	if id == "" {
		return
	}
	im.callSeq++
	c := &call{seq: im.callSeq, id: id, name: name, args: input, run: r, time: t}
	if name == "Task" || name == "Agent" {
		c.isTask = true
		var in struct {
			Prompt       string `json:"prompt"`
			SubagentType string `json:"subagent_type"`
		}
		_ = json.Unmarshal(input, &in)
		c.prompt, c.subagentType = in.Prompt, in.SubagentType
		if c.subagentType == "" {
			c.subagentType = "general-purpose"
		}
		if a := im.agents.byCall[c.id]; a != nil {
			im.claim(a, c)
		} else if c.prompt != "" {
			im.taskPrompts[c.prompt] = append(im.taskPrompts[c.prompt], c)
		}
	}
	im.calls[id] = c
}

// claim links sub-agent file a to call c.
func (im *importer) claim(a *agentFile, c *call) {
	if a.claimed {
		return
	}
	a.claimed = true
	r := a.run
	r.meta.Parent = c.run.meta.Key
	r.meta.ParentCall = c.id
	if c.subagentType != "" && (r.meta.Agent == "" || a.agentType == "") {
		r.meta.Agent = c.subagentType
	}
	c.child = r.meta.Key
}

func (im *importer) user(f *fileCtx, n int, r *runState, rec *record) error {
	t := rec.time()
	if rec.contentIsStr {
		return im.message(r, t, rec, []trace.Part{{Type: trace.PartText, Text: rec.contentText}}, rec.contentText)
	}
	var rest []trace.Part
	var text string
	for i := range rec.Message.Content {
		b := &rec.Message.Content[i]
		switch b.Type {
		case "tool_result":
			if err := im.toolResult(f, n, rec, b, t); err != nil {
				return err
			}
		case "text":
			s := im.own(b.Text)
			rest = append(rest, trace.Part{Type: trace.PartText, Text: s})
			if text == "" {
				text = s
			}
		case "image":
			rest = append(rest, trace.Part{Type: trace.PartImage, Raw: b.Source})
		default:
			rest = append(rest, trace.Part{Type: trace.PartOther, Name: im.own(b.Type)})
		}
	}
	if len(rest) == 0 {
		return nil
	}
	return im.message(r, t, rec, rest, text)
}

// message emits a user message; an interrupt note also marks the run.
func (im *importer) message(r *runState, t time.Time, rec *record, parts []trace.Part, text string) error {
	msg := &trace.Message{Role: "user", Parts: parts, Meta: rec.IsMeta || rec.IsCompact}
	if strings.HasPrefix(text, interruptPrefix) {
		msg.Meta = true
		r.status, r.errText = trace.StatusInterrupted, ""
	}
	return im.step(r, &trace.Event{Type: trace.EvMessage, Run: r.meta.Key, Time: t, Message: msg})
}

func (im *importer) toolResult(f *fileCtx, n int, rec *record, b *block, t time.Time) error {
	c := im.calls[b.ToolUseID]
	if c == nil {
		if im.orphans == 0 {
			im.orphanAt = trace.Warning{File: f.path, Line: n}
		}
		im.orphans++
		return nil
	}
	delete(im.calls, b.ToolUseID)
	tc := &trace.ToolCall{CallID: c.id, Name: c.name, Arguments: c.args, Status: trace.ToolOK}
	if b.hasParts {
		var sb strings.Builder
		var other []json.RawMessage
		for _, raw := range b.parts {
			var tp textPart
			if json.Unmarshal(raw, &tp) == nil && tp.Type == "text" {
				if sb.Len() > 0 {
					sb.WriteByte('\n')
				}
				sb.WriteString(tp.Text)
			} else {
				other = append(other, raw)
			}
		}
		tc.Output = sb.String()
		if len(other) > 0 {
			tc.OutputRaw, _ = json.Marshal(other)
		}
	} else {
		tc.Output = im.own(b.Content)
	}
	tur := rec.ToolUseResult
	if im.stream {
		tur = rec.ToolUseResultSnake
	}
	interrupted := strings.HasPrefix(tc.Output, interruptPrefix)
	var agentID string
	if tur != nil {
		tc.Detail = tur.detail()
		if string(tur.Interrupted) == "true" {
			interrupted = true
		}
		if ms, ok := rawInt(tur.DurationMS); ok {
			tc.DurationMS = ms
		} else if ms, ok := rawInt(tur.TotalDurationMS); ok {
			tc.DurationMS = ms
		} else if len(tur.DurationSeconds) > 0 {
			if s, err := strconv.ParseFloat(string(tur.DurationSeconds), 64); err == nil {
				tc.DurationMS = int64(s * 1000)
			}
		}
		if code, ok := rawInt(tur.ExitCode); ok {
			ec := int(code)
			tc.ExitCode = &ec
		}
		agentID = rawString(tur.AgentID)
	}
	switch {
	case interrupted:
		tc.Status = trace.ToolInterrupted
	case b.IsError:
		tc.Status = trace.ToolError
	}
	tc.Harness = harnessOutcome(tc.Output, interrupted, b.IsError)
	if tc.ExitCode == nil && b.IsError && c.name == "Bash" && strings.HasPrefix(tc.Output, "Exit code ") {
		s := tc.Output[len("Exit code "):]
		if i := strings.IndexAny(s, "\n "); i >= 0 {
			s = s[:i]
		}
		if code, err := strconv.Atoi(s); err == nil {
			tc.ExitCode = &code
		}
	}
	if c.isTask {
		if agentID == "" {
			agentID = agentIDFromText(tc.Output)
		}
		im.linkTask(c, agentID)
		im.dropPrompt(c)
	}
	tc.Child = c.child
	if interrupted {
		c.run.status, c.run.errText = trace.StatusInterrupted, ""
	}
	return im.step(c.run, &trace.Event{Type: trace.EvTool, Run: c.run.meta.Key, Time: t, Tool: tc})
}

// agentIDFromText finds the "agentId: <id>" trailer Claude Code 2.x appends
// to a Task result.
func agentIDFromText(s string) string {
	i := strings.LastIndex(s, "agentId: ")
	if i < 0 {
		return ""
	}
	s = s[i+len("agentId: "):]
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '@' || r == '.')
	})
	if end >= 0 {
		s = s[:end]
	}
	return s
}

// linkTask finds the sub-agent run a Task call started, once its result is
// known: by the agent id the result names, else by the prompt.
func (im *importer) linkTask(c *call, agentID string) {
	if c.child != "" {
		return
	}
	if agentID != "" {
		if a := im.agents.byID[agentID]; a != nil {
			if !a.claimed {
				im.claim(a, c)
			}
			return
		}
		if r := im.runs[im.childKey("agent-"+agentID)]; r != nil {
			im.attach(r, c)
			return
		}
	}
	if c.prompt != "" {
		for _, a := range im.agents.files {
			if !a.claimed && a.prompt == c.prompt {
				im.claim(a, c)
				return
			}
		}
	}
}

func (im *importer) system(f *fileCtx, n int, rec *record) error {
	r := f.root
	if im.stream && rec.ParentToolUseID != "" {
		r = im.streamChild(f, rec.ParentToolUseID)
	} else if !im.stream && rec.IsSidechain && !f.subagent {
		if r = im.sidechain(f, rec); r == nil {
			return nil
		}
	}
	switch rec.Subtype {
	case "init":
		im.observe(r, rec)
		m := &r.meta
		if rec.Model != "" {
			m.Defaults.Model = im.own(rec.Model)
		}
		if len(rec.Tools) > 0 {
			m.Instr.Tools = m.Instr.Tools[:0]
			for _, t := range rec.Tools {
				m.Instr.Tools = append(m.Instr.Tools, trace.ToolDef{Name: im.own(t)})
			}
		}
		if rec.PermissionMode != "" {
			if m.Attributes == nil {
				m.Attributes = map[string]string{}
			}
			m.Attributes["claude.permission_mode"] = im.own(rec.PermissionMode)
		}
		return nil
	case "api_retry", "api_error":
		if im.retries == 0 {
			im.retryAt = trace.Warning{File: f.path, Line: n}
		}
		im.retries++
		return nil
	}
	im.observe(r, rec)
	text := rawString(rec.Content)
	if text == "" {
		return nil // bookkeeping (turn durations, hook summaries, …)
	}
	return im.step(r, &trace.Event{Type: trace.EvMessage, Run: r.meta.Key, Time: rec.time(), Message: &trace.Message{
		Role: "system", Name: im.own(rec.Subtype), Meta: true, Parts: []trace.Part{{Type: trace.PartText, Text: text}},
	}})
}

// result handles the final record of a stream-json output.
func (im *importer) result(f *fileCtx, rec *record) error {
	r := f.root
	im.sawResult = true
	im.observe(r, rec)
	res := streamResult(rec, im.own)
	r.outcome = res.outcome()
	m := &r.meta
	if m.Attributes == nil {
		m.Attributes = map[string]string{}
	}
	if len(rec.ModelUsage) > 2 {
		m.Attributes["claude.model_usage"] = string(rec.ModelUsage)
	}
	if rec.DurationAPIMS > 0 {
		m.Attributes["claude.duration_api_ms"] = strconv.FormatInt(rec.DurationAPIMS, 10)
	}
	if rec.TerminalReason != "" {
		m.Attributes["claude.terminal_reason"] = im.own(rec.TerminalReason)
	}
	if n := len(rec.PermissionDenials); n > 2 {
		m.Attributes["claude.permission_denials"] = string(rec.PermissionDenials)
	}
	return nil
}

// finish flushes every run, emits the tool calls never answered, the final
// declaration and outcome of every run, and the warnings.
func (im *importer) finish() error {
	for _, r := range im.order {
		if err := im.flush(r); err != nil {
			return err
		}
	}
	var left []*call
	for _, c := range im.calls {
		left = append(left, c)
	}
	slices.SortFunc(left, func(a, b *call) int { return a.seq - b.seq })
	for _, c := range left {
		im.tally.Add(trace.Warning{File: c.file, Line: c.line, Message: "a tool call without a recorded result (kept, marked missing)"})
		tc := &trace.ToolCall{CallID: c.id, Name: c.name, Arguments: c.args, Status: trace.ToolMissing, Child: c.child}
		if err := im.step(c.run, &trace.Event{Type: trace.EvTool, Run: c.run.meta.Key, Time: c.time, Tool: tc}); err != nil {
			return err
		}
	}
	clear(im.calls)
	for _, r := range im.order {
		if r.steps == 0 && r != im.runs[im.rootKey] && !r.declared {
			continue
		}
		if err := im.e.Emit(&trace.Event{Type: trace.EvRun, Run: r.meta.Key, Meta: snapshot(&r.meta)}); err != nil {
			return err
		}
		r.declared = true
	}
	for _, r := range im.order {
		if !r.declared {
			continue
		}
		o := r.outcome
		if o == nil {
			o = &trace.Outcome{Status: r.status, Error: r.errText, Final: r.final}
			if o.Status == "" {
				o.Status = trace.StatusUnknown
				if r.steps > 0 {
					o.Status = trace.StatusOK
				}
			}
		}
		if err := im.e.Emit(&trace.Event{Type: trace.EvOutcome, Run: r.meta.Key, Outcome: o}); err != nil {
			return err
		}
	}
	w := im.warnings
	for _, t := range im.unknownOrder {
		u := im.unknown[t]
		w = append(w, trace.Warning{File: u.file, Line: u.line, Message: fmt.Sprintf("%d records of unknown type %q (first at line %d)", u.n, t, u.line)})
	}
	if im.orphans > 0 {
		w = append(w, trace.Warning{File: im.orphanAt.File, Line: im.orphanAt.Line, Field: "tool_use_id", Message: fmt.Sprintf("%d tool result(s) answer no recorded tool call; left out", im.orphans)})
	}
	w = append(w, im.tally.Warnings()...)
	if im.retries > 0 {
		w = append(w, trace.Warning{File: im.retryAt.File, Line: im.retryAt.Line, Message: fmt.Sprintf("%d API retry record(s): the API failed and Claude Code retried", im.retries)})
	}
	if im.lateMerges > 0 {
		w = append(w, trace.Warning{File: im.lateAt.File, Line: im.lateAt.Line, Message: fmt.Sprintf("%d model response(s) continued after too many interleaved lines; their later lines are counted as separate responses", im.lateMerges)})
	}
	if im.stream && !im.sawResult && im.records > 0 {
		root := im.runs[im.rootKey]
		w = append(w, trace.Warning{File: root.meta.Source, Message: "no result record: the run did not finish (killed or still running)"})
	}
	for i := range w {
		if err := im.e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &w[i]}); err != nil {
			return err
		}
	}
	return nil
}

// A batch is records decoded by the reader goroutine of importFile.
type batch struct {
	recs  []record
	lines []int
	size  int
	// slab holds the lines of the batch: the strings of recs refer to it
	// (json.DecodeNoCopyString), which saves a copy and an allocation for
	// every string the importer does not keep; the importer copies those it
	// keeps (see importer.own). A slab is reused by a later batch once the
	// conversion is done with it: it is zeroed first, so that a string that
	// still referred to it would read as zero bytes, never as other data.
	slab []byte
}

const (
	batchLines = 256
	batchBytes = 1 << 20
)

// batchPool keeps the batches of finished files for the next ones: a
// folder import reads many files of a few batches each, and fresh slabs
// (zeroed, then faulted in page by page) cost more than their decode. It is
// a cache of empty buffers, not state: any batch in it is cleared (see
// importReader) and a Get may as well return a new one.
var batchPool = sync.Pool{New: func() any { return &batch{recs: make([]record, 0, 8)} }}

// release puts b back in batchPool, its records cleared: a pooled batch
// keeps nothing of its file alive.
func release(b *batch) {
	clear(b.recs[:cap(b.recs)])
	b.recs, b.lines, b.size = b.recs[:0], b.lines[:0], 0
	batchPool.Put(b)
}

var errStopped = errors.New("import stopped")

// importFile reads one file into the runs of f. Reading and decoding run in
// their own goroutine, one batch of lines ahead of the conversion, which
// runs here: the two stages overlap, and memory stays bounded by the few
// batches in flight.
func (im *importer) importFile(ctx context.Context, f *fileCtx) error {
	fh, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("import %q: %w", f.path, err)
	}
	defer fh.Close()
	return im.importReader(ctx, f, fh)
}

// importReader reads the lines of file f from rd.
func (im *importer) importReader(ctx context.Context, f *fileCtx, rd io.Reader) error {
	full := make(chan *batch, 2)
	free := make(chan *batch, 4)
	var (
		stop     atomic.Bool
		scanErr  error
		scanWarn []trace.Warning
	)
	newBatch := func() *batch {
		select {
		case b := <-free:
			b.lines, b.size = b.lines[:0], 0
			return b
		default:
			b := batchPool.Get().(*batch)
			b.lines, b.size = b.lines[:0], 0
			return b
		}
	}
	noCopy := json.DecodeNoCopyString()
	go func() {
		defer close(full)
		cur := newBatch()
		scanErr = trace.ScanLines(ctx, rd, f.path, im.opts, func(w trace.Warning) { scanWarn = append(scanWarn, w) }, func(n int, b []byte) error {
			if stop.Load() {
				return errStopped
			}
			if cap(cur.slab)-len(cur.slab) < len(b) {
				if len(cur.lines) > 0 {
					full <- cur
					cur = newBatch()
				}
				if cap(cur.slab) < len(b) {
					cur.slab = make([]byte, 0, max(batchBytes, len(b)))
				}
			}
			off := len(cur.slab)
			cur.slab = append(cur.slab, b...)
			if len(cur.lines) == len(cur.recs) {
				cur.recs = append(cur.recs, record{})
			}
			if err := decodeRecord(cur.slab[off:], &cur.recs[len(cur.lines)], noCopy); err != nil {
				cur.slab = cur.slab[:off]
				return trace.BadJSON(err)
			}
			cur.lines = append(cur.lines, n)
			cur.size += len(b)
			if len(cur.lines) == batchLines || cur.size >= batchBytes {
				full <- cur
				cur = newBatch()
			}
			return nil
		})
		if len(cur.lines) > 0 {
			full <- cur
		} else {
			release(cur)
		}
	}()
	var lineErr error
	for b := range full {
		if len(b.slab) > 0 {
			im.slabLo = uintptr(unsafe.Pointer(unsafe.SliceData(b.slab)))
			im.slabHi = im.slabLo + uintptr(len(b.slab))
		}
		for i := 0; i < len(b.lines) && lineErr == nil; i++ {
			if err := im.line(f, b.lines[i], &b.recs[i]); err != nil {
				lineErr = &trace.LineError{File: f.path, Line: b.lines[i], Err: err}
				stop.Store(true)
			}
		}
		im.slabLo, im.slabHi = 0, 0
		clear(b.slab)
		b.slab = b.slab[:0]
		if cap(b.slab) > 4*batchBytes {
			b.slab = nil // a slab grown for a huge line is not kept
		}
		select {
		case free <- b:
		default:
			release(b)
		}
	}
	// full is closed: the reader is done with scanErr and scanWarn, and
	// with the batches left in free.
	for len(free) > 0 {
		release(<-free)
	}
	if lineErr != nil {
		return lineErr
	}
	if scanErr != nil {
		return scanErr
	}
	im.warnings = append(im.warnings, scanWarn...)
	// A response still pending at the end of its file is complete.
	for _, r := range im.order {
		if err := im.flush(r); err != nil {
			return err
		}
	}
	return nil
}
