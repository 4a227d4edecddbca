// Package proxy is replay's model proxy: an http.Handler that speaks the
// wire formats agents use to call models, so that an agent's own program
// can run unchanged while replay serves the model's side.
//
// # Wire formats
//
//	POST /v1/chat/completions   OpenAI Chat Completions (also /chat/completions)
//	POST /v1/responses          OpenAI Responses (also /responses)
//	POST /v1/messages           Anthropic Messages (also /messages)
//
// Each takes "stream": true and then answers with Server-Sent Events shaped
// like the real API's, so the official SDKs parse them: chat `data: {chunk}`
// lines ended by `data: [DONE]`; Responses `response.created`,
// `response.output_item.added`, `response.output_text.delta`,
// `response.function_call_arguments.delta`, `response.output_item.done`,
// `response.completed`; Anthropic `message_start`, `content_block_start`,
// `content_block_delta` (text_delta, input_json_delta, thinking_delta),
// `content_block_stop`, `message_delta`, `message_stop`.
//
// An unknown path is answered 404 and a body that is not a request of its
// format 400, each with a JSON error naming what is wrong; both are kept as
// faulted exchanges.
//
// # Modes
//
//   - ModeRecorded answers each request from Config.Recording. Request k of
//     an agent is matched against the k-th model call of each run of the
//     recording (the main run and every sub-agent run, each with its own
//     position, so sub-agents calling in parallel are told apart by their
//     content). The comparison is of the requests normalized: system
//     prompt, tool names, and the messages (role, text, tool calls by name
//     and arguments, tool results by text and error flag) — ids, timestamps,
//     cache_control markers, stream options and the wire format itself are
//     left out, so a recording of a Claude Code transcript can answer an
//     agent speaking OpenAI. When the recording lacks the system prompt or
//     the tools (transcripts have none), those are not compared. The first
//     request that matches no recorded call is the agent's first
//     divergence (Divergence): the request is answered 409 with an error in
//     its wire format, and so is every request after it — never a made-up
//     answer. With AfterDivergence "forward" the diverged request and all
//     later ones go to the upstream instead.
//   - ModeForward sends every request to the upstream with the
//     counterfactual applied (see Config): the model rewritten, the system
//     prompt replaced, a sub-agent's prompt replaced, parameters
//     overridden, context added. The agent's own credentials are dropped;
//     Config.APIKey (Authorization: Bearer, OpenAI formats) or
//     Config.AnthropicKey (x-api-key) is added on the host side. Transient
//     failures (408, 409, 429, 5xx, connection errors, an upstream silent
//     past the first-byte or idle limit before the response started) are
//     retried with the backoff of replay/model; a malformed 200 is not.
//     Streams are passed through event by event as they arrive.
//   - ModeFork answers model calls 1..ForkStep-1 of the main run from the
//     recording, like ModeRecorded, and forwards from call ForkStep on
//     (ForkStep counts the main run's model calls, 1-based).
//
// # Sub-agent prompts
//
// Config.Prompts maps a sub-agent name to the prompt that replaces its
// system prompt. A request belongs to sub-agent NAME when its system prompt
// equals (whitespace trimmed) the recorded system prompt of a run of the
// recording whose agent name (RunMeta.Agent) or key is NAME; or, without a
// recording of it, when its system prompt starts with "NAME" followed by a
// line break, ':' or '.', or contains "name: NAME" (agent front matter).
// Config.System replaces the system prompt of every other request.
//
// # Results
//
// Exchanges returns every request and its answer (for a stream, the
// assembled message). Run builds a canonical run from them: one llm step
// per answered request with its full input, output, usage (four disjoint
// counts), priced cost and latency; one tool step per tool call of an
// answer, its result learned from the next request's messages (OpenAI
// `tool` messages, Responses `function_call_output` items, Anthropic
// `tool_result` blocks, by call id); the first system prompt and the tool
// definitions in the run's instructions; the last answer's text as the
// final message. Such a run diffs against any other with `replay diff`.
//
// # Use
//
//	p, err := proxy.New(proxy.Config{Mode: proxy.ModeForward, Upstream: "https://api.openai.com/v1", APIKey: key})
//	srv := &http.Server{Handler: p}
//	go srv.Serve(listener)  // the agent's OPENAI_BASE_URL is http://<listener>/v1
//	…                       // the agent runs
//	run := p.Run(trace.RunMeta{Agent: "reviewer"})
//	if d := p.Divergence(); d != nil { … d.Step, d.Reason, d.Diff }
//
// A Proxy is safe for concurrent use; requests of one agent are answered in
// the order they arrive.
package proxy
