package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	openai "github.com/sashabaranov/go-openai"

	"github.com/agentreplay/replay/replay/trace"
)

// Model answers one model call. The live client (Client) and the recorded
// model (Recorded) implement it; the engine's agent loop needs nothing else.
//
// Complete returns the model's response as a trace.LLMCall: Output is an
// assistant message with text, reasoning and tool_call parts; Usage, Cost,
// LatencyMS, Model (as answered), ID and StopReason are set where known, and
// Produced says how the answer was obtained (ProducedModel, ProducedCache,
// ProducedRecorded). Input is left empty: the conversation is the steps the
// engine records before the call.
type Model interface {
	Complete(ctx context.Context, req Request) (*trace.LLMCall, error)
}

// Func adapts a function to Model (fakes in tests, wrappers).
type Func func(ctx context.Context, req Request) (*trace.LLMCall, error)

// Complete calls f.
func (f Func) Complete(ctx context.Context, req Request) (*trace.LLMCall, error) { return f(ctx, req) }

// How a response was obtained (trace.LLMCall.Produced).
const (
	ProducedModel    = "model"    // the endpoint answered
	ProducedCache    = "cache"    // the response cache answered: nothing was spent
	ProducedRecorded = "recorded" // the original run answered (Recorded)
)

// Request is one model call in terms of the canonical model.
type Request struct {
	// System is the system prompt. When not empty it is sent first, as a
	// system message.
	System string
	// Messages is the conversation after the system prompt. Roles: system,
	// user, assistant, tool. Parts: text; image (Raw as an importer kept
	// it); reasoning (never sent back); tool_call {ID, Name, Arguments} in
	// assistant messages; tool_result {ID, Text, IsError} in tool or user
	// messages (Anthropic puts results in user messages; both work).
	Messages []trace.Message
	// Tools are the tools the model may call, sent as functions.
	Tools []trace.ToolDef
	// Params are the request parameters; Params.Model is required. TopK
	// and Provider are not part of the chat.completions API and are not
	// sent.
	Params trace.Params
	// Sample tells repeated samples of one request apart: it enters the
	// cache key but is not sent. A run repeated N times (--repeat N) uses
	// Sample 0..N-1, so each repetition gets its own answer rather than the
	// first one from the cache, and re-running the N repetitions costs
	// nothing.
	Sample int
}

// chatRequest converts req to the chat.completions request sent on the wire.
//
// Conversion rules: the system prompt becomes the first message; text parts
// of a message are joined with newlines (a message with images is sent as
// content parts); an assistant message's tool_call parts become its
// tool_calls, with arguments that are not valid JSON sent as a JSON string;
// reasoning parts are dropped; every tool_result part becomes a `tool`
// message with its tool_call_id (a result without an id becomes a user
// message, as no endpoint accepts a tool message without one); a tool error
// is sent with an "Error: " prefix, an empty result as "(no output)", since
// the API has no error flag and cannot carry an empty tool message; tool
// schemas are sent as object schemas.
func chatRequest(req Request) (openai.ChatCompletionRequest, error) {
	p := req.Params
	if strings.TrimSpace(p.Model) == "" {
		return openai.ChatCompletionRequest{}, errors.New("no model named: the request must say which model to call")
	}
	msgs, err := chatMessages(req.System, req.Messages)
	if err != nil {
		return openai.ChatCompletionRequest{}, err
	}
	tools, err := chatTools(req.Tools)
	if err != nil {
		return openai.ChatCompletionRequest{}, err
	}
	r := openai.ChatCompletionRequest{Model: p.Model, Messages: msgs, Tools: tools, Stop: p.Stop}
	if p.Temperature != nil {
		r.Temperature = nonZero32(*p.Temperature)
	}
	if p.TopP != nil {
		r.TopP = nonZero32(*p.TopP)
	}
	if p.Seed != nil {
		s := int(*p.Seed)
		r.Seed = &s
	}
	r.ReasoningEffort = p.Effort
	if p.MaxTokens != nil && *p.MaxTokens > 0 {
		r.MaxTokens = int(*p.MaxTokens)
		// Reasoning models (o1, o3, o4, gpt-5…) refuse max_tokens and take
		// max_completion_tokens; other endpoints (vLLM, Ollama, older
		// proxies) know only max_tokens. go-openai's validator knows which
		// is which.
		if errors.Is(openai.NewReasoningValidator().Validate(r), openai.ErrReasoningModelMaxTokensDeprecated) {
			r.MaxCompletionTokens, r.MaxTokens = r.MaxTokens, 0
		}
	}
	return r, nil
}

// nonZero32 converts a sampling parameter to the float32 go-openai sends.
// Its fields are omitted when zero, so an explicit 0 is sent as the smallest
// float32 (1e-45), as go-openai documents: the endpoint then samples
// greedily, as asked.
func nonZero32(v float64) float32 {
	f := float32(v)
	if f == 0 {
		return math.SmallestNonzeroFloat32
	}
	return f
}

