package diff

import (
	"encoding/json"
	"path"
	"sort"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// File sources.
const (
	FromPatch = "patch" // the workspace change the run reports (a replay's sandbox, a coding agent's submission)
	FromCalls = "calls" // rebuilt from the run's recorded Write and Edit calls
)

// FilesDiff compares the workspace changes of the runs.
type FilesDiff struct {
	Source [2]string  `json:"source"` // how each side's changes are known: patch, calls, or "" (none)
	Files  []FileDiff `json:"files"`
}

// FileDiff is one file either run changed.
type FileDiff struct {
	Path string      `json:"path"`
	A    *FileChange `json:"a"` // nil: A left it alone
	B    *FileChange `json:"b"`
	Same bool        `json:"same"`
	// Diff is a unified diff from A's to B's new content of the file (what
	// the hunks or the calls show of it), "" when the same.
	Diff string `json:"diff,omitempty"`
}

// FileChange is one run's change to a file: a diffstat.
type FileChange struct {
	Status  string `json:"status"` // added, modified, deleted
	Added   int    `json:"added"`  // lines
	Removed int    `json:"removed"`
	Steps   []int  `json:"steps,omitempty"` // the calls it comes from (source calls)
	post    string
}

type patchFile struct {
	path    string
	status  string
	added   int
	removed int
	hunks   []string
	post    string
}

// parsePatch reads a unified git diff into files and hunks.
func parsePatch(p string) []patchFile {
	var out []patchFile
	var cur *patchFile
	var hunk, post strings.Builder
	flushHunk := func() {
		if cur != nil && hunk.Len() > 0 {
			cur.hunks = append(cur.hunks, hunk.String())
			hunk.Reset()
		}
	}
	flush := func() {
		flushHunk()
		if cur != nil {
			cur.post = post.String()
			out = append(out, *cur)
		}
		post.Reset()
		cur = nil
	}
	inHunk := false
	for _, l := range strings.SplitAfter(p, "\n") {
		t := strings.TrimRight(l, "\n")
		switch {
		case strings.HasPrefix(t, "diff --git "):
			flush()
			cur = &patchFile{status: "modified"}
			f := strings.Fields(t)
			if len(f) >= 4 {
				cur.path = strings.TrimPrefix(f[3], "b/")
			}
			inHunk = false
		case cur == nil && strings.HasPrefix(t, "--- "):
			// a diff without the git header
			cur = &patchFile{status: "modified"}
			inHunk = false
		case cur == nil:
		case !inHunk && strings.HasPrefix(t, "new file"):
			cur.status = "added"
		case !inHunk && strings.HasPrefix(t, "deleted file"):
			cur.status = "deleted"
		case !inHunk && strings.HasPrefix(t, "+++ "):
			if n := strings.TrimPrefix(strings.TrimPrefix(t, "+++ "), "b/"); n != "/dev/null" {
				cur.path = strings.Fields(n + " ")[0]
			}
		case !inHunk && strings.HasPrefix(t, "--- "):
			if cur.path == "" {
				cur.path = strings.TrimPrefix(strings.TrimPrefix(t, "--- "), "a/")
			}
		case strings.HasPrefix(t, "@@"):
			flushHunk()
			inHunk = true
			hunk.WriteString(l)
		case inHunk:
			hunk.WriteString(l)
			switch {
			case strings.HasPrefix(t, "+"):
				cur.added++
				post.WriteString(t[1:] + "\n")
			case strings.HasPrefix(t, "-"):
				cur.removed++
			case strings.HasPrefix(t, " "):
				post.WriteString(t[1:] + "\n")
			}
		}
	}
	flush()
	return out
}

// callChanges rebuilds a run's file changes from its recorded Write and
// Edit calls: a Write's content, an Edit applied to what an earlier Write
// wrote (or its new text alone when the file's content is not known).
func callChanges(r *trace.Run) map[string]*FileChange {
	out := map[string]*FileChange{}
	cwd := ""
	if c := r.Meta.Refs.Cwd; c != nil {
		cwd = strings.TrimSuffix(c.Value, "/") + "/"
	}
	known := map[string]bool{}
	for i, s := range r.Steps {
		t := s.Tool
		if t == nil || t.Status != trace.ToolOK {
			continue
		}
		var a struct {
			FilePath string  `json:"file_path"`
			Path     string  `json:"path"`
			Content  *string `json:"content"`
			Old      string  `json:"old_string"`
			New      string  `json:"new_string"`
			All      bool    `json:"replace_all"`
			Edits    []struct {
				Old string `json:"old_string"`
				New string `json:"new_string"`
				All bool   `json:"replace_all"`
			} `json:"edits"`
		}
		if json.Unmarshal(t.Arguments, &a) != nil {
			continue
		}
		p := a.FilePath
		if p == "" {
			p = a.Path
		}
		if p == "" {
			continue
		}
		if cwd != "" && strings.HasPrefix(p, cwd) {
			p = strings.TrimPrefix(p, cwd)
		}
		p = path.Clean(p)
		edit := func(fc *FileChange, old, nw string, all bool) {
			fc.Added += lines(nw)
			fc.Removed += lines(old)
			switch {
			case known[p] && all:
				fc.post = strings.ReplaceAll(fc.post, old, nw)
			case known[p]:
				fc.post = strings.Replace(fc.post, old, nw, 1)
			default:
				if fc.post != "" {
					fc.post += "…\n"
				}
				fc.post += nw
				if !strings.HasSuffix(fc.post, "\n") {
					fc.post += "\n"
				}
			}
		}
		get := func() *FileChange {
			fc := out[p]
			if fc == nil {
				fc = &FileChange{Status: "modified"}
				out[p] = fc
			}
			fc.Steps = append(fc.Steps, i+1)
			return fc
		}
		switch t.Name {
		case "Write", "write_file", "create_file":
			if a.Content == nil {
				continue
			}
			fc := get()
			if len(fc.Steps) == 1 {
				fc.Status = "added" // as far as the calls tell: the run wrote it whole
			}
			fc.Added = lines(*a.Content)
			fc.post = *a.Content
			known[p] = true
		case "Edit", "edit_file", "str_replace":
			edit(get(), a.Old, a.New, a.All)
		case "MultiEdit":
			fc := get()
			for _, e := range a.Edits {
				edit(fc, e.Old, e.New, e.All)
			}
		}
	}
	return out
}

func lines(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(strings.TrimSuffix(s, "\n"), "\n") + 1
}

func changesOf(r *trace.Run) (map[string]*FileChange, string) {
	if p := patchOf(r); p != "" {
		out := map[string]*FileChange{}
		for _, f := range parsePatch(p) {
			out[f.path] = &FileChange{Status: f.status, Added: f.added, Removed: f.removed, post: f.post}
		}
		return out, FromPatch
	}
	out := callChanges(r)
	if len(out) == 0 {
		return out, ""
	}
	return out, FromCalls
}

func diffFiles(a, b *trace.Run) FilesDiff {
	ca, sa := changesOf(a)
	cb, sb := changesOf(b)
	fd := FilesDiff{Source: [2]string{sa, sb}, Files: []FileDiff{}}
	var paths []string
	for p := range ca {
		paths = append(paths, p)
	}
	for p := range cb {
		if ca[p] == nil {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := FileDiff{Path: p, A: ca[p], B: cb[p]}
		pa, pb := "", ""
		if f.A != nil {
			pa = f.A.post
		}
		if f.B != nil {
			pb = f.B.post
		}
		f.Same = f.A != nil && f.B != nil && pa == pb && f.A.Status == f.B.Status
		if !f.Same && pa != pb {
			f.Diff = unified("a/"+strings.TrimPrefix(p, "/"), "b/"+strings.TrimPrefix(p, "/"), pa, pb)
		}
		fd.Files = append(fd.Files, f)
	}
	return fd
}
