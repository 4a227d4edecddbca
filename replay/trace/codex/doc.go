// Package codex imports OpenAI Codex CLI rollouts
// (~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl): JSON Lines of
// {timestamp, type, payload} written by codex-rs, and the older format whose
// first line is the session itself and whose other lines are bare response
// items. Format is the trace.Format; Decode imports from an io.Reader.
//
// # Mapping
//
//   - session_meta: Session = id, Refs.Cwd = cwd, Refs.Commit/Branch/Repo =
//     git.commit_hash/branch/repository_url (recorded), Instr.System =
//     base_instructions (text, or a string) or instructions, Generator =
//     "codex <cli_version>", Defaults.Provider = model_provider; originator,
//     source and forked_from_id become Attributes. Sub-agents (source
//     subagent) name the run's Agent.
//   - turn_context: the model of the calls that follow (Params.Model, and
//     Defaults.Model for the first one); reasoning effort, approval and
//     sandbox policies become Attributes.
//   - response_item message from the user (or developer): a message step;
//     AGENTS.md, <environment_context> and similar harness-injected items are
//     Meta. event_msg user_message repeats the user's text and is not counted
//     twice.
//   - The model's response items (reasoning, assistant message,
//     function_call, custom_tool_call, local_shell_call, web_search_call)
//     form one llm step per model response: reasoning becomes a reasoning
//     part (summary text; encrypted content kept in Raw), messages text,
//     calls tool_call parts with their arguments parsed from the JSON string.
//   - function_call_output / custom_tool_call_output: one tool step, paired
//     with its call by call_id. An output that is a JSON string
//     {"output", "metadata":{"exit_code","duration_seconds"}} is unpacked;
//     shell_command's text ("Exit code: N\nWall time: S seconds\n…") gives the
//     exit code and duration too. exec_command_end, patch_apply_end and
//     mcp_tool_call_end refine status and duration.
//   - event_msg token_count: the response's usage is last_token_usage
//     (input_tokens INCLUDES cached_input_tokens, which is subtracted;
//     reasoning_output_tokens is part of output and reported apart).
//     Non-advancing token_counts (same total_token_usage, sent again with
//     rate-limit updates) and those without info are ignored; the last
//     total_token_usage becomes the outcome's recorded totals.
//   - compacted: a Meta message with the summary; turn_aborted ends the turn
//     (calls left without output become interrupted tool steps).
//
// # Which items form one response
//
// Codex versions record a response's token_count at different points.
// Up to about 0.6x the items of a sampling request (and the tool outputs,
// interleaved) are written after the request completes, so the token_count
// comes first ("before" ordering); later versions write items as they
// stream and tool outputs after the request, so the token_count comes after
// the model's items and before the outputs ("after" ordering). The importer
// decides on the first advancing token_count: model items already pending
// mean "after", none mean "before". In both, a user message also ends a
// response. Without any token_count (old rollouts), responses are grouped
// at user messages and tool outputs, and a warning says usage is unknown.
//
// Unknown record types (top level, response_item and event_msg types) are
// counted, one warning per type.
package codex
