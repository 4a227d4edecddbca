package langfuse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Name is the format name used by --format and stored in runs.
const Name = "langfuse"

// Format is the Langfuse trace format: UI exports {"trace":…,
// "observations":[…]}, the API's trace object with its observations inside,
// and what Client.Fetch writes.
type Format struct{}

// Name implements trace.Format.
func (Format) Name() string { return Name }

// Detect implements trace.Format: a JSON object that names Langfuse's
// observation fields.
func (Format) Detect(src *trace.Source) bool {
	if src.IsDir {
		return false
	}
	h := bytes.TrimLeft(src.Head, " \t\r\n\ufeff")
	h = bytes.TrimPrefix(h, []byte("\xef\xbb\xbf"))
	if len(h) == 0 || h[0] != '{' {
		return false
	}
	if bytes.Contains(h, []byte(`"resourceSpans"`)) {
		return false
	}
	hasObs := bytes.Contains(h, []byte(`"observations"`))
	hasTrace := bytes.Contains(h, []byte(`"trace"`))
	langfuseish := bytes.Contains(h, []byte(`"parentObservationId"`)) || bytes.Contains(h, []byte(`"projectId"`)) ||
		bytes.Contains(h, []byte(`"bookmarked"`)) || bytes.Contains(h, []byte(`"htmlPath"`))
	return (hasObs || hasTrace) && langfuseish
}

// Import implements trace.Format.
func (Format) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	f, err := os.Open(src.Path)
	if err != nil {
		return fmt.Errorf("import %q: %w", src.Path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import %q: %w", src.Path, err)
	}
	return Decode(ctx, f, fi.Size(), src.Path, opts, e)
}

// Decode reads a Langfuse trace of size bytes from r and emits its runs:
// the main run first, then its steps in start-time order. name is used in
// messages and as the run's Source.
func Decode(ctx context.Context, r io.ReaderAt, size int64, name string, opts trace.Options, e trace.Emitter) error {
	if blank(r, size) {
		return fmt.Errorf("%s: %w: empty file", name, trace.ErrNotTrace)
	}
	ix, err := buildIndex(&ctxReader{ctx: ctx, r: io.NewSectionReader(r, 0, size)})
	var warnings []trace.Warning
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if errors.Is(err, errNotLangfuse) {
			return fmt.Errorf("%s: %w: %v", name, trace.ErrNotTrace, err)
		}
		var se *syntaxError
		if !errors.As(err, &se) {
			return fmt.Errorf("read %s: %w", name, err)
		}
		line := lineAt(r, se.locate(r, size))
		if !opts.Lenient || (len(ix.entries) == 0 && !ix.trace.found) {
			msg := "invalid JSON: %v"
			if len(ix.entries) > 0 {
				msg += " (use --lenient to import the observations before it)"
			}
			return &trace.LineError{File: name, Line: line, Err: fmt.Errorf(msg, se.err)}
		}
		warnings = append(warnings, trace.Warning{File: name, Line: line, Message: fmt.Sprintf("invalid or truncated JSON (%v): imported the %d observations before it (--lenient)", se.err, len(ix.entries))})
	}
	if !ix.trace.found && len(ix.entries) == 0 {
		return fmt.Errorf("%s: %w: no Langfuse trace and no observations", name, trace.ErrNotTrace)
	}
	for _, b := range ix.badTrace {
		warnings = append(warnings, trace.Warning{File: name, Line: lineAt(r, b.off), Field: b.p.Field, Message: b.p.String() + " (read as absent)"})
	}
	d := &decoder{ctx: ctx, r: r, name: name, e: e, ix: ix, warnings: warnings}
	return d.run()
}

// blank reports whether the input holds only whitespace.
func blank(r io.ReaderAt, size int64) bool {
	buf := make([]byte, 4096)
	for off := int64(0); off < size; {
		n, err := r.ReadAt(buf, off)
		if len(bytes.TrimSpace(buf[:n])) > 0 {
			return false
		}
		off += int64(n)
		if err != nil {
			break
		}
	}
	return true
}

