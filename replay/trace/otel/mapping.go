package otel

import (
	stdjson "encoding/json"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Span classes.
const (
	classOther = iota // a container (workflow, chain) or a span we do not map
	classLLM
	classTool
	classAgent
	classUnknown // a GenAI/OpenInference operation we do not import (embeddings, retrieval, …)
)

// isLLMOp reports whether a gen_ai.operation.name is a model call.
func isLLMOp(op string) bool {
	switch op {
	case "chat", "text_completion", "generate_content", "call_llm", "completion", "chat_completion", "responses":
		return true
	}
	return false
}

// isContainerOp reports whether an operation only groups other spans.
func isContainerOp(op string) bool {
	switch op {
	case "create_agent", "invoke_workflow", "workflow", "task":
		return true
	}
	return false
}

// classify says what a span is, and names its operation for warnings about
// spans that are not imported.
func classify(sp *Span) (class int, op string) {
	a := attrs(sp.Attrs)
	op = strings.ToLower(a.str("gen_ai.operation.name"))
	switch {
	case isLLMOp(op):
		return classLLM, op
	case op == "execute_tool":
		return classTool, op
	case op == "invoke_agent":
		return classAgent, op
	case isContainerOp(op):
		return classOther, op
	case op != "":
		return classUnknown, op
	}
	switch k := strings.ToUpper(a.str("openinference.span.kind")); k {
	case "LLM":
		return classLLM, k
	case "TOOL":
		return classTool, k
	case "AGENT":
		return classAgent, k
	case "CHAIN", "":
	default:
		return classUnknown, k
	}
	name := strings.ToLower(sp.Name)
	for _, p := range []string{"chat ", "text_completion ", "generate_content ", "call_llm"} {
		if strings.HasPrefix(name, p) || name == strings.TrimSpace(p) {
			return classLLM, ""
		}
	}
	switch {
	case strings.HasPrefix(name, "execute_tool"):
		return classTool, ""
	case strings.HasPrefix(name, "invoke_agent"):
		return classAgent, ""
	}
	switch strings.ToLower(a.str("llm.request.type")) {
	case "chat", "completion":
		return classLLM, ""
	}
	if a.has("gen_ai.input.messages") || a.has("gen_ai.output.messages") || hasPrefix(sp.Attrs, "gen_ai.prompt.") ||
		hasPrefix(sp.Attrs, "gen_ai.completion.") || hasPrefix(sp.Attrs, "llm.input_messages.") || hasPrefix(sp.Attrs, "llm.output_messages.") {
		return classLLM, ""
	}
	if a.has("gen_ai.tool.name") || a.has("tool.name") {
		return classTool, ""
	}
	if (a.has("gen_ai.usage.input_tokens") || a.has("gen_ai.usage.prompt_tokens") || a.has("llm.token_count.prompt")) &&
		!a.has("gen_ai.agent.name") && !hasPrefix(sp.Attrs, "fullsend.") {
		return classLLM, ""
	}
	return classOther, ""
}

// llmInfo is what one inference span says besides the call itself.
type llmInfo struct {
	system string          // system instructions
	tools  []trace.ToolDef // tool definitions offered to the model
}

// llmCall maps an inference span to a model call.
func llmCall(sp *Span) (*trace.LLMCall, llmInfo) {
	a := attrs(sp.Attrs)
	var info llmInfo
	call := &trace.LLMCall{ID: a.first("gen_ai.response.id"), Params: params(a)}
	call.Model = a.first("gen_ai.response.model", "llm.model_name")
	if call.Model == "" {
		call.Model = call.Params.Model
	}
	if call.Params.Model == "" {
		call.Params.Model = a.str("llm.model_name")
	}
	call.Usage = usage(a, false)
	call.Cost.Recorded = recordedCost(a)
	call.LatencyMS = sp.Duration().Milliseconds()
	if sp.StatusCode == StatusError {
		call.Error = sp.StatusMessage
		if call.Error == "" {
			call.Error = a.first("error.type", "exception.message")
		}
		if call.Error == "" {
			call.Error = "error"
		}
	}

	var details *SpanEvent
	for i := range sp.Events {
		if sp.Events[i].Name == "gen_ai.client.inference.operation.details" {
			details = &sp.Events[i]
			break
		}
	}
	var da attrs
	if details != nil {
		da = attrs(details.Attrs)
	}

	// System instructions.
	if v, ok := sp.Attrs["gen_ai.system_instructions"]; ok && v != nil {
		info.system = systemText(v)
	} else if v, ok := da["gen_ai.system_instructions"]; ok && v != nil {
		info.system = systemText(v)
	}

	// Request messages.
	input, ok := requestMessages(sp, a, da)
	if ok {
		if info.system != "" && (len(input) == 0 || input[0].Role != "system") {
			input = append([]trace.Message{{Role: "system", Parts: []trace.Part{{Type: trace.PartText, Text: info.system}}}}, input...)
		}
		call.Input = input
		call.InputMode = "full"
	}
	if info.system == "" {
		var sys []string
		for _, m := range input {
			if m.Role == "system" {
				sys = append(sys, m.Text())
			}
		}
		info.system = strings.Join(sys, "\n\n")
	}

	// Response.
	out, finish := responseMessage(sp, a, da)
	out.Role = "assistant"
	call.Output = out
	call.StopReason = finish
	if call.StopReason == "" {
		if fr := a.strings("gen_ai.response.finish_reasons"); len(fr) > 0 {
			call.StopReason = fr[0]
		}
	}

	info.tools = toolDefs(a, da)
	replayCall(a, call)
	return call, info
}

func requestMessages(sp *Span, a, da attrs) ([]trace.Message, bool) {
	if ms, ok := messagesFrom(a["gen_ai.input.messages"]); ok {
		return ms, true
	}
	if ms, ok := messagesFrom(da["gen_ai.input.messages"]); ok {
		return ms, true
	}
	if ms := flatMessages(sp.Attrs, "llm.input_messages."); len(ms) > 0 {
		return ms, true
	}
	if ms := flatMessages(sp.Attrs, "gen_ai.prompt."); len(ms) > 0 {
		return ms, true
	}
	var ms []trace.Message
	for i := range sp.Events {
		ev := &sp.Events[i]
		var role string
		switch ev.Name {
		case "gen_ai.system.message":
			role = "system"
		case "gen_ai.user.message":
			role = "user"
		case "gen_ai.assistant.message":
			role = "assistant"
		case "gen_ai.tool.message":
			role = "tool"
		case "gen_ai.content.prompt":
			if p, ok := messagesFrom(ev.Attrs["gen_ai.prompt"]); ok {
				ms = append(ms, p...)
			} else if t := scalarText(ev.Attrs["gen_ai.prompt"]); t != "" {
				ms = append(ms, trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: t}}})
			}
			continue
		default:
			continue
		}
		if m, ok := eventMessage(ev, role); ok {
			ms = append(ms, m)
		}
	}
	if len(ms) > 0 {
		return ms, true
	}
	if v, ok := a["gen_ai.prompt"]; ok {
		if p, ok := messagesFrom(v); ok {
			return p, true
		}
	}
	if strings.EqualFold(a.str("openinference.span.kind"), "LLM") {
		if p, ok := messagesFrom(a["input.value"]); ok {
			return p, true
		}
	}
	return nil, false
}

