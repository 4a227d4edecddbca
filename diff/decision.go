package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// Decision diff kinds.
const (
	DecisionReview = "review" // a review: action and findings
	DecisionPatch  = "patch"  // a change to the workspace
	DecisionJSON   = "json"   // any other structured decision
	DecisionNone   = "none"   // neither run has a decision
)

// DecisionDiff compares the runs' decisions.
type DecisionDiff struct {
	Kind   string          `json:"kind"`
	Agree  bool            `json:"agree"`
	Label  [2]string       `json:"label"` // each side in a word or two ("none" when missing)
	A      json.RawMessage `json:"a"`
	B      json.RawMessage `json:"b"`
	Source [2]string       `json:"source"` // where each decision was found
	// Review: the actions, and the findings matched by file, line range
	// and category, then by text similarity.
	Action   *[2]string    `json:"action,omitempty"`
	Findings *FindingsDiff `json:"findings,omitempty"`
	// Patch: the files and hunks of the two changes.
	Patch *PatchDiff `json:"patch,omitempty"`
	// JSON: a structural diff.
	Changes []Change `json:"changes,omitempty"`
	// Effects compares the runs' GitHub writes (labels, comments, reviews,
	// state), which are part of the decision; nil when neither run has
	// any.
	Effects *EffectsDiff `json:"effects,omitempty"`
}

// EffectsDiff is the GitHub writes of two runs, matched by what they do
// (kind, target, what was written), in order.
type EffectsDiff struct {
	Same    int            `json:"same"`
	Added   []trace.Effect `json:"added"`   // in B only
	Removed []trace.Effect `json:"removed"` // in A only
}

// effectsOf is a run's effects: those it records, else (a trace that
// records none) what opts.Effects reads from its tool calls.
func effectsOf(r *trace.Run, opts Options) []trace.Effect {
	if effs := r.AllEffects(); len(effs) > 0 || r.Meta.Replay != nil || opts.Effects == nil {
		return effs
	}
	return opts.Effects(r)
}

func diffEffects(a, b []trace.Effect) *EffectsDiff {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	d := &EffectsDiff{Added: []trace.Effect{}, Removed: []trace.Effect{}}
	left := map[string]int{}
	for _, e := range a {
		left[e.Key()]++
	}
	for _, e := range b {
		if left[e.Key()] > 0 {
			left[e.Key()]--
			d.Same++
		} else {
			d.Added = append(d.Added, e)
		}
	}
	for _, e := range a {
		if left[e.Key()] > 0 {
			left[e.Key()]--
			d.Removed = append(d.Removed, e)
		}
	}
	return d
}

func effectsSummary(e *EffectsDiff) string {
	return fmt.Sprintf("%d same, %d added, %d removed", e.Same, len(e.Added), len(e.Removed))
}

// Finding is one finding of a review.
type Finding struct {
	Severity    string `json:"severity,omitempty"`
	Category    string `json:"category,omitempty"`
	File        string `json:"file,omitempty"`
	Line        string `json:"line,omitempty"`
	Description string `json:"description,omitempty"`
	Index       int    `json:"index"` // position in its decision's findings, from 0
	lo, hi      int
}

// FindingsDiff is the findings of two reviews, matched.
type FindingsDiff struct {
	Same    int             `json:"same"` // matched and unchanged
	Added   []Finding       `json:"added"`
	Removed []Finding       `json:"removed"`
	Changed []FindingChange `json:"changed"`
}

// FindingChange is a finding of A matched with one of B that differs.
type FindingChange struct {
	A          Finding  `json:"a"`
	B          Finding  `json:"b"`
	Fields     []string `json:"fields"` // severity, line, category, description
	Similarity float64  `json:"similarity"`
}

// PatchDiff compares two workspace changes file by file.
type PatchDiff struct {
	Files []PatchFile `json:"files"`
}

// PatchFile is one file of either change.
type PatchFile struct {
	Path         string `json:"path"`
	Status       string `json:"status"` // same, changed, only_a, only_b
	HunksAdded   int    `json:"hunks_added"`
	HunksRemoved int    `json:"hunks_removed"`
	HunksSame    int    `json:"hunks_same"`
}

func decisionOf(r *trace.Run) *trace.Decision {
	if r.Outcome != nil && r.Outcome.Decision != nil && len(r.Outcome.Decision.Value) > 0 {
		return r.Outcome.Decision
	}
	return nil
}

func patchOf(r *trace.Run) string {
	if r.Outcome != nil {
		return r.Outcome.Patch
	}
	return ""
}

