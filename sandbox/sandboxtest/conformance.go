package sandboxtest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/agentreplay/replay/sandbox"
)

// Factory makes a sandbox for one conformance test: workspace is a tar
// stream to place at workDir. The factory registers the sandbox's cleanup
// with t (the suite also closes it, to check Close is idempotent).
type Factory func(t *testing.T, workspace io.Reader, workDir string) sandbox.Sandbox

// Run is the conformance suite every sandbox backend must pass: tool
// results in Claude Code's formats, the workspace copied in with modes and
// symlinks, paths outside the workspace refused, writes outside it
// failing, output limits, time limits, change tracking, copy-out and
// Close. Docker-specific hardening (network, capabilities, resource
// limits) is tested beside the Docker backend.
func Run(t *testing.T, newSandbox Factory) {
	const wd = "/sandbox/workspace/repo"
	workspace := func(t *testing.T) io.Reader {
		return Tar(t,
			File{Name: "README.md", Body: "# repo\nhello world\n"},
			File{Name: "src/", Dir: true},
			File{Name: "src/main.go", Body: "package main\n\nfunc main() {\n\tprintln(\"hi\")\n}\n"},
			File{Name: "src/util.go", Body: "package main\n\nfunc helper() int { return 42 }\n"},
			File{Name: "run.sh", Body: "#!/bin/sh\necho ran \"$@\"\n", Mode: 0o755},
			File{Name: "private.key", Body: "k\n", Mode: 0o600},
			File{Name: "docs/guide.md", Body: "guide\n"}, // no entry for docs/: parents are made
			File{Name: "link-to-readme", Link: "README.md"},
			File{Name: "link-out", Link: "/etc"},
		)
	}
	exec := func(t *testing.T, sb sandbox.Sandbox, name, args string) sandbox.Result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		r, err := sb.Exec(ctx, sandbox.ToolCall{Name: name, Arguments: json.RawMessage(strings.ReplaceAll(args, "$WD", wd))})
		if err != nil {
			t.Fatalf("%s %s: %v", name, args, err)
		}
		return r
	}
	expect := func(t *testing.T, r sandbox.Result, isError bool, contains ...string) {
		t.Helper()
		if r.IsError != isError {
			t.Errorf("IsError = %v, want %v; output:\n%s", r.IsError, isError, r.Output)
		}
		for _, c := range contains {
			if !strings.Contains(r.Output, strings.ReplaceAll(c, "$WD", wd)) {
				t.Errorf("output does not contain %q:\n%s", c, r.Output)
			}
		}
	}

	// One sandbox serves the read-mostly checks; tests that change state
	// or break things get their own.
	shared := newSandbox(t, workspace(t), wd)
	ctx := context.Background()

	t.Run("WorkDir", func(t *testing.T) {
		if got := shared.WorkDir(); got != wd {
			t.Errorf("WorkDir() = %q, want %q", got, wd)
		}
		expect(t, exec(t, shared, "Bash", `{"command":"pwd"}`), false, wd)
	})
	t.Run("BashExitCodeAndStreams", func(t *testing.T) {
		r := exec(t, shared, "Bash", `{"command":"echo out; echo err >&2; exit 7"}`)
		expect(t, r, true, "Exit code 7\nerr\nout")
		if r.ExitCode == nil || *r.ExitCode != 7 {
			t.Errorf("ExitCode = %v, want 7", r.ExitCode)
		}
	})
	t.Run("ModesAndSymlinksKept", func(t *testing.T) {
		r := exec(t, shared, "Bash", `{"command":"stat -c '%n %a %U' run.sh private.key README.md src docs && readlink link-to-readme && readlink link-out && ./run.sh ok"}`)
		expect(t, r, false, "run.sh 755", "private.key 600", "README.md 644", "src 755", "docs 755", "README.md\n/etc", "ran ok")
		// Everything in the workspace belongs to the sandbox user, so the
		// agent can change it; so does the workspace directory itself.
		r = exec(t, shared, "Bash", `{"command":"test \"$(stat -c %u run.sh)\" = \"$(id -u)\" && test -w . && test -w docs && echo owned"}`)
		expect(t, r, false, "owned")
	})
	t.Run("Read", func(t *testing.T) {
		expect(t, exec(t, shared, "Read", `{"file_path":"$WD/src/util.go","offset":3}`), false, "3\tfunc helper() int { return 42 }")
		expect(t, exec(t, shared, "Read", `{"file_path":"$WD/link-to-readme"}`), false, "1\t# repo")
	})
	t.Run("GlobGrepLS", func(t *testing.T) {
		expect(t, exec(t, shared, "Glob", `{"pattern":"**/*.go"}`), false, "$WD/src/main.go", "$WD/src/util.go")
		expect(t, exec(t, shared, "Grep", `{"pattern":"func \\w+\\(","output_mode":"content","path":"$WD/src"}`), false,
			"$WD/src/main.go:3:func main() {", "$WD/src/util.go:3:func helper() int { return 42 }")
		expect(t, exec(t, shared, "LS", `{"path":"$WD"}`), false, "- $WD/\n", "  - src/\n    - main.go\n")
	})
	t.Run("OutsideWorkspaceRefused", func(t *testing.T) {
		for _, args := range []struct{ tool, args string }{
			{"Read", `{"file_path":"../../../etc/passwd"}`},
			{"Read", `{"file_path":"/etc/passwd"}`},
			{"Read", `{"file_path":"$WD/link-out/passwd"}`},
			{"Write", `{"file_path":"/etc/evil","content":"x"}`},
			{"Write", `{"file_path":"$WD/link-out/evil","content":"x"}`},
			{"Edit", `{"file_path":"/etc/passwd","old_string":"root","new_string":"toor"}`},
			{"Grep", `{"pattern":"root","path":"/etc"}`},
			{"LS", `{"path":"/"}`},
		} {
			r := exec(t, shared, args.tool, args.args)
			expect(t, r, true, "Refused:", "is outside the workspace")
		}
		if _, err := shared.ReadFile(ctx, "/etc/passwd"); !errors.Is(err, sandbox.ErrOutside) {
			t.Errorf("ReadFile(/etc/passwd) = %v, want ErrOutside", err)
		}
		if err := shared.WriteFile(ctx, "../escape", []byte("x"), 0o644); !errors.Is(err, sandbox.ErrOutside) {
			t.Errorf("WriteFile(../escape) = %v, want ErrOutside", err)
		}
	})
	t.Run("WritesOutsideWorkspaceFail", func(t *testing.T) {
		r := exec(t, shared, "Bash", `{"command":"for p in /evil /etc/evil /usr/evil /bin/evil /.replay/evil; do if echo x > $p 2>/dev/null; then echo WROTE $p; fi; done; echo checked"}`)
		expect(t, r, false, "checked")
		if strings.Contains(r.Output, "WROTE") {
			t.Errorf("a write outside the workspace succeeded: %s", r.Output)
		}
		// /tmp is writable scratch space where programs can run (go test
		// runs its binaries from there).
		r = exec(t, shared, "Bash", `{"command":"echo scratch > /tmp/scratch && cat /tmp/scratch && printf '#!/bin/sh\\necho ran from tmp\\n' > /tmp/x.sh && chmod +x /tmp/x.sh && /tmp/x.sh"}`)
		expect(t, r, false, "scratch\nran from tmp")
	})
	t.Run("OutputLimit", func(t *testing.T) {
		r := exec(t, shared, "Bash", `{"command":"yes 0123456789 | head -n 100000"}`)
		if !r.Truncated || len(r.Output) > 31000 {
			t.Errorf("Truncated = %v, %d bytes kept", r.Truncated, len(r.Output))
		}
		expect(t, r, false, "lines truncated] ...")
	})
	t.Run("CallTimeout", func(t *testing.T) {
		start := time.Now()
		r := exec(t, shared, "Bash", `{"command":"sleep 600","timeout":500}`)
		expect(t, r, true, "timed out")
		if r.Fault != sandbox.FaultTimeout {
			t.Errorf("Fault = %q, want %q", r.Fault, sandbox.FaultTimeout)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("a 500 ms timeout took %v", d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r, err := shared.Exec(ctx, sandbox.ToolCall{Name: "Bash", Arguments: json.RawMessage(`{"command":"sleep 600"}`), Timeout: 300 * time.Millisecond})
		if err != nil || r.Fault != sandbox.FaultTimeout {
			t.Errorf("ToolCall.Timeout: %+v, %v", r, err)
		}
	})
	t.Run("ContextCancel", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := shared.Exec(cctx, sandbox.ToolCall{Name: "Bash", Arguments: json.RawMessage(`{"command":"sleep 600"}`)})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Exec with an expired context = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("a call outlived its context by %v", d)
		}
		// The sandbox stays usable.
		expect(t, exec(t, shared, "Bash", `{"command":"echo still here"}`), false, "still here")
	})

	t.Run("EditsChangesCopyOut", func(t *testing.T) {
		sb := newSandbox(t, workspace(t), wd)
		defer sb.Close(ctx)
		expect(t, exec(t, sb, "Edit", `{"file_path":"$WD/src/util.go","old_string":"42","new_string":"43"}`), false, "has been updated")
		expect(t, exec(t, sb, "Write", `{"file_path":"$WD/new/file.txt","content":"new\n"}`), false, "File created successfully at: $WD/new/file.txt")
		expect(t, exec(t, sb, "Bash", `{"command":"rm private.key && chmod 700 run.sh"}`), false)
		if err := sb.WriteFile(ctx, "api.txt", []byte("via api"), 0o640); err != nil {
			t.Fatal(err)
		}
		if b, err := sb.ReadFile(ctx, wd+"/api.txt"); err != nil || string(b) != "via api" {
			t.Errorf("ReadFile = %q, %v", b, err)
		}
		if _, err := sb.ReadFile(ctx, "missing.txt"); !errors.Is(err, sandbox.ErrNotFound) {
			t.Errorf("ReadFile(missing) = %v, want ErrNotFound", err)
		}
		changes, err := sb.Changes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range changes {
			got = append(got, c.Kind+" "+c.Path)
		}
		want := []string{"added api.txt", "added new", "added new/file.txt", "deleted private.key", "modified run.sh", "modified src/util.go"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var buf bytes.Buffer
		if err := sb.CopyOut(ctx, &buf, "src/util.go", "new", "link-to-readme"); err != nil {
			t.Fatal(err)
		}
		entries := map[string]*tar.Header{}
		bodies := map[string]string{}
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			entries[h.Name], bodies[h.Name] = h, string(b)
		}
		if !strings.Contains(bodies["src/util.go"], "return 43") {
			t.Errorf("copied-out src/util.go = %q", bodies["src/util.go"])
		}
		if bodies["new/file.txt"] != "new\n" {
			t.Errorf("copied-out new/file.txt = %q", bodies["new/file.txt"])
		}
		if h := entries["link-to-readme"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "README.md" {
			t.Errorf("link-to-readme not copied out as a symlink: %+v", h)
		}
		if h := entries["src/util.go"]; h == nil || fs.FileMode(h.Mode).Perm() != 0o644 {
			t.Errorf("src/util.go mode not kept: %+v", h)
		}
	})

	t.Run("CloseIsFinalAndIdempotent", func(t *testing.T) {
		sb := newSandbox(t, nil, "/sandbox/workspace")
		if err := sb.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := sb.Close(ctx); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := sb.Exec(ctx, sandbox.ToolCall{Name: "Bash", Arguments: json.RawMessage(`{"command":"true"}`)}); !errors.Is(err, sandbox.ErrClosed) {
			t.Errorf("Exec after Close = %v, want ErrClosed", err)
		}
	})

	if err := shared.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}
