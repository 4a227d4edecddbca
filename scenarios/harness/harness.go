// Package harness reads and writes the files of agent-eval-harness
// (opendatahub-io), the eval framework of the factory replay serves first:
// an eval config (eval.yaml) whose opaque CLI runner is replay itself, case
// directories in the shape of the factory's triage cases (input.yaml,
// annotations.yaml, repo/), and what the runner leaves in {output_dir}:
// metrics.json (the runner contract's usage report) and fixture-state.json
// (the factory's capture of the issue or pull request after the run).
//
// Every format is described by harness.schema.json; the readers check a
// file against it and name file:line: field for what is wrong.
package harness

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/agentreplay/replay/scenarios/internal/yamlpos"
)

// Schema is the JSON Schema of the harness files ($defs input,
// annotations, eval, metrics, fixture_state).
//
//go:embed harness.schema.json
var Schema []byte

// File and directory names of an eval and its cases.
const (
	EvalFile         = "eval.yaml"
	CasesDir         = "cases"
	InputFile        = "input.yaml"
	AnnotationsFile  = "annotations.yaml"
	RepoDir          = "repo"
	RepoBundle       = "repo/repo.bundle"
	TraceFile        = "trace.jsonl"
	GitHubDir        = "github"
	OutputDir        = "output"
	MetricsFile      = "metrics.json"
	FixtureStateFile = "fixture-state.json"
)

// Fixture types.
const (
	Issue       = "issue"
	PullRequest = "pull_request"
)

// Input is a case's input.yaml.
type Input struct {
	Forge   string    `yaml:"forge,omitempty" json:"forge,omitempty"`
	Fixture Fixture   `yaml:"fixture" json:"fixture"`
	Replay  ReplayRef `yaml:"replay" json:"replay"`
}

// Fixture is the issue or pull request of a case, as the factory's cases
// give it (type, title, body) with where it lives.
type Fixture struct {
	Type    string   `yaml:"type" json:"type"`
	Title   string   `yaml:"title" json:"title"`
	Body    string   `yaml:"body" json:"body"`
	URL     string   `yaml:"url,omitempty" json:"url,omitempty"`
	Repo    string   `yaml:"repo,omitempty" json:"repo,omitempty"`
	Number  int      `yaml:"number,omitempty" json:"number,omitempty"`
	State   string   `yaml:"state,omitempty" json:"state,omitempty"`
	Labels  []string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Author  string   `yaml:"author,omitempty" json:"author,omitempty"`
	HeadSHA string   `yaml:"head_sha,omitempty" json:"head_sha,omitempty"`
	BaseRef string   `yaml:"base_ref,omitempty" json:"base_ref,omitempty"`
}

// ReplayRef is what replay needs to run a case: its paths are relative to
// the case directory.
type ReplayRef struct {
	Case        string `yaml:"case,omitempty" json:"case,omitempty"`
	Agent       string `yaml:"agent,omitempty" json:"agent,omitempty"`
	Trace       string `yaml:"trace" json:"trace"`
	TraceSHA256 string `yaml:"trace_sha256,omitempty" json:"trace_sha256,omitempty"`
	TraceID     string `yaml:"trace_id,omitempty" json:"trace_id,omitempty"`
	Repo        string `yaml:"repo,omitempty" json:"repo,omitempty"`
	Commit      string `yaml:"commit,omitempty" json:"commit,omitempty"`
	GitHub      string `yaml:"github,omitempty" json:"github,omitempty"`
	FromStep    int    `yaml:"from_step,omitempty" json:"from_step,omitempty"`
	Decision    string `yaml:"decision,omitempty" json:"decision,omitempty"`
}

// Annotations is a case's annotations.yaml: the expected state.
type Annotations struct {
	State          string         `yaml:"state,omitempty" json:"state,omitempty"`
	Labels         LabelsExpect   `yaml:"labels,omitempty" json:"labels,omitzero"`
	ReviewDecision string         `yaml:"review_decision,omitempty" json:"review_decision,omitempty"`
	Decision       map[string]any `yaml:"decision,omitempty" json:"decision,omitempty"`
	MaxTurns       int            `yaml:"max_turns,omitempty" json:"max_turns,omitempty"`
	MaxCostUSD     float64        `yaml:"max_cost_usd,omitempty" json:"max_cost_usd,omitempty"`
	// Unchecked are the fields replay does not check (free text for the
	// LLM judge, a field it does not know), sorted.
	Unchecked []string `yaml:"-" json:"-"`
}

// LabelsExpect are the labels that must and must not be on the item.
type LabelsExpect struct {
	Required  []string `yaml:"required,omitempty" json:"required,omitempty"`
	Forbidden []string `yaml:"forbidden,omitempty" json:"forbidden,omitempty"`
}

// checkedAnnotations are the annotations replay checks.
var checkedAnnotations = []string{"state", "labels", "review_decision", "decision", "max_turns", "max_cost_usd"}

// Eval is an eval.yaml.
type Eval struct {
	Name        string            `yaml:"name,omitempty" json:"name,omitempty"`
	Description string            `yaml:"description,omitempty" json:"description,omitempty"`
	Skill       string            `yaml:"skill" json:"skill"`
	Execution   Execution         `yaml:"execution,omitempty" json:"execution,omitzero"`
	Runner      Runner            `yaml:"runner" json:"runner"`
	Models      map[string]string `yaml:"models,omitempty" json:"models,omitempty"`
	Dataset     Dataset           `yaml:"dataset,omitempty" json:"dataset,omitzero"`
	Outputs     []Output          `yaml:"outputs,omitempty" json:"outputs,omitempty"`
	Judges      []Judge           `yaml:"judges,omitempty" json:"judges,omitempty"`
}