func diffDecision(a, b *trace.Run, opts Options) DecisionDiff {
	da, db := decisionOf(a), decisionOf(b)
	d := DecisionDiff{Label: [2]string{label(da), label(db)}}
	if da != nil {
		d.A, d.Source[0] = da.Value, da.Source
	}
	if db != nil {
		d.B, d.Source[1] = db.Value, db.Source
	}
	switch {
	case isReview(da) || isReview(db):
		d.Kind = DecisionReview
		ra, rb := review(da), review(db)
		d.Action = &[2]string{ra.Action, rb.Action}
		d.Findings = matchFindings(ra.findings(), rb.findings())
		f := d.Findings
		severity := false
		for _, c := range f.Changed {
			for _, fl := range c.Fields {
				severity = severity || fl == "severity"
			}
		}
		d.Agree = ra.Action == rb.Action && len(f.Added) == 0 && len(f.Removed) == 0 && !severity
	case da != nil || db != nil:
		d.Kind = DecisionJSON
		d.Changes = jsonChanges(valueOf(da), valueOf(db))
		d.Agree = da != nil && db != nil && len(d.Changes) == 0
	case patchOf(a) != "" || patchOf(b) != "":
		d.Kind = DecisionPatch
		d.Label = [2]string{patchLabel(patchOf(a)), patchLabel(patchOf(b))}
		d.Patch = diffPatches(patchOf(a), patchOf(b))
		d.Agree = true
		for _, f := range d.Patch.Files {
			if f.Status != "same" {
				d.Agree = false
			}
		}
	default:
		d.Kind, d.Agree = DecisionNone, true
	}
	if d.Effects = diffEffects(effectsOf(a, opts), effectsOf(b, opts)); d.Effects != nil && (len(d.Effects.Added) > 0 || len(d.Effects.Removed) > 0) {
		d.Agree = false
	}
	return d
}

func valueOf(d *trace.Decision) json.RawMessage {
	if d == nil {
		return nil
	}
	return d.Value
}

type reviewValue struct {
	Action   string            `json:"action"`
	Findings []json.RawMessage `json:"findings"`
}

func review(d *trace.Decision) reviewValue {
	var v reviewValue
	if d != nil {
		_ = json.Unmarshal(d.Value, &v)
	}
	if v.Action == "" {
		v.Action = "none"
	}
	return v
}

func isReview(d *trace.Decision) bool {
	if d == nil {
		return false
	}
	if d.Kind == "review" {
		return true
	}
	var v reviewValue
	return json.Unmarshal(d.Value, &v) == nil && trace.IsReviewAction(v.Action)
}

func (v reviewValue) findings() []Finding {
	out := make([]Finding, 0, len(v.Findings))
	for i, raw := range v.Findings {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		f := Finding{Index: i, Severity: str(m["severity"]), Category: str(m["category"]), File: str(m["file"]),
			Description: str(m["description"])}
		if f.Description == "" {
			f.Description = str(m["message"])
		}
		line := m["line"]
		if line == nil {
			line = m["lines"]
		}
		f.Line = str(line)
		if s, e := str(m["start_line"]), str(m["end_line"]); f.Line == "" && s != "" {
			f.Line = s
			if e != "" && e != s {
				f.Line += "-" + e
			}
		}
		f.lo, f.hi = lineRange(f.Line)
		out = append(out, f)
	}
	return out
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// lineRange reads "12", "12-20" or "12:20"; 0, 0 when there is none.
func lineRange(s string) (int, int) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "L"))
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		lo, hi, ok = strings.Cut(s, ":")
	}
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil {
		return 0, 0
	}
	if !ok {
		return a, a
	}
	b, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(hi), "L"))
	if err != nil || b < a {
		return a, a
	}
	return a, b
}

func overlaps(x, y Finding) bool {
	if x.lo == 0 || y.lo == 0 {
		return x.lo == y.lo
	}
	return x.lo <= y.hi+3 && y.lo <= x.hi+3 // near enough: a line or three off is the same place
}

