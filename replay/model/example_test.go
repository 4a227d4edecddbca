package model_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/trace"
)

// A client for any OpenAI-compatible endpoint, with a response cache: the
// second identical call is answered from disk and costs nothing.
func ExampleClient() {
	// A local endpoint standing in for OpenAI, vLLM, Ollama…
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18",
			"choices":[{"index":0,"message":{"role":"assistant","content":"LGTM"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":1200,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":1024}}}`)
	}))
	defer srv.Close()

	dir, _ := os.MkdirTemp("", "model-cache")
	defer os.RemoveAll(dir)
	cache, err := model.OpenCache(dir)
	if err != nil {
		panic(err)
	}
	// The CLI fills BaseURL and APIKey from flags, OPENAI_BASE_URL and
	// OPENAI_API_KEY.
	client, err := model.New(model.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-…", Cache: cache})
	if err != nil {
		panic(err)
	}
	req := model.Request{
		System:   "You review pull requests.",
		Messages: []trace.Message{{Role: "user", Parts: []trace.Part{{Type: trace.PartText, Text: "Review #42."}}}},
		Params:   trace.Params{Model: "gpt-4o-mini", Temperature: trace.Float(0)},
	}
	for range 2 {
		call, err := client.Complete(context.Background(), req)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %q, input %d, cache_read %d, output %d\n", call.Produced, call.Output.Parts[0].Text,
			call.Usage.Input, call.Usage.CacheRead, call.Usage.Output)
	}
	// Output:
	// model: "LGTM", input 176, cache_read 1024, output 3
	// cache: "LGTM", input 176, cache_read 1024, output 3
}

// The recorded model answers from the original run; feeding back a tool
// result that differs from the recorded one is reported.
func ExampleRecorded() {
	run := &trace.Run{Steps: []trace.Step{
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Output: trace.Message{Role: "assistant", Parts: []trace.Part{
			{Type: trace.PartToolCall, ID: "call_1", Name: "Bash", Arguments: []byte(`{"command":"go test ./..."}`)}}}}},
		{Kind: trace.KindTool, Tool: &trace.ToolCall{CallID: "call_1", Name: "Bash", Status: trace.ToolOK, Output: "ok  \texample.com/pkg\t0.01s"}},
		{Kind: trace.KindLLM, LLM: &trace.LLMCall{Output: trace.Message{Role: "assistant", Parts: []trace.Part{
			{Type: trace.PartText, Text: "Tests pass."}}}}},
	}}
	rec := model.NewRecorded(run)
	ctx := context.Background()
	first, _ := rec.Complete(ctx, model.Request{})
	// The sandbox ran the call again and got another result.
	conv := []trace.Message{first.Output, {Role: "tool", Parts: []trace.Part{
		{Type: trace.PartToolResult, ID: "call_1", Text: "FAIL\texample.com/pkg", IsError: true}}}}
	second, _ := rec.Complete(ctx, model.Request{Messages: conv})
	fmt.Println(second.Produced, second.Output.Parts[0].Text)
	for _, d := range rec.Divergences() {
		fmt.Println(d)
	}
	// Output:
	// recorded Tests pass.
	// main run, model call 2: Bash call call_1 was fed a different result than recorded
}
