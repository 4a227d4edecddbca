package executor

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

const (
	globMaxResults = 100
	lsMaxEntries   = 1000
	grepMaxFile    = 64 << 20 // multiline search reads whole files up to this size
)

// expandBraces expands {a,b} alternatives (nested allowed) into plain
// globs: "*.{ts,tsx}" -> ["*.ts", "*.tsx"].
func expandBraces(p string) []string {
	depth, start := 0, -1
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				start = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth == 0 && start >= 0 {
				var alts []string
				d, last := 0, start+1
				for j := start + 1; j < i; j++ {
					switch p[j] {
					case '{':
						d++
					case '}':
						d--
					case ',':
						if d == 0 {
							alts = append(alts, p[last:j])
							last = j + 1
						}
					}
				}
				alts = append(alts, p[last:i])
				if len(alts) == 1 {
					// Not an alternative: keep the braces literally.
					continue
				}
				var out []string
				for _, a := range alts {
					out = append(out, expandBraces(p[:start]+a+p[i+1:])...)
				}
				if len(out) > 256 {
					out = out[:256]
				}
				return out
			}
		}
	}
	return []string{p}
}

// matchGlob matches a slash-separated relative path against a glob where
// "**" matches any number of directories.
func matchGlob(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"), 0)
}

func matchSegs(pat, segs []string, depth int) bool {
	if depth > 64 {
		return false
	}
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 1 && pat[1] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 1 {
				return true
			}
			for i := 0; i <= len(segs); i++ {
				if matchSegs(pat[1:], segs[i:], depth+1) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		ok, err := path.Match(pat[0], segs[0])
		if err != nil || !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

type fileHit struct {
	path  string // absolute, as shown
	mtime time.Time
}

type globArgs struct {
	Pattern string `json:"pattern"`
	Path    string `json:"path"`
}

// globTool is Claude Code's Glob and the generic glob: matching files,
// oldest first, at most 100.
func (s *Server) globTool(ctx context.Context, raw json.RawMessage, _ int64, d dialect) Result {
	name := "Glob"
	if d == generic {
		name = "glob"
	}
	var a globArgs
	if r := decodeArgs(d, name, raw, &a); r != nil {
		return *r
	}
	if a.Pattern == "" {
		return missing(d, name, "pattern")
	}
	s.mu.Lock()
	cwd := s.cwd
	s.mu.Unlock()
	base := cwd
	if a.Path != "" {
		base = a.Path
	}
	shownBase, realBase, err := s.resolve(base, cwd)
	if err != nil {
		return pathError(d, err)
	}
	if fi, err := os.Stat(realBase); err != nil || !fi.IsDir() {
		return toolError(d, fmt.Sprintf("Directory does not exist: %s", shownBase))
	}
	pattern := a.Pattern
	if filepath.IsAbs(pattern) {
		// An absolute pattern is taken from the root it names.
		r, err := filepath.Rel(shownBase, pattern)
		if err != nil || strings.HasPrefix(r, "..") {
			_, real, err := s.resolve(globPrefix(pattern), cwd)
			if err != nil {
				return pathError(d, err)
			}
			realBase, shownBase = real, globPrefix(pattern)
			r, _ = filepath.Rel(shownBase, pattern)
		}
		pattern = filepath.ToSlash(r)
	}
	pats := expandBraces(pattern)
	var hits []fileHit
	err = filepath.WalkDir(realBase, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if de.IsDir() {
			if de.Name() == ".git" && p != realBase {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(realBase, p)
		rel = filepath.ToSlash(rel)
		for _, pt := range pats {
			if matchGlob(pt, rel) {
				info, _ := de.Info()
				var mt time.Time
				if info != nil {
					mt = info.ModTime()
				}
				hits = append(hits, fileHit{path: filepath.Join(shownBase, filepath.FromSlash(rel)), mtime: mt})
				break
			}
		}
		return nil
	})
	if err != nil {
		return toolError(d, err.Error())
	}
	if len(hits) == 0 {
		return Result{Output: "No files found"}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if !hits[i].mtime.Equal(hits[j].mtime) {
			return hits[i].mtime.Before(hits[j].mtime)
		}
		return hits[i].path < hits[j].path
	})
	truncated := len(hits) > globMaxResults
	if truncated {
		hits = hits[:globMaxResults]
	}
	var sb strings.Builder
	for i, h := range hits {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(h.path)
	}
	if truncated {
		sb.WriteString("\n(Results are truncated. Consider using a more specific path or pattern.)")
	}
	return Result{Output: sb.String(), Truncated: truncated}
}

// globPrefix is the directory part of an absolute glob before its first
// wildcard.
func globPrefix(p string) string {
	i := strings.IndexAny(p, "*?[{")
	if i < 0 {
		return filepath.Dir(p)
	}
	return filepath.Dir(p[:i+1])
}

type grepArgs struct {
	Pattern    string `json:"pattern"`
	Path       string `json:"path"`
	Glob       string `json:"glob"`
	Include    string `json:"include"` // very early Claude Code
	Type       string `json:"type"`
	OutputMode string `json:"output_mode"`
	I          flag   `json:"-i"`
	IgnoreCase flag   `json:"ignore_case"`
	N          *flag  `json:"-n"`
	A          num    `json:"-A"`
	B          num    `json:"-B"`
	C          num    `json:"-C"`
	Context    num    `json:"context"`
	Multiline  flag   `json:"multiline"`
	HeadLimit  num    `json:"head_limit"`
	Offset     num    `json:"offset"`
}

// fileTypes maps ripgrep's common --type names to file globs.
func fileTypes(t string) []string {
	switch t {
	case "go":
		return []string{"*.go"}
	case "js":
		return []string{"*.js", "*.jsx", "*.mjs", "*.cjs", "*.vue"}
	case "ts":
		return []string{"*.ts", "*.tsx", "*.mts", "*.cts"}
	case "py":
		return []string{"*.py", "*.pyi"}
	case "rust":
		return []string{"*.rs"}
	case "java":
		return []string{"*.java", "*.jsp", "*.properties"}
	case "c":
		return []string{"*.c", "*.h", "*.H"}
	case "cpp":
		return []string{"*.cpp", "*.cc", "*.cxx", "*.hpp", "*.hh", "*.hxx", "*.h", "*.inl"}
	case "rb", "ruby":
		return []string{"*.rb", "Gemfile", "*.gemspec", "Rakefile"}
	case "md", "markdown":
		return []string{"*.md", "*.markdown", "*.mdx"}
	case "json":
		return []string{"*.json"}
	case "yaml":
		return []string{"*.yaml", "*.yml"}
	case "toml":
		return []string{"*.toml"}
	case "sh":
		return []string{"*.sh", "*.bash", "*.zsh", ".bashrc", ".zshrc"}
	case "html":
		return []string{"*.html", "*.htm"}
	case "css":
		return []string{"*.css", "*.scss", "*.sass", "*.less"}
	case "php":
		return []string{"*.php"}
	case "swift":
		return []string{"*.swift"}
	case "kotlin":
		return []string{"*.kt", "*.kts"}
	case "sql":
		return []string{"*.sql"}
	case "txt":
		return []string{"*.txt"}
	}
	return []string{"*." + t}
}

// fileFilter matches a path (relative to the search root) against
// ripgrep-style globs: a glob without a slash matches the base name.
type fileFilter []string

func (f fileFilter) match(rel string) bool {
	if len(f) == 0 {
		return true
	}
	for _, g := range f {
		g = strings.TrimPrefix(g, "./")
		if strings.Contains(g, "/") {
			if matchGlob(strings.TrimPrefix(g, "/"), rel) || matchGlob("**/"+strings.TrimPrefix(g, "**/"), rel) {
				return true
			}
		} else if ok, _ := path.Match(g, path.Base(rel)); ok {
			return true
		}
	}
	return false
}

type grepFile struct {
	shown string
	mtime time.Time
	lines []string // rendered output lines (content mode)
	count int
}

// grepTool is Claude Code's Grep (ripgrep semantics) and the generic grep.
func (s *Server) grepTool(ctx context.Context, raw json.RawMessage, _ int64, d dialect) Result {
	name := "Grep"
	if d == generic {
		name = "grep"
	}
	var a grepArgs
	if r := decodeArgs(d, name, raw, &a); r != nil {
		return *r
	}
	if a.Pattern == "" {
		return missing(d, name, "pattern")
	}
	mode := a.OutputMode
	if mode == "" {
		mode = "files_with_matches"
	}
	if mode != "files_with_matches" && mode != "content" && mode != "count" {
		return toolError(d, fmt.Sprintf("InputValidationError: %s failed due to the following issue:\nInvalid enum value for output_mode: %q (want content, files_with_matches or count)", name, a.OutputMode))
	}
	expr := a.Pattern
	if a.I || a.IgnoreCase {
		expr = "(?i)" + expr
	}
	if a.Multiline {
		expr = "(?s)" + expr
	} else {
		expr = "(?m)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return toolError(d, fmt.Sprintf("Invalid regular expression %q: %v", a.Pattern, err))
	}
	lineNumbers := !s.v1() // 2.x shows line numbers by default
	if a.N != nil {
		lineNumbers = bool(*a.N)
	}
	after, before := a.A.v, a.B.v
	if a.C.set {
		after, before = a.C.v, a.C.v
	} else if a.Context.set {
		after, before = a.Context.v, a.Context.v
	}
	after, before = max(after, 0), max(before, 0)

	var filter fileFilter
	g := a.Glob
	if g == "" {
		g = a.Include
	}
	if g != "" {
		for _, part := range strings.Fields(strings.ReplaceAll(g, ",", " ")) {
			filter = append(filter, expandBraces(part)...)
		}
		if strings.Contains(g, "{") && !strings.Contains(g, " ") {
			filter = expandBraces(g)
		}
	}
	if a.Type != "" {
		filter = append(filter, fileTypes(a.Type)...)
	}

	s.mu.Lock()
	cwd := s.cwd
	s.mu.Unlock()
	target := cwd
	if a.Path != "" {
		target = a.Path
	}
	shownTarget, realTarget, err := s.resolve(target, cwd)
	if err != nil {
		return pathError(d, err)
	}
	fi, err := os.Stat(realTarget)
	if err != nil {
		return toolError(d, fmt.Sprintf("Path does not exist: %s", shownTarget))
	}
	single := !fi.IsDir()

	var files []grepFile
	search := func(real, shown string, mtime time.Time) {
		gf := grepFile{shown: shown, mtime: mtime}
		prefix := ""
		if !single {
			prefix = shown + ":"
		}
		grepOne(real, re, bool(a.Multiline), mode == "content", func(n int, line string, match bool) {
			if n < 0 {
				gf.lines = append(gf.lines, "--")
				return
			}
			if match {
				gf.count++
			}
			if mode != "content" {
				return
			}
			sep := "-"
			if match {
				sep = ":"
			}
			var sb strings.Builder
			if !single {
				sb.WriteString(strings.TrimSuffix(prefix, ":"))
				sb.WriteString(sep)
			}
			if lineNumbers {
				sb.WriteString(strconv.Itoa(n))
				sb.WriteString(sep)
			}
			sb.WriteString(line)
			gf.lines = append(gf.lines, sb.String())
		}, int(before), int(after))
		if gf.count > 0 {
			files = append(files, gf)
		}
	}
	if single {
		search(realTarget, shownTarget, fi.ModTime())
	} else {
		err = filepath.WalkDir(realTarget, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if de.IsDir() {
				if p != realTarget && de.Name() == ".git" {
					return filepath.SkipDir
				}
				return nil
			}
			if !de.Type().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(realTarget, p)
			if !filter.match(filepath.ToSlash(rel)) {
				return nil
			}
			info, _ := de.Info()
			var mt time.Time
			if info != nil {
				mt = info.ModTime()
			}
			search(p, filepath.Join(shownTarget, rel), mt)
			return nil
		})
		if err != nil {
			return toolError(d, err.Error())
		}
	}

	skip, head := int(a.Offset.v), int(a.HeadLimit.v)
	page := func(items []string) []string {
		if skip > 0 {
			if skip >= len(items) {
				return nil
			}
			items = items[skip:]
		}
		if head > 0 && len(items) > head {
			items = items[:head]
		}
		return items
	}
	var out string
	switch mode {
	case "files_with_matches":
		if len(files) == 0 {
			return Result{Output: "No files found"}
		}
		// Newest first, as Claude Code sorts them.
		sort.SliceStable(files, func(i, j int) bool {
			if !files[i].mtime.Equal(files[j].mtime) {
				return files[i].mtime.After(files[j].mtime)
			}
			return files[i].shown < files[j].shown
		})
		var names []string
		for _, f := range files {
			names = append(names, f.shown)
		}
		names = page(names)
		noun := "files"
		if len(names) == 1 {
			noun = "file"
		}
		out = fmt.Sprintf("Found %d %s\n%s", len(names), noun, strings.Join(names, "\n"))
	case "content":
		sort.SliceStable(files, func(i, j int) bool { return files[i].shown < files[j].shown })
		var lines []string
		for _, f := range files {
			lines = append(lines, f.lines...)
		}
		lines = page(lines)
		if len(lines) == 0 {
			return Result{Output: "No matches found"}
		}
		out = strings.Join(lines, "\n")
	case "count":
		if len(files) == 0 {
			return Result{Output: "No matches found"}
		}
		sort.SliceStable(files, func(i, j int) bool { return files[i].shown < files[j].shown })
		var lines []string
		total := 0
		for _, f := range files {
			if single {
				lines = append(lines, strconv.Itoa(f.count))
			} else {
				lines = append(lines, f.shown+":"+strconv.Itoa(f.count))
			}
		}
		lines = page(lines)
		for _, f := range files {
			total += f.count
		}
		noun := "files"
		if len(files) == 1 {
			noun = "file"
		}
		occ := "occurrences"
		if total == 1 {
			occ = "occurrence"
		}
		out = fmt.Sprintf("%s\n\nFound %d total %s across %d %s.", strings.Join(lines, "\n"), total, occ, len(files), noun)
	}
	res := Result{Output: out}
	if len(res.Output) > s.cfg.OutputLimit {
		res.Output = res.Output[:s.cfg.OutputLimit] + "\n\n... [output truncated] ..."
		res.Truncated = true
	}
	return res
}

// grepOne searches one file and reports matching lines, and with context
// the lines around them (emit(-1, "--", false) separates groups).
func grepOne(file string, re *regexp.Regexp, multiline, wantLines bool, emit func(n int, line string, match bool), before, after int) {
	f, err := os.Open(file)
	if err != nil {
		return
	}
	defer f.Close()
	head := make([]byte, 8000)
	n, _ := io.ReadFull(f, head)
	if bytes.IndexByte(head[:n], 0) >= 0 {
		return // binary: ripgrep skips it
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return
	}
	if multiline {
		b, err := io.ReadAll(io.LimitReader(f, grepMaxFile))
		if err != nil {
			return
		}
		text := string(b)
		lines := strings.Split(text, "\n")
		starts := make([]int, len(lines))
		off := 0
		for i, l := range lines {
			starts[i] = off
			off += len(l) + 1
		}
		matched := map[int]bool{}
		for _, m := range re.FindAllStringIndex(text, -1) {
			first := sort.Search(len(starts), func(i int) bool { return starts[i] > m[0] }) - 1
			last := sort.Search(len(starts), func(i int) bool { return starts[i] >= max(m[1], m[0]+1) }) - 1
			for i := max(first, 0); i <= last; i++ {
				matched[i] = true
			}
		}
		prev := -2
		for i, l := range lines {
			if matched[i] {
				if prev >= 0 && i != prev+1 && wantLines {
					emit(-1, "--", false)
				}
				emit(i+1, l, true)
				prev = i
			}
		}
		return
	}
	br := bufio.NewReaderSize(f, 64<<10)
	var ring []struct {
		n    int
		line string
	}
	lastPrinted, afterLeft := 0, 0
	for ln := 1; ; ln++ {
		line, err := readLine(br, 1<<20)
		if err != nil && line == "" {
			break
		}
		if re.MatchString(line) {
			if wantLines {
				first := ln
				if len(ring) > 0 {
					first = ring[0].n
				}
				if lastPrinted > 0 && first > lastPrinted+1 && (before > 0 || after > 0) {
					emit(-1, "--", false)
				}
				for _, r := range ring {
					emit(r.n, r.line, false)
				}
			}
			ring = ring[:0]
			emit(ln, line, true)
			lastPrinted, afterLeft = ln, after
		} else if afterLeft > 0 {
			if wantLines {
				emit(ln, line, false)
			}
			lastPrinted = ln
			afterLeft--
		} else if before > 0 {
			ring = append(ring, struct {
				n    int
				line string
			}{ln, line})
			if len(ring) > before {
				ring = ring[1:]
			}
		}
		if err != nil {
			break
		}
	}
}

type lsArgs struct {
	Path   string   `json:"path"`
	Ignore []string `json:"ignore"`
}

// lsTool is Claude Code's LS (an indented tree) and the generic list_dir
// (one level, "name/" for directories).
func (s *Server) lsTool(ctx context.Context, raw json.RawMessage, _ int64, d dialect) Result {
	name := "LS"
	if d == generic {
		name = "list_dir"
	}
	var a lsArgs
	if r := decodeArgs(d, name, raw, &a); r != nil {
		return *r
	}
	s.mu.Lock()
	cwd := s.cwd
	s.mu.Unlock()
	p := a.Path
	if p == "" {
		if d == claude {
			return missing(d, name, "path")
		}
		p = cwd
	}
	shown, real, err := s.resolve(p, cwd)
	if err != nil {
		return pathError(d, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return toolError(d, fmt.Sprintf("Directory does not exist: %s", shown))
	}
	if !fi.IsDir() {
		return toolError(d, fmt.Sprintf("Not a directory: %s", shown))
	}
	ignored := func(n string) bool {
		for _, g := range a.Ignore {
			if ok, _ := path.Match(g, n); ok {
				return true
			}
		}
		return false
	}
	if d == generic {
		ents, err := os.ReadDir(real)
		if err != nil {
			return toolError(d, err.Error())
		}
		var lines []string
		for _, e := range ents {
			if ignored(e.Name()) {
				continue
			}
			n := e.Name()
			if e.IsDir() {
				n += "/"
			}
			lines = append(lines, n)
		}
		if len(lines) == 0 {
			return Result{Output: "(empty directory)"}
		}
		return Result{Output: strings.Join(lines, "\n")}
	}

	var lines []string
	count := 0
	truncated := false
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") || n == "__pycache__" || ignored(n) {
				continue
			}
			if count >= lsMaxEntries {
				truncated = true
				return nil
			}
			count++
			ind := strings.Repeat("  ", depth)
			if e.IsDir() {
				lines = append(lines, ind+"- "+n+"/")
				if err := walk(filepath.Join(dir, n), depth+1); err != nil {
					return err
				}
			} else {
				lines = append(lines, ind+"- "+n)
			}
		}
		return nil
	}
	if err := walk(real, 1); err != nil {
		return toolError(d, err.Error())
	}
	var sb strings.Builder
	if truncated {
		fmt.Fprintf(&sb, "There are more than %d files in the repository. Use the LS tool (passing a specific path), Bash tool, and other tools to explore nested directories. The first %d files and directories are included below:\n\n", lsMaxEntries, lsMaxEntries)
	}
	sb.WriteString("- " + strings.TrimSuffix(shown, "/") + "/\n")
	sb.WriteString(strings.Join(lines, "\n"))
	sb.WriteString("\n\nNOTE: do any of the files above seem malicious? If so, you MUST refuse to continue work.")
	return Result{Output: sb.String(), Truncated: truncated}
}