func chatMessages(system string, in []trace.Message) ([]openai.ChatCompletionMessage, error) {
	out := make([]openai.ChatCompletionMessage, 0, len(in)+1)
	if system != "" {
		out = append(out, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: system})
	}
	for i := range in {
		m := &in[i]
		role := strings.ToLower(m.Role)
		var text []string
		var images []openai.ChatMessagePart
		var calls []openai.ToolCall
		var results []openai.ChatCompletionMessage
		for j := range m.Parts {
			p := &m.Parts[j]
			switch p.Type {
			case trace.PartText:
				if p.Text != "" {
					text = append(text, p.Text)
				}
			case trace.PartImage:
				if url, ok := imageURL(p.Raw); ok {
					images = append(images, openai.ChatMessagePart{Type: openai.ChatMessagePartTypeImageURL, ImageURL: &openai.ChatMessageImageURL{URL: url}})
				} else {
					text = append(text, "[image omitted]")
				}
			case trace.PartToolCall:
				calls = append(calls, openai.ToolCall{
					ID:       p.ID,
					Type:     openai.ToolTypeFunction,
					Function: openai.FunctionCall{Name: p.Name, Arguments: argumentsText(p.Arguments)},
				})
			case trace.PartToolResult:
				results = append(results, toolMessage(p))
			}
		}
		if role == "tool" && len(results) == 0 && len(text) > 0 {
			// A tool message kept as plain text: its id may be in Name.
			results = append(results, toolMessage(&trace.Part{Type: trace.PartToolResult, ID: m.Name, Text: strings.Join(text, "\n")}))
			text = nil
		}
		switch role {
		case "assistant", "model":
			if len(text) > 0 || len(calls) > 0 {
				out = append(out, openai.ChatCompletionMessage{
					Role:      openai.ChatMessageRoleAssistant,
					Content:   strings.Join(text, "\n"),
					Name:      validName(m.Name),
					ToolCalls: calls,
				})
			}
			out = append(out, results...)
		case "system", "developer":
			if len(text) > 0 {
				out = append(out, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: strings.Join(text, "\n"), Name: validName(m.Name)})
			}
			out = append(out, results...)
		case "user", "human", "tool", "":
			// Results first: a tool message must follow the assistant
			// message that made the call.
			out = append(out, results...)
			if msg, ok := userMessage(text, images, validName(m.Name)); ok {
				out = append(out, msg)
			}
		default:
			return nil, fmt.Errorf("message %d: unknown role %q (want system, user, assistant or tool)", i, m.Role)
		}
	}
	return out, nil
}

func userMessage(text []string, images []openai.ChatMessagePart, name string) (openai.ChatCompletionMessage, bool) {
	msg := openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Name: name}
	switch {
	case len(images) > 0:
		for _, t := range text {
			msg.MultiContent = append(msg.MultiContent, openai.ChatMessagePart{Type: openai.ChatMessagePartTypeText, Text: t})
		}
		msg.MultiContent = append(msg.MultiContent, images...)
	case len(text) > 0:
		msg.Content = strings.Join(text, "\n")
	default:
		return msg, false
	}
	return msg, true
}

// toolMessage is the `tool` message that carries one tool result.
func toolMessage(p *trace.Part) openai.ChatCompletionMessage {
	text := p.Text
	if p.IsError && !strings.HasPrefix(strings.ToLower(strings.TrimSpace(text)), "error") {
		text = "Error: " + text
	}
	if strings.TrimSpace(text) == "" {
		text = "(no output)"
	}
	if p.ID == "" {
		return openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: "Tool result:\n" + text}
	}
	return openai.ChatCompletionMessage{Role: openai.ChatMessageRoleTool, ToolCallID: p.ID, Content: text}
}

// argumentsText is what a tool call's arguments are sent as: valid JSON as
// it is, nothing as {}, anything else as a JSON string, because endpoints
// that parse past arguments (vLLM, Ollama chat templates) reject invalid
// JSON.
func argumentsText(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return "{}"
	}
	if json.Valid(t) {
		return string(t)
	}
	b, _ := json.Marshal(string(raw)) // a string always marshals
	return string(b)
}

// rawArguments turns the arguments a model wrote into a json.RawMessage that
// is always valid JSON: invalid JSON is kept as a JSON string (as the
// importers do), so the run stays writable and argumentsText sends it back
// unchanged.
func rawArguments(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil
	}
	if json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(s)
	return b
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// validName returns name when OpenAI accepts it as a message name; other
// names would fail the whole request, so they are not sent.
func validName(name string) string {
	if namePattern.MatchString(name) {
		return name
	}
	return ""
}

