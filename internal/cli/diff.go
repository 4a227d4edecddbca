package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/diff"
	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
)

type diffOptions struct {
	*globals
	Targets []string
	Format  string
	Out     string
	Color   string // auto, always, never
}

func newDiffCmd(g *globals, runF func(context.Context, *diffOptions) error) *cobra.Command {
	if runF == nil {
		runF = runDiff
	}
	opts := &diffOptions{globals: g}
	cmd := &cobra.Command{
		Use:   "diff <a> <b>...",
		Short: "Compare two runs decision by decision: first divergence, decision, tools, files, cost",
		Long: `Diff compares run <a> (usually the original) with run <b> (usually a replay):
the steps of both are aligned (an inserted or deleted step does not shift the
rest), and the report says where the actions first part and of what kind
(tool_choice, args_only, order_change, inserted, deleted, result_status,
final_output, decision), where they align again, how the decision changed
(for a review: the action and the findings added, removed and changed), the
tool calls, the files changed, tokens, cost and latency, and the final
message.

With more runs, <a> is the original and each <b> a replay of it (the samples
of replay run --repeat N): the report gives the distribution of the
replays' decisions, the flip rate against the original and where the
replays part from each other.

A run is a path (a trace file or run directory, read without storing it), a
stored id or a unique id prefix.

Formats: text (for a terminal; colour only on one, NO_COLOR honoured), json
(schema replay.diff/v1, complete), md (for a pull request comment or a
GitHub Actions step summary, under GitHub's 64 KB limit), html (one
self-contained page). -o writes the report to a file.

Exit code 0 when the runs agree on the decision, 1 when they differ, 2 on
bad input.`,
		Example: `  replay diff 5c737df2 de99514f
  replay diff 5c737df2 de99514f --format md >> "$GITHUB_STEP_SUMMARY"
  replay diff testdata/example/run 51925df4 --format html -o diff.html
  replay diff 5c737df2 $(replay ls --json | jq -r '.[] | select(.replay_of=="5c737df2…") | .id')`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Targets = args
			return runF(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Format, "format", "", "report `FORMAT`: text, json, md or html (default text, or what -o's extension says)")
	fl.StringVarP(&opts.Out, "output", "o", "", "write the report to `FILE` instead of stdout")
	fl.StringVar(&opts.Color, "color", "auto", "colour the text report: auto (a terminal without NO_COLOR), always, never")
	return cmd
}

// diffFormat picks the report format: --format, else -o's extension, else
// text.
func diffFormat(format, out string) (string, error) {
	if format == "" {
		switch strings.ToLower(filepath.Ext(out)) {
		case ".json":
			return diff.FormatJSON, nil
		case ".md", ".markdown":
			return diff.FormatMarkdown, nil
		case ".html", ".htm":
			return diff.FormatHTML, nil
		}
		return diff.FormatText, nil
	}
	if format == "markdown" {
		return diff.FormatMarkdown, nil
	}
	if !slices.Contains(diff.Formats, format) {
		return "", usage(fmt.Errorf("--format %q: want text, json, md or html", format))
	}
	return format, nil
}

// diffRequest is what the flags ask for, checked without I/O.
type diffRequest struct {
	Targets []string
	Format  string
	Out     string
	Color   bool
}

func (opts *diffOptions) request() (diffRequest, error) {
	f, err := diffFormat(opts.Format, opts.Out)
	if err != nil {
		return diffRequest{}, err
	}
	req := diffRequest{Targets: opts.Targets, Format: f, Out: opts.Out}
	switch opts.Color {
	case "always":
		req.Color = true
	case "never":
	case "auto", "":
		req.Color = opts.Out == "" && f == diff.FormatText && opts.env.Getenv("NO_COLOR") == "" && isTerminal(opts.env.Stdout)
	default:
		return diffRequest{}, usage(fmt.Errorf("--color %q: want auto, always or never", opts.Color))
	}
	if f != diff.FormatText {
		req.Color = false
	}
	return req, nil
}

// isTerminal reports whether w is a character device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runDiff(ctx context.Context, opts *diffOptions) error {
	req, err := opts.request()
	if err != nil {
		return err
	}
	st, closeStore, err := opts.storeIfAny(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	runs := make([]*trace.Run, 0, len(req.Targets))
	for _, arg := range req.Targets {
		t, err := store.ParseTarget("diff", arg)
		if err != nil {
			return err
		}
		target := exportTarget{arg: arg, path: arg}
		if !t.IsPath {
			if st == nil {
				home, _ := opts.homeDir()
				return t.EmptyStoreError(home)
			}
			e, err := st.Find(ctx, t, store.ResolveOptions{})
			if err != nil {
				return err
			}
			target = exportTarget{arg: arg, id: e.ID}
		}
		r, err := loadRun(ctx, st, target)
		if err != nil {
			return fmt.Errorf("diff %q: %w", arg, err)
		}
		runs = append(runs, r)
	}
	pricing, err := opts.pricing()
	if err != nil {
		return err
	}
	dopts := diffOpts(pricing)
	ropts := diff.RenderOptions{Color: req.Color}
	var buf bytes.Buffer
	agree := true
	if len(runs) == 2 {
		rep := diff.Runs(runs[0], runs[1], dopts)
		agree = rep.Verdict.Agree
		err = diff.Render(&buf, req.Format, rep, ropts)
	} else {
		m := diff.RunsMany(runs[0], runs[1:], dopts)
		agree = m.Flips == 0
		err = diff.RenderMany(&buf, req.Format, m, ropts)
	}
	if err != nil {
		return err
	}
	if err := writeReport(opts.env.Stdout, req.Out, buf.Bytes()); err != nil {
		return err
	}
	if !agree {
		return &exitError{code: ExitCheckFailed}
	}
	return nil
}

// diffOpts are the diff's options every command uses: the pricing table,
// and verify's normalizations for results of the same call.
func diffOpts(pricing trace.Pricer) diff.Options {
	return diff.Options{Pricer: pricing, SameResult: func(tool, a string, aErr bool, b string, bErr bool) bool {
		return replay.CompareResults(tool, a, aErr, b, bErr).Status == replay.Match
	}, Effects: replay.WriteEffects}
}

// writeReport writes a report to stdout, or to the file out (whole, or not
// at all).
func writeReport(stdout io.Writer, out string, b []byte) error {
	if out == "" || out == "-" {
		_, err := stdout.Write(b)
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
