package proxy

import (
	"errors"
	"fmt"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// --- usage

type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

func (u *chatUsage) usage() *trace.Usage {
	if u == nil {
		return nil
	}
	out := &trace.Usage{Input: u.PromptTokens, Output: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CacheRead = d.CachedTokens
		out.Input = max(0, u.PromptTokens-d.CachedTokens)
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.Reasoning = d.ReasoningTokens
	}
	return out
}

type responsesUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	TotalTokens        int64 `json:"total_tokens"`
	InputTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

func (u *responsesUsage) usage() *trace.Usage {
	if u == nil {
		return nil
	}
	out := &trace.Usage{Input: u.InputTokens, Output: u.OutputTokens}
	if d := u.InputTokensDetails; d != nil {
		out.CacheRead = d.CachedTokens
		out.Input = max(0, u.InputTokens-d.CachedTokens)
	}
	if d := u.OutputTokensDetails; d != nil {
		out.Reasoning = d.ReasoningTokens
	}
	return out
}

type anthropicUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

func (u *anthropicUsage) usage() *trace.Usage {
	if u == nil {
		return nil
	}
	return &trace.Usage{Input: u.InputTokens, Output: u.OutputTokens, CacheWrite: u.CacheCreationInputTokens, CacheRead: u.CacheReadInputTokens}
}

func usageOrZero(u *trace.Usage) trace.Usage {
	if u == nil {
		return trace.Usage{}
	}
	return *u
}

func chatUsageOf(u trace.Usage) map[string]any {
	prompt := u.Input + u.CacheRead + u.CacheWrite
	return map[string]any{
		"prompt_tokens": prompt, "completion_tokens": u.Output, "total_tokens": prompt + u.Output,
		"prompt_tokens_details":     map[string]any{"cached_tokens": u.CacheRead},
		"completion_tokens_details": map[string]any{"reasoning_tokens": u.Reasoning},
	}
}

func responsesUsageOf(u trace.Usage) map[string]any {
	in := u.Input + u.CacheRead + u.CacheWrite
	return map[string]any{
		"input_tokens": in, "output_tokens": u.Output, "total_tokens": in + u.Output,
		"input_tokens_details":  map[string]any{"cached_tokens": u.CacheRead},
		"output_tokens_details": map[string]any{"reasoning_tokens": u.Reasoning},
	}
}

func anthropicUsageOf(u trace.Usage) map[string]any {
	return map[string]any{
		"input_tokens": u.Input, "output_tokens": u.Output,
		"cache_creation_input_tokens": u.CacheWrite, "cache_read_input_tokens": u.CacheRead,
	}
}

// --- parsing responses (forward mode, not streamed)

// parseResponse reads a non-streamed response body of format f.
func parseResponse(f Format, body []byte) (*trace.LLMCall, error) {
	switch f {
	case FormatChat:
		var v struct {
			ID      string `json:"id"`
			Model   string `json:"model"`
			Choices []struct {
				Message      chatMessage `json:"message"`
				FinishReason string      `json:"finish_reason"`
			} `json:"choices"`
			Usage *chatUsage `json:"usage"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("not a chat completion: %v", err)
		}
		if len(v.Choices) == 0 {
			return nil, errors.New("not a chat completion: no choices")
		}
		c := v.Choices[0]
		call := &trace.LLMCall{ID: v.ID, Model: v.Model, StopReason: c.FinishReason, Usage: v.Usage.usage(),
			Output: trace.Message{Role: "assistant"}}
		if c.Message.Reasoning != "" {
			call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartReasoning, Text: c.Message.Reasoning})
		}
		if t := contentText(c.Message.Content); t != "" {
			call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartText, Text: t})
		}
		for _, tc := range c.Message.ToolCalls {
			call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartToolCall, ID: tc.ID, Name: tc.Function.Name, Arguments: rawArgs(tc.Function.Arguments)})
		}
		return call, nil
	case FormatResponses:
		return parseResponsesObject(body)
	case FormatMessages:
		var v struct {
			ID         string           `json:"id"`
			Type       string           `json:"type"`
			Model      string           `json:"model"`
			Content    []anthropicBlock `json:"content"`
			StopReason string           `json:"stop_reason"`
			Usage      *anthropicUsage  `json:"usage"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, fmt.Errorf("not an Anthropic message: %v", err)
		}
		if v.Type != "message" {
			return nil, fmt.Errorf("not an Anthropic message: type %q", v.Type)
		}
		call := &trace.LLMCall{ID: v.ID, Model: v.Model, StopReason: v.StopReason, Usage: v.Usage.usage(), Output: trace.Message{Role: "assistant"}}
		for _, b := range v.Content {
			switch b.Type {
			case "text":
				call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartText, Text: b.Text})
			case "thinking":
				call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartReasoning, Text: b.Thinking})
			case "tool_use":
				args := nonNull(b.Input)
				if args == nil {
					args = json.RawMessage("{}")
				}
				call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartToolCall, ID: b.ID, Name: b.Name, Arguments: args})
			}
		}
		return call, nil
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

func parseResponsesObject(body []byte) (*trace.LLMCall, error) {
	var v struct {
		ID                string          `json:"id"`
		Object            string          `json:"object"`
		Model             string          `json:"model"`
		Status            string          `json:"status"`
		Output            []responsesItem `json:"output"`
		Usage             *responsesUsage `json:"usage"`
		IncompleteDetails *struct {
			Reason string `json:"reason"`
		} `json:"incomplete_details"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("not a response: %v", err)
	}
	if v.Object != "response" {
		return nil, fmt.Errorf("not a response: object %q", v.Object)
	}
	call := &trace.LLMCall{ID: v.ID, Model: v.Model, Usage: v.Usage.usage(), Output: trace.Message{Role: "assistant"}, StopReason: v.Status}
	if v.IncompleteDetails != nil && v.IncompleteDetails.Reason != "" {
		call.StopReason = v.IncompleteDetails.Reason
	}
	for _, it := range v.Output {
		switch it.Type {
		case "message":
			for _, p := range contentParts(it.Content) {
				if p.Type == trace.PartText {
					call.Output.Parts = append(call.Output.Parts, p)
				}
			}
		case "function_call":
			call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartToolCall, ID: it.CallID, Name: it.Name, Arguments: rawArgs(it.Arguments)})
		case "reasoning":
			var texts []string
			for _, s := range it.Summary {
				texts = append(texts, s.Text)
			}
			call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartReasoning, Text: strings.Join(texts, "\n")})
		}
	}
	return call, nil
}

// --- stop reasons across formats

func hasToolCalls(m trace.Message) bool {
	for _, p := range m.Parts {
		if p.Type == trace.PartToolCall {
			return true
		}
	}
	return false
}

func chatFinish(call *trace.LLMCall) string {
	switch call.StopReason {
	case "stop", "length", "tool_calls", "content_filter":
		return call.StopReason
	case "max_tokens", "max_output_tokens":
		return "length"
	}
	if hasToolCalls(call.Output) {
		return "tool_calls"
	}
	return "stop"
}

func anthropicStop(call *trace.LLMCall) string {
	switch call.StopReason {
	case "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal":
		return call.StopReason
	case "length", "max_output_tokens":
		return "max_tokens"
	}
	if hasToolCalls(call.Output) {
		return "tool_use"
	}
	return "end_turn"
}