// lineAt returns the 1-based line of byte offset off.
func lineAt(r io.ReaderAt, off int64) int {
	line := 1
	buf := make([]byte, 64<<10)
	for pos := int64(0); pos < off; {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), off-pos)], pos)
		line += bytes.Count(buf[:n], []byte{'\n'})
		pos += int64(n)
		if err != nil || n == 0 {
			break
		}
	}
	return line
}

// ctxReader stops a long read when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Kinds of observation, as replay sees them.
type kind int

const (
	kindStructure kind = iota // SPAN, CHAIN, RETRIEVER, …: no step (unless a span turns out to be a tool)
	kindLLM                   // GENERATION, EMBEDDING: one llm step
	kindWrapper               // a GENERATION wrapping other generations: not counted
	kindTool                  // TOOL: one tool step
	kindAgent                 // AGENT: may start a child run
	kindEvent                 // EVENT: a message step when it carries a message
	kindUnknown               // a type Langfuse does not define (yet)
)

type decoder struct {
	ctx      context.Context
	r        io.ReaderAt
	name     string
	e        trace.Emitter
	ix       *index
	warnings []trace.Warning

	// structure, from pass 1
	parent    []int
	kinds     []kind
	runs      []string       // run key of each entry's steps
	childKey  map[int]string // AGENT entry → the child run it starts
	childOf   map[string]int // child run → its AGENT entry
	childPar  map[string]string
	prompts   map[string][2]string // run → promptName and promptVersion of its first generation that names one
	childTool map[string]int       // child run → TOOL entry that started it
	toolChild map[int]string       // TOOL entry → child run it started
	fill      map[int]int          // generation → the wrapper around it alone, whose fields fill the ones it lacks

	// state of pass 2
	declared   map[string]bool
	callIDs    map[int]string // TOOL entry → its call id
	pending    []pendingCall
	runInfo    map[string]*runState
	empty      int
	wrappers   int
	unknown    map[string]int
	unknownAt  map[string]int64
	unknownOrd []string
	checked    []bool // observations whose field types were checked (see checkObservation)
}

// pendingCall is a tool call a model made whose tool step is not seen yet.
type pendingCall struct {
	at       int // the generation's entry
	id, name string
	args     json.RawMessage
	used     bool
}

// runState is what the importer learns about a run while emitting it.
type runState struct {
	meta      trace.RunMeta
	system    string
	model     string
	provider  string
	tools     []trace.ToolDef
	lastLevel string
	lastError string
	lastText  string
	outcome   *trace.Outcome
}

func (d *decoder) state(key string) *runState {
	s := d.runInfo[key]
	if s == nil {
		s = &runState{}
		d.runInfo[key] = s
	}
	return s
}

func (d *decoder) run() error {
	d.plan()
	d.declared = map[string]bool{}
	d.callIDs = map[int]string{}
	d.runInfo = map[string]*runState{}
	d.unknown = map[string]int{}
	d.unknownAt = map[string]int64{}

	if err := d.declareMain(); err != nil {
		return err
	}
	if err := d.traceInput(); err != nil {
		return err
	}
	order := make([]int, len(d.ix.entries))
	for i := range order {
		order[i] = i
	}
	ents := d.ix.entries
	sort.SliceStable(order, func(a, b int) bool {
		ta, tb := ents[order[a]].Start, ents[order[b]].Start
		switch {
		case ta.IsZero() && tb.IsZero():
			return false
		case ta.IsZero():
			return false
		case tb.IsZero():
			return true
		}
		return ta.Before(tb)
	})
	for n, i := range order {
		if n&255 == 0 {
			if err := d.ctx.Err(); err != nil {
				return err
			}
		}
		if err := d.step(i); err != nil {
			return err
		}
	}
	return d.finish()
}

