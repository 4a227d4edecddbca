package executor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

const (
	readDefaultLimit = 2000 // lines
	readMaxLineChars = 2000
)

type readArgs struct {
	FilePath string `json:"file_path"`
	Path     string `json:"path"`
	Offset   num    `json:"offset"`
	Limit    num    `json:"limit"`
}

func (a readArgs) path() string {
	if a.FilePath != "" {
		return a.FilePath
	}
	return a.Path
}

// readTool is Claude Code's Read (numbered lines) or the generic read_file
// (plain text).
func (s *Server) readTool(ctx context.Context, raw json.RawMessage, _ int64, d dialect) Result {
	name, param := "Read", "file_path"
	if d == generic {
		name, param = "read_file", "path"
	}
	var a readArgs
	if r := decodeArgs(d, name, raw, &a); r != nil {
		return *r
	}
	if a.path() == "" {
		return missing(d, name, param)
	}
	s.mu.Lock()
	cwd := s.cwd
	s.mu.Unlock()
	shown, real, err := s.resolve(a.path(), cwd)
	if err != nil {
		return pathError(d, err)
	}
	f, err := os.Open(real)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return toolError(d, "File does not exist.")
		}
		return toolError(d, err.Error())
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return toolError(d, err.Error())
	}
	if fi.IsDir() {
		return toolError(d, "EISDIR: illegal operation on a directory, read")
	}

	offset := int64(1)
	if a.Offset.set && a.Offset.v > 1 {
		offset = a.Offset.v
	}
	limit := int64(readDefaultLimit)
	if a.Limit.set && a.Limit.v > 0 {
		limit = a.Limit.v
	}

	var sb strings.Builder
	var n, shownLines int64
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		if ctx.Err() != nil {
			return toolError(d, "cancelled")
		}
		line, err := readLine(br, readMaxLineChars)
		if err != nil && line == "" {
			break
		}
		n++
		if n >= offset && n < offset+limit {
			if d == claude {
				sb.WriteString(s.lineNo(int(n)))
			}
			sb.WriteString(line)
			sb.WriteByte('\n')
			shownLines++
		}
		if err != nil {
			break
		}
	}
	s.mu.Lock()
	s.reads[real] = fi.ModTime()
	s.mu.Unlock()

	content := strings.TrimSuffix(sb.String(), "\n")
	detail, _ := json.Marshal(map[string]any{"type": "text", "file": map[string]any{
		"filePath": shown, "content": content, "numLines": shownLines, "startLine": offset, "totalLines": n,
	}})
	res := Result{Output: content, Detail: detail}
	switch {
	case n == 0:
		res.Output = "<system-reminder>Warning: the file exists but the contents are empty.</system-reminder>"
	case shownLines == 0:
		res.Output = fmt.Sprintf("<system-reminder>Warning: the file exists but is shorter than the provided offset (%d). The file has %d lines.</system-reminder>", offset, n)
	}
	if d == generic && n == 0 {
		res.Output = ""
	}
	return res
}

// readLine reads one line without its newline, cutting it to max runes
// while still consuming the whole line. It returns io.EOF with the last
// line when the file does not end in a newline.
func readLine(br *bufio.Reader, max int) (string, error) {
	var sb strings.Builder
	runes := 0
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			frag = trimNL(frag)
			for len(frag) > 0 && runes < max {
				r, size := utf8.DecodeRune(frag)
				if r == utf8.RuneError && size <= 1 {
					sb.WriteByte(frag[0])
					size = 1
				} else {
					sb.WriteRune(r)
				}
				frag = frag[size:]
				runes++
			}
		}
		switch {
		case err == nil:
			return strings.TrimSuffix(sb.String(), "\r"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			if sb.Len() == 0 && runes == 0 {
				return "", err
			}
			return strings.TrimSuffix(sb.String(), "\r"), io.EOF
		}
	}
}

func trimNL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b[:len(b)-1]
	}
	return b
}

type writeArgs struct {
	FilePath string  `json:"file_path"`
	Path     string  `json:"path"`
	Content  *string `json:"content"`
}

// checkRead applies Claude Code's rule that an existing file must have been
// read, and not changed since, before it is written.
func (s *Server) checkRead(real string, fi os.FileInfo) string {
	if !s.cfg.ReadBeforeWrite {
		return ""
	}
	s.mu.Lock()
	t, ok := s.reads[real]
	s.mu.Unlock()
	if !ok {
		return "File has not been read yet. Read it first before writing to it."
	}
	if fi.ModTime().After(t) {
		return "File has been modified since read, either by the user or by a linter. Read it again before attempting to write it."
	}
	return ""
}

