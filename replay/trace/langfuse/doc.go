// Package langfuse imports Langfuse traces: the UI's "download trace" JSON
// ({"trace":…, "observations":[…]}), the API's trace object with its
// observations inside (GET /api/public/traces/{id}), and what Client.Fetch
// writes. Format is the trace.Format; Decode imports from an io.ReaderAt.
//
// # Reading in bounded memory
//
// A trace is one JSON document whose observations must be ordered by start
// time. The importer reads it twice: pass 1 tokenizes the document and keeps
// a small index entry per observation (id, parent, type, times, byte range);
// pass 2 reads each observation alone from its byte range, in start-time
// order (stable), and emits its step. Memory is bounded by the largest
// single observation.
//
// # Mapping
//
//   - trace: Agent = name, Session = sessionId, StartedAt = timestamp,
//     EndedAt = the last observation's end; Attributes langfuse.trace_id,
//     langfuse.release, langfuse.version, langfuse.tags, langfuse.user_id,
//     langfuse.environment. The trace's input, when it is text or messages,
//     is the first step (a user message; a "system" beside it also sets
//     Instr.System).
//   - GENERATION, EMBEDDING: one llm step. Input holds the whole request
//     (InputMode "full"), parsed from the shape the producing framework used
//     (see messages.go; unknown shapes are kept as Raw parts); Output is the
//     response as one assistant message; Params from modelParameters; Usage
//     from usageDetails normalized to disjoint counts (see usage.go);
//     Cost.Recorded = costDetails.total, else calculatedTotalCost; LatencyMS =
//     endTime − startTime; level ERROR sets Error. A generation that has
//     generations below it is a framework wrapper around the provider call:
//     only the inner calls are counted (a warning says so), and a lone inner
//     call takes from its wrapper what it lacks (output, input, usage).
//     Generations with no input, output, usage or cost (BeeAI's start/finish
//     markers) are skipped with a warning.
//   - TOOL, and spans that are tool calls (OTel gen_ai.tool.* or tool.name
//     attributes, or a LangChain ToolMessage as output): one tool step; the
//     call id comes from metadata (gen_ai.tool.call.id, ai.toolCall.id), the
//     ToolMessage, or else the model's matching tool call (by name, then
//     arguments).
//   - AGENT inside another agent's run: a child run (key = the observation
//     id, ParentCall = the TOOL observation that started it, if any). An
//     agent that only wraps one other agent (OpenAI Agents' workflow, Koog's
//     agent → run) is merged with it instead.
//   - EVENT: a message step when its input or output is a message with a
//     role; otherwise, like SPAN, CHAIN, RETRIEVER, EVALUATOR and GUARDRAIL,
//     structure only.
//   - Outcome: Final = the trace's output when it is text (or a message),
//     else the last text the model wrote; status error when a root
//     observation or the last generation has level ERROR; Recorded = the
//     trace's totalCost and latency when present.
//
// Unknown observation types are counted, one warning per type.
//
// # Fetching
//
// Client.Fetch gets a trace by id and writes it in the export shape, so a
// fetched trace imports exactly like a file. It prefers the v2 observations
// endpoint (GET /api/public/v2/observations?traceId=…, cursor pagination,
// all field groups), the supported path now that GET /api/public/traces/{id}
// is deprecated (removal announced for 2026-11-16). When v2 is absent (404:
// self-hosted Langfuse before v4) or returns nothing for the id (older SDKs'
// data reaches v2 with a delay), it falls back to the legacy endpoint; 404 or
// 410 there means the trace is not found. The trace object is rebuilt from
// the observations (name, session, user, tags and release from the root
// observation and the trace_context field group; input and output from the
// root observation).
package langfuse
