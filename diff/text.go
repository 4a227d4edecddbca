package diff

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// ANSI colours.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

type textWriter struct {
	w *bufio.Writer
	o RenderOptions
}

func (t *textWriter) color(c, s string) string {
	if !t.o.Color || s == "" {
		return s
	}
	return c + s + ansiReset
}

func (t *textWriter) printf(format string, args ...any) { fmt.Fprintf(t.w, format, args...) }

// sanitize keeps trace content from driving the terminal: control
// characters other than newline and tab are shown escaped.
func sanitize(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

// WriteText writes the report for a terminal: the verdict line first,
// then the decision, the aligned steps (equal runs collapsed), tools,
// files and cost.
func WriteText(w io.Writer, r *Report, o RenderOptions) error {
	t := &textWriter{w: bufio.NewWriter(w), o: o}
	t.report(r, "")
	return t.w.Flush()
}

func (t *textWriter) report(r *Report, indent string) {
	col := ansiBold
	if !r.Verdict.Agree {
		col = ansiBold + ansiRed
	}
	t.printf("%s%s\n", indent, t.color(col, sanitize(r.Verdict.Line)))
	for _, w := range r.Warnings {
		t.printf("%s%s\n", indent, t.color(ansiYellow, "warning: "+sanitize(w)))
	}
	t.printf("%sA  %s\n%sB  %s\n", indent, sanitize(runTitle(r.A)), indent, sanitize(runTitle(r.B)))

	t.section("Decision", r.Decision.Kind)
	t.decision(r.Decision)

	t.section("Steps", fmt.Sprintf("A %d, B %d", r.A.Steps, r.B.Steps))
	t.steps(r.Steps, r.Verdict.First, r.Verdict.Recovery)
	if len(r.Children) > 0 {
		t.section("Sub-agents", "")
		for _, c := range flattenChildren(r.Children, nil) {
			t.printf("  %s\n", sanitize(childLine(c)))
		}
	}

	t.section("Tools", "")
	t.tools(r.Tools)

	t.section("Files", filesSource(r.Files))
	t.files(r.Files)

	t.section("Cost", "recorded and priced kept apart")
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tA\tB\tΔ\tB/A\t")
	for _, row := range costRows(r.Cost) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t\n", row[0], row[1], row[2], row[3], row[4])
	}
	tw.Flush()

	t.section("Final message", "")
	if r.Final.Equal {
		t.printf("  the same (%s)\n", plural(len(r.Final.A), "byte"))
	} else {
		t.diffText(r.Final.Diff, "  ")
	}
}

func filesSource(f FilesDiff) string {
	src := func(s string) string {
		switch s {
		case FromPatch:
			return "the workspace change"
		case FromCalls:
			return "the recorded Write/Edit calls"
		}
		return "no change known"
	}
	return "A: " + src(f.Source[0]) + "; B: " + src(f.Source[1])
}

func (t *textWriter) section(name, note string) {
	t.printf("\n%s", t.color(ansiBold, name))
	if note != "" {
		t.printf(" %s", t.color(ansiDim, "("+note+")"))
	}
	t.printf("\n")
}

func (t *textWriter) decision(d DecisionDiff) {
	if d.Label[0] == d.Label[1] {
		t.printf("  %s in both", sanitize(d.Label[0]))
	} else {
		t.printf("  %s → %s", sanitize(d.Label[0]), sanitize(d.Label[1]))
	}
	if d.Agree {
		t.printf(": %s\n", t.color(ansiGreen, "agree"))
	} else {
		t.printf(": %s\n", t.color(ansiRed, "differ"))
	}
	if f := d.Findings; f != nil {
		t.printf("  findings: %s\n", findingsSummary(f))
		for _, x := range f.Added {
			t.printf("  %s\n", t.color(ansiGreen, "+ "+sanitize(findingText(x))))
		}
		for _, x := range f.Removed {
			t.printf("  %s\n", t.color(ansiRed, "- "+sanitize(findingText(x))))
		}
		for _, c := range f.Changed {
			t.printf("  %s\n", t.color(ansiYellow, "~ "+sanitize(findingChangeText(c))))
		}
	}
	if p := d.Patch; p != nil {
		for _, f := range p.Files {
			t.printf("  %s\n", sanitize(patchFileText(f)))
		}
	}
	for _, c := range d.Changes {
		t.printf("  %s\n", sanitize(changeText(c)))
	}
	if e := d.Effects; e != nil {
		t.printf("  github effects: %s\n", effectsSummary(e))
		for _, x := range e.Added {
			t.printf("  %s\n", t.color(ansiGreen, "+ "+sanitize(x.String())))
		}
		for _, x := range e.Removed {
			t.printf("  %s\n", t.color(ansiRed, "- "+sanitize(x.String())))
		}
	}
}

