package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/agentreplay/replay/sandbox"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
)

func newWorldCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "world",
		Short: "Rebuild what a trace points to: the repository at its commit, the PR or issue as it was",
		Long: `A replay is only worth reading if the agent sees what it saw the first time.
These commands turn a trace's pointers (repository, commit, branch, pull
request, issue, work item) into a cached, hermetic world: a bare mirror of
the repository holding the commit, and a snapshot of the pull request or
issue as of the run's start (later comments, reviews, labels, title and
body edits left out).

When the trace records no commit, one is inferred, and says so: the pull
request's head as of the run's start, the tip of the recorded branch as of
then, or for an issue the default branch as of then. replay inspect shows
the refs a fetch resolved, each with its provenance.

Configuration: GITHUB_TOKEN (private repositories, higher rate limits, body
edit history), GITHUB_API_URL (GitHub Enterprise, e.g.
https://ghe.example.com/api/v3/), REPLAY_CACHE (the cache; default
$XDG_CACHE_HOME/replay, else ~/.cache/replay).`,
	}
	cmd.AddCommand(newWorldFetchCmd(g, nil), newWorldShowCmd(g, nil), newWorldTarCmd(g, nil))
	return cmd
}

// worldFlags are the flags every world command shares.
type worldFlags struct {
	Repos   []string
	Commit  string
	Search  string
	Window  string
	Fixture string
	Offline bool
	Format  string
	Lenient bool
}

func (f *worldFlags) bind(cmd *cobra.Command, fetching bool) {
	fl := cmd.Flags()
	fl.BoolVar(&f.Offline, "offline", false, "use only the cache (and local repositories): fail when something is not cached")
	fl.StringVar(&f.Format, "format", "", "read a trace path as `FORMAT` instead of detecting it")
	fl.BoolVar(&f.Lenient, "lenient", false, "skip lines of a trace path that are not valid JSON")
	if !fetching {
		return
	}
	fl.StringArrayVar(&f.Repos, "repo", nil, "take the repository from `SOURCE` (URL, owner/name, local path, file:// URL or git bundle); owner/name=SOURCE maps one repository (repeatable)")
	fl.StringVar(&f.Commit, "commit", "", "use commit `REV` (any revision git takes: a full or short SHA, a branch, a tag, HEAD) instead of the recorded or inferred one")
	fl.StringVar(&f.Search, "commit-search", "", "rank commits by how many recorded whole-file reads they reproduce: `MODE` off, window (the default: commits near the run's start, when the commit is not recorded and the inferred one does not reproduce every read) or all (every commit of every ref, even past a recorded one)")
	fl.StringVar(&f.Window, "commit-window", "", "search commits from `DURATION` before to DURATION after the run's start (default 7d; e.g. 36h, 2w)")
	fl.StringVar(&f.Fixture, "github-fixture", "", "read the pull request or issue from `DIR` (REST responses saved as files: pr.json, pr.diff, files.json, commits.json, reviews.json, review_comments.json, comments.json, timeline.json, issue.json) instead of the GitHub API")
}

