package executor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
)

// The file-editor tool family: SWE-agent's and OpenHands'
// str_replace_editor and Anthropic's str_replace_based_edit_tool, one tool
// with the commands view, create, str_replace, insert and undo_edit.
//
// The result texts are those the recorded observations show (OpenHands'
// evaluation outputs in the corpus):
//
//   - view of a file: "Here's the result of running `cat -n` on PATH:\n",
//     then every line numbered "%6d\t" (a file ending in a newline shows
//     one more, empty, numbered line), then "\n". Tabs are kept. Past
//     16,000 characters of file text the rest is cut and
//     "<response clipped><NOTE>…</NOTE>" ends the text before numbering.
//   - view with view_range [a, b] (b = -1: to the end): lines a..b only,
//     without the trailing empty line; a range past the end is an error
//     naming the file's line count.
//   - view of a directory: "Here's the files and directories up to 2
//     levels deep in DIR, excluding hidden items:\n" then DIR/ and the
//     paths below it, one a line.
//   - str_replace: old_str must occur exactly once; the snippet shows the
//     edited file from three lines above the line where the match starts to
//     four below the replacement's last line, then "Review the changes…".
//   - insert: four lines before insert_line, the new lines, four after.
//     Both snippets read lines with their newlines, so a last line that
//     ends in one shows one more, empty, numbered line.
//   - errors: OpenHands and SWE-agent show them in the observation as
//     "ERROR:\n" + message (not marked as an error); Anthropic's tool
//     returns the message marked is_error.
//
// Texts no recording in the corpus shows (create on an existing file, a
// relative path, undo_edit, a missing path) follow the tools' own
// descriptions of those cases.

const (
	editorClipChars    = 16000
	editorSnippetLines = 4
	editorClipNote     = "<response clipped><NOTE>Due to the max output limit, only part of this file has been shown to you. You should retry this tool after you have searched inside the file with `grep -n` in order to find the line numbers of what you are looking for.</NOTE>"
)

type editorArgs struct {
	Command    string  `json:"command"`
	Path       string  `json:"path"`
	FileText   *string `json:"file_text"`
	OldStr     *string `json:"old_str"`
	NewStr     *string `json:"new_str"`
	InsertLine *num    `json:"insert_line"`
	ViewRange  []num   `json:"view_range"`
}

// editorFail is a failed editor command in the tool's own form.
func editorFail(d dialect, msg string) Result {
	if d == anthropicEditor {
		return Result{Output: msg, IsError: true}
	}
	return Result{Output: "ERROR:\n" + msg}
}

