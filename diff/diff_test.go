package diff

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

// An inserted step does not cascade: everything after it still aligns, the
// divergence is the insertion and the runs align again right after.
func TestInsertedStepDoesNotCascade(t *testing.T) {
	a, b := handA(), handInserted()
	r := Runs(a, b, Options{})
	d := r.Verdict.First
	if d == nil || d.Kind != Inserted || d.B != 5 || !strings.Contains(d.What, "Glob") {
		t.Fatalf("first divergence %+v, want the inserted Glob at step 5", d)
	}
	if rec := r.Verdict.Recovery; rec == nil || rec.A != 5 || rec.B != 7 {
		t.Errorf("recovery %+v, want A 5 / B 7 (the Grep)", rec)
	}
	changed := 0
	for _, p := range r.Steps {
		if p.Op != OpEqual {
			changed++
		}
	}
	if changed != 2 { // the inserted model call and Glob
		t.Errorf("%d pairs not equal, want 2: %+v", changed, r.Steps)
	}
	if r.Verdict.Agree || r.Decision.Label != [2]string{"request-changes", "approve"} {
		t.Errorf("decision %+v", r.Decision.Label)
	}
	if !strings.HasPrefix(r.Verdict.Line, "diverged at step 5 (inserted: only B calls Glob); decision request-changes → approve") {
		t.Errorf("verdict %q", r.Verdict.Line)
	}
}

func TestDivergenceKinds(t *testing.T) {
	base := func(steps ...trace.Step) *trace.Run {
		return run("aaaa", append([]trace.Step{msg("user", "go")}, steps...)...)
	}
	a := base(llm("", "Read"), tool("Read", `{"file_path":"a"}`, "A"), llm("", "Grep"), tool("Grep", `{"pattern":"x"}`, "hit"), llm("done"))
	tests := []struct {
		name string
		b    *trace.Run
		kind string
		step int
	}{
		{"same", base(llm("", "Read"), tool("Read", `{ "file_path": "a" }`, "A"), llm("", "Grep"), tool("Grep", `{"pattern":"x"}`, "hit"), llm("done")), "", 0},
		{"tool choice", base(llm("", "Read"), tool("Read", `{"file_path":"a"}`, "A"), llm("", "Task"), tool("Task", `{"prompt":"x"}`, "hit"), llm("done")), ToolChoice, 5},
		{"args only", base(llm("", "Read"), tool("Read", `{"file_path":"a"}`, "A"), llm("", "Grep"), tool("Grep", `{"pattern":"y"}`, "hit"), llm("done")), ArgsOnly, 5},
		{"result status", base(llm("", "Read"), tool("Read", `{"file_path":"a"}`, "A"), llm("", "Grep"), failed("Grep", `{"pattern":"x"}`, "boom"), llm("done")), ResultStatus, 5},
		{"deleted", base(llm("", "Read"), tool("Read", `{"file_path":"a"}`, "A"), llm("done")), Deleted, 0},
		{"order change", base(llm("", "Grep"), tool("Grep", `{"pattern":"x"}`, "hit"), llm("", "Read"), tool("Read", `{"file_path":"a"}`, "A"), llm("done")), OrderChange, 0},
		{"final output", base(llm("", "Read"), tool("Read", `{"file_path":"a"}`, "A"), llm("", "Grep"), tool("Grep", `{"pattern":"x"}`, "hit"), llm("finished")), FinalOutput, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Runs(a, tt.b, Options{})
			d := r.Verdict.First
			if tt.kind == "" {
				if d != nil || !r.Verdict.Agree || r.Verdict.Diverged {
					t.Fatalf("the same run diverges: %+v", d)
				}
				return
			}
			if d == nil || d.Kind != tt.kind {
				t.Fatalf("got %+v, want %s", d, tt.kind)
			}
			if tt.step > 0 && d.B != tt.step {
				t.Errorf("at B step %d, want %d", d.B, tt.step)
			}
		})
	}
}

