// Package feedback reads human feedback about agent runs and attaches it to
// the runs in the store: what a human did about what an agent decided
// (trace.Feedback). It is the label an eval case takes from production.
//
// # Feedback files
//
// A feedback file is JSON Lines, one human act a line (blank lines are
// skipped), each an object of the shape feedback.schema.json publishes
// (Schema returns it):
//
//	{"trace": "acme/widgets#42", "human": "override", "decision": {"action": "request-changes"},
//	 "by": "alice", "at": "2026-11-02T10:00:00Z", "url": "https://github.com/acme/widgets/pull/42#pullrequestreview-9", "note": "missed the nil check"}
//
// trace and human are required; human is override, revert, manual-fix or
// confirm; decision is in the shape of the agent's decision; at is RFC 3339.
// Read checks every line against the schema and reports each bad one as
// FILE:LINE: FIELD: what is wrong (an unknown field, a wrong type, a bad
// human value, a bad time); a file with a bad line gives no entries.
//
// # Which run a line is about
//
// Attach resolves each line's trace to stored runs, trying in order:
//
//  1. a stored id, or a unique prefix of one (4 or more hex characters):
//     that run. A prefix several runs share is "ambiguous prefix"; a run
//     that is a replay is refused (feedback is about what the agent did in
//     production, a replay's original).
//  2. the trace's own id or the agent's session id: the original runs whose
//     session (RunMeta.Session or one of RunMeta.Sessions) or recorded trace
//     id (an attribute such as otel.trace_id or langfuse.trace_id) is that
//     string.
//  3. the URL of the pull request or issue the run worked on
//     (https://github.com/o/r/pull/N, https://github.com/o/r/issues/N, with
//     or without the scheme, a trailing fragment or path such as /files, or
//     o/r#N; case-insensitive): the original runs whose PR, issue or work
//     item ref names it (a bare PR or issue number with the run's repo).
//     A pull request and an issue share GitHub's numbers, so o/r#N matches
//     either.
//
// By session, trace id or URL, every original run that matches and did not
// start after the act (when both times are known) gets the act: several
// runs of one agent on one PR are all labelled. Runs replay produced
// (RunMeta.Replay set) are never targets. A line that matches nothing is
// reported as "no stored run matches", and attaches nothing.
//
// An act is stored once per run however often it is attached (see
// store.FeedbackKey): attaching a file again adds nothing.
package feedback
