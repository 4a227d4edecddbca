package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
)

// Formats a report renders to.
const (
	FormatText     = "text"
	FormatJSON     = "json"
	FormatMarkdown = "md"
	FormatHTML     = "html"
)

// Formats lists the formats, in the order help shows them.
var Formats = []string{FormatText, FormatJSON, FormatMarkdown, FormatHTML}

// RenderOptions tune the renderers.
type RenderOptions struct {
	// Color uses ANSI colours in text (the caller decides: a terminal,
	// and NO_COLOR unset).
	Color bool
	// MaxOutput is how many bytes of a tool output, a message or a text
	// diff text, Markdown and HTML show before cutting it, with its size
	// said (0: 2,000). JSON is always complete.
	MaxOutput int
}

func (o RenderOptions) max() int {
	if o.MaxOutput <= 0 {
		return 2000
	}
	return o.MaxOutput
}

// Render writes a report in a format.
func Render(w io.Writer, format string, r *Report, o RenderOptions) error {
	switch format {
	case FormatText, "":
		return WriteText(w, r, o)
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatMarkdown:
		return WriteMarkdown(w, r, o)
	case FormatHTML:
		return WriteHTML(w, r, o)
	}
	return fmt.Errorf("diff format %q: want text, json, md or html", format)
}

// RenderMany writes a many-run report in a format.
func RenderMany(w io.Writer, format string, m *Many, o RenderOptions) error {
	switch format {
	case FormatText, "":
		return WriteManyText(w, m, o)
	case FormatJSON:
		return WriteJSON(w, m)
	case FormatMarkdown:
		return WriteManyMarkdown(w, m, o)
	case FormatHTML:
		return WriteManyHTML(w, m, o)
	}
	return fmt.Errorf("diff format %q: want text, json, md or html", format)
}

// WriteJSON writes a report (or a Many) as indented JSON, complete.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(true) // a report pasted into a page stays inert
	return enc.Encode(v)
}

// cut shortens s to n bytes (on a rune boundary), saying how big it was.
func cut(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	i := n
	for i > 0 && !utf8Start(s[i]) {
		i--
	}
	return s[:i], true
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func cutNote(s string, n int) string {
	return fmt.Sprintf("(cut: %s bytes in all; the JSON report has it whole)", thousands(len(s)))
}

func thousands(n int) string { return humanize.Comma(int64(n)) }

// The helpers below are the content every renderer shows; each renderer
// escapes and lays it out its own way.

func runTitle(in RunInfo) string {
	var parts []string
	id := in.ID
	if len(id) > 12 {
		id = id[:12]
	}
	if id == "" {
		id = "(no id)"
	}
	if in.Format != "" {
		parts = append(parts, in.Format)
	}
	if in.Agent != "" {
		parts = append(parts, "agent "+in.Agent)
	}
	if len(in.Models) > 0 {
		parts = append(parts, strings.Join(in.Models, ", "))
	}
	s := id
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, "; ") + ")"
	}
	if o := in.Replay; o != nil {
		of := o.Of
		if len(of) > 12 {
			of = of[:12]
		}
		s += ", " + o.Mode + " of " + of
		if v := variantText(o.Variant); v != "" {
			s += " [" + v + "]"
		}
		if o.Sample > 0 {
			s += fmt.Sprintf(" sample %d", o.Sample)
		}
	}
	s += fmt.Sprintf(", %d steps, %s", in.Steps, in.Status)
	return s
}

func variantText(v map[string]string) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sortStrings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+v[k])
	}
	return strings.Join(parts, ", ")
}

func findingText(f Finding) string {
	loc := f.File
	if f.Line != "" {
		loc += ":" + f.Line
	}
	var b strings.Builder
	if f.Severity != "" {
		b.WriteString("[" + f.Severity + "] ")
	}
	if f.Category != "" {
		b.WriteString(f.Category + " ")
	}
	if loc != "" {
		b.WriteString(loc + " ")
	}
	b.WriteString("— " + clip(oneLine(f.Description), 160))
	return b.String()
}

func findingChangeText(c FindingChange) string {
	var ch []string
	for _, f := range c.Fields {
		switch f {
		case "severity":
			ch = append(ch, "severity "+c.A.Severity+" → "+c.B.Severity)
		case "line":
			ch = append(ch, "line "+c.A.Line+" → "+c.B.Line)
		case "file":
			ch = append(ch, "file "+c.A.File+" → "+c.B.File)
		case "category":
			ch = append(ch, "category "+c.A.Category+" → "+c.B.Category)
		case "description":
			ch = append(ch, "description reworded")
		}
	}
	return findingText(c.B) + " (" + strings.Join(ch, "; ") + ")"
}

