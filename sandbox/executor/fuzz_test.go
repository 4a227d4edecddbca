package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzFrames feeds arbitrary bytes to the executor as if they came from the
// host: it must never panic, whatever the input.
func FuzzFrames(f *testing.F) {
	var init bytes.Buffer
	WriteFrame(&init, Request{ID: 1, Op: OpInit, Args: json.RawMessage(`{"root":"/nonexistent-replay-fuzz"}`)})
	f.Add(init.Bytes())
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data))
		for i := 0; i < 100; i++ {
			var r Request
			if err := fr.Next(&r); err != nil {
				break
			}
		}
	})
}

// FuzzFileTools calls the file tools (never the shell) with arbitrary
// names and arguments: a tool must answer, never panic, and never touch
// anything outside the workspace.
func FuzzFileTools(f *testing.F) {
	seeds := []struct{ tool, args string }{
		{"Read", `{"file_path":"a.txt","offset":2,"limit":1}`},
		{"Write", `{"file_path":"n/x","content":"hi"}`},
		{"Edit", `{"file_path":"a.txt","old_string":"a","new_string":"b","replace_all":true}`},
		{"MultiEdit", `{"file_path":"a.txt","edits":[{"old_string":"","new_string":"x"}]}`},
		{"Glob", `{"pattern":"**/{a,b}*.{txt,go}"}`},
		{"Grep", `{"pattern":"a(b","output_mode":"content","-C":"2","glob":"*.{txt"}`},
		{"Grep", `{"pattern":"x","multiline":true,"output_mode":"count","head_limit":-1,"offset":99}`},
		{"LS", `{"path":".","ignore":["[",""]}`},
		{"read_file", `{"path":"../../etc/passwd"}`},
		{"edit_file", `{"path":"a.txt","edits":[{"old_text":null}]}`},
		{"Read", `null`},
		{"Read", `[1,2]`},
		{"Write", `{"file_path":"../ws-evil/planted","content":"x"}`},
		{"Write", `{"file_path":"@SIBLING@/planted","content":"x"}`},
		{"Edit", `{"file_path":"@SIBLING@/secret","old_string":"s","new_string":"x"}`},
		{"MultiEdit", `{"file_path":"../ws-evil/secret","edits":[{"old_string":"s","new_string":"x"}]}`},
		{"write_file", `{"path":"out/evil","content":"x"}`},
	}
	for _, s := range seeds {
		f.Add(s.tool, s.args)
	}
	f.Fuzz(func(t *testing.T, tool, args string) {
		if tool == "Bash" || tool == "shell" {
			return
		}
		// The workspace has a sibling whose name starts with the
		// workspace's: a check by string prefix would let it through.
		parent := t.TempDir()
		root := filepath.Join(parent, "ws")
		sibling := filepath.Join(parent, "ws-evil")
		os.MkdirAll(root, 0o755)
		os.MkdirAll(sibling, 0o755)
		os.WriteFile(filepath.Join(root, "a.txt"), []byte("a\nb\nc\n"), 0o644)
		os.WriteFile(filepath.Join(sibling, "secret"), []byte("s\n"), 0o644)
		os.Symlink(sibling, filepath.Join(root, "out"))
		before := treeState(t, parent, root)
		s, err := NewServer(Config{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		args = strings.ReplaceAll(args, "@SIBLING@", sibling)
		s.Call(ctx, tool, json.RawMessage(args), 0)
		s.Tar(ctx, []string{"."}, io.Discard)
		if after := treeState(t, parent, root); after != before {
			t.Fatalf("%s %s changed files outside the workspace:\nbefore %s\nafter  %s", tool, args, before, after)
		}
	})
}

// treeState describes everything under dir but the workspace: names, sizes
// and contents.
func treeState(t *testing.T, dir, workspace string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if p == workspace || strings.HasPrefix(p, workspace+string(filepath.Separator)) {
			return nil
		}
		body := ""
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			body = string(data)
		}
		fmt.Fprintf(&b, "%s %v %q; ", p, fi.Mode(), body)
		return nil
	})
	return b.String()
}

// FuzzGlob checks that glob matching and brace expansion terminate and
// never panic on any pattern.
func FuzzGlob(f *testing.F) {
	f.Add("**/*.{ts,tsx}", "src/a/b.ts")
	f.Add("{a,{b,c}}/**/x", "c/y/x")
	f.Add("[", "a")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 200 || len(name) > 200 {
			return
		}
		for _, p := range expandBraces(pattern) {
			matchGlob(p, name)
		}
	})
}
