// Command recordagent is a small agent that replay record's tests build and
// run: it reviews a.go in its working directory with a read_file tool,
// through the official SDK of the wire format it is told to speak, and
// prints the model's verdict.
//
//	recordagent -format chat|responses|anthropic [-stream]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
)

const system = "You are a reviewer. Read the file, then answer APPROVE or REJECT."

var schema = map[string]any{"type": "object", "properties": map[string]any{"path": map[string]any{"type": "string"}}, "required": []any{"path"}}

func readFile(args string) (string, bool) {
	var a struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		return "bad arguments: " + err.Error(), true
	}
	b, err := os.ReadFile(a.Path)
	if err != nil {
		return err.Error(), true
	}
	return string(b), false
}

func main() {
	format := flag.String("format", "chat", "wire format: chat, responses or anthropic")
	stream := flag.Bool("stream", false, "stream the answers")
	flag.Parse()
	ctx := context.Background()
	var verdict string
	var err error
	switch *format {
	case "chat":
		verdict, err = chat(ctx, *stream)
	case "responses":
		verdict, err = resp(ctx, *stream)
	case "anthropic":
		verdict, err = messages(ctx, *stream)
	default:
		err = fmt.Errorf("unknown format %q", *format)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "recordagent:", err)
		os.Exit(3)
	}
	fmt.Println("verdict:", verdict)
}

// The SDKs read OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL and
// ANTHROPIC_API_KEY from the environment.

func chat(ctx context.Context, stream bool) (string, error) {
	c := openai.NewClient()
	p := openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(system), openai.UserMessage("Review a.go")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "read_file", Description: openai.String("Read a file"), Parameters: schema})},
		Temperature: openai.Float(0.2),
	}
	for turn := 0; turn < 5; turn++ {
		var cc *openai.ChatCompletion
		if stream {
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			s := c.Chat.Completions.NewStreaming(ctx, p)
			acc := openai.ChatCompletionAccumulator{}
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if err := s.Err(); err != nil {
				return "", err
			}
			cc = &acc.ChatCompletion
		} else {
			var err error
			if cc, err = c.Chat.Completions.New(ctx, p); err != nil {
				return "", err
			}
		}
		msg := cc.Choices[0].Message
		if len(msg.ToolCalls) == 0 {
			return msg.Content, nil
		}
		p.Messages = append(p.Messages, msg.ToParam())
		for _, tc := range msg.ToolCalls {
			out, _ := readFile(tc.Function.Arguments)
			p.Messages = append(p.Messages, openai.ToolMessage(out, tc.ID))
		}
	}
	return "", fmt.Errorf("no verdict after 5 turns")
}

func resp(ctx context.Context, stream bool) (string, error) {
	c := openai.NewClient()
	tool := responses.ToolParamOfFunction("read_file", schema, false)
	tool.OfFunction.Description = openai.String("Read a file")
	input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("Review a.go", responses.EasyInputMessageRoleUser)}
	for turn := 0; turn < 5; turn++ {
		p := responses.ResponseNewParams{Model: "gpt-4o", Instructions: openai.String(system),
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}, Tools: []responses.ToolUnionParam{tool}}
		var r *responses.Response
		if stream {
			s := c.Responses.NewStreaming(ctx, p)
			for s.Next() {
				if ev := s.Current(); ev.Type == "response.completed" {
					rr := ev.Response
					r = &rr
				}
			}
			if err := s.Err(); err != nil {
				return "", err
			}
			if r == nil {
				return "", fmt.Errorf("the stream ended without response.completed")
			}
		} else {
			var err error
			if r, err = c.Responses.New(ctx, p); err != nil {
				return "", err
			}
		}
		called := false
		for _, it := range r.Output {
			switch it.Type {
			case "message":
				m := it.AsMessage()
				mp := m.ToParam()
				input = append(input, responses.ResponseInputItemUnionParam{OfOutputMessage: &mp})
			case "function_call":
				called = true
				fc := it.AsFunctionCall()
				input = append(input, responses.ResponseInputItemParamOfFunctionCall(fc.Arguments, fc.CallID, fc.Name))
				text, _ := readFile(fc.Arguments)
				o := responses.ResponseInputItemParamOfFunctionCallOutput(text)
				o.OfFunctionCallOutput.CallID = openai.String(fc.CallID)
				input = append(input, o)
			}
		}
		if !called {
			return r.OutputText(), nil
		}
	}
	return "", fmt.Errorf("no verdict after 5 turns")
}

func messages(ctx context.Context, stream bool) (string, error) {
	c := anthropic.NewClient()
	p := anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 1024,
		System:   []anthropic.TextBlockParam{{Text: system}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Review a.go"))},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "read_file", Description: anthropic.String("Read a file"),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: schema["properties"], Required: []string{"path"}}}}},
	}
	for turn := 0; turn < 5; turn++ {
		var m *anthropic.Message
		if stream {
			s := c.Messages.NewStreaming(ctx, p)
			acc := anthropic.Message{}
			for s.Next() {
				if err := acc.Accumulate(s.Current()); err != nil {
					return "", err
				}
			}
			if err := s.Err(); err != nil {
				return "", err
			}
			m = &acc
		} else {
			var err error
			if m, err = c.Messages.New(ctx, p); err != nil {
				return "", err
			}
		}
		var results []anthropic.ContentBlockParamUnion
		text := ""
		for _, b := range m.Content {
			switch b.Type {
			case "text":
				text += b.Text
			case "tool_use":
				out, isErr := readFile(string(b.Input))
				results = append(results, anthropic.NewToolResultBlock(b.ID, out, isErr))
			}
		}
		if results == nil {
			return text, nil
		}
		p.Messages = append(p.Messages, m.ToParam(), anthropic.NewUserMessage(results...))
	}
	return "", fmt.Errorf("no verdict after 5 turns")
}
