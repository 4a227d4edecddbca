package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
)

// FixtureState is output/fixture-state.json as the factory's
// capture-fixture.sh writes it from `gh issue view` / `gh pr view`.
type FixtureState struct {
	FixtureType string    `json:"fixture_type"`
	FixtureURL  string    `json:"fixture_url"`
	State       string    `json:"state"` // OPEN, CLOSED, MERGED
	Title       string    `json:"title"`
	Labels      []string  `json:"labels"`
	Assignees   []string  `json:"assignees"`
	Milestone   *string   `json:"milestone"`
	Comments    []Comment `json:"comments"`
	// Pull requests only.
	Mergeable      *string   `json:"mergeable,omitempty"`
	ReviewDecision *string   `json:"review_decision,omitempty"`
	Reviews        *[]Review `json:"reviews,omitempty"`
}

// Comment is a comment on the item.
type Comment struct {
	Author    string `json:"author"`
	Body      string `json:"body"`
	CreatedAt string `json:"created_at"`
}

// Review is a review of a pull request.
type Review struct {
	Author string `json:"author"`
	State  string `json:"state"`
	Body   string `json:"body"`
}

// ApplyDecision applies what a run's decision does on GitHub that its
// effects did not already do, as the factory's post-script would: a
// review decision (approve, request-changes, comment) submitted as a
// review when the run submitted none; a decision's labels added. It
// returns the effects applied.
func ApplyDecision(st *replay.GitHubState, d *trace.Decision, effs []trace.Effect) []trace.Effect {
	if d == nil || len(d.Value) == 0 || st.Target() == "" {
		return nil
	}
	var v struct {
		Action string          `json:"action"`
		Body   string          `json:"body"`
		Labels json.RawMessage `json:"labels"`
	}
	if json.Unmarshal(d.Value, &v) != nil {
		return nil
	}
	var out []trace.Effect
	reviewed := false
	for _, e := range effs {
		reviewed = reviewed || e.Kind == trace.EffectReview
	}
	event := map[string]string{"approve": "APPROVE", "request-changes": "REQUEST_CHANGES", "comment": "COMMENT"}[strings.ToLower(strings.ReplaceAll(v.Action, "_", "-"))]
	if event != "" && st.IsPR() && !reviewed {
		out = append(out, trace.Effect{Kind: trace.EffectReview, Target: st.Target(), Review: event, Body: v.Body, Answer: "decision"})
	}
	if labels := labelNames(v.Labels); len(labels) > 0 {
		out = append(out, trace.Effect{Kind: trace.EffectLabelAdd, Target: st.Target(), Labels: labels, Answer: "decision"})
	}
	for _, e := range out {
		st.Apply(e)
	}
	return out
}

