package scenarios

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
)

// ExportInput is one stored run to turn into a case.
type ExportInput struct {
	ID      string
	Summary trace.Summary
	Run     *trace.Run // with its feedback (the trace's and the store's)
}

// Exporter writes suites from stored runs.
type Exporter struct {
	World *world.World
	// Fetch is what the command line gives for every run's world (--repo,
	// --commit, --github-fixture).
	Fetch world.FetchOptions
	// Bundle packs each case's commit into the suite (worlds/ID.bundle),
	// so that it replays with no access to the repository.
	Bundle bool
	// Unlabeled says what becomes of a run without feedback: "skip" (the
	// default) or "original" (its decision is the expectation).
	Unlabeled string
	Critical  bool
	Repeat    int
	Name      string // the suite's name (default: the directory's)
	Now       func() time.Time
	Log       io.Writer
	// Format is what Export writes: FormatNative ("" too), a replay
	// suite; FormatHarness, an agent-eval-harness eval (eval.yaml and a
	// directory per case, its world always bundled).
	Format string
	// Pricer prices the originals' calls for a harness case's cost budget
	// when they record no cost.
	Pricer trace.Pricer
}

// ExportReport says what Export wrote and what it left out.
type ExportReport struct {
	Dir     string
	Cases   []string
	Skipped []string // "id: why"
}

// Export writes (or adds to) the suite in dir: suite.yaml when there is
// none, a case file per labeled run under cases/, its trace under traces/
// and its pinned world under worlds/. A case already in the suite is
// rewritten (the same run exported again is the same case). Each run's
// world is resolved now (the commit as a full SHA, the GitHub snapshot
// saved), so that the suite replays the same way later.
func (x *Exporter) Export(ctx context.Context, dir string, runs []ExportInput) (*ExportReport, error) {
	switch x.Format {
	case FormatHarness:
		return x.exportHarness(ctx, dir, runs)
	case "", FormatNative:
	default:
		return nil, fmt.Errorf("export: format %q: want %s or %s", x.Format, FormatNative, FormatHarness)
	}
	rep := &ExportReport{Dir: dir}
	for _, d := range []string{CasesDir, "traces", "worlds"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return rep, fmt.Errorf("export suite: %w", err)
		}
	}
	for _, in := range runs {
		c, why, err := x.exportOne(ctx, dir, in)
		if err != nil {
			return rep, fmt.Errorf("export %s: %w", short(in.ID), err)
		}
		if why != "" {
			rep.Skipped = append(rep.Skipped, short(in.ID)+": "+why)
			continue
		}
		rep.Cases = append(rep.Cases, c)
	}
	if len(rep.Cases) == 0 {
		for _, d := range []string{"worlds", "traces", CasesDir, ""} {
			os.Remove(filepath.Join(dir, d)) // only what is empty: what this export made
		}
		return rep, fmt.Errorf("export suite: no run became a case (%s): an empty suite is never a pass", strings.Join(rep.Skipped, "; "))
	}
	sf := filepath.Join(dir, SuiteFile)
	if _, err := os.Stat(sf); os.IsNotExist(err) {
		name := x.Name
		if name == "" {
			abs, _ := filepath.Abs(dir)
			name = filepath.Base(abs)
		}
		body := fmt.Sprintf("# A replay eval suite (replay eval run %s). Fields: replay eval schema.\nsuite: %s\n", dir, yamlString(name))
		if x.Repeat > 1 {
			body += fmt.Sprintf("repeat: %d\n", x.Repeat)
		}
		body += "# variants: [{name: mini, model: gpt-4o-mini}]   # run by every case, beside the command line's\n"
		if err := os.WriteFile(sf, []byte(body), 0o644); err != nil {
			return rep, fmt.Errorf("export suite: %w", err)
		}
	}
	return rep, nil
}