// A replay forked at step K: the prefix is counted, the diff starts at K.
func TestForkPrefix(t *testing.T) {
	a := handA()
	b := replayOf(a, "ffff", a.Steps...)
	b.Meta.Replay.Variant["from-step"] = "5"
	b.Steps = append([]trace.Step{}, a.Steps...)
	b.Steps[4] = tool("Grep", `{"pattern":"FIXME"}`, "") // the model took over at 5 and searched for something else
	r := Runs(a, b, Options{})
	if p := r.Verdict.Prefix; p == nil || p.Reproduced != 4 || p.Of != 4 {
		t.Fatalf("prefix %+v, want 4/4", p)
	}
	if d := r.Verdict.First; d == nil || d.Kind != ArgsOnly || d.B != 5 {
		t.Errorf("first divergence %+v, want args_only at step 5", d)
	}
	if !strings.HasPrefix(r.Verdict.Line, "prefix reproduced: 4/4 steps; ") {
		t.Errorf("verdict %q", r.Verdict.Line)
	}
}

func TestFindings(t *testing.T) {
	f := func(sev, cat, file string, line int, desc string) string {
		b, _ := json.Marshal(map[string]any{"severity": sev, "category": cat, "file": file, "line": line, "description": desc})
		return string(b)
	}
	a := run("a1")
	a.Outcome.Decision = reviewDecision("request-changes",
		f("high", "correctness", "x.go", 10, "off by one in the loop bound"),
		f("low", "style", "y.go", 3, "name is unclear"),
		f("medium", "security", "z.go", 7, "shell command built from input"))
	b := run("b1")
	b.Outcome.Decision = reviewDecision("request-changes",
		f("critical", "correctness", "x.go", 11, "off by one in the loop bound"), // same place, severity up
		f("medium", "security", "z.go", 7, "shell command built from input"),     // the same
		f("info", "docs", "README.md", 1, "document the flag"))                   // new
	r := Runs(a, b, Options{})
	fd := r.Decision.Findings
	if fd.Same != 1 || len(fd.Added) != 1 || len(fd.Removed) != 1 || len(fd.Changed) != 1 {
		t.Fatalf("findings %s", findingsSummary(fd))
	}
	if c := fd.Changed[0]; c.A.Severity != "high" || c.B.Severity != "critical" || !strings.Contains(strings.Join(c.Fields, ","), "severity") {
		t.Errorf("changed %+v", c)
	}
	if fd.Added[0].File != "README.md" || fd.Removed[0].File != "y.go" {
		t.Errorf("added %+v removed %+v", fd.Added, fd.Removed)
	}
	if r.Verdict.Agree {
		t.Error("a severity change and a new finding: the decisions agree")
	}
}

func TestNoDecisionAndStoppedRun(t *testing.T) {
	a, b := run("a"), run("b")
	b.Outcome = &trace.Outcome{Status: trace.StatusInterrupted, Stopped: "max-steps", StoppedAt: 3}
	r := Runs(a, b, Options{})
	if r.Decision.Label != [2]string{"none", "none"} || !strings.Contains(r.Verdict.Line, "B stopped early: max-steps at step 3") {
		t.Errorf("verdict %q", r.Verdict.Line)
	}
	if len(r.Warnings) == 0 {
		t.Error("two unrelated runs compared without a warning")
	}
}

func TestPatchDecisionAndFiles(t *testing.T) {
	r := Runs(handPatchA(), handPatchB(), Options{})
	if r.Decision.Kind != DecisionPatch || r.Decision.Agree {
		t.Fatalf("decision %+v", r.Decision)
	}
	var got []string
	for _, f := range r.Decision.Patch.Files {
		got = append(got, f.Path+":"+f.Status)
	}
	if strings.Join(got, " ") != "src/a.go:changed src/b.go:only_b" {
		t.Errorf("patch files %v", got)
	}
	if len(r.Files.Files) != 2 || r.Files.Files[0].Diff == "" || !strings.Contains(r.Files.Files[0].Diff, "+// fixed differently") {
		t.Errorf("files %+v", r.Files.Files)
	}
	if len(r.Tools.Failed) != 1 || r.Tools.Failed[0].Side != "b" {
		t.Errorf("failed calls %+v", r.Tools.Failed)
	}
}

