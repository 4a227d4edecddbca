package model

import (
	"errors"

	gojson "github.com/goccy/go-json"
	openai "github.com/sashabaranov/go-openai"
)

// The request body is encoded here rather than by go-openai. go-openai
// marshals with encoding/json, and each message through its own MarshalJSON,
// whose output encoding/json then scans again: for the request of step 100
// of an agent run (~250 KB) that is ~2 ms per call, the whole of the
// engine's per-step budget. wireRequest encodes the same request in one pass
// with goccy/go-json (~0.3 ms); the transport puts this body in place of
// the one go-openai built from the request reduced to its model. go-openai
// still builds the URL and headers, validates parameters, and decodes
// responses and errors. TestWireMatchesGoOpenAI keeps the two encodings
// equal.

// wireRequest is openai.ChatCompletionRequest with its messages and tools
// encoded by wireMessage and wireTool (the outer fields hide the embedded
// ones).
type wireRequest struct {
	openai.ChatCompletionRequest
	Messages []wireMessage `json:"messages"`
	Tools    []wireTool    `json:"tools,omitempty"`
}

// wireTool encodes an openai.Tool as its MarshalJSON does for a function
// tool (without its map).
type wireTool struct {
	Type     openai.ToolType            `json:"type"`
	Function *openai.FunctionDefinition `json:"function,omitempty"`
}

// wireMessage encodes an openai.ChatCompletionMessage as its MarshalJSON
// does: content is the string, or the parts when there are any.
type wireMessage struct {
	Role             string               `json:"role"`
	Content          any                  `json:"content,omitempty"` // string or []openai.ChatMessagePart; nil when empty
	Refusal          string               `json:"refusal,omitempty"`
	Name             string               `json:"name,omitempty"`
	ReasoningContent string               `json:"reasoning_content,omitempty"`
	FunctionCall     *openai.FunctionCall `json:"function_call,omitempty"`
	ToolCalls        []openai.ToolCall    `json:"tool_calls,omitempty"`
	ToolCallID       string               `json:"tool_call_id,omitempty"`
}

// encodeRequest returns the JSON body of cr.
func encodeRequest(cr *openai.ChatCompletionRequest) ([]byte, error) {
	w := wireRequest{ChatCompletionRequest: *cr, Messages: make([]wireMessage, len(cr.Messages))}
	w.ChatCompletionRequest.Messages = nil
	w.ChatCompletionRequest.Tools = nil
	for _, t := range cr.Tools {
		if len(t.Parameters) > 0 {
			return nil, errors.New("tools with inline parameters are not supported")
		}
		w.Tools = append(w.Tools, wireTool{Type: t.Type, Function: t.Function})
	}
	for i := range cr.Messages {
		m := &cr.Messages[i]
		if m.Content != "" && len(m.MultiContent) > 0 {
			return nil, openai.ErrContentFieldsMisused
		}
		wm := wireMessage{Role: m.Role, Refusal: m.Refusal, Name: m.Name, ReasoningContent: m.ReasoningContent,
			FunctionCall: m.FunctionCall, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID}
		switch {
		case len(m.MultiContent) > 0:
			wm.Content = m.MultiContent
		case m.Content != "":
			wm.Content = m.Content
		}
		w.Messages[i] = wm
	}
	return gojson.Marshal(w)
}
