package sandbox

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// Backend starts sandboxes. The replay engine holds a Backend, never a
// Docker client: Docker is one backend (Docker below); a remote Docker
// host or Kubernetes Jobs can implement it beside, and sandboxtest.Run is
// the conformance suite each must pass.
type Backend interface {
	// Start creates and starts a sandbox with the options' workspace in
	// it. ctx bounds the sandbox's life: when it is done the sandbox is
	// removed, as Close does.
	Start(ctx context.Context, opts Options) (Sandbox, error)
	// Close releases the backend's own resources (a daemon connection),
	// not the sandboxes it started.
	Close() error
}

// Docker is the Docker Engine backend.
type Docker struct {
	cli *client.Client
	// CacheDir and Log fill the Options fields of every sandbox that
	// leaves them empty.
	CacheDir string
	Log      io.Writer
}

var _ Backend = (*Docker)(nil)

// NewDocker connects to the Docker daemon (see NewClient).
func NewDocker(ctx context.Context, opts ClientOptions) (*Docker, error) {
	cli, err := NewClient(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Docker{cli: cli}, nil
}

// DockerWith is the backend over an existing client (the caller keeps
// closing it).
func DockerWith(cli *client.Client) *Docker { return &Docker{cli: cli} }

// Start starts a container sandbox (see New).
func (d *Docker) Start(ctx context.Context, opts Options) (Sandbox, error) {
	if opts.CacheDir == "" {
		opts.CacheDir = d.CacheDir
	}
	if opts.Log == nil {
		opts.Log = d.Log
	}
	return New(ctx, d.cli, opts)
}

// ImageChecker is a backend that can say whether an image is at hand
// without pulling it (the Docker backend: on the daemon).
type ImageChecker interface {
	HasImage(ctx context.Context, image string) (bool, error)
}

var _ ImageChecker = (*Docker)(nil)

// HasImage reports whether the daemon holds the image; nothing is pulled.
func (d *Docker) HasImage(ctx context.Context, image string) (bool, error) {
	_, err := d.cli.ImageInspect(ctx, image)
	switch {
	case err == nil:
		return true, nil
	case errdefs.IsNotFound(err):
		return false, nil
	case isConnErr(err):
		return false, unavailable(d.cli.DaemonHost(), err)
	}
	return false, fmt.Errorf("inspect image %q: %w", image, err)
}

// Client is the Docker client, for the commands that manage images and
// leftovers (replay sandbox build|prune).
func (d *Docker) Client() *client.Client { return d.cli }

// Close closes the connection to the daemon.
func (d *Docker) Close() error { return d.cli.Close() }
