package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// OriginalVariant names the variant that changes nothing: the recorded
// model, prompts and parameters. A case runs it when neither the suite nor
// the command line names a variant.
const OriginalVariant = "original"

// Shard is part i of n (1-based); the zero Shard is the whole suite.
type Shard struct{ I, N int }

// ParseShard reads "i/n".
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("--shard %q: want i/n with 1 ≤ i ≤ n (e.g. 2/4)", s)
	}
	return Shard{I: i, N: n}, nil
}

func (s Shard) String() string {
	if s.N == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// Holds reports whether the shard runs the case: by a hash of its id, so
// that a case keeps its shard as the suite grows.
func (s Shard) Holds(caseID string) bool {
	if s.N <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(caseID))
	return int(h.Sum64()%uint64(s.N)) == s.I-1
}

// Key identifies a cell's result: the case, the variant's hash and the
// repeat index.
type Key struct {
	Case    string `json:"case"`
	Variant string `json:"variant_hash"`
	Repeat  int    `json:"repeat"`
}

// Cell is one run to make: a case with a variant, one repeat.
type Cell struct {
	Case        *Case
	Variant     Variant
	VariantHash string
	Repeat      int // from 0
}

// Key is the cell's result key.
func (c Cell) Key() Key { return Key{Case: c.Case.ID, Variant: c.VariantHash, Repeat: c.Repeat} }

// PlanOptions shape a plan.
type PlanOptions struct {
	// Extra is the command line's variant, run beside the suite's (nil:
	// none).
	Extra *Variant
	// Repeat overrides every case's repeat count (0: the case's, else the
	// suite's, else 1).
	Repeat int
	Shard  Shard
	// Cases keeps only the cases whose id matches one of these (a
	// glob-like pattern with *); empty keeps all.
	Cases []string
}

// Plan is the cells of a suite run.
type Plan struct {
	Suite *Suite
	Shard Shard
	Cells []Cell
	// Cases are the cases of the shard, in suite order.
	Cases []*Case
}

// NewPlan lists the cells: for every case of the shard, every variant,
// every repeat.
func NewPlan(s *Suite, o PlanOptions) (*Plan, error) {
	p := &Plan{Suite: s, Shard: o.Shard}
	var filters []*regexp.Regexp
	for _, pat := range o.Cases {
		filters = append(filters, regexp.MustCompile("^"+strings.ReplaceAll(regexp.QuoteMeta(pat), `\*`, ".*")+"$"))
	}
	for _, c := range s.Cases {
		if !o.Shard.Holds(c.ID) {
			continue
		}
		if len(filters) > 0 && !matchAny(filters, c.ID) {
			continue
		}
		vs := c.Variants
		if len(vs) == 0 {
			vs = s.Variants
		}
		vs = append([]Variant(nil), vs...)
		if o.Extra != nil {
			for _, v := range vs {
				if v.Name == o.Extra.Name {
					return nil, fmt.Errorf("case %s (%s:%d) names a variant %q too: name the command line's with --variant-name", c.ID, c.File, c.Line, v.Name)
				}
			}
			vs = append(vs, *o.Extra)
		}
		if len(vs) == 0 {
			vs = []Variant{{Name: OriginalVariant, dir: c.Dir}}
		}
		n := c.Repeat
		if n == 0 {
			n = s.Repeat
		}
		if o.Repeat > 0 {
			n = o.Repeat
		}
		n = max(n, 1)
		p.Cases = append(p.Cases, c)
		for _, v := range vs {
			h := v.Hash()
			for i := 0; i < n; i++ {
				p.Cells = append(p.Cells, Cell{Case: c, Variant: v, VariantHash: h, Repeat: i})
			}
		}
	}
	if len(p.Cells) == 0 {
		what := "the suite has no cases"
		if o.Shard.N > 1 || len(o.Cases) > 0 {
			what = "no case of the suite is in this selection (--shard, --case)"
		}
		return nil, fmt.Errorf("plan %s: %s: an empty run is never a pass", s.Name, what)
	}
	return p, nil
}

func matchAny(rs []*regexp.Regexp, s string) bool {
	for _, r := range rs {
		if r.MatchString(s) {
			return true
		}
	}
	return false
}

// Hash identifies what the variant changes: its settings without its name,
// with the content of the local files it names (a prompt edited since the
// last run is another variant, and its results are not reused).
func (v Variant) Hash() string {
	type file struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256,omitempty"`
	}
	content := func(p string) file {
		f := file{Name: p}
		if isGitRef(p) {
			return f
		}
		if b, err := os.ReadFile(resolvePath(v.dir, p)); err == nil {
			s := sha256.Sum256(b)
			f.SHA256 = hex.EncodeToString(s[:])
		}
		return f
	}
	x := struct {
		Variant
		Name    string          `json:"name,omitempty"`
		System  *file           `json:"system,omitempty"`
		Prompts map[string]file `json:"prompt_files,omitempty"`
		Context []file          `json:"context_files,omitempty"`
	}{Variant: v}
	if v.SystemFile != "" {
		f := content(v.SystemFile)
		x.System = &f
	}
	for name, p := range v.Prompts {
		if x.Prompts == nil {
			x.Prompts = map[string]file{}
		}
		x.Prompts[name] = content(p)
	}
	for _, p := range v.Context {
		x.Context = append(x.Context, content(p))
	}
	b, _ := json.Marshal(x)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])[:16]
}

// isGitRef reports whether a prompt names a file in git
// (owner/repo@ref:path) rather than a local file.
func isGitRef(p string) bool {
	at := strings.Index(p, "@")
	return at > 0 && strings.Contains(p[at:], ":") && !strings.HasPrefix(p, ".") && !strings.HasPrefix(p, "/")
}

// Flags renders the variant as the replay run flags that make it.
func (v Variant) Flags() string {
	var parts []string
	add := func(k, val string) {
		if val != "" {
			parts = append(parts, "--"+k+"="+val)
		}
	}
	add("model", v.Model)
	add("base-url", v.BaseURL)
	add("system-file", v.SystemFile)
	var names []string
	for n := range v.Prompts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add("prompt", n+"="+v.Prompts[n])
	}
	for _, c := range v.Context {
		add("context", "add="+c)
	}
	if v.Temperature != nil {
		add("temperature", strconv.FormatFloat(*v.Temperature, 'g', -1, 64))
	}
	if v.TopP != nil {
		add("top-p", strconv.FormatFloat(*v.TopP, 'g', -1, 64))
	}
	if v.MaxTokens != nil {
		add("max-tokens", strconv.FormatInt(*v.MaxTokens, 10))
	}
	if v.Seed != nil {
		add("seed", strconv.FormatInt(*v.Seed, 10))
	}
	names = names[:0]
	for n := range v.ToolPolicy {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add("tool-policy", n+"="+v.ToolPolicy[n])
	}
	if len(parts) == 0 {
		return "(recorded model and prompts)"
	}
	return strings.Join(parts, " ")
}

// WithDir sets what the variant's relative paths are relative to (a
// command line variant: the working directory).
func (v Variant) WithDir(dir string) Variant {
	v.dir = dir
	return v
}