// Execution is how the harness runs the cases.
type Execution struct {
	Mode         string            `yaml:"mode,omitempty" json:"mode,omitempty"`
	Timeout      int               `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Parallelism  int               `yaml:"parallelism,omitempty" json:"parallelism,omitempty"`
	MaxBudgetUSD float64           `yaml:"max_budget_usd,omitempty" json:"max_budget_usd,omitempty"`
	Env          map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
}

// Runner is the harness's runner: type cli, a command with placeholders.
type Runner struct {
	Type    string            `yaml:"type" json:"type"`
	Command []string          `yaml:"command,omitempty" json:"command,omitempty"`
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
}

// Dataset names the case directories.
type Dataset struct {
	Path   string `yaml:"path,omitempty" json:"path,omitempty"`
	Schema string `yaml:"schema,omitempty" json:"schema,omitempty"`
}

// Output is a directory the runner writes.
type Output struct {
	Path   string `yaml:"path" json:"path"`
	Schema string `yaml:"schema,omitempty" json:"schema,omitempty"`
}

// Judge is one of the harness's judges: an LLM prompt or a Python check.
type Judge struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Prompt      string `yaml:"prompt,omitempty" json:"prompt,omitempty"`
	Check       string `yaml:"check,omitempty" json:"check,omitempty"`
}

// Error is a problem at a place in a harness file.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ReadInput reads an input.yaml.
func ReadInput(path string) (*Input, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseInput(path, b)
}

// ParseInput parses the content of an input.yaml named name.
func ParseInput(name string, b []byte) (*Input, error) {
	var in Input
	if _, err := parse(name, b, "input", &in); err != nil {
		return nil, err
	}
	return &in, nil
}

// ReadAnnotations reads an annotations.yaml.
func ReadAnnotations(path string) (*Annotations, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseAnnotations(path, b)
}

// ParseAnnotations parses the content of an annotations.yaml named name.
func ParseAnnotations(name string, b []byte) (*Annotations, error) {
	var a Annotations
	raw, err := parse(name, b, "annotations", &a)
	if err != nil {
		return nil, err
	}
	for k, v := range raw {
		switch {
		case !contains(checkedAnnotations, k):
			a.Unchecked = append(a.Unchecked, k)
		case k == "labels":
			if m, ok := v.(map[string]any); ok {
				for lk := range m {
					if lk != "required" && lk != "forbidden" {
						a.Unchecked = append(a.Unchecked, "labels."+lk)
					}
				}
			}
		}
	}
	sort.Strings(a.Unchecked)
	return &a, nil
}

// ReadEval reads an eval.yaml.
func ReadEval(path string) (*Eval, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseEval(path, b)
}

// ParseEval parses the content of an eval.yaml named name.
func ParseEval(name string, b []byte) (*Eval, error) {
	var e Eval
	if _, err := parse(name, b, "eval", &e); err != nil {
		return nil, err
	}
	return &e, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parse reads YAML b into v after checking it against the schema's $defs
// root; it returns the document as a generic map.
func parse(name string, b []byte, root string, v any) (map[string]any, error) {
	f, err := parser.ParseBytes(b, 0)
	if err != nil {
		return nil, &Error{File: name, Line: yamlpos.ErrLine(err), Msg: "not valid YAML: " + yamlpos.FirstLine(err.Error())}
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &Error{File: name, Line: yamlpos.ErrLine(err), Msg: "not valid YAML: " + yamlpos.FirstLine(err.Error())}
	}
	if doc == nil {
		return nil, &Error{File: name, Msg: "empty file"}
	}
	// Through JSON: what the schema validates is what JSON can say (YAML's
	// non-string keys, for one, are refused here).
	jb, err := json.Marshal(doc)
	if err != nil {
		return nil, &Error{File: name, Msg: "not a document of JSON values: " + err.Error()}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(jb))
	if err != nil {
		return nil, &Error{File: name, Msg: err.Error()}
	}
	sch, err := compiled(root)
	if err != nil {
		return nil, err
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, &Error{File: name, Msg: err.Error()}
		}
		var errs []error
		printer := message.NewPrinter(language.English)
		for _, l := range yamlpos.Leaves(ve) {
			msg := l.ErrorKind.LocalizedString(printer)
			errs = append(errs, &Error{File: name, Line: yamlpos.Line(f, l.InstanceLocation), Field: yamlpos.Field(l.InstanceLocation), Msg: msg})
		}
		return nil, errors.Join(errs...)
	}
	if err := json.Unmarshal(jb, v); err != nil {
		return nil, &Error{File: name, Msg: err.Error()}
	}
	m, _ := doc.(map[string]any)
	return m, nil
}

// schemas compiles the schema's roots once: the schema is a constant.
var schemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		return nil, fmt.Errorf("the harness schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("harness.schema.json", doc); err != nil {
		return nil, fmt.Errorf("the harness schema: %w", err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, root := range []string{"input", "annotations", "eval", "metrics", "fixture_state"} {
		sch, err := c.Compile("harness.schema.json#/$defs/" + root)
		if err != nil {
			return nil, fmt.Errorf("the harness schema: %w", err)
		}
		out[root] = sch
	}
	return out, nil
})

func compiled(root string) (*jsonschema.Schema, error) {
	all, err := schemas()
	if err != nil {
		return nil, err
	}
	sch, ok := all[root]
	if !ok {
		return nil, fmt.Errorf("the harness schema has no %q", root)
	}
	return sch, nil
}

// Validate checks a JSON document (metrics.json, fixture-state.json)
// against the schema's $defs root ("metrics", "fixture_state").
func Validate(root string, b []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	sch, err := compiled(root)
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}