var repoMapping = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+)=(.+)$`)

// fetchOptions turns the flags into world.FetchOptions.
func (f *worldFlags) fetchOptions() (world.FetchOptions, error) {
	o := world.FetchOptions{Commit: f.Commit, GitHubFixture: f.Fixture, CommitSearch: f.Search}
	switch f.Search {
	case "", world.SearchOff, world.SearchWindow, world.SearchAll:
	default:
		return o, usage(fmt.Errorf("--commit-search %q: want off, window or all", f.Search))
	}
	if f.Window != "" {
		now := time.Unix(1<<40, 0) // any instant: only the duration is wanted
		at, err := parseWhen("--commit-window", f.Window, now)
		if err != nil || at.IsZero() || !at.Before(now) {
			return o, usage(fmt.Errorf("--commit-window %q: want a duration such as 36h, 7d or 2w", f.Window))
		}
		o.CommitWindow = now.Sub(at)
	}
	for _, r := range f.Repos {
		if m := repoMapping.FindStringSubmatch(r); m != nil {
			if o.RepoMap == nil {
				o.RepoMap = map[string]string{}
			}
			o.RepoMap[m[1]] = m[2]
			continue
		}
		if o.Repo != "" {
			return o, usage(fmt.Errorf("--repo given twice (%q and %q): give one source, or owner/name=SOURCE mappings", o.Repo, r))
		}
		o.Repo = r
	}
	return o, nil
}

// cacheDir resolves the world cache: $REPLAY_CACHE, $XDG_CACHE_HOME/replay,
// ~/.cache/replay.
func (g *globals) cacheDir() (string, error) {
	if d := g.env.Getenv("REPLAY_CACHE"); d != "" {
		return d, nil
	}
	if x := g.env.Getenv("XDG_CACHE_HOME"); x != "" {
		return world.DefaultCacheDir(x), nil
	}
	if h := g.env.Getenv("HOME"); h != "" {
		return world.DefaultCacheDir(filepath.Join(h, ".cache")), nil
	}
	return "", errors.New("find the world cache: set $REPLAY_CACHE (no $HOME to default to)")
}

// openWorld opens the world over the cache with the environment's GitHub
// settings.
func (g *globals) openWorld(offline bool) (*world.World, error) {
	dir, err := g.cacheDir()
	if err != nil {
		return nil, err
	}
	return world.New(world.Config{
		CacheDir:     dir,
		GitHubToken:  g.env.Getenv("GITHUB_TOKEN"),
		GitHubAPIURL: g.env.Getenv("GITHUB_API_URL"),
		Offline:      offline,
		Log:          g.env.Stderr,
	})
}

// worldRefs adds the refs a world fetch resolved for the trace (an inferred
// commit, a --repo or --commit given then) to a summary, for replay
// inspect. A damaged record becomes a warning.
func worldRefs(g *globals, sum *trace.Summary) {
	if sum.ID == "" {
		return
	}
	dir, err := g.cacheDir()
	if err != nil {
		return
	}
	res, err := world.LoadResolution(dir, sum.ID)
	if err != nil {
		sum.Warnings = append(sum.Warnings, err.Error())
		return
	}
	if res == nil {
		return
	}
	if sum.Refs == nil {
		sum.Refs = map[string]trace.Ref{}
	}
	for name, r := range res.Refs {
		if cur, ok := sum.Refs[name]; !ok || cur != r {
			sum.Refs[name] = r
		}
	}
}

type worldFetchOptions struct {
	*globals
	worldFlags
	Target string
	JSON   bool
}

func newWorldFetchCmd(g *globals, runF func(context.Context, *worldFetchOptions) error) *cobra.Command {
	if runF == nil {
		runF = runWorldFetch
	}
	opts := &worldFetchOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "fetch <trace>",
		Short: "Fetch the repository at the trace's commit and its PR or issue into the cache",
		Long: `Fetch resolves what the trace points to and caches it for offline replays:
the repository's objects for the commit (a bare mirror per remote; only the
commit, shallow, when the server allows it) and the pull request or issue
as of the run's start. It prints the refs with their provenance and what was
cached. A second fetch of the same trace needs no network.

The repository is the trace's (owner/name on GitHub, or its URL), or
--repo SOURCE: an https, ssh or git URL, a local repository, a file:// URL
or a git bundle. --repo owner/name=SOURCE maps a repository wherever a trace
names it.

<trace> is a path (file or run directory) or the id (or a unique prefix) of
a stored trace.`,
		Example: `  # The bundled example, offline: the repository from its bundle, the PR from files
  replay world fetch testdata/example/run --repo testdata/example/widgets.bundle \
      --github-fixture testdata/example/github

  # A stored trace whose agent force-pushed since: choose the commit
  replay world fetch 3f2a91c0 --commit 9c1e4b7

  # Check that everything a replay needs is cached
  replay world fetch 3f2a91c0 --offline`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runF(cmd.Context(), opts)
		},
	}
	opts.worldFlags.bind(cmd, true)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the resolution and what is cached as JSON")
	return cmd
}

func runWorldFetch(ctx context.Context, opts *worldFetchOptions) error {
	fo, err := opts.fetchOptions()
	if err != nil {
		return err
	}
	sum, run, err := opts.summaryRun(ctx, "read trace", opts.Target, opts.Format, opts.Lenient, true)
	if err != nil {
		return err
	}
	w, err := opts.openWorld(opts.Offline)
	if err != nil {
		return err
	}
	t := world.TargetOf(sum)
	if run != nil {
		// The recorded reads choose the commit when the trace names none
		// (or its commit does not reproduce them), as a replay would: the
		// repository is placed at the recorded cwd.
		cwd := sum.Refs["cwd"].Value
		if cwd == "" || !path.IsAbs(cwd) {
			cwd = sandbox.DefaultWorkDir
		}
		t.Reads = world.ReadsOf(run, cwd)
	}
	res, err := w.Fetch(ctx, t, fo)
	if err != nil {
		return err
	}
	if cs := res.Search; cs != nil && cs.Reads > 0 {
		fmt.Fprintf(opts.env.Stderr, "world: commit %s: %s\n", shortID(res.Commit), cs.Summary())
	}
	return opts.reportWorld(ctx, w, sum, opts.JSON)
}

// reportWorld prints what the cache holds for a trace (fetch and show).
func (g *globals) reportWorld(ctx context.Context, w *world.World, sum trace.Summary, asJSON bool) error {
	st, err := w.Status(ctx, sum.ID)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(g.env.Stdout, worldJSON(sum, st))
	}
	return writeWorld(g.env.Stdout, sum, st)
}

type worldShowOptions struct {
	*globals
	worldFlags
	Target string
	JSON   bool
}

func newWorldShowCmd(g *globals, runF func(context.Context, *worldShowOptions) error) *cobra.Command {
	if runF == nil {
		runF = runWorldShow
	}
	opts := &worldShowOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "show <trace>",
		Short: "Show a trace's refs with provenance and what the cache holds for it",
		Long: `Show prints the trace's refs, each with its provenance (recorded in the
