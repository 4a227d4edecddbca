package diff

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// GitHubCommentLimit is the most characters GitHub takes in a comment
// (and in a step summary, per step, it takes more).
const GitHubCommentLimit = 65536

// mdEscape makes trace content inert and literal in Markdown: HTML's
// special characters become entities (no tag, no attribute survives), and
// Markdown's punctuation is backslash-escaped (no link, image, emphasis or
// table cell boundary can be formed). Newlines become spaces.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range sanitize(s) {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\n', '\r', '\t':
			b.WriteByte(' ')
		case '\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '-', '.', '!', '|', '~', ':', '@', '=', '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fence puts text in a fenced code block, literal whatever it holds: the
// fence is longer than any run of backticks in it.
func fence(lang, s string) string {
	n, run := 3, 0
	for _, r := range s {
		if r == '`' {
			run++
			if run >= n {
				n = run + 1
			}
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", n)
	return f + lang + "\n" + strings.TrimRight(sanitize(s), "\n") + "\n" + f + "\n"
}

type mdWriter struct {
	b       bytes.Buffer
	o       RenderOptions
	level   int // 0 full; higher drops detail
	max     int
	dropped []string
}

func (m *mdWriter) printf(format string, args ...any) { fmt.Fprintf(&m.b, format, args...) }

// WriteMarkdown writes the report for a pull request comment or a GitHub
// Actions step summary: the verdict, then the sections with their long
// parts in <details>. When it would pass GitHub's comment limit, detail is
// dropped (steps first, then diffs, then lists) and the report says so.
func WriteMarkdown(w io.Writer, r *Report, o RenderOptions) error {
	var out []byte
	for level := 0; level <= 3; level++ {
		m := &mdWriter{o: o, level: level, max: o.max()}
		if level > 0 {
			m.max = min(m.max, 1000)
		}
		m.report(r)
		out = m.b.Bytes()
		if len(out) <= GitHubCommentLimit-512 || level == 3 {
			if len(m.dropped) > 0 {
				note := fmt.Sprintf("\n> Detail was dropped to stay under GitHub's %s-character comment limit: %s. `replay diff --format html` or `--format json` shows everything.\n",
					thousands(GitHubCommentLimit), strings.Join(m.dropped, "; "))
				out = append(out, note...)
			}
			break
		}
	}
	_, err := w.Write(out)
	return err
}

func (m *mdWriter) report(r *Report) {
	m.printf("### replay diff\n\n**%s**\n\n", mdEscape(r.Verdict.Line))
	for _, w := range r.Warnings {
		m.printf("> ⚠️ %s\n\n", mdEscape(w))
	}
	m.printf("| | run |\n|---|---|\n| A | %s |\n| B | %s |\n\n", mdEscape(runTitle(r.A)), mdEscape(runTitle(r.B)))

	m.printf("#### Decision (%s)\n\n", r.Decision.Kind)
	d := r.Decision
	verdict := "differ"
	if d.Agree {
		verdict = "agree"
	}
	if d.Label[0] == d.Label[1] {
		m.printf("**%s** in both: %s\n\n", mdEscape(d.Label[0]), verdict)
	} else {
		m.printf("**%s** → **%s**: %s\n\n", mdEscape(d.Label[0]), mdEscape(d.Label[1]), verdict)
	}
	if f := d.Findings; f != nil {
		m.printf("Findings: %s\n\n", findingsSummary(f))
		n := 0
		item := func(sign, s string) {
			n++
			if m.level >= 3 && n > 20 {
				return
			}
			m.printf("- %s %s\n", sign, mdEscape(s))
		}
		for _, x := range f.Added {
			item("➕", findingText(x))
		}
		for _, x := range f.Removed {
			item("➖", findingText(x))
		}
		for _, c := range f.Changed {
			item("✏️", findingChangeText(c))
		}
		if m.level >= 3 && n > 20 {
			m.dropped = append(m.dropped, fmt.Sprintf("%d of the findings listed", n-20))
		}
		m.printf("\n")
	}
	if e := d.Effects; e != nil {
		m.printf("GitHub effects: %s\n\n", effectsSummary(e))
		for _, x := range e.Added {
			m.printf("- ➕ %s\n", mdEscape(x.String()))
		}
		for _, x := range e.Removed {
			m.printf("- ➖ %s\n", mdEscape(x.String()))
		}
		if len(e.Added)+len(e.Removed) > 0 {
			m.printf("\n")
		}
	}
	if p := d.Patch; p != nil {
		for _, f := range p.Files {
			m.printf("- %s\n", mdEscape(patchFileText(f)))
		}
		m.printf("\n")
	}
	for _, c := range d.Changes {
		m.printf("- %s\n", mdEscape(changeText(c)))
	}
	if len(d.Changes) > 0 {
		m.printf("\n")
	}

	m.printf("#### Steps (A %d, B %d)\n\n", r.A.Steps, r.B.Steps)
	m.steps(r)
	if len(r.Children) > 0 {
		m.printf("**Sub-agents**\n\n")
		for _, c := range flattenChildren(r.Children, nil) {
			m.printf("- %s\n", mdEscape(childLine(c)))
		}
		m.printf("\n")
	}

	m.printf("#### Tools\n\n| tool | A | B | failed A / B |\n|---|--:|--:|--:|\n")
	for _, row := range toolRows(r.Tools) {
		m.printf("| %s | %s | %s | %s |\n", mdEscape(row[0]), row[1], row[2], row[3])
	}
	m.printf("\nResults produced: A %s; B %s\n\n", producedText(r.Tools.Produced[0]), producedText(r.Tools.Produced[1]))
	m.callList("Calls only in A", r.Tools.OnlyA)
	m.callList("Calls only in B", r.Tools.OnlyB)
	m.callList("Failed calls", r.Tools.Failed)
	if len(r.Tools.ArgChanges) > 0 && m.level < 3 {
		m.printf("<details><summary>Changed arguments (%d)</summary>\n\n", len(r.Tools.ArgChanges))
		for _, a := range r.Tools.ArgChanges {
			for _, c := range a.Changes {
				m.printf("- step %d/%d %s %s\n", a.A, a.B, mdEscape(a.Tool), mdEscape(changeText(c)))
			}
		}
		m.printf("\n</details>\n\n")
	}

	m.printf("#### Files\n\n%s\n\n", mdEscape(filesSource(r.Files)))
	if len(r.Files.Files) == 0 {
		m.printf("No file changed.\n\n")
	} else {
		m.printf("| file | A | B | |\n|---|---|---|---|\n")
		for _, f := range r.Files.Files {
			s := "differs"
			if f.Same {
				s = "same"
			}
			m.printf("| %s | %s | %s | %s |\n", mdEscape(f.Path), fileChangeText(f.A), fileChangeText(f.B), s)
		}
		m.printf("\n")
		if m.level >= 2 {
			m.dropped = append(m.dropped, "the per-file diffs")
		} else {
			for _, f := range r.Files.Files {
				if f.Diff != "" {
					m.details(mdEscape(f.Path), f.Diff)
				}
			}
		}
	}

	m.printf("#### Cost\n\nRecorded and priced cost are kept apart.\n\n| | A | B | Δ | B/A |\n|---|--:|--:|--:|--:|\n")
	for _, row := range costRows(r.Cost) {
		m.printf("| %s | %s | %s | %s | %s |\n", strings.TrimSpace(row[0]), row[1], row[2], row[3], row[4])
	}
	m.printf("\n#### Final message\n\n")
	switch {
	case r.Final.Equal:
		m.printf("The same (%s).\n", plural(len(r.Final.A), "byte"))
	case m.level >= 3:
		m.printf("It differs.\n")
		m.dropped = append(m.dropped, "the final message's diff")
	default:
		m.details("Final message diff", r.Final.Diff)
	}
}

func (m *mdWriter) details(summary, diff string) {
	s, cutted := cut(diff, m.max)
	m.printf("<details><summary>%s</summary>\n\n%s", summary, fence("diff", s))
	if cutted {
		m.printf("\n%s\n", mdEscape(cutNote(diff, m.max)))
	}
	m.printf("\n</details>\n\n")
}

func (m *mdWriter) callList(title string, cs []CallRef) {
	if len(cs) == 0 {
		return
	}
	limit := len(cs)
	if m.level >= 1 {
		limit = min(limit, 20)
	}
	m.printf("<details><summary>%s (%d)</summary>\n\n", title, len(cs))
	for _, c := range cs[:limit] {
		m.printf("- %s\n", mdEscape(callRefText(c)))
	}
	if limit < len(cs) {
		m.printf("- … %d more\n", len(cs)-limit)
		m.dropped = append(m.dropped, fmt.Sprintf("%d entries of %q", len(cs)-limit, title))
	}
	m.printf("\n</details>\n\n")
}

func (m *mdWriter) steps(r *Report) {
	ps := r.Steps
	if d := r.Verdict.First; d != nil && d.Pair >= 0 && d.Run == "" {
		sp := ps[d.Pair]
		m.printf("First divergence at step A %s / B %s: **%s**: %s\n\n", stepNum(sp.A), stepNum(sp.B), d.Kind, mdEscape(pairText(sp)))
	}
	if rec := r.Verdict.Recovery; rec != nil {
		m.printf("Aligned again at step A %d / B %d.\n\n", rec.A, rec.B)
	}
	if m.level >= 2 {
		m.dropped = append(m.dropped, "the steps table")
		return
	}
	items := stepItems(ps)
	rows := 0
	var b strings.Builder
	for _, it := range items {
		sp := ps[it.pair]
		if it.collapsed > 0 {
			if m.level == 0 {
				fmt.Fprintf(&b, "| %s | %s | = | … %d equal steps … |\n", stepNum(sp.A), stepNum(sp.B), it.collapsed)
			}
			continue
		}
		if m.level >= 1 && (sp.Op == OpEqual || rows >= 200) {
			continue
		}
		rows++
		text := mdEscape(clip(pairText(sp), 160))
		if sp.Kind != "" {
			text = "**" + sp.Kind + "** " + text
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", stepNum(sp.A), stepNum(sp.B), mdEscape(opMark(sp)), text)
	}
	if m.level >= 1 {
		m.dropped = append(m.dropped, "the steps table's equal steps (and past 200 rows)")
	}
	m.printf("<details><summary>Aligned steps</summary>\n\n| A | B | | step |\n|--:|--:|:-:|---|\n%s\n</details>\n\n", b.String())
	if m.level == 0 {
		for _, sp := range ps {
			if sp.Kind == ResultStatus {
				m.details(fmt.Sprintf("Step %d/%d %s: the result differs", sp.A.N, sp.B.N, mdEscape(sp.A.Tool)), outputDiff(sp))
			}
		}
	}
}

// WriteManyMarkdown writes a many-run report for a comment.
func WriteManyMarkdown(w io.Writer, m *Many, o RenderOptions) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### replay diff: %d replays\n\n**%s**\n\nOriginal: %s\n\n| decision | replays | runs |\n|---|--:|---|\n", len(m.Runs), mdEscape(m.Line), mdEscape(runTitle(m.Original)))
	for _, d := range m.Decisions {
		name := mdEscape(d.Decision)
		if d.Original {
			name += " (the original's)"
		}
		fmt.Fprintf(&b, "| %s | %d/%d | %s |\n", name, d.Count, len(m.Runs), intsText(d.Runs))
	}
	b.WriteString("\n| # | replay | verdict |\n|--:|---|---|\n")
	for i, r := range m.Runs {
		fmt.Fprintf(&b, "| %d | %s | %s |\n", i+1, mdEscape(runTitle(r.B)), mdEscape(r.Verdict.Line))
	}
	_, err := w.Write(b.Bytes())
	return err
}
