package world

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/agentreplay/replay/replay/trace"
)

// Commit search modes (FetchOptions.CommitSearch).
const (
	SearchOff    = "off"    // take the commit the rule chooses, unchecked
	SearchWindow = "window" // search commits near the run's start when the choice is not recorded (default)
	SearchAll    = "all"    // search every commit of every ref, even past a recorded commit
)

// DefaultCommitWindow is how far before and after the run's start the
// search looks by default.
const DefaultCommitWindow = 7 * 24 * time.Hour

// maxCandidates bounds a search, so that a huge repository with --commit-search
// all stays within seconds; the newest candidates are kept.
const maxCandidates = 5000

// RecordedRead is one whole file the agent read, as recorded: the path
// relative to the repository's root and the content it saw. Commit search
// ranks commits by how many of these they reproduce.
type RecordedRead struct {
	Path    string `json:"path"`
	Content string `json:"-"`
	Step    int    `json:"step"` // the step of the call, for reports
}

// CommitSearch says how the commit was chosen and how well it reproduces
// the recorded reads.
type CommitSearch struct {
	// Method: recorded, flag, head_sha, pr_head, branch_tip or search.
	Method string `json:"method"`
	Mode   string `json:"mode"`
	// Reads is how many whole-file reads the trace recorded; Score how
	// many of them the chosen commit reproduces.
	Reads int `json:"reads"`
	Score int `json:"score"`
	// Searched is how many candidate commits were scored (0: no search),
	// between WindowFrom and WindowTo (zero for --commit-search all).
	Searched   int         `json:"searched"`
	WindowFrom time.Time   `json:"window_from,omitzero"`
	WindowTo   time.Time   `json:"window_to,omitzero"`
	RunnersUp  []Candidate `json:"runners_up,omitempty"`
	// Dirty are the recorded reads the chosen commit does not reproduce:
	// files that were uncommitted in the original working tree, with
	// their diff from the commit's content to the recorded one.
	Dirty []DirtyFile `json:"dirty,omitempty"`
}

// Candidate is a scored commit.
type Candidate struct {
	SHA     string    `json:"sha"`
	Score   int       `json:"score"`
	When    time.Time `json:"when"`
	Subject string    `json:"subject,omitempty"`
}

// DirtyFile is a recorded read that the chosen commit does not reproduce.
type DirtyFile struct {
	Path string `json:"path"`
	Step int    `json:"step"`
	// InCommit is false when the commit has no such file (a new,
	// untracked file in the original tree).
	InCommit bool   `json:"in_commit"`
	Diff     string `json:"diff"` // unified diff, commit → recorded
	// Content is the recorded content, for --overlay-recorded.
	Content string `json:"content"`
}

// Summary is one line for the report: "branch tip, reproduces 4 of 5
// recorded reads (searched 37 commits; 1 file uncommitted)".
func (s *CommitSearch) Summary() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(s.Method, "_", " "))
	if s.Reads > 0 {
		fmt.Fprintf(&b, ", reproduces %d of %d recorded reads", s.Score, s.Reads)
	}
	if s.Searched > 0 {
		fmt.Fprintf(&b, " (searched %d commits", s.Searched)
		if len(s.RunnersUp) > 0 {
			r := s.RunnersUp[0]
			fmt.Fprintf(&b, "; runner-up %s with %d", short(r.SHA), r.Score)
		}
		b.WriteString(")")
	}
	if n := len(s.Dirty); n > 0 {
		fmt.Fprintf(&b, "; %d file(s) uncommitted in the original tree: %s", n, dirtyNames(s.Dirty))
	}
	return b.String()
}

func dirtyNames(d []DirtyFile) string {
	var names []string
	for i, f := range d {
		if i == 5 {
			names = append(names, fmt.Sprintf("… %d more", len(d)-5))
			break
		}
		names = append(names, f.Path)
	}
	return strings.Join(names, ", ")
}

// readHashes are the blob hashes a recorded read may stand for: the
// content as seen, with and without a final newline (Read does not show
// whether the file ends with one).
type readHashes struct {
	read   RecordedRead
	hashes [2]plumbing.Hash
}

func hashReads(reads []RecordedRead) []readHashes {
	out := make([]readHashes, len(reads))
	for i, r := range reads {
		c := strings.TrimSuffix(r.Content, "\n")
		out[i] = readHashes{read: r, hashes: [2]plumbing.Hash{
			plumbing.ComputeHash(plumbing.BlobObject, []byte(c)),
			plumbing.ComputeHash(plumbing.BlobObject, []byte(c+"\n")),
		}}
	}
	return out
}

