package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

// DecisionSpec says where a run's decision is found:
//
//	auto        a JSON result file the agent wrote (…/output/*.json, *result*.json),
//	            else a JSON object in the final message
//	final       a JSON object in the final message (bare or in a ```json fence)
//	file:GLOB   the file the agent wrote whose path matches GLOB (path.Match; a
//	            pattern without "/" matches the base name)
//	tool:NAME   the arguments of the last call of tool NAME
type DecisionSpec string

// ParseDecisionSpec checks a decision spec.
func ParseDecisionSpec(s string) (DecisionSpec, error) {
	switch {
	case s == "" || s == "auto":
		return "auto", nil
	case s == "final":
		return "final", nil
	case strings.HasPrefix(s, "file:") && len(s) > 5:
		if _, err := path.Match(s[5:], ""); err != nil {
			return "", fmt.Errorf("decision %q: bad glob: %w", s, err)
		}
		return DecisionSpec(s), nil
	case strings.HasPrefix(s, "tool:") && len(s) > 5:
		return DecisionSpec(s), nil
	}
	return "", fmt.Errorf("decision %q: want auto, final, file:GLOB or tool:NAME", s)
}

// ExtractDecision finds the decision of a run (its main run: sub-agents do
// not decide). readFile, when not nil, reads a file of the workspace as it
// is at the end of the run (so later edits count); otherwise the content of
// the last Write call to that file is used.
func ExtractDecision(r *trace.Run, spec DecisionSpec, readFile func(path string) ([]byte, error)) *trace.Decision {
	s := string(spec)
	switch {
	case s == "" || s == "auto":
		if d := fromFile(r, isResultFile, readFile); d != nil {
			return d
		}
		return fromFinal(r)
	case s == "final":
		return fromFinal(r)
	case strings.HasPrefix(s, "file:"):
		glob := s[5:]
		return fromFile(r, func(p string) bool { return globMatch(glob, p) }, readFile)
	case strings.HasPrefix(s, "tool:"):
		name := s[5:]
		for i := len(r.Steps) - 1; i >= 0; i-- {
			if t := r.Steps[i].Tool; t != nil && t.Name == name && json.Valid(t.Arguments) {
				return decision(t.Arguments, "tool call "+name)
			}
		}
	}
	return nil
}

func globMatch(glob, p string) bool {
	if !strings.Contains(glob, "/") {
		p = path.Base(p)
	}
	ok, _ := path.Match(glob, p)
	return ok
}

func isResultFile(p string) bool {
	if path.Ext(p) != ".json" {
		return false
	}
	return path.Base(path.Dir(p)) == "output" || strings.Contains(strings.ToLower(path.Base(p)), "result")
}

// fromFile finds the last file written by the run that matches.
func fromFile(r *trace.Run, match func(string) bool, readFile func(string) ([]byte, error)) *trace.Decision {
	for i := len(r.Steps) - 1; i >= 0; i-- {
		t := r.Steps[i].Tool
		if t == nil || t.Status != trace.ToolOK {
			continue
		}
		var a struct {
			FilePath string `json:"file_path"`
			Path     string `json:"path"`
			Content  string `json:"content"`
		}
		if json.Unmarshal(t.Arguments, &a) != nil {
			continue
		}
		p := a.FilePath
		if p == "" {
			p = a.Path
		}
		if p == "" || !match(p) || !slices.Contains([]string{"Write", "Edit", "MultiEdit", "write_file", "edit_file"}, t.Name) {
			continue
		}
		content := []byte(a.Content)
		if readFile != nil {
			if b, err := readFile(p); err == nil {
				content = b
			}
		}
		if d := decision(content, "file "+p); d != nil {
			return d
		}
	}
	return nil
}

// fromFinal finds a JSON object in the run's final message: a ```json
// fence, else the last balanced {…} that parses.
func fromFinal(r *trace.Run) *trace.Decision {
	text := ""
	if r.Outcome != nil {
		text = r.Outcome.Final
	}
	if text == "" {
		for i := len(r.Steps) - 1; i >= 0 && text == ""; i-- {
			if l := r.Steps[i].LLM; l != nil {
				text = textOf(l.Output)
			}
		}
	}
	if obj := jsonObjectIn(text); obj != nil {
		return decision(obj, "final message")
	}
	return nil
}

func textOf(m trace.Message) string {
	var sb strings.Builder
	for _, p := range m.Parts {
		if p.Type == trace.PartText {
			sb.WriteString(p.Text)
		}
	}
	return sb.String()
}

// jsonObjectIn returns the JSON object a text carries, or nil.
func jsonObjectIn(text string) []byte {
	if i := strings.Index(text, "```json"); i >= 0 {
		rest := text[i+len("```json"):]
		if j := strings.Index(rest, "```"); j >= 0 {
			if b := bytes.TrimSpace([]byte(rest[:j])); json.Valid(b) && len(b) > 0 && b[0] == '{' {
				return b
			}
		}
	}
	// The last balanced object that parses.
	for end := strings.LastIndex(text, "}"); end >= 0; end = strings.LastIndex(text[:end], "}") {
		depth := 0
		for start := end; start >= 0; start-- {
			switch text[start] {
			case '}':
				depth++
			case '{':
				depth--
			}
			if depth == 0 {
				if b := []byte(text[start : end+1]); json.Valid(b) {
					return b
				}
				break
			}
		}
	}
	return nil
}

// decision wraps a JSON object, recognizing the review result.
func decision(b []byte, source string) *trace.Decision {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return nil
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) == nil {
		b = buf.Bytes()
	}
	d := &trace.Decision{Source: source, Value: json.RawMessage(b)}
	var v struct {
		Action string `json:"action"`
	}
	if json.Unmarshal(b, &v) == nil && trace.IsReviewAction(v.Action) {
		d.Kind = "review"
	}
	return d
}