// plan works out, from pass 1 alone, each observation's kind and the run
// its step belongs to.
func (d *decoder) plan() {
	ents := d.ix.entries
	n := len(ents)
	byID := make(map[string]int, n)
	for i, en := range ents {
		if en.ID != "" {
			byID[en.ID] = i
		}
	}
	d.parent = make([]int, n)
	d.kinds = make([]kind, n)
	for i, en := range ents {
		d.parent[i] = -1
		if p, ok := byID[en.Parent]; ok && en.Parent != "" && p != i {
			d.parent[i] = p
		}
		switch strings.ToUpper(en.Type) {
		case "GENERATION", "EMBEDDING":
			d.kinds[i] = kindLLM
		case "TOOL":
			d.kinds[i] = kindTool
		case "AGENT":
			d.kinds[i] = kindAgent
		case "EVENT":
			d.kinds[i] = kindEvent
		case "SPAN", "CHAIN", "RETRIEVER", "EVALUATOR", "GUARDRAIL":
			d.kinds[i] = kindStructure
		default:
			d.kinds[i] = kindUnknown
		}
	}
	// A generation with a generation below it wraps real calls (a
	// framework's span around the provider instrumentation's): count the
	// inner ones only.
	for i := range ents {
		if d.kinds[i] != kindLLM {
			continue
		}
		d.ancestors(i, func(a int) bool {
			if d.kinds[a] == kindLLM || d.kinds[a] == kindWrapper {
				d.kinds[a] = kindWrapper
			}
			return true
		})
	}
	// A wrapper around a single call can hold what the inner call lacks
	// (Agno's wrapper has the tool calls its OTel child did not record).
	inner := map[int][]int{}
	for i := range ents {
		if d.kinds[i] != kindLLM {
			continue
		}
		d.ancestors(i, func(a int) bool {
			if d.kinds[a] == kindWrapper {
				inner[a] = append(inner[a], i)
				return false
			}
			return true
		})
	}
	d.fill = map[int]int{}
	for w, is := range inner {
		if len(is) == 1 {
			d.fill[is[0]] = w
		}
	}
	// Agents: an AGENT inside another agent's run is a sub-agent (a child
	// run), unless the outer agent does nothing but wrap that one agent
	// (OpenAI Agents' "Agent workflow", Koog's agent → run), in which case
	// they are one run.
	agentAnc := make([]int, n)
	for i := range ents {
		agentAnc[i] = -1
		d.ancestors(i, func(a int) bool {
			if d.kinds[a] == kindAgent {
				agentAnc[i] = a
				return false
			}
			return true
		})
	}
	direct := map[int]int{}
	kids := map[int][]int{}
	for i := range ents {
		a := agentAnc[i]
		if a < 0 {
			continue
		}
		switch d.kinds[i] {
		case kindLLM, kindTool:
			direct[a]++
		case kindAgent:
			kids[a] = append(kids[a], i)
		}
	}
	memo := map[int]string{}
	var runOfAgent func(a, depth int) string
	runOfAgent = func(a, depth int) string {
		if k, ok := memo[a]; ok {
			return k
		}
		key := ""
		if p := agentAnc[a]; p >= 0 && depth < n {
			outer := runOfAgent(p, depth+1)
			if direct[p] == 0 && len(kids[p]) == 1 {
				key = outer
			} else {
				key = childKeyOf(ents[a], a)
				d.childPar[key] = outer
			}
		}
		memo[a] = key
		return key
	}
	d.childKey = map[int]string{}
	d.childPar = map[string]string{}
	d.childTool = map[string]int{}
	d.toolChild = map[int]string{}
	d.runs = make([]string, n)
	for i := range ents {
		if d.kinds[i] == kindAgent {
			k := runOfAgent(i, 0)
			if k != "" && k == childKeyOf(ents[i], i) {
				d.childKey[i] = k
				// The tool call that started the sub-agent: a TOOL between it
				// and its parent agent.
				d.ancestors(i, func(a int) bool {
					if a == agentAnc[i] {
						return false
					}
					if d.kinds[a] == kindTool {
						d.childTool[k] = a
						d.toolChild[a] = k
						return false
					}
					return true
				})
			}
		}
		if a := agentAnc[i]; a >= 0 {
			d.runs[i] = runOfAgent(a, 0)
		}
		if d.kinds[i] == kindAgent {
			d.runs[i] = runOfAgent(i, 0)
		}
	}
	d.childOf = make(map[string]int, len(d.childKey))
	for i, k := range d.childKey {
		d.childOf[k] = i
	}
	d.prompts = map[string][2]string{}
	for i, en := range ents {
		if d.kinds[i] == kindLLM && en.Prompt != "" {
			if _, ok := d.prompts[d.runs[i]]; !ok {
				d.prompts[d.runs[i]] = [2]string{en.Prompt, en.PVer}
			}
		}
	}
}

