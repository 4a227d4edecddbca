package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
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
	}
	for _, s := range seeds {
		f.Add(s.tool, s.args)
	}
	f.Fuzz(func(t *testing.T, tool, args string) {
		if tool == "Bash" || tool == "shell" {
			return
		}
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "a.txt"), []byte("a\nb\nc\n"), 0o644)
		os.Symlink("/etc", filepath.Join(root, "out"))
		s, err := NewServer(Config{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Call(ctx, tool, json.RawMessage(args), 0)
		s.Tar(ctx, []string{"."}, io.Discard)
	})
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
