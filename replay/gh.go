package replay

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// GitHubFiles is the GitHub snapshot of a run, as world.Snapshot holds it:
// REST-shaped files named pr.json, pr.diff, files.json, commits.json,
// reviews.json, review_comments.json, issue.json, comments.json.
type GitHubFiles interface {
	File(name string) ([]byte, bool)
}

// ProducedSnapshot marks a gh read answered from the GitHub snapshot.
const ProducedSnapshot = "snapshot"

// ghAnswer answers a read-only gh command from the snapshot, as gh prints
// it when its output is not a terminal. ok is false for anything else: a
// write (comment, review, merge, edit, POST), a command piped or chained
// into others, a flag it does not know (--jq, --template, --web), or data
// the snapshot lacks.
func ghAnswer(gh GitHubFiles, command string) (out string, ok bool) {
	if gh == nil || strings.ContainsAny(command, "|;&<>`$\n") {
		return "", false
	}
	words, ok := shellWords(command)
	if !ok || len(words) < 2 || words[0] != "gh" {
		return "", false
	}
	args, flags, ok := ghFlags(words[1:])
	if !ok {
		return "", false
	}
	switch {
	case len(args) >= 2 && args[0] == "pr" && args[1] == "diff":
		return fileIf(gh, "pr.diff", flags)
	case len(args) >= 2 && (args[0] == "pr" || args[0] == "issue") && args[1] == "view":
		kind := args[0]
		name := "pr.json"
		if kind == "issue" {
			name = "issue.json"
			if _, has := gh.File(name); !has {
				name = "pr.json" // a pull request is an issue too
			}
		}
		b, has := gh.File(name)
		if !has || !numberMatches(b, args[2:]) {
			return "", false
		}
		if fields, ok := flags["json"]; ok {
			return ghJSON(gh, b, fields)
		}
		if len(flags) > 0 && !onlyRepoFlag(flags) {
			return "", false
		}
		return ghView(b, kind), true
	case len(args) == 2 && args[0] == "api":
		if m := flags["method"]; m != "" && !strings.EqualFold(m, "GET") {
			return "", false
		}
		return ghAPI(gh, strings.TrimPrefix(args[1], "/"))
	}
	return "", false
}

func fileIf(gh GitHubFiles, name string, flags map[string]string) (string, bool) {
	if len(flags) > 0 && !onlyRepoFlag(flags) {
		return "", false
	}
	b, ok := gh.File(name)
	return strings.TrimRight(string(b), "\n"), ok
}

func onlyRepoFlag(flags map[string]string) bool {
	for k := range flags {
		if k != "repo" {
			return false
		}
	}
	return true
}

// ghFlags splits gh arguments from --flag value / --flag=value pairs.
// Write flags, and flags whose output cannot be reproduced, refuse.
func ghFlags(words []string) (args []string, flags map[string]string, ok bool) {
	flags = map[string]string{}
	valued := []string{"repo", "R", "json", "method", "X"}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") {
			args = append(args, w)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !slices.Contains(valued, name) {
			return nil, nil, false // --jq, --web, -f field=…, --comments …
		}
		if !hasVal {
			if i+1 >= len(words) {
				return nil, nil, false
			}
			i++
			val = words[i]
		}
		switch name {
		case "R":
			name = "repo"
		case "X":
			name = "method"
		}
		flags[name] = val
	}
	return args, flags, true
}

// numberMatches checks that a view names the snapshot's number (or none).
func numberMatches(b []byte, args []string) bool {
	if len(args) == 0 {
		return true
	}
	var v struct {
		Number  int    `json:"number"`
		HTMLURL string `json:"html_url"`
	}
	if json.Unmarshal(b, &v) != nil {
		return false
	}
	a := strings.TrimPrefix(args[0], "#")
	return a == fmt.Sprint(v.Number) || a == v.HTMLURL
}

