package otel

import (
	"bytes"
	"cmp"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// Format names.
const (
	NameOTLP  = "otlp-json"
	NameSpans = "otel-spans"
)

// OTLP is the format of OTLP/JSON files: TracesData documents, one per line
// (the OTel file exporter, fullsend's run-telemetry.jsonl) or one
// pretty-printed document.
type OTLP struct{}

// Spans is the format of OTel SDK span dumps (Python ReadableSpan.to_json()
// lists, any-agent traces, ConsoleSpanExporter output, JSON Lines of span
// objects) and of bare OpenInference / GenAI attribute maps.
type Spans struct{}

// Name implements trace.Format.
func (OTLP) Name() string { return NameOTLP }

// Name implements trace.Format.
func (Spans) Name() string { return NameSpans }

// Detect implements trace.Format: the first JSON object has a
// resourceSpans member.
func (OTLP) Detect(src *trace.Source) bool {
	return !src.IsDir && sniff(src.Head) == shapeOTLP
}

// Detect implements trace.Format: the first JSON object is a span object
// (or any-agent's {"spans":[…]}) or a map of GenAI / OpenInference
// attributes.
func (Spans) Detect(src *trace.Source) bool {
	if src.IsDir {
		return false
	}
	s := sniff(src.Head)
	return s == shapeSpan || s == shapeAttrs
}

// Import implements trace.Format.
func (OTLP) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	return importFile(ctx, src, opts, NameOTLP, e)
}

// Import implements trace.Format.
func (Spans) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	return importFile(ctx, src, opts, NameSpans, e)
}

// Shapes of a file, as sniffed from its head.
const (
	shapeNone = iota
	shapeOTLP
	shapeSpan
	shapeAttrs
)

// sniff reads the member names of the first JSON object of head (looking
// into a top-level array and into a "spans" list) to tell the shapes apart.
func sniff(head []byte) int {
	dec := stdjson.NewDecoder(bytes.NewReader(head))
	tok, err := dec.Token()
	if err != nil {
		return shapeNone
	}
	if tok == stdjson.Delim('[') {
		if tok, err = dec.Token(); err != nil || tok != stdjson.Delim('{') {
			return shapeNone
		}
	} else if tok != stdjson.Delim('{') {
		return shapeNone
	}
	keys := map[string]stdjson.RawMessage{}
	for n := 0; n < 256 && dec.More(); n++ {
		kt, err := dec.Token()
		if err != nil {
			break
		}
		key, _ := kt.(string)
		switch key {
		case "resourceSpans", "resource_spans":
			return shapeOTLP
		case "spans":
			if t, err := dec.Token(); err == nil && t == stdjson.Delim('[') {
				if t, err := dec.Token(); err == nil && t == stdjson.Delim('{') {
					return shapeSpan
				}
			}
			return shapeNone
		}
		keys[key] = nil
		var skip stdjson.RawMessage
		if dec.Decode(&skip) != nil {
			break // the head ends inside this value
		}
	}
	if detectSpan(keys) {
		return shapeSpan
	}
	if attrMapLike(keys) {
		return shapeAttrs
	}
	return shapeNone
}

// detectSpan is spanLike made strict for detection: a span object has a
// name and an id member.
func detectSpan(keys map[string]stdjson.RawMessage) bool {
	if _, ok := keys["name"]; !ok {
		return false
	}
	for _, k := range []string{"traceId", "trace_id", "spanId", "span_id", "context", "parentSpanId", "parent_id"} {
		if _, ok := keys[k]; ok {
			return true
		}
	}
	return false
}

func importFile(ctx context.Context, src *trace.Source, opts trace.Options, format string, e trace.Emitter) error {
	f, err := os.Open(src.Path)
	if err != nil {
		return fmt.Errorf("import %q: %w", src.Path, errors.Unwrap(err))
	}
	defer f.Close()
	var ra io.ReaderAt
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		ra = f
	}
	return importSpans(ctx, f, ra, src.Path, format, opts, e)
}

