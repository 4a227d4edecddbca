package langfuse

import (
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// The shapes an observation's input and output take, by producer:
//
//   - ChatML lists [{role, content, tool_calls, tool_call_id, name}]: OpenAI
//     chat, LangChain dicts (tool calls also under additional_kwargs), BeeAI,
//     Koog, LangGraph;
//   - OTel GenAI parts [{role, parts:[{type:text|tool_call|tool_call_response|
//     reasoning, …}], finish_reason}]: pydantic-ai, Microsoft Agent Framework,
//     .NET;
//   - OpenAI Responses items [{type:message|function_call|function_call_output|
//     reasoning}] and the Response object {object:"response", output:[…]};
//   - chat.completion objects {choices:[{message, finish_reason}]};
//   - Anthropic messages {role, content:[text|tool_use|tool_result|thinking]};
//   - Gemini requests {contents, config:{system_instruction}} and responses
//     {candidates:[{content:{parts}}]} or ADK's {content:{parts, role}};
//   - Vercel AI SDK {system, prompt|messages} with content parts
//     tool-call/tool-result, and tool call lists [{toolCallId, toolName, input}];
//   - LangChain serialized messages {lc:1, id:[…, "AIMessage"], kwargs:{…}};
//   - plain strings, including "role: text" transcripts (OTel openai
//     instrumentation) which are split into messages.
//
// Anything else is kept verbatim as a Raw part: never dropped.

// partToolDef marks a tool definition found among input messages (the
// Langfuse LangChain handler lists the tools offered as "tool" messages).
// Such parts never leave the package: stripToolDefs moves them to the run's
// tool definitions.
const partToolDef = "tool_definition"

const (
	roleSystem    = "system"
	roleUser      = "user"
	roleAssistant = "assistant"
	roleTool      = "tool"
)

// parseMessages turns an input or output value into messages; dflt is the
// role of messages that do not say theirs.
func parseMessages(v any, dflt string) []trace.Message {
	return parseValue(unwrapString(v), dflt, 0)
}

const maxDepth = 8

func parseValue(v any, dflt string, depth int) []trace.Message {
	if depth > maxDepth {
		return []trace.Message{rawMessage(v, dflt)}
	}
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
		if dflt == roleUser {
			if msgs, ok := splitTranscript(x); ok {
				return msgs
			}
		}
		return []trace.Message{{Role: orRole(dflt), Parts: []trace.Part{{Type: trace.PartText, Text: x}}}}
	case []any:
		return parseList(x, dflt, depth)
	case map[string]any:
		return parseObject(x, dflt, depth)
	}
	return []trace.Message{rawMessage(v, dflt)}
}

func orRole(r string) string {
	if r == "" {
		return roleUser
	}
	return r
}

func rawMessage(v any, dflt string) trace.Message {
	return trace.Message{Role: orRole(dflt), Parts: []trace.Part{rawPart(v)}}
}

func rawPart(v any) trace.Part {
	return trace.Part{Type: trace.PartOther, Raw: rawOf(v)}
}

func parseList(items []any, dflt string, depth int) []trace.Message {
	var out []trace.Message
	for _, it := range items {
		it = unwrapString(it)
		var m trace.Message
		switch e := it.(type) {
		case map[string]any:
			var ok bool
			m, ok = itemMessage(e, dflt, depth)
			if !ok {
				if sub := parseObject(e, dflt, depth+1); len(sub) > 0 {
					for _, s := range sub {
						out = appendMerged(out, s)
					}
					continue
				}
				m = rawMessage(e, dflt)
			}
		case string:
			if e == "" {
				continue
			}
			m = trace.Message{Role: orRole(dflt), Parts: []trace.Part{{Type: trace.PartText, Text: e}}}
		case nil:
			continue
		default:
			m = rawMessage(e, dflt)
		}
		out = appendMerged(out, m)
	}
	return out
}

