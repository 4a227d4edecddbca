package scenarios

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// ResultsSchema versions the results file.
const ResultsSchema = "replay.eval-results/v1"

// Cell statuses.
const (
	Pass    = "pass"
	Fail    = "fail"
	Error   = "error"
	Skipped = "skipped"
)

// Header is a results file's first line: which suite and shard it holds.
type Header struct {
	Schema    string    `json:"schema"`
	Suite     string    `json:"suite"`
	Shard     string    `json:"shard,omitempty"` // i/n, "" for the whole suite
	Cases     int       `json:"cases"`           // cases in the shard
	Cells     int       `json:"cells"`           // cells planned
	CreatedAt time.Time `json:"created_at"`
}

// Record is one finished cell.
type Record struct {
	Key
	VariantName string    `json:"variant"`
	Status      string    `json:"status"` // pass, fail, error (skipped cells are not written)
	Failures    []Failure `json:"failures,omitempty"`
	// NotChecked are expectations replay does not check (free text for an
	// LLM judge): never a pass.
	NotChecked []string    `json:"not_checked,omitempty"`
	Error      string      `json:"error,omitempty"`
	Run        string      `json:"run,omitempty"`      // the new run in the store
	Original   string      `json:"original,omitempty"` // the case's trace in the store
	Decision   string      `json:"decision,omitempty"` // the new decision in a word or two
	Divergence string      `json:"first_divergence,omitempty"`
	Steps      int         `json:"steps"`
	CostUSD    float64     `json:"cost_usd"`
	Tokens     trace.Usage `json:"tokens"`
	DurationMS int64       `json:"duration_ms"`
	At         time.Time   `json:"at"`
}

// ResultsFile is the append-only file of a suite run: a header, then one
// line per finished cell, each written whole and synced, so that a run
// killed at any moment leaves every finished cell and at most one torn
// last line (which reading skips).
type ResultsFile struct {
	Path   string
	Header Header
	mu     sync.Mutex
	f      *os.File
}

// DefaultResultsPath is where a suite's results go: results.jsonl in the
// suite's directory, or results-shard-I-of-N.jsonl for a shard.
func DefaultResultsPath(s *Suite, sh Shard) string {
	name := "results.jsonl"
	if sh.N > 1 {
		name = fmt.Sprintf("results-shard-%d-of-%d.jsonl", sh.I, sh.N)
	}
	return filepath.Join(s.Dir, name)
}

// ReadResults reads a results file: its header and its records, the last
// record of each key winning. A torn last line (a killed run) is skipped.
func ReadResults(path string) (Header, []Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	return readResults(f, path)
}

func readResults(r io.Reader, path string) (Header, []Record, error) {
	var h Header
	br := bufio.NewReaderSize(r, 64<<10)
	var recs []Record
	idx := map[Key]int{}
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			if err == io.EOF {
				break
			}
			return h, nil, fmt.Errorf("read results %s: %w", path, err)
		}
		torn := err == io.EOF // no newline: the last write did not finish
		if line == 1 {
			if jerr := json.Unmarshal(b, &h); jerr != nil || h.Schema != ResultsSchema {
				return h, nil, fmt.Errorf("read results %s:1: not a replay results file (want a %s header)", path, ResultsSchema)
			}
			continue
		}
		var rec Record
		if jerr := json.Unmarshal(b, &rec); jerr != nil {
			if torn {
				break
			}
			return h, nil, fmt.Errorf("read results %s:%d: %v", path, line, jerr)
		}
		if i, ok := idx[rec.Key]; ok {
			recs[i] = rec
			continue
		}
		idx[rec.Key] = len(recs)
		recs = append(recs, rec)
	}
	if h.Schema == "" {
		return h, nil, fmt.Errorf("read results %s: empty file", path)
	}
	return h, recs, nil
}