// Hostile trace content renders inert in Markdown and HTML.
func hostile() (*trace.Run, *trace.Run) {
	evil := []string{
		`<script>window.__pwned=1</script>`,
		`<img src=x onerror="window.__pwned=1">`,
		`[click me](javascript:window.__pwned=1)`,
		`<a href="javascript:alert(1)">raw html</a><iframe src="https://example.com"></iframe>`,
	}
	all := strings.Join(evil, "\n")
	a := run("aaaa", msg("user", all), llm(all, "Bash"), tool("Bash", `{"command":"echo `+strings.ReplaceAll(evil[0], `"`, `\"`)+`"}`, all), llm(all))
	a.Outcome.Final = all
	a.Outcome.Decision = reviewDecision("request-changes", `{"severity":"high","file":"<script>x</script>.go","line":1,"description":"`+strings.ReplaceAll(evil[1], `"`, `\"`)+` [x](javascript:alert(1))"}`)
	b := run("bbbb", msg("user", all), llm(all, "Bash"), failed("Bash", `{"command":"`+strings.ReplaceAll(evil[1], `"`, `\"`)+`"}`, all+"\n```\n<script>alert(2)</script>"), llm("x"+all))
	b.Outcome.Final = "changed " + all
	b.Outcome.Decision = reviewDecision("approve", `{"severity":"low","file":"<img src=x onerror=alert(1)>","description":"<script>alert(3)</script>"}`)
	return a, b
}