func (s *Server) editorTool(_ context.Context, raw json.RawMessage, _ int64, d dialect) Result {
	var a editorArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return editorFail(d, "Invalid arguments: "+cleanJSONError(err))
	}
	switch a.Command {
	case "view", "create", "str_replace", "insert", "undo_edit":
	case "":
		return editorFail(d, "Parameter `command` is required.")
	default:
		return editorFail(d, fmt.Sprintf("Unrecognized command %s. The allowed commands for the %s tool are: view, create, str_replace, insert, undo_edit", a.Command, editorName(d)))
	}
	if a.Path == "" {
		return editorFail(d, "Parameter `path` is required for command: "+a.Command+".")
	}
	if !filepath.IsAbs(a.Path) {
		return editorFail(d, fmt.Sprintf("Invalid `path` parameter: %s. The path should be an absolute path, starting with `/`.", a.Path))
	}
	shown, real, err := s.resolve(a.Path, s.cfg.Root)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, errOutside) {
			msg = "Refused: " + msg
		}
		return editorFail(d, msg)
	}
	fi, statErr := os.Stat(real)
	exists := statErr == nil
	if !exists && !errors.Is(statErr, fs.ErrNotExist) {
		return editorFail(d, statErr.Error())
	}
	if !exists && a.Command != "create" {
		return editorFail(d, fmt.Sprintf("Invalid `path` parameter: %s. The path %s does not exist. Please provide a valid path.", shown, shown))
	}
	if exists && fi.IsDir() && a.Command != "view" {
		return editorFail(d, fmt.Sprintf("Invalid `path` parameter: %s. The path %s is a directory and only the `view` command can be used on directories.", shown, shown))
	}
	switch a.Command {
	case "view":
		if fi.IsDir() {
			if len(a.ViewRange) > 0 {
				return editorFail(d, "The `view_range` parameter is not allowed when `path` points to a directory.")
			}
			return s.editorViewDir(shown, real, d)
		}
		return s.editorView(shown, real, a.ViewRange, d)
	case "create":
		if a.FileText == nil {
			return editorFail(d, "Parameter `file_text` is required for command: create.")
		}
		if exists {
			return editorFail(d, fmt.Sprintf("Invalid `path` parameter: %s. File already exists at: %s. Cannot overwrite files using command `create`.", shown, shown))
		}
		if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
			return editorFail(d, err.Error())
		}
		if err := s.writeFile(real, []byte(*a.FileText), 0o644); err != nil {
			return editorFail(d, err.Error())
		}
		s.noteEdit(real, "")
		return Result{Output: "File created successfully at: " + shown}
	case "str_replace":
		if a.OldStr == nil {
			return editorFail(d, "Parameter `old_str` is required for command: str_replace.")
		}
		return s.editorReplace(shown, real, fi.Mode().Perm(), *a.OldStr, a.NewStr, d)
	case "insert":
		if a.InsertLine == nil || !a.InsertLine.set {
			return editorFail(d, "Parameter `insert_line` is required for command: insert.")
		}
		if a.NewStr == nil {
			return editorFail(d, "Parameter `new_str` is required for command: insert.")
		}
		return s.editorInsert(shown, real, fi.Mode().Perm(), int(a.InsertLine.v), *a.NewStr, d)
	default: // undo_edit
		s.mu.Lock()
		hist := s.edits[real]
		var prev string
		ok := len(hist) > 0
		if ok {
			prev = hist[len(hist)-1]
			s.edits[real] = hist[:len(hist)-1]
		}
		s.mu.Unlock()
		if !ok {
			return editorFail(d, "No edit history found for "+shown+".")
		}
		if err := s.writeFile(real, []byte(prev), fi.Mode().Perm()); err != nil {
			return editorFail(d, err.Error())
		}
		return Result{Output: "Last edit to " + shown + " undone successfully. " + catN(clip(prev), "the file "+shown, 1)}
	}
}

func editorName(d dialect) string {
	if d == anthropicEditor {
		return "str_replace_based_edit_tool"
	}
	return "str_replace_editor"
}

// noteEdit keeps a file's content before an edit for undo_edit.
func (s *Server) noteEdit(real, before string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.edits == nil {
		s.edits = map[string][]string{}
	}
	s.edits[real] = append(s.edits[real], before)
}

// clip cuts file text past the editor's output limit, with its note.
func clip(text string) string {
	if len(text) <= editorClipChars {
		return text
	}
	cut := editorClipChars
	for cut > 0 && !isRuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + editorClipNote
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// catN numbers text as `cat -n` does and wraps it in the editor's header.
func catN(text, what string, first int) string {
	var b strings.Builder
	b.WriteString("Here's the result of running `cat -n` on " + what + ":\n")
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%6d\t%s", first+i, line)
	}
	b.WriteByte('\n')
	return b.String()
}

