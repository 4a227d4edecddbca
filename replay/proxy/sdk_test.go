package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/agentreplay/replay/replay/trace"
)

// turn is what a test agent saw of one model answer.
type turn struct {
	Text         string
	ToolName     string
	ToolArgs     map[string]any
	Input        int64 // prompt tokens as the format counts them
	Cached       int64
	Output       int64
	StopOrFinish string
}

func argsMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("tool arguments %q: %v", s, err)
	}
	return m
}

// chatAgent runs the review conversation with openai-go's chat API.
func chatAgent(t *testing.T, base string, stream bool) []turn {
	ctx := context.Background()
	c := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey("dummy"), option.WithMaxRetries(0))
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(testSystem), openai.UserMessage(testTask)},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "read_file", Description: openai.String("Read a file"), Parameters: testSchema})},
	}
	if stream {
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	}
	var turns []turn
	for i := 0; i < 2; i++ {
		var cc *openai.ChatCompletion
		if stream {
			s := c.Chat.Completions.NewStreaming(ctx, params)
			acc := openai.ChatCompletionAccumulator{}
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if err := s.Err(); err != nil {
				t.Fatalf("chat stream, call %d: %v", i+1, err)
			}
			cc = &acc.ChatCompletion
		} else {
			var err error
			cc, err = c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("chat, call %d: %v", i+1, err)
			}
		}
		msg := cc.Choices[0].Message
		tu := turn{Text: msg.Content, Input: cc.Usage.PromptTokens, Cached: cc.Usage.PromptTokensDetails.CachedTokens,
			Output: cc.Usage.CompletionTokens, StopOrFinish: cc.Choices[0].FinishReason}
		params.Messages = append(params.Messages, msg.ToParam())
		for _, tc := range msg.ToolCalls {
			tu.ToolName, tu.ToolArgs = tc.Function.Name, argsMap(t, tc.Function.Arguments)
			params.Messages = append(params.Messages, openai.ToolMessage(testFile, tc.ID))
		}
		turns = append(turns, tu)
	}
	return turns
}

// responsesAgent runs it with openai-go's Responses API.
func responsesAgent(t *testing.T, base string, stream bool) []turn {
	ctx := context.Background()
	c := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey("dummy"), option.WithMaxRetries(0))
	tool := responses.ToolParamOfFunction("read_file", testSchema, false)
	tool.OfFunction.Description = openai.String("Read a file")
	input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage(testTask, responses.EasyInputMessageRoleUser)}
	var turns []turn
	for i := 0; i < 2; i++ {
		params := responses.ResponseNewParams{Model: "gpt-4o", Instructions: openai.String(testSystem),
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}, Tools: []responses.ToolUnionParam{tool}}
		var r *responses.Response
		if stream {
			s := c.Responses.NewStreaming(ctx, params)
			for s.Next() {
				ev := s.Current()
				if ev.Type == "response.completed" {
					resp := ev.Response
					r = &resp
				}
			}
			if err := s.Err(); err != nil {
				t.Fatalf("responses stream, call %d: %v", i+1, err)
			}
			if r == nil {
				t.Fatalf("responses stream, call %d: no response.completed event", i+1)
			}
		} else {
			var err error
			r, err = c.Responses.New(ctx, params)
			if err != nil {
				t.Fatalf("responses, call %d: %v", i+1, err)
			}
		}
		tu := turn{Text: r.OutputText(), Input: r.Usage.InputTokens, Cached: r.Usage.InputTokensDetails.CachedTokens, Output: r.Usage.OutputTokens, StopOrFinish: string(r.Status)}
		for _, it := range r.Output {
			switch it.Type {
			case "message":
				m := it.AsMessage()
				input = append(input, responses.ResponseInputItemUnionParam{OfOutputMessage: ptr(m.ToParam())})
			case "function_call":
				fc := it.AsFunctionCall()
				tu.ToolName, tu.ToolArgs = fc.Name, argsMap(t, fc.Arguments)
				input = append(input, responses.ResponseInputItemParamOfFunctionCall(fc.Arguments, fc.CallID, fc.Name))
				out := responses.ResponseInputItemParamOfFunctionCallOutput(testFile)
				out.OfFunctionCallOutput.CallID = openai.String(fc.CallID)
				input = append(input, out)
			}
		}
		turns = append(turns, tu)
	}
	return turns
}

func ptr[T any](v T) *T { return &v }

