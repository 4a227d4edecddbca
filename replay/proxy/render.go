package proxy

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// writeCall answers req with call in req's wire format: a JSON body, or an
// event stream when req asked for one.
func writeCall(w http.ResponseWriter, f Format, req *request, call *trace.LLMCall, t time.Time) {
	if !req.Stream {
		writeJSONBody(w, renderBody(f, req, call, t))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	renderStream(&buf, f, req, call, t)
	w.Write(buf.Bytes())
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
}

// ids gives a response the ids its format expects.
func responseID(f Format, call *trace.LLMCall) string {
	id := call.ID
	prefix := map[Format]string{FormatChat: "chatcmpl-", FormatResponses: "resp_", FormatMessages: "msg_"}[f]
	if id == "" {
		id = "replay"
	}
	if strings.HasPrefix(id, prefix) {
		return id
	}
	return prefix + id
}

func callModel(req *request, call *trace.LLMCall) string {
	if call.Model != "" {
		return call.Model
	}
	return req.Model
}

func toolCallID(f Format, p trace.Part, i int) string {
	if p.ID != "" {
		return p.ID
	}
	if f == FormatMessages {
		return fmt.Sprintf("toolu_replay_%d", i)
	}
	return fmt.Sprintf("call_replay_%d", i)
}

func textOf(call *trace.LLMCall) string {
	var texts []string
	for _, p := range call.Output.Parts {
		if p.Type == trace.PartText {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n")
}

func reasoningOf(call *trace.LLMCall) string {
	var texts []string
	for _, p := range call.Output.Parts {
		if p.Type == trace.PartReasoning && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n")
}

func anthropicInput(raw json.RawMessage) json.RawMessage {
	var v map[string]any
	if json.Unmarshal(raw, &v) == nil && v != nil {
		return raw
	}
	// Anthropic's input is an object; arguments that are not one are
	// carried under "input".
	b, _ := json.Marshal(map[string]json.RawMessage{"input": raw})
	return b
}

func marshal(v any) []byte {
	b, err := json.MarshalNoEscape(v)
	if err != nil {
		panic(err) // maps of plain values
	}
	return b
}

// renderBody is the non-streamed response body of call in format f.
func renderBody(f Format, req *request, call *trace.LLMCall, t time.Time) []byte {
	u := usageOrZero(call.Usage)
	mdl := callModel(req, call)
	switch f {
	case FormatChat:
		msg := map[string]any{"role": "assistant", "content": nil}
		if t := textOf(call); t != "" || !hasToolCalls(call.Output) {
			msg["content"] = t
		}
		if r := reasoningOf(call); r != "" {
			msg["reasoning_content"] = r
		}
		var calls []any
		for i, p := range toolCalls(call) {
			calls = append(calls, map[string]any{"id": toolCallID(f, p, i), "type": "function",
				"function": map[string]any{"name": p.Name, "arguments": argsText(p.Arguments)}})
		}
		if calls != nil {
			msg["tool_calls"] = calls
		}
		return marshal(map[string]any{
			"id": responseID(f, call), "object": "chat.completion", "created": t.Unix(), "model": mdl,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": chatFinish(call), "logprobs": nil}},
			"usage":   chatUsageOf(u),
		})
	case FormatResponses:
		return marshal(responsesObject(req, call, t, "completed", responsesItems(call)))
	default:
		return marshal(anthropicMessage(call, mdl, anthropicBlocks(call), anthropicStop(call), u))
	}
}

func toolCalls(call *trace.LLMCall) []trace.Part {
	var out []trace.Part
	for _, p := range call.Output.Parts {
		if p.Type == trace.PartToolCall {
			out = append(out, p)
		}
	}
	return out
}

func anthropicMessage(call *trace.LLMCall, mdl string, content []any, stop any, u trace.Usage) map[string]any {
	return map[string]any{
		"id": responseID(FormatMessages, call), "type": "message", "role": "assistant", "model": mdl,
		"content": content, "stop_reason": stop, "stop_sequence": nil, "usage": anthropicUsageOf(u),
	}
}

func anthropicBlocks(call *trace.LLMCall) []any {
	content := []any{}
	for i, p := range call.Output.Parts {
		switch p.Type {
		case trace.PartReasoning:
			if p.Text != "" {
				content = append(content, map[string]any{"type": "thinking", "thinking": p.Text, "signature": ""})
			}
		case trace.PartText:
			content = append(content, map[string]any{"type": "text", "text": p.Text})
		case trace.PartToolCall:
			content = append(content, map[string]any{"type": "tool_use", "id": toolCallID(FormatMessages, p, i), "name": p.Name, "input": anthropicInput(p.Arguments)})
		}
	}
	return content
}

// responsesItems are the output items of call: reasoning, one message with
// the text, function calls, in the order of the parts.
func responsesItems(call *trace.LLMCall) []map[string]any {
	var items []map[string]any
	textDone := false
	for i, p := range call.Output.Parts {
		switch p.Type {
		case trace.PartReasoning:
			if p.Text != "" {
				items = append(items, map[string]any{"id": fmt.Sprintf("rs_replay_%d", i), "type": "reasoning",
					"summary": []any{map[string]any{"type": "summary_text", "text": p.Text}}})
			}
		case trace.PartText:
			if textDone {
				continue
			}
			textDone = true
			items = append(items, map[string]any{"id": fmt.Sprintf("msg_replay_%d", i), "type": "message", "status": "completed", "role": "assistant",
				"content": []any{map[string]any{"type": "output_text", "text": textOf(call), "annotations": []any{}}}})
		case trace.PartToolCall:
			items = append(items, map[string]any{"id": fmt.Sprintf("fc_replay_%d", i), "type": "function_call", "status": "completed",
				"call_id": toolCallID(FormatResponses, p, i), "name": p.Name, "arguments": argsText(p.Arguments)})
		}
	}
	if items == nil {
		items = []map[string]any{}
	}
	return items
}

func responsesObject(req *request, call *trace.LLMCall, t time.Time, status string, items []map[string]any) map[string]any {
	out := map[string]any{
		"id": responseID(FormatResponses, call), "object": "response", "created_at": t.Unix(), "status": status,
		"model": callModel(req, call), "output": items, "parallel_tool_calls": true, "tool_choice": "auto",
		"tools": []any{}, "error": nil, "incomplete_details": nil, "instructions": nil, "metadata": map[string]any{},
		"temperature": nil, "top_p": nil,
	}
	if status == "completed" {
		out["usage"] = responsesUsageOf(usageOrZero(call.Usage))
	} else {
		out["usage"] = nil
	}
	return out
}

// renderStream writes call as the event stream of format f.
func renderStream(b *bytes.Buffer, f Format, req *request, call *trace.LLMCall, t time.Time) {
	switch f {
	case FormatChat:
		renderChatStream(b, req, call, t)
	case FormatResponses:
		renderResponsesStream(b, req, call, t)
	default:
		renderAnthropicStream(b, req, call)
	}
}

func sseData(b *bytes.Buffer, v any) {
	b.WriteString("data: ")
	b.Write(marshal(v))
	b.WriteString("\n\n")
}

func sseEvent(b *bytes.Buffer, name string, v any) {
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteString("\ndata: ")
	b.Write(marshal(v))
	b.WriteString("\n\n")
}

func renderChatStream(b *bytes.Buffer, req *request, call *trace.LLMCall, t time.Time) {
	id, mdl, created := responseID(FormatChat, call), callModel(req, call), t.Unix()
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": mdl,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": nil}}}
	}
	sseData(b, chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	if r := reasoningOf(call); r != "" {
		sseData(b, chunk(map[string]any{"reasoning_content": r}, nil))
	}
	if text := textOf(call); text != "" {
		sseData(b, chunk(map[string]any{"content": text}, nil))
	}
	for i, p := range toolCalls(call) {
		sseData(b, chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": toolCallID(FormatChat, p, i), "type": "function",
			"function": map[string]any{"name": p.Name, "arguments": ""}}}}, nil))
		sseData(b, chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i,
			"function": map[string]any{"arguments": argsText(p.Arguments)}}}}, nil))
	}
	sseData(b, chunk(map[string]any{}, chatFinish(call)))
	if req.includeUsage {
		sseData(b, map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": mdl,
			"choices": []any{}, "usage": chatUsageOf(usageOrZero(call.Usage))})
	}
	b.WriteString("data: [DONE]\n\n")
}