func (x *Exporter) exportOne(ctx context.Context, dir string, in ExportInput) (string, string, error) {
	if in.Run == nil {
		return "", "", fmt.Errorf("no run")
	}
	if in.Run.Meta.Replay != nil {
		return "", "it is a replay, not an original run", nil
	}
	c := &Case{ID: CaseID(in), Title: title(in)}
	fb := latest(in.Run.Feedback)
	switch {
	case fb != nil:
		c.Feedback = FeedbackOf(*fb)
		c.Expect = expectFrom(*fb)
	case x.Unlabeled == "original":
		c.Expect = Expect{Decision: ExpectOriginal}
	default:
		return "", "no human feedback (attach it with --feedback FILE or replay feedback, or pass --unlabeled original)", nil
	}
	if c.Expect.Decision != ExpectHuman && !hasDecision(in.Run) {
		return "", "the run recorded no decision to compare with", nil
	}
	c.Critical = x.Critical

	// The trace, with its feedback, as a native file. Where it was read
	// on this machine is no part of it: the suite's file is the same
	// whoever exports the run, wherever.
	run := *in.Run
	run.Meta.Source = filepath.Base(run.Meta.Source)
	var buf bytes.Buffer
	if err := trace.Encode(&buf, &run); err != nil {
		return "", "", err
	}
	tp := path.Join("traces", c.ID+".jsonl")
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(tp)), buf.Bytes(), 0o644); err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	c.Trace = TraceRef{Path: "../" + tp, SHA256: hex.EncodeToString(sum[:]), ID: in.ID}

	// The world, pinned.
	if x.World != nil && (in.Summary.Refs["repo"].Value != "" || in.Summary.Refs["work_item"].Value != "" || x.Fetch.Repo != "") {
		t := world.TargetOf(in.Summary)
		cwd := in.Summary.Refs["cwd"].Value
		if cwd != "" {
			t.Reads = world.ReadsOf(in.Run, cwd)
		}
		res, err := x.World.Fetch(ctx, t, x.Fetch)
		if err != nil {
			return "", "", fmt.Errorf("pin the world: %w", err)
		}
		c.World.Commit = res.Commit
		c.World.Repo = res.Remote.String()
		if x.Bundle {
			bp := path.Join("worlds", c.ID+".bundle")
			f, err := os.Create(filepath.Join(dir, filepath.FromSlash(bp)))
			if err != nil {
				return "", "", err
			}
			err = x.World.WriteBundle(ctx, res, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(f.Name())
				return "", "", err
			}
			c.World.Repo = "../" + bp
		} else if res.Remote.Kind == world.RemoteBundle || res.Remote.Kind == world.RemotePath {
			if abs, err := filepath.Abs(res.Remote.URL); err == nil {
				c.World.Repo = abs
			}
			x.logf("export %s: its repository is the local %s: --bundle packs the commit into the suite so that it runs elsewhere\n", c.ID, c.World.Repo)
		}
		snap, err := x.World.Snapshot(res)
		if err != nil {
			return "", "", err
		}
		if snap != nil {
			gp := path.Join("worlds", c.ID, "github")
			gdir := filepath.Join(dir, filepath.FromSlash(gp))
			if err := os.MkdirAll(gdir, 0o755); err != nil {
				return "", "", err
			}
			for _, f := range snap.AllFiles() {
				if err := os.WriteFile(filepath.Join(gdir, f.Name), f.Data, 0o644); err != nil {
					return "", "", err
				}
			}
			c.World.GitHub = "../" + gp
		}
	}
	if c.World.Repo == "" {
		x.logf("export %s: the run names no repository and none was given (--repo): its replays will run in an empty workspace\n", c.ID)
	}
	if err := writeCase(filepath.Join(dir, CasesDir, c.ID+".yaml"), c, in, x.now()); err != nil {
		return "", "", err
	}
	return c.ID, "", nil
}

func hasDecision(r *trace.Run) bool {
	return r.Outcome != nil && r.Outcome.Decision != nil && len(r.Outcome.Decision.Value) > 0
}

