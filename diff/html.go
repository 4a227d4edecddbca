package diff

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// The HTML report is one self-contained file: inline style (allowed by its
// hash in the Content-Security-Policy), no script at all (the "show only
// changed" toggle is CSS), no image, font or link to fetch. Every piece of
// trace content goes through html/template's escaping; the policy forbids
// scripts besides, so nothing a trace holds can run.

const htmlStyle = `
:root{--a:#b42318;--b:#067647;--warn:#b54708;--mut:#667085;--line:#eaecf0;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:14px;color:#101828}
body{margin:0;padding:24px;max-width:1400px}
h1{font-size:18px;margin:0 0 8px}h2{font-size:15px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.verdict.differ{color:var(--a)}.verdict.agree{color:var(--b)}
.warning{color:var(--warn)}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f9fafb;border:1px solid var(--line);padding:8px;overflow:auto;max-height:420px;margin:4px 0;white-space:pre-wrap;word-break:break-word}
.lanes{display:grid;grid-template-columns:1fr 72px 1fr;gap:0;border-top:1px solid var(--line)}
.row{display:contents}
.row>div{padding:4px 8px;border-bottom:1px solid var(--line);min-width:0;overflow-wrap:anywhere}
.axis{text-align:center;color:var(--mut);font-variant-numeric:tabular-nums}
.lanehead{font-weight:600;background:#f2f4f7}
.row.deleted .lane-a{background:#fef3f2}.row.inserted .lane-b{background:#ecfdf3}
.row.changed .lane-a,.row.changed .lane-b{background:#fffaeb}
.row.divergence>div{border-top:2px solid var(--a);border-bottom:2px solid var(--a)}
.marker{color:var(--a);font-weight:600;font-size:12px}
.recovery{color:var(--b);font-weight:600;font-size:12px}
.kind{font-size:11px;text-transform:uppercase;color:var(--mut);margin-right:6px}
.tool{font-weight:600}
.empty{color:var(--mut)}
details>summary{cursor:pointer}
.toggle{margin:8px 0;display:block}
body:has(#only-changed:checked) .row.equal{display:none}
ins{background:#ecfdf3;text-decoration:none}del{background:#fef3f2}
.diff .add{color:var(--b)}.diff .del{color:var(--a)}.diff .hunk{color:var(--mut)}
`

func styleHash() string {
	sum := sha256.Sum256([]byte(htmlStyle))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

type htmlStep struct {
	Kind, Title, Detail string
	Cut                 string
	Empty               bool
}

type htmlRow struct {
	Class    string
	Axis     string
	A, B     htmlStep
	Kind     string
	Marker   string
	Recovery bool
	ID       string
}

type htmlData struct {
	R        *Report
	CSP      string
	Style    template.CSS
	Verdict  string
	Rows     []htmlRow
	Children []string
	Costs    [][5]string
	Tools    [][4]string
	Files    string
	Findings []string
	Decision []string
	Title    [2]string
	Produced [2]string
	Max      int
}

var htmlFuncs = template.FuncMap{
	"diff": diffHTML,
	"calls": func(cs []CallRef) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = callRefText(c)
		}
		return out
	},
	"changes": func(a ArgChange) []string {
		var out []string
		for _, c := range a.Changes {
			out = append(out, fmt.Sprintf("step %d/%d %s %s", a.A, a.B, a.Tool, changeText(c)))
		}
		return out
	},
	"fc": fileChangeText,
}

