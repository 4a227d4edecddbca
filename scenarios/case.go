package scenarios

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/agentreplay/replay/replay/trace"

	"github.com/agentreplay/replay/scenarios/internal/yamlpos"
)

// Schema is the JSON Schema of suite and case files (case.schema.json in
// this package): the documentation of every field and the check Load runs.
//
//go:embed case.schema.json
var Schema []byte

// SuiteFile is the name of a suite directory's suite file; case files are
// the *.yaml files under its CasesDir.
const (
	SuiteFile = "suite.yaml"
	CasesDir  = "cases"
)

// Suite is a set of cases with their defaults.
type Suite struct {
	Name        string
	Description string
	// Dir is the suite's directory (results go under it by default).
	Dir string
	// Repeat and Gate are the suite's defaults for its cases (0: none).
	Repeat   int
	Gate     float64
	Variants []Variant
	Cases    []*Case
}

// Case is one regression case: a trace, its pinned world, the variants to
// run and what every run must do.
type Case struct {
	ID         string    `yaml:"id"`
	Title      string    `yaml:"title,omitempty"`
	Trace      TraceRef  `yaml:"trace"`
	World      World     `yaml:"world,omitempty"`
	Fork       *Fork     `yaml:"fork,omitempty"`
	Feedback   *Feedback `yaml:"feedback,omitempty"`
	Variants   []Variant `yaml:"variants,omitempty"`
	Repeat     int       `yaml:"repeat,omitempty"`
	Gate       float64   `yaml:"gate,omitempty"`
	Critical   bool      `yaml:"critical,omitempty"`
	Quarantine string    `yaml:"quarantine,omitempty"`
	Expect     Expect    `yaml:"expect"`

	// File and Line say where the case was read; Dir is the directory its
	// relative paths are relative to.
	File string `yaml:"-"`
	Line int    `yaml:"-"`
	Dir  string `yaml:"-"`
	// Harness is set on a case read from an agent-eval-harness case
	// directory: its annotations on the item's state.
	Harness *HarnessCase `yaml:"-"`

	preds []*predicate
}

// TraceRef is the case's source trace.
type TraceRef struct {
	Path   string `yaml:"path"`
	SHA256 string `yaml:"sha256,omitempty"`
	ID     string `yaml:"id,omitempty"` // the store id it was exported from
}

// World pins what the trace points to.
type World struct {
	Repo   string `yaml:"repo,omitempty"`
	Commit string `yaml:"commit,omitempty"`
	GitHub string `yaml:"github,omitempty"`
}

// Fork takes the steps before FromStep from the recording.
type Fork struct {
	FromStep int `yaml:"from_step"`
}

// Feedback is the human act a case's label came from.
type Feedback struct {
	Human    string         `yaml:"human"`
	Decision map[string]any `yaml:"decision,omitempty"`
	By       string         `yaml:"by,omitempty"`
	At       string         `yaml:"at,omitempty"`
	URL      string         `yaml:"url,omitempty"`
	Note     string         `yaml:"note,omitempty"`
	Source   string         `yaml:"source,omitempty"`
}

// Trace returns f as the canonical run's feedback.
func (f *Feedback) Trace() trace.Feedback {
	tf := trace.Feedback{Human: f.Human, By: f.By, URL: f.URL, Note: f.Note, Source: f.Source}
	if f.Decision != nil {
		tf.Decision, _ = json.Marshal(f.Decision)
	}
	if t, err := time.Parse(time.RFC3339, f.At); err == nil {
		tf.At = t
	}
	return tf
}

// FeedbackOf is the case file's form of a canonical feedback act.
func FeedbackOf(tf trace.Feedback) *Feedback {
	f := &Feedback{Human: tf.Human, By: tf.By, URL: tf.URL, Note: tf.Note, Source: tf.Source}
	if len(tf.Decision) > 0 {
		_ = json.Unmarshal(tf.Decision, &f.Decision)
	}
	if !tf.At.IsZero() {
		f.At = tf.At.UTC().Format(time.RFC3339)
	}
	return f
}