trace, inferred and how, or given by flag), the repository source and
commit a fetch resolved, and what the cache holds: the mirror and its size,
whether it has the commit, and the GitHub snapshot's files and sizes
(verified against their hashes). It fetches nothing.

--json prints it as a versioned JSON object.`,
		Example: `  replay world show testdata/example/run
  replay world show 3f2a91c0 --json | jq .snapshot.files`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runF(cmd.Context(), opts)
		},
	}
	opts.worldFlags.bind(cmd, false)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func runWorldShow(ctx context.Context, opts *worldShowOptions) error {
	sum, err := opts.summary(ctx, "read trace", opts.Target, opts.Format, opts.Lenient)
	if err != nil {
		return err
	}
	w, err := opts.openWorld(true)
	if err != nil {
		return err
	}
	return opts.reportWorld(ctx, w, sum, opts.JSON)
}

type worldTarOptions struct {
	*globals
	worldFlags
	Target   string
	Out      string
	Snapshot string
}

func newWorldTarCmd(g *globals, runF func(context.Context, *worldTarOptions) error) *cobra.Command {
	if runF == nil {
		runF = runWorldTar
	}
	opts := &worldTarOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "tar <trace>",
		Short: "Write the trace's workspace (the commit's tree) as a tar stream",
		Long: `Tar writes the tree of the resolved commit as a tar stream, as the sandbox
receives it: files with their modes, symlinks as symlinks (never followed),
submodules as empty directories (reported on stderr). The trace must have
been fetched (replay world fetch); --offline makes sure nothing is fetched.

