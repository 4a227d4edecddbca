package scenarios

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// ReportSchema versions the JSON report.
const ReportSchema = "replay.eval/v1"

// Case verdicts beyond the cell statuses.
const (
	Flaky       = "flaky"
	Quarantined = "quarantined"
)

// Report is a suite run's verdicts.
type Report struct {
	Schema   string        `json:"schema"`
	Suite    string        `json:"suite"`
	Shard    string        `json:"shard,omitempty"`
	Variants []VariantInfo `json:"variants"`
	Cases    []CaseResult  `json:"cases"`
	Totals   Totals        `json:"totals"`
	// Incomplete says why the run is not a full answer (errors, skipped
	// cells, missing shards); empty when it is.
	Incomplete []string `json:"incomplete"`
	ExitCode   int      `json:"exit_code"`
}

// VariantInfo names a variant and what it changes.
type VariantInfo struct {
	Name  string `json:"name"`
	Hash  string `json:"hash"`
	Flags string `json:"flags"`
}

// CaseResult is one case with one variant over its repeats.
type CaseResult struct {
	Case       string    `json:"case"`
	Title      string    `json:"title,omitempty"`
	Variant    string    `json:"variant"`
	Status     string    `json:"status"` // pass, fail, flaky, error, skipped, quarantined
	Outcome    string    `json:"outcome"`
	Passed     int       `json:"passed"`
	Runs       int       `json:"runs"` // repeats that ran (pass or fail)
	Repeats    int       `json:"repeats"`
	Gate       float64   `json:"gate"`
	Critical   bool      `json:"critical,omitempty"`
	Quarantine string    `json:"quarantine,omitempty"`
	Failures   []Failure `json:"failures,omitempty"` // of the first failing repeat
	// NotChecked are the case's expectations replay does not check (an
	// agent-eval-harness case's free text for the LLM judge).
	NotChecked []string `json:"not_checked,omitempty"`
	Errors     []string `json:"errors,omitempty"`
	Divergence string   `json:"first_divergence,omitempty"`
	Decisions  []string `json:"decisions"` // per repeat
	CostUSD    float64  `json:"cost_usd"`
	DurationMS int64    `json:"duration_ms"`
	RunIDs     []string `json:"run_ids"`
	File       string   `json:"file,omitempty"`
	Feedback   string   `json:"feedback,omitempty"` // the human act the label came from
	Original   string   `json:"original,omitempty"` // the case's trace in the store
	errored    int
}

// Totals count case verdicts.
type Totals struct {
	Cases       int     `json:"cases"`
	Pass        int     `json:"pass"`
	Fail        int     `json:"fail"`
	Flaky       int     `json:"flaky"`
	Error       int     `json:"error"`
	Skipped     int     `json:"skipped"`
	Quarantined int     `json:"quarantined"`
	CostUSD     float64 `json:"cost_usd"`
	DurationMS  int64   `json:"duration_ms"`
}

