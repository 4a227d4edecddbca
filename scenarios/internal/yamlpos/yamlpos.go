// Package yamlpos turns JSON Schema validation errors of a YAML document
// into FILE:LINE: FIELD messages: the line of an instance location found
// through the YAML AST, the field named as a path. The suites' case files
// and the agent-eval-harness files share it.
package yamlpos

import (
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Leaves are the validation errors without causes.
func Leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, Leaves(c)...)
	}
	return out
}

// Field renders an instance location: expect.predicates[0].
func Field(loc []string) string {
	var b strings.Builder
	for _, p := range loc {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// Line finds the line of an instance location in the YAML, or of its
// nearest ancestor that exists (0 for none).
func Line(f *ast.File, loc []string) int {
	for n := len(loc); n >= 0; n-- {
		b := (&yaml.PathBuilder{}).Root()
		for _, p := range loc[:n] {
			if i, err := strconv.Atoi(p); err == nil && i >= 0 {
				b = b.Index(uint(i))
			} else {
				b = b.Child(p)
			}
		}
		node, err := b.Build().FilterFile(f)
		if err == nil && node != nil && node.GetToken() != nil {
			return node.GetToken().Position.Line
		}
	}
	return 0
}

// ErrLine is the line a goccy/go-yaml error names ("[line:col] …"), or 0.
func ErrLine(err error) int {
	msg := err.Error()
	if strings.HasPrefix(msg, "[") {
		if end := strings.Index(msg, "]"); end > 0 {
			if line, _, ok := strings.Cut(msg[1:end], ":"); ok {
				if n, err := strconv.Atoi(line); err == nil {
					return n
				}
			}
		}
	}
	return 0
}

// FirstLine is the first line of a message without its "[line:col] "
// prefix.
func FirstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if strings.HasPrefix(s, "[") {
		if end := strings.Index(s, "] "); end > 0 {
			s = s[end+2:]
		}
	}
	return s
}
