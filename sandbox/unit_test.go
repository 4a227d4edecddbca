package sandbox

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/sandbox/executor"
)

func TestOptionsDefaultsAndValidation(t *testing.T) {
	var o Options
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	if o.Image != DefaultImage || o.WorkDir != DefaultWorkDir || o.User != DefaultUser || o.RunID == "" ||
		o.MemoryBytes != DefaultMemory || o.PidsLimit != DefaultPids || o.CallTimeout != DefaultCallTimeout || o.OutputLimit != 30000 {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range []Options{
		{User: "0:0"}, {User: "root"}, {User: "1000"}, {WorkDir: "rel"}, {Env: []string{"NOEQUALS"}},
		{WorkDir: "/w", Cwd: "/elsewhere"},
	} {
		if err := bad.defaults(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	o = Options{WorkDir: "/a/b/../c/"}
	if err := o.defaults(); err != nil || o.WorkDir != "/a/c" {
		t.Errorf("WorkDir cleaned to %q (%v)", o.WorkDir, err)
	}
}

// A recorded working directory that is one of the image's own (/usr, /etc)
// or the sandbox's (/tmp, /proc) is never mounted over: it is remapped under
// RemapRoot, never refused; any other directory stays where it was recorded.
func TestWorkDirRemap(t *testing.T) {
	tests := []struct {
		workDir, cwd      string
		wantDir, wantCwd  string
		remapped          bool
		volTarget, prefix string
	}{
		{"/usr", "/usr", "/sandbox/remap/usr", "/sandbox/remap/usr", true, "/sandbox/remap", "usr"},
		{"/etc", "", "/sandbox/remap/etc", "", true, "/sandbox/remap", "etc"},
		{"/tmp/project", "/tmp/project/src", "/sandbox/remap/tmp/project", "/sandbox/remap/tmp/project/src", true, "/sandbox/remap/tmp", "project"},
		{"/proc/x", "", "/sandbox/remap/proc/x", "", true, "/sandbox/remap/proc", "x"},
		{"/.replay", "", "/sandbox/remap/.replay", "", true, "/sandbox/remap", ".replay"},
		{"/", "", "/sandbox/remap", "", true, "/sandbox", "remap"},
		// Not collisions: the volume sits on the directory itself (nothing
		// of the image's /usr or /home is hidden), or on /sandbox.
		{"/usr/app", "", "/usr/app", "", false, "/usr/app", ""},
		{"/home/me/widgets", "/home/me/widgets", "/home/me/widgets", "/home/me/widgets", false, "/home/me/widgets", ""},
		{"/sandbox/workspace", "/sandbox/workspace/widgets", "/sandbox/workspace", "/sandbox/workspace/widgets", false, "/sandbox", "workspace"},
		{"/work", "", "/work", "", false, "/work", ""},
	}
	for _, tt := range tests {
		o := Options{WorkDir: tt.workDir, Cwd: tt.cwd}
		if err := o.defaults(); err != nil {
			t.Errorf("%s: %v", tt.workDir, err)
			continue
		}
		if o.WorkDir != tt.wantDir || o.Cwd != tt.wantCwd || (o.remap != nil) != tt.remapped {
			t.Errorf("%s: work dir %q cwd %q remap %+v", tt.workDir, o.WorkDir, o.Cwd, o.remap)
		}
		if tt.remapped && (o.remap.From != path.Clean(tt.workDir) || o.remap.To != tt.wantDir) {
			t.Errorf("%s: remap %+v", tt.workDir, o.remap)
		}
		sp := containerSpec(o, time.Unix(0, 0), "x")
		if sp.VolTarget != tt.volTarget || sp.Prefix != tt.prefix {
			t.Errorf("%s: volume at %q prefix %q, want %q %q", tt.workDir, sp.VolTarget, sp.Prefix, tt.volTarget, tt.prefix)
		}
	}
}

func TestClientOptionsFromEnv(t *testing.T) {
	env := map[string]string{"DOCKER_HOST": "ssh://u@h:2222", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs", "DOCKER_API_VERSION": "1.41"}
	got := ClientOptionsFromEnv(func(k string) string { return env[k] })
	want := ClientOptions{Host: "ssh://u@h:2222", APIVersion: "1.41", CertPath: "/certs", TLSVerify: true}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if (ClientOptionsFromEnv(func(string) string { return "" }) != ClientOptions{}) {
		t.Error("empty environment does not give the zero options")
	}
}

func TestFindExecutor(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs linux")
	}
	dir := t.TempDir()
	static := filepath.Join(dir, "replay-executor")
	cmd := exec.Command("go", "build", "-o", static, "github.com/agentreplay/replay/cmd/replay-executor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ex, err := FindExecutor("amd64", static)
	if err != nil || ex.Source != static || len(ex.Bin) == 0 {
		t.Fatalf("FindExecutor(static) = %+v, %v", ex, err)
	}
	if _, err := FindExecutor("arm64", static); err == nil || !strings.Contains(err.Error(), "built for") {
		t.Errorf("wrong architecture accepted: %v", err)
	}
	if _, err := FindExecutor("amd64", "/etc/passwd"); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("a text file accepted: %v", err)
	}
	if dyn, err := exec.LookPath("ls"); err == nil && runtime.GOARCH == "amd64" {
		if _, err := FindExecutor("amd64", dyn); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
			t.Errorf("a dynamic binary accepted: %v", err)
		}
	}
	if _, err := FindExecutor("amd64", filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file accepted")
	}
}

func TestToolDefs(t *testing.T) {
	accepted := executor.ToolNames()
	for _, d := range append(append(ClaudeCodeTools(), GenericTools()...), BenchTools()...) {
		if !slices.Contains(accepted, d.Name) {
			t.Errorf("tool %q is offered but the executor does not accept it", d.Name)
		}
		var s struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		}
		if err := json.Unmarshal(d.Schema, &s); err != nil || s.Type != "object" {
			t.Errorf("%s: schema %s: %v", d.Name, d.Schema, err)
		}
		for _, r := range s.Required {
			if _, ok := s.Properties[r]; !ok {
				t.Errorf("%s: required %q is not a property", d.Name, r)
			}
		}
	}
	if n := len(ClaudeCodeTools()) + len(GenericTools()) + len(BenchTools()); n != len(accepted) {
		t.Errorf("%d tools offered, %d accepted", n, len(accepted))
	}
}

func TestSSHArgs(t *testing.T) {
	tests := []struct {
		host string
		want []string
	}{
		{"ssh://h", []string{"--", "h", "docker", "system", "dial-stdio"}},
		{"ssh://me@h.example:2222", []string{"-l", "me", "-p", "2222", "--", "h.example", "docker", "system", "dial-stdio"}},
	}
	for _, tt := range tests {
		got, err := sshArgs(tt.host)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("sshArgs(%q) = %q, %v; want %q", tt.host, got, err, tt.want)
		}
	}
	for _, bad := range []string{"ssh://", "ssh://h/path", "ssh://%zz"} {
		if _, err := sshArgs(bad); err == nil {
			t.Errorf("sshArgs(%q) accepted", bad)
		}
	}
}