// labelNames reads a decision's labels: ["bug"], [{"name": "bug"}], or
// both.
func labelNames(raw json.RawMessage) []string {
	var list []any
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var names []string
	for _, x := range list {
		switch v := x.(type) {
		case string:
			if v != "" {
				names = append(names, v)
			}
		case map[string]any:
			if n, ok := v["name"].(string); ok && n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}

// FixtureStateOf is the captured state of the snapshot's item, as gh
// would show it.
func FixtureStateOf(st *replay.GitHubState) FixtureState {
	fs := FixtureState{FixtureType: Issue, FixtureURL: st.URL(), State: "OPEN", Labels: []string{}, Assignees: []string{}, Comments: []Comment{}}
	name := "issue.json"
	if st.IsPR() {
		fs.FixtureType, name = PullRequest, "pr.json"
	}
	var it struct {
		State     string `json:"state"`
		Merged    bool   `json:"merged"`
		Title     string `json:"title"`
		Mergeable *bool  `json:"mergeable"`
		Labels    []struct {
			Name string `json:"name"`
		} `json:"labels"`
		Assignees []struct {
			Login string `json:"login"`
		} `json:"assignees"`
		Milestone *struct {
			Title string `json:"title"`
		} `json:"milestone"`
	}
	if b, ok := st.File(name); ok {
		json.Unmarshal(b, &it)
	}
	switch {
	case it.Merged:
		fs.State = "MERGED"
	case strings.EqualFold(it.State, "closed"):
		fs.State = "CLOSED"
	}
	fs.Title = it.Title
	for _, l := range it.Labels {
		fs.Labels = append(fs.Labels, l.Name)
	}
	for _, a := range it.Assignees {
		fs.Assignees = append(fs.Assignees, a.Login)
	}
	if it.Milestone != nil {
		fs.Milestone = &it.Milestone.Title
	}
	var comments []struct {
		User struct {
			Login string `json:"login"`
		} `json:"user"`
		Body        string `json:"body"`
		State       string `json:"state"`
		CreatedAt   string `json:"created_at"`
		SubmittedAt string `json:"submitted_at"`
	}
	if b, ok := st.File("comments.json"); ok {
		json.Unmarshal(b, &comments)
	}
	for _, c := range comments {
		fs.Comments = append(fs.Comments, Comment{Author: c.User.Login, Body: c.Body, CreatedAt: c.CreatedAt})
	}
	if fs.FixtureType != PullRequest {
		return fs
	}
	m := "UNKNOWN"
	if it.Mergeable != nil {
		m = map[bool]string{true: "MERGEABLE", false: "CONFLICTING"}[*it.Mergeable]
	}
	fs.Mergeable = &m
	comments = nil
	if b, ok := st.File("reviews.json"); ok {
		json.Unmarshal(b, &comments)
	}
	reviews := []Review{}
	fs.Reviews = &reviews
	latest := map[string]string{}
	var order []string
	for _, r := range comments {
		reviews = append(reviews, Review{Author: r.User.Login, State: r.State, Body: r.Body})
		if r.State == "APPROVED" || r.State == "CHANGES_REQUESTED" || r.State == "DISMISSED" {
			if _, seen := latest[r.User.Login]; !seen {
				order = append(order, r.User.Login)
			}
			latest[r.User.Login] = r.State
		}
	}
	// gh's reviewDecision: changes requested by anyone whose latest review
	// requests them, else approved when someone approved.
	rd := ""
	for _, who := range order {
		switch latest[who] {
		case "CHANGES_REQUESTED":
			rd = "CHANGES_REQUESTED"
		case "APPROVED":
			if rd == "" {
				rd = "APPROVED"
			}
		}
	}
	fs.ReviewDecision = &rd
	return fs
}

// Metrics is {output_dir}/metrics.json in the runner contract's shape.
// TotalCostUSD repeats CostUSD under the name the factory's max_cost judge
// reads.
type Metrics struct {
	TokenUsage    *Tokens               `json:"token_usage,omitempty"`
	CostUSD       *float64              `json:"cost_usd,omitempty"`
	TotalCostUSD  *float64              `json:"total_cost_usd,omitempty"`
	NumTurns      *int                  `json:"num_turns,omitempty"`
	Model         string                `json:"model,omitempty"`
	ModelsUsed    []string              `json:"models_used,omitempty"`
	PerModelUsage map[string]ModelUsage `json:"per_model_usage,omitempty"`
	PerModelTurns map[string]int        `json:"per_model_turns,omitempty"`
}

// Tokens are input (prompt tokens, cached ones included) and output tokens.
type Tokens struct {
	Input  int64 `json:"input"`
	Output int64 `json:"output"`
}

// ModelUsage is one model's share.
type ModelUsage struct {
	Input   int64   `json:"input"`
	Output  int64   `json:"output"`
	CostUSD float64 `json:"cost_usd"`
}

// MetricsOf reads a run's usage (sub-agents included): its model calls as
// turns, their tokens, their cost (priced, else recorded; the calls a fork
// took from the recording cost nothing).
func MetricsOf(r *trace.Run, pricer trace.Pricer) Metrics {
	m := Metrics{PerModelUsage: map[string]ModelUsage{}, PerModelTurns: map[string]int{}}
	var tok Tokens
	cost, turns := 0.0, 0
	r.Walk(func(x *trace.Run) {
		for _, s := range x.Steps {
			l := s.LLM
			if l == nil || l.Synthetic {
				continue
			}
			model := l.Model
			if model == "" {
				model = l.Params.Model
			}
			if model == "" {
				model = "unknown"
			}
			turns++
			m.PerModelTurns[model]++
			mu := m.PerModelUsage[model]
			if l.Usage != nil {
				in := l.Usage.Input + l.Usage.CacheRead + l.Usage.CacheWrite
				tok.Input += in
				tok.Output += l.Usage.Output
				mu.Input += in
				mu.Output += l.Usage.Output
			}
			c := 0.0
			switch {
			case l.Cost.Priced != nil:
				c = *l.Cost.Priced
			case l.Cost.Recorded != nil:
				c = *l.Cost.Recorded
			case pricer != nil && l.Usage != nil:
				c, _ = pricer.Price(model, *l.Usage)
			}
			cost += c
			mu.CostUSD += c
			m.PerModelUsage[model] = mu
		}
	})
	m.TokenUsage, m.CostUSD, m.TotalCostUSD, m.NumTurns = &tok, &cost, &cost, &turns
	for model := range m.PerModelTurns {
		m.ModelsUsed = append(m.ModelsUsed, model)
	}
	sort.Strings(m.ModelsUsed)
	// The model is the main run's.
	for _, s := range r.Steps {
		if s.LLM != nil && !s.LLM.Synthetic {
			m.Model = s.LLM.Model
			if m.Model == "" {
				m.Model = s.LLM.Params.Model
			}
		}
	}
	if m.Model == "" && len(m.ModelsUsed) > 0 {
		m.Model = m.ModelsUsed[0]
	}
	return m
}

// Check compares a fixture state and metrics with the annotations: the
// failures ("" field-free messages) of labels.required, labels.forbidden,
// state, review_decision, max_turns and max_cost_usd.
func (a *Annotations) Check(fs FixtureState, m Metrics) []Failure {
	var out []Failure
	has := func(l string) bool {
		for _, x := range fs.Labels {
			if strings.EqualFold(x, l) {
				return true
			}
		}
		return false
	}
	var missing, present []string
	for _, l := range a.Labels.Required {
		if !has(l) {
			missing = append(missing, l)
		}
	}
	for _, l := range a.Labels.Forbidden {
		if has(l) {
			present = append(present, l)
		}
	}
	if len(missing) > 0 {
		out = append(out, Failure{"labels.required", "missing labels " + strings.Join(missing, ", ") + " (labels: " + strings.Join(fs.Labels, ", ") + ")"})
	}
	if len(present) > 0 {
		out = append(out, Failure{"labels.forbidden", "forbidden labels present: " + strings.Join(present, ", ")})
	}
	if a.State != "" && !strings.EqualFold(a.State, fs.State) {
		out = append(out, Failure{"state", "state " + strings.ToLower(fs.State) + ", want " + strings.ToLower(a.State)})
	}
	if a.ReviewDecision != "" {
		got := ""
		if fs.ReviewDecision != nil {
			got = *fs.ReviewDecision
		}
		if got != a.ReviewDecision {
			if got == "" {
				got = "none"
			}
			out = append(out, Failure{"review_decision", "review decision " + got + ", want " + a.ReviewDecision})
		}
	}
	if a.MaxTurns > 0 && m.NumTurns != nil && *m.NumTurns > a.MaxTurns {
		out = append(out, Failure{"max_turns", strings.TrimSpace(itoa(*m.NumTurns) + " turns, more than " + itoa(a.MaxTurns))})
	}
	if a.MaxCostUSD > 0 && m.CostUSD != nil && *m.CostUSD > a.MaxCostUSD {
		out = append(out, Failure{"max_cost_usd", "cost $" + ftoa(*m.CostUSD) + ", more than $" + ftoa(a.MaxCostUSD)})
	}
	return out
}

// Failure is an annotation a run did not meet.
type Failure struct {
	Expect string `json:"expect"`
	Msg    string `json:"message"`
}

func itoa(n int) string { return strconv.Itoa(n) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }

// DirFiles is a GitHub snapshot saved as a directory of REST responses
// (a case's github/): the files are read when asked for.
type DirFiles string

// File implements replay.GitHubFiles.
func (d DirFiles) File(name string) ([]byte, bool) {
	if strings.ContainsAny(name, `/\`) || name == "" {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(string(d), name))
	return b, err == nil
}