// CaseOfRun is an unpinned case of a stored run (replay compare over
// traces): its label from the latest human act as export gives it, else
// the original's decision.
func CaseOfRun(id, tracePath, dir string, run *trace.Run) *Case {
	c := &Case{ID: id, Trace: TraceRef{Path: tracePath}, Dir: dir, Expect: Expect{Decision: ExpectOriginal}}
	if fb := latest(run.Feedback); fb != nil {
		c.Feedback = FeedbackOf(*fb)
		c.Expect = expectFrom(*fb)
	}
	return c
}

// latest is the most recent human act (the last one when undated).
func latest(fb []trace.Feedback) *trace.Feedback {
	if len(fb) == 0 {
		return nil
	}
	best := len(fb) - 1
	for i := range fb {
		if fb[i].At.After(fb[best].At) {
			best = i
		}
	}
	return &fb[best]
}

// expectFrom is the label a human act gives: their decision where they
// gave one, the original's where they confirmed it, and "anything but the
// original's" where they overrode, reverted or fixed it without saying
// what they would have decided.
func expectFrom(fb trace.Feedback) Expect {
	switch {
	case fb.Human == trace.HumanConfirm:
		return Expect{Decision: ExpectOriginal}
	case len(fb.Decision) > 0 && string(fb.Decision) != "null":
		return Expect{Decision: ExpectHuman}
	}
	return Expect{Decision: ExpectNotOriginal}
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// CaseID is a case's stable id: what the run worked on, then the store
// id's first 8 characters (so that the same run exports to the same case).
func CaseID(in ExportInput) string {
	var parts []string
	if a := in.Summary.Agent; a != "" {
		parts = append(parts, a)
	}
	if wi := in.Summary.Refs["work_item"].Value; wi != "" {
		if _, name, ok := strings.Cut(wi, "/"); ok {
			wi = name
		}
		parts = append(parts, wi)
	} else if inst := in.Run.Meta.Instance; inst != "" {
		parts = append(parts, inst)
	}
	parts = append(parts, short(in.ID))
	id := unsafeID.ReplaceAllString(strings.Join(parts, "-"), "-")
	id = strings.Trim(id, "-._")
	if len(id) > 80 {
		id = id[len(id)-80:]
	}
	return strings.TrimLeft(id, "-._")
}

func title(in ExportInput) string {
	var b []string
	if a := in.Summary.Agent; a != "" {
		b = append(b, a)
	}
	if wi := in.Summary.Refs["work_item"].Value; wi != "" {
		b = append(b, "on "+wi)
	}
	if fb := latest(in.Run.Feedback); fb != nil {
		who := "a human"
		if fb.By != "" {
			who = fb.By
		}
		b = append(b, "("+fb.Human+" by "+who+")")
	}
	return strings.Join(b, " ")
}

// writeCase writes a case file with a header saying where it came from.
func writeCase(name string, c *Case, in ExportInput, now time.Time) error {
	body, err := yaml.MarshalWithOptions(c, yaml.Indent(2), yaml.IndentSequence(true), yaml.UseLiteralStyleIfMultiline(true))
	if err != nil {
		return fmt.Errorf("write case %s: %w", c.ID, err)
	}
	head := fmt.Sprintf("# Exported by replay eval export from run %s on %s.\n# Edit the expectations freely; every field: replay eval schema.\n", in.ID, now.UTC().Format(time.RFC3339))
	return os.WriteFile(name, append([]byte(head), body...), 0o644)
}

func yamlString(s string) string {
	b, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSpace(string(b))
}

func (x *Exporter) now() time.Time {
	if x.Now != nil {
		return x.Now()
	}
	return time.Now()
}

func (x *Exporter) logf(format string, args ...any) {
	if x.Log != nil {
		fmt.Fprintf(x.Log, format, args...)
	}
}
