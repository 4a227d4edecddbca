// Package scenarios turns traces into regression suites and runs them:
// cases (a trace, its pinned world, the human feedback its label came from,
// the variants to run and what every run must do), the plan of cells (case
// × variant × repeat, sharded by a hash of the case id), the append-only
// results file that makes an interrupted suite resumable, verdicts over
// repeats, and the reports (text, JSON replay.eval/v1, JUnit, Markdown).
//
// A suite is a directory: suite.yaml (its name, default repeat, gate and
// variants), cases/*.yaml (one case each), and what export pinned beside
// them (traces/, worlds/). case.schema.json (Schema) documents every field
// and is the check Load runs; errors name file:line: field.
//
// Verdicts. A cell (one run of a case with a variant) is pass, fail (an
// expectation not met), error (the run could not be made or checked: the
// world, the sandbox, the model endpoint; never counted as a pass) or
// skipped (a budget stopped the suite before it). Over its repeats a case
// is pass when its pass rate reaches the gate (default 1: every repeat),
// flaky when some repeats pass but fewer than the gate asks, fail when none
// passes, error when a repeat errored, skipped when none ran; a critical
// case needs every repeat; a quarantined one is reported with what it did
// and never gates.
//
// The package sits above replay and diff: it builds replay.Requests and
// reads the new runs back, through the Replayer and RunLoader interfaces
// the CLI fills with a replay.Session and the store.
package scenarios
