package fullsend

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// layout is what a run directory holds, found without reading file contents.
type layout struct {
	dir        string
	telemetry  string // run-telemetry.jsonl, or ""
	metrics    string // metrics.json, or ""
	iterations []iteration
}

type iteration struct {
	n           int
	dir         string
	output      string   // output.jsonl (stream-json), or ""
	transcript  string   // the agent's own transcript, or ""
	subagents   []string // <agent>-agent-<id>.jsonl
	results     []string // output/*.json
	extraTransc []string // further session transcripts (a resumed session), imported as children
}

var iterDir = regexp.MustCompile(`^iteration-(\d+)$`)

// scan finds the parts of a run directory. It fails when the directory
// holds none of them.
func scan(dir string) (*layout, error) {
	l := &layout{dir: dir}
	if isFile(filepath.Join(dir, "run-telemetry.jsonl")) {
		l.telemetry = filepath.Join(dir, "run-telemetry.jsonl")
	}
	if isFile(filepath.Join(dir, "metrics.json")) {
		l.metrics = filepath.Join(dir, "metrics.json")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read run directory %q: %w", dir, err)
	}
	for _, e := range ents {
		m := iterDir.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		it, err := scanIteration(filepath.Join(dir, e.Name()), n)
		if err != nil {
			return nil, err
		}
		l.iterations = append(l.iterations, it)
	}
	slices.SortFunc(l.iterations, func(a, b iteration) int { return a.n - b.n })
	if l.telemetry == "" && l.metrics == "" && len(l.iterations) == 0 {
		return nil, fmt.Errorf("%s: %w: no run-telemetry.jsonl, metrics.json or iteration-N directory", dir, trace.ErrNotTrace)
	}
	return l, nil
}