func (t *textWriter) steps(ps []StepPair, first *Divergence, rec *Recovery) {
	tw := tabwriter.NewWriter(t.w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "  A\tB\t\t")
	var details []StepPair
	for _, it := range stepItems(ps) {
		sp := ps[it.pair]
		if it.collapsed > 0 {
			fmt.Fprintf(tw, "  %s\t%s\t=\t%s\n", stepNum(sp.A), stepNum(sp.B), t.color(ansiDim, fmt.Sprintf("… %d equal steps …", it.collapsed)))
			continue
		}
		mark := opMark(sp)
		c := ""
		switch mark {
		case "-":
			c = ansiRed
		case "+":
			c = ansiGreen
		case "!":
			c = ansiYellow
		}
		text := sanitize(clip(pairText(sp), 160))
		if sp.Kind != "" {
			text = sp.Kind + "  " + text
		}
		note := ""
		if first != nil && first.Run == "" && first.Pair == it.pair {
			note = "  ◀ first divergence"
		}
		if rec != nil && rec.Pair == it.pair {
			note = "  ◀ aligned again"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", stepNum(sp.A), stepNum(sp.B), t.color(c, mark), t.color(c, text)+note)
		if sp.Kind == ResultStatus {
			details = append(details, sp)
		}
	}
	tw.Flush()
	for _, sp := range details {
		t.printf("  step %d/%d %s result:\n", sp.A.N, sp.B.N, sanitize(sp.A.Tool))
		t.diffText(outputDiff(sp), "    ")
	}
}

func (t *textWriter) diffText(d, indent string) {
	s, cutted := cut(d, t.o.max())
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		l = sanitize(l)
		switch {
		case strings.HasPrefix(l, "+"):
			l = t.color(ansiGreen, l)
		case strings.HasPrefix(l, "-"):
			l = t.color(ansiRed, l)
		case strings.HasPrefix(l, "@@"):
			l = t.color(ansiDim, l)
		}
		t.printf("%s%s\n", indent, l)
	}
	if cutted {
		t.printf("%s%s\n", indent, cutNote(d, t.o.max()))
	}
}

func (t *textWriter) tools(td ToolsDiff) {
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  TOOL\tA\tB\tFAILED A/B")
	for _, row := range toolRows(td) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", sanitize(row[0]), row[1], row[2], row[3])
	}
	tw.Flush()
	list := func(title string, cs []CallRef, c string) {
		if len(cs) == 0 {
			return
		}
		t.printf("  %s:\n", title)
		for i, x := range cs {
			if i == 20 {
				t.printf("    … %d more\n", len(cs)-20)
				break
			}
			t.printf("    %s\n", t.color(c, sanitize(callRefText(x))))
		}
	}
	list("only in A", td.OnlyA, ansiRed)
	list("only in B", td.OnlyB, ansiGreen)
	if len(td.ArgChanges) > 0 {
		t.printf("  changed arguments:\n")
		for i, a := range td.ArgChanges {
			if i == 20 {
				t.printf("    … %d more\n", len(td.ArgChanges)-20)
				break
			}
			for _, c := range a.Changes {
				t.printf("    step %d/%d %s %s\n", a.A, a.B, sanitize(a.Tool), sanitize(changeText(c)))
			}
		}
	}
	if len(td.Failed) > 0 {
		t.printf("  failed:\n")
		for _, f := range td.Failed {
			t.printf("    %s %s\n", strings.ToUpper(f.Side), sanitize(callRefText(f)))
		}
	}
	t.printf("  results produced: A %s; B %s\n", producedText(td.Produced[0]), producedText(td.Produced[1]))
}

func (t *textWriter) files(f FilesDiff) {
	if len(f.Files) == 0 {
		t.printf("  no file changed\n")
		return
	}
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FILE\tA\tB\t")
	for _, x := range f.Files {
		s := "differs"
		if x.Same {
			s = "same"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", sanitize(x.Path), fileChangeText(x.A), fileChangeText(x.B), s)
	}
	tw.Flush()
	for _, x := range f.Files {
		if x.Diff != "" {
			t.diffText(x.Diff, "  ")
		}
	}
}

// WriteManyText writes a many-run report: the distribution first, then
// each replay's verdict line.
func WriteManyText(w io.Writer, m *Many, o RenderOptions) error {
	t := &textWriter{w: bufio.NewWriter(w), o: o}
	t.printf("%s\n", t.color(ansiBold, sanitize(m.Line)))
	t.printf("original  %s\n", sanitize(runTitle(m.Original)))
	t.section("Decisions", "")
	for _, d := range m.Decisions {
		mark := ""
		if d.Original {
			mark = " (the original's)"
		}
		t.printf("  %-20s %d/%d%s  runs %s\n", sanitize(d.Decision), d.Count, len(m.Runs), mark, intsText(d.Runs))
	}
	t.section("Replays", "each against the original")
	for i, r := range m.Runs {
		t.printf("  %d. %s\n     %s\n", i+1, sanitize(runTitle(r.B)), sanitize(r.Verdict.Line))
	}
	return t.w.Flush()
}

func intsText(ns []int) string {
	var parts []string
	for _, n := range ns {
		parts = append(parts, fmt.Sprint(n))
	}
	return strings.Join(parts, ", ")
}