// responseMessage returns the model's answer and its finish reason.
func responseMessage(sp *Span, a, da attrs) (trace.Message, string) {
	if ms, ok := messagesFrom(a["gen_ai.output.messages"]); ok {
		return ms[0], finishOf(a["gen_ai.output.messages"])
	}
	if ms, ok := messagesFrom(da["gen_ai.output.messages"]); ok {
		return ms[0], finishOf(da["gen_ai.output.messages"])
	}
	if ms := flatMessages(sp.Attrs, "llm.output_messages."); len(ms) > 0 {
		return ms[0], ""
	}
	if groups := indexed(sp.Attrs, "gen_ai.completion."); len(groups) > 0 {
		if ms := flatMessages(sp.Attrs, "gen_ai.completion."); len(ms) > 0 {
			return ms[0], groups[0].str("finish_reason")
		}
	}
	for i := range sp.Events {
		ev := &sp.Events[i]
		switch ev.Name {
		case "gen_ai.choice":
			if m, ok := eventMessage(ev, "assistant"); ok {
				fr := attrs(ev.Attrs).str("finish_reason")
				if fr == "" {
					fr = finishOf(ev.Attrs["gen_ai.event.content"])
				}
				return m, fr
			}
		case "gen_ai.content.completion":
			if ms, ok := messagesFrom(ev.Attrs["gen_ai.completion"]); ok {
				return ms[0], ""
			}
			if t := scalarText(ev.Attrs["gen_ai.completion"]); t != "" {
				return trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartText, Text: t}}}, ""
			}
		}
	}
	if v, ok := a["gen_ai.completion"]; ok {
		if ms, ok := messagesFrom(v); ok {
			return ms[0], ""
		}
	}
	if v, ok := a["gen_ai.output"]; ok && v != nil {
		if m, ok := anyAgentOutput(v); ok {
			return m, ""
		}
	}
	return trace.Message{Role: "assistant"}, ""
}

