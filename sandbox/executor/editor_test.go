package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// numberedFile is a file of n lines "line 1" … "line n", newline-ended.
func numberedFile(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// cat is the editor's numbered rendering of lines [from, to] of
// numberedFile, with the empty line a newline-ended read shows when tail.
func cat(from, to int, tail bool, extra map[int]string) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		text, ok := extra[i]
		if !ok {
			text = fmt.Sprintf("line %d", i)
		}
		fmt.Fprintf(&b, "%6d\t%s\n", i, text)
	}
	if tail {
		fmt.Fprintf(&b, "%6d\t\n", to+1)
	}
	return b.String()
}

// The editor family's texts, as the recorded observations show them
// (OpenHands' evaluation outputs): each command, and each failure.
func TestEditor(t *testing.T) {
	s := newServer(t, Config{}, map[string]string{
		"f.txt":          numberedFile(20),
		"tabs.mk":        "all:\n\tcc -o x x.c\n",
		"dup.txt":        "a\nx\nb\nx\n",
		"dir/sub/deep/z": "z",
		"dir/a.go":       "package a\n",
		"dir/.hidden":    "h",
		"dir/.git/HEAD":  "ref",
	})
	root := "$ROOT"
	f := root + "/f.txt"
	head := "Here's the result of running `cat -n` on " + f + ":\n"
	cases := []struct {
		name, args string
		want       want
	}{
		{"view a file", `{"command":"view","path":"$ROOT/f.txt"}`,
			want{out: head + cat(1, 20, true, nil)}},
		{"view a range", `{"command":"view","path":"$ROOT/f.txt","view_range":[3,5]}`,
			want{out: head + cat(3, 5, false, nil)}},
		{"view to the end", `{"command":"view","path":"$ROOT/f.txt","view_range":[18,-1]}`,
			want{out: head + cat(18, 20, false, nil)}},
		{"view range past the end", `{"command":"view","path":"$ROOT/f.txt","view_range":[10,30]}`,
			want{out: "ERROR:\nInvalid `view_range` parameter: [10, 30]. Its second element `30` should be smaller than the number of lines in the file: `20`."}},
		{"tabs are kept", `{"command":"view","path":"$ROOT/tabs.mk"}`,
			want{out: "Here's the result of running `cat -n` on " + root + "/tabs.mk:\n     1\tall:\n     2\t\tcc -o x x.c\n     3\t\n"}},
		{"view a directory", `{"command":"view","path":"$ROOT/dir"}`,
			want{out: "Here's the files and directories up to 2 levels deep in " + root + "/dir, excluding hidden items:\n" + root + "/dir/\n" + root + "/dir/a.go\n" + root + "/dir/sub\n" + root + "/dir/sub/deep"}},
		{"path not absolute", `{"command":"view","path":"f.txt"}`,
			want{out: "ERROR:\nInvalid `path` parameter: f.txt. The path should be an absolute path, starting with `/`."}},
		{"path missing", `{"command":"view","path":"$ROOT/nope.txt"}`,
			want{out: "ERROR:\nInvalid `path` parameter: " + root + "/nope.txt. The path " + root + "/nope.txt does not exist. Please provide a valid path."}},
		{"no match", `{"command":"str_replace","path":"$ROOT/f.txt","old_str":"line 99","new_str":"x"}`,
			want{out: "ERROR:\nNo replacement was performed, old_str `line 99` did not appear verbatim in " + f + "."}},
		{"several matches", `{"command":"str_replace","path":"$ROOT/dup.txt","old_str":"x","new_str":"y"}`,
			want{out: "ERROR:\nNo replacement was performed. Multiple occurrences of old_str `x` in lines [2, 4]. Please ensure it is unique."}},
		{"old_str missing", `{"command":"str_replace","path":"$ROOT/f.txt"}`,
			want{out: "ERROR:\nParameter `old_str` is required for command: str_replace."}},
		{"same strings", `{"command":"str_replace","path":"$ROOT/f.txt","old_str":"line 3","new_str":"line 3"}`,
			want{out: "ERROR:\nInvalid `new_str` parameter: line 3. No replacement was performed. `new_str` and `old_str` must be different."}},
		{"create on an existing file", `{"command":"create","path":"$ROOT/f.txt","file_text":"x"}`,
			want{out: "ERROR:\nInvalid `path` parameter: " + f + ". File already exists at: " + f + ". Cannot overwrite files using command `create`."}},
		{"unknown command", `{"command":"delete","path":"$ROOT/f.txt"}`,
			want{contains: []string{"ERROR:\nUnrecognized command delete."}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, s, call(t, s, "str_replace_editor", c.args), c.want)
		})
	}
}