func TestMarkdownEscapesTraceContent(t *testing.T) {
	a, b := hostile()
	var out bytes.Buffer
	if err := WriteMarkdown(&out, Runs(a, b, Options{}), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	md := out.String()
	// Outside code blocks nothing may form a tag, an attribute or a link.
	prose := stripFences(md)
	for _, bad := range []string{"<script", "<img", "<iframe", "<a ", "onerror=\"", "](javascript:", "](javascript\\:"} {
		if strings.Contains(prose, bad) {
			t.Errorf("Markdown prose holds %q:\n%s", bad, prose)
		}
	}
	// Our own tags are the only ones.
	for _, line := range strings.Split(prose, "\n") {
		l := strings.ReplaceAll(strings.ReplaceAll(line, "<details>", ""), "</details>", "")
		l = strings.ReplaceAll(strings.ReplaceAll(l, "<summary>", ""), "</summary>", "")
		if strings.Contains(l, "<") {
			t.Errorf("raw HTML outside our tags: %q", line)
		}
	}
}

// stripFences drops fenced code blocks (whatever their fence length).
func stripFences(md string) string {
	var out []string
	fence := ""
	for _, l := range strings.Split(md, "\n") {
		switch {
		case fence == "" && strings.HasPrefix(l, "```"):
			fence = l[:len(l)-len(strings.TrimLeft(l, "`"))]
		case fence != "" && strings.TrimSpace(l) == fence:
			fence = ""
		case fence == "":
			out = append(out, l)
		}
	}
	if fence != "" {
		out = append(out, "UNCLOSED FENCE")
	}
	return strings.Join(out, "\n")
}

func TestHTMLEscapesTraceContent(t *testing.T) {
	a, b := hostile()
	var out bytes.Buffer
	if err := WriteHTML(&out, Runs(a, b, Options{}), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	h := out.String()
	for _, bad := range []string{"<script", "<img", "<iframe", "<a ", `href="javascript`} {
		if strings.Contains(h, bad) {
			t.Errorf("the HTML holds %q", bad)
		}
	}
	if m := regexp.MustCompile(`<[^>]*(onerror|src=|href=)[^>]*>`).FindString(h); m != "" {
		t.Errorf("a tag with an attribute from the trace: %q", m)
	}
	if !strings.Contains(h, "script-src &#39;none&#39;") || !strings.Contains(h, "default-src &#39;none&#39;") {
		t.Error("no Content-Security-Policy forbidding scripts and requests")
	}
}

// Huge tool outputs are cut in text, Markdown and HTML, with the size
// said, and complete in JSON.
func TestHugeOutputCut(t *testing.T) {
	huge := strings.Repeat("0123456789abcdef\n", 1<<16) // 1 MiB
	a := run("a", llm("", "Bash"), tool("Bash", `{"command":"cat big"}`, huge))
	b := run("b", llm("", "Bash"), tool("Bash", `{"command":"cat big"}`, strings.ToUpper(huge)))
	r := Runs(a, b, Options{})
	for _, f := range []string{FormatText, FormatMarkdown, FormatHTML} {
		var out bytes.Buffer
		if err := Render(&out, f, r, RenderOptions{}); err != nil {
			t.Fatal(err)
		}
		if out.Len() > 200_000 || !strings.Contains(out.String(), "bytes in all") {
			t.Errorf("%s: %d bytes, cut note present: %v", f, out.Len(), strings.Contains(out.String(), "bytes in all"))
		}
	}
	var out bytes.Buffer
	if err := WriteJSON(&out, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Schema != Schema || back.Steps[1].B.Output != strings.ToUpper(huge) {
		t.Error("the JSON report does not hold the output whole")
	}
}

// Markdown stays under GitHub's comment limit by dropping detail, and says
// so.
func TestMarkdownLimit(t *testing.T) {
	a, b := bigPair(10_000, 3)
	var out bytes.Buffer
	if err := WriteMarkdown(&out, Runs(a, b, Options{}), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if out.Len() > GitHubCommentLimit {
		t.Errorf("%d bytes, over GitHub's limit", out.Len())
	}
	if !strings.Contains(out.String(), "Detail was dropped to stay under GitHub") {
		t.Error("detail dropped without saying so")
	}
}

func TestText(t *testing.T) {
	var plain, color bytes.Buffer
	r := Runs(handA(), handInserted(), Options{})
	WriteText(&plain, r, RenderOptions{})
	WriteText(&color, r, RenderOptions{Color: true})
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(color.String(), "\x1b[") {
		t.Error("colour not only when asked")
	}
	first, _, _ := strings.Cut(plain.String(), "\n")
	if first != r.Verdict.Line {
		t.Errorf("the first line is not the verdict: %q", first)
	}
	// Sections in the one order.
	idx := -1
	for _, s := range []string{"\nDecision", "\nSteps", "\nTools", "\nFiles", "\nCost", "\nFinal message"} {
		i := strings.Index(plain.String(), s)
		if i < idx {
			t.Errorf("section %q out of order", s)
		}
		idx = i
	}
	// Control characters from a trace do not reach the terminal.
	a := run("a", msg("user", "hi\x1b]0;pwned\x07"))
	var out bytes.Buffer
	WriteText(&out, Runs(a, run("b"), Options{}), RenderOptions{})
	if strings.Contains(out.String(), "\x1b]0") {
		t.Error("an escape sequence from the trace reached the terminal")
	}
}

func TestMany(t *testing.T) {
	a := handA()
	same := replayOf(a, "r1", a.Steps...)
	same.Outcome.Decision = a.Outcome.Decision
	same.Outcome.Final = a.Outcome.Final
	m := RunsMany(a, []*trace.Run{same, handInserted(), handInserted()}, Options{})
	if m.Flips != 2 || len(m.Decisions) != 2 || m.Decisions[0].Decision != "approve" || m.Decisions[0].Count != 2 {
		t.Fatalf("many %+v", m.Decisions)
	}
	if m.Parting == nil || m.Parting.Run != 2 || m.Parting.Divergence.B != 5 {
		t.Errorf("parting %+v", m.Parting)
	}
	if !strings.Contains(m.Line, "flip rate 2/3") {
		t.Errorf("line %q", m.Line)
	}
}

// TestParallelResultsInAnyOrder: one response made three calls; the
// original's harness ran them at once and recorded the results as they
// came back (Bash last), the replay ran them in the response's order. The
// order of results within one response is no decision of the model's:
// no divergence. Calls moved across responses still are one.
func TestParallelResultsInAnyOrder(t *testing.T) {
	resp := func(names ...string) trace.Step {
		s := llm("", names...)
		for i, p := range s.LLM.Output.Parts {
			if p.Type == trace.PartToolCall {
				s.LLM.Output.Parts[i].ID = "c-" + p.Name + "{}"
			}
		}
		return s
	}
	a := run("aaaa", msg("user", "go"), resp("Bash", "Glob", "Grep"), tool("Glob", "{}", "g"), tool("Grep", "{}", "r"), tool("Bash", "{}", "b"), llm("done"))
	b := replayOf(a, "bbbb", msg("user", "go"), resp("Bash", "Glob", "Grep"), tool("Bash", "{}", "b"), tool("Glob", "{}", "g"), tool("Grep", "{}", "r"), llm("done"))
	if d := Runs(a, b, Options{}).Verdict.First; d != nil {
		t.Errorf("results of one response in another order read as a divergence: %+v", d)
	}
	// The Bash call made by a later response instead: an order change.
	c := replayOf(a, "cccc", msg("user", "go"), resp("Glob", "Grep"), tool("Glob", "{}", "g"), tool("Grep", "{}", "r"), resp("Bash"), tool("Bash", "{}", "b"), llm("done"))
	if d := Runs(a, c, Options{}).Verdict.First; d == nil {
		t.Error("a call moved to another response is not reported")
	}
}
