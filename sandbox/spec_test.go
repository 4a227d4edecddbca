package sandbox

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/mount"
)

// TestContainerSpecHardening: the container a sandbox runs in is hardened
// from its options alone — checked here without a daemon; TestHardening
// checks the same on a real container.
func TestContainerSpecHardening(t *testing.T) {
	// A secret in the host's environment must not reach the container.
	t.Setenv("OPENAI_API_KEY", "sk-host-secret")
	t.Setenv("REPLAY_HOST_SECRET_TEST", "do-not-leak")
	o := Options{RunID: "r/1 x", Labels: map[string]string{"io.replay.original": "abc"}, Env: []string{"EXTRA=1"}}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	sp := containerSpec(o, now, "beef")
	cfg, hc := sp.Config, sp.Host

	checks := []struct {
		what string
		ok   bool
	}{
		{"all capabilities dropped, none added", slices.Equal([]string(hc.CapDrop), []string{"ALL"}) && len(hc.CapAdd) == 0},
		{"no-new-privileges", slices.Contains(hc.SecurityOpt, "no-new-privileges")},
		{"read-only root filesystem", hc.ReadonlyRootfs},
		{"no network", string(hc.NetworkMode) == "none" && cfg.NetworkDisabled},
		{"not privileged", !hc.Privileged},
		{"non-root user", cfg.User == DefaultUser},
		{"memory limit, no swap", hc.Memory == DefaultMemory && hc.MemorySwap == DefaultMemory},
		{"pids limit", hc.PidsLimit != nil && *hc.PidsLimit == DefaultPids},
		{"cpu limit", hc.NanoCPUs == int64(DefaultCPUs*1e9)},
		{"/tmp capped", strings.Contains(hc.Tmpfs["/tmp"], "size=536870912")},
		{"the executor is the container's init (no docker-init holding the protocol's streams)", hc.Init != nil && !*hc.Init},
		{"no log driver", hc.LogConfig.Type == "none"},
		{"no host mounts", !slices.ContainsFunc(hc.Mounts, func(m mount.Mount) bool { return m.Type == mount.TypeBind })},
		{"executor as entrypoint", len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == executorPath},
		{"labels", cfg.Labels[LabelManaged] == "true" && cfg.Labels[LabelRun] == "r/1 x" && cfg.Labels[LabelCreated] == "1700000000" && cfg.Labels["io.replay.original"] == "abc"},
		{"name from the run id", sp.Name == "replay-r-1-x-beef"},
		{"workspace volume on the work dir's parent", sp.VolTarget == "/sandbox" && sp.Prefix == "workspace"},
		{"files owned by the sandbox user", sp.UID == 1000 && sp.GID == 1000},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not so (config %+v, host %+v)", c.what, cfg, hc)
		}
	}
	// The environment is the fixed base plus what the options name: nothing
	// of the host's.
	want := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp", "LANG=C.UTF-8", "TMPDIR=/tmp", "EXTRA=1"}
	if !slices.Equal(cfg.Env, want) {
		t.Errorf("container environment %q, want %q", cfg.Env, want)
	}
	for _, kv := range cfg.Env {
		if strings.Contains(kv, "sk-host-secret") || strings.Contains(kv, "do-not-leak") {
			t.Errorf("host secret in the container environment: %q", kv)
		}
	}

	// Network on request only; a top-level work dir is its own volume.
	o.Network, o.WorkDir = true, "/work"
	sp = containerSpec(o, now, "beef")
	if string(sp.Host.NetworkMode) != "bridge" || sp.Config.NetworkDisabled {
		t.Errorf("Network: %s %v", sp.Host.NetworkMode, sp.Config.NetworkDisabled)
	}
	if sp.VolTarget != "/work" || sp.Prefix != "" {
		t.Errorf("top-level work dir: volume %q prefix %q", sp.VolTarget, sp.Prefix)
	}
}
