package sandbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// PruneOptions select what Prune removes. By default: the sandboxes whose
// owning replay is gone (see Owner), never another replay's live ones.
type PruneOptions struct {
	// All removes every sandbox, live or not.
	All bool
	// RunID limits pruning to one run's sandboxes (label io.replay.run),
	// whoever owns them.
	RunID string
	// Labels further limit pruning to containers and volumes carrying all
	// of these labels.
	Labels map[string]string
	// Images also removes images labelled as replay sandbox images
	// (BuildImage's), which are otherwise kept.
	Images bool
	// DryRun lists what would be removed without removing it.
	DryRun bool
}

// PruneReport says what Prune removed (or would remove), and what it kept.
type PruneReport struct {
	Containers []string `json:"containers"` // names
	Volumes    []string `json:"volumes"`
	Images     []string `json:"images"`
	// Runs are the run ids (label io.replay.run) of the removed sandboxes.
	Runs []string `json:"runs"`
	// Kept are sandboxes left in place: their owner is alive, or on
	// another host (--all removes them).
	Kept []KeptSandbox `json:"kept"`
}

// KeptSandbox is a sandbox Prune left in place, and why.
type KeptSandbox struct {
	Container string `json:"container"`
	Run       string `json:"run"`
	Owner     string `json:"owner"` // host:pid
	Liveness  string `json:"liveness"`
}

// Prune removes sandbox containers (running or not) and their volumes by
// label (io.replay.managed=true): by default those whose owning replay is
// gone — killed outright, say — and never another replay's live ones;
// opts.All removes them all, opts.RunID one run's.
func Prune(ctx context.Context, cli *client.Client, opts PruneOptions) (PruneReport, error) {
	rep := PruneReport{Containers: []string{}, Volumes: []string{}, Images: []string{}, Runs: []string{}, Kept: []KeptSandbox{}}
	self := Self()
	keptRuns := map[string]bool{}
	f := filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))
	if opts.RunID != "" {
		f.Add("label", LabelRun+"="+opts.RunID)
	}
	for k, v := range opts.Labels {
		f.Add("label", k+"="+v)
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		if isConnErr(err) {
			return rep, fmt.Errorf("prune sandboxes: %w", unavailable(cli.DaemonHost(), err))
		}
		return rep, fmt.Errorf("prune sandboxes: list containers: %w", err)
	}
	var errs []error
	for _, c := range list {
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = trimSlash(c.Names[0])
		}
		if !opts.All && opts.RunID == "" {
			o, ok := ownerOf(c.Labels)
			if l := liveness(o, ok, self); l != OwnerGone {
				rep.Kept = append(rep.Kept, KeptSandbox{Container: name, Run: c.Labels[LabelRun], Owner: o.Host + ":" + strconv.Itoa(o.PID), Liveness: l})
				keptRuns[c.Labels[LabelRun]] = true
				continue
			}
		}
		if !opts.DryRun {
			err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %q: %w", name, err))
				continue
			}
		}
		rep.Containers = append(rep.Containers, name)
		if r := c.Labels[LabelRun]; r != "" && !slices.Contains(rep.Runs, r) {
			rep.Runs = append(rep.Runs, r)
		}
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	} else {
		for _, v := range vols.Volumes {
			if keptRuns[v.Labels[LabelRun]] {
				continue // a kept sandbox's workspace
			}
			if !opts.DryRun {
				err := cli.VolumeRemove(ctx, v.Name, true)
				if err != nil && !errdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("remove volume %q: %w", v.Name, err))
					continue
				}
			}
			rep.Volumes = append(rep.Volumes, v.Name)
		}
	}
	if opts.Images {
		imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelImage))})
		if err != nil {
			errs = append(errs, fmt.Errorf("list images: %w", err))
		}
		for _, im := range imgs {
			name := im.ID
			if len(im.RepoTags) > 0 {
				name = im.RepoTags[0]
			}
			if !opts.DryRun {
				_, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true})
				if err != nil && !errdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("remove image %q: %w", name, err))
					continue
				}
			}
			rep.Images = append(rep.Images, name)
		}
	}
	sort.Strings(rep.Containers)
	sort.Strings(rep.Volumes)
	sort.Strings(rep.Images)
	if len(errs) > 0 {
		return rep, fmt.Errorf("prune sandboxes: %w", errors.Join(errs...))
	}
	return rep, nil
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}