// NewReport gives each case × variant its verdict over the repeats. cases
// are the plan's (for gates, titles and the repeats planned); records the
// cells' results, skipped ones included.
func NewReport(suite string, shard Shard, p *Plan, recs []Record, incomplete []string) *Report {
	rep := &Report{Schema: ReportSchema, Suite: suite, Shard: shard.String(), Incomplete: append([]string{}, incomplete...)}
	type ck struct{ c, v string }
	planned := map[ck]int{}
	var order []ck
	cases := map[string]*Case{}
	seenV := map[string]bool{}
	names := map[string]string{}
	for _, c := range p.Cells {
		k := ck{c.Case.ID, c.VariantHash}
		if planned[k] == 0 {
			order = append(order, k)
		}
		planned[k]++
		cases[c.Case.ID] = c.Case
		names[c.VariantHash] = c.Variant.Name
		if !seenV[c.VariantHash] {
			seenV[c.VariantHash] = true
			rep.Variants = append(rep.Variants, VariantInfo{Name: c.Variant.Name, Hash: c.VariantHash, Flags: c.Variant.Flags()})
		}
	}
	byKey := map[ck][]Record{}
	for _, r := range recs {
		k := ck{r.Case, r.Variant}
		if planned[k] == 0 {
			continue // a record of a variant or case no longer in the plan
		}
		byKey[k] = append(byKey[k], r)
	}
	for _, k := range order {
		c := cases[k.c]
		rs := byKey[k]
		sort.Slice(rs, func(i, j int) bool { return rs[i].Repeat < rs[j].Repeat })
		cr := CaseResult{Case: c.ID, Title: c.Title, Variant: names[k.v], Repeats: planned[k], Critical: c.Critical, Quarantine: c.Quarantine, File: c.File, NotChecked: c.NotChecked()}
		cr.Gate = c.Gate
		if cr.Gate == 0 {
			cr.Gate = p.Suite.Gate
		}
		if cr.Gate == 0 || c.Critical {
			cr.Gate = 1
		}
		if c.Feedback != nil {
			cr.Feedback = c.Feedback.Human
			if c.Feedback.By != "" {
				cr.Feedback += " by " + c.Feedback.By
			}
		}
		skipped := planned[k] - len(rs)
		for _, r := range rs {
			cr.CostUSD += r.CostUSD
			cr.DurationMS += r.DurationMS
			if r.Run != "" {
				cr.RunIDs = append(cr.RunIDs, r.Run)
			}
			if r.Original != "" {
				cr.Original = r.Original
			}
			switch r.Status {
			case Pass:
				cr.Passed++
				cr.Runs++
				cr.Decisions = append(cr.Decisions, r.Decision)
			case Fail:
				cr.Runs++
				cr.Decisions = append(cr.Decisions, r.Decision)
				if cr.Failures == nil {
					cr.Failures, cr.Divergence = r.Failures, r.Divergence
				}
			case Error:
				cr.errored++
				cr.Errors = append(cr.Errors, fmt.Sprintf("repeat %d: %s", r.Repeat, r.Error))
			case Skipped:
				skipped++
				if r.Error != "" && !contains1(cr.Errors, r.Error) {
					cr.Errors = append(cr.Errors, "skipped: "+r.Error)
				}
			}
		}
		cr.Outcome = verdict(cr, skipped)
		cr.Status = cr.Outcome
		if c.Quarantine != "" {
			cr.Status = Quarantined
		}
		rep.add(cr)
	}
	rep.finish()
	return rep
}

func contains1(s []string, x string) bool {
	for _, y := range s {
		if strings.HasSuffix(y, x) {
			return true
		}
	}
	return false
}

// verdict over the repeats: errors first (never a pass), then skipped
// repeats, then the pass rate against the gate.
func verdict(cr CaseResult, skipped int) string {
	switch {
	case cr.errored > 0:
		return Error
	case cr.Runs < cr.Repeats || skipped > 0:
		return Skipped
	case float64(cr.Passed) >= cr.Gate*float64(cr.Repeats)-1e-9:
		return Pass
	case cr.Passed > 0:
		return Flaky
	}
	return Fail
}

func (rep *Report) add(cr CaseResult) {
	rep.Cases = append(rep.Cases, cr)
	t := &rep.Totals
	t.Cases++
	t.CostUSD += cr.CostUSD
	t.DurationMS += cr.DurationMS
	switch cr.Status {
	case Pass:
		t.Pass++
	case Fail:
		t.Fail++
	case Flaky:
		t.Flaky++
	case Error:
		t.Error++
	case Skipped:
		t.Skipped++
	case Quarantined:
		t.Quarantined++
	}
}

// finish sets the exit code: 1 when a gating case failed (or is flaky), 3
// when the run is incomplete (errors, skipped cells, missing shards), 0
// when every gating case passed.
func (rep *Report) finish() {
	t := rep.Totals
	if t.Error > 0 {
		rep.Incomplete = append(rep.Incomplete, fmt.Sprintf("%d case(s) could not be run or checked (error)", t.Error))
	}
	if t.Skipped > 0 {
		rep.Incomplete = append(rep.Incomplete, fmt.Sprintf("%d case(s) skipped (budget or interrupt)", t.Skipped))
	}
	gating := t.Cases - t.Quarantined
	switch {
	case t.Fail+t.Flaky > 0:
		rep.ExitCode = 1
	case len(rep.Incomplete) > 0 || gating == 0:
		rep.ExitCode = 3
		if gating == 0 {
			rep.Incomplete = append(rep.Incomplete, "no gating case: every case is quarantined")
		}
	default:
		rep.ExitCode = 0
	}
}

// WriteJSON writes the report as JSON (replay.eval/v1).
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(rep)
}