// finishOf reads the finish_reason of the first message of a JSON list (or
// of one object).
func finishOf(v any) string {
	b, ok := valueJSON(v)
	if !ok {
		return ""
	}
	var list []struct {
		FinishReason lstr `json:"finish_reason"`
	}
	if isArray(b) {
		if json.Unmarshal(b, &list) == nil && len(list) > 0 {
			return string(list[0].FinishReason)
		}
		return ""
	}
	var one struct {
		FinishReason lstr `json:"finish_reason"`
	}
	if json.Unmarshal(b, &one) == nil {
		return string(one.FinishReason)
	}
	return ""
}

// params reads request parameters from gen_ai.request.* and OpenInference's
// llm.invocation_parameters.
func params(a attrs) trace.Params {
	p := trace.Params{
		Model:    a.first("gen_ai.request.model"),
		Provider: a.first("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
	}
	if f, ok := a.float("gen_ai.request.temperature"); ok {
		p.Temperature = trace.Float(f)
	}
	if f, ok := a.float("gen_ai.request.top_p"); ok {
		p.TopP = trace.Float(f)
	}
	if n, ok := a.int("gen_ai.request.top_k"); ok {
		p.TopK = trace.Int(n)
	}
	if n, ok := a.int("gen_ai.request.max_tokens"); ok {
		p.MaxTokens = trace.Int(n)
	}
	if n, ok := a.int("gen_ai.request.seed"); ok {
		p.Seed = trace.Int(n)
	}
	p.Stop = a.strings("gen_ai.request.stop_sequences")

	b, ok := a.rawJSON("llm.invocation_parameters")
	if !ok || !isObject(b) {
		return p
	}
	var inv map[string]json.RawMessage
	if json.Unmarshal(b, &inv) != nil {
		return p
	}
	ia := attrs(plainObject(inv, 0))
	if p.Model == "" {
		p.Model = ia.str("model")
	}
	if f, ok := ia.float("temperature"); ok && p.Temperature == nil {
		p.Temperature = trace.Float(f)
	}
	if f, ok := ia.float("top_p"); ok && p.TopP == nil {
		p.TopP = trace.Float(f)
	}
	if n, ok := ia.int("top_k"); ok && p.TopK == nil {
		p.TopK = trace.Int(n)
	}
	if n, ok := ia.firstInt("max_tokens", "max_completion_tokens", "max_output_tokens"); ok && p.MaxTokens == nil {
		p.MaxTokens = trace.Int(n)
	}
	if n, ok := ia.int("seed"); ok && p.Seed == nil {
		p.Seed = trace.Int(n)
	}
	if len(p.Stop) == 0 {
		p.Stop = ia.strings("stop")
	}
	return p
}

// usage reads token counts: gen_ai.usage.* (input includes cached tokens)
// or OpenInference's llm.token_count.* (prompt includes cache read and
// write). Cached tokens are subtracted to make the four counts disjoint,
// except when the input count is smaller than the cached counts: then the
// producer followed Anthropic's convention (input excludes cache) and the
// count is kept. anthropic forces that convention (fullsend's spans).
func usage(a attrs, anthropic bool) *trace.Usage {
	var (
		in, out, cr, cw, reason int64
		any                     bool
	)
	get := func(dst *int64, keys ...string) {
		if n, ok := a.firstInt(keys...); ok {
			*dst = n
			any = true
		}
	}
	if hasPrefix(a, "gen_ai.usage.") {
		get(&in, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
		get(&out, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
		get(&cr, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
		get(&cw, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.cache_write.input_tokens")
		get(&reason, "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens")
	}
	if !any {
		get(&in, "llm.token_count.prompt")
		get(&out, "llm.token_count.completion")
		get(&cr, "llm.token_count.prompt_details.cache_read")
		get(&cw, "llm.token_count.prompt_details.cache_write")
		get(&reason, "llm.token_count.completion_details.reasoning")
	}
	if !any {
		return nil
	}
	u := &trace.Usage{Output: max(out, 0), CacheRead: max(cr, 0), CacheWrite: max(cw, 0), Reasoning: max(reason, 0)}
	u.Input = max(in, 0)
	if !anthropic && in >= cr+cw {
		u.Input = in - cr - cw
	}
	return u
}

// recordedCost reads a cost the producer recorded: any-agent's
// gen_ai.usage.input_cost + output_cost, a total gen_ai.usage.cost, or
// OpenInference's llm.cost.total (else prompt + completion).
func recordedCost(a attrs) *float64 {
	if c, ok := a.float("gen_ai.usage.cost"); ok {
		return trace.Float(c)
	}
	ic, iok := a.float("gen_ai.usage.input_cost")
	oc, ook := a.float("gen_ai.usage.output_cost")
	if iok || ook {
		return trace.Float(ic + oc)
	}
	if c, ok := a.float("llm.cost.total"); ok {
		return trace.Float(c)
	}
	pc, pok := a.float("llm.cost.prompt")
	cc, cok := a.float("llm.cost.completion")
	if pok || cok {
		return trace.Float(pc + cc)
	}
	return nil
}

// toolDefs reads the tools offered to the model: gen_ai.tool.definitions
// ([{type, name, description, parameters}]) or OpenInference's
// llm.tools.N.tool.json_schema (an OpenAI tool, or the bare function).
func toolDefs(a, da attrs) []trace.ToolDef {
	var raws [][]byte
	b, ok := a.rawJSON("gen_ai.tool.definitions")
	if !ok {
		b, ok = da.rawJSON("gen_ai.tool.definitions")
	}
	if ok && isArray(b) {
		var list []json.RawMessage
		if json.Unmarshal(b, &list) == nil {
			for _, r := range list {
				raws = append(raws, r)
			}
		}
	}
	if len(raws) == 0 {
		for _, g := range indexed(a, "llm.tools.") {
			if r, ok := valueJSON(g["tool.json_schema"]); ok {
				raws = append(raws, r)
			}
		}
	}
	var defs []trace.ToolDef
	for _, r := range raws {
		var d struct {
			Name        lstr            `json:"name"`
			Description lstr            `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			InputSchema json.RawMessage `json:"input_schema"`
			Function    *struct {
				Name        lstr            `json:"name"`
				Description lstr            `json:"description"`
				Parameters  json.RawMessage `json:"parameters"`
			} `json:"function"`
		}
		if !isObject(r) || json.Unmarshal(r, &d) != nil {
			continue
		}
		def := trace.ToolDef{Name: string(d.Name), Description: string(d.Description), Schema: schema(d.Parameters, d.InputSchema)}
		if d.Function != nil {
			def = trace.ToolDef{Name: string(d.Function.Name), Description: string(d.Function.Description), Schema: schema(d.Function.Parameters)}
		}
		if def.Name != "" {
			defs = append(defs, def)
		}
	}
	return defs
}

func schema(raws ...json.RawMessage) stdjson.RawMessage {
	for _, r := range raws {
		if isObject(r) {
			return compact(r)
		}
	}
	return nil
}

// toolCall maps a tool execution span to a tool invocation.
func toolCall(sp *Span) *trace.ToolCall {
	a := attrs(sp.Attrs)
	tc := &trace.ToolCall{
		Name:       toolName(sp),
		CallID:     a.first("gen_ai.tool.call.id", "tool_call.id"),
		Status:     trace.ToolOK,
		DurationMS: sp.Duration().Milliseconds(),
	}
	for _, k := range []string{"gen_ai.tool.call.arguments", "gen_ai.tool.args", "tool_call.function.arguments", "input.value", "tool.parameters"} {
		if v, ok := a[k]; ok && v != nil {
			tc.Arguments = argsJSON(v)
			break
		}
	}
	for _, k := range []string{"gen_ai.tool.call.result", "output.value", "gen_ai.output", "gen_ai.tool.output"} {
		if t, ok := a.text(k); ok {
			tc.Output = t
			break
		}
	}
	if sp.StatusCode == StatusError {
		tc.Status = trace.ToolError
		if tc.Output == "" {
			tc.Output = sp.StatusMessage
		}
		if tc.Output == "" {
			for _, ev := range sp.Events {
				if ev.Name == "exception" {
					tc.Output = attrs(ev.Attrs).str("exception.message")
				}
			}
		}
	}
	if sp.StatusCode == StatusError {
		tc.Harness = harnessOutcome(a.str("error.type"), sp.StatusMessage, tc.Output)
	}
	replayTool(a, tc)
	return tc
}

// harnessOutcome recognises a failed tool span that the agent's harness
// answered instead of the tool: its error.type names a refusal, an
// interrupt or a hook's block, or its status message is one the harnesses
// write themselves (Claude Code's permission prompt and interrupt texts,
// Codex's declined approvals and sandbox refusals). An error.type that only
// names an exception class (PermissionError, TimeoutError) is the tool's.
func harnessOutcome(errorType, status, output string) string {
	switch strings.NewReplacer("_", "", "-", "", ".", "", " ", "").Replace(strings.ToLower(errorType)) {
	case "rejected", "userrejected", "toolrejected", "toolcallrejected", "denied", "userdenied", "declined",
		"userdeclined", "approvaldenied", "approvalrejected", "refused", "userrefused":
		return trace.HarnessRejected
	case "permissiondenied", "toolpermissiondenied", "nopermission":
		return trace.HarnessNoPermission
	case "interrupted", "userinterrupted", "aborted", "userabort", "useraborted", "cancelled", "canceled",
		"cancellederror", "keyboardinterrupt":
		return trace.HarnessInterrupted
	case "hookblocked", "blockedbyhook", "hookdenied":
		return trace.HarnessHook
	case "sandboxdenied":
		return trace.HarnessSandbox
	}
	for _, t := range []string{status, output} {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			continue
		case strings.HasPrefix(t, "Permission prompt was aborted"):
			return trace.HarnessAborted
		case strings.HasPrefix(t, "Claude requested permissions to"):
			return trace.HarnessNoPermission
		case strings.HasPrefix(t, "The user doesn't want to proceed with this tool use"),
			strings.HasPrefix(t, "The user doesn't want to take this action"),
			t == "rejected by user", t == "exec command rejected by user", t == "patch rejected by user":
			return trace.HarnessRejected
		case strings.HasPrefix(t, "[Request interrupted by user"):
			return trace.HarnessInterrupted
		case strings.HasPrefix(t, "failed in sandbox "):
			return trace.HarnessSandbox
		}
	}
	return ""
}

func toolName(sp *Span) string {
	a := attrs(sp.Attrs)
	if n := a.first("gen_ai.tool.name", "tool.name", "tool_call.function.name"); n != "" {
		return n
	}
	if rest, ok := strings.CutPrefix(sp.Name, "execute_tool"); ok && strings.TrimSpace(rest) != "" {
		return strings.TrimSpace(rest)
	}
	if sp.Name != "" {
		return sp.Name
	}
	return "unknown"
}

// agentName is the name of an agent span: gen_ai.agent.name, else the span
// name after "invoke_agent" (any-agent writes "invoke_agent [name]").
func agentName(sp *Span) string {
	a := attrs(sp.Attrs)
	if n := a.first("gen_ai.agent.name", "agent.name", "fullsend.agent"); n != "" {
		return n
	}
	if rest, ok := strings.CutPrefix(sp.Name, "invoke_agent"); ok {
		rest = strings.Trim(strings.TrimSpace(rest), "[]")
		if rest != "" {
			return rest
		}
	}
	return ""
}