func childKeyOf(en entry, i int) string {
	if en.ID != "" {
		return en.ID
	}
	return fmt.Sprintf("agent-%d", i)
}

// ancestors calls fn for each ancestor of i, nearest first, until fn returns
// false. Parent loops end the walk.
func (d *decoder) ancestors(i int, fn func(a int) bool) {
	for p, steps := d.parent[i], 0; p >= 0 && steps < len(d.parent); p, steps = d.parent[p], steps+1 {
		if p == i || !fn(p) {
			return
		}
	}
}

// declareMain emits the main run's declaration from the trace object.
func (d *decoder) declareMain() error {
	t := d.ix.trace
	m := trace.RunMeta{
		Format:    Name,
		Source:    d.name,
		Agent:     t.Name,
		Session:   t.SessionID,
		StartedAt: t.Timestamp,
	}
	attrs := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			attrs[k] = v
		}
	}
	set("langfuse.trace_id", t.ID)
	set("langfuse.release", t.Release)
	set("langfuse.version", t.Version)
	set("langfuse.user_id", t.UserID)
	set("langfuse.environment", t.Environment)
	set("langfuse.tags", strings.Join(t.Tags, ","))
	if len(attrs) > 0 {
		m.Attributes = attrs
	}
	var first, last time.Time
	for _, en := range d.ix.entries {
		if !en.Start.IsZero() && (first.IsZero() || en.Start.Before(first)) {
			first = en.Start
		}
		if en.End.After(last) {
			last = en.End
		}
		if en.Start.After(last) {
			last = en.Start
		}
	}
	if m.StartedAt.IsZero() {
		m.StartedAt = first
	}
	m.EndedAt = last
	if m.EndedAt.IsZero() && t.Latency != nil && !m.StartedAt.IsZero() {
		m.EndedAt = m.StartedAt.Add(time.Duration(*t.Latency * float64(time.Second)))
	}
	// The prompt the main run's generations were made from.
	if p, ok := d.prompts[""]; ok {
		m.Instr.PromptName, m.Instr.PromptVersion = p[0], p[1]
	}
	d.state("").meta = m
	d.declared[""] = true
	return d.e.Emit(&trace.Event{Type: trace.EvRun, Meta: &m})
}

// traceInput emits the trace's input as the user prompt that started the
// run, when it is text or messages replay understands.
func (d *decoder) traceInput() error {
	v := value(d.ix.trace.Input)
	if v == nil {
		return nil
	}
	var msgs []trace.Message
	if s, ok := v.(string); ok {
		if strings.TrimSpace(s) == "" {
			return nil
		}
		msgs = []trace.Message{{Role: roleUser, Parts: []trace.Part{{Type: trace.PartText, Text: s}}}}
	} else {
		msgs = parseValue(v, roleUser, 0)
		for _, m := range msgs {
			for _, p := range m.Parts {
				if p.Type == trace.PartOther {
					return nil // not a prompt we can read: the generations' inputs hold it
				}
			}
		}
	}
	for i := range msgs {
		if msgs[i].Role == roleSystem {
			if st := d.state(""); st.system == "" {
				st.system = msgs[i].Text()
			}
		}
		if err := d.e.Emit(&trace.Event{Type: trace.EvMessage, Time: d.ix.trace.Timestamp, Message: &msgs[i]}); err != nil {
			return err
		}
	}
	return nil
}

