package world

import (
	"encoding/json"
	"path"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/claudecode"
)

// ReadsOf lists the whole files a run (and its sub-agents) read with
// Claude Code's Read, as recorded, with paths relative to root (the
// directory the repository is placed at: the recorded working directory).
// Partial reads (an offset or a limit, a file cut at Read's 2000 lines),
// failed reads, empty files and files outside root are left out: they say
// nothing certain about a commit. The content comes from the structured
// result when the transcript kept it (toolUseResult.file.content), else
// from the result text without its line numbers.
func ReadsOf(run *trace.Run, root string) []RecordedRead {
	var out []RecordedRead
	seen := map[string]bool{}
	root = path.Clean(root)
	run.Walk(func(r *trace.Run) {
		for i, st := range r.Steps {
			tc := st.Tool
			if tc == nil || tc.Name != "Read" || tc.Status != trace.ToolOK {
				continue
			}
			var args struct {
				Path   string          `json:"file_path"`
				Offset json.RawMessage `json:"offset"`
				Limit  json.RawMessage `json:"limit"`
			}
			if json.Unmarshal(tc.Arguments, &args) != nil || args.Path == "" || len(args.Offset) > 0 || len(args.Limit) > 0 {
				continue
			}
			rel, ok := relTo(root, args.Path)
			if !ok {
				continue
			}
			content, ok := readContent(tc)
			if !ok || content == "" {
				continue
			}
			key := rel + "\x00" + content
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, RecordedRead{Path: rel, Content: content, Step: i})
		}
	})
	return out
}

func relTo(root, p string) (string, bool) {
	if !path.IsAbs(p) {
		p = path.Join(root, p)
	}
	p = path.Clean(p)
	if root == "/" {
		return strings.TrimPrefix(p, "/"), p != "/"
	}
	if !strings.HasPrefix(p, root+"/") {
		return "", false
	}
	return strings.TrimPrefix(p, root+"/"), true
}

// readContent is the file's content as a whole-file Read showed it.
func readContent(tc *trace.ToolCall) (string, bool) {
	var d struct {
		File *struct {
			Content    *string `json:"content"`
			NumLines   int     `json:"numLines"`
			StartLine  int     `json:"startLine"`
			TotalLines int     `json:"totalLines"`
		} `json:"file"`
	}
	if len(tc.Detail) > 0 && json.Unmarshal(tc.Detail, &d) == nil && d.File != nil && d.File.Content != nil {
		f := d.File
		if f.StartLine > 1 || (f.TotalLines > 0 && f.NumLines < f.TotalLines) {
			return "", false
		}
		return *f.Content, true
	}
	return claudecode.ReadText(tc.Output)
}
