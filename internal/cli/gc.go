package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay/model"
	"github.com/agentreplay/replay/replay/store"
)

type gcOptions struct {
	*globals
	OlderThan string
	Replays   bool
	DryRun    bool
	JSON      bool
	Now       func() time.Time
}

func newGcCmd(g *globals, runF func(context.Context, *gcOptions) error) *cobra.Command {
	if runF == nil {
		runF = runGc
	}
	opts := &gcOptions{globals: g, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "gc --older-than AGE",
		Short: "Remove the runs and model cache entries older than an age",
		Long: `Gc frees space. It removes the runs stored more than --older-than ago
(imported, or written by verify and run), with their files and index rows,
and the model response cache entries written more than that ago (the cache
under $REPLAY_CACHE/model, else $XDG_CACHE_HOME/replay/model, else
~/.cache/replay/model). AGE is a duration back from now (30d, 2w, 12h) or a
date (2026-11-01: stored before it).

An old run that a newer run replays is kept, and listed as kept: removing it
would leave its replays pointing to nothing. --replays removes only replays:
imported traces stay, whatever their age. Temporary files that a killed
import or replay left in the store go too, once a day old.

The runs are listed on stdout (--json: an object with the runs, the kept
ones, the cache and the temporary files); the totals go to stderr. --dry-run
lists what would go and removes nothing. An original imported from a file
comes back with replay import; a removed cache entry costs a model call the
next time it is needed.`,
		Example: `  # What a monthly clean-up would remove, then remove it
  replay gc --older-than 30d --dry-run
  replay gc --older-than 30d

  # Only replays older than two weeks; imported traces stay
  replay gc --older-than 2w --replays`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runF(cmd.Context(), opts) },
	}
	f := cmd.Flags()
	f.StringVar(&opts.OlderThan, "older-than", "", "remove what was stored before `AGE`: a duration back from now (30d, 2w, 12h) or a date (required)")
	f.BoolVar(&opts.Replays, "replays", false, "remove only replays (verify and run outputs); imported traces stay")
	f.BoolVar(&opts.DryRun, "dry-run", false, "list what would be removed; remove nothing")
	f.BoolVar(&opts.JSON, "json", false, "print what is (or would be) removed as JSON")
	return cmd
}

// gcJSON is `replay gc --json` (versioned).
type gcJSON struct {
	Version   int          `json:"version"`
	DryRun    bool         `json:"dry_run"`
	Cutoff    time.Time    `json:"cutoff"`
	Runs      []gcRun      `json:"runs"`
	Kept      []gcRun      `json:"kept"`
	Cache     gcCache      `json:"cache"`
	Leftovers []store.File `json:"leftovers"`
}

type gcRun struct {
	ID       string    `json:"id"`
	StoredAt time.Time `json:"stored_at"`
	Format   string    `json:"format"`
	Agent    string    `json:"agent"`
	ReplayOf *lsOrigin `json:"replay_of"`
	Bytes    int64     `json:"bytes"`
}

type gcCache struct {
	Dir     string `json:"dir"`
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
}