// declare emits a child run's declaration before its first step.
func (d *decoder) declare(key string) error {
	if d.declared[key] {
		return nil
	}
	d.declared[key] = true
	m := trace.RunMeta{Parent: d.childPar[key]}
	if i, ok := d.childOf[key]; ok {
		en := d.ix.entries[i]
		m.Agent, m.StartedAt, m.EndedAt = en.Name, en.Start, en.End
	}
	if p, ok := d.prompts[key]; ok {
		m.Instr.PromptName, m.Instr.PromptVersion = p[0], p[1]
	}
	if t, ok := d.childTool[key]; ok {
		m.ParentCall = d.callIDs[t]
	}
	d.state(key).meta = m
	return d.e.Emit(&trace.Event{Type: trace.EvRun, Run: key, Meta: &m})
}

func (d *decoder) read(i int) (*observation, error) {
	en := d.ix.entries[i]
	buf := make([]byte, en.n)
	n, err := d.r.ReadAt(buf, en.off)
	if n < len(buf) {
		return nil, fmt.Errorf("read %s: observation %q: %w", d.name, en.ID, err)
	}
	o, err := decodeObservation(buf)
	if err != nil {
		return nil, &trace.LineError{File: d.name, Line: lineAt(d.r, en.off), Err: fmt.Errorf("observation %q: %w", en.ID, err)}
	}
	d.checkObservation(i, buf)
	return o, nil
}

// step emits what observation i contributes.
func (d *decoder) step(i int) error {
	en := d.ix.entries[i]
	switch d.kinds[i] {
	case kindWrapper:
		d.wrappers++
		return nil
	case kindUnknown:
		t := en.Type
		if d.unknown[t] == 0 {
			d.unknownAt[t] = d.objectStart(i)
			d.unknownOrd = append(d.unknownOrd, t)
		}
		d.unknown[t]++
		return nil
	case kindAgent:
		key, ok := d.childKey[i]
		if !ok {
			return nil
		}
		if err := d.declare(key); err != nil {
			return err
		}
		o, err := d.read(i)
		if err != nil {
			return err
		}
		st := d.state(key)
		st.outcome = &trace.Outcome{Status: trace.StatusOK}
		if strings.EqualFold(o.Level, "ERROR") {
			st.outcome.Status = trace.StatusError
			st.outcome.Error = orDefault(o.StatusMessage, "the agent observation has level ERROR")
		}
		if s, ok := value(o.Output).(string); ok {
			st.outcome.Final = s
		}
		return nil
	case kindLLM:
		return d.llm(i)
	case kindTool:
		o, err := d.read(i)
		if err != nil {
			return err
		}
		return d.tool(i, o)
	case kindStructure:
		if strings.EqualFold(en.Type, "SPAN") || strings.EqualFold(en.Type, "CHAIN") {
			o, err := d.read(i)
			if err != nil {
				return err
			}
			if isToolSpan(o, o.attrs()) {
				return d.tool(i, o)
			}
		}
		return nil
	case kindEvent:
		return d.event(i)
	}
	return nil
}