// appendMerged appends m, folding an assistant message made only of tool
// calls or reasoning (Responses items, Vercel tool call lists) into the
// assistant message before it: one model turn, one message.
func appendMerged(out []trace.Message, m trace.Message) []trace.Message {
	if n := len(out); n > 0 && m.Role == roleAssistant && out[n-1].Role == roleAssistant && onlyCallsOrReasoning(m) {
		out[n-1].Parts = append(out[n-1].Parts, m.Parts...)
		return out
	}
	return append(out, m)
}

func onlyCallsOrReasoning(m trace.Message) bool {
	if len(m.Parts) == 0 {
		return false
	}
	for _, p := range m.Parts {
		if p.Type != trace.PartToolCall && p.Type != trace.PartReasoning {
			return false
		}
	}
	return true
}

// itemMessage reads one list element that is a message or a message-like
// item.
func itemMessage(e map[string]any, dflt string, depth int) (trace.Message, bool) {
	// Vercel AI SDK tool call list entry.
	if _, ok := e["toolCallId"]; ok && str(e, "toolName") != "" && e["type"] == nil {
		return trace.Message{Role: roleAssistant, Parts: []trace.Part{toolCallPart(idOf(e["toolCallId"]), str(e, "toolName"), firstNonNil(e["input"], e["args"]))}}, true
	}
	switch str(e, "type") {
	case "function_call", "custom_tool_call":
		return trace.Message{Role: roleAssistant, Parts: []trace.Part{toolCallPart(idOf(firstNonNil(e["call_id"], e["id"])), str(e, "name"), firstNonNil(e["arguments"], e["input"]))}}, true
	case "function_call_output", "custom_tool_call_output":
		p := resultPart(idOf(e["call_id"]), e["output"])
		return trace.Message{Role: roleTool, Parts: []trace.Part{p}}, true
	case "reasoning":
		if _, hasRole := e["role"]; !hasRole {
			return trace.Message{Role: roleAssistant, Parts: []trace.Part{reasoningItem(e)}}, true
		}
	}
	if isLangChainSerialized(e) {
		return langChainSerialized(e, dflt), true
	}
	if looksLikeMessage(e) {
		return objectMessage(e, dflt, depth), true
	}
	return trace.Message{}, false
}