func runGc(ctx context.Context, opts *gcOptions) error {
	if opts.OlderThan == "" {
		return usage(errors.New("--older-than is required: say how old is old, e.g. --older-than 30d"))
	}
	cutoff, err := parseWhen("--older-than", opts.OlderThan, opts.Now())
	if err != nil {
		return usage(err)
	}
	kind := store.AllRuns
	if opts.Replays {
		kind = store.Replays
	}
	out := gcJSON{Version: 1, DryRun: opts.DryRun, Cutoff: cutoff.UTC(), Runs: []gcRun{}, Kept: []gcRun{}, Leftovers: []store.File{}}

	_, exists, err := opts.storeExists()
	if err != nil {
		return err
	}
	var runErr error
	if exists {
		runErr = opts.gcStore(ctx, cutoff, kind, &out)
	}
	if err := opts.gcCache(ctx, cutoff, &out); err != nil {
		runErr = errors.Join(runErr, err)
	}

	if opts.JSON {
		if err := writeJSON(opts.env.Stdout, out); err != nil {
			return err
		}
	} else if len(out.Runs) > 0 {
		tw := tabwriter.NewWriter(opts.env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTORED\tFORMAT\tAGENT\tREPLAY OF\tSIZE")
		for _, r := range out.Runs {
			of := "-"
			if r.ReplayOf != nil {
				of = strings.TrimSpace(shortID(r.ReplayOf.Of) + " " + r.ReplayOf.Mode)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", shortID(r.ID), r.StoredAt.Local().Format("2006-01-02 15:04"), dash(r.Format), dash(clip(r.Agent, 24)), of, sizeText(r.Bytes))
		}
		tw.Flush()
	}
	opts.gcTotals(out)
	return runErr
}

// gcStore removes (or lists) the old runs and the leftover temporary files.
func (opts *gcOptions) gcStore(ctx context.Context, cutoff time.Time, kind store.Kind, out *gcJSON) error {
	st, err := opts.openStore(ctx, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	x, err := st.Expired(ctx, cutoff, kind)
	if err != nil {
		return err
	}
	row := func(e store.Entry) gcRun {
		r := gcRun{ID: e.ID, StoredAt: e.ImportedAt, Format: e.Format, Agent: e.Agent, Bytes: e.FileSize}
		if fi, err := os.Stat(st.Path(e.ID)); err == nil {
			r.Bytes = fi.Size()
		}
		if e.IsReplay() {
			r.ReplayOf = &lsOrigin{Of: e.ReplayOf, Mode: e.ReplayMode}
		}
		return r
	}
	for _, e := range x.Kept {
		out.Kept = append(out.Kept, row(e))
	}
	var ids []string
	for _, e := range x.Remove {
		out.Runs = append(out.Runs, row(e))
		ids = append(ids, e.ID)
	}
	var errs []error
	if !opts.DryRun && len(ids) > 0 {
		removed, err := st.Remove(ctx, ids)
		if err != nil {
			errs = append(errs, err)
		}
		gone := map[string]bool{}
		for _, e := range removed {
			gone[e.ID] = true
		}
		kept := out.Runs[:0]
		for _, r := range out.Runs {
			if gone[r.ID] {
				kept = append(kept, r)
			}
		}
		out.Runs = kept
	}
	files, err := st.RemoveLeftovers(cutoff, opts.DryRun)
	out.Leftovers = append(out.Leftovers, files...)
	return errors.Join(append(errs, err)...)
}

// gcCache removes (or counts) the old model cache entries. A cache that
// does not exist is not created.
func (opts *gcOptions) gcCache(ctx context.Context, cutoff time.Time, out *gcJSON) error {
	dir, err := opts.cacheDir()
	if err != nil {
		return nil // no cache to look in
	}
	dir = filepath.Join(dir, "model")
	out.Cache.Dir = dir
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	c, err := model.OpenCache(dir)
	if err != nil {
		return err
	}
	st, err := c.Prune(ctx, cutoff, opts.DryRun)
	out.Cache.Entries, out.Cache.Bytes = st.Entries, st.Bytes
	return err
}

// gcTotals says on stderr what went (or would go), and what was kept.
func (opts *gcOptions) gcTotals(out gcJSON) {
	w := opts.env.Stderr
	var size int64
	originals := 0
	for _, r := range out.Runs {
		size += r.Bytes
		if r.ReplayOf == nil {
			originals++
		}
	}
	var parts []string
	if n := len(out.Runs); n > 0 {
		parts = append(parts, fmt.Sprintf("%s (%s, %s; %s)", plural(n, "run", "runs"),
			plural(originals, "original", "originals"), plural(n-originals, "replay", "replays"), sizeText(size)))
	}
	if out.Cache.Entries > 0 {
		parts = append(parts, fmt.Sprintf("%s (%s)", plural(out.Cache.Entries, "model cache entry", "model cache entries"), sizeText(out.Cache.Bytes)))
	}
	if n := len(out.Leftovers); n > 0 {
		var b int64
		for _, f := range out.Leftovers {
			b += f.Size
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", plural(n, "temporary file", "temporary files"), sizeText(b)))
	}
	when := out.Cutoff.Local().Format("2006-01-02 15:04")
	switch {
	case len(parts) == 0:
		fmt.Fprintf(w, "nothing stored before %s\n", when)
	case opts.DryRun:
		fmt.Fprintf(w, "would remove %s, stored before %s; nothing removed (--dry-run)\n", strings.Join(parts, ", "), when)
	default:
		fmt.Fprintf(w, "removed %s, stored before %s\n", strings.Join(parts, ", "), when)
	}
	if n := len(out.Kept); n > 0 {
		var ids []string
		for _, r := range out.Kept {
			ids = append(ids, shortID(r.ID))
		}
		fmt.Fprintf(w, "kept %s stored before then, as newer runs replay them: %s\n", plural(n, "run", "runs"), strings.Join(ids, ", "))
	}
}