// CreateResults starts a results file. An existing file at path is kept:
// renamed with its time (the new run starts afresh; nothing is lost), and
// the name it got is returned.
func CreateResults(path string, h Header) (*ResultsFile, string, error) {
	var kept string
	if st, err := os.Stat(path); err == nil {
		kept = fmt.Sprintf("%s.%s", path, st.ModTime().UTC().Format("20060102T150405Z"))
		if err := os.Rename(path, kept); err != nil {
			return nil, "", fmt.Errorf("keep the earlier results: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, "", fmt.Errorf("create results: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("create results: %w", err)
	}
	h.Schema = ResultsSchema
	rf := &ResultsFile{Path: path, Header: h, f: f}
	if err := rf.writeLine(h); err != nil {
		f.Close()
		return nil, "", err
	}
	return rf, kept, nil
}

// OpenResults continues a results file (--resume): its records are
// returned, and new ones are appended. A torn last line is cut off first.
func OpenResults(path string, h Header) (*ResultsFile, []Record, error) {
	old, recs, err := ReadResults(path)
	if err != nil {
		return nil, nil, err
	}
	if old.Suite != h.Suite || old.Shard != h.Shard {
		return nil, nil, fmt.Errorf("resume %s: it holds suite %q shard %q, not suite %q shard %q", path, old.Suite, old.Shard, h.Suite, h.Shard)
	}
	if err := cutTorn(path); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	return &ResultsFile{Path: path, Header: old, f: f}, recs, nil
}

// cutTorn truncates the file after its last newline.
func cutTorn(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	i := len(b)
	for i > 0 && b[i-1] != '\n' {
		i--
	}
	if i == len(b) {
		return nil
	}
	return os.Truncate(path, int64(i))
}

// Append writes one finished cell.
func (rf *ResultsFile) Append(r Record) error { return rf.writeLine(r) }

func (rf *ResultsFile) writeLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if _, err := rf.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write results %s: %w", rf.Path, err)
	}
	if err := rf.f.Sync(); err != nil {
		return fmt.Errorf("write results %s: %w", rf.Path, err)
	}
	return nil
}

// Close closes the file.
func (rf *ResultsFile) Close() error {
	if rf == nil || rf.f == nil {
		return nil
	}
	return rf.f.Close()
}

// Merge joins the results files of a sharded run. It fails when the files
// are of different suites or shard counts, when a shard is missing or
// given twice.
func Merge(paths []string) (Header, []Record, error) {
	if len(paths) == 0 {
		return Header{}, nil, errors.New("merge: no results files given")
	}
	var out Header
	var all []Record
	seen := map[int]string{}
	n := 0
	for _, p := range paths {
		h, recs, err := ReadResults(p)
		if err != nil {
			return out, nil, err
		}
		sh := Shard{I: 1, N: 1}
		if h.Shard != "" {
			if sh, err = ParseShard(h.Shard); err != nil {
				return out, nil, fmt.Errorf("merge %s: shard %q in its header: %v", p, h.Shard, err)
			}
		}
		switch {
		case out.Schema == "":
			out = h
			out.Shard = ""
			out.Cases, out.Cells = 0, 0
			n = sh.N
		case h.Suite != out.Suite:
			return out, nil, fmt.Errorf("merge %s: it holds suite %q, the others %q", p, h.Suite, out.Suite)
		case sh.N != n:
			return out, nil, fmt.Errorf("merge %s: shard %s of %d, the others of %d", p, h.Shard, sh.N, n)
		}
		if o, dup := seen[sh.I]; dup {
			return out, nil, fmt.Errorf("merge: shard %d/%d given twice (%s and %s)", sh.I, n, o, p)
		}
		seen[sh.I] = p
		out.Cases += h.Cases
		out.Cells += h.Cells
		all = append(all, recs...)
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if _, ok := seen[i]; !ok {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	if len(missing) > 0 {
		return out, all, &MissingShardsError{Missing: missing}
	}
	return out, all, nil
}

// MissingShardsError says which shards a merge lacks.
type MissingShardsError struct{ Missing []string }

func (e *MissingShardsError) Error() string {
	return fmt.Sprintf("merge: shard(s) %v missing: the suite is incomplete", e.Missing)
}

// PlanOfRecords rebuilds the plan the shards ran: the suite's cases with
// the variants and repeat counts the records show.
func PlanOfRecords(s *Suite, recs []Record) (*Plan, error) {
	cases := map[string]*Case{}
	for _, c := range s.Cases {
		cases[c.ID] = c
	}
	type vk struct{ c, h string }
	reps := map[vk]int{}
	names := map[vk]string{}
	var order []vk
	for _, r := range recs {
		k := vk{r.Case, r.Variant}
		if _, ok := cases[r.Case]; !ok {
			return nil, fmt.Errorf("eval merge: the results hold case %q, which the suite does not", r.Case)
		}
		if _, ok := reps[k]; !ok {
			order = append(order, k)
		}
		reps[k] = max(reps[k], r.Repeat+1)
		names[k] = r.VariantName
	}
	p := &Plan{Suite: s}
	seen := map[string]bool{}
	for _, k := range order {
		c := cases[k.c]
		if !seen[c.ID] {
			seen[c.ID] = true
			p.Cases = append(p.Cases, c)
		}
		n := reps[k]
		if c.Repeat > n {
			n = c.Repeat
		} else if s.Repeat > n && c.Repeat == 0 {
			n = s.Repeat
		}
		for i := 0; i < n; i++ {
			p.Cells = append(p.Cells, Cell{Case: c, Variant: Variant{Name: names[k]}, VariantHash: k.h, Repeat: i})
		}
	}
	if len(p.Cells) == 0 {
		return nil, errors.New("eval merge: the results files hold no runs: an empty suite is never a pass")
	}
	return p, nil
}