func firstNonNil(vs ...any) any {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func looksLikeMessage(e map[string]any) bool {
	if _, ok := e["role"]; ok {
		return true
	}
	if langChainRole(str(e, "type")) != "" {
		if _, ok := e["content"]; ok {
			return true
		}
	}
	if _, ok := e["parts"].([]any); ok {
		return true
	}
	return false
}

// parseObject reads an object that is a whole request, a whole response or a
// single message.
func parseObject(x map[string]any, dflt string, depth int) []trace.Message {
	if depth > maxDepth {
		return []trace.Message{rawMessage(x, dflt)}
	}
	var sys []trace.Message
	if s := systemOf(x); s != "" {
		sys = []trace.Message{{Role: roleSystem, Parts: []trace.Part{{Type: trace.PartText, Text: s}}}}
	}
	// Requests: {messages:[…]}, {prompt:"…"}, Gemini {contents}, Responses {input}.
	if msgs, ok := x["messages"].([]any); ok {
		return append(sys, parseList(msgs, dflt, depth+1)...)
	}
	if c, ok := x["contents"]; ok {
		switch cs := unwrapString(c).(type) {
		case string:
			return append(sys, trace.Message{Role: roleUser, Parts: []trace.Part{{Type: trace.PartText, Text: cs}}})
		case []any:
			return append(sys, parseList(cs, roleUser, depth+1)...)
		case map[string]any:
			return append(sys, objectMessage(cs, roleUser, depth+1))
		}
	}
	if p, ok := x["prompt"]; ok && len(x) <= 4 {
		switch pv := unwrapString(p).(type) {
		case string:
			return append(sys, trace.Message{Role: roleUser, Parts: []trace.Part{{Type: trace.PartText, Text: pv}}})
		case []any:
			return append(sys, parseList(pv, roleUser, depth+1)...)
		}
	}
	// Responses: chat.completion, Responses API, Gemini, ADK.
	if ch := asList(x["choices"]); len(ch) > 0 {
		c := asMap(ch[0])
		if m := asMap(c["message"]); m != nil {
			return []trace.Message{objectMessage(m, roleAssistant, depth+1)}
		}
		if t, ok := c["text"].(string); ok {
			return []trace.Message{{Role: roleAssistant, Parts: []trace.Part{{Type: trace.PartText, Text: t}}}}
		}
	}
	if out, ok := x["output"].([]any); ok && (str(x, "object") == "response" || str(x, "status") != "") {
		msgs := parseList(out, roleAssistant, depth+1)
		return []trace.Message{mergeAll(msgs, roleAssistant)}
	}
	if cands := asList(x["candidates"]); len(cands) > 0 {
		if c := asMap(asMap(cands[0])["content"]); c != nil {
			return []trace.Message{objectMessage(c, roleAssistant, depth+1)}
		}
	}
	if c := asMap(x["content"]); c != nil && c["parts"] != nil && x["role"] == nil {
		return []trace.Message{objectMessage(c, orRole(dflt), depth+1)}
	}
	if isLangChainSerialized(x) {
		return []trace.Message{langChainSerialized(x, dflt)}
	}
	// LlamaIndex complete(prompt): {"args":["…"]}.
	if args := asList(x["args"]); len(args) > 0 && len(x) <= 2 {
		var parts []trace.Part
		for _, a := range args {
			if s, ok := a.(string); ok {
				parts = append(parts, trace.Part{Type: trace.PartText, Text: s})
			}
		}
		if len(parts) == len(args) {
			return []trace.Message{{Role: orRole(dflt), Parts: parts}}
		}
	}
	if looksLikeMessage(x) || x["tool_calls"] != nil || contentIsMessage(x) {
		return append(sys, objectMessage(x, dflt, depth+1))
	}
	if len(sys) > 0 {
		return sys
	}
	return []trace.Message{rawMessage(x, dflt)}
}

// contentIsMessage reports whether x is a message without a role: a content
// string or list plus message-ish fields only (LangChain AIMessageChunk,
// Anthropic response without role).
func contentIsMessage(x map[string]any) bool {
	switch x["content"].(type) {
	case string, []any:
	default:
		return false
	}
	for k := range x {
		switch k {
		case "content", "additional_kwargs", "response_metadata", "type", "name", "id", "example",
			"tool_calls", "invalid_tool_calls", "usage_metadata", "tool_call_chunks", "stop_reason",
			"stop_sequence", "model", "usage", "refusal", "annotations", "audio", "function_call":
		default:
			return false
		}
	}
	return true
}

// systemOf finds a system prompt given beside the messages of a request.
func systemOf(x map[string]any) string {
	if s := textOf(x["system"]); s != "" && x["system"] != nil {
		if _, ok := x["system"].(string); ok || asList(x["system"]) != nil {
			return s
		}
	}
	if s, ok := x["instructions"].(string); ok && x["input"] != nil {
		return s
	}
	cfg := asMap(x["config"])
	for _, si := range []any{cfg["system_instruction"], cfg["systemInstruction"], x["system_instruction"], x["systemInstruction"]} {
		switch v := unwrapString(si).(type) {
		case string:
			if v != "" {
				return v
			}
		case map[string]any:
			if t := partsText(asList(v["parts"])); t != "" {
				return t
			}
		}
	}
	return ""
}

func partsText(parts []any) string {
	var b []string
	for _, p := range parts {
		if t, ok := asMap(p)["text"].(string); ok {
			b = append(b, t)
		}
	}
	return strings.Join(b, "\n")
}

func mergeAll(msgs []trace.Message, role string) trace.Message {
	out := trace.Message{Role: role}
	for _, m := range msgs {
		if out.Name == "" {
			out.Name = m.Name
		}
		out.Parts = append(out.Parts, m.Parts...)
	}
	return out
}

// langChainRole maps LangChain message types to roles.
func langChainRole(t string) string {
	switch t {
	case "human", "HumanMessage", "HumanMessageChunk":
		return roleUser
	case "ai", "AIMessage", "AIMessageChunk":
		return roleAssistant
	case "system", "SystemMessage":
		return roleSystem
	case "tool", "ToolMessage", "function", "FunctionMessage":
		return roleTool
	}
	return ""
}

func isLangChainSerialized(x map[string]any) bool {
	_, lc := x["lc"]
	return lc && asMap(x["kwargs"]) != nil
}

func langChainSerialized(x map[string]any, dflt string) trace.Message {
	kw := asMap(x["kwargs"])
	role := ""
	if id := asList(x["id"]); len(id) > 0 {
		role = langChainRole(idOf(id[len(id)-1]))
	}
	if role == "" {
		role = dflt
	}
	cp := make(map[string]any, len(kw)+1)
	for k, v := range kw {
		cp[k] = v
	}
	if _, ok := cp["role"]; !ok {
		cp["role"] = role
	}
	return objectMessage(cp, role, 1)
}

// normRole maps the roles producers use to replay's: system, user,
// assistant, tool. An unknown role (LangGraph.js writes the tool's name) is a
// tool message named after it.
func normRole(r, dflt string) (role, name string) {
	switch strings.ToLower(r) {
	case "":
		return orRole(dflt), ""
	case "user", "human":
		return roleUser, ""
	case "assistant", "ai", "model", "bot":
		return roleAssistant, ""
	case "system", "developer":
		return roleSystem, ""
	case "tool", "function", "ipython":
		return roleTool, ""
	}
	if lr := langChainRole(r); lr != "" {
		return lr, ""
	}
	return roleTool, r
}

// objectMessage reads a single message object of any of the known shapes.
func objectMessage(e map[string]any, dflt string, depth int) trace.Message {
	r := str(e, "role")
	if r == "" {
		r = langChainRole(str(e, "type"))
	}
	role, name := normRole(r, dflt)
	m := trace.Message{Role: role, Name: name}
	if n := str(e, "name"); n != "" && m.Name == "" {
		m.Name = n
	}
	if rc, ok := e["reasoning_content"].(string); ok && rc != "" {
		m.Parts = append(m.Parts, trace.Part{Type: trace.PartReasoning, Text: rc})
	}
	switch c := unwrapContent(e["content"]).(type) {
	case string:
		if c != "" {
			m.Parts = append(m.Parts, trace.Part{Type: trace.PartText, Text: c})
		}
	case []any:
		for _, p := range c {
			m.Parts = append(m.Parts, contentPart(p, depth))
		}
	case map[string]any:
		if c["parts"] != nil {
			m.Parts = append(m.Parts, objectMessage(c, role, depth+1).Parts...)
		} else {
			m.Parts = append(m.Parts, contentPart(c, depth))
		}
	case nil:
	default:
		m.Parts = append(m.Parts, rawPart(c))
	}
	if parts, ok := e["parts"].([]any); ok {
		for _, p := range parts {
			m.Parts = append(m.Parts, genericPart(p))
		}
	}
	if e["content"] == nil && e["parts"] == nil {
		if t, ok := e["text"].(string); ok && t != "" {
			m.Parts = append(m.Parts, trace.Part{Type: trace.PartText, Text: t})
		}
	}
	calls := asList(e["tool_calls"])
	if len(calls) == 0 {
		calls = asList(asMap(e["additional_kwargs"])["tool_calls"])
	}
	for _, tc := range calls {
		m.Parts = append(m.Parts, toolCallFrom(unwrapString(tc)))
	}
	if fc := asMap(e["function_call"]); fc != nil {
		m.Parts = append(m.Parts, toolCallPart("", str(fc, "name"), fc["arguments"]))
	}
	if id := idOf(e["tool_call_id"]); id != "" && role == roleTool {
		m.Parts = asToolResult(m.Parts, id, e)
	}
	// Koog writes the model's tool calls as a "tool" message: they are the
	// assistant's. Gemini returns function results in a "user" message: it
	// is a tool message.
	if role == roleTool && len(m.Parts) > 0 && onlyType(m.Parts, trace.PartToolCall) {
		m.Role = roleAssistant
	}
	if role == roleUser && len(m.Parts) > 0 && onlyType(m.Parts, trace.PartToolResult) {
		m.Role = roleTool
	}
	return m
}

// stripToolDefs removes the tool definitions found among messages and
// returns them.
func stripToolDefs(msgs []trace.Message) ([]trace.Message, []trace.ToolDef) {
	var defs []trace.ToolDef
	out := msgs[:0]
	for _, m := range msgs {
		parts := m.Parts[:0]
		for _, p := range m.Parts {
			if p.Type == partToolDef {
				f := asMap(value(p.Raw))
				d := trace.ToolDef{Name: p.Name, Description: str(f, "description")}
				if f["parameters"] != nil {
					d.Schema = rawOf(f["parameters"])
				}
				defs = append(defs, d)
				continue
			}
			parts = append(parts, p)
		}
		if len(parts) == 0 && len(m.Parts) > 0 {
			continue
		}
		m.Parts = parts
		out = append(out, m)
	}
	return out, defs
}

// unwrapContent decodes content held as a JSON string only when it is a
// list of parts; text that happens to be JSON stays text.
func unwrapContent(v any) any {
	if s, ok := v.(string); ok {
		if u, ok := unwrapString(s).([]any); ok && len(u) > 0 {
			if p := asMap(u[0]); p != nil && str(p, "type") != "" {
				return u
			}
		}
	}
	return v
}

func onlyType(parts []trace.Part, t string) bool {
	for _, p := range parts {
		if p.Type != t {
			return false
		}
	}
	return true
}

// asToolResult turns the text of a tool message into one tool_result part.
func asToolResult(parts []trace.Part, id string, e map[string]any) []trace.Part {
	var texts []string
	var rest []trace.Part
	for _, p := range parts {
		switch p.Type {
		case trace.PartText:
			texts = append(texts, p.Text)
		case trace.PartToolResult:
			if p.ID == "" {
				p.ID = id
			}
			rest = append(rest, p)
		default:
			rest = append(rest, p)
		}
	}
	res := trace.Part{Type: trace.PartToolResult, ID: id, Text: strings.Join(texts, "\n"), IsError: str(e, "status") == "error"}
	if len(texts) == 0 && len(rest) > 0 {
		return rest
	}
	return append([]trace.Part{res}, rest...)
}

// contentPart reads one element of a message's content list.
func contentPart(p any, depth int) trace.Part {
	switch x := unwrapString(p).(type) {
	case string:
		return trace.Part{Type: trace.PartText, Text: x}
	case map[string]any:
		switch t := str(x, "type"); t {
		case "text", "input_text", "output_text":
			if s, ok := x["text"].(string); ok {
				return trace.Part{Type: trace.PartText, Text: s}
			}
			if s, ok := x["content"].(string); ok {
				return trace.Part{Type: trace.PartText, Text: s}
			}
		case "refusal":
			return trace.Part{Type: trace.PartText, Text: str(x, "refusal")}
		case "image_url", "input_image", "image", "image-url":
			return trace.Part{Type: trace.PartImage, Raw: rawOf(x)}
		case "tool_use", "server_tool_use":
			return toolCallPart(idOf(x["id"]), str(x, "name"), x["input"])
		case "tool_result":
			p := resultPart(idOf(x["tool_use_id"]), x["content"])
			p.IsError, _ = x["is_error"].(bool)
			return p
		case "thinking":
			return trace.Part{Type: trace.PartReasoning, Text: str(x, "thinking")}
		case "redacted_thinking":
			return trace.Part{Type: trace.PartReasoning, Raw: rawOf(x)}
		case "reasoning":
			if _, ok := x["summary"]; ok {
				return reasoningItem(x)
			}
			return trace.Part{Type: trace.PartReasoning, Text: firstStr(x, "text", "content", "reasoning")}
		case "tool-call":
			return toolCallPart(idOf(x["toolCallId"]), str(x, "toolName"), firstNonNil(x["input"], x["args"]))
		case "tool-result":
			p := resultPart(idOf(x["toolCallId"]), firstNonNil(x["output"], x["result"]))
			if p.Name == "" {
				p.Name = str(x, "toolName")
			}
			return p
		case "function", "tool_call", "function_call":
			if f := asMap(x["function"]); f != nil && f["arguments"] == nil && (f["parameters"] != nil || f["description"] != nil) {
				return trace.Part{Type: partToolDef, Name: str(f, "name"), Raw: rawOf(f)}
			}
			return toolCallFrom(x)
		case "tool_call_response":
			return genericPart(x)
		case "":
			if s, ok := x["text"].(string); ok && len(x) == 1 {
				return trace.Part{Type: trace.PartText, Text: s}
			}
			if x["functionCall"] != nil || x["function_call"] != nil || x["functionResponse"] != nil || x["function_response"] != nil {
				return genericPart(x)
			}
		}
		return rawPart(x)
	}
	return rawPart(p)
}

// genericPart reads an OTel GenAI part or a Gemini part.
func genericPart(p any) trace.Part {
	x := asMap(unwrapString(p))
	if x == nil {
		if s, ok := p.(string); ok {
			return trace.Part{Type: trace.PartText, Text: s}
		}
		return rawPart(p)
	}
	switch str(x, "type") {
	case "text":
		if s, ok := x["content"].(string); ok {
			return trace.Part{Type: trace.PartText, Text: s}
		}
		if s, ok := x["text"].(string); ok {
			return trace.Part{Type: trace.PartText, Text: s}
		}
	case "tool_call":
		return toolCallPart(idOf(x["id"]), str(x, "name"), x["arguments"])
	case "tool_call_response":
		return resultPart(idOf(x["id"]), firstNonNil(x["response"], x["result"]))
	case "reasoning", "thinking":
		return trace.Part{Type: trace.PartReasoning, Text: firstStr(x, "content", "text")}
	case "blob", "file", "uri", "image":
		return trace.Part{Type: trace.PartImage, Raw: rawOf(x)}
	case "":
		// Gemini parts.
		if t, ok := x["text"].(string); ok {
			if th, _ := x["thought"].(bool); th {
				return trace.Part{Type: trace.PartReasoning, Text: t}
			}
			return trace.Part{Type: trace.PartText, Text: t}
		}
		if fc := asMap(firstNonNil(x["function_call"], x["functionCall"])); fc != nil {
			return toolCallPart(idOf(fc["id"]), str(fc, "name"), fc["args"])
		}
		if fr := asMap(firstNonNil(x["function_response"], x["functionResponse"])); fr != nil {
			p := resultPart(idOf(fr["id"]), fr["response"])
			p.Name = str(fr, "name")
			return p
		}
		if x["inline_data"] != nil || x["inlineData"] != nil || x["file_data"] != nil || x["fileData"] != nil {
			return trace.Part{Type: trace.PartImage, Raw: rawOf(x)}
		}
	default:
		return contentPart(x, 0)
	}
	return rawPart(x)
}

// toolCallFrom reads an OpenAI tool call {id, type:"function", function:{name,
// arguments}} or a LangChain one {id, name, args}.
func toolCallFrom(v any) trace.Part {
	x := asMap(v)
	if x == nil {
		return rawPart(v)
	}
	if f := asMap(x["function"]); f != nil {
		return toolCallPart(idOf(x["id"]), str(f, "name"), f["arguments"])
	}
	if n := str(x, "name"); n != "" {
		return toolCallPart(idOf(firstNonNil(x["id"], x["call_id"])), n, firstNonNil(x["args"], x["arguments"], x["input"]))
	}
	return rawPart(x)
}

func toolCallPart(id, name string, args any) trace.Part {
	return trace.Part{Type: trace.PartToolCall, ID: id, Name: name, Arguments: argsOf(unwrapArgs(args))}
}

// unwrapArgs keeps string arguments as strings (they are decoded by argsOf
// when they hold JSON); double-encoded ones are unwrapped once.
func unwrapArgs(v any) any {
	if s, ok := v.(string); ok {
		if u, ok := unwrapString(s).(string); ok {
			return u
		}
	}
	return v
}

func resultPart(id string, content any) trace.Part {
	p := trace.Part{Type: trace.PartToolResult, ID: id}
	switch c := unwrapString(content).(type) {
	case nil:
	case string:
		p.Text = c
	default:
		t := textOf(c)
		if t != "" && (len(t) == 0 || (t[0] != '{' && t[0] != '[')) {
			p.Text = t
		} else {
			p.Raw = rawOf(c)
		}
	}
	return p
}

// reasoningItem reads an OpenAI Responses reasoning item: its summary texts,
// with encrypted content kept verbatim.
func reasoningItem(x map[string]any) trace.Part {
	var texts []string
	for _, s := range asList(x["summary"]) {
		if t := str(asMap(s), "text"); t != "" {
			texts = append(texts, t)
		}
	}
	for _, c := range asList(x["content"]) {
		if t := str(asMap(c), "text"); t != "" {
			texts = append(texts, t)
		}
	}
	p := trace.Part{Type: trace.PartReasoning, Text: strings.Join(texts, "\n\n")}
	if x["encrypted_content"] != nil {
		p.Raw = rawOf(x)
	}
	return p
}

// splitTranscript splits "system: …\nuser: …" transcripts (how the OTel
// openai instrumentation renders a request as text) into messages. It
// applies only when the text starts with a known role prefix.
func splitTranscript(s string) ([]trace.Message, bool) {
	if _, _, ok := rolePrefix(s); !ok {
		return nil, false
	}
	var (
		out  []trace.Message
		role string
		cur  []string
	)
	flush := func() {
		r, name := normRole(role, roleUser)
		m := trace.Message{Role: r, Name: name}
		if t := strings.Join(cur, "\n"); t != "" {
			m.Parts = []trace.Part{{Type: trace.PartText, Text: t}}
		}
		out = append(out, m)
	}
	for i, line := range strings.Split(s, "\n") {
		if r, t, ok := rolePrefix(line); ok {
			if i > 0 {
				flush()
			}
			role, cur = r, []string{t}
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return out, true
}

// rolePrefix reads a "role: " prefix on the first line of s and returns the
// role and the rest of that line.
func rolePrefix(s string) (role, rest string, ok bool) {
	line, _, _ := strings.Cut(s, "\n")
	for _, r := range []string{"system", "developer", "user", "assistant", "tool", "human", "ai"} {
		if strings.HasPrefix(line, r+": ") {
			return r, line[len(r)+2:], true
		}
		if line == r+":" {
			return r, "", true
		}
	}
	return "", "", false
}

// stopReason finds a finish reason in an output value.
func stopReason(v any) string {
	v = unwrapString(v)
	switch x := v.(type) {
	case map[string]any:
		if ch := asList(x["choices"]); len(ch) > 0 {
			if s := str(asMap(ch[0]), "finish_reason"); s != "" {
				return s
			}
		}
		if c := asList(x["candidates"]); len(c) > 0 {
			if s := firstStr(asMap(c[0]), "finish_reason", "finishReason"); s != "" {
				return s
			}
		}
		if s := firstStr(x, "finish_reason", "finishReason", "stop_reason"); s != "" {
			return s
		}
		if s := firstStr(asMap(x["response_metadata"]), "finish_reason", "stop_reason"); s != "" {
			return s
		}
	case []any:
		if len(x) > 0 {
			return firstStr(asMap(x[len(x)-1]), "finish_reason")
		}
	}
	return ""
}