// importSpans reads spans in two passes. The first keeps a small node per
// span (ids, times, class, a few names) and where its bytes are; the second
// reads each step's span again, in run order, and emits it. Between the
// passes memory holds only the nodes, so a large trace imports in bounded
// memory. When the input cannot be read twice (ra is nil: a pipe), the
// spans are kept whole instead.
func importSpans(ctx context.Context, r io.Reader, ra io.ReaderAt, name, format string, opts trace.Options, e trace.Emitter) error {
	sc := newScanner(name, opts, ra == nil)
	sc.lite = true
	var nodes []*node
	err := sc.scan(ctx, r, func(sp *Span, ref *spanRef) error {
		nodes = append(nodes, newNode(sp, ref, len(nodes)))
		return nil
	})
	if err != nil {
		var le *trace.LineError
		if errors.As(err, &le) || errors.Is(err, trace.ErrNotTrace) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("import %q: %w", name, err)
	}
	if len(nodes) == 0 {
		return fmt.Errorf("import %q: %w: no spans found", name, trace.ErrNotTrace)
	}
	im := &importer{ctx: ctx, name: name, format: format, sc: sc, f: &fetcher{s: sc, r: ra, leadLine: -1}, e: e}
	im.warns = sc.warnings()
	return im.run(nodes)
}

// node is what the first pass keeps of a span.
type node struct {
	idx                       int
	ref                       spanRef
	traceID, spanID, parentID string
	start, end                time.Time
	status                    int
	class                     int
	op                        string
	toolName, callID          string
	conv                      string
	fullsend                  bool
	iteration                 bool   // a factory agent span (one iteration of the agent)
	toolDesc                  string // tool spans: gen_ai.tool.description
	wrapper                   bool   // a model-call span around other model-call spans
	checked                   bool   // its attributes' types were checked (see checkAttrs)

	parent       *node
	agent        *node              // nearest enclosing agent span
	key          string             // run key, for agent spans
	parentCall   string             // agent spans: call id of the tool span that started it
	childKey     string             // tool spans: run key of the sub-agent it started
	inferredCall string             // tool spans: call id taken from the model's tool_call part
	inferredArgs stdjson.RawMessage // tool spans: arguments taken from the model's tool_call part
}

func newNode(sp *Span, ref *spanRef, idx int) *node {
	n := &node{idx: idx, ref: *ref, traceID: sp.TraceID, spanID: sp.SpanID, parentID: sp.ParentID,
		start: sp.Start, end: sp.End, status: sp.StatusCode}
	n.class, n.op = classify(sp)
	a := attrs(sp.Attrs)
	if n.class == classTool {
		n.toolName = toolName(sp)
		n.callID = a.first("gen_ai.tool.call.id", "tool_call.id")
		n.toolDesc = a.first("gen_ai.tool.description", "tool.description")
	}
	n.conv = a.first("gen_ai.conversation.id", "session.id")
	n.fullsend = hasPrefix(sp.Attrs, "fullsend.")
	n.iteration = n.class == classAgent && (sp.Name == "agent" || a.has("iteration"))
	return n
}

func (n *node) line() int { return n.ref.line }

type importer struct {
	ctx    context.Context
	name   string
	format string
	sc     *scanner
	f      *fetcher
	e      trace.Emitter
	warns  []trace.Warning

	fromReplay bool // the trace is replay's export (see AttrRunID)
}

