package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/agentreplay/replay/replay/trace"
)

// changedChatAgent is the review agent, except that its read_file tool
// returns another file: its second request differs from the recorded one.
func changedChatAgent(base string) (first string, second error) {
	ctx := context.Background()
	c := openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey("dummy"), option.WithMaxRetries(0))
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(testSystem), openai.UserMessage(testTask)},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "read_file", Description: openai.String("Read a file"), Parameters: testSchema})},
	}
	cc, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		return "", err
	}
	msg := cc.Choices[0].Message
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("package b // another file", msg.ToolCalls[0].ID))
	_, err = c.Chat.Completions.New(ctx, params)
	return msg.Content, err
}

// A request that differs from the recorded one at model call 2 is the first
// divergence at call 2, with the diff of the two requests; the agent gets an
// error, never an answer made up.
func TestProxyRecordedDivergence(t *testing.T) {
	p := newProxy(t, Config{Mode: ModeRecorded, Recording: testRecording()})
	first, err := changedChatAgent(serve(t, p))
	if first != "Let me read it." {
		t.Errorf("call 1 answered %q", first)
	}
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict || !strings.Contains(apiErr.Message, "model call 2") {
		t.Fatalf("call 2: %v", err)
	}
	d := p.Divergence()
	if d == nil {
		t.Fatal("no divergence")
	}
	if d.Step != 2 || d.Run != "" || d.Agent != "reviewer" || d.Exchange != 1 {
		t.Errorf("divergence %+v", d)
	}
	if !strings.Contains(d.Reason, `recorded "package a", got "package b // another file"`) {
		t.Errorf("reason %q", d.Reason)
	}
	for _, want := range []string{"--- recorded", "+++ request", "-  package a", "+  package b // another file", " tool_result:"} {
		if !strings.Contains(d.Diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, d.Diff)
		}
	}
	exs := p.Exchanges()
	if exs[1].Fault != FaultDiverged || exs[1].Response != nil {
		t.Errorf("exchange 2: %+v", exs[1])
	}
	run := p.Run(trace.RunMeta{})
	if run.Outcome.Stopped != "diverged" || !strings.Contains(run.Outcome.Error, "model call 2") {
		t.Errorf("outcome %+v", run.Outcome)
	}
	// Nothing more is answered after the divergence.
	if _, err := changedChatAgent(serve(t, p)); err == nil {
		t.Error("a request after the divergence was answered")
	}
}

// With AfterDivergence forward, the diverged request goes to the upstream.
func TestProxyRecordedAfterDivergenceForward(t *testing.T) {
	up, upURL := newUpstream(t, jsonAnswer(chatAnswer))
	p := newProxy(t, Config{Mode: ModeRecorded, Recording: testRecording(), AfterDivergence: AfterForward, Upstream: upURL, APIKey: "sk-real"})
	if _, err := changedChatAgent(serve(t, p)); err != nil {
		t.Fatal(err)
	}
	if p.Divergence() == nil || p.Divergence().Step != 2 || up.hits.Load() != 1 {
		t.Errorf("divergence %v, upstream hits %d", p.Divergence(), up.hits.Load())
	}
	exs := p.Exchanges()
	if exs[0].Produced != ProducedRecorded || exs[1].Produced != ProducedModel {
		t.Errorf("produced: %q, %q", exs[0].Produced, exs[1].Produced)
	}
}

// Fork at K: calls before K from the recording, from K on the upstream.
func TestProxyFork(t *testing.T) {
	up, upURL := newUpstream(t, jsonAnswer(chatAnswer))
	p := newProxy(t, Config{Mode: ModeFork, ForkStep: 2, Recording: testRecording(), Upstream: upURL, Model: "gpt-5-mini"})
	turns := chatAgent(t, serve(t, p), false)
	if turns[0].Text != "Let me read it." || turns[1].Text != "REJECT: upstream says so." {
		t.Errorf("turns %+v", turns)
	}
	if up.hits.Load() != 1 || up.bodies[0]["model"] != "gpt-5-mini" {
		t.Errorf("upstream hits %d, body %v", up.hits.Load(), up.bodies)
	}
	if p.Divergence() != nil {
		t.Errorf("divergence %v", p.Divergence())
	}
	run := p.Run(trace.RunMeta{})
	if got := run.Steps[3].LLM; got.Produced != ProducedModel || got.Model != "gpt-5-mini" || got.Cost.Priced == nil {
		t.Errorf("forked call: %+v", got)
	}
	if run.Steps[1].LLM.Produced != ProducedRecorded {
		t.Errorf("call 1 produced %q", run.Steps[1].LLM.Produced)
	}
}

// A recording with more calls than asked, or fewer: the extra request is a
// divergence that says the recording is exhausted.
func TestProxyRecordedExhausted(t *testing.T) {
	rec := testRecording()
	rec.Steps = rec.Steps[:2] // one call only
	p := newProxy(t, Config{Mode: ModeRecorded, Recording: rec})
	_, err := changedChatAgent(serve(t, p))
	if err == nil {
		t.Fatal("answered past the recording")
	}
	if d := p.Divergence(); d == nil || d.Step != 2 || !strings.Contains(d.Reason, "no more model calls") {
		t.Errorf("divergence %+v", d)
	}
}

// Sub-agents calling in between are told apart by content: each recorded
// run keeps its own position.
func TestProxyRecordedSubAgents(t *testing.T) {
	rec := testRecording()
	child := &trace.Run{Meta: trace.RunMeta{Key: "agent-1", Agent: "security", Instr: trace.Instructions{System: "You check security."}},
		Steps: []trace.Step{
			{Kind: trace.KindMessage, Message: &trace.Message{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: "check a.go"}}}},
			{Kind: trace.KindLLM, LLM: &trace.LLMCall{Output: trace.Message{Role: "assistant", Parts: []trace.Part{{Type: trace.PartText, Text: "no issues"}}}}},
		}}
	rec.Children = []*trace.Run{child}
	p := newProxy(t, Config{Mode: ModeRecorded, Recording: rec})
	base := serve(t, p)
	_, body := post(t, base+"/v1/messages", `{"model":"m","max_tokens":5,"system":"You check security.","messages":[{"role":"user","content":"check a.go"}]}`, nil)
	if !strings.Contains(body, "no issues") {
		t.Fatalf("sub-agent answer: %s", body)
	}
	turns := chatAgent(t, base, true)
	if turns[1].Text != "APPROVE: looks fine." {
		t.Errorf("main run: %+v", turns)
	}
	run := p.Run(trace.RunMeta{})
	if len(run.Children) != 1 || run.Children[0].Meta.Key != "agent-1" || run.Children[0].Meta.Instr.System != "You check security." {
		t.Errorf("children: %+v", run.Children)
	}
	if len(run.Steps) != 4 {
		t.Errorf("main run has %d steps", len(run.Steps))
	}
}
