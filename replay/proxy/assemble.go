package proxy

import (
	"sort"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// assembler builds the message an event stream carries, event by event.
type assembler struct {
	f        Format
	id       string
	model    string
	stop     string
	usage    *trace.Usage
	complete bool   // the stream's final event came
	err      string // an error event in the stream

	reasoning strings.Builder
	text      strings.Builder
	calls     map[int]*partial // chat: by index; anthropic: by block index
	order     []int
	final     *trace.LLMCall // responses: the completed response
	blocks    map[int]string // anthropic: block index -> type
	parts     []trace.Part   // anthropic: blocks in order
	partOf    map[int]int    // anthropic: block index -> index in parts
}

type partial struct {
	id, name string
	args     strings.Builder
}

func newAssembler(f Format) *assembler {
	return &assembler{f: f, calls: map[int]*partial{}, blocks: map[int]string{}, partOf: map[int]int{}}
}

func (a *assembler) feed(event string, data []byte) {
	if string(data) == "[DONE]" {
		a.complete = true
		return
	}
	switch a.f {
	case FormatChat:
		a.chat(data)
	case FormatResponses:
		a.responses(event, data)
	case FormatMessages:
		a.anthropic(event, data)
	}
}

func (a *assembler) chat(data []byte) {
	var c struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Choices []struct {
			Index int `json:"index"`
			Delta struct {
				Content   *string `json:"content"`
				Reasoning string  `json:"reasoning_content"`
				ToolCalls []struct {
					Index    int    `json:"index"`
					ID       string `json:"id"`
					Function struct {
						Name      string `json:"name"`
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"delta"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *chatUsage `json:"usage"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &c) != nil {
		return
	}
	if c.Error != nil {
		a.err = "the upstream stream reported an error: " + c.Error.Message
	}
	if c.ID != "" {
		a.id = c.ID
	}
	if c.Model != "" {
		a.model = c.Model
	}
	if c.Usage != nil {
		a.usage = c.Usage.usage()
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue
		}
		if ch.Delta.Content != nil {
			a.text.WriteString(*ch.Delta.Content)
		}
		a.reasoning.WriteString(ch.Delta.Reasoning)
		for _, tc := range ch.Delta.ToolCalls {
			pc := a.calls[tc.Index]
			if pc == nil {
				pc = &partial{}
				a.calls[tc.Index] = pc
				a.order = append(a.order, tc.Index)
			}
			if tc.ID != "" {
				pc.id = tc.ID
			}
			if tc.Function.Name != "" {
				pc.name = tc.Function.Name
			}
			pc.args.WriteString(tc.Function.Arguments)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			a.stop = *ch.FinishReason
		}
	}
}

func (a *assembler) responses(event string, data []byte) {
	var e struct {
		Type     string          `json:"type"`
		Delta    string          `json:"delta"`
		Response json.RawMessage `json:"response"`
		Message  string          `json:"message"`
	}
	if json.Unmarshal(data, &e) != nil {
		return
	}
	if e.Type == "" {
		e.Type = event
	}
	switch e.Type {
	case "response.created":
		var r struct {
			ID    string `json:"id"`
			Model string `json:"model"`
		}
		json.Unmarshal(e.Response, &r)
		a.id, a.model = r.ID, r.Model
	case "response.output_text.delta":
		a.text.WriteString(e.Delta)
	case "response.completed", "response.incomplete", "response.failed":
		a.complete = e.Type == "response.completed" || e.Type == "response.incomplete"
		if call, err := parseResponsesObject(e.Response); err == nil {
			a.final = call
		}
		if e.Type == "response.failed" {
			a.err = "the upstream response failed"
		}
	case "error":
		a.err = "the upstream stream reported an error: " + e.Message
	}
}

func (a *assembler) anthropic(event string, data []byte) {
	var e struct {
		Type    string `json:"type"`
		Index   int    `json:"index"`
		Message *struct {
			ID    string          `json:"id"`
			Model string          `json:"model"`
			Usage *anthropicUsage `json:"usage"`
		} `json:"message"`
		ContentBlock *anthropicBlock `json:"content_block"`
		Delta        *struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			Thinking    string `json:"thinking"`
			PartialJSON string `json:"partial_json"`
			StopReason  string `json:"stop_reason"`
		} `json:"delta"`
		Usage *anthropicUsage `json:"usage"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil {
		return
	}
	if e.Type == "" {
		e.Type = event
	}
	switch e.Type {
	case "message_start":
		if e.Message != nil {
			a.id, a.model, a.usage = e.Message.ID, e.Message.Model, e.Message.Usage.usage()
		}
	case "content_block_start":
		if b := e.ContentBlock; b != nil {
			a.blocks[e.Index] = b.Type
			a.partOf[e.Index] = len(a.parts)
			switch b.Type {
			case "text":
				a.parts = append(a.parts, trace.Part{Type: trace.PartText, Text: b.Text})
			case "thinking":
				a.parts = append(a.parts, trace.Part{Type: trace.PartReasoning, Text: b.Thinking})
			case "tool_use":
				a.parts = append(a.parts, trace.Part{Type: trace.PartToolCall, ID: b.ID, Name: b.Name})
				a.calls[e.Index] = &partial{id: b.ID, name: b.Name}
			default:
				a.parts = append(a.parts, trace.Part{Type: trace.PartOther})
			}
		}
	case "content_block_delta":
		i, ok := a.partOf[e.Index]
		if !ok || e.Delta == nil {
			return
		}
		switch e.Delta.Type {
		case "text_delta":
			a.parts[i].Text += e.Delta.Text
		case "thinking_delta":
			a.parts[i].Text += e.Delta.Thinking
		case "input_json_delta":
			if pc := a.calls[e.Index]; pc != nil {
				pc.args.WriteString(e.Delta.PartialJSON)
			}
		}
	case "message_delta":
		if e.Delta != nil && e.Delta.StopReason != "" {
			a.stop = e.Delta.StopReason
		}
		if e.Usage != nil {
			u := e.Usage.usage()
			if a.usage == nil {
				a.usage = u
			} else {
				a.usage.Output = u.Output
				// message_delta's usage is cumulative when it carries the
				// input counts.
				if u.Input > 0 || u.CacheRead > 0 || u.CacheWrite > 0 {
					a.usage.Input, a.usage.CacheRead, a.usage.CacheWrite = u.Input, u.CacheRead, u.CacheWrite
				}
			}
		}
	case "message_stop":
		a.complete = true
	case "error":
		if e.Error != nil {
			a.err = "the upstream stream reported an error: " + e.Error.Message
		}
	}
}

// call is the message assembled so far.
func (a *assembler) call() *trace.LLMCall {
	if a.final != nil {
		return a.final
	}
	call := &trace.LLMCall{ID: a.id, Model: a.model, StopReason: a.stop, Usage: a.usage, Output: trace.Message{Role: "assistant"}}
	switch a.f {
	case FormatMessages:
		for idx, pc := range a.calls {
			args := pc.args.String()
			if strings.TrimSpace(args) == "" {
				args = "{}"
			}
			a.parts[a.partOf[idx]].Arguments = rawArgs(args)
		}
		for _, p := range a.parts {
			if p.Type != trace.PartOther {
				call.Output.Parts = append(call.Output.Parts, p)
			}
		}
	default:
		if a.reasoning.Len() > 0 {
			call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartReasoning, Text: a.reasoning.String()})
		}
		if a.text.Len() > 0 {
			call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartText, Text: a.text.String()})
		}
		sort.Ints(a.order)
		for _, i := range a.order {
			pc := a.calls[i]
			call.Output.Parts = append(call.Output.Parts, trace.Part{Type: trace.PartToolCall, ID: pc.id, Name: pc.name, Arguments: rawArgs(pc.args.String())})
		}
	}
	return call
}
