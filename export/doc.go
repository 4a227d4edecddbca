// Package export sends runs where operators already look: an OpenTelemetry
// collector (OTLP, the GenAI semantic conventions) or Langfuse (its
// ingestion API), a replay linked to the run it replays.
//
// It is the report end of the pipeline: it reads canonical runs
// (replay/trace) and knows nothing of how they were made.
//
// # OTLP
//
// Spans turns a run into spans with the OpenTelemetry SDK:
//
//	invoke_agent {agent}          the run (gen_ai.agent.name, gen_ai.conversation.id,
//	│                             replay.run.id, replay.ref.*, replay.outcome.*, and for a
//	│                             replay a link to the original and replay.original.*,
//	│                             replay.mode, replay.variant.*)
//	├── chat {model}              a model call (gen_ai.request.*, gen_ai.response.*,
//	│                             gen_ai.usage.*; cost in gen_ai.usage.cost and, kept
//	│                             apart, replay.cost.recorded_usd / replay.cost.priced_usd)
//	├── execute_tool {name}       a tool call (gen_ai.tool.name, gen_ai.tool.call.id,
//	│   │                         replay.tool.status, replay.produced)
//	│   └── invoke_agent {agent}  the sub-agent the call started, and its steps
//	└── …
//
// With Options.Content the spans also carry the system instructions, the
// tool definitions, each call's input and output messages
// (gen_ai.input.messages, gen_ai.output.messages: the whole chat history, as
// the conventions ask, while it is under 64 KiB; past that only the messages
// since the model's last answer, marked replay.input.mode "delta", so that a
// long run's export grows with its length and not its square) and tool
// arguments and results. Without it they carry no text a user or a model
// wrote.
//
// OTLP sends the spans with the SDK's OTLP/HTTP exporter (NewOTLPHTTP), or
// writes what that exporter would send with the JSON encoding to a file,
// one TracesData per line, a line per run unless it passes 32 MiB
// (NewOTLPFile). replay's OTLP importer reads such a
// file back into an equivalent run: the replay.* attributes carry what the
// conventions have no names for (see replay/trace/otel).
//
// # Langfuse
//
// LangfuseEvents makes the ingestion events of a run: a trace tagged
// "replay", agent, generation and tool observations nested as the spans
// are, usage as Langfuse's disjoint counts, cost in costDetails. Langfuse
// sends them with the langfuse package's client.
//
// # Identifiers
//
// Trace, span, observation and event ids are derived from the run's store id
// and the position of each step: exporting a run again sends the same ids,
// which backends deduplicate. The OTLP trace id and the Langfuse trace id of
// a run are the same 32 hex digits.
package export