// Variant is a configuration under test. The zero variant beside a name
// replays with the recorded model and prompts.
type Variant struct {
	Name        string            `yaml:"name" json:"name"`
	Model       string            `yaml:"model,omitempty" json:"model,omitempty"`
	BaseURL     string            `yaml:"base_url,omitempty" json:"base_url,omitempty"`
	SystemFile  string            `yaml:"system_file,omitempty" json:"system_file,omitempty"`
	Prompts     map[string]string `yaml:"prompts,omitempty" json:"prompts,omitempty"`
	Context     []string          `yaml:"context,omitempty" json:"context,omitempty"`
	Temperature *float64          `yaml:"temperature,omitempty" json:"temperature,omitempty"`
	TopP        *float64          `yaml:"top_p,omitempty" json:"top_p,omitempty"`
	MaxTokens   *int64            `yaml:"max_tokens,omitempty" json:"max_tokens,omitempty"`
	Seed        *int64            `yaml:"seed,omitempty" json:"seed,omitempty"`
	ToolPolicy  map[string]string `yaml:"tool_policy,omitempty" json:"tool_policy,omitempty"`
	// SampleOffset shifts the variant's repeat indices in the model
	// cache's key: a copy of a variant with another offset draws other
	// samples (replay compare's A/A arm). Not a field of case files.
	SampleOffset int `yaml:"-" json:"sample_offset,omitempty"`

	// dir is what relative paths in the variant are relative to.
	dir string
}

// Expect is what every run of a case must do.
type Expect struct {
	Decision       string   `yaml:"decision,omitempty"`
	Predicates     []string `yaml:"predicates,omitempty"`
	ToolsUsed      []string `yaml:"tools_used,omitempty"`
	ToolsNeverUsed []string `yaml:"tools_never_used,omitempty"`
	MaxSteps       int      `yaml:"max_steps,omitempty"`
	MaxCostUSD     float64  `yaml:"max_cost_usd,omitempty"`
	NoDeniedCalls  bool     `yaml:"no_denied_calls,omitempty"`
}

// Decision expectations.
const (
	ExpectHuman       = "human"
	ExpectOriginal    = "original"
	ExpectNotOriginal = "not-original"
)

// FileError is a problem at a place in a suite or case file.
type FileError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *FileError) Error() string {
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

// Load reads a suite: a directory (its suite.yaml when there is one, and
// every case file under cases/), a suite file (its inline cases and the
// cases/ beside it) or one case file. Every file is checked against the
// schema, every predicate compiled and every trace's hash checked before
// Load returns: the errors, all of them, name file:line: field.
func Load(path string) (*Suite, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load suite: %w", err)
	}
	if st.IsDir() {
		dirs, name, ok, err := harnessDirs(path)
		if err != nil {
			return nil, err
		}
		if ok {
			return loadHarness(path, dirs, name)
		}
	}
	l := &loader{}
	s := &Suite{}
	var suiteFile string
	if st.IsDir() {
		s.Dir = path
		for _, n := range []string{SuiteFile, "suite.yml"} {
			if _, err := os.Stat(filepath.Join(path, n)); err == nil {
				suiteFile = filepath.Join(path, n)
				break
			}
		}
		s.Name = filepath.Base(filepath.Clean(path))
	} else {
		s.Dir = filepath.Dir(path)
		suiteFile = path
		s.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	abs, err := filepath.Abs(s.Dir)
	if err == nil {
		s.Dir = abs
	}
	if suiteFile != "" {
		l.file(s, suiteFile, st.IsDir())
	}
	if st.IsDir() || l.sawSuite {
		l.casesDir(s, filepath.Join(filepath.Dir(suiteFileOr(suiteFile, filepath.Join(path, SuiteFile))), CasesDir))
	}
	l.checkIDs(s)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	if len(s.Cases) == 0 {
		return nil, fmt.Errorf("load suite %s: no cases (an empty suite is never a pass): add case files under %s/ or export some with replay eval export", path, CasesDir)
	}
	return s, nil
}

func suiteFileOr(f, def string) string {
	if f != "" {
		return f
	}
	return def
}

type loader struct {
	errs     []error
	sawSuite bool
	schemas  map[string]*jsonschema.Schema
}

func (l *loader) add(err error) { l.errs = append(l.errs, err) }

func (l *loader) casesDir(s *Suite, dir string) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.add(fmt.Errorf("load suite: %w", err))
	}
	sort.Strings(files)
	for _, f := range files {
		l.file(s, f, false)
	}
}