var htmlTmpl = template.Must(template.New("diff").Funcs(htmlFuncs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="referrer" content="no-referrer">
<title>replay diff</title>
<style>{{.Style}}</style></head>
<body>
<h1 id="verdict" class="verdict {{.Verdict}}">{{.R.Verdict.Line}}</h1>
{{range .R.Warnings}}<p class="warning">warning: {{.}}</p>
{{end}}<table id="runs"><tr><th>A</th><td>{{index .Title 0}}</td></tr><tr><th>B</th><td>{{index .Title 1}}</td></tr></table>

<h2 id="decision">Decision ({{.R.Decision.Kind}})</h2>
<ul>{{range .Decision}}<li>{{.}}</li>{{end}}</ul>
{{if .Findings}}<ul class="findings">{{range .Findings}}<li>{{.}}</li>{{end}}</ul>{{end}}

<h2 id="steps">Steps (A {{.R.A.Steps}}, B {{.R.B.Steps}})</h2>
<input type="checkbox" id="only-changed"><label for="only-changed" class="toggle-label"> show only changed</label>
<div class="lanes" id="lanes">
<div class="row"><div class="lanehead lane-a">A</div><div class="lanehead axis">step</div><div class="lanehead lane-b">B</div></div>
{{range .Rows}}<div class="row {{.Class}}"{{if .ID}} id="{{.ID}}"{{end}} data-kind="{{.Kind}}">
<div class="lane-a">{{template "step" .A}}{{if .Marker}}<div class="marker">{{.Marker}}</div>{{end}}</div>
<div class="axis">{{.Axis}}</div>
<div class="lane-b">{{template "step" .B}}{{if .Recovery}}<div class="recovery">aligned again</div>{{end}}</div>
</div>
{{end}}</div>
{{if .Children}}<h3>Sub-agents</h3><ul>{{range .Children}}<li>{{.}}</li>{{end}}</ul>{{end}}

<h2 id="tools">Tools</h2>
<table><tr><th>tool</th><th>A</th><th>B</th><th>failed A / B</th></tr>
{{range .Tools}}<tr><td>{{index . 0}}</td><td class="n">{{index . 1}}</td><td class="n">{{index . 2}}</td><td class="n">{{index . 3}}</td></tr>
{{end}}</table>
<p>Results produced: A {{index .Produced 0}}; B {{index .Produced 1}}</p>
{{with .R.Tools.OnlyA}}<details><summary>Calls only in A ({{len .}})</summary><ul>{{range calls .}}<li>{{.}}</li>{{end}}</ul></details>{{end}}
{{with .R.Tools.OnlyB}}<details><summary>Calls only in B ({{len .}})</summary><ul>{{range calls .}}<li>{{.}}</li>{{end}}</ul></details>{{end}}
{{with .R.Tools.Failed}}<details><summary>Failed calls ({{len .}})</summary><ul>{{range calls .}}<li>{{.}}</li>{{end}}</ul></details>{{end}}
{{with .R.Tools.ArgChanges}}<details><summary>Changed arguments ({{len .}})</summary><ul>{{range .}}{{range changes .}}<li>{{.}}</li>{{end}}{{end}}</ul></details>{{end}}

<h2 id="files">Files</h2>
<p>{{.Files}}</p>
{{if .R.Files.Files}}<table><tr><th>file</th><th>A</th><th>B</th><th></th></tr>
{{range .R.Files.Files}}<tr><td>{{.Path}}</td><td>{{fc .A}}</td><td>{{fc .B}}</td><td>{{if .Same}}same{{else}}differs{{end}}</td></tr>
{{end}}</table>
{{range .R.Files.Files}}{{if .Diff}}<details><summary>{{.Path}}</summary>{{diff .Diff $.Max}}</details>{{end}}{{end}}{{else}}<p>No file changed.</p>{{end}}

<h2 id="cost">Cost</h2>
<p>Recorded and priced cost are kept apart.</p>
<table><tr><th></th><th>A</th><th>B</th><th>Δ</th><th>B/A</th></tr>
{{range .Costs}}<tr><td>{{index . 0}}</td><td class="n">{{index . 1}}</td><td class="n">{{index . 2}}</td><td class="n">{{index . 3}}</td><td class="n">{{index . 4}}</td></tr>
{{end}}</table>

<h2 id="final">Final message</h2>
{{if .R.Final.Equal}}<p>The same.</p>{{else}}{{diff .R.Final.Diff .Max}}{{end}}
</body></html>
{{define "step"}}{{if .Empty}}<span class="empty">—</span>{{else}}<span class="kind">{{.Kind}}</span><span class="tool">{{.Title}}</span>{{if .Detail}}<details><summary>{{if eq .Kind "tool"}}result{{else}}text{{end}}</summary><pre>{{.Detail}}</pre>{{if .Cut}}<p class="empty">{{.Cut}}</p>{{end}}</details>{{end}}{{end}}{{end}}
`))

// diffHTML renders a unified diff with its lines marked, escaped.
func diffHTML(d string, max int) template.HTML {
	s, cutted := cut(d, max)
	var b strings.Builder
	b.WriteString(`<pre class="diff">`)
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		cls := ""
		switch {
		case strings.HasPrefix(l, "@@"):
			cls = "hunk"
		case strings.HasPrefix(l, "+"):
			cls = "add"
		case strings.HasPrefix(l, "-"):
			cls = "del"
		}
		if cls != "" {
			b.WriteString(`<span class="` + cls + `">` + template.HTMLEscapeString(l) + "</span>\n")
		} else {
			b.WriteString(template.HTMLEscapeString(l) + "\n")
		}
	}
	b.WriteString("</pre>")
	if cutted {
		b.WriteString(`<p class="empty">` + template.HTMLEscapeString(cutNote(d, max)) + "</p>")
	}
	return template.HTML(b.String())
}

func htmlStepOf(s *Step, max int) htmlStep {
	if s == nil {
		return htmlStep{Empty: true}
	}
	h := htmlStep{Kind: s.Kind, Title: clip(callText(s), 200)}
	text := s.Text
	if s.Kind == "tool" {
		text = s.Output
		if s.Status != "" && s.Status != "ok" {
			text = "[" + s.Status + "]\n" + text
		}
	}
	if text != "" {
		d, cutted := cut(text, max)
		h.Detail = d
		if cutted {
			h.Cut = cutNote(text, max)
		}
	}
	return h
}

// WriteHTML writes the report as one self-contained page: the runs as two
// lanes on a shared step axis, the first divergence marked, a "show only
// changed" toggle and expandable results.
func WriteHTML(w io.Writer, r *Report, o RenderOptions) error {
	max := o.max()
	d := htmlData{R: r, Style: template.CSS(htmlStyle), Max: max,
		CSP:   "default-src 'none'; style-src " + styleHash() + "; script-src 'none'; img-src 'none'; base-uri 'none'; form-action 'none'",
		Title: [2]string{runTitle(r.A), runTitle(r.B)}, Costs: costRows(r.Cost), Tools: toolRows(r.Tools),
		Files: filesSource(r.Files), Produced: [2]string{producedText(r.Tools.Produced[0]), producedText(r.Tools.Produced[1])}}
	d.Verdict = "differ"
	if r.Verdict.Agree {
		d.Verdict = "agree"
	}
	dd := r.Decision
	if dd.Label[0] == dd.Label[1] {
		d.Decision = append(d.Decision, dd.Label[0]+" in both")
	} else {
		d.Decision = append(d.Decision, dd.Label[0]+" → "+dd.Label[1])
	}
	if dd.Agree {
		d.Decision[0] += ": agree"
	} else {
		d.Decision[0] += ": differ"
	}
	if f := dd.Findings; f != nil {
		d.Decision = append(d.Decision, "findings: "+findingsSummary(f))
		for _, x := range f.Added {
			d.Findings = append(d.Findings, "added: "+findingText(x))
		}
		for _, x := range f.Removed {
			d.Findings = append(d.Findings, "removed: "+findingText(x))
		}
		for _, c := range f.Changed {
			d.Findings = append(d.Findings, "changed: "+findingChangeText(c))
		}
	}
	if e := dd.Effects; e != nil {
		d.Decision = append(d.Decision, "github effects: "+effectsSummary(e))
		for _, x := range e.Added {
			d.Findings = append(d.Findings, "effect added: "+x.String())
		}
		for _, x := range e.Removed {
			d.Findings = append(d.Findings, "effect removed: "+x.String())
		}
	}
	if p := dd.Patch; p != nil {
		for _, f := range p.Files {
			d.Findings = append(d.Findings, patchFileText(f))
		}
	}
	for _, c := range dd.Changes {
		d.Findings = append(d.Findings, changeText(c))
	}
	for i, sp := range r.Steps {
		row := htmlRow{Class: string(sp.Op), Axis: stepNum(sp.A) + " · " + stepNum(sp.B), A: htmlStepOf(sp.A, max), B: htmlStepOf(sp.B, max), Kind: sp.Kind}
		if f := r.Verdict.First; f != nil && f.Run == "" && f.Pair == i {
			row.Class += " divergence"
			row.ID = "divergence"
			row.Marker = "first divergence: " + f.Kind + " (" + f.What + ")"
		}
		if rec := r.Verdict.Recovery; rec != nil && rec.Pair == i {
			row.Recovery = true
		}
		d.Rows = append(d.Rows, row)
	}
	for _, c := range flattenChildren(r.Children, nil) {
		d.Children = append(d.Children, childLine(c))
	}
	var b bytes.Buffer
	if err := htmlTmpl.Execute(&b, d); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

var manyTmpl = template.Must(template.New("many").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="referrer" content="no-referrer">
<title>replay diff</title>
<style>{{.Style}}</style></head>
<body>
<h1 id="verdict" class="verdict">{{.M.Line}}</h1>
<p>Original: {{.Orig}}</p>
<h2>Decisions</h2>
<table><tr><th>decision</th><th>replays</th><th>runs</th></tr>
{{range .M.Decisions}}<tr><td>{{.Decision}}{{if .Original}} (the original's){{end}}</td><td class="n">{{.Count}}/{{$.N}}</td><td>{{range $i, $r := .Runs}}{{if $i}}, {{end}}{{$r}}{{end}}</td></tr>
{{end}}</table>
<h2>Replays</h2>
<table><tr><th>#</th><th>replay</th><th>verdict</th></tr>
{{range $i, $r := .Rows}}<tr><td class="n">{{index $r 0}}</td><td>{{index $r 1}}</td><td>{{index $r 2}}</td></tr>
{{end}}</table>
</body></html>
`))

// WriteManyHTML writes a many-run report as one self-contained page.
func WriteManyHTML(w io.Writer, m *Many, o RenderOptions) error {
	var rows [][3]string
	for i, r := range m.Runs {
		rows = append(rows, [3]string{fmt.Sprint(i + 1), runTitle(r.B), r.Verdict.Line})
	}
	data := struct {
		M     *Many
		CSP   string
		Style template.CSS
		Orig  string
		N     int
		Rows  [][3]string
	}{m, "default-src 'none'; style-src " + styleHash() + "; script-src 'none'; img-src 'none'; base-uri 'none'; form-action 'none'",
		template.CSS(htmlStyle), runTitle(m.Original), len(m.Runs), rows}
	var b bytes.Buffer
	if err := manyTmpl.Execute(&b, data); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