// anthropicAgent runs it with anthropic-sdk-go's Messages API.
func anthropicAgent(t *testing.T, base string, stream bool) []turn {
	ctx := context.Background()
	c := anthropic.NewClient(aoption.WithBaseURL(base), aoption.WithAPIKey("dummy"), aoption.WithMaxRetries(0))
	params := anthropic.MessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 1024,
		System:   []anthropic.TextBlockParam{{Text: testSystem, CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(testTask))},
		Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "read_file", Description: anthropic.String("Read a file"),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: testSchema["properties"], Required: []string{"path"}}}}},
	}
	var turns []turn
	for i := 0; i < 2; i++ {
		var m *anthropic.Message
		if stream {
			s := c.Messages.NewStreaming(ctx, params)
			acc := anthropic.Message{}
			for s.Next() {
				if err := acc.Accumulate(s.Current()); err != nil {
					t.Fatalf("anthropic stream, call %d: accumulate: %v", i+1, err)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatalf("anthropic stream, call %d: %v", i+1, err)
			}
			m = &acc
		} else {
			var err error
			m, err = c.Messages.New(ctx, params)
			if err != nil {
				t.Fatalf("anthropic, call %d: %v", i+1, err)
			}
		}
		tu := turn{Input: m.Usage.InputTokens + m.Usage.CacheReadInputTokens, Cached: m.Usage.CacheReadInputTokens, Output: m.Usage.OutputTokens, StopOrFinish: string(m.StopReason)}
		var results []anthropic.ContentBlockParamUnion
		for _, b := range m.Content {
			switch b.Type {
			case "text":
				tu.Text += b.Text
			case "tool_use":
				tu.ToolName, tu.ToolArgs = b.Name, argsMap(t, string(b.Input))
				results = append(results, anthropic.NewToolResultBlock(b.ID, testFile, false))
			}
		}
		params.Messages = append(params.Messages, m.ToParam())
		if results != nil {
			params.Messages = append(params.Messages, anthropic.NewUserMessage(results...))
		}
		turns = append(turns, tu)
	}
	return turns
}

var agents = []struct {
	name   string
	format Format
	run    func(t *testing.T, base string, stream bool) []turn
	stops  [2]string
}{
	{"chat", FormatChat, chatAgent, [2]string{"tool_calls", "stop"}},
	{"responses", FormatResponses, responsesAgent, [2]string{"completed", "completed"}},
	{"anthropic", FormatMessages, anthropicAgent, [2]string{"tool_use", "end_turn"}},
}

// The official SDKs parse what the proxy answers from a recording, streamed
// or not, and get exactly the recorded text, tool calls and usage.
func TestProxyRecordedSDKs(t *testing.T) {
	for _, a := range agents {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", a.name, stream), func(t *testing.T) {
				p := newProxy(t, Config{Mode: ModeRecorded, Recording: testRecording()})
				turns := a.run(t, serve(t, p), stream)
				if d := p.Divergence(); d != nil {
					t.Fatalf("diverged: %s\n%s", d, d.Diff)
				}
				want := []turn{
					{Text: "Let me read it.", ToolName: "read_file", ToolArgs: map[string]any{"path": "a.go"}, Input: 120, Cached: 20, Output: 10, StopOrFinish: a.stops[0]},
					{Text: "APPROVE: looks fine.", Input: 250, Cached: 100, Output: 7, StopOrFinish: a.stops[1]},
				}
				if len(turns) != 2 {
					t.Fatalf("got %d turns", len(turns))
				}
				for i := range want {
					g, w := fmt.Sprintf("%+v", turns[i]), fmt.Sprintf("%+v", want[i])
					if g != w {
						t.Errorf("call %d:\n got %s\nwant %s", i+1, g, w)
					}
				}
				exs := p.Exchanges()
				if len(exs) != 2 || exs[0].Produced != ProducedRecorded || exs[1].Step != 2 || exs[0].Format != a.format || exs[0].Stream != stream {
					t.Errorf("exchanges: %+v", exs)
				}
				run := p.Run(trace.RunMeta{})
				checkRunShape(t, run)
			})
		}
	}
}

// checkRunShape checks the canonical run of the review conversation.
func checkRunShape(t *testing.T, run *trace.Run) {
	t.Helper()
	var kinds []string
	for _, s := range run.Steps {
		kinds = append(kinds, s.Kind)
	}
	if fmt.Sprint(kinds) != "[message llm tool llm]" {
		t.Fatalf("steps %v, want [message llm tool llm]", kinds)
	}
	tool := run.Steps[2].Tool
	if tool.Name != "read_file" || tool.Output != testFile || tool.Status != trace.ToolOK || tool.CallID == "" {
		t.Errorf("tool step: %+v", tool)
	}
	if run.Meta.Instr.System != testSystem || len(run.Meta.Instr.Tools) != 1 || run.Meta.Instr.Tools[0].Name != "read_file" || len(run.Meta.Instr.Tools[0].Schema) == 0 {
		t.Errorf("instructions: %+v", run.Meta.Instr)
	}
	if run.Outcome == nil || run.Outcome.Final != "APPROVE: looks fine." || run.Outcome.Status != trace.StatusOK {
		t.Errorf("outcome: %+v", run.Outcome)
	}
	if u := run.Steps[1].LLM.Usage; u == nil || u.Input != 100 || u.CacheRead != 20 || u.Output != 10 {
		t.Errorf("usage of call 1: %+v", u)
	}
}
