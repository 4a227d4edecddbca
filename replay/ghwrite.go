package replay

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentreplay/replay/replay/trace"
)

// ProducedEffect marks a GitHub write answered as GitHub would answer it
// and applied to the run's copy of the snapshot; it never reached GitHub.
const ProducedEffect = "effect"

// AgentLogin is the author of the comments and reviews a replayed agent
// posts, in its in-run snapshot and in fixture states.
const AgentLogin = "replay-agent[bot]"

// GitHubState is the in-run copy of a GitHub snapshot: the snapshot's
// documents with the run's effects applied, so that a read after a write
// sees it (a label the agent just added is listed). It answers File as the
// snapshot does.
type GitHubState struct {
	base  GitHubFiles
	files map[string][]byte
	// Repo (owner/name) and Number are the item the snapshot holds, or the
	// run's refs when there is no snapshot.
	Repo   string
	Number int
	// PR says the item is a pull request when there is no snapshot to
	// tell.
	PR     bool
	now    func() time.Time
	nextID int64
}

// NewGitHubState returns the in-run copy of base (nil: no snapshot, the
// item named by repo and number). now stamps comments and reviews.
func NewGitHubState(base GitHubFiles, repo string, number int, now func() time.Time) *GitHubState {
	if now == nil {
		now = time.Now
	}
	s := &GitHubState{base: base, files: map[string][]byte{}, Repo: repo, Number: number, now: now, nextID: 9000000001}
	if b, ok := s.item(); ok {
		var it struct {
			Number  int    `json:"number"`
			HTMLURL string `json:"html_url"`
		}
		if json.Unmarshal(b, &it) == nil {
			if it.Number != 0 {
				s.Number = it.Number
			}
			if r := repoOfURL(it.HTMLURL); r != "" {
				s.Repo = r
			}
		}
	}
	return s
}

func repoOfURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	parts := strings.Split(strings.Trim(p.Path, "/"), "/")
	if len(parts) >= 2 {
		return parts[0] + "/" + parts[1]
	}
	return ""
}

// File implements GitHubFiles.
func (s *GitHubState) File(name string) ([]byte, bool) {
	if b, ok := s.files[name]; ok {
		return b, true
	}
	if s.base == nil {
		return nil, false
	}
	return s.base.File(name)
}

// itemName is the document of the snapshot's item: pr.json, else
// issue.json ("" when there is none).
func (s *GitHubState) itemName() string {
	for _, n := range []string{"pr.json", "issue.json"} {
		if _, ok := s.File(n); ok {
			return n
		}
	}
	return ""
}

func (s *GitHubState) item() ([]byte, bool) {
	if n := s.itemName(); n != "" {
		return s.File(n)
	}
	return nil, false
}

// IsPR reports whether the snapshot's item is a pull request.
func (s *GitHubState) IsPR() bool {
	if n := s.itemName(); n != "" {
		return n == "pr.json"
	}
	return s.PR
}

// Target is the snapshot's item as owner/name#N.
func (s *GitHubState) Target() string {
	if s.Repo == "" || s.Number == 0 {
		return ""
	}
	return fmt.Sprintf("%s#%d", s.Repo, s.Number)
}

// URL is the item's web address.
func (s *GitHubState) URL() string {
	if b, ok := s.item(); ok {
		var it struct {
			HTMLURL string `json:"html_url"`
		}
		if json.Unmarshal(b, &it) == nil && it.HTMLURL != "" {
			return it.HTMLURL
		}
	}
	kind := "issues"
	if s.IsPR() {
		kind = "pull"
	}
	return fmt.Sprintf("https://github.com/%s/%s/%d", s.Repo, kind, s.Number)
}

func (s *GitHubState) mine(target string) bool {
	return target != "" && strings.EqualFold(target, s.Target())
}

func (s *GitHubState) edit(name string, fn func(m map[string]any)) {
	b, ok := s.File(name)
	if !ok {
		return
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m == nil {
		return
	}
	fn(m)
	out, _ := json.MarshalIndent(m, "", "  ")
	s.files[name] = out
}

func (s *GitHubState) appendTo(name string, v map[string]any) {
	var list []any
	if b, ok := s.File(name); ok {
		json.Unmarshal(b, &list)
	}
	list = append(list, v)
	out, _ := json.MarshalIndent(list, "", "  ")
	s.files[name] = out
}

func namesOf(v any, key string) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			if n, ok := m[key].(string); ok {
				out = append(out, n)
			}
		}
	}
	return out
}

