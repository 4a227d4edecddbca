package main

// mutation is one deliberate bug: in file, old becomes new; the tests of
// pkgs (-run run) must fail.
type mutation struct {
	name     string // the promise it breaks
	file     string
	old, new string
	pkgs     []string
	run      string
	// more are further replacements in the same file (an import the bug
	// needs), each also required to occur once.
	more [][2]string
}

var mutations = []mutation{
	// Secrets.
	{name: "the host environment reaches the container", file: "sandbox/start.go",
		old: "\t}, opts.Env...)", new: "\t}, append(opts.Env, os.Environ()...)...)", more: [][2]string{{"\t\"path\"\n", "\t\"os\"\n\t\"path\"\n"}},
		pkgs: []string{"./sandbox/", "./internal/cli/"}, run: "TestContainerSpecHardening|TestAPIKeyNeverEntersTheSandbox"},

	// Containment.
	{name: "the workspace check compares by string prefix", file: "sandbox/executor/paths.go",
		old: "return strings.HasPrefix(p, root+string(filepath.Separator))", new: "return strings.HasPrefix(p, root)",
		pkgs: []string{"./sandbox/executor/"}},
	{name: "the sandbox gets a network", file: "sandbox/start.go",
		old: `network := container.NetworkMode("none")`, new: `network := container.NetworkMode("bridge")`,
		pkgs: []string{"./sandbox/"}, run: "TestContainerSpecHardening|TestNetworkIsUnreachable"},
	{name: "capabilities are kept", file: "sandbox/start.go",
		old: `CapDrop:        strslice.StrSlice{"ALL"},`, new: `CapDrop:        strslice.StrSlice{},`,
		pkgs: []string{"./sandbox/"}, run: "TestContainerSpecHardening"},
	{name: "a recorded system directory is mounted over", file: "sandbox/docker.go",
		old: "func collides(dir string) bool {", new: "func collides(dir string) bool {\n\treturn false",
		pkgs: []string{"./sandbox/"}, run: "TestWorkDirRemap|TestRecordedSystemDirectories"},
	{name: "the workspace has no disk limit", file: "sandbox/executor/bash.go",
		old: "if over, _ := s.overDisk(); over {", new: "if over := false; over {",
		pkgs: []string{"./sandbox/"}, run: "TestWorkspaceDiskLimit"},

	// Integrity of the channel.
	{name: "the executor stays dumpable (commands reach its fds)", file: "sandbox/executor/init_linux.go",
		old: "syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0)", new: "syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 1, 0)",
		pkgs: []string{"./sandbox/"}, run: "TestForgedResultIsNotRecorded"},
	{name: "docker-init runs beside the executor", file: "sandbox/start.go",
		old: "init := false", new: "init := true",
		pkgs: []string{"./sandbox/"}, run: "TestForgedResultIsNotRecorded|TestContainerSpecHardening|TestExecutorSurvivesItsCalls"},
	{name: "processes of a call survive it", file: "sandbox/executor/tools.go",
		old: "\t\t\ts.pid1.sweep()", new: "\t\t\t_ = s.pid1",
		pkgs: []string{"./sandbox/"}, run: "TestNoProcessSurvivesItsCall"},
	{name: "an answer to no request is taken", file: "sandbox/conn.go",
		old: "\t\t\tc.fail(&ProtocolError{Detail: fmt.Sprintf(what, resp.ID)})", new: "\t\t\t_ = what\n\t\t\tcontinue",
		pkgs: []string{"./sandbox/"}, run: "TestConn"},
	{name: "a stalled frame is waited for", file: "sandbox/conn.go",
		old: "t := time.AfterFunc(c.frameTime, func() {", new: "t := time.AfterFunc(24*time.Hour, func() {",
		pkgs: []string{"./sandbox/"}, run: "TestConn"},
	{name: "the call that broke the sandbox is not recorded", file: "replay/engine.go",
		old: "if _, eerr := e.record(a, t, rep, start); eerr != nil {", new: "if eerr := error(nil); eerr != nil {",
		pkgs: []string{"./replay/"}, run: "TestContainerDiesMidRun"},
	{name: "prune removes other replays' live sandboxes", file: "sandbox/prune.go",
		old: "if l := liveness(o, ok, self); l != OwnerGone {", new: "if l := liveness(o, ok, self); false && l != OwnerGone {",
		pkgs: []string{"./sandbox/"}, run: "TestPrune"},

	// Side effects: outside-reaching calls never run for real.
	{name: "a pipeline's later commands are not judged", file: "replay/policy.go",
		old:  "case c == ';' || c == '\\n' || c == '|' || c == '&' || c == '(' || c == ')' || c == '`':",
		new:  "case c == ';' || c == '\\n' || c == '&' || c == '(' || c == ')' || c == '`':",
		pkgs: []string{"./replay/"}, run: "Polic|Outside"},
	{name: "Codex argv shell calls are not judged", file: "replay/policy.go",
		old: "\t\treturn strings.Join(parts, \" \")", new: "\t\treturn \"\"",
		pkgs: []string{"./replay/"}, run: "Polic|Outside"},
	{name: "gh is not an outside command", file: "replay/policy.go",
		old: `var outsideCommands = []string{"gh", "curl",`, new: `var outsideCommands = []string{"curl",`,
		pkgs: []string{"./replay/"}, run: "Polic|Outside"},
	{name: "wrappers hide the command (sudo -E git push)", file: "replay/policy.go",
		old: "\t\tcase slices.Contains(wrappers, base):\n\t\t\twords = words[1:]\n", new: "\t\tcase slices.Contains(wrappers, base):\n\t\t\twords = words[1:]\n\t\t\treturn words\n",
		pkgs: []string{"./replay/"}, run: "Polic|Outside"},

	// Fidelity.
	{name: "Grep content results are compared without order", file: "replay/fidelity.go",
		old: "\t\treturn strings.HasPrefix(s, \"Found \") // files_with_matches", new: "\t\treturn true",
		pkgs: []string{"./replay/"}, run: "TestCompareResults"},
	{name: "the agentId trailer is not normalized", file: "replay/fidelity.go",
		old: "\t\tapply(NormAgentTrailer, stripAgentTrailer)", new: "",
		pkgs: []string{"./replay/"}, run: "TestCompareResults"},

	// The diff.
	{name: "Markdown lets a tag from the trace through", file: "diff/markdown.go",
		old: "b.WriteString(\"&lt;\")", new: "b.WriteString(\"<\")",
		pkgs: []string{"./diff/"}, run: "TestMarkdownEscapesTraceContent"},
	{name: "a moved call is reported as deleted", file: "diff/steps.go",
		old: "if onlyB[sp.A.callKey] > 0 {", new: "if false {",
		pkgs: []string{"./diff/"}, run: "TestDivergenceKinds"},

	// Cost and the CLI contract.
	{name: "the response cache is switched off", file: "internal/cli/run.go",
		old: "NoCache: opts.NoCache}", new: "NoCache: true}",
		pkgs: []string{"./internal/cli/"}, run: "TestRunCounterfactual"},
	{name: "an incomplete run exits 2, not 3", file: "internal/cli/cli.go",
		old: "\t\treturn ExitIncomplete", new: "\t\treturn ExitUsage",
		pkgs: []string{"./internal/cli/"}, run: "TestExitCodes|TestRunIncompleteExits3"},
}
