// Package otel imports OpenTelemetry traces of LLM agents: spans following
// the OTel GenAI semantic conventions (current and older forms) or
// OpenInference's, in OTLP/JSON (format "otlp-json") or as SDK span dumps and
// bare attribute maps (format "otel-spans"). Both formats read every shape;
// they differ in name and detection.
//
// ReadSpans is the generic span reader; FactoryTotals reads what the
// factory's own spans (run → sandbox_create, agent) record about a run.
//
// # Mapping
//
// Inference spans become llm events, tool execution spans tool events,
// invoke_agent spans nested in another agent become sub-agent runs (key =
// span id; the tool span between a sub-agent and its enclosing agent is the
// call that started it). Top-level agent spans fold into the main run, whose
// agent, session and times come from the outermost agent span (else the
// trace's root). Steps are ordered by start time. Spans of operations the
// model has no step for (embeddings, retrieval, …) are counted in one
// warning per operation. Spans that only group others (create_agent,
// invoke_workflow, OpenInference's CHAIN, spans without GenAI attributes)
// give the run its structure and hold no step; they are not warned about.
//
// Nothing is lost in silence: a span member or a typed GenAI attribute of
// the wrong type (a token count that is not a number, a time that is an
// object) is a warning naming the line, the span and the field; a tool
// result in a request whose call no message holds, and a tool call that no
// tool span and no later request answers (kept as a tool event marked
// missing), are warnings too.
//
// The first model call of each run gives the run its system prompt and tool
// definitions, and the messages of its request become the run's first steps
// (user and assistant messages as message events, tool results as tool
// events), so that a replay can start from the steps alone. Later requests
// add message events for user messages not seen before.
//
// Tool calls without a tool span: when a model answer has tool_call parts
// that no tool span answers and the next request carries their results (by
// call id), tool events are synthesized from the messages (ToolCall.Detail
// says so). Tool spans and tool_call parts are paired by call id, then by
// name in order; a span without call id or arguments takes the part's. A
// tool call is counted once whether both, or only one, of span and messages
// record it.
//
// A model-call span that wraps other model-call spans (a framework span
// around the provider instrumentation's) is not imported: the inner spans
// are the responses.
//
// Token counts: GenAI's input_tokens and OpenInference's prompt count
// include cached tokens, which are subtracted, unless the input count is
// smaller than the cached counts (then the producer followed Anthropic's
// convention and the count is kept as the uncached input).
//
// # Several traces in one file
//
// A run is one agent invocation, and unrelated traces do not make one run:
// a file holding several traces imports the trace with the most model and
// tool calls (then the most spans), and a warning names the others.
//
// # Memory
//
// The importers read the input twice: the first pass keeps a small node per
// span (ids, times, class, a few names) and where its bytes are; the second
// reads each span again, in run order, and emits it. A 500 MB OTLP/JSON Lines
// trace imports in about 65 MB of RSS. Input that cannot be read twice (a
// pipe) keeps its spans in memory instead.
package otel
