package sandbox_test

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
)

// repoSource is an AutoSource over files in memory.
func repoSource(files map[string]string) sandbox.AutoSource {
	return sandbox.AutoSource{
		ReadFile: func(_ context.Context, name string) ([]byte, error) {
			if b, ok := files[name]; ok {
				return []byte(b), nil
			}
			return nil, fmt.Errorf("read %s: %w", name, fs.ErrNotExist)
		},
		WriteTree: func(_ context.Context, w io.Writer) error {
			tw := tar.NewWriter(w)
			var names []string
			for n := range files {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg}); err != nil {
					return err
				}
				if _, err := io.WriteString(tw, files[n]); err != nil {
					return err
				}
			}
			return tw.Close()
		},
	}
}

func removeImage(t *testing.T, cli *client.Client, ref string) {
	t.Cleanup(func() {
		cli.ImageRemove(context.Background(), ref, image.RemoveOptions{PruneChildren: true})
	})
}

// TestAutoImage: --image auto takes the devcontainer's image when the
// daemon has it, else builds the devcontainer's or the root's Dockerfile
// (from local material only: nothing is pulled), once per content; else
// the default image. A devcontainer file that does not parse and a
// Dockerfile that fails are errors with what to fix and the log's tail.
func TestAutoImage(t *testing.T) {
	cli := sandboxtest.Docker(t)
	sandboxtest.EnsureImage(t, cli)
	ctx := context.Background()
	nonce := fmt.Sprint(time.Now().UnixNano()) // a tree no other run built

	t.Run("nothing: the default image", func(t *testing.T) {
		res, err := sandbox.AutoImageFor(ctx, cli, repoSource(map[string]string{"a.txt": "x"}), nil)
		if err != nil || res.Image != sandbox.DefaultImage || res.How != "default" {
			t.Fatalf("%+v, %v", res, err)
		}
	})
	t.Run("a devcontainer image the daemon has", func(t *testing.T) {
		src := repoSource(map[string]string{".devcontainer/devcontainer.json": "{\n  // the team's image\n  \"image\": \"" + sandbox.DefaultImage + "\", /* pinned */\n  \"features\": {},\n}\n"})
		res, err := sandbox.AutoImageFor(ctx, cli, src, nil)
		if err != nil || res.Image != sandbox.DefaultImage || res.How != "devcontainer image" {
			t.Fatalf("%+v, %v", res, err)
		}
	})
	t.Run("a devcontainer that does not parse", func(t *testing.T) {
		_, err := sandbox.AutoImageFor(ctx, cli, repoSource(map[string]string{".devcontainer/devcontainer.json": `{"image": }`}), nil)
		if err == nil || !strings.Contains(err.Error(), "parse .devcontainer/devcontainer.json") || !strings.Contains(err.Error(), "--image IMAGE") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("a devcontainer build, its image missing", func(t *testing.T) {
		src := repoSource(map[string]string{
			".devcontainer/devcontainer.json": `{"image": "replay-test-absent:none", "build": {"dockerfile": "Dockerfile", "context": ".."}}`,
			".devcontainer/Dockerfile":        "FROM scratch\nCOPY a.txt /a.txt\n",
			"a.txt":                           nonce,
		})
		res, err := sandbox.AutoImageFor(ctx, cli, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		removeImage(t, cli, res.Image)
		if res.How != "devcontainer build" || !res.Built || res.Source != ".devcontainer/Dockerfile" || !strings.Contains(res.Note, "replay-test-absent:none") {
			t.Errorf("%+v", res)
		}
	})
	t.Run("the root Dockerfile, built once", func(t *testing.T) {
		src := repoSource(map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /a.txt\n", "a.txt": nonce + "-root"})
		res, err := sandbox.AutoImageFor(ctx, cli, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		removeImage(t, cli, res.Image)
		if res.How != "Dockerfile" || !res.Built || !strings.HasPrefix(res.Image, "replay-auto:") {
			t.Errorf("%+v", res)
		}
		img, err := cli.ImageInspect(ctx, res.Image)
		if err != nil || img.Config.Labels[sandbox.LabelImage] != "auto" || img.Config.Labels[sandbox.LabelAutoSource] != "Dockerfile" {
			t.Errorf("labels %v (%v)", img.Config.Labels, err)
		}
		again, err := sandbox.AutoImageFor(ctx, cli, src, nil)
		if err != nil || again.Image != res.Image || again.Built {
			t.Errorf("the same tree again: %+v, %v; want it reused", again, err)
		}
	})
	t.Run("a Dockerfile that fails", func(t *testing.T) {
		src := repoSource(map[string]string{"Dockerfile": "FROM " + sandbox.DefaultImage + "\nRUN echo " + nonce + " > /tmp/one\nRUN echo the-build-said-this && exit 3\n"})
		_, err := sandbox.AutoImageFor(ctx, cli, src, nil)
		if err == nil {
			t.Fatal("no error")
		}
		msg := err.Error()
		if !strings.Contains(msg, "--image auto: build Dockerfile") || !strings.Contains(msg, "last lines of the build log:") || !strings.Contains(msg, "the-build-said-this") {
			t.Errorf("error %q", msg)
		}
		// No half-built image: the layer of the step that ran is gone, so
		// building again runs that step again instead of using a cache.
		_, err = sandbox.AutoImageFor(ctx, cli, src, nil)
		if err == nil || strings.Contains(err.Error(), "Using cache") {
			t.Errorf("the second build used a layer the failed one left:\n%v", err)
		}
		t.Log(err)
	})
}