func (im *importer) warn(line int, format string, args ...any) {
	im.warns = append(im.warns, trace.Warning{File: im.name, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (im *importer) fetch(n *node) (*Span, error) {
	if err := im.ctx.Err(); err != nil {
		return nil, err
	}
	sp, err := im.f.fetch(&n.ref)
	if err == nil && !n.checked {
		n.checked = true
		im.checkAttrs(sp)
	}
	return sp, err
}

// run builds the run structure from the nodes and emits it.
func (im *importer) run(all []*node) error {
	nodes := im.link(im.pickTrace(all))

	// The main run's span: the outermost agent span, else the root.
	var mainAgent, root *node
	for _, n := range nodes {
		if n.class == classAgent && n.agent == nil && (mainAgent == nil || earlier(n, mainAgent)) {
			mainAgent = n
		}
		if n.parent == nil && (root == nil || earlier(n, root)) {
			root = n
		}
	}
	runSpan := mainAgent
	if runSpan == nil {
		runSpan = root
	}

	// Runs and their steps.
	steps := map[string][]*node{}
	var children []*node
	hasLLM := false
	unknown := map[string]*[2]int{}
	var unknownOrder []string
	for _, n := range nodes {
		switch n.class {
		case classAgent:
			if n.agent != nil {
				children = append(children, n)
			}
		case classLLM, classTool:
			k := ""
			if n.agent != nil {
				k = n.agent.key
			}
			steps[k] = append(steps[k], n)
			if n.class == classLLM {
				hasLLM = true
			}
		case classUnknown:
			c := unknown[n.op]
			if c == nil {
				c = &[2]int{0, n.line()}
				unknown[n.op] = c
				unknownOrder = append(unknownOrder, n.op)
			}
			c[0]++
		}
	}
	for _, op := range unknownOrder {
		c := unknown[op]
		im.warn(c[1], "%d spans of operation %q not imported (first at line %d)", c[0], op, c[1])
	}
	for k := range steps {
		sortSteps(steps[k])
	}
	sort.SliceStable(children, func(i, j int) bool { return earlier(children[i], children[j]) })

	// The main run.
	var mainSpan *Span
	if runSpan != nil {
		sp, err := im.fetch(runSpan)
		if err != nil {
			return err
		}
		mainSpan = sp
		// replay's export has a span for every tool call: tool results in
		// its requests are no calls of their own.
		im.fromReplay = mainAgent != nil && attrs(sp.Attrs).has(AttrRunID)
	}
	var factory *FactoryRun
	if root != nil && root.fullsend {
		fr, err := im.factory(nodes, root)
		if err != nil {
			return err
		}
		factory = fr
	}
	meta := trace.RunMeta{Format: im.format, Source: im.name}
	if factory != nil {
		meta = factory.Meta()
		meta.Format, meta.Source = im.format, im.name
		if !hasLLM {
			meta.Blockers = append(meta.Blockers, TelemetryOnly)
		}
	}
	if mainSpan != nil {
		im.spanMeta(&meta, mainSpan, mainAgent != nil)
	}

	if meta.Session == "" {
		for _, n := range nodes {
			if n.conv != "" {
				meta.Session = n.conv
				break
			}
		}
	}
	if len(nodes) > 0 && nodes[0].traceID != "" {
		if meta.Attributes == nil {
			meta.Attributes = map[string]string{}
		}
		meta.Attributes["otel.trace_id"] = nodes[0].traceID
	}
	if mainAgent == nil {
		// No agent span: the run spans all the trace's spans.
		for _, n := range nodes {
			if !n.start.IsZero() && (meta.StartedAt.IsZero() || n.start.Before(meta.StartedAt)) {
				meta.StartedAt = n.start
			}
			if n.end.After(meta.EndedAt) {
				meta.EndedAt = n.end
			}
		}
	}

	final, err := im.emitRun("", &meta, steps[""])
	if err != nil {
		return err
	}
	for _, c := range children {
		sp, err := im.fetch(c)
		if err != nil {
			return err
		}
		cm := trace.RunMeta{Parent: "", ParentCall: c.parentCall}
		if c.agent != nil {
			cm.Parent = c.agent.key
		}
		im.spanMeta(&cm, sp, true)
		cfinal, err := im.emitRun(c.key, &cm, steps[c.key])
		if err != nil {
			return err
		}
		if err := im.e.Emit(&trace.Event{Type: trace.EvOutcome, Run: c.key, Outcome: outcomeOf(sp, cfinal, true)}); err != nil {
			return err
		}
	}

	var out *trace.Outcome
	switch {
	case factory != nil:
		out = factory.Outcome()
		out.Final = final
	case mainSpan != nil:
		if final == "" && mainAgent != nil && im.sc.finalOutput != "" {
			final = im.sc.finalOutput
		}
		out = outcomeOf(mainSpan, final, mainAgent != nil)
		if out.Status != trace.StatusError && root != nil && root != runSpan && root.status == StatusError {
			// The trace's root (a wrapper around the agent) failed.
			sp, err := im.fetch(root)
			if err != nil {
				return err
			}
			out.Status, out.Error = trace.StatusError, sp.StatusMessage
			if out.Error == "" {
				out.Error = "the trace's root span ended with an error status"
			}
		}
	default:
		out = &trace.Outcome{Status: trace.StatusOK, Final: final}
	}
	if err := im.e.Emit(&trace.Event{Type: trace.EvOutcome, Outcome: out}); err != nil {
		return err
	}
	for i := range im.warns {
		if err := im.e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &im.warns[i]}); err != nil {
			return err
		}
	}
	return nil
}

func earlier(a, b *node) bool {
	if !a.start.IsZero() && !b.start.IsZero() && !a.start.Equal(b.start) {
		return a.start.Before(b.start)
	}
	return a.idx < b.idx
}

// sortSteps orders steps by start time, stably. A span without a start
// time stays right after the span that precedes it in the file.
func sortSteps(ns []*node) {
	eff := make(map[*node]time.Time, len(ns))
	var last time.Time
	for _, n := range ns {
		if !n.start.IsZero() {
			last = n.start
		}
		eff[n] = last
	}
	sort.SliceStable(ns, func(i, j int) bool { return eff[ns[i]].Before(eff[ns[j]]) })
}

// pickTrace keeps the spans of one trace. A file holding several traces is
// imported as the trace with the most model calls and tool calls (then the
// most spans, then the first); the others are left out with a warning:
// each trace is one agent invocation, and unrelated invocations do not make
// one run.
func (im *importer) pickTrace(all []*node) []*node {
	type group struct {
		id           string
		nodes        []*node
		steps, first int
	}
	var order []*group
	byID := map[string]*group{}
	for _, n := range all {
		g := byID[n.traceID]
		if g == nil {
			g = &group{id: n.traceID, first: n.line()}
			byID[n.traceID] = g
			order = append(order, g)
		}
		g.nodes = append(g.nodes, n)
		if n.class == classLLM || n.class == classTool {
			g.steps++
		}
	}
	best := order[0]
	for _, g := range order[1:] {
		if g.steps > best.steps || (g.steps == best.steps && len(g.nodes) > len(best.nodes)) {
			best = g
		}
	}
	if len(order) > 1 {
		left, first := 0, 0
		for _, g := range order {
			if g != best {
				left += len(g.nodes)
				if first == 0 || g.first < first {
					first = g.first
				}
			}
		}
		im.warn(first, "the file holds %d traces: imported trace %q (%d spans); %d other traces (%d spans, the first at line %d) were left out: each trace is a run of its own",
			len(order), best.id, len(best.nodes), len(order)-1, left, first)
	}
	return best.nodes
}

// link drops repeated spans, and sets parents, enclosing agents, run keys,
// and the tool spans that started sub-agents. It returns the nodes kept.
func (im *importer) link(nodes []*node) []*node {
	byID := map[string]*node{}
	dups, firstDup := 0, 0
	kept := nodes[:0:0]
	for _, n := range nodes {
		if n.spanID == "" {
			kept = append(kept, n)
			continue
		}
		if byID[n.spanID] != nil {
			if dups == 0 {
				firstDup = n.line()
			}
			dups++
			continue
		}
		byID[n.spanID] = n
		kept = append(kept, n)
	}
	if dups > 0 {
		im.warn(firstDup, "%d spans appear more than once (first at line %d): the first copy of each was kept", dups, firstDup)
	}
	nodes = kept
	for _, n := range nodes {
		if p := byID[n.parentID]; p != nil && p != n && n.parentID != "" {
			n.parent = p
		}
	}
	// The factory's per-iteration agent spans are iterations of the run's
	// agent, not sub-agents.
	for _, n := range nodes {
		if n.iteration && n.parent != nil && n.parent.fullsend && n.parent.parent == nil {
			n.class = classOther
		}
	}
	breakCycles(nodes)

	// A model-call span that wraps other model-call spans (a framework's
	// span around the provider instrumentation's) is one response counted
	// by the inner spans: the wrapper is not imported.
	isCall := func(n *node) bool { return n.class == classLLM || n.class == classAgent }
	near := nearestAncestor(nodes, isCall)
	wrappers, firstWrapper := 0, 0
	for _, n := range nodes {
		if p := near[n]; n.class == classLLM && p != nil && p.class == classLLM && !p.wrapper {
			p.wrapper = true
			if wrappers == 0 || p.line() < firstWrapper {
				firstWrapper = p.line()
			}
			wrappers++
		}
	}
	for _, n := range nodes {
		if n.wrapper {
			n.class = classOther
		}
	}
	if wrappers > 0 {
		im.warn(firstWrapper, "%d model-call spans wrap other model-call spans (first at line %d): only the inner ones were imported", wrappers, firstWrapper)
	}

	// Enclosing agents. Agent spans inside another agent are sub-agent runs
	// keyed by span id; the others fold into the main run.
	isAgent := func(n *node) bool { return n.class == classAgent }
	for n, a := range nearestAncestor(nodes, isAgent) {
		n.agent = a
	}
	for _, n := range nodes {
		if n.class != classAgent || n.agent == nil {
			continue
		}
		n.key = n.spanID
		if n.key == "" {
			n.key = "agent-" + strconv.Itoa(n.idx)
		}
	}
	// The tool span between a sub-agent and its enclosing agent is the call
	// that started it.
	isToolOrAgent := func(n *node) bool { return n.class == classTool || n.class == classAgent }
	nearTool := nearestAncestor(nodes, isToolOrAgent)
	for _, n := range nodes {
		if n.class != classAgent || n.agent == nil {
			continue
		}
		if t := nearTool[n]; t != nil && t.class == classTool && t.childKey == "" {
			n.parentCall = t.callID
			t.childKey = n.key
		}
	}
	return nodes
}

// breakCycles cuts parent links that make loops (hostile input), so that
// every walk up the parents ends.
func breakCycles(nodes []*node) {
	const (
		inPath = 1
		done   = 2
	)
	state := make(map[*node]uint8, len(nodes))
	for _, n := range nodes {
		var path []*node
		cur := n
		for cur != nil && state[cur] == 0 {
			state[cur] = inPath
			path = append(path, cur)
			cur = cur.parent
		}
		if cur != nil && state[cur] == inPath {
			path[len(path)-1].parent = nil
		}
		for _, p := range path {
			state[p] = done
		}
	}
}

// nearestAncestor maps every node to its nearest strict ancestor for which
// pred holds (nil when none), in time linear in the number of nodes.
func nearestAncestor(nodes []*node, pred func(*node) bool) map[*node]*node {
	res := make(map[*node]*node, len(nodes))
	done := make(map[*node]bool, len(nodes))
	for _, n := range nodes {
		var path []*node
		cur := n
		for cur != nil && !done[cur] {
			path = append(path, cur)
			cur = cur.parent
		}
		var a *node
		if cur != nil {
			a = res[cur]
			if pred(cur) {
				a = cur
			}
		}
		for i := len(path) - 1; i >= 0; i-- {
			res[path[i]] = a
			done[path[i]] = true
			if pred(path[i]) {
				a = path[i]
			}
		}
	}
	return res
}

// spanMeta fills run metadata from the run's own span (an agent span, or
// the trace root). agent says the span is an agent span.
func (im *importer) spanMeta(m *trace.RunMeta, sp *Span, agent bool) {
	a := attrs(sp.Attrs)
	if agent {
		if n := agentName(sp); n != "" {
			m.Agent = n
		}
		if !sp.Start.IsZero() {
			m.StartedAt = sp.Start
		}
		if !sp.End.IsZero() {
			m.EndedAt = sp.End
		}
	}
	if s := a.first("gen_ai.conversation.id", "session.id"); s != "" {
		m.Session = s
	}
	if agent && m.Defaults.Model == "" {
		m.Defaults.Model = a.first("gen_ai.request.model")
	}
	if agent && m.Defaults.Provider == "" {
		m.Defaults.Provider = a.first("gen_ai.provider.name", "gen_ai.system")
	}
	if m.Generator == "" {
		m.Generator = generator(sp)
	}
	if agent {
		replayMeta(a, m)
	}
}

// usedTools lists the tools a run's tool spans executed, for runs whose
// model calls did not record the tool definitions: names and descriptions
// only, in order of first use. A replay can then offer the model at least
// the tools it used.
func usedTools(steps []*node) []trace.ToolDef {
	var defs []trace.ToolDef
	seen := map[string]bool{}
	for _, n := range steps {
		if n.class != classTool || n.toolName == "" || seen[n.toolName] {
			continue
		}
		seen[n.toolName] = true
		defs = append(defs, trace.ToolDef{Name: n.toolName, Description: n.toolDesc})
	}
	return defs
}

func generator(sp *Span) string {
	if sp.Scope != "" {
		return sp.Scope
	}
	if v := attrs(sp.Attrs).str("any_agent.version"); v != "" {
		return "any_agent " + v
	}
	r := attrs(sp.Resource)
	if lang, ver := r.str("telemetry.sdk.language"), r.str("telemetry.sdk.version"); lang != "" && ver != "" {
		return "opentelemetry-" + lang + " " + ver
	}
	return ""
}

// outcomeOf is a run's outcome from its span: error when the span's status
// is, with the totals an agent span recorded (GenAI usage, recorded cost).
func outcomeOf(sp *Span, final string, agent bool) *trace.Outcome {
	out := &trace.Outcome{Status: trace.StatusOK, Final: final}
	if sp == nil {
		return out
	}
	if sp.StatusCode == StatusError {
		out.Status = trace.StatusError
		out.Error = sp.StatusMessage
		if out.Error == "" {
			out.Error = "the span ended with an error status"
		}
	}
	if !agent {
		return out
	}
	a := attrs(sp.Attrs)
	u := usage(a, false)
	c := recordedCost(a)
	if u != nil || c != nil {
		out.Recorded = &trace.Totals{Usage: u, CostUSD: c, DurationMS: sp.Duration().Milliseconds()}
	}
	replayOutcome(a, out)
	return out
}

// factory reads the factory's totals from the root and its iteration spans.
func (im *importer) factory(nodes []*node, root *node) (*FactoryRun, error) {
	var spans []Span
	for _, n := range nodes {
		if n != root && !(n.parent == root && (n.fullsend || n.iteration)) {
			continue
		}
		sp, err := im.fetch(n)
		if err != nil {
			return nil, err
		}
		spans = append(spans, *sp)
	}
	return FactoryTotals(spans)
}

// emitRun emits a run's declaration and steps, and returns the text of its
// last model answer.
func (im *importer) emitRun(key string, meta *trace.RunMeta, steps []*node) (string, error) {
	// The first model call gives the run its instructions and first
	// messages: read it before declaring the run.
	var firstLLM *node
	var first *trace.LLMCall
	var firstInfo llmInfo
	for _, n := range steps {
		if n.class == classLLM {
			firstLLM = n
			break
		}
	}
	if firstLLM != nil {
		sp, err := im.fetch(firstLLM)
		if err != nil {
			return "", err
		}
		first, firstInfo = llmCall(sp)
		if meta.Instr.System == "" {
			meta.Instr.System = firstInfo.system
		}
		if len(meta.Instr.Tools) == 0 {
			meta.Instr.Tools = firstInfo.tools
		}
		if meta.Defaults.Model == "" {
			meta.Defaults.Model = first.Params.Model
		}
		if meta.Defaults.Provider == "" {
			meta.Defaults.Provider = first.Params.Provider
		}
		if meta.Defaults.Temperature == nil && first.Params.Temperature != nil {
			p := first.Params
			meta.Defaults.Temperature, meta.Defaults.TopP, meta.Defaults.TopK = p.Temperature, p.TopP, p.TopK
			meta.Defaults.MaxTokens, meta.Defaults.Seed = p.MaxTokens, p.Seed
		}
	}
	opening, err := im.opening(first, steps)
	if err != nil {
		return "", err
	}
	if meta.Instr.System == "" {
		var sys []string
		for _, m := range opening {
			if m.Role == "system" {
				sys = append(sys, m.Text())
			}
		}
		meta.Instr.System = strings.Join(sys, "\n\n")
	}
	if len(meta.Instr.Tools) == 0 {
		meta.Instr.Tools = usedTools(steps)
	}
	if err := im.e.Emit(&trace.Event{Type: trace.EvRun, Run: key, Meta: meta}); err != nil {
		return "", err
	}

	st := &runState{im: im, key: key, seen: map[string]bool{}}
	final := ""
	for i, n := range steps {
		switch n.class {
		case classLLM:
			call := first
			if n != firstLLM {
				sp, err := im.fetch(n)
				if err != nil {
					return "", err
				}
				call, _ = llmCall(sp)
			}
			if err := st.beforeCall(n, call, n == firstLLM, opening); err != nil {
				return "", err
			}
			st.matchTools(call, steps[i+1:])
			st.callAt = n
			final = call.Output.Text()
			if err := im.e.Emit(&trace.Event{Type: trace.EvLLM, Run: key, Time: n.start, LLM: call}); err != nil {
				return "", err
			}
		case classTool:
			sp, err := im.fetch(n)
			if err != nil {
				return "", err
			}
			tc := toolCall(sp)
			if tc.CallID == "" {
				tc.CallID = n.inferredCall
			}
			if tc.Arguments == nil {
				tc.Arguments = n.inferredArgs
			}
			tc.Child = n.childKey
			if err := im.e.Emit(&trace.Event{Type: trace.EvTool, Run: key, Time: n.start, Tool: tc}); err != nil {
				return "", err
			}
		}
	}
	// The last answer's calls that no tool span answered have no request
	// after them to hold their results.
	if err := st.missing(st.pending); err != nil {
		return "", err
	}
	return final, nil
}

// lookahead bounds how many later model calls opening reads.
const lookahead = 4

// opening returns the messages that opened the conversation when the first
// model call did not record its request: those before the first assistant
// message in the first of the next few calls that did.
func (im *importer) opening(first *trace.LLMCall, steps []*node) ([]trace.Message, error) {
	if first == nil || first.Input != nil {
		return nil, nil
	}
	seen := 0
	for _, n := range steps {
		if n.class != classLLM {
			continue
		}
		if seen++; seen == 1 {
			continue // the first call itself
		}
		if seen > lookahead+1 {
			break
		}
		sp, err := im.fetch(n)
		if err != nil {
			return nil, err
		}
		call, _ := llmCall(sp)
		if call.Input == nil {
			continue
		}
		for i, m := range call.Input {
			if m.Role == "assistant" {
				return call.Input[:i], nil
			}
		}
		return nil, nil
	}
	return nil, nil
}

// Details of synthesized tool events.
const (
	detailHistory = `{"synthesized":"from the conversation history of the first model request"}`
	detailNext    = `{"synthesized":"from the tool result in the next model request"}`
)

// runState carries what emitting one run's steps needs to remember: the
// user messages already emitted and the model's tool calls that no tool
// span answered.
type runState struct {
	im      *importer
	key     string
	seen    map[string]bool
	pending []trace.Part // tool_call parts of the last answer without a tool span
	callAt  *node        // the model call that made them
}

// missing emits the pending tool calls that no result answered, marked
// missing, with a warning each: a call is never dropped in silence.
func (st *runState) missing(parts []trace.Part) error {
	for _, p := range parts {
		line := 0
		var at time.Time
		if st.callAt != nil {
			line, at = st.callAt.ref.line, st.callAt.end
		}
		st.im.warns = append(st.im.warns, trace.Warning{File: st.im.name, Line: line, Field: "gen_ai.output.messages",
			Message: fmt.Sprintf("a tool call without a recorded result (call %q, tool %q): kept, marked missing", p.ID, p.Name)})
		if st.im.fromReplay {
			continue
		}
		name := p.Name
		if name == "" {
			name = "unknown"
		}
		tc := &trace.ToolCall{CallID: p.ID, Name: name, Arguments: p.Arguments, Status: trace.ToolMissing}
		if err := st.im.e.Emit(&trace.Event{Type: trace.EvTool, Run: st.key, Time: at, Tool: tc}); err != nil {
			return err
		}
	}
	return nil
}

func userKey(m trace.Message) string { return m.Role + "\x00" + m.Text() }

// beforeCall emits what enters the conversation before a model call: for
// the first call, the messages of its request (user and assistant messages
// as message events, tool results as tool events); for later calls, user
// messages not seen before that follow the last assistant message, and tool
// events for the previous answer's tool calls whose results appear in this
// request without a tool span.
func (st *runState) beforeCall(n *node, call *trace.LLMCall, first bool, opening []trace.Message) error {
	if first {
		if call.Input == nil {
			return st.history(n, opening)
		}
		return st.history(n, call.Input)
	}
	if len(st.pending) > 0 {
		byID := map[string]trace.Part{}
		for _, p := range st.pending {
			if p.ID != "" {
				byID[p.ID] = p
			}
		}
		for _, m := range call.Input {
			for _, p := range m.Parts {
				c, ok := byID[p.ID]
				if p.Type != trace.PartToolResult || !ok {
					continue
				}
				delete(byID, p.ID)
				if err := st.emitTool(n.start, c, p, detailNext); err != nil {
					return err
				}
			}
		}
		var left []trace.Part
		for _, p := range st.pending {
			if _, ok := byID[p.ID]; ok || p.ID == "" {
				left = append(left, p)
			}
		}
		if err := st.missing(left); err != nil {
			return err
		}
		st.pending = nil
	}
	last := -1
	for i, m := range call.Input {
		if m.Role == "assistant" {
			last = i
		}
	}
	for _, m := range call.Input[last+1:] {
		if m.Role != "user" || m.Text() == "" || st.seen[userKey(m)] {
			continue
		}
		st.seen[userKey(m)] = true
		if err := st.emitMessage(n.start, m); err != nil {
			return err
		}
	}
	return nil
}

// history emits the messages of the first request, so that the run's steps
// alone hold the conversation a replay starts from. System messages are the
// run's instructions and are not repeated.
func (st *runState) history(n *node, input []trace.Message) error {
	calls := map[string]trace.Part{}
	for _, m := range input {
		if m.Role == "system" {
			continue
		}
		var keep []trace.Part
		for _, p := range m.Parts {
			switch p.Type {
			case trace.PartToolCall:
				if p.ID != "" {
					calls[p.ID] = p
				}
				keep = append(keep, p)
			case trace.PartToolResult:
				c, ok := calls[p.ID]
				if !ok {
					c = trace.Part{Type: trace.PartToolCall, ID: p.ID, Name: m.Name}
					st.im.warns = append(st.im.warns, trace.Warning{File: st.im.name, Line: n.ref.line, Field: "gen_ai.input.messages",
						Message: fmt.Sprintf("a tool result without its call (call %q): kept, the tool named %q", p.ID, cmp.Or(m.Name, "unknown"))})
				}
				if err := st.emitTool(n.start, c, p, detailHistory); err != nil {
					return err
				}
			default:
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			continue
		}
		mm := trace.Message{Role: m.Role, Name: m.Name, Parts: keep, Meta: m.Meta}
		if mm.Role == "tool" {
			continue
		}
		if mm.Role == "user" {
			st.seen[userKey(mm)] = true
		}
		if err := st.emitMessage(n.start, mm); err != nil {
			return err
		}
	}
	return nil
}

func (st *runState) emitMessage(t time.Time, m trace.Message) error {
	return st.im.e.Emit(&trace.Event{Type: trace.EvMessage, Run: st.key, Time: t, Message: &m})
}

func (st *runState) emitTool(t time.Time, call, result trace.Part, detail string) error {
	if st.im.fromReplay {
		return nil
	}
	name := call.Name
	if name == "" {
		name = "unknown"
	}
	tc := &trace.ToolCall{CallID: call.ID, Name: name, Arguments: call.Arguments, Status: trace.ToolOK, Output: result.Text,
		Detail: stdjson.RawMessage(detail)}
	if result.IsError {
		tc.Status = trace.ToolError
	}
	return st.im.e.Emit(&trace.Event{Type: trace.EvTool, Run: st.key, Time: t, Tool: tc})
}

// matchTools pairs the tool_call parts of a model answer with the tool
// spans that follow it (up to the next model call): by call id, then by
// name in order. A matched part without an id takes the span's call id, a
// span without one takes the part's, and a span without arguments takes
// the part's; unmatched parts wait for their result in the next request
// (see beforeCall).
func (st *runState) matchTools(call *trace.LLMCall, rest []*node) {
	var window []*node
	for _, n := range rest {
		if n.class == classLLM {
			break
		}
		if n.class == classTool {
			window = append(window, n)
		}
	}
	claimed := make([]bool, len(window))
	parts := call.Output.Parts
	matched := make([]bool, len(parts))
	for i := range parts {
		p := &parts[i]
		if p.Type != trace.PartToolCall || p.ID == "" {
			continue
		}
		for j, n := range window {
			if !claimed[j] && n.callID == p.ID {
				claimed[j], matched[i] = true, true
				n.inferredArgs = p.Arguments
				break
			}
		}
	}
	for i := range parts {
		p := &parts[i]
		if p.Type != trace.PartToolCall || matched[i] {
			continue
		}
		for j, n := range window {
			if claimed[j] || n.toolName != p.Name || (n.callID != "" && p.ID != "") {
				continue
			}
			claimed[j], matched[i] = true, true
			n.inferredArgs = p.Arguments
			if p.ID == "" {
				p.ID = n.callID
			} else if n.callID == "" {
				n.inferredCall = p.ID
			}
			break
		}
		if !matched[i] {
			st.pending = append(st.pending, *p)
		}
	}
}