func findingsSummary(f *FindingsDiff) string {
	return fmt.Sprintf("%d same, %d added, %d removed, %d changed", f.Same, len(f.Added), len(f.Removed), len(f.Changed))
}

func changeText(c Change) string {
	switch c.Op {
	case "added":
		return c.Path + ": added " + clip(string(c.B), 100)
	case "removed":
		return c.Path + ": removed (was " + clip(string(c.A), 100) + ")"
	}
	return c.Path + ": " + clip(string(c.A), 60) + " → " + clip(string(c.B), 60)
}

func patchFileText(f PatchFile) string {
	switch f.Status {
	case "only_a":
		return fmt.Sprintf("%s: only in A (%s)", f.Path, plural(f.HunksRemoved, "hunk"))
	case "only_b":
		return fmt.Sprintf("%s: only in B (%s)", f.Path, plural(f.HunksAdded, "hunk"))
	case "same":
		return fmt.Sprintf("%s: the same (%s)", f.Path, plural(f.HunksSame, "hunk"))
	}
	return fmt.Sprintf("%s: %d hunk(s) the same, %d only in A, %d only in B", f.Path, f.HunksSame, f.HunksRemoved, f.HunksAdded)
}

// stepItem is a row of the steps section: a pair, or a run of equal pairs
// collapsed.
type stepItem struct {
	pair      int // index into the pairs
	collapsed int // >0: this many equal pairs from pair on
}

// stepItems collapses runs of two or more equal pairs.
func stepItems(ps []StepPair) []stepItem {
	var out []stepItem
	for i := 0; i < len(ps); {
		j := i
		for j < len(ps) && ps[j].Op == OpEqual {
			j++
		}
		if j-i >= 2 {
			out = append(out, stepItem{pair: i, collapsed: j - i})
			i = j
			continue
		}
		if j > i {
			out = append(out, stepItem{pair: i})
			i = j
			continue
		}
		out = append(out, stepItem{pair: i})
		i++
	}
	return out
}

func stepNum(s *Step) string {
	if s == nil {
		return "-"
	}
	return strconv.Itoa(s.N)
}

func opMark(sp StepPair) string {
	switch sp.Op {
	case OpEqual:
		return "="
	case OpDeleted:
		return "-"
	case OpInserted:
		return "+"
	}
	if sp.Kind != "" {
		return "!"
	}
	return "~"
}

// pairText is a pair in a line: what A did, what B did.
func pairText(sp StepPair) string {
	switch {
	case sp.A == nil:
		return callText(sp.B)
	case sp.B == nil:
		return callText(sp.A)
	case sp.Op == OpEqual:
		return callText(sp.A)
	}
	return callText(sp.A) + "  →  " + callText(sp.B)
}

// costRows are the cost section's rows: label, A, B, delta, ratio.
func costRows(c CostDiff) [][5]string {
	i := func(n int64) string { return thousands(int(n)) }
	d := func(n int64) string {
		if n > 0 {
			return "+" + thousands(int(n))
		}
		return thousands(int(n))
	}
	ta, tb := c.A.Tokens, c.B.Tokens
	rows := [][5]string{
		{"model calls", i(int64(c.A.LLMCalls)), i(int64(c.B.LLMCalls)), d(int64(c.B.LLMCalls - c.A.LLMCalls)), ""},
		{"tool calls", i(int64(c.A.ToolCalls)), i(int64(c.B.ToolCalls)), d(int64(c.B.ToolCalls - c.A.ToolCalls)), ""},
		{"tokens (all)", i(tokens(&ta)), i(tokens(&tb)), d(tokens(&tb) - tokens(&ta)), ratioText(c.Ratio.Tokens)},
		{"  input", i(ta.Input), i(tb.Input), d(c.Delta.Tokens.Input), ""},
		{"  cache read", i(ta.CacheRead), i(tb.CacheRead), d(c.Delta.Tokens.CacheRead), ""},
		{"  cache write", i(ta.CacheWrite), i(tb.CacheWrite), d(c.Delta.Tokens.CacheWrite), ""},
		{"  output", i(ta.Output), i(tb.Output), d(c.Delta.Tokens.Output), ""},
		{"cost recorded", usdText(c.A.Recorded), usdText(c.B.Recorded), usdDelta(c.Delta.Recorded), ""},
		{"  run total recorded", usdText(c.A.RecordedTotal), usdText(c.B.RecordedTotal), usdDelta(sub(c.A.RecordedTotal, c.B.RecordedTotal)), ""},
		{"cost priced", usdText(c.A.Priced), usdText(c.B.Priced), usdDelta(c.Delta.Priced), ratioText(c.Ratio.Priced)},
		{"model latency", msText(c.A.LLMMS), msText(c.B.LLMMS), msDelta(c.Delta.LLMMS), ratioText(c.Ratio.LLMMS)},
	}
	if c.A.WallMS > 0 || c.B.WallMS > 0 {
		rows = append(rows, [5]string{"wall time", msText(c.A.WallMS), msText(c.B.WallMS), msDelta(c.Delta.WallMS), ""})
	}
	if c.A.Unpriced > 0 || c.B.Unpriced > 0 {
		rows = append(rows, [5]string{"unpriced calls", i(int64(c.A.Unpriced)), i(int64(c.B.Unpriced)), "", ""})
	}
	return rows
}

