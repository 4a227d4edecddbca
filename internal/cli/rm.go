package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay/store"
)

type rmOptions struct {
	*globals
	Targets     []string
	WithReplays bool
	DryRun      bool
}

func newRmCmd(g *globals, runF func(context.Context, *rmOptions) error) *cobra.Command {
	if runF == nil {
		runF = runRm
	}
	opts := &rmOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "rm <trace>...",
		Short: "Remove runs from the store, with their files",
		Long: `Rm removes runs from the store: each <trace> (a stored id, a unique id prefix
of 4 or more characters, or a file whose content is stored) goes with its
native file and its index row.

A run that has replays (the verify and run outputs stored as replays of it,
and replays of those) is not removed alone, as its replays would point to
nothing: rm refuses, lists them, and removes nothing. --with-replays removes
them with it. A replay that nothing replays is removed as asked.

The full ids removed are printed on stdout, one a line; the totals go to
stderr. --dry-run prints what would go and removes nothing. An original
imported from a file comes back with replay import.`,
		Example: `  # A replay no longer needed
  replay rm 9f8e7d6c

  # An original and every replay of it; first, what would go
  replay rm 5c737df2 --with-replays --dry-run
  replay rm 5c737df2 --with-replays

  # The stored copy of a file
  replay rm ~/.claude/projects/-home-me-widgets/5d1c9e2a.jsonl

  # Every failed replay
  replay ls --replays --limit 0 --json | jq -r '.traces[] | select(.failed) | .id' | xargs -r replay rm`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Targets = args
			return runF(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.WithReplays, "with-replays", false, "also remove the runs that replay the ones named (replays of replays too)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print what would be removed; remove nothing")
	return cmd
}

func runRm(ctx context.Context, opts *rmOptions) error {
	home, exists, err := opts.storeExists()
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("rm %q: the store (%s) is empty", opts.Targets[0], home)
	}
	st, err := opts.openStore(ctx, nil)
	if err != nil {
		return err
	}
	defer st.Close()

	// Every argument resolves before anything goes.
	var named []store.Entry
	isNamed := map[string]bool{}
	for _, arg := range opts.Targets {
		e, err := st.ResolveAs(ctx, "rm", arg, store.ResolveOptions{Stored: true})
		if err != nil {
			return err
		}
		if !isNamed[e.ID] {
			isNamed[e.ID] = true
			named = append(named, e)
		}
	}
	// What replays them, and is not named itself.
	var replays []store.Entry
	var refused []string
	isReplay := map[string]bool{}
	for _, e := range named {
		rs, err := st.Replays(ctx, e.ID)
		if err != nil {
			return err
		}
		var own []store.Entry
		for _, r := range rs {
			if !isNamed[r.ID] {
				own = append(own, r)
			}
		}
		if len(own) == 0 {
			continue
		}
		refused = append(refused, fmt.Sprintf("  %s is replayed by %s", shortID(e.ID), replayList(own)))
		for _, r := range own {
			if !isReplay[r.ID] {
				isReplay[r.ID] = true
				replays = append(replays, r)
			}
		}
	}
	if len(refused) > 0 && !opts.WithReplays {
		return fmt.Errorf("rm: nothing removed: %s would point to nothing:\n%s\nremove them too with --with-replays, or remove them first",
			plural(len(replays), "stored replay", "stored replays"), strings.Join(refused, "\n"))
	}
	all := append(named, replays...)
	var size int64
	var originals int
	for _, e := range all {
		if fi, err := os.Stat(st.Path(e.ID)); err == nil {
			size += fi.Size()
		}
		if !e.IsReplay() {
			originals++
		}
	}
	what := fmt.Sprintf("%s (%s, %s; %s)", plural(len(all), "run", "runs"),
		plural(originals, "original", "originals"), plural(len(all)-originals, "replay", "replays"), sizeText(size))
	if opts.DryRun {
		for _, e := range all {
			fmt.Fprintln(opts.env.Stdout, e.ID)
		}
		fmt.Fprintf(opts.env.Stderr, "would remove %s; nothing removed (--dry-run)\n", what)
		return nil
	}
	ids := make([]string, len(all))
	for i, e := range all {
		ids[i] = e.ID
	}
	removed, err := st.Remove(ctx, ids)
	for _, e := range removed {
		fmt.Fprintln(opts.env.Stdout, e.ID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.env.Stderr, "removed %s\n", what)
	return nil
}

// replayList names replays briefly: id prefix and mode, the first few.
func replayList(rs []store.Entry) string {
	const show = 5
	var parts []string
	for i, r := range rs {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(rs)-show))
			break
		}
		parts = append(parts, strings.TrimSpace(shortID(r.ID)+" ("+r.ReplayMode+")"))
	}
	return strings.Join(parts, ", ")
}
