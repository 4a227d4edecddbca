package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// PruneOptions select what Prune removes.
type PruneOptions struct {
	// RunID limits pruning to one run's sandboxes (label io.replay.run).
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

// PruneReport says what Prune removed (or would remove).
type PruneReport struct {
	Containers []string `json:"containers"` // names
	Volumes    []string `json:"volumes"`
	Images     []string `json:"images"`
}

// Prune removes sandbox containers (running or not) and their volumes by
// label (io.replay.managed=true), including those left by a replay process
// that was killed outright. Note that it also removes the sandboxes of
// replay processes still running unless RunID or Labels narrow it.
func Prune(ctx context.Context, cli *client.Client, opts PruneOptions) (PruneReport, error) {
	rep := PruneReport{Containers: []string{}, Volumes: []string{}, Images: []string{}}
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
		if !opts.DryRun {
			err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %q: %w", name, err))
				continue
			}
		}
		rep.Containers = append(rep.Containers, name)
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	} else {
		for _, v := range vols.Volumes {
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
