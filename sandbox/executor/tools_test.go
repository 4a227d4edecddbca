package executor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newServer makes a Server over a temp workspace holding files (name ->
// content; a value starting with "->" makes a symlink to the rest).
func newServer(t *testing.T, cfg Config, files map[string]string) *Server {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(body, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Root = root
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func call(t *testing.T, s *Server, tool, args string) Result {
	t.Helper()
	args = strings.ReplaceAll(args, "$ROOT", s.cfg.Root)
	return s.Call(context.Background(), tool, json.RawMessage(args), 0)
}

type want struct {
	out      string // exact output ("" = not checked unless exact is set)
	contains []string
	isError  bool
	exit     *int
	fault    string
}

func check(t *testing.T, s *Server, got Result, w want) {
	t.Helper()
	out := strings.ReplaceAll(got.Output, s.cfg.Root, "$ROOT")
	if w.out != "" && out != w.out {
		t.Errorf("output:\n%s\nwant:\n%s\ndiff (-want +got):\n%s", out, w.out, cmp.Diff(w.out, out))
	}
	for _, c := range w.contains {
		if !strings.Contains(out, c) {
			t.Errorf("output %q does not contain %q", out, c)
		}
	}
	if got.IsError != w.isError {
		t.Errorf("IsError = %v, want %v (output %q)", got.IsError, w.isError, out)
	}
	if w.exit != nil && (got.ExitCode == nil || *got.ExitCode != *w.exit) {
		t.Errorf("exit code = %v, want %d", got.ExitCode, *w.exit)
	}
	if got.Fault != w.fault {
		t.Errorf("fault = %q, want %q", got.Fault, w.fault)
	}
}

func intp(n int) *int { return &n }

func TestBash(t *testing.T) {
	tests := []struct {
		name    string
		version string
		tool    string
		args    string
		want    want
	}{
		{"echo", "", "Bash", `{"command":"echo hello"}`, want{out: "hello", exit: intp(0)}},
		{"stdout then stderr", "", "Bash", `{"command":"echo out; echo err >&2"}`, want{out: "out\nerr"}},
		{"leading blank lines and trailing space trimmed", "", "Bash", `{"command":"printf '\\n\\n  x  \\n\\n'"}`, want{out: "  x"}},
		{"exit code 2.x", "2.1.90", "Bash", `{"command":"echo out; echo err >&2; exit 3"}`, want{out: "Exit code 3\nerr\nout", isError: true, exit: intp(3)}},
		{"exit code 1.x", "1.0.98", "Bash", `{"command":"echo out; echo err >&2; exit 3"}`, want{out: "err\nout", isError: true, exit: intp(3)}},
		{"no output 2.x", "", "Bash", `{"command":"true"}`, want{out: "(Bash completed with no output)"}},
		{"missing command", "", "Bash", `{}`, want{out: "<tool_use_error>InputValidationError: Bash failed due to the following issue:\nThe required parameter `command` is missing</tool_use_error>", isError: true}},
		{"command of the wrong type", "", "Bash", `{"command":42}`, want{contains: []string{"expected as `string` but provided as `number`"}, isError: true}},
		{"timeout", "", "Bash", `{"command":"sleep 30","timeout":300}`, want{contains: []string{"Command timed out after 0.3s"}, isError: true, fault: FaultTimeout, exit: intp(137)}},
		{"timeout as a string", "", "Bash", `{"command":"sleep 30","timeout":"300"}`, want{contains: []string{"timed out"}, isError: true, fault: FaultTimeout, exit: intp(137)}},
		{"generic argv", "", "shell", `{"command":["echo","a b"]}`, want{out: "a b"}},
		{"generic string", "", "shell", `{"command":"echo hi; exit 1"}`, want{out: "Exit code 1\nhi", isError: true}},
		{"generic no output", "", "shell", `{"command":"true"}`, want{out: ""}},
		{"background refused", "", "Bash", `{"command":"sleep 1","run_in_background":true}`, want{contains: []string{"not supported"}, isError: true}},
		{"unknown tool", "", "Frobnicate", `{}`, want{out: "<tool_use_error>Error: No such tool available: Frobnicate</tool_use_error>", isError: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{Version: tt.version}, nil)
			start := time.Now()
			got := call(t, s, tt.tool, tt.args)
			check(t, s, got, tt.want)
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

func TestBashKeepsDirectory(t *testing.T) {
	s := newServer(t, Config{}, map[string]string{"sub/f": "x"})
	check(t, s, call(t, s, "Bash", `{"command":"cd sub"}`), want{out: "(Bash completed with no output)"})
	check(t, s, call(t, s, "Bash", `{"command":"pwd -P; ls"}`), want{out: "$ROOT/sub\nf"})
	// Leaving the workspace resets the directory, as Claude Code does.
	call(t, s, "Bash", `{"command":"cd /"}`)
	check(t, s, call(t, s, "Bash", `{"command":"pwd -P"}`), want{out: "$ROOT"})
}

func TestBashTruncates(t *testing.T) {
	s := newServer(t, Config{OutputLimit: 100}, nil)
	// 1000 lines of "line NNNN" (10 bytes each): 10 lines kept, the rest counted.
	got := call(t, s, "Bash", `{"command":"i=1000; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done"}`)
	if !got.Truncated {
		t.Errorf("Truncated = false")
	}
	want := "line 1000\nline 1001\nline 1002\nline 1003\nline 1004\nline 1005\nline 1006\nline 1007\nline 1008\nline 1009\n\n... [990 lines truncated] ..."
	if got.Output != want {
		t.Errorf("output:\n%s\nwant:\n%s", got.Output, want)
	}
}

func TestBashEnvironmentIsConfigured(t *testing.T) {
	s := newServer(t, Config{Env: []string{"PATH=/usr/bin:/bin", "ONLY=this"}}, nil)
	t.Setenv("REPLAY_SECRET_FOR_TEST", "leak")
	got := call(t, s, "Bash", `{"command":"env"}`)
	if strings.Contains(got.Output, "REPLAY_SECRET_FOR_TEST") {
		t.Errorf("the executor's own environment leaked into a command: %q", got.Output)
	}
	if !strings.Contains(got.Output, "ONLY=this") {
		t.Errorf("configured environment missing: %q", got.Output)
	}
}

func TestRead(t *testing.T) {
	files := map[string]string{
		"a.txt":     "one\ntwo\nthree\n",
		"empty":     "",
		"long.txt":  strings.Repeat("x", 2500) + "\nend",
		"crlf.txt":  "a\r\nb\r\n",
		"dir/x.txt": "x",
	}
	tests := []struct {
		name, version, tool, args string
		want                      want
	}{
		{"newest numbering", "", "Read", `{"file_path":"$ROOT/a.txt"}`, want{out: "1\tone\n2\ttwo\n3\tthree"}},
		{"2.1.88 numbering", "2.1.88", "Read", `{"file_path":"$ROOT/a.txt"}`, want{out: "1\tone\n2\ttwo\n3\tthree"}},
		{"arrow numbering", "1.0.98", "Read", `{"file_path":"$ROOT/a.txt"}`, want{out: "     1→one\n     2→two\n     3→three"}},
		{"arrow numbering 2.1.87", "2.1.87", "Read", `{"file_path":"$ROOT/a.txt"}`, want{out: "     1→one\n     2→two\n     3→three"}},
		{"early tab numbering", "1.0.10", "Read", `{"file_path":"$ROOT/a.txt"}`, want{out: "     1\tone\n     2\ttwo\n     3\tthree"}},
		{"offset and limit", "", "Read", `{"file_path":"$ROOT/a.txt","offset":2,"limit":1}`, want{out: "2\ttwo"}},
		{"relative path", "", "Read", `{"file_path":"dir/x.txt"}`, want{out: "1\tx"}},
		{"crlf", "", "Read", `{"file_path":"$ROOT/crlf.txt"}`, want{out: "1\ta\n2\tb"}},
		{"long line cut", "", "Read", `{"file_path":"$ROOT/long.txt"}`, want{out: "1\t" + strings.Repeat("x", 2000) + "\n2\tend"}},
		{"empty file", "", "Read", `{"file_path":"$ROOT/empty"}`, want{out: "<system-reminder>Warning: the file exists but the contents are empty.</system-reminder>"}},
		{"offset past end", "", "Read", `{"file_path":"$ROOT/a.txt","offset":10}`, want{out: "<system-reminder>Warning: the file exists but is shorter than the provided offset (10). The file has 3 lines.</system-reminder>"}},
		{"missing file", "", "Read", `{"file_path":"$ROOT/nope"}`, want{out: "<tool_use_error>File does not exist.</tool_use_error>", isError: true}},
		{"directory", "", "Read", `{"file_path":"$ROOT/dir"}`, want{contains: []string{"EISDIR"}, isError: true}},
		{"missing parameter", "", "Read", `{}`, want{contains: []string{"The required parameter `file_path` is missing"}, isError: true}},
		{"generic plain", "", "read_file", `{"path":"a.txt","offset":"2"}`, want{out: "two\nthree"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{Version: tt.version}, files)
			check(t, s, call(t, s, tt.tool, tt.args), tt.want)
		})
	}
}

func TestPathsOutsideTheWorkspaceAreRefused(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"ok.txt":      "fine",
		"link-out":    "->" + outside,
		"file-out":    "->" + filepath.Join(outside, "secret"),
		"dangling":    "->" + filepath.Join(outside, "new-file"),
		"link-in":     "->ok.txt",
		"sub/.keep":   "",
		"sub/up-link": "->../ok.txt",
	}
	tests := []struct {
		name, tool, args string
		refused          bool
	}{
		{"dot-dot", "Read", `{"file_path":"../../etc/passwd"}`, true},
		{"absolute outside", "Read", `{"file_path":"/etc/passwd"}`, true},
		{"absolute dot-dot", "Read", `{"file_path":"$ROOT/../../etc/passwd"}`, true},
		{"symlinked directory out", "Read", `{"file_path":"$ROOT/link-out/secret"}`, true},
		{"symlinked file out", "Read", `{"file_path":"$ROOT/file-out"}`, true},
		{"write through dangling link out", "Write", `{"file_path":"$ROOT/dangling","content":"x"}`, true},
		{"write outside", "Write", `{"file_path":"/tmp/replay-escape","content":"x"}`, true},
		{"edit outside", "Edit", `{"file_path":"/etc/hosts","old_string":"a","new_string":"b"}`, true},
		{"glob outside", "Glob", `{"pattern":"*","path":"/etc"}`, true},
		{"grep outside", "Grep", `{"pattern":"root","path":"/etc/passwd"}`, true},
		{"ls outside", "LS", `{"path":"$ROOT/link-out"}`, true},
		{"home", "Read", `{"file_path":"~/.ssh/id_rsa"}`, true},
		{"symlink inside", "Read", `{"file_path":"$ROOT/link-in"}`, false},
		{"relative symlink inside", "Read", `{"file_path":"$ROOT/sub/up-link"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{}, files)
			got := call(t, s, tt.tool, tt.args)
			if tt.refused {
				check(t, s, got, want{contains: []string{"<tool_use_error>Refused:", "is outside the workspace"}, isError: true})
			} else {
				check(t, s, got, want{out: "1\tfine"})
			}
		})
	}
	if _, err := os.Stat(filepath.Join(outside, "new-file")); err == nil {
		t.Error("a write through a dangling symlink created a file outside the workspace")
	}
	if _, err := os.Stat("/tmp/replay-escape"); err == nil {
		t.Error("a write created a file outside the workspace")
	}
}

func TestWriteAndReadBeforeWrite(t *testing.T) {
	s := newServer(t, Config{ReadBeforeWrite: true, Version: "2.1.90"}, map[string]string{"old.txt": "old\n"})
	check(t, s, call(t, s, "Write", `{"file_path":"$ROOT/new/dir/n.txt","content":"hi\n"}`), want{out: "File created successfully at: $ROOT/new/dir/n.txt"})
	check(t, s, call(t, s, "Write", `{"file_path":"$ROOT/old.txt","content":"x"}`), want{out: "<tool_use_error>File has not been read yet. Read it first before writing to it.</tool_use_error>", isError: true})
	call(t, s, "Read", `{"file_path":"$ROOT/old.txt"}`)
	// A change behind the tool's back after the read is caught.
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(filepath.Join(s.cfg.Root, "old.txt"), later, later)
	check(t, s, call(t, s, "Write", `{"file_path":"$ROOT/old.txt","content":"x"}`), want{contains: []string{"File has been modified since read"}, isError: true})
	call(t, s, "Read", `{"file_path":"$ROOT/old.txt"}`)
	check(t, s, call(t, s, "Write", `{"file_path":"$ROOT/old.txt","content":"new\n"}`), want{out: "The file $ROOT/old.txt has been updated successfully."})
	if b, _ := os.ReadFile(filepath.Join(s.cfg.Root, "old.txt")); string(b) != "new\n" {
		t.Errorf("content = %q", b)
	}
	check(t, s, call(t, s, "Write", `{"file_path":"$ROOT/x"}`), want{contains: []string{"`content` is missing"}, isError: true})
}

func TestEdit(t *testing.T) {
	const text = "alpha\nbeta\ngamma\nbeta\n"
	tests := []struct {
		name, version, tool, args string
		want                      want
		after                     string // file content afterwards ("" = unchanged)
	}{
		{"unique", "", "Edit", `{"file_path":"$ROOT/f","old_string":"alpha","new_string":"ALPHA"}`,
			want{out: "The file $ROOT/f has been updated successfully."}, "ALPHA\nbeta\ngamma\nbeta\n"},
		{"snippet in 1.x", "1.0.51", "Edit", `{"file_path":"$ROOT/f","old_string":"gamma","new_string":"GAMMA"}`,
			want{out: "The file $ROOT/f has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n     1→alpha\n     2→beta\n     3→GAMMA\n     4→beta\n     5→"}, "alpha\nbeta\nGAMMA\nbeta\n"},
		{"not unique", "", "Edit", `{"file_path":"$ROOT/f","old_string":"beta","new_string":"B"}`,
			want{out: "<tool_use_error>Found 2 matches of the string to replace, but replace_all is false. To replace all occurrences, set replace_all to true. To replace only one occurrence, please provide more context to uniquely identify the instance.\nString: beta</tool_use_error>", isError: true}, ""},
		{"replace all", "", "Edit", `{"file_path":"$ROOT/f","old_string":"beta","new_string":"B","replace_all":true}`,
			want{out: "The file $ROOT/f has been updated. All occurrences of 'beta' were successfully replaced with 'B'."}, "alpha\nB\ngamma\nB\n"},
		{"not found", "", "Edit", `{"file_path":"$ROOT/f","old_string":"delta","new_string":"D"}`,
			want{out: "<tool_use_error>String to replace not found in file.\nString: delta</tool_use_error>", isError: true}, ""},
		{"same strings", "", "Edit", `{"file_path":"$ROOT/f","old_string":"alpha","new_string":"alpha"}`,
			want{out: "<tool_use_error>No changes to make: old_string and new_string are exactly the same.</tool_use_error>", isError: true}, ""},
		{"missing file", "", "Edit", `{"file_path":"$ROOT/nope","old_string":"a","new_string":"b"}`,
			want{out: "<tool_use_error>File does not exist.</tool_use_error>", isError: true}, ""},
		{"create with empty old_string", "", "Edit", `{"file_path":"$ROOT/g","old_string":"","new_string":"new"}`,
			want{out: "File created successfully at: $ROOT/g"}, ""},
		{"multi", "", "MultiEdit", `{"file_path":"$ROOT/f","edits":[{"old_string":"alpha","new_string":"A"},{"old_string":"beta","new_string":"B","replace_all":true}]}`,
			want{out: "Applied 2 edits to $ROOT/f:\n1. Replaced \"alpha\" with \"A\"\n2. Replaced \"beta\" with \"B\""}, "A\nB\ngamma\nB\n"},
		{"multi cuts long strings", "", "MultiEdit", `{"file_path":"$ROOT/f","edits":[{"old_string":"gamma","new_string":"` + strings.Repeat("z", 60) + `"}]}`,
			want{out: "Applied 1 edit to $ROOT/f:\n1. Replaced \"gamma\" with \"" + strings.Repeat("z", 50) + "...\""}, "alpha\nbeta\n" + strings.Repeat("z", 60) + "\nbeta\n"},
		{"multi is all or nothing", "", "MultiEdit", `{"file_path":"$ROOT/f","edits":[{"old_string":"alpha","new_string":"A"},{"old_string":"nope","new_string":"N"}]}`,
			want{out: "<tool_use_error>String to replace not found in file.\nString: nope</tool_use_error>", isError: true}, ""},
		{"generic several edits", "", "edit_file", `{"path":"f","edits":[{"old_text":"alpha","new_text":"A"}]}`,
			want{out: "The file $ROOT/f has been updated successfully."}, "A\nbeta\ngamma\nbeta\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{Version: tt.version}, map[string]string{"f": text})
			check(t, s, call(t, s, tt.tool, tt.args), tt.want)
			b, _ := os.ReadFile(filepath.Join(s.cfg.Root, "f"))
			want := tt.after
			if want == "" {
				want = text
			}
			if string(b) != want {
				t.Errorf("file = %q, want %q", b, want)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	files := map[string]string{
		"main.go": "", "README.md": "", "pkg/a.go": "", "pkg/b_test.go": "", "pkg/deep/c.go": "", "web/x.ts": "", "web/y.tsx": "", ".git/config": "",
	}
	tests := []struct {
		name, args string
		want       string
	}{
		{"top level only", `{"pattern":"*.go"}`, "$ROOT/main.go"},
		{"recursive", `{"pattern":"**/*.go"}`, "$ROOT/main.go\n$ROOT/pkg/a.go\n$ROOT/pkg/b_test.go\n$ROOT/pkg/deep/c.go"},
		{"braces", `{"pattern":"web/*.{ts,tsx}"}`, "$ROOT/web/x.ts\n$ROOT/web/y.tsx"},
		{"with path", `{"pattern":"**/*.go","path":"$ROOT/pkg/deep"}`, "$ROOT/pkg/deep/c.go"},
		{"absolute pattern", `{"pattern":"$ROOT/pkg/*.go"}`, "$ROOT/pkg/a.go\n$ROOT/pkg/b_test.go"},
		{"none", `{"pattern":"*.rs"}`, "No files found"},
		{"skips .git", `{"pattern":"**/config"}`, "No files found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{}, files)
			// Equal modification times: the order falls back to the path.
			ts := time.Unix(1700000000, 0)
			filepath.Walk(s.cfg.Root, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, ts, ts) })
			check(t, s, call(t, s, "Glob", tt.args), want{out: tt.want})
		})
	}
}

func TestGlobOrdersByModificationTime(t *testing.T) {
	s := newServer(t, Config{}, map[string]string{"a.txt": "", "b.txt": "", "c.txt": ""})
	for i, n := range []string{"c.txt", "a.txt", "b.txt"} {
		ts := time.Unix(1700000000+int64(i), 0)
		os.Chtimes(filepath.Join(s.cfg.Root, n), ts, ts)
	}
	check(t, s, call(t, s, "Glob", `{"pattern":"*.txt"}`), want{out: "$ROOT/c.txt\n$ROOT/a.txt\n$ROOT/b.txt"})
}

func TestGrep(t *testing.T) {
	files := map[string]string{
		"a.go":     "package a\nfunc Foo() {}\n// foo bar\n",
		"b.go":     "package b\nvar x = Foo()\n",
		"c.txt":    "one\ntwo\nFoo three\nfour\nfive\nsix\nFoo seven\n",
		"bin.dat":  "Foo\x00\x01",
		"sub/d.ts": "const Foo = 1\n",
	}
	tests := []struct {
		name, version, args, want string
	}{
		{"files with matches", "", `{"pattern":"Foo"}`, "Found 4 files\n$ROOT/a.go\n$ROOT/b.go\n$ROOT/c.txt\n$ROOT/sub/d.ts"},
		{"glob filter", "", `{"pattern":"Foo","glob":"*.go"}`, "Found 2 files\n$ROOT/a.go\n$ROOT/b.go"},
		{"type filter", "", `{"pattern":"Foo","type":"ts"}`, "Found 1 file\n$ROOT/sub/d.ts"},
		{"no match", "", `{"pattern":"nothing here"}`, "No files found"},
		{"content with numbers", "", `{"pattern":"Foo","output_mode":"content","glob":"*.go"}`, "$ROOT/a.go:2:func Foo() {}\n$ROOT/b.go:2:var x = Foo()"},
		{"content 1.x has no numbers by default", "1.0.51", `{"pattern":"Foo","output_mode":"content","glob":"*.go"}`, "$ROOT/a.go:func Foo() {}\n$ROOT/b.go:var x = Foo()"},
		{"single file has no name", "", `{"pattern":"Foo","path":"$ROOT/c.txt","output_mode":"content","-n":true}`, "3:Foo three\n7:Foo seven"},
		{"context", "", `{"pattern":"Foo","path":"$ROOT/c.txt","output_mode":"content","-n":true,"-C":1}`, "2-two\n3:Foo three\n4-four\n--\n6-six\n7:Foo seven"},
		{"case insensitive", "", `{"pattern":"foo","-i":true,"output_mode":"content","glob":"a.go"}`, "$ROOT/a.go:2:func Foo() {}\n$ROOT/a.go:3:// foo bar"},
		{"count", "", `{"pattern":"Foo","output_mode":"count","glob":"*.{go,txt}"}`, "$ROOT/a.go:1\n$ROOT/b.go:1\n$ROOT/c.txt:2\n\nFound 4 total occurrences across 3 files."},
		{"head limit", "", `{"pattern":"Foo","output_mode":"content","path":"$ROOT/c.txt","head_limit":1}`, "3:Foo three"},
		{"no content match", "", `{"pattern":"zzz","output_mode":"content"}`, "No matches found"},
		{"multiline", "", `{"pattern":"two\\nFoo","multiline":true,"output_mode":"content","path":"$ROOT/c.txt"}`, "2:two\n3:Foo three"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{Version: tt.version}, files)
			ts := time.Unix(1700000000, 0)
			filepath.Walk(s.cfg.Root, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, ts, ts) })
			check(t, s, call(t, s, "Grep", tt.args), want{out: tt.want})
		})
	}
	s := newServer(t, Config{}, files)
	check(t, s, call(t, s, "Grep", `{"pattern":"("}`), want{contains: []string{"Invalid regular expression"}, isError: true})
}

func TestLS(t *testing.T) {
	s := newServer(t, Config{}, map[string]string{"b.txt": "", "a/x.go": "", ".hidden": "", "a/y/z": "", "node/keep": ""})
	check(t, s, call(t, s, "LS", `{"path":"$ROOT","ignore":["node"]}`), want{out: "- $ROOT/\n  - a/\n    - x.go\n    - y/\n      - z\n  - b.txt\n\nNOTE: do any of the files above seem malicious? If so, you MUST refuse to continue work."})
	check(t, s, call(t, s, "list_dir", `{}`), want{out: ".hidden\na/\nb.txt\nnode/"})
	check(t, s, call(t, s, "LS", `{"path":"$ROOT/b.txt"}`), want{contains: []string{"Not a directory"}, isError: true})
}

func TestChangesAndTar(t *testing.T) {
	s := newServer(t, Config{}, map[string]string{"keep": "k", "mod": "m", "del": "d", "dir/f": "f"})
	call(t, s, "Bash", `{"command":"echo more >> mod; rm del; mkdir -p newdir && echo n > newdir/n; ln -s keep link; rm -r dir"}`)
	got, err := s.Changes()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range got {
		kinds = append(kinds, c.Kind+" "+c.Path)
	}
	want := []string{"deleted del", "deleted dir", "deleted dir/f", "added link", "modified mod", "added newdir", "added newdir/n"}
	if !cmp.Equal(kinds, want) {
		t.Errorf("changes:\n%v\nwant\n%v", kinds, want)
	}
}

// TestToolRegistry: the one list of tools is whole — every entry has code,
// a unique name, a known family and a valid object schema.
func TestToolRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, tool := range Tools() {
		if tool.fn == nil {
			t.Errorf("%s has no implementation", tool.Name)
		}
		if seen[tool.Name] {
			t.Errorf("%s is listed twice", tool.Name)
		}
		seen[tool.Name] = true
		if tool.Family != FamilyClaudeCode && tool.Family != FamilyGeneric && tool.Family != FamilyBench && tool.Family != FamilyAnthropic {
			t.Errorf("%s: unknown family %q", tool.Name, tool.Family)
		}
		var s struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		}
		if err := json.Unmarshal(tool.Schema, &s); err != nil || s.Type != "object" {
			t.Errorf("%s: schema %s is not an object schema: %v", tool.Name, tool.Schema, err)
		}
		for _, r := range s.Required {
			if _, ok := s.Properties[r]; !ok {
				t.Errorf("%s: required %q is not a property", tool.Name, r)
			}
		}
		if got, ok := LookupTool(tool.Name); !ok || got.Name != tool.Name {
			t.Errorf("LookupTool(%q) = %v, %v", tool.Name, got.Name, ok)
		}
	}
	if _, ok := LookupTool("NotebookEdit"); ok {
		t.Error("NotebookEdit is listed but not implemented")
	}
}

// TestPathsSharingTheRootsPrefixAreOutside: /ws-evil is not inside /ws.
func TestPathsSharingTheRootsPrefixAreOutside(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "ws")
	os.MkdirAll(root, 0o755)
	os.MkdirAll(root+"-evil", 0o755)
	s, err := NewServer(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{root + "-evil/x", "../ws-evil/x", root + "-evil", parent} {
		if _, _, err := s.resolve(p, root); !errors.Is(err, errOutside) {
			t.Errorf("%q resolved (%v): it is outside %q", p, err, root)
		}
		args, _ := json.Marshal(map[string]string{"file_path": p + "/planted", "content": "x"})
		if r := s.Call(context.Background(), "Write", args, 0); !r.IsError {
			t.Errorf("Write %q succeeded: %q", p, r.Output)
		}
	}
	if _, err := os.Stat(root + "-evil/x/planted"); err == nil {
		t.Error("a file was planted beside the workspace")
	}
}
