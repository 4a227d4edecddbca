package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/sandbox"
)

func newSandboxCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Build the sandbox image, remove leftover sandboxes",
		Long: `Tool calls are re-executed in a hardened Docker container: no network, all
capabilities dropped, a read-only root filesystem, a non-root user, pids,
memory and CPU limits. These commands manage what that needs.

Docker is found through DOCKER_HOST (unix, tcp with DOCKER_TLS_VERIFY and
DOCKER_CERT_PATH, or ssh), else the local socket.`,
	}
	cmd.AddCommand(newSandboxBuildCmd(g, nil), newSandboxPruneCmd(g, nil))
	return cmd
}

type sandboxBuildOptions struct {
	*globals
	Tag, Busybox string
	Force, JSON  bool
}

func newSandboxBuildCmd(g *globals, runF func(context.Context, *sandboxBuildOptions) error) *cobra.Command {
	if runF == nil {
		runF = runSandboxBuild
	}
	opts := &sandboxBuildOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the default sandbox image locally (no registry needed)",
		Long: `Build makes the default sandbox image (` + sandbox.DefaultImage + `) from a static busybox
found on this machine (Debian and Ubuntu: apt-get install busybox-static) and
imports it into Docker. No registry is used. An identical image is reused.
The commands that start sandboxes build it themselves on first use when it is
missing; this command does it ahead (or again, with --force).

Any image you already have works too: pass it with --image to the commands
that start sandboxes (your agent's own image, say). replay copies its static
tool executor into the container, so the image needs nothing of replay's.`,
		Example: `  replay sandbox build
  replay sandbox build --busybox /opt/busybox-static --tag my/sandbox:1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runF(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Tag, "tag", sandbox.DefaultImage, "name the image `TAG`")
	cmd.Flags().StringVar(&opts.Busybox, "busybox", "", "use the static busybox at `PATH` (default: /bin/busybox, /usr/bin/busybox, or busybox on PATH)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "rebuild even when an identical image exists")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func runSandboxBuild(ctx context.Context, opts *sandboxBuildOptions) error {
	cli, err := sandbox.NewClient(ctx, sandbox.ClientOptionsFromEnv(opts.env.Getenv))
	if err != nil {
		return err
	}
	defer cli.Close()
	res, err := sandbox.BuildImage(ctx, cli, sandbox.BuildOptions{Tag: opts.Tag, Busybox: opts.Busybox, Force: opts.Force})
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.env.Stdout, res)
	}
	what := "built"
	if res.Reused {
		what = "up to date"
	}
	fmt.Fprintf(opts.env.Stdout, "%s  %s  (%s, from %s)\n", res.Tag, shortID(res.ID), what, strings.Join(append([]string{res.Busybox}, res.Programs...), ", "))
	for _, m := range res.Missing {
		fmt.Fprintf(opts.env.Stderr, "note: not in the image: %s\n", m)
	}
	return nil
}

type sandboxPruneOptions struct {
	*globals
	Run                  string
	All, Stale           bool
	Images, DryRun, JSON bool
}

func newSandboxPruneCmd(g *globals, runF func(context.Context, *sandboxPruneOptions) error) *cobra.Command {
	if runF == nil {
		runF = runSandboxPrune
	}
	opts := &sandboxPruneOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove leftover sandbox containers and volumes",
		Long: `Prune removes the containers and volumes replay created (label
io.replay.managed=true) that were left behind: those whose owning replay
process is gone (killed outright, say, so it could not clean up). Every
sandbox records its owner (host and process) in its labels; the sandboxes of
replays still running, and of replays on other hosts sharing the daemon,
are kept and listed (--all removes them too).

A replay run with --verbose prints its sandbox's run id when it starts;
--run removes that run's sandboxes whoever owns them.`,
		Example: `  replay sandbox prune --dry-run
  replay sandbox prune                    # leftovers of replays that are gone
  replay sandbox prune --run 5ef49dd6     # one run's sandboxes
  replay sandbox prune --all              # every sandbox, live ones included
  replay sandbox prune --images           # the sandbox images too`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runF(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Run, "run", "", "only the sandboxes of run `ID` (label io.replay.run), whoever owns them")
	cmd.Flags().BoolVar(&opts.All, "all", false, "every sandbox, also those of replays still running or on other hosts")
	cmd.Flags().BoolVar(&opts.Stale, "stale", false, "only sandboxes whose owning replay is gone (the default)")
	cmd.Flags().BoolVar(&opts.Images, "images", false, "also remove the images replay built")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list what would be removed, remove nothing")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print what was removed as JSON")
	return cmd
}

func runSandboxPrune(ctx context.Context, opts *sandboxPruneOptions) error {
	cli, err := sandbox.NewClient(ctx, sandbox.ClientOptionsFromEnv(opts.env.Getenv))
	if err != nil {
		return err
	}
	defer cli.Close()
	if opts.All && (opts.Stale || opts.Run != "") {
		return usage(fmt.Errorf("--all removes every sandbox: it does not go with --stale or --run"))
	}
	rep, err := sandbox.Prune(ctx, cli, sandbox.PruneOptions{All: opts.All, RunID: opts.Run, Images: opts.Images, DryRun: opts.DryRun})
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.env.Stdout, struct {
			Version int  `json:"version"`
			DryRun  bool `json:"dry_run"`
			sandbox.PruneReport
		}{1, opts.DryRun, rep})
	}
	verb := "removed"
	if opts.DryRun {
		verb = "would remove"
	}
	w := opts.env.Stdout
	fmt.Fprintf(w, "%s %d container(s), %d volume(s), %d image(s)\n", verb, len(rep.Containers), len(rep.Volumes), len(rep.Images))
	for _, list := range [][]string{rep.Containers, rep.Volumes, rep.Images} {
		if len(list) > 0 {
			fmt.Fprintln(w, "  "+strings.Join(list, "\n  "))
		}
	}
	// The store's notes name what killed replays left.
	if _, exists, _ := opts.storeExists(); exists {
		if st, err := opts.openStore(ctx, nil); err == nil {
			defer st.Close()
			recs, _ := st.Sandboxes()
			for _, r := range recs {
				if slices.Contains(rep.Runs, r.Run) {
					fmt.Fprintf(w, "  run %s was left by a replay of %s started %s (process %d)\n", r.Run, shortID(r.Trace), r.Started.Format(time.RFC3339), r.PID)
					if !opts.DryRun {
						st.ForgetSandbox(r.Run)
					}
				}
			}
		}
	}
	if len(rep.Kept) > 0 {
		fmt.Fprintf(w, "kept %d sandbox(es) of replays that may still be running (--all removes them):\n", len(rep.Kept))
		for _, k := range rep.Kept {
			fmt.Fprintf(w, "  %s  run %s  owner %s (%s)\n", k.Container, k.Run, k.Owner, k.Liveness)
		}
	}
	return nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
