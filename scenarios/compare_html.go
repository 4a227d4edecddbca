package scenarios

import (
	"fmt"
	"html/template"
	"io"
)

// WriteHTML writes the comparison as one self-contained page: the arms'
// table and a grid of cases × arms (each cell the case's passes out of its
// runs, coloured by pass rate, with the first divergence of a failing
// run). Like replay diff's HTML it runs no script and makes no request
// (CSP default-src 'none').
func (c *Comparison) WriteHTML(w io.Writer, p *Plan, recs []Record) error {
	type cellView struct {
		Text, Title, Class string
	}
	type rowView struct {
		Case  string
		Cells []cellView
	}
	var arms []string
	for _, a := range c.Arms {
		arms = append(arms, a.Name)
	}
	type key struct{ c, a string }
	pass, runs := map[key]int{}, map[key]int{}
	div := map[key]string{}
	for _, r := range recs {
		k := key{r.Case, r.VariantName}
		switch r.Status {
		case Pass:
			pass[k]++
			runs[k]++
		case Fail:
			runs[k]++
			if div[k] == "" {
				div[k] = r.Divergence
			}
		}
	}
	var rows []rowView
	for _, cs := range p.Cases {
		row := rowView{Case: cs.ID}
		for _, a := range arms {
			k := key{cs.ID, a}
			cv := cellView{Text: "—", Class: "none", Title: "no finished run"}
			if n := runs[k]; n > 0 {
				cv.Text = fmt.Sprintf("%d/%d", pass[k], n)
				switch {
				case pass[k] == n:
					cv.Class = "pass"
				case pass[k] == 0:
					cv.Class = "fail"
				default:
					cv.Class = "flaky"
				}
				cv.Title = cv.Text + " runs passed"
				if div[k] != "" {
					cv.Title += "; first divergence " + div[k]
				}
			}
			row.Cells = append(row.Cells, cv)
		}
		rows = append(rows, row)
	}
	var buf = struct {
		C    *Comparison
		Arms []string
		Rows []rowView
		Text string
	}{C: sanitize(c), Arms: arms, Rows: rows}
	return compareTmpl.Execute(w, buf)
}

var compareTmpl = template.Must(template.New("compare").Funcs(template.FuncMap{
	"pct": pct,
	"pts": func(f float64) string { return fmt.Sprintf("%+.0f", 100*f) },
	"p":   func(f float64) string { return fmt.Sprintf("%.3g", f) },
	"ratio": func(r RatioStat) string {
		return ratioText(r)
	},
	"verdict": verdictText,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'none'">
<title>replay compare: {{.C.Suite}}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}
td.pass{background:#d7f5d7}td.fail{background:#f8d0d0}td.flaky{background:#fbeeb8}td.none{color:#999}
.grid td{text-align:center;font-variant-numeric:tabular-nums}
</style></head><body>
<h1>replay compare: {{.C.Suite}}</h1>
<p>{{.C.Cases}} case(s) × {{.C.Repeats}} repeat(s) per arm · baseline <b>{{.C.Baseline}}</b> · alpha {{.C.Alpha}} · seed {{.C.Seed}}</p>
<table><tr><th>variant</th><th>flags</th><th>pass rate</th><th>Δ vs baseline</th><th>p (Holm)</th><th>cases +/−</th><th>cost ratio</th><th>verdict</th></tr>
{{range .C.Arms}}{{$a := .}}<tr><td>{{.Name}}</td><td><code>{{.Flags}}</code></td><td>{{pct .PassRate}} [{{pct .PassLo}}, {{pct .PassHi}}]</td>
{{range $.C.Versus}}{{if eq .Variant $a.Name}}<td>{{pts .Delta}} pts [{{pts .Lo}}, {{pts .Hi}}]</td><td>{{p .P}} ({{p .PAdjusted}})</td><td>{{.Improved}}/{{.Regressed}}</td><td>{{ratio .Cost}}</td><td>{{verdict .Verdicts}}</td>{{end}}{{end}}
</tr>{{end}}
</table>
<h2>Cases</h2>
<table class="grid"><tr><th>case</th>{{range .Arms}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><th>{{.Case}}</th>{{range .Cells}}<td class="{{.Class}}" title="{{.Title}}">{{.Text}}</td>{{end}}</tr>
{{end}}</table>
{{range .C.Incomplete}}<p>incomplete: {{.}}</p>{{end}}
</body></html>
`))