// score counts the reads a commit's tree reproduces, from git objects
// alone: a read matches when the file's blob hash is one its recorded
// content hashes to, so no blob is read.
func score(c *object.Commit, reads []readHashes) (int, error) {
	tree, err := c.Tree()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range reads {
		e, err := tree.FindEntry(r.read.Path)
		if err != nil {
			continue
		}
		if e.Hash == r.hashes[0] || e.Hash == r.hashes[1] {
			n++
		}
	}
	return n, nil
}

// candidates lists the commits reachable from every ref, committed within
// [from, to] (both zero: all), newest first, at most maxCandidates. The walk
// stops below from: a commit's ancestors are not younger than it, as near
// as committer times go.
func candidates(ctx context.Context, g *gitRepo, from, to time.Time) ([]*object.Commit, error) {
	refs, err := g.repo.References()
	if err != nil {
		return nil, err
	}
	seen := map[plumbing.Hash]bool{}
	var queue []plumbing.Hash
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && !seen[r.Hash()] {
			seen[r.Hash()] = true
			queue = append(queue, r.Hash())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []*object.Commit
	for i := 0; len(queue) > 0; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		h := queue[0]
		queue = queue[1:]
		c, err := g.repo.CommitObject(h)
		if err != nil {
			if t, terr := g.repo.TagObject(h); terr == nil {
				c, err = t.Commit()
			}
			if err != nil {
				continue // a tag of a tree or blob, or a missing object of a shallow mirror
			}
		}
		when := c.Committer.When
		if !from.IsZero() && when.Before(from) {
			continue
		}
		if to.IsZero() || !when.After(to) {
			out = append(out, c)
		}
		for _, p := range c.ParentHashes {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
		if len(seen) > 50*maxCandidates {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Committer.When.After(out[j].Committer.When) })
	if len(out) > maxCandidates {
		out = out[:maxCandidates]
	}
	return out, nil
}

// rankCommits scores every candidate and orders them best first: most
// reads reproduced, then closest to at (the newest first when at is zero).
func rankCommits(cands []*object.Commit, reads []readHashes, at time.Time) ([]Candidate, error) {
	out := make([]Candidate, 0, len(cands))
	for _, c := range cands {
		n, err := score(c, reads)
		if err != nil {
			return nil, fmt.Errorf("score commit %s: %w", short(c.Hash.String()), err)
		}
		subject, _, _ := strings.Cut(c.Message, "\n")
		out = append(out, Candidate{SHA: c.Hash.String(), Score: n, When: c.Committer.When.UTC(), Subject: subject})
	}
	dist := func(t time.Time) time.Duration {
		d := t.Sub(at)
		if d < 0 {
			d = -d
		}
		return d
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		if !at.IsZero() {
			return dist(out[i].When) < dist(out[j].When)
		}
		return out[i].When.After(out[j].When)
	})
	return out, nil
}

// dirtyFiles are the reads commit does not reproduce, with their diffs.
func dirtyFiles(c *object.Commit, reads []readHashes) ([]DirtyFile, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	var out []DirtyFile
	for _, r := range reads {
		d := DirtyFile{Path: r.read.Path, Step: r.read.Step, Content: r.read.Content}
		old := ""
		if e, err := tree.FindEntry(r.read.Path); err == nil {
			if e.Hash == r.hashes[0] || e.Hash == r.hashes[1] {
				continue
			}
			d.InCommit = true
			if f, err := tree.TreeEntryFile(e); err == nil {
				if rd, err := f.Reader(); err == nil {
					b, _ := io.ReadAll(io.LimitReader(rd, 4<<20))
					rd.Close()
					old = string(b)
				}
			}
		}
		recorded := r.read.Content
		if strings.HasSuffix(old, "\n") && !strings.HasSuffix(recorded, "\n") {
			recorded += "\n" // Read does not show the final newline
		}
		d.Diff = udiff.Unified("a/"+r.read.Path, "b/"+r.read.Path, old, recorded)
		out = append(out, d)
	}
	return out, nil
}