// WriteText writes the summary table.
func (rep *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tVARIANT\tVERDICT\tPASSED\tDECISIONS\tCOST\tNOTE")
	for _, c := range rep.Cases {
		note := ""
		switch {
		case c.Quarantine != "":
			note = "quarantined (" + c.Outcome + "): " + c.Quarantine
		case len(c.Failures) > 0:
			note = c.Failures[0].Msg
			if c.Divergence != "" {
				note += "; first divergence " + c.Divergence
			}
		case len(c.Errors) > 0:
			note = c.Errors[0]
		}
		if c.Critical {
			note = strings.TrimSpace("critical " + note)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t$%.4f\t%s\n", c.Case, c.Variant, c.Status, c.Passed, c.Repeats, strings.Join(c.Decisions, ","), c.CostUSD, oneLine(note, 140))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	t := rep.Totals
	fmt.Fprintf(w, "\n%d case(s): %d pass, %d fail, %d flaky, %d error, %d skipped, %d quarantined; cost $%.4f\n",
		t.Cases, t.Pass, t.Fail, t.Flaky, t.Error, t.Skipped, t.Quarantined, t.CostUSD)
	for _, c := range rep.Cases {
		if len(c.NotChecked) > 0 {
			fmt.Fprintf(w, "not checked: %s: %s (free text for a judge: neither passed nor failed here)\n", c.Case, strings.Join(c.NotChecked, ", "))
		}
	}
	for _, s := range rep.Incomplete {
		fmt.Fprintf(w, "incomplete: %s\n", s)
	}
	return nil
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// JUnit.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name       string          `xml:"name,attr"`
	Classname  string          `xml:"classname,attr"`
	File       string          `xml:"file,attr,omitempty"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Failure    *junitMsg       `xml:"failure,omitempty"`
	Error      *junitMsg       `xml:"error,omitempty"`
	Skipped    *junitMsg       `xml:"skipped,omitempty"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitMsg struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func secs(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }

// WriteJUnit writes one testsuite per variant, one testcase per case with
// its verdict over the repeats: failure for a failed (or flaky) case,
// error for one that could not run, skipped for skipped and quarantined
// ones; the message holds the k/n pass count.
func (rep *Report) WriteJUnit(w io.Writer) error {
	out := junitSuites{Name: rep.Suite}
	idx := map[string]int{}
	for _, v := range rep.Variants {
		idx[v.Name] = len(out.Suites)
		out.Suites = append(out.Suites, junitSuite{Name: rep.Suite + "/" + v.Name,
			Properties: []junitProperty{{"variant", v.Name}, {"variant_hash", v.Hash}, {"flags", v.Flags}}})
	}
	var total int64
	for _, c := range rep.Cases {
		s := &out.Suites[idx[c.Variant]]
		tc := junitCase{Name: c.Case, Classname: rep.Suite + "." + c.Variant, File: c.File, Time: secs(c.DurationMS),
			Properties: []junitProperty{{"variant", c.Variant}, {"passed", fmt.Sprintf("%d/%d", c.Passed, c.Repeats)}}}
		if c.Critical {
			tc.Properties = append(tc.Properties, junitProperty{"critical", "true"})
		}
		if len(c.RunIDs) > 0 {
			tc.Properties = append(tc.Properties, junitProperty{"runs", strings.Join(c.RunIDs, " ")})
		}
		count := fmt.Sprintf("%d/%d repeats passed", c.Passed, c.Repeats)
		body := func() string {
			var b strings.Builder
			for _, f := range c.Failures {
				fmt.Fprintf(&b, "%s: %s\n", f.Expect, f.Msg)
			}
			if c.Divergence != "" {
				fmt.Fprintf(&b, "first divergence: %s\n", c.Divergence)
			}
			for _, e := range c.Errors {
				fmt.Fprintln(&b, e)
			}
			return b.String()
		}
		switch c.Status {
		case Fail, Flaky:
			msg := count
			if len(c.Failures) > 0 {
				msg += ": " + c.Failures[0].Msg
			}
			tc.Failure = &junitMsg{Message: msg, Type: c.Status, Body: body()}
			s.Failures++
		case Error:
			tc.Error = &junitMsg{Message: count + ": " + firstOr(c.Errors, "error"), Type: "error", Body: body()}
			s.Errors++
		case Skipped:
			tc.Skipped = &junitMsg{Message: firstOr(c.Errors, "skipped")}
			s.Skipped++
		case Quarantined:
			tc.Skipped = &junitMsg{Message: fmt.Sprintf("quarantined (%s, %s): %s", c.Outcome, count, c.Quarantine)}
			s.Skipped++
		default:
			tc.SystemOut = count
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
		total += c.DurationMS
	}
	for i := range out.Suites {
		s := &out.Suites[i]
		var ms int64
		for _, c := range rep.Cases {
			if c.Variant == strings.TrimPrefix(s.Name, rep.Suite+"/") {
				ms += c.DurationMS
			}
		}
		s.Time = secs(ms)
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
	}
	out.Time = secs(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// MarkdownLimit is the most WriteMarkdown writes: GitHub's step summary
// takes at most 1 MiB per step.
const MarkdownLimit = 1000 * 1024

// WriteMarkdown writes the summary for a pull request or a GitHub Actions
// step summary: the totals, a table, and each failing case with its first
// divergence. It stays under MarkdownLimit, saying what it left out.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	t := rep.Totals
	icon := map[string]string{Pass: "✅", Fail: "❌", Flaky: "⚠️", Error: "💥", Skipped: "⏭️", Quarantined: "🔒"}
	fmt.Fprintf(&b, "## replay eval: %s", md(rep.Suite))
	if rep.Shard != "" {
		fmt.Fprintf(&b, " (shard %s)", rep.Shard)
	}
	fmt.Fprintf(&b, "\n\n**%d pass, %d fail, %d flaky, %d error, %d skipped, %d quarantined** of %d case(s) · cost $%.4f\n\n",
		t.Pass, t.Fail, t.Flaky, t.Error, t.Skipped, t.Quarantined, t.Cases, t.CostUSD)
	for _, s := range rep.Incomplete {
		fmt.Fprintf(&b, "> incomplete: %s\n", md(s))
	}
	if len(rep.Incomplete) > 0 {
		b.WriteString("\n")
	}
	if len(rep.Variants) > 0 {
		b.WriteString("| variant | flags |\n| --- | --- |\n")
		for _, v := range rep.Variants {
			fmt.Fprintf(&b, "| %s | `%s` |\n", md(v.Name), strings.ReplaceAll(v.Flags, "`", "'"))
		}
		b.WriteString("\n")
	}
	b.WriteString("| | case | variant | passed | decisions | cost |\n| --- | --- | --- | --- | --- | --- |\n")
	var details strings.Builder
	left := 0
	for _, c := range rep.Cases {
		row := fmt.Sprintf("| %s %s | %s | %s | %d/%d | %s | $%.4f |\n", icon[c.Status], c.Status, md(c.Case), md(c.Variant), c.Passed, c.Repeats, md(strings.Join(c.Decisions, ", ")), c.CostUSD)
		if b.Len()+len(row)+details.Len() > MarkdownLimit-4096 {
			left++
			continue
		}
		b.WriteString(row)
		if c.Status == Fail || c.Status == Flaky || c.Status == Error {
			var d strings.Builder
			fmt.Fprintf(&d, "\n### %s %s · %s\n\n", icon[c.Status], md(c.Case), md(c.Variant))
			if c.Feedback != "" {
				fmt.Fprintf(&d, "Label from the human: %s.\n\n", md(c.Feedback))
			}
			for _, f := range c.Failures {
				fmt.Fprintf(&d, "- **%s**: %s\n", md(f.Expect), md(f.Msg))
			}
			if c.Divergence != "" {
				fmt.Fprintf(&d, "- first divergence: %s\n", md(c.Divergence))
			}
			for _, e := range c.Errors {
				fmt.Fprintf(&d, "- %s\n", md(oneLine(e, 400)))
			}
			if len(c.RunIDs) > 0 && c.Original != "" {
				fmt.Fprintf(&d, "\n`replay diff %s %s`\n", short(c.Original), short(c.RunIDs[0]))
			}
			if b.Len()+details.Len()+d.Len() < MarkdownLimit-4096 {
				details.WriteString(d.String())
			}
		}
	}
	if left > 0 {
		fmt.Fprintf(&b, "\n*%d more case(s) left out to stay under GitHub's 1 MiB summary limit; the JSON report (--json) has them all.*\n", left)
	}
	b.WriteString(details.String())
	_, err := io.WriteString(w, b.String())
	return err
}

// md makes text inert in a Markdown table cell.
func md(s string) string {
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "\n", " ", "`", "'", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}