func renderResponsesStream(b *bytes.Buffer, req *request, call *trace.LLMCall, t time.Time) {
	seq := 0
	ev := func(name string, v map[string]any) {
		v["type"] = name
		v["sequence_number"] = seq
		seq++
		sseEvent(b, name, v)
	}
	ev("response.created", map[string]any{"response": responsesObject(req, call, t, "in_progress", []map[string]any{})})
	ev("response.in_progress", map[string]any{"response": responsesObject(req, call, t, "in_progress", []map[string]any{})})
	items := responsesItems(call)
	for i, it := range items {
		switch it["type"] {
		case "message":
			added := map[string]any{"id": it["id"], "type": "message", "status": "in_progress", "role": "assistant", "content": []any{}}
			ev("response.output_item.added", map[string]any{"output_index": i, "item": added})
			text := textOf(call)
			ev("response.content_part.added", map[string]any{"item_id": it["id"], "output_index": i, "content_index": 0,
				"part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}}})
			ev("response.output_text.delta", map[string]any{"item_id": it["id"], "output_index": i, "content_index": 0, "delta": text, "logprobs": []any{}})
			ev("response.output_text.done", map[string]any{"item_id": it["id"], "output_index": i, "content_index": 0, "text": text, "logprobs": []any{}})
			ev("response.content_part.done", map[string]any{"item_id": it["id"], "output_index": i, "content_index": 0,
				"part": map[string]any{"type": "output_text", "text": text, "annotations": []any{}}})
		case "function_call":
			added := map[string]any{"id": it["id"], "type": "function_call", "status": "in_progress", "call_id": it["call_id"], "name": it["name"], "arguments": ""}
			ev("response.output_item.added", map[string]any{"output_index": i, "item": added})
			ev("response.function_call_arguments.delta", map[string]any{"item_id": it["id"], "output_index": i, "delta": it["arguments"]})
			ev("response.function_call_arguments.done", map[string]any{"item_id": it["id"], "output_index": i, "arguments": it["arguments"]})
		case "reasoning":
			ev("response.output_item.added", map[string]any{"output_index": i, "item": map[string]any{"id": it["id"], "type": "reasoning", "summary": []any{}}})
		}
		ev("response.output_item.done", map[string]any{"output_index": i, "item": it})
	}
	ev("response.completed", map[string]any{"response": responsesObject(req, call, t, "completed", items)})
}

func renderAnthropicStream(b *bytes.Buffer, req *request, call *trace.LLMCall) {
	u := usageOrZero(call.Usage)
	start := u
	start.Output = min(u.Output, 1)
	msg := anthropicMessage(call, callModel(req, call), []any{}, nil, start)
	sseEvent(b, "message_start", map[string]any{"type": "message_start", "message": msg})
	for i, blk := range anthropicBlocks(call) {
		m := blk.(map[string]any)
		var first, delta map[string]any
		switch m["type"] {
		case "thinking":
			first = map[string]any{"type": "thinking", "thinking": "", "signature": ""}
			delta = map[string]any{"type": "thinking_delta", "thinking": m["thinking"]}
		case "text":
			first = map[string]any{"type": "text", "text": ""}
			delta = map[string]any{"type": "text_delta", "text": m["text"]}
		case "tool_use":
			first = map[string]any{"type": "tool_use", "id": m["id"], "name": m["name"], "input": map[string]any{}}
			delta = map[string]any{"type": "input_json_delta", "partial_json": string(m["input"].(json.RawMessage))}
		}
		sseEvent(b, "content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": first})
		sseEvent(b, "content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": delta})
		if m["type"] == "thinking" {
			sseEvent(b, "content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": map[string]any{"type": "signature_delta", "signature": ""}})
		}
		sseEvent(b, "content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	sseEvent(b, "message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": anthropicStop(call), "stop_sequence": nil},
		"usage": anthropicUsageOf(u)})
	sseEvent(b, "message_stop", map[string]any{"type": "message_stop"})
}