func usdText(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("$%.4f", *v)
}

func usdDelta(v *float64) string {
	if v == nil {
		return ""
	}
	if *v >= 0 {
		return fmt.Sprintf("+$%.4f", *v)
	}
	return fmt.Sprintf("-$%.4f", -*v)
}

func ratioText(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("×%.2f", *v)
}

func msText(ms int64) string {
	if ms == 0 {
		return "-"
	}
	if ms < 100 {
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

func msDelta(ms int64) string {
	if ms == 0 {
		return ""
	}
	if ms > 0 {
		return fmt.Sprintf("+%.1fs", float64(ms)/1000)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

// toolRows: name, A count, B count, failed.
func toolRows(t ToolsDiff) [][4]string {
	var rows [][4]string
	for _, tc := range t.Tools {
		f := ""
		if tc.Failed[0] > 0 || tc.Failed[1] > 0 {
			f = fmt.Sprintf("%d / %d", tc.Failed[0], tc.Failed[1])
		}
		rows = append(rows, [4]string{tc.Name, strconv.Itoa(tc.Count[0]), strconv.Itoa(tc.Count[1]), f})
	}
	return rows
}

func producedText(m map[string]int) string {
	var parts []string
	for _, k := range []string{"exec", "recorded", "snapshot", "denied", "agent"} {
		if n := m[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	var rest []string
	for k := range m {
		switch k {
		case "exec", "recorded", "snapshot", "denied", "agent":
		default:
			rest = append(rest, k)
		}
	}
	sortStrings(rest)
	for _, k := range rest {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func callRefText(c CallRef) string {
	s := "step " + strconv.Itoa(c.Step)
	if c.Run != "" {
		s += " of " + c.Run
	}
	s += ": " + c.Call
	if c.Status != "" {
		s += " (" + c.Status + ")"
	}
	return s
}

func fileChangeText(f *FileChange) string {
	if f == nil {
		return "untouched"
	}
	return fmt.Sprintf("%s +%d -%d", f.Status, f.Added, f.Removed)
}

func childLine(c ChildDiff) string {
	name := c.Agent
	if name == "" {
		name = c.B
		if name == "" {
			name = c.A
		}
	}
	switch {
	case c.A == "":
		return fmt.Sprintf("%s: only in B (%d steps)", name, len(c.Steps))
	case c.B == "":
		return fmt.Sprintf("%s: only in A (%d steps)", name, len(c.Steps))
	case c.First == nil:
		return fmt.Sprintf("%s (matched by %s): same actions", name, c.Match)
	}
	return fmt.Sprintf("%s (matched by %s): diverged at step %d (%s: %s)", name, c.Match, stepOf(c.First), c.First.Kind, c.First.What)
}

func flattenChildren(cs []ChildDiff, out []ChildDiff) []ChildDiff {
	for _, c := range cs {
		out = append(out, c)
		out = flattenChildren(c.Children, out)
	}
	return out
}

// outputDiff is what a result_status pair shows: the two results.
func outputDiff(sp StepPair) string {
	a, b := sp.A.Output, sp.B.Output
	if sp.A.Status != sp.B.Status {
		a = "[" + sp.A.Status + "]\n" + a
		b = "[" + sp.B.Status + "]\n" + b
	}
	return unified("a/result", "b/result", a, b)
}

func manyLine(m *Many) string {
	var parts []string
	for _, d := range m.Decisions {
		parts = append(parts, fmt.Sprintf("%s %d/%d", d.Decision, d.Count, len(m.Runs)))
	}
	orig := "none"
	if len(m.Runs) > 0 {
		orig = m.Runs[0].Decision.Label[0]
	}
	s := fmt.Sprintf("%d replays: decisions %s (original: %s); flip rate %d/%d", len(m.Runs), strings.Join(parts, ", "), orig, m.Flips, len(m.Runs))
	if p := m.Parting; p != nil {
		s += fmt.Sprintf("; replays part at step %d (replay %d: %s: %s)", stepOf(p.Divergence), p.Run, p.Divergence.Kind, p.Divergence.What)
	} else if len(m.Runs) > 1 {
		s += "; the replays take the same actions"
	}
	return s
}

func sortStrings(s []string) { sort.Strings(s) }