func objectsOf(names []string, key string) []any {
	out := []any{}
	for _, n := range names {
		out = append(out, map[string]any{key: n})
	}
	return out
}

// Labels are the item's labels now.
func (s *GitHubState) Labels() []string {
	b, ok := s.item()
	if !ok {
		return nil
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return namesOf(m["labels"], "name")
}

// Apply applies an effect to the copy (effects on another item than the
// snapshot's change nothing here) and returns the document GitHub would
// answer the write with (nil when it has none).
func (s *GitHubState) Apply(e trace.Effect) map[string]any {
	if !s.mine(e.Target) {
		return nil
	}
	now := s.now().UTC().Format(time.RFC3339)
	id := s.nextID
	s.nextID++
	name := s.itemName()
	var answer map[string]any
	editItem := func(fn func(m map[string]any)) {
		for _, n := range []string{"pr.json", "issue.json"} {
			s.edit(n, func(m map[string]any) {
				fn(m)
				m["updated_at"] = now
				if n == name {
					answer = m
				}
			})
		}
	}
	switch e.Kind {
	case trace.EffectLabelAdd, trace.EffectLabelRemove:
		editItem(func(m map[string]any) {
			ls := namesOf(m["labels"], "name")
			for _, l := range e.Labels {
				i := slices.IndexFunc(ls, func(x string) bool { return strings.EqualFold(x, l) })
				switch {
				case e.Kind == trace.EffectLabelAdd && i < 0:
					ls = append(ls, l)
				case e.Kind == trace.EffectLabelRemove && i >= 0:
					ls = slices.Delete(ls, i, i+1)
				}
			}
			m["labels"] = objectsOf(ls, "name")
		})
	case trace.EffectAssign, trace.EffectUnassign:
		editItem(func(m map[string]any) {
			as := namesOf(m["assignees"], "login")
			for _, a := range e.Assignees {
				i := slices.Index(as, a)
				switch {
				case e.Kind == trace.EffectAssign && i < 0:
					as = append(as, a)
				case e.Kind == trace.EffectUnassign && i >= 0:
					as = slices.Delete(as, i, i+1)
				}
			}
			m["assignees"] = objectsOf(as, "login")
		})
	case trace.EffectClose:
		editItem(func(m map[string]any) {
			m["state"], m["closed_at"] = "closed", now
			if e.Reason != "" {
				m["state_reason"] = e.Reason
			}
		})
	case trace.EffectReopen:
		editItem(func(m map[string]any) { m["state"], m["closed_at"] = "open", nil })
	case trace.EffectMerge:
		editItem(func(m map[string]any) { m["state"], m["merged"], m["merged_at"] = "closed", true, now })
	case trace.EffectEdit:
		editItem(func(m map[string]any) {
			if e.Title != "" {
				m["title"] = e.Title
			}
			if e.Body != "" {
				m["body"] = e.Body
			}
		})
	case trace.EffectComment:
		answer = map[string]any{"id": id, "user": map[string]any{"login": AgentLogin}, "body": e.Body, "created_at": now, "updated_at": now,
			"html_url": fmt.Sprintf("%s#issuecomment-%d", s.URL(), id)}
		s.appendTo("comments.json", answer)
	case trace.EffectReview:
		state := map[string]string{"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}[e.Review]
		answer = map[string]any{"id": id, "user": map[string]any{"login": AgentLogin}, "body": e.Body, "state": state, "submitted_at": now,
			"html_url": fmt.Sprintf("%s#pullrequestreview-%d", s.URL(), id)}
		s.appendTo("reviews.json", answer)
	}
	return answer
}

// ghWrite understands a gh write (gh issue|pr edit, comment, review,
// close, reopen, merge; gh api with a write method): the effects it would
// have, and ok. It does not apply them.
func (s *GitHubState) ghWrite(command string) (effs []trace.Effect, api bool, ok bool) {
	if strings.ContainsAny(command, "|;&<>`$\n") {
		return nil, false, false
	}
	words, ok := shellWords(command)
	if !ok || len(words) < 3 || words[0] != "gh" {
		return nil, false, false
	}
	if words[1] == "api" {
		effs, ok := s.apiWrite(words[2:])
		return effs, true, ok
	}
	kind, verb := words[1], words[2]
	if kind != "issue" && kind != "pr" {
		return nil, false, false
	}
	bools := map[string][]string{
		"edit":    nil,
		"comment": nil,
		"review":  {"approve", "a", "request-changes", "r", "comment", "c"},
		"close":   {"delete-branch", "d"},
		"reopen":  nil,
		"merge":   {"merge", "m", "squash", "s", "rebase", "auto", "delete-branch", "d", "admin", "disable-auto"},
	}
	bs, known := bools[verb]
	if !known || (verb == "review" || verb == "merge") && kind != "pr" {
		return nil, false, false
	}
	args, flags, ok := writeFlags(words[3:], bs)
	if !ok || len(args) > 1 {
		return nil, false, false
	}
	target, ok := s.targetOf(args, flags.one("repo", "R"))
	if !ok {
		return nil, false, false
	}
	if kind == "pr" && s.mine(target) && s.itemName() == "issue.json" {
		return nil, false, false // the item is an issue: gh finds no pull request
	}
	mk := func(k string) trace.Effect { return trace.Effect{Kind: k, Target: target} }
	body := flags.one("body", "b")
	switch verb {
	case "edit":
		for _, f := range []struct {
			names []string
			kind  string
		}{{[]string{"add-label"}, trace.EffectLabelAdd}, {[]string{"remove-label"}, trace.EffectLabelRemove},
			{[]string{"add-assignee"}, trace.EffectAssign}, {[]string{"remove-assignee"}, trace.EffectUnassign}} {
			vals := splitList(flags.all(f.names...))
			if len(vals) == 0 {
				continue
			}
			e := mk(f.kind)
			if f.kind == trace.EffectAssign || f.kind == trace.EffectUnassign {
				e.Assignees = vals
			} else {
				e.Labels = vals
			}
			effs = append(effs, e)
		}
		if t, b := flags.one("title", "t"), body; t != "" || b != "" {
			e := mk(trace.EffectEdit)
			e.Title, e.Body = t, b
			effs = append(effs, e)
		}
		if flags.has("body-file", "F", "milestone", "m", "add-project", "remove-project", "add-reviewer", "remove-reviewer", "base", "B") {
			return nil, false, false // not a write replay can reproduce
		}
	case "comment":
		if body == "" || flags.has("body-file", "F", "edit-last", "web", "w", "editor", "e") {
			return nil, false, false
		}
		e := mk(trace.EffectComment)
		e.Body = body
		effs = append(effs, e)
	case "review":
		e := mk(trace.EffectReview)
		switch {
		case flags.has("approve", "a"):
			e.Review = "APPROVE"
		case flags.has("request-changes", "r"):
			e.Review = "REQUEST_CHANGES"
		case flags.has("comment", "c"):
			e.Review = "COMMENT"
		default:
			return nil, false, false
		}
		if flags.has("body-file", "F") || (e.Review != "APPROVE" && body == "") {
			return nil, false, false
		}
		e.Body = body
		effs = append(effs, e)
	case "close", "reopen":
		if c := flags.one("comment", "c"); c != "" {
			e := mk(trace.EffectComment)
			e.Body = c
			effs = append(effs, e)
		}
		e := mk(trace.EffectClose)
		if verb == "reopen" {
			e = mk(trace.EffectReopen)
		}
		e.Reason = flags.one("reason", "r")
		effs = append(effs, e)
	case "merge":
		if flags.has("body-file", "F") {
			return nil, false, false
		}
		effs = append(effs, mk(trace.EffectMerge))
	}
	return effs, false, len(effs) > 0
}

// ghWriteAnswer is what gh prints for a write when its output is not a
// terminal: the item's URL for edit, the comment's URL for comment,
// nothing for the rest; gh api prints the response's JSON.
func ghWriteAnswer(verb string, answers []map[string]any, url string) string {
	switch verb {
	case "edit":
		return url
	case "comment":
		for _, a := range answers {
			if u, ok := a["html_url"].(string); ok {
				return u
			}
		}
		return url
	}
	return ""
}

// targetOf is the item a gh command names: a number, #N or a URL, with
// --repo; none is the snapshot's item.
func (s *GitHubState) targetOf(args []string, repo string) (string, bool) {
	if repo == "" {
		repo = s.Repo
	}
	if len(args) == 0 {
		return s.Target(), s.Target() != ""
	}
	a := strings.TrimPrefix(args[0], "#")
	if n, err := strconv.Atoi(a); err == nil && n > 0 && repo != "" {
		return fmt.Sprintf("%s#%d", repo, n), true
	}
	if m := itemURL.FindStringSubmatch(a); m != nil {
		return m[1] + "#" + m[3], true
	}
	return "", false
}

var itemURL = regexp.MustCompile(`^https://github\.com/([^/]+/[^/]+)/(issues|pull)/(\d+)`)

type flagValues map[string][]string

func (f flagValues) one(names ...string) string {
	for _, n := range names {
		if v := f[n]; len(v) > 0 {
			return v[len(v)-1]
		}
	}
	return ""
}

func (f flagValues) all(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, f[n]...)
	}
	return out
}