// objectStart returns the offset of the '{' that opens observation i (its
// byte range may start with the separator before it).
func (d *decoder) objectStart(i int) int64 {
	en := d.ix.entries[i]
	buf := make([]byte, min(en.n, 4096))
	n, _ := d.r.ReadAt(buf, en.off)
	if k := bytes.IndexByte(buf[:n], '{'); k >= 0 {
		return en.off + int64(k)
	}
	return en.off
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func (d *decoder) emit(key string, ev *trace.Event) error {
	if key != "" {
		if err := d.declare(key); err != nil {
			return err
		}
	}
	ev.Run = key
	return d.e.Emit(ev)
}

// llm emits a generation as one model call.
func (d *decoder) llm(i int) error {
	o, err := d.read(i)
	if err != nil {
		return err
	}
	en := d.ix.entries[i]
	usage := o.usage()
	cost := o.cost()
	if w, ok := d.fill[i]; ok && (isNull(o.Input) || outputEmpty(o.Output) || usage == nil || o.model() == "") {
		wo, err := d.read(w)
		if err != nil {
			return err
		}
		if isNull(o.Input) {
			o.Input = wo.Input
		}
		if outputEmpty(o.Output) {
			o.Output = wo.Output
		}
		if usage == nil {
			usage = wo.usage()
			if cost == nil {
				cost = wo.cost()
			}
		}
		if o.model() == "" {
			o.Model = wo.model()
		}
	}
	isErr := strings.EqualFold(o.Level, "ERROR")
	if isNull(o.Input) && isNull(o.Output) && usage == nil && cost == nil && !isErr {
		d.empty++
		return nil
	}
	attrs := o.attrs()
	out := value(o.Output)
	call := &trace.LLMCall{
		ID:         responseID(out, attrs),
		Params:     o.params(),
		Model:      o.model(),
		StopReason: stopReason(out),
		Usage:      usage,
		Cost:       trace.Cost{Recorded: cost},
		Output:     trace.Message{Role: roleAssistant},
	}
	var defs []trace.ToolDef
	if !isNull(o.Input) {
		call.Input, defs = stripToolDefs(parseMessages(value(o.Input), roleUser))
		call.InputMode = "full"
	}
	call.Output = mergeAll(parseMessages(out, roleAssistant), roleAssistant)
	if start, end := o.times(); !start.IsZero() && !end.IsZero() && end.After(start) {
		call.LatencyMS = end.Sub(start).Milliseconds()
	}
	if isErr {
		call.Error = orDefault(o.StatusMessage, "the generation has level ERROR")
	}
	key := d.runs[i]
	st := d.state(key)
	if st.model == "" {
		st.model = call.Model
		st.provider = firstStr(attrs, "gen_ai.provider.name", "gen_ai.system", "ai.model.provider", "llm.provider")
	}
	if st.system == "" {
		for _, m := range call.Input {
			if m.Role == roleSystem {
				st.system = m.Text()
				break
			}
		}
	}
	if len(st.tools) == 0 {
		st.tools = toolDefs(o, attrs)
		if len(st.tools) == 0 {
			st.tools = defs
		}
	}
	st.lastLevel, st.lastError = o.Level, call.Error
	if t := call.Output.Text(); t != "" {
		st.lastText = t
	}
	for _, p := range call.Output.Parts {
		if p.Type == trace.PartToolCall {
			d.pending = append(d.pending, pendingCall{at: i, id: p.ID, name: p.Name, args: p.Arguments})
		}
	}
	if len(d.pending) > 512 {
		d.pending = slices.DeleteFunc(d.pending, func(p pendingCall) bool { return p.used })
		if len(d.pending) > 512 {
			d.pending = d.pending[len(d.pending)-512:]
		}
	}
	return d.emit(key, &trace.Event{Type: trace.EvLLM, Time: en.Start, LLM: call})
}

// outputEmpty reports whether an output holds no message: null, "None",
// or nothing replay can read as content.
func outputEmpty(raw json.RawMessage) bool {
	v := value(raw)
	if v == nil {
		return true
	}
	return len(mergeAll(parseMessages(v, roleAssistant), roleAssistant).Parts) == 0
}

// tool emits a tool observation (or a span that is a tool call) as one tool
// step.
func (d *decoder) tool(i int, o *observation) error {
	en := d.ix.entries[i]
	attrs := o.attrs()
	out := value(o.Output)
	tc := &trace.ToolCall{
		Name:      toolName(o, attrs),
		Arguments: argsFromRaw(o.Input),
		Status:    trace.ToolOK,
	}
	tc.CallID = toolCallID(o, attrs, out)
	// Match the model's tool call: by id, else the first unmatched call of
	// that name (preferring one with the same arguments).
	pc := d.matchCall(tc.CallID, tc.Name, tc.Arguments)
	if pc != nil {
		if tc.CallID == "" {
			tc.CallID = pc.id
		}
		if tc.Name == "" {
			tc.Name = pc.name
		}
		if len(tc.Arguments) == 0 || tc.Arguments[0] == '"' {
			tc.Arguments = pc.args
		}
	}
	var isErr bool
	tc.Output, tc.OutputRaw, isErr = toolResult(out)
	if isErr || strings.EqualFold(o.Level, "ERROR") {
		tc.Status = trace.ToolError
		if tc.Output == "" && len(tc.OutputRaw) == 0 {
			tc.Output = o.StatusMessage
		}
	}
	if start, end := o.times(); !start.IsZero() && !end.IsZero() && !end.Before(start) {
		tc.DurationMS = end.Sub(start).Milliseconds()
	}
	tc.Child = d.toolChild[i]
	d.callIDs[i] = tc.CallID
	return d.emit(d.runs[i], &trace.Event{Type: trace.EvTool, Time: en.Start, Tool: tc})
}

func (d *decoder) matchCall(id, name string, args json.RawMessage) *pendingCall {
	if id != "" {
		for j := range d.pending {
			if p := &d.pending[j]; !p.used && p.id == id {
				p.used = true
				return p
			}
		}
		return nil
	}
	var byName *pendingCall
	for j := range d.pending {
		p := &d.pending[j]
		if p.used || p.name != name {
			continue
		}
		if sameArgs(p.args, args) {
			p.used = true
			return p
		}
		if byName == nil {
			byName = p
		}
	}
	if byName != nil {
		byName.used = true
	}
	return byName
}

// sameArgs compares a model's tool call arguments with a tool observation's
// input, which some SDKs wrap as {"input": args}.
func sameArgs(call, input json.RawMessage) bool {
	if jsonEqual(call, input) {
		return true
	}
	if m := asMap(value(input)); len(m) == 1 && m["input"] != nil {
		return jsonEqual(call, rawOf(m["input"]))
	}
	return false
}

// event emits an EVENT observation that carries a message with a role as a
// message step; other events are structure.
func (d *decoder) event(i int) error {
	o, err := d.read(i)
	if err != nil {
		return err
	}
	for _, raw := range []json.RawMessage{o.Input, o.Output} {
		msgs := roleMessages(value(raw))
		if len(msgs) == 0 {
			continue
		}
		for k := range msgs {
			if err := d.emit(d.runs[i], &trace.Event{Type: trace.EvMessage, Time: d.ix.entries[i].Start, Message: &msgs[k]}); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}

// roleMessages returns the messages v holds when it is a message, or a list
// of them, that says its role.
func roleMessages(v any) []trace.Message {
	switch x := v.(type) {
	case map[string]any:
		if x["role"] != nil {
			return []trace.Message{objectMessage(x, roleUser, 0)}
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
		for _, it := range x {
			if asMap(it)["role"] == nil {
				return nil
			}
		}
		return parseList(x, roleUser, 0)
	}
	return nil
}

// finish emits the final declarations, the outcomes and the warnings.
func (d *decoder) finish() error {
	// Child runs: what was learned late, and their outcomes.
	keys := make([]string, 0, len(d.childKey))
	for _, k := range d.childKey {
		if d.declared[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		st := d.state(k)
		m := trace.RunMeta{Instr: trace.Instructions{System: st.system, Tools: st.tools}, Defaults: trace.Params{Model: st.model, Provider: st.provider}}
		if t, ok := d.childTool[k]; ok && st.meta.ParentCall == "" {
			m.ParentCall = d.callIDs[t]
		}
		if err := d.e.Emit(&trace.Event{Type: trace.EvRun, Run: k, Meta: &m}); err != nil {
			return err
		}
		o := st.outcome
		if o == nil {
			o = &trace.Outcome{Status: trace.StatusUnknown}
		}
		if o.Final == "" {
			o.Final = st.lastText
		}
		if err := d.e.Emit(&trace.Event{Type: trace.EvOutcome, Run: k, Outcome: o}); err != nil {
			return err
		}
	}
	main := d.state("")
	m := trace.RunMeta{Instr: trace.Instructions{System: main.system, Tools: main.tools}, Defaults: trace.Params{Model: main.model, Provider: main.provider}}
	if err := d.e.Emit(&trace.Event{Type: trace.EvRun, Meta: &m}); err != nil {
		return err
	}
	if err := d.e.Emit(&trace.Event{Type: trace.EvOutcome, Outcome: d.mainOutcome(main)}); err != nil {
		return err
	}
	if err := emitScores(d.e, d.ix.trace.Scores); err != nil {
		return err
	}
	if d.wrappers > 0 {
		d.warn(0, fmt.Sprintf("%d GENERATION observation(s) wrap other generations (a framework span around the provider call): only the inner calls are counted", d.wrappers))
	}
	if d.empty > 0 {
		d.warn(0, fmt.Sprintf("%d GENERATION observation(s) with no input, output, usage or cost were skipped", d.empty))
	}
	// A model's tool call that no TOOL observation answered: the call
	// stays in the model's answer, its result is nowhere.
	for _, p := range d.pending {
		if !p.used {
			line := lineAt(d.r, d.objectStart(p.at))
			d.warnings = append(d.warnings, trace.Warning{File: d.name, Line: line, Field: "output",
				Message: fmt.Sprintf("observation %q: a tool call without a recorded result (call %q, tool %q)", d.ix.entries[p.at].ID, p.id, p.name)})
		}
	}
	for _, t := range d.unknownOrd {
		line := lineAt(d.r, d.unknownAt[t])
		d.warn(line, fmt.Sprintf("%d records of unknown type %q (first at line %d)", d.unknown[t], t, line))
	}
	for i := range d.warnings {
		if err := d.e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &d.warnings[i]}); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) warn(line int, msg string) {
	d.warnings = append(d.warnings, trace.Warning{File: d.name, Line: line, Message: msg})
}

// mainOutcome: error when a root observation or the run's last model call
// has level ERROR; Final is the trace's output when it is text (or a
// message), else the last text the model wrote; Recorded holds the trace's
// totalCost and latency.
func (d *decoder) mainOutcome(st *runState) *trace.Outcome {
	o := &trace.Outcome{Status: trace.StatusOK}
	for i, en := range d.ix.entries {
		if d.parent[i] < 0 && strings.EqualFold(en.Level, "ERROR") {
			o.Status = trace.StatusError
			o.Error = orDefault(en.Status, fmt.Sprintf("observation %q has level ERROR", en.Name))
		}
	}
	if o.Status == trace.StatusOK && strings.EqualFold(st.lastLevel, "ERROR") {
		o.Status = trace.StatusError
		o.Error = st.lastError
	}
	switch v := value(d.ix.trace.Output).(type) {
	case string:
		o.Final = v
	case nil:
	default:
		msgs := parseMessages(v, roleAssistant)
		if n := len(msgs); n > 0 {
			o.Final = msgs[n-1].Text()
		}
	}
	if o.Final == "" {
		o.Final = st.lastText
	}
	t := d.ix.trace
	if t.TotalCost != nil || t.Latency != nil {
		o.Recorded = &trace.Totals{CostUSD: t.TotalCost}
		if t.Latency != nil {
			o.Recorded.DurationMS = int64(*t.Latency * 1000)
		}
	}
	return o
}