func scanIteration(dir string, n int) (iteration, error) {
	it := iteration{n: n, dir: dir}
	if isFile(filepath.Join(dir, "output.jsonl")) {
		it.output = filepath.Join(dir, "output.jsonl")
	}
	tr, _ := filepath.Glob(filepath.Join(dir, "transcripts", "*.jsonl"))
	slices.Sort(tr)
	var mains []string
	for _, p := range tr {
		if strings.Contains(filepath.Base(p), "-agent-") || strings.HasPrefix(filepath.Base(p), "agent-") {
			it.subagents = append(it.subagents, p)
		} else {
			mains = append(mains, p)
		}
	}
	if len(mains) > 0 {
		// Several session transcripts happen when the agent's session was
		// resumed; the largest is the agent's main conversation.
		slices.SortStableFunc(mains, func(a, b string) int { return int(size(b) - size(a)) })
		it.transcript, it.extraTransc = mains[0], mains[1:]
	}
	res, _ := filepath.Glob(filepath.Join(dir, "output", "*.json"))
	slices.Sort(res)
	it.results = res
	return it, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func size(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// metrics is metrics.json.
type metrics struct {
	NumTurns     int64    `json:"num_turns"`
	TotalCostUSD *float64 `json:"total_cost_usd"`
	TokenUsage   *struct {
		Input         int64 `json:"input"`
		Output        int64 `json:"output"`
		Reasoning     int64 `json:"reasoning"`
		CacheCreation int64 `json:"cache_creation"`
		CacheRead     int64 `json:"cache_read"`
	} `json:"token_usage"`
	Iterations int64  `json:"iterations"`
	ToolCalls  int64  `json:"tool_calls"`
	Model      string `json:"model"`
}

// readMetrics reads metrics.json. A field of the wrong type is left out
// and named in a warning; only JSON that does not parse is an error.
func readMetrics(path string) (*metrics, []trace.Warning, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var m metrics
	if err := json.Unmarshal(b, &m); err != nil {
		m = metrics{}
		ps, lerr := trace.DecodeLoose(b, &m)
		if lerr != nil {
			return nil, nil, fmt.Errorf("%s: invalid JSON: %w", path, err)
		}
		return &m, fieldWarnings(path, ps), nil
	}
	return &m, nil, nil
}

// fieldWarnings turns the wrong-typed fields of a one-object file into
// warnings (line 1 when the file is a single line, else no line).
func fieldWarnings(path string, ps []trace.FieldProblem) []trace.Warning {
	var ws []trace.Warning
	for _, p := range ps {
		field := p.Field
		if field == "" {
			field = "(the whole value)"
		}
		ws = append(ws, trace.Warning{File: path, Field: field, Message: p.String() + " (left out)"})
	}
	return ws
}

// totals turns metrics.json into recorded totals. Its token counts are Claude
// Code's: input excludes cache reads and writes.
func (m *metrics) totals() *trace.Totals {
	t := &trace.Totals{CostUSD: m.TotalCostUSD, Turns: m.NumTurns, ToolCalls: m.ToolCalls}
	if u := m.TokenUsage; u != nil {
		t.Usage = &trace.Usage{Input: u.Input, Output: u.Output, CacheRead: u.CacheRead, CacheWrite: u.CacheCreation, Reasoning: u.Reasoning}
	}
	return t
}

// result is an agent's structured result (output/*.json). The review schema
// is known; any other JSON object is kept as the decision verbatim.
type result struct {
	Action   string          `json:"action"`
	PR       json.RawMessage `json:"pr_number"`
	Issue    json.RawMessage `json:"issue_number"`
	Repo     string          `json:"repo"`
	HeadSHA  string          `json:"head_sha"`
	Findings json.RawMessage `json:"findings"`
	Reason   string          `json:"reason"`
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// readResult reads an output JSON file: its decision and the refs it names.
func readResult(path string) (*trace.Decision, trace.Refs, []trace.Warning, error) {
	var refs trace.Refs
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, refs, nil, err
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) || len(b) == 0 || b[0] != '{' {
		return nil, refs, nil, fmt.Errorf("%s: not a JSON object", path)
	}
	var r result
	var warns []trace.Warning
	if err := json.Unmarshal(b, &r); err != nil {
		r = result{}
		ps, lerr := trace.DecodeLoose(b, &r)
		if lerr != nil {
			return nil, refs, nil, fmt.Errorf("%s: %w", path, err)
		}
		warns = fieldWarnings(path, ps)
	}
	from := filepath.Base(path)
	rec := func(v, field string) *trace.Ref {
		return &trace.Ref{Value: v, Provenance: trace.Recorded, From: from + " " + field}
	}
	if shaRE.MatchString(strings.ToLower(r.HeadSHA)) {
		refs.Commit = rec(strings.ToLower(r.HeadSHA), "head_sha")
	}
	if r.Repo != "" {
		refs.Repo = rec(r.Repo, "repo")
	}
	if n := number(r.PR); n != "" {
		refs.PR = rec(n, "pr_number")
	}
	if n := number(r.Issue); n != "" {
		refs.Issue = rec(n, "issue_number")
	}
	d := &trace.Decision{Source: "iteration output " + filepath.Join(filepath.Base(filepath.Dir(filepath.Dir(path))), "output", from), Value: json.RawMessage(compact(b))}
	if trace.IsReviewAction(r.Action) {
		d.Kind = "review"
	}
	return d, refs, warns, nil
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// number reads a JSON number or numeric string; "" when absent or not a
// positive integer.
func number(raw json.RawMessage) string {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

// workItem parses "owner/repo#N".
func workItem(s string) (repo, num string, ok bool) {
	repo, num, ok = strings.Cut(s, "#")
	if !ok || strings.Count(repo, "/") != 1 || strings.HasPrefix(repo, "/") || strings.HasSuffix(repo, "/") {
		return "", "", false
	}
	if number(json.RawMessage(num)) == "" {
		return "", "", false
	}
	return repo, num, true
}