// str_replace's snippet: from three lines above the line where the match
// starts to four below the replacement's end, read line by line (so the
// newline-ended last line is followed by an empty numbered one); insert's:
// four lines before, the new lines, four after. Then undo_edit restores
// each earlier content in turn.
func TestEditorEdits(t *testing.T) {
	s := newServer(t, Config{}, map[string]string{"f.txt": numberedFile(30)})
	f := "$ROOT/f.txt"
	got := call(t, s, "str_replace_editor", `{"command":"str_replace","path":"$ROOT/f.txt","old_str":"ne 12\nline 13","new_str":"ne 12\nline 13a\nline 13b"}`)
	snip := cat(9, 18, true, map[int]string{13: "line 13a", 14: "line 13b", 15: "line 14", 16: "line 15", 17: "line 16", 18: "line 17"})
	check(t, s, got, want{out: "The file " + f + " has been edited. Here's the result of running `cat -n` on a snippet of " + f + ":\n" + snip +
		"Review the changes and make sure they are as expected. Edit the file again if necessary."})

	got = call(t, s, "str_replace_editor", `{"command":"insert","path":"$ROOT/f.txt","insert_line":5,"new_str":"inserted"}`)
	snip = cat(2, 10, true, map[int]string{6: "inserted", 7: "line 6", 8: "line 7", 9: "line 8", 10: "line 9"})
	check(t, s, got, want{out: "The file " + f + " has been edited. Here's the result of running `cat -n` on a snippet of the edited file:\n" + snip +
		"Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary."})

	got = call(t, s, "str_replace_editor", `{"command":"insert","path":"$ROOT/f.txt","insert_line":99,"new_str":"x"}`)
	check(t, s, got, want{out: "ERROR:\nInvalid `insert_line` parameter: 99. It should be within the range of lines of the file: [0, 32]"})

	got = call(t, s, "str_replace_editor", `{"command":"undo_edit","path":"$ROOT/f.txt"}`)
	check(t, s, got, want{contains: []string{"Last edit to " + f + " undone successfully. Here's the result of running `cat -n` on the file " + f + ":\n", "    13\tline 13a\n"}})
	call(t, s, "str_replace_editor", `{"command":"undo_edit","path":"$ROOT/f.txt"}`)
	if b, _ := os.ReadFile(filepath.Join(s.cfg.Root, "f.txt")); string(b) != numberedFile(30) {
		t.Errorf("two undos do not restore the file:\n%s", b)
	}
	got = call(t, s, "str_replace_editor", `{"command":"undo_edit","path":"$ROOT/f.txt"}`)
	check(t, s, got, want{out: "ERROR:\nNo edit history found for " + f + "."})

	// create, then the new file views as written; a match at the top
	// clamps the snippet at line 1.
	got = call(t, s, "str_replace_editor", `{"command":"create","path":"$ROOT/new/g.py","file_text":"a\nb\n"}`)
	check(t, s, got, want{out: "File created successfully at: $ROOT/new/g.py"})
	got = call(t, s, "str_replace_editor", `{"command":"str_replace","path":"$ROOT/new/g.py","old_str":"a","new_str":"A"}`)
	g := "$ROOT/new/g.py"
	check(t, s, got, want{out: "The file " + g + " has been edited. Here's the result of running `cat -n` on a snippet of " + g + ":\n     1\tA\n     2\tb\n     3\t\nReview the changes and make sure they are as expected. Edit the file again if necessary."})
}

// A file past 16,000 characters is cut there, the note ending the text
// before the lines are numbered.
func TestEditorClipsLongFiles(t *testing.T) {
	s := newServer(t, Config{}, map[string]string{"big.txt": strings.Repeat("0123456789\n", 2000)})
	got := call(t, s, "str_replace_editor", `{"command":"view","path":"$ROOT/big.txt"}`)
	if !strings.HasSuffix(got.Output, "  1455\t012345<response clipped>"+editorClipNote[len("<response clipped>"):]+"\n") {
		t.Errorf("clipped view ends %q", got.Output[len(got.Output)-300:])
	}
}

// Anthropic's tool: the same texts, failures marked as errors without the
// "ERROR:" line.
func TestAnthropicEditor(t *testing.T) {
	s := newServer(t, Config{}, map[string]string{"f.txt": "a\n"})
	check(t, s, call(t, s, "str_replace_based_edit_tool", `{"command":"str_replace","path":"$ROOT/f.txt","old_str":"zz","new_str":"y"}`),
		want{out: "No replacement was performed, old_str `zz` did not appear verbatim in " + "$ROOT/f.txt.", isError: true})
	check(t, s, call(t, s, "str_replace_based_edit_tool", `{"command":"view","path":"$ROOT/f.txt"}`),
		want{out: "Here's the result of running `cat -n` on $ROOT/f.txt:\n     1\ta\n     2\t\n"})
}

// The harnesses' shells: a terminal's output (stdout and stderr in the
// order written), never an error mark or exit-code line; the exit code is
// the call's. inspect_ai's bash takes cmd, its python code.
func TestBenchShells(t *testing.T) {
	s := newServer(t, Config{}, map[string]string{"a.txt": "hi\n"})
	check(t, s, call(t, s, "execute_bash", `{"command":"cat a.txt; echo oops >&2; echo after; exit 3"}`),
		want{out: "hi\noops\nafter", exit: intp(3)})
	check(t, s, call(t, s, "bash", `{"command":"ls"}`), want{out: "a.txt", exit: intp(0)})
	check(t, s, call(t, s, "bash", `{"cmd":"echo from-inspect"}`), want{out: "from-inspect", exit: intp(0)})
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		check(t, s, call(t, s, "python", `{"code":"print(6*7)"}`), want{out: "42", exit: intp(0)})
	}
}