func (s *Server) noteWritten(real string) {
	if fi, err := os.Stat(real); err == nil {
		s.mu.Lock()
		s.reads[real] = fi.ModTime()
		s.mu.Unlock()
	}
}

func (s *Server) writeTool(_ context.Context, raw json.RawMessage, _ int64, d dialect) Result {
	name, param := "Write", "file_path"
	if d == generic {
		name, param = "write_file", "path"
	}
	var a writeArgs
	if r := decodeArgs(d, name, raw, &a); r != nil {
		return *r
	}
	p := a.FilePath
	if p == "" {
		p = a.Path
	}
	if p == "" {
		return missing(d, name, param)
	}
	if a.Content == nil {
		return missing(d, name, "content")
	}
	s.mu.Lock()
	cwd := s.cwd
	s.mu.Unlock()
	shown, real, err := s.resolve(p, cwd)
	if err != nil {
		return pathError(d, err)
	}
	mode := os.FileMode(0o644)
	fi, err := os.Stat(real)
	exists := err == nil
	if exists {
		if fi.IsDir() {
			return toolError(d, "EISDIR: illegal operation on a directory, open")
		}
		if d == claude {
			if msg := s.checkRead(real, fi); msg != "" {
				return toolError(d, msg)
			}
		}
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		return toolError(d, err.Error())
	}
	if err := s.writeFile(real, []byte(*a.Content), mode); err != nil {
		return toolError(d, err.Error())
	}
	s.noteWritten(real)
	kind := "create"
	if exists {
		kind = "update"
	}
	detail, _ := json.Marshal(map[string]any{"type": kind, "filePath": shown, "content": *a.Content})
	res := Result{Detail: detail}
	switch {
	case !exists:
		res.Output = "File created successfully at: " + shown
	case s.v1() && d == claude:
		res.Output = fmt.Sprintf("The file %s has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n%s", shown, s.numbered(*a.Content, 1, -1))
	default:
		res.Output = fmt.Sprintf("The file %s has been updated successfully.", shown)
	}
	return res
}

// numbered renders lines [from, to] (1-based, inclusive; to < 0 = all) of
// text with Read's line numbers.
func (s *Server) numbered(text string, from, to int) string {
	lines := strings.Split(text, "\n")
	if from < 1 {
		from = 1
	}
	if to < 0 || to > len(lines) {
		to = len(lines)
	}
	var sb strings.Builder
	for i := from; i <= to; i++ {
		if i > from {
			sb.WriteByte('\n')
		}
		sb.WriteString(s.lineNo(i))
		sb.WriteString(lines[i-1])
	}
	return sb.String()
}

type edit struct {
	OldString  *string `json:"old_string"`
	NewString  *string `json:"new_string"`
	OldText    *string `json:"old_text"`
	NewText    *string `json:"new_text"`
	ReplaceAll flag    `json:"replace_all"`
}

func (e edit) old() (string, bool) {
	if e.OldString != nil {
		return *e.OldString, true
	}
	if e.OldText != nil {
		return *e.OldText, true
	}
	return "", false
}

func (e edit) new() (string, bool) {
	if e.NewString != nil {
		return *e.NewString, true
	}
	if e.NewText != nil {
		return *e.NewText, true
	}
	return "", false
}

type editArgs struct {
	FilePath string `json:"file_path"`
	Path     string `json:"path"`
	edit
	Edits []edit `json:"edits"`
}

func (a editArgs) path() string {
	if a.FilePath != "" {
		return a.FilePath
	}
	return a.Path
}

func (s *Server) editTool(_ context.Context, raw json.RawMessage, _ int64, d dialect) Result {
	name := "Edit"
	if d == generic {
		name = "edit_file"
	}
	var a editArgs
	if r := decodeArgs(d, name, raw, &a); r != nil {
		return *r
	}
	if d == generic && len(a.Edits) > 0 {
		return s.applyEdits(name, a.path(), a.Edits, d, false)
	}
	return s.applyEdits(name, a.path(), []edit{a.edit}, d, false)
}

func (s *Server) multiEditTool(_ context.Context, raw json.RawMessage, _ int64, d dialect) Result {
	var a editArgs
	if r := decodeArgs(d, "MultiEdit", raw, &a); r != nil {
		return *r
	}
	if a.Edits == nil {
		return missing(d, "MultiEdit", "edits")
	}
	if len(a.Edits) == 0 {
		return toolError(d, "InputValidationError: MultiEdit failed due to the following issue:\nAt least one edit is required")
	}
	return s.applyEdits("MultiEdit", a.path(), a.Edits, d, true)
}