// fileLines are a file's lines; a final newline ends the last line rather
// than starting an empty one.
func fileLines(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

func (s *Server) editorView(shown, real string, vr []num, d dialect) Result {
	b, err := os.ReadFile(real)
	if err != nil {
		return editorFail(d, err.Error())
	}
	text := string(b)
	if len(vr) == 0 {
		return Result{Output: catN(clip(text), shown, 1)}
	}
	if len(vr) != 2 || !vr[0].set || !vr[1].set {
		return editorFail(d, "Invalid `view_range` parameter: it should be a list of two integers.")
	}
	lines := fileLines(text)
	n := len(lines)
	from, to := int(vr[0].v), int(vr[1].v)
	rng := fmt.Sprintf("[%d, %d]", from, to)
	switch {
	case from < 1 || from > n:
		return editorFail(d, fmt.Sprintf("Invalid `view_range` parameter: %s. Its first element `%d` should be within the range of lines of the file: [1, %d].", rng, from, n))
	case to == -1:
		to = n
	case to > n:
		return editorFail(d, fmt.Sprintf("Invalid `view_range` parameter: %s. Its second element `%d` should be smaller than the number of lines in the file: `%d`.", rng, to, n))
	case to < from:
		return editorFail(d, fmt.Sprintf("Invalid `view_range` parameter: %s. Its second element `%d` should be greater than or equal to the first element `%d`.", rng, to, from))
	}
	return Result{Output: catN(clip(strings.Join(lines[from-1:to], "\n")), shown, from)}
}

// editorViewDir lists a directory two levels deep, hidden entries left
// out, sorted (the harnesses list them in find's order, which is the
// file system's).
func (s *Server) editorViewDir(shown, real string, d dialect) Result {
	var paths []string
	err := filepath.WalkDir(real, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == real {
			return nil
		}
		rel, _ := filepath.Rel(real, p)
		if strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		depth := strings.Count(rel, string(filepath.Separator)) + 1
		paths = append(paths, filepath.Join(shown, rel))
		if e.IsDir() && depth >= 2 {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return editorFail(d, err.Error())
	}
	sort.Strings(paths)
	return Result{Output: fmt.Sprintf("Here's the files and directories up to 2 levels deep in %s, excluding hidden items:\n%s/\n%s", shown, strings.TrimSuffix(shown, "/"), strings.Join(paths, "\n"))}
}

// snippet numbers lines [from, to] (1-based, inclusive, clamped) of text,
// read with their newlines: a last line ending in one is followed by an
// empty numbered line.
func snippet(text string, from, to int) (string, int) {
	from = max(from, 1)
	lines := strings.SplitAfter(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	to = min(to, len(lines))
	if from > to {
		return "", from
	}
	return strings.Join(lines[from-1:to], ""), from
}

func (s *Server) editorReplace(shown, real string, mode os.FileMode, oldStr string, newPtr *string, d dialect) Result {
	newStr := ""
	if newPtr != nil {
		newStr = *newPtr
	}
	b, err := os.ReadFile(real)
	if err != nil {
		return editorFail(d, err.Error())
	}
	content := string(b)
	if oldStr == newStr {
		return editorFail(d, fmt.Sprintf("Invalid `new_str` parameter: %s. No replacement was performed. `new_str` and `old_str` must be different.", newStr))
	}
	switch n := strings.Count(content, oldStr); {
	case n == 0 || oldStr == "":
		return editorFail(d, fmt.Sprintf("No replacement was performed, old_str `%s` did not appear verbatim in %s.", oldStr, shown))
	case n > 1:
		var at []string
		for off := 0; ; {
			j := strings.Index(content[off:], oldStr)
			if j < 0 {
				break
			}
			at = append(at, strconv.Itoa(strings.Count(content[:off+j], "\n")+1))
			off += j + len(oldStr)
		}
		return editorFail(d, fmt.Sprintf("No replacement was performed. Multiple occurrences of old_str `%s` in lines [%s]. Please ensure it is unique.", oldStr, strings.Join(at, ", ")))
	}
	idx := strings.Index(content, oldStr)
	updated := content[:idx] + newStr + content[idx+len(oldStr):]
	if err := s.writeFile(real, []byte(updated), mode); err != nil {
		return editorFail(d, err.Error())
	}
	s.noteEdit(real, content)
	line := strings.Count(content[:idx], "\n") + 1
	snip, from := snippet(updated, line-editorSnippetLines+1, line+editorSnippetLines+strings.Count(newStr, "\n"))
	return Result{Output: "The file " + shown + " has been edited. " + catN(snip, "a snippet of "+shown, from) +
		"Review the changes and make sure they are as expected. Edit the file again if necessary."}
}

func (s *Server) editorInsert(shown, real string, mode os.FileMode, at int, newStr string, d dialect) Result {
	b, err := os.ReadFile(real)
	if err != nil {
		return editorFail(d, err.Error())
	}
	content := string(b)
	lines := strings.SplitAfter(content, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if at < 0 || at > len(lines) {
		return editorFail(d, fmt.Sprintf("Invalid `insert_line` parameter: %d. It should be within the range of lines of the file: [0, %d]", at, len(lines)))
	}
	if at > 0 && !strings.HasSuffix(lines[at-1], "\n") {
		lines[at-1] += "\n"
	}
	ins := newStr
	if !strings.HasSuffix(ins, "\n") {
		ins += "\n"
	}
	updated := strings.Join(lines[:at], "") + ins + strings.Join(lines[at:], "")
	if err := s.writeFile(real, []byte(updated), mode); err != nil {
		return editorFail(d, err.Error())
	}
	s.noteEdit(real, content)
	snip, from := snippet(updated, at-editorSnippetLines+1, at+strings.Count(newStr, "\n")+1+editorSnippetLines)
	return Result{Output: "The file " + shown + " has been edited. " + catN(snip, "a snippet of the edited file", from) +
		"Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary."}
}