// matchFindings pairs the findings of two reviews: first those at the same
// file, line range and category; then, in the same file, by text
// similarity; then by text similarity alone. What is left was added or
// removed.
func matchFindings(fa, fb []Finding) *FindingsDiff {
	d := &FindingsDiff{Added: []Finding{}, Removed: []Finding{}, Changed: []FindingChange{}}
	usedA, usedB := make([]bool, len(fa)), make([]bool, len(fb))
	type cand struct {
		i, j int
		sim  float64
	}
	pass := func(ok func(x, y Finding) bool, minSim float64) {
		var cs []cand
		for i, x := range fa {
			if usedA[i] {
				continue
			}
			for j, y := range fb {
				if usedB[j] || !ok(x, y) {
					continue
				}
				if s := similarity(x.Description, y.Description); s >= minSim {
					cs = append(cs, cand{i, j, s})
				}
			}
		}
		sort.SliceStable(cs, func(p, q int) bool { return cs[p].sim > cs[q].sim })
		for _, c := range cs {
			if usedA[c.i] || usedB[c.j] {
				continue
			}
			usedA[c.i], usedB[c.j] = true, true
			x, y := fa[c.i], fb[c.j]
			var fields []string
			if x.Severity != y.Severity {
				fields = append(fields, "severity")
			}
			if x.File != y.File {
				fields = append(fields, "file")
			}
			if x.Line != y.Line {
				fields = append(fields, "line")
			}
			if x.Category != y.Category {
				fields = append(fields, "category")
			}
			if x.Description != y.Description {
				fields = append(fields, "description")
			}
			if len(fields) == 0 {
				d.Same++
				continue
			}
			d.Changed = append(d.Changed, FindingChange{A: x, B: y, Fields: fields, Similarity: round2(c.sim)})
		}
	}
	pass(func(x, y Finding) bool { return x.File == y.File && overlaps(x, y) && x.Category == y.Category }, 0)
	pass(func(x, y Finding) bool { return x.File == y.File }, 0.5)
	pass(func(x, y Finding) bool { return true }, 0.7)
	for i, x := range fa {
		if !usedA[i] {
			d.Removed = append(d.Removed, x)
		}
	}
	for j, y := range fb {
		if !usedB[j] {
			d.Added = append(d.Added, y)
		}
	}
	sort.SliceStable(d.Changed, func(p, q int) bool { return d.Changed[p].A.Index < d.Changed[q].A.Index })
	return d
}

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

// similarity is the Jaccard index of the texts' word sets (1 for two empty
// texts).
func similarity(a, b string) float64 {
	wa, wb := words(a), words(b)
	if len(wa) == 0 && len(wb) == 0 {
		return 1
	}
	inter := 0
	for w := range wa {
		if wb[w] {
			inter++
		}
	}
	return float64(inter) / float64(len(wa)+len(wb)-inter)
}

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
	}) {
		m[w] = true
	}
	return m
}

// label shows a decision in a word or two.
func label(d *trace.Decision) string {
	if d == nil {
		return "none"
	}
	if isReview(d) {
		return review(d).Action
	}
	var b bytes.Buffer
	if json.Compact(&b, d.Value) != nil {
		return clip(oneLine(string(d.Value)), 40)
	}
	return clip(b.String(), 40)
}

func patchLabel(p string) string {
	if p == "" {
		return "none"
	}
	fs := parsePatch(p)
	return fmt.Sprintf("patch (%s)", plural(len(fs), "file"))
}

func diffPatches(a, b string) *PatchDiff {
	fa, fb := parsePatch(a), parsePatch(b)
	byPath := map[string][2]*patchFile{}
	var paths []string
	for i := range fa {
		e := byPath[fa[i].path]
		if e[0] == nil && e[1] == nil {
			paths = append(paths, fa[i].path)
		}
		e[0] = &fa[i]
		byPath[fa[i].path] = e
	}
	for i := range fb {
		e := byPath[fb[i].path]
		if e[0] == nil && e[1] == nil {
			paths = append(paths, fb[i].path)
		}
		e[1] = &fb[i]
		byPath[fb[i].path] = e
	}
	sort.Strings(paths)
	pd := &PatchDiff{Files: []PatchFile{}}
	for _, p := range paths {
		e := byPath[p]
		f := PatchFile{Path: p}
		switch {
		case e[0] == nil:
			f.Status, f.HunksAdded = "only_b", len(e[1].hunks)
		case e[1] == nil:
			f.Status, f.HunksRemoved = "only_a", len(e[0].hunks)
		default:
			ha := map[string]int{}
			for _, h := range e[0].hunks {
				ha[h]++
			}
			for _, h := range e[1].hunks {
				if ha[h] > 0 {
					ha[h]--
					f.HunksSame++
				} else {
					f.HunksAdded++
				}
			}
			for _, n := range ha {
				f.HunksRemoved += n
			}
			f.Status = "changed"
			if f.HunksAdded == 0 && f.HunksRemoved == 0 {
				f.Status = "same"
			}
		}
		pd.Files = append(pd.Files, f)
	}
	return pd
}