// file reads one suite or case file.
func (l *loader) file(s *Suite, name string, inDir bool) {
	b, err := os.ReadFile(name)
	if err != nil {
		l.add(fmt.Errorf("load suite: %w", err))
		return
	}
	ferr := func(line int, field, format string, args ...any) {
		l.add(&FileError{File: name, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if len(bytes.TrimSpace(b)) == 0 {
		ferr(0, "", "empty file")
		return
	}
	astf, err := parser.ParseBytes(b, 0)
	if err != nil {
		ferr(yamlpos.ErrLine(err), "", "not YAML: %s", yamlpos.FirstLine(err.Error()))
		return
	}
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		ferr(yamlpos.ErrLine(err), "", "not YAML: %s", yamlpos.FirstLine(err.Error()))
		return
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		ferr(0, "", "%v", err)
		return
	}
	obj, _ := inst.(map[string]any)
	root := "case"
	if _, ok := obj["suite"]; ok {
		root = "suite"
	}
	if inDir && root == "case" {
		ferr(1, "suite", "a suite file needs its name (suite: NAME); cases go in %s/", CasesDir)
		return
	}
	sch, err := l.schema(root)
	if err != nil {
		l.add(err)
		return
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			ferr(0, "", "%v", err)
			return
		}
		p := message.NewPrinter(language.English)
		for _, leaf := range yamlpos.Leaves(ve) {
			loc := leaf.InstanceLocation
			if ap, ok := leaf.ErrorKind.(*kind.AdditionalProperties); ok && len(ap.Properties) > 0 {
				for _, prop := range ap.Properties {
					at := append(append([]string{}, loc...), prop)
					ferr(yamlpos.Line(astf, at), yamlpos.Field(at), "unknown field (the schema: replay eval schema)")
				}
				continue
			}
			ferr(yamlpos.Line(astf, loc), yamlpos.Field(loc), "%s", leaf.ErrorKind.LocalizedString(p))
		}
		return
	}
	dir := filepath.Dir(name)
	if root == "suite" {
		l.sawSuite = true
		var sf struct {
			Suite       string    `yaml:"suite"`
			Description string    `yaml:"description"`
			Repeat      int       `yaml:"repeat"`
			Gate        float64   `yaml:"gate"`
			Variants    []Variant `yaml:"variants"`
			Cases       []*Case   `yaml:"cases"`
		}
		if err := yaml.UnmarshalWithOptions(b, &sf, yaml.DisallowUnknownField()); err != nil {
			ferr(yamlpos.ErrLine(err), "", "%s", yamlpos.FirstLine(err.Error()))
			return
		}
		s.Name, s.Description, s.Repeat, s.Gate = sf.Suite, sf.Description, sf.Repeat, sf.Gate
		for i := range sf.Variants {
			sf.Variants[i].dir = dir
		}
		s.Variants = sf.Variants
		l.checkVariants(name, astf, []string{"variants"}, s.Variants)
		for i, c := range sf.Cases {
			l.caseRead(s, c, name, astf, []string{"cases", strconv.Itoa(i)}, dir)
		}
		return
	}
	var c Case
	if err := yaml.UnmarshalWithOptions(b, &c, yaml.DisallowUnknownField()); err != nil {
		ferr(yamlpos.ErrLine(err), "", "%s", yamlpos.FirstLine(err.Error()))
		return
	}
	l.caseRead(s, &c, name, astf, nil, dir)
}

// caseRead checks what the schema cannot (the trace, the predicates, the
// variants' names) and adds the case.
func (l *loader) caseRead(s *Suite, c *Case, file string, astf *ast.File, at []string, dir string) {
	c.File, c.Dir, c.Line = file, dir, max(yamlpos.Line(astf, at), 1)
	ferr := func(field []string, format string, args ...any) {
		loc := append(append([]string{}, at...), field...)
		l.add(&FileError{File: file, Line: yamlpos.Line(astf, loc), Field: yamlpos.Field(loc), Msg: fmt.Sprintf(format, args...)})
	}
	for i := range c.Variants {
		c.Variants[i].dir = dir
	}
	l.checkVariants(file, astf, append(append([]string{}, at...), "variants"), c.Variants)
	tp := c.TracePath()
	b, err := os.ReadFile(tp)
	switch {
	case err != nil:
		ferr([]string{"trace", "path"}, "%v", err)
	case c.Trace.SHA256 != "":
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != c.Trace.SHA256 {
			ferr([]string{"trace", "sha256"}, "%s has sha256 %s, not the %s the case was made from: the trace changed since export", c.Trace.Path, got[:12], c.Trace.SHA256[:12])
		}
	}
	if c.Expect.Decision == ExpectHuman && (c.Feedback == nil || len(c.Feedback.Decision) == 0) {
		ferr([]string{"expect", "decision"}, "human: the case has no feedback with the human's decision (feedback.decision)")
	}
	for i, src := range c.Expect.Predicates {
		p, err := compilePredicate(src)
		if err != nil {
			ferr([]string{"expect", "predicates", strconv.Itoa(i)}, "%v", err)
			continue
		}
		c.preds = append(c.preds, p)
	}
	for _, list := range []struct {
		name string
		v    []string
	}{{"tools_used", c.Expect.ToolsUsed}, {"tools_never_used", c.Expect.ToolsNeverUsed}} {
		for i, t := range list.v {
			if name, _, _ := strings.Cut(t, ":"); strings.TrimSpace(name) == "" {
				ferr([]string{"expect", list.name, strconv.Itoa(i)}, "%q: want NAME or NAME:TEXT", t)
			}
		}
	}
	s.Cases = append(s.Cases, c)
}

func (l *loader) checkVariants(file string, astf *ast.File, at []string, vs []Variant) {
	seen := map[string]bool{}
	for i, v := range vs {
		if seen[v.Name] {
			loc := append(append([]string{}, at...), strconv.Itoa(i), "name")
			l.add(&FileError{File: file, Line: yamlpos.Line(astf, loc), Field: yamlpos.Field(loc), Msg: fmt.Sprintf("variant %q is named twice", v.Name)})
		}
		seen[v.Name] = true
	}
}

func (l *loader) checkIDs(s *Suite) {
	seen := map[string]*Case{}
	for _, c := range s.Cases {
		if o := seen[c.ID]; o != nil {
			l.add(&FileError{File: c.File, Line: c.Line, Field: "id", Msg: fmt.Sprintf("case %q is also defined at %s:%d: ids must be unique (results are keyed by them)", c.ID, o.File, o.Line)})
			continue
		}
		seen[c.ID] = c
	}
}

func (l *loader) schema(root string) (*jsonschema.Schema, error) {
	if sch := l.schemas[root]; sch != nil {
		return sch, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		return nil, fmt.Errorf("the scenario schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("case.schema.json", doc); err != nil {
		return nil, fmt.Errorf("the scenario schema: %w", err)
	}
	sch, err := c.Compile("case.schema.json#/$defs/" + root)
	if err != nil {
		return nil, fmt.Errorf("the scenario schema: %w", err)
	}
	if l.schemas == nil {
		l.schemas = map[string]*jsonschema.Schema{}
	}
	l.schemas[root] = sch
	return sch, nil
}

// TracePath is the case's trace file.
func (c *Case) TracePath() string { return resolvePath(c.Dir, c.Trace.Path) }

// resolvePath makes a relative path relative to dir.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
