// Package diff compares two runs decision by decision: Runs(a, b, opts)
// aligns their steps, finds the first divergence and where the runs align
// again, and compares the decisions, the tool calls, the files changed, the
// tokens, cost and latency and the final messages. RunsMany sets several
// replays beside their original. The package does no I/O and knows nothing
// of the engine or the CLI: it reads trace.Run values, whatever format they
// were imported from.
//
// # Alignment
//
// Each step has a signature: its kind, its tool name and the shape of its
// arguments (the sorted top-level keys; the cosmetic "description" of Bash
// and Task calls left out, as the engine's call matching does). Steps of
// identical content are locked first (common prefix and suffix, then steps
// unique on both sides, in an order both share); the gaps between them are
// aligned globally by Needleman–Wunsch scores (identical content, then the
// same signature, then the same tool, then the same kind; steps of
// different kinds are never paired), with Hirschberg's linear-space method
// for gaps too large for a table. Sub-agent runs are aligned with each
// other, matched by the aligned parent calls that started them, else by
// agent; they are not flattened into their parent.
//
// # Divergence kinds
//
//	tool_choice    an aligned pair of calls of different tools
//	args_only      the same tool, different arguments
//	order_change   a call made by both runs, at different points
//	inserted       a call only B made
//	deleted        a call only A made
//	result_status  the same call, a different result or error (after
//	               Options.SameResult's normalizations, when given)
//	final_output   the same actions, a different final message
//	decision       the same actions and message, a different decision
//
// # The JSON report (schema "replay.diff/v1")
//
// Every number in it can be traced to the steps it came from: steps are
// numbered from 1 in their run ("a_step", "b_step"), tool counts list their
// steps, cost rows name their pair of model calls.
//
//	schema                       "replay.diff/v1"
//	a, b                         the runs: id, agent, format, source, models,
//	                             status, stopped, stopped_at, steps (count),
//	                             replay (of, mode, variant, sample) for a replay
//	warnings[]                   e.g. the runs are of different traces or agents
//	verdict.line                 the one-line verdict the text report starts with
//	verdict.agree                the decisions agree (replay diff exits 0)
//	verdict.diverged             the actions part somewhere
//	verdict.first_divergence     kind, run ("" main run, else the sub-agent's
//	                             key), a_step, b_step, step (B's, else A's),
//	                             pair (index into steps; -1 for final_output and
//	                             decision), what (short), original, replay
//	                             (each side in a few words); null when none
//	verdict.recovery             a_step, b_step, pair: the first identical
//	                             tool call after the divergence; null when none
//	verdict.prefix               for a replay forked at step K: from_step,
//	                             reproduced, of (K-1); null otherwise
//	verdict.stopped[]            runs that ended early, in words
//	decision.kind                review, patch, json or none
//	decision.agree               as verdict.agree: a review agrees when the
//	                             action is the same and no finding was added,
//	                             removed or changed in severity; JSON when the
//	                             values are equal; a patch when every file's
//	                             hunks are the same
//	decision.label[2]            each side in a word ("none" when missing)
//	decision.a, decision.b       the decisions, verbatim
//	decision.source[2]           where each was found
//	decision.action[2]           review: the actions
//	decision.findings            review: same (count), added[], removed[],
//	                             changed[] (a, b, fields changed, similarity);
//	                             a finding is severity, category, file, line,
//	                             description and index (in its decision)
//	decision.patch.files[]       patch: path, status (same, changed, only_a,
//	                             only_b), hunks_added, hunks_removed, hunks_same
//	decision.changes[]           json: path (".a.b[2]"), op (added, removed,
//	                             changed), a, b
//	steps[]                      the alignment of the main runs: op (equal,
//	                             changed, inserted, deleted), kind (a divergence
//	                             kind, when the pair is one), normalized (equal
//	                             after SameResult), a, b (the steps: n, kind,
//	                             role, tool, arguments, status, output — whole —,
//	                             text, calls, produced, model, usage, cost,
//	                             latency_ms, child, error; null on the side that
//	                             has none), arg_changes[] (args_only)
//	children[]                   sub-agent alignments: agent, a_key, b_key,
//	                             matched_by (parent call, agent, none),
//	                             first_divergence, steps[], children[]
//	tools.tools[]                name, count[2], failed[2], steps[2][] ({run, step})
//	tools.only_a[], only_b[]     calls one run made and the other never made with
//	                             the same arguments: run, step, tool, call
//	tools.arg_changes[]          tool, a_step, b_step, changes[]
//	tools.failed[]               side (a, b), run, step, tool, call, status
//	tools.produced[2]            how each run's results were produced: exec,
//	                             recorded, snapshot, denied, agent → count
//	files.source[2]              patch (the run's reported workspace change),
//	                             calls (rebuilt from Write/Edit calls) or ""
//	files.files[]                path, a, b (status, added, removed lines,
//	                             steps), same, diff (unified, A's new content
//	                             to B's)
//	cost.a, cost.b               llm_calls, tool_calls, tokens (input, output,
//	                             cache_read, cache_write, reasoning),
//	                             recorded_usd (sum of the calls' recorded
//	                             costs), recorded_total_usd (the source's own
//	                             total), priced_usd (sum of priced costs),
//	                             unpriced_calls, llm_latency_ms,
//	                             tool_duration_ms, wall_ms — sub-agents included
//	cost.delta                   B minus A: tokens, recorded_usd, priced_usd,
//	                             llm_latency_ms, wall_ms
//	cost.ratio                   B over A: tokens, priced_usd, llm_latency_ms
//	                             (null where A is zero or unknown)
//	cost.steps[]                 aligned model calls: a_step, b_step, tokens[2],
//	                             priced_usd[2], recorded_usd[2], latency_ms[2]
//	final                        equal, a, b (the final messages), diff (unified)
//
// Recorded and priced cost are never mixed: a missing one is null.
//
// The many-run report (RunsMany) has the same schema name and: original,
// runs[] (a report per replay), decisions[] (decision, count, runs
// (1-based), original), flips, flip_rate, parting (run, divergence: where
// a replay first parts from the first replay) and line.
//
// # Renderers
//
// Text, JSON, Markdown and HTML render the same report with the sections in
// one order: verdict, decision, steps, tools, files, cost (then the final
// message). Trace content is escaped in Markdown (entities and backslashes:
// no tag, link or table cell can form) and HTML (html/template, and a
// Content-Security-Policy that forbids scripts and every request); in text,
// control characters are shown escaped. Tool outputs are cut in text,
// Markdown and HTML (the size is said), and complete in JSON.
package diff