// searchCommit checks the chosen commit against the recorded reads and,
// when it was not recorded or given and does not reproduce them all,
// searches the commits around the run's start for a better one (see
// CommitSearch). It runs after chooseCommit, before the objects are read.
func (f *fetch) searchCommit(ctx context.Context) error {
	mode := f.o.CommitSearch
	if mode == "" {
		mode = SearchWindow
	}
	switch mode {
	case SearchOff, SearchWindow, SearchAll:
	default:
		return fmt.Errorf("--commit-search %q: want off, window or all", mode)
	}
	cs := &CommitSearch{Method: f.method, Mode: mode, Reads: len(f.t.Reads)}
	f.res.Search = cs
	if mode == SearchOff || len(f.t.Reads) == 0 {
		return nil
	}
	reads := hashReads(f.t.Reads)
	chosen := f.nd.Commit
	if chosen != "" {
		err := f.m.read(ctx, f.nd, func(g *gitRepo) error {
			c, err := g.commit(chosen)
			if err != nil {
				return fmt.Errorf("read commit %s: %w: %v", short(chosen), ErrCorrupt, err)
			}
			cs.Score, err = score(c, reads)
			return err
		})
		if err != nil {
			return err
		}
	}
	fixed := f.method == MethodFlag || f.method == MethodRecorded
	if cs.Score < cs.Reads && (!fixed || mode == SearchAll) {
		window := f.o.CommitWindow
		if window <= 0 {
			window = DefaultCommitWindow
		}
		var from, to time.Time
		if mode == SearchWindow && !f.t.At.IsZero() {
			from, to = f.t.At.Add(-window), f.t.At.Add(window)
		}
		// Every branch and tag as they are now: the tree the agent read
		// may have been committed after the run.
		all := need{DefaultBranch: true, AllRefs: true, At: f.w.cfg.Now()}
		if f.w.cfg.Offline && f.m.network() {
			all = need{Commit: chosen} // what the cache holds
		}
		var ranked []Candidate
		err := f.m.read(ctx, all, func(g *gitRepo) error {
			cands, err := candidates(ctx, g, from, to)
			if err != nil {
				return err
			}
			ranked, err = rankCommits(cands, reads, f.t.At)
			return err
		})
		if err != nil {
			return fmt.Errorf("search the commits of %s: %w", f.remote, err)
		}
		cs.Searched, cs.WindowFrom, cs.WindowTo = len(ranked), from, to
		if len(ranked) > 0 && ranked[0].Score > cs.Score && !(fixed && mode != SearchAll) {
			best := ranked[0]
			from := fmt.Sprintf("commit search: reproduces %d of %d recorded reads (the %s choice, %s, reproduced %d)",
				best.Score, cs.Reads, strings.ReplaceAll(f.method, "_", " "), short(chosen), cs.Score)
			if chosen == "" {
				from = fmt.Sprintf("commit search: reproduces %d of %d recorded reads (no commit of the branch predates the run)", best.Score, cs.Reads)
			}
			f.res.Refs["commit"] = trace.Ref{Value: best.SHA, Provenance: trace.Inferred, From: from}
			f.nd.Commit, f.res.Commit = best.SHA, best.SHA
			cs.Method, cs.Score = MethodSearch, best.Score
			chosen = best.SHA
		}
		for _, c := range ranked {
			if c.SHA != chosen && len(cs.RunnersUp) < 3 {
				cs.RunnersUp = append(cs.RunnersUp, c)
			}
		}
	}
	if chosen == "" && cs.Searched == 0 && mode == SearchWindow && !cs.WindowFrom.IsZero() {
		return fmt.Errorf("%w; and no commit of any branch or tag falls within the search window (%s to %s), so there is no candidate to search: --commit-window DURATION widens it, --commit-search all searches every commit", f.noTip, asOfText(cs.WindowFrom), asOfText(cs.WindowTo))
	}
	if chosen == "" {
		return fmt.Errorf("%w; and no commit within the search window reproduces any of the %d recorded reads (--commit-window widens it, --commit-search all searches everything)", f.noTip, cs.Reads)
	}
	if cs.Score < cs.Reads {
		return f.m.read(ctx, need{Commit: chosen}, func(g *gitRepo) error {
			c, err := g.commit(chosen)
			if err != nil {
				return errors.Join(ErrCorrupt, err)
			}
			cs.Dirty, err = dirtyFiles(c, reads)
			return err
		})
	}
	return nil
}

// How the commit was chosen (CommitSearch.Method).
const (
	MethodFlag      = "flag"
	MethodRecorded  = "recorded"
	MethodHeadSHA   = "head_sha"
	MethodPRHead    = "pr_head"
	MethodBranchTip = "branch_tip"
	MethodSearch    = "search"
)