func (f flagValues) has(names ...string) bool {
	for _, n := range names {
		if _, ok := f[n]; ok {
			return true
		}
	}
	return false
}

// writeFlags splits a gh write's words into arguments and flags; bools are
// the flags that take no value.
func writeFlags(words []string, bools []string) ([]string, flagValues, bool) {
	var args []string
	flags := flagValues{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") || w == "-" {
			args = append(args, w)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if name == "" {
			return nil, nil, false
		}
		if slices.Contains(bools, name) {
			if hasVal {
				return nil, nil, false
			}
			flags[name] = append(flags[name], "")
			continue
		}
		if !hasVal {
			if i+1 >= len(words) {
				return nil, nil, false
			}
			i++
			val = words[i]
		}
		flags[name] = append(flags[name], val)
	}
	return args, flags, true
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

var apiWritePath = regexp.MustCompile(`^/?repos/([^/]+/[^/]+)/(issues|pulls)/(\d+)(?:/(labels|comments|reviews|assignees|merge)(?:/([^/?]+))?)?$`)

// apiWrite understands `gh api` writes to an issue or pull request.
func (s *GitHubState) apiWrite(words []string) ([]trace.Effect, bool) {
	args, flags, ok := writeFlags(words, []string{"include", "i", "silent", "paginate", "verbose"})
	if !ok || len(args) != 1 || flags.has("input", "jq", "q", "template", "t", "hostname", "H", "header", "preview", "p", "cache") {
		return nil, false
	}
	method := strings.ToUpper(flags.one("method", "X"))
	fields := map[string][]string{}
	for _, kv := range flags.all("f", "F", "field", "raw-field") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, false
		}
		k = strings.TrimSuffix(k, "[]")
		fields[k] = append(fields[k], v)
	}
	if method == "" {
		method = "GET"
		if len(fields) > 0 {
			method = "POST"
		}
	}
	if method == "GET" {
		return nil, false
	}
	m := apiWritePath.FindStringSubmatch(args[0])
	if m == nil {
		return nil, false
	}
	target := m[1] + "#" + m[3]
	one := func(k string) string {
		if v := fields[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	mk := func(k string) trace.Effect { return trace.Effect{Kind: k, Target: target} }
	var effs []trace.Effect
	switch sub, name := m[4], m[5]; {
	case sub == "labels" && name == "" && method == "POST" && len(fields["labels"]) > 0:
		e := mk(trace.EffectLabelAdd)
		e.Labels = fields["labels"]
		effs = append(effs, e)
	case sub == "labels" && name == "" && method == "PUT":
		if s.mine(target) {
			if cur := s.Labels(); len(cur) > 0 {
				e := mk(trace.EffectLabelRemove)
				e.Labels = cur
				effs = append(effs, e)
			}
		}
		if len(fields["labels"]) > 0 {
			e := mk(trace.EffectLabelAdd)
			e.Labels = fields["labels"]
			effs = append(effs, e)
		}
	case sub == "labels" && name != "" && method == "DELETE":
		l, err := url.PathUnescape(name)
		if err != nil {
			return nil, false
		}
		e := mk(trace.EffectLabelRemove)
		e.Labels = []string{l}
		effs = append(effs, e)
	case sub == "comments" && name == "" && method == "POST" && m[2] == "issues" && one("body") != "":
		e := mk(trace.EffectComment)
		e.Body = one("body")
		effs = append(effs, e)
	case sub == "reviews" && name == "" && method == "POST" && m[2] == "pulls":
		e := mk(trace.EffectReview)
		e.Review, e.Body = strings.ToUpper(one("event")), one("body")
		if e.Review != "APPROVE" && e.Review != "REQUEST_CHANGES" && e.Review != "COMMENT" {
			return nil, false // a pending review, or an event we do not know
		}
		effs = append(effs, e)
	case sub == "assignees" && name == "" && (method == "POST" || method == "DELETE") && len(fields["assignees"]) > 0:
		e := mk(trace.EffectAssign)
		if method == "DELETE" {
			e.Kind = trace.EffectUnassign
		}
		e.Assignees = fields["assignees"]
		effs = append(effs, e)
	case sub == "merge" && method == "PUT" && m[2] == "pulls":
		effs = append(effs, mk(trace.EffectMerge))
	case sub == "" && method == "PATCH":
		for k := range fields {
			if !slices.Contains([]string{"state", "state_reason", "title", "body"}, k) {
				return nil, false
			}
		}
		if t, b := one("title"), one("body"); t != "" || b != "" {
			e := mk(trace.EffectEdit)
			e.Title, e.Body = t, b
			effs = append(effs, e)
		}
		switch one("state") {
		case "closed":
			e := mk(trace.EffectClose)
			e.Reason = one("state_reason")
			effs = append(effs, e)
		case "open":
			effs = append(effs, mk(trace.EffectReopen))
		case "":
		default:
			return nil, false
		}
	}
	return effs, len(effs) > 0
}

// ApplyWrite understands a gh write, applies its effects to the copy and
// returns them with the output gh would print. ok is false for anything
// that is not a write replay understands.
func (s *GitHubState) ApplyWrite(command string) (effs []trace.Effect, out string, ok bool) {
	effs, api, ok := s.ghWrite(command)
	if !ok {
		return nil, "", false
	}
	var answers []map[string]any
	for _, e := range effs {
		answers = append(answers, s.Apply(e))
	}
	if api {
		return effs, apiAnswer(s, effs, answers), true
	}
	words, _ := shellWords(command)
	return effs, ghWriteAnswer(words[2], answers, itemURLOf(s, effs[0].Target)), true
}

func itemURLOf(s *GitHubState, target string) string {
	if s.mine(target) {
		return s.URL()
	}
	repo, n, _ := strings.Cut(target, "#")
	return fmt.Sprintf("https://github.com/%s/issues/%s", repo, n) // GitHub redirects an issue URL to the pull request
}

// apiAnswer is the JSON GitHub answers a REST write with.
func apiAnswer(s *GitHubState, effs []trace.Effect, answers []map[string]any) string {
	last := effs[len(effs)-1]
	var v any = map[string]any{}
	if a := answers[len(answers)-1]; a != nil {
		v = a
	}
	switch last.Kind {
	case trace.EffectLabelAdd, trace.EffectLabelRemove:
		ls := last.Labels
		if s.mine(last.Target) {
			ls = s.Labels()
		}
		v = objectsOf(ls, "name")
	case trace.EffectMerge:
		v = map[string]any{"merged": true, "message": "Pull Request successfully merged"}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// WriteEffects reads the GitHub writes of a recorded run's tool calls
// (its shell commands), for runs that do not record their effects
// (traces of other formats, native version 1): what a faithful replay of
// them would record.
func WriteEffects(r *trace.Run) []trace.Effect {
	repo, n := RunTarget(r)
	st := NewGitHubState(nil, repo, n, nil)
	var out []trace.Effect
	r.Walk(func(x *trace.Run) {
		for _, step := range x.Steps {
			t := step.Tool
			if t == nil || (t.Name != "Bash" && t.Name != "shell") || t.Status != trace.ToolOK {
				continue
			}
			effs, _, ok := st.ghWrite(commandOf(t.Arguments))
			if !ok {
				continue
			}
			for _, e := range effs {
				e.Call, e.Tool, e.Answer = t.CallID, t.Name, trace.EffectRecorded
				out = append(out, e)
			}
		}
	})
	return out
}