// applyEdits applies edits in order to one file, all or nothing.
func (s *Server) applyEdits(name, p string, edits []edit, d dialect, multi bool) Result {
	param := "file_path"
	if d == generic {
		param = "path"
	}
	if p == "" {
		return missing(d, name, param)
	}
	for _, e := range edits {
		if _, ok := e.old(); !ok {
			return missing(d, name, "old_string")
		}
		if _, ok := e.new(); !ok {
			return missing(d, name, "new_string")
		}
	}
	s.mu.Lock()
	cwd := s.cwd
	s.mu.Unlock()
	shown, real, err := s.resolve(p, cwd)
	if err != nil {
		return pathError(d, err)
	}
	var content string
	mode := os.FileMode(0o644)
	fi, err := os.Stat(real)
	exists := err == nil
	switch {
	case exists && fi.IsDir():
		return toolError(d, "EISDIR: illegal operation on a directory, open")
	case exists:
		b, err := os.ReadFile(real)
		if err != nil {
			return toolError(d, err.Error())
		}
		content = string(b)
		mode = fi.Mode().Perm()
	case !errors.Is(err, fs.ErrNotExist):
		return toolError(d, err.Error())
	}
	old0, _ := edits[0].old()
	if !exists && old0 != "" {
		return toolError(d, "File does not exist.")
	}
	if exists && old0 == "" && strings.TrimSpace(content) != "" {
		return toolError(d, "Cannot create new file - file already exists.")
	}
	if exists && d == claude && old0 != "" {
		if msg := s.checkRead(real, fi); msg != "" {
			return toolError(d, msg)
		}
	}

	firstLine := 0
	newLines := 0
	var summary []string
	for i, e := range edits {
		oldS, _ := e.old()
		newS, _ := e.new()
		if oldS == newS {
			return toolError(d, "No changes to make: old_string and new_string are exactly the same.")
		}
		if oldS == "" {
			if i > 0 {
				return toolError(d, "Cannot edit file: old_string is empty.")
			}
			content = newS
			firstLine, newLines = 1, strings.Count(newS, "\n")+1
		} else {
			count := strings.Count(content, oldS)
			switch {
			case count == 0:
				return toolError(d, "String to replace not found in file.\nString: "+oldS)
			case count > 1 && !bool(e.ReplaceAll):
				return toolError(d, fmt.Sprintf("Found %d matches of the string to replace, but replace_all is false. To replace all occurrences, set replace_all to true. To replace only one occurrence, please provide more context to uniquely identify the instance.\nString: %s", count, oldS))
			}
			if i == 0 {
				firstLine = strings.Count(content[:strings.Index(content, oldS)], "\n") + 1
				newLines = strings.Count(newS, "\n") + 1
			}
			if e.ReplaceAll {
				content = strings.ReplaceAll(content, oldS, newS)
			} else {
				content = strings.Replace(content, oldS, newS, 1)
			}
		}
		summary = append(summary, fmt.Sprintf("%d. Replaced \"%s\" with \"%s\"", i+1, cut50(oldS), cut50(newS)))
	}
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		return toolError(d, err.Error())
	}
	if err := s.writeFile(real, []byte(content), mode); err != nil {
		return toolError(d, err.Error())
	}
	s.noteWritten(real)
	detail, _ := json.Marshal(map[string]any{"filePath": shown, "edits": len(edits)})
	res := Result{Detail: detail}
	switch {
	case !exists && !multi:
		res.Output = "File created successfully at: " + shown
	case multi:
		noun := "edits"
		if len(edits) == 1 {
			noun = "edit"
		}
		res.Output = fmt.Sprintf("Applied %d %s to %s:\n%s", len(edits), noun, shown, strings.Join(summary, "\n"))
	case d == claude && s.v1():
		res.Output = fmt.Sprintf("The file %s has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n%s",
			shown, s.numbered(content, firstLine-4, firstLine+newLines+3))
	case bool(edits[0].ReplaceAll):
		oldS, _ := edits[0].old()
		newS, _ := edits[0].new()
		res.Output = fmt.Sprintf("The file %s has been updated. All occurrences of '%s' were successfully replaced with '%s'.", shown, oldS, newS)
	default:
		res.Output = fmt.Sprintf("The file %s has been updated successfully.", shown)
	}
	return res
}

// cut50 shortens s to 50 characters plus "..." as MultiEdit's summary does.
func cut50(s string) string {
	if utf8.RuneCountInString(s) <= 50 {
		return s
	}
	r := []rune(s)
	return string(r[:50]) + "..."
}