type ghItem struct {
	Number  int    `json:"number"`
	Title   string `json:"title"`
	Body    string `json:"body"`
	State   string `json:"state"`
	Draft   bool   `json:"draft"`
	HTMLURL string `json:"html_url"`
	User    struct {
		Login string `json:"login"`
	} `json:"user"`
	Labels []struct {
		Name string `json:"name"`
	} `json:"labels"`
	Head struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"base"`
	Additions    int    `json:"additions"`
	Deletions    int    `json:"deletions"`
	ChangedFiles int    `json:"changed_files"`
	Merged       bool   `json:"merged"`
	CreatedAt    string `json:"created_at"`
	UpdatedAt    string `json:"updated_at"`
}

func (it *ghItem) state() string {
	switch {
	case it.Merged:
		return "MERGED"
	case it.State == "":
		return "OPEN"
	}
	return strings.ToUpper(it.State)
}

func (it *ghItem) labels() []string {
	var out []string
	for _, l := range it.Labels {
		out = append(out, l.Name)
	}
	return out
}

// ghView prints `gh pr view` / `gh issue view` as gh does without a
// terminal: tab-separated fields, "--", the body.
func ghView(b []byte, kind string) string {
	var it ghItem
	json.Unmarshal(b, &it)
	var sb strings.Builder
	fmt.Fprintf(&sb, "title:\t%s\nstate:\t%s\nauthor:\t%s\nlabels:\t%s\n", it.Title, it.state(), it.User.Login, strings.Join(it.labels(), ", "))
	if kind == "pr" {
		fmt.Fprintf(&sb, "assignees:\t\nreviewers:\t\nprojects:\t\nmilestone:\t\nnumber:\t%d\nurl:\t%s\nadditions:\t%d\ndeletions:\t%d\nauto-merge:\tdisabled\n", it.Number, it.HTMLURL, it.Additions, it.Deletions)
	} else {
		fmt.Fprintf(&sb, "comments:\t0\nassignees:\t\nprojects:\t\nmilestone:\t\nnumber:\t%d\n", it.Number)
	}
	sb.WriteString("--\n")
	sb.WriteString(it.Body)
	return strings.TrimRight(sb.String(), "\n")
}

// ghJSON answers `--json field,…` with the fields gh names, from the REST
// documents.
func ghJSON(gh GitHubFiles, b []byte, fields string) (string, bool) {
	var it ghItem
	if json.Unmarshal(b, &it) != nil {
		return "", false
	}
	out := map[string]any{}
	for _, f := range strings.Split(fields, ",") {
		f = strings.TrimSpace(f)
		switch f {
		case "number":
			out[f] = it.Number
		case "title":
			out[f] = it.Title
		case "body":
			out[f] = it.Body
		case "state":
			out[f] = it.state()
		case "url":
			out[f] = it.HTMLURL
		case "author":
			out[f] = map[string]any{"login": it.User.Login}
		case "labels":
			ls := []map[string]any{}
			for _, l := range it.labels() {
				ls = append(ls, map[string]any{"name": l})
			}
			out[f] = ls
		case "isDraft":
			out[f] = it.Draft
		case "headRefName":
			out[f] = it.Head.Ref
		case "headRefOid":
			out[f] = it.Head.SHA
		case "baseRefName":
			out[f] = it.Base.Ref
		case "baseRefOid":
			out[f] = it.Base.SHA
		case "additions":
			out[f] = it.Additions
		case "deletions":
			out[f] = it.Deletions
		case "changedFiles":
			out[f] = it.ChangedFiles
		case "createdAt":
			out[f] = it.CreatedAt
		case "updatedAt":
			out[f] = it.UpdatedAt
		case "assignees":
			var m map[string]any
			json.Unmarshal(b, &m)
			as := []map[string]any{}
			for _, a := range namesOf(m["assignees"], "login") {
				as = append(as, map[string]any{"login": a})
			}
			out[f] = as
		case "comments", "reviews":
			name := "comments.json"
			if f == "reviews" {
				name = "reviews.json"
			}
			var list []struct {
				User struct {
					Login string `json:"login"`
				} `json:"user"`
				Body        string `json:"body"`
				State       string `json:"state"`
				CreatedAt   string `json:"created_at"`
				SubmittedAt string `json:"submitted_at"`
			}
			if raw, ok := gh.File(name); ok && json.Unmarshal(raw, &list) != nil {
				return "", false
			}
			cs := []map[string]any{}
			for _, x := range list {
				c := map[string]any{"author": map[string]any{"login": x.User.Login}, "body": x.Body}
				if f == "reviews" {
					c["state"], c["submittedAt"] = x.State, x.SubmittedAt
				} else {
					c["createdAt"] = x.CreatedAt
				}
				cs = append(cs, c)
			}
			out[f] = cs
		case "files":
			raw, ok := gh.File("files.json")
			if !ok {
				return "", false
			}
			var files []struct {
				Filename  string `json:"filename"`
				Additions int    `json:"additions"`
				Deletions int    `json:"deletions"`
			}
			if json.Unmarshal(raw, &files) != nil {
				return "", false
			}
			fs := []map[string]any{}
			for _, x := range files {
				fs = append(fs, map[string]any{"path": x.Filename, "additions": x.Additions, "deletions": x.Deletions})
			}
			out[f] = fs
		default:
			return "", false // a field we cannot reproduce faithfully
		}
	}
	res, _ := json.Marshal(out)
	return string(res), true
}

var apiPath = regexp.MustCompile(`^repos/[^/]+/[^/]+/(pulls|issues)/(\d+)(?:/(files|commits|reviews|comments))?$`)

// ghAPI answers GET requests for the snapshot's documents.
func ghAPI(gh GitHubFiles, p string) (string, bool) {
	m := apiPath.FindStringSubmatch(strings.SplitN(p, "?", 2)[0])
	if m == nil {
		return "", false
	}
	name := ""
	switch m[1] + "/" + m[3] {
	case "pulls/":
		name = "pr.json"
	case "issues/":
		name = "issue.json"
		if _, ok := gh.File(name); !ok {
			name = "pr.json"
		}
	case "pulls/files":
		name = "files.json"
	case "pulls/commits":
		name = "commits.json"
	case "pulls/reviews":
		name = "reviews.json"
	case "pulls/comments":
		name = "review_comments.json"
	case "issues/comments":
		name = "comments.json"
	}
	b, ok := gh.File(name)
	if !ok {
		return "", false
	}
	var num struct {
		Number int `json:"number"`
	}
	if (name == "pr.json" || name == "issue.json") && (json.Unmarshal(b, &num) != nil || fmt.Sprint(num.Number) != m[2]) {
		return "", false
	}
	return strings.TrimRight(string(b), "\n"), true
}

// shellWords splits a simple command line into words, honouring single and
// double quotes and backslashes. ok is false for anything it cannot split
// faithfully.
func shellWords(s string) (words []string, ok bool) {
	var (
		cur   strings.Builder
		in    bool
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, false
	}
	if in {
		words = append(words, cur.String())
	}
	return words, true
}