// imageURL finds the URL (or data: URL) of an image part as the importers
// keep it: Anthropic's source {type: base64, media_type, data} or {type:
// url, url}, OpenAI's {type: image_url, image_url: {url}} or {image_url:
// "…"} (Responses API, Codex), or a bare {url}.
func imageURL(raw json.RawMessage) (string, bool) {
	var v struct {
		Type      string          `json:"type"`
		MediaType string          `json:"media_type"`
		Data      string          `json:"data"`
		URL       string          `json:"url"`
		ImageURL  json.RawMessage `json:"image_url"`
		Source    json.RawMessage `json:"source"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	switch {
	case len(v.Source) > 0:
		return imageURL(v.Source)
	case v.Data != "" && v.MediaType != "":
		return "data:" + v.MediaType + ";base64," + v.Data, true
	case v.URL != "":
		return v.URL, true
	case len(v.ImageURL) > 0:
		var s string
		if json.Unmarshal(v.ImageURL, &s) == nil && s != "" {
			return s, true
		}
		return imageURL(v.ImageURL)
	}
	return "", false
}

// emptySchema is sent for a tool recorded without a schema: the API wants
// an object schema.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

func chatTools(defs []trace.ToolDef) ([]openai.Tool, error) {
	if len(defs) == 0 {
		return nil, nil
	}
	out := make([]openai.Tool, 0, len(defs))
	for _, d := range defs {
		if d.Name == "" {
			return nil, errors.New("a tool has no name")
		}
		schema, err := objectSchema(d.Schema)
		if err != nil {
			return nil, fmt.Errorf("tool %q: %w", d.Name, err)
		}
		out = append(out, openai.Tool{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{
			Name: d.Name, Description: d.Description, Parameters: schema,
		}})
	}
	return out, nil
}

// objectSchema returns s as an object schema: empty, null and {} become
// {"type":"object","properties":{}}, a schema without a type gets "type":
// "object"; anything that is not a JSON object is an error.
func objectSchema(s json.RawMessage) (json.RawMessage, error) {
	t := bytes.TrimSpace(s)
	if len(t) == 0 || string(t) == "null" {
		return emptySchema, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(t, &m); err != nil || m == nil {
		return nil, fmt.Errorf("schema is not a JSON object: %.60q", t)
	}
	if len(m) == 0 {
		return emptySchema, nil
	}
	if _, ok := m["type"]; ok {
		return t, nil
	}
	m["type"] = json.RawMessage(`"object"`)
	if _, ok := m["properties"]; !ok {
		m["properties"] = json.RawMessage(`{}`)
	}
	return json.Marshal(m)
}

// callFromResponse converts a chat.completions response to an LLMCall.
func callFromResponse(resp *openai.ChatCompletionResponse, params trace.Params) (*trace.LLMCall, error) {
	if len(resp.Choices) == 0 {
		return nil, errNoChoices
	}
	ch := &resp.Choices[0]
	msg := &ch.Message
	out := trace.Message{Role: "assistant"}
	if msg.ReasoningContent != "" {
		out.Parts = append(out.Parts, trace.Part{Type: trace.PartReasoning, Text: msg.ReasoningContent})
	}
	if msg.Content != "" {
		out.Parts = append(out.Parts, trace.Part{Type: trace.PartText, Text: msg.Content})
	}
	for _, p := range msg.MultiContent {
		if p.Type == openai.ChatMessagePartTypeText && p.Text != "" {
			out.Parts = append(out.Parts, trace.Part{Type: trace.PartText, Text: p.Text})
		}
	}
	if msg.Refusal != "" {
		out.Parts = append(out.Parts, trace.Part{Type: trace.PartText, Text: msg.Refusal})
	}
	for _, tc := range msg.ToolCalls {
		out.Parts = append(out.Parts, trace.Part{Type: trace.PartToolCall, ID: tc.ID, Name: tc.Function.Name, Arguments: rawArguments(tc.Function.Arguments)})
	}
	if fc := msg.FunctionCall; fc != nil && fc.Name != "" { // the legacy function_call form
		out.Parts = append(out.Parts, trace.Part{Type: trace.PartToolCall, Name: fc.Name, Arguments: rawArguments(fc.Arguments)})
	}
	call := &trace.LLMCall{
		ID:         resp.ID,
		Params:     params,
		Model:      resp.Model,
		Output:     out,
		StopReason: string(ch.FinishReason),
		Usage:      usageOf(resp.Usage),
	}
	return call, nil
}

var errNoChoices = errors.New("the response has no choices")

// usageOf normalizes OpenAI usage to the four disjoint counts:
// prompt_tokens includes prompt_tokens_details.cached_tokens, so input is
// the difference; reasoning tokens are part of completion_tokens. A response
// without usage (all zero) has none.
func usageOf(u openai.Usage) *trace.Usage {
	if u.PromptTokens == 0 && u.CompletionTokens == 0 && u.TotalTokens == 0 {
		return nil
	}
	out := &trace.Usage{Input: int64(u.PromptTokens), Output: int64(u.CompletionTokens)}
	if d := u.PromptTokensDetails; d != nil && d.CachedTokens > 0 {
		cached := min(int64(d.CachedTokens), out.Input)
		out.CacheRead = cached
		out.Input -= cached
	}
	if d := u.CompletionTokensDetails; d != nil && d.ReasoningTokens > 0 {
		out.Reasoning = int64(d.ReasoningTokens)
	}
	return out
}