--snapshot FILE writes the GitHub snapshot files (under .replay/github/) as
a second tar.`,
		Example: `  replay world tar 3f2a91c0 -o workspace.tar
  replay world tar 3f2a91c0 | tar -t`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runF(cmd.Context(), opts)
		},
	}
	opts.worldFlags.bind(cmd, false)
	cmd.Flags().StringVarP(&opts.Out, "output", "o", "", "write the tar to `FILE` (default stdout)")
	cmd.Flags().StringVar(&opts.Snapshot, "snapshot", "", "write the GitHub snapshot's files as a tar to `FILE`")
	return cmd
}

func runWorldTar(ctx context.Context, opts *worldTarOptions) (err error) {
	sum, err := opts.summary(ctx, "read trace", opts.Target, opts.Format, opts.Lenient)
	if err != nil {
		return err
	}
	w, err := opts.openWorld(opts.Offline)
	if err != nil {
		return err
	}
	res, err := w.LoadResolution(sum.ID)
	if err != nil {
		return err
	}
	if res == nil {
		return fmt.Errorf("write workspace of trace %s: not fetched yet: run replay world fetch %s", sum.ID, opts.Target)
	}
	out := opts.env.Stdout
	if opts.Out != "" {
		tmp := opts.Out + ".tmp"
		f, err := os.Create(tmp)
		if err != nil {
			return fmt.Errorf("write workspace: %w", err)
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp, opts.Out)
			}
			if err != nil {
				os.Remove(tmp)
			}
		}()
		out = f
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	rep, err := w.Workspace(ctx, res, bw, world.TarOptions{})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write workspace: %w", err)
	}
	fmt.Fprintf(opts.env.Stderr, "workspace: commit %s, %s, %s, %s\n", res.Commit,
		plural(rep.Files, "file", "files"), plural(rep.Symlinks, "symlink", "symlinks"), sizeText(rep.Bytes))
	for _, s := range rep.Submodules {
		fmt.Fprintf(opts.env.Stderr, "warning: submodule %s (%s at %s) not materialized: an empty directory\n", s.Path, dash(s.URL), s.Commit)
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(opts.env.Stderr, "warning: tree entry %q left out: unsafe name\n", s)
	}
	if opts.Snapshot != "" {
		snap, err := w.Snapshot(res)
		if err != nil {
			return err
		}
		if snap == nil {
			return fmt.Errorf("write snapshot of trace %s: the trace points to no pull request or issue", sum.ID)
		}
		var b bytes.Buffer
		if err := snap.WriteTar(&b, world.SnapshotDir); err != nil {
			return err
		}
		if err := os.WriteFile(opts.Snapshot, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write snapshot: %w", err)
		}
	}
	return nil
}

// worldReport is the JSON of world fetch and world show.
type worldReport struct {
	Version  int                   `json:"version"`
	ID       string                `json:"id"`
	Refs     map[string]trace.Ref  `json:"refs"`
	Remote   *world.Remote         `json:"remote"`
	Commit   string                `json:"commit,omitempty"`
	Mirror   *world.MirrorStatus   `json:"mirror"`
	Snapshot *world.SnapshotStatus `json:"snapshot"`
	Warnings []string              `json:"warnings"`
	Problems []string              `json:"problems"`
	Fetched  bool                  `json:"fetched"`
}

func worldJSON(sum trace.Summary, st *world.Status) worldReport {
	r := worldReport{Version: 1, ID: sum.ID, Refs: sum.Refs, Warnings: []string{}, Problems: st.Problems, Mirror: st.Mirror, Snapshot: st.Snapshot}
	if r.Refs == nil {
		r.Refs = map[string]trace.Ref{}
	}
	if res := st.Resolution; res != nil {
		r.Fetched, r.Refs, r.Remote, r.Commit = true, res.Refs, &res.Remote, res.Commit
		r.Warnings = append(r.Warnings, res.Warnings...)
	}
	return r
}

func writeWorld(w io.Writer, sum trace.Summary, st *world.Status) error {
	r := worldJSON(sum, st)
	var b bytes.Buffer
	row := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-11s %s\n", label, indent(fmt.Sprintf(format, args...), strings.Repeat(" ", 12)))
	}
	row("trace", "%s", dash(r.ID))
	var names []string
	for k := range r.Refs {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(refOrder(a), refOrder(b)) })
	var lines []string
	for _, n := range names {
		ref := r.Refs[n]
		from := ref.Provenance
		if ref.From != "" {
			from += ": " + ref.From
		}
		lines = append(lines, fmt.Sprintf("%-11s %s  (%s)", n, ref.Value, from))
	}
	if len(lines) == 0 {
		lines = []string{"-"}
	}
	row("refs", "%s", strings.Join(lines, "\n"))
	if !r.Fetched {
		row("cache", "not fetched (replay world fetch %s)", dash(r.ID))
	}
	if m := r.Mirror; m != nil {
		state := "not cached"
		if m.Cached {
			state = sizeText(m.Bytes) + ", commit " + map[bool]string{true: "cached", false: "missing"}[m.HasCommit]
		}
		row("repository", "%s  (%s)\n%s", m.Remote, state, m.Path)
	}
	if r.Commit != "" {
		row("commit", "%s", r.Commit)
	}
	if s := r.Snapshot; s != nil {
		if s.Cached {
			var files []string
			for _, f := range s.Files {
				files = append(files, fmt.Sprintf("%s %s", f.Name, sizeText(f.Size)))
			}
			row("github", "%s %s#%d as of %s  (%s, from %s)\n%s", s.Kind, s.Repo, s.Number, asOf(s), sizeText(s.Bytes), s.Source, strings.Join(files, ", "))
		} else {
			row("github", "not cached")
		}
	}
	if len(r.Warnings) > 0 {
		row("warnings", "%s", strings.Join(r.Warnings, "\n"))
	}
	if len(r.Problems) > 0 {
		row("problems", "%s", strings.Join(r.Problems, "\n"))
	}
	_, err := w.Write(b.Bytes())
	return err
}

func asOf(s *world.SnapshotStatus) string {
	if s.AsOf.IsZero() {
		return "fetch time"
	}
	return s.AsOf.UTC().Format("2006-01-02T15:04:05Z")
}

func sizeText(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%d kB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
