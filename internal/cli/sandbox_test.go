package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
)

// TestSandboxCommands runs `replay sandbox build` and `replay sandbox prune`
// against the real daemon: the image is reused when it is up to date, and a
// container left by a killed replay (labelled, never cleaned) is listed by
// --dry-run and removed by prune.
func TestSandboxCommands(t *testing.T) {
	cli := sandboxtest.Docker(t)
	sandboxtest.EnsureImage(t, cli)
	env := map[string]string{}
	for _, k := range []string{"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION"} {
		env[k] = os.Getenv(k)
	}

	code, out, errs := runCLI(t, env, "sandbox", "build", "--json")
	var built sandbox.BuildResult
	if code != 0 || json.Unmarshal([]byte(out), &built) != nil {
		t.Fatalf("sandbox build: exit %d\n%s\n%s", code, out, errs)
	}
	if !built.Reused || built.Tag != sandbox.DefaultImage {
		t.Errorf("sandbox build of an up-to-date image: %+v; want it reused", built)
	}

	b := make([]byte, 6)
	rand.Read(b)
	run := "test-" + hex.EncodeToString(b)
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, &container.Config{
		Image:  sandbox.DefaultImage,
		Cmd:    []string{"/bin/sh"},
		Labels: map[string]string{sandbox.LabelManaged: "true", sandbox.LabelRun: run},
	}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })

	code, out, errs = runCLI(t, env, "sandbox", "prune", "--run", run, "--dry-run")
	if code != 0 || !strings.HasPrefix(out, "would remove 1 container(s)") {
		t.Fatalf("prune --dry-run: exit %d\n%s\n%s", code, out, errs)
	}
	if left := sandboxtest.Leftovers(t, cli, map[string]string{sandbox.LabelRun: run}); len(left) != 1 {
		t.Fatalf("--dry-run removed something: %v left", left)
	}
	code, out, errs = runCLI(t, env, "sandbox", "prune", "--run", run)
	if code != 0 || !strings.HasPrefix(out, "removed 1 container(s)") {
		t.Fatalf("prune: exit %d\n%s\n%s", code, out, errs)
	}
	if left := sandboxtest.Leftovers(t, cli, map[string]string{sandbox.LabelRun: run}); len(left) != 0 {
		t.Errorf("left after prune: %v", left)
	}
}

func TestSandboxWithoutDocker(t *testing.T) {
	code, _, errs := runCLI(t, map[string]string{"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, "sandbox", "prune")
	if code != 2 || !strings.Contains(errs, "DOCKER_HOST") || !strings.Contains(errs, "start Docker") {
		t.Errorf("exit %d, stderr %s; want exit 2 naming DOCKER_HOST and how to start Docker", code, errs)
	}
}
