package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// dialect says whose result texts a tool imitates.
type dialect int

const (
	claude          dialect = iota // Claude Code's built-in tools
	generic                        // the generic set, for models behind an OpenAI-compatible API
	bench                          // the agent-benchmark harnesses' (FamilyBench)
	anthropicEditor                // Anthropic's text-editor tool (FamilyAnthropic)
)

type toolFunc func(s *Server, ctx context.Context, args json.RawMessage, timeoutMS int64, d dialect) Result

// ToolNames lists the tool names the executor accepts (see Tools).
func ToolNames() []string {
	var names []string
	for _, t := range Tools() {
		names = append(names, t.Name)
	}
	return names
}

// toolIndex is Tools by name, built once per server.
func toolIndex() map[string]Tool {
	m := map[string]Tool{}
	for _, t := range Tools() {
		m[t.Name] = t
	}
	return m
}

// Call runs one tool call. Tool failures are Results with IsError; Call
// itself never fails.
func (s *Server) Call(ctx context.Context, name string, args json.RawMessage, timeoutMS int64) (res Result) {
	start := time.Now()
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.calls--
		last := s.calls == 0
		s.mu.Unlock()
		if last {
			// Nothing a call started outlives it (when no other call is
			// running, whose processes these could be).
			s.pid1.sweep()
		}
		res.DurationMS = time.Since(start).Milliseconds()
	}()
	e, ok := s.tools[name]
	if !ok {
		return toolError(claude, fmt.Sprintf("Error: No such tool available: %s", name))
	}
	if len(bytes.TrimSpace(args)) == 0 || bytes.Equal(bytes.TrimSpace(args), []byte("null")) {
		args = json.RawMessage("{}")
	}
	res = e.fn(s, ctx, args, timeoutMS, e.dialect())
	res.Output = s.remapOut(res.Output)
	if s.cfg.Remap != nil && len(res.Detail) > 0 {
		res.Detail = json.RawMessage(s.remapOut(string(res.Detail)))
	}
	if res.IsError && res.Fault == "" && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res = toolError(e.dialect(), fmt.Sprintf("%s timed out", name))
		res.Fault = FaultTimeout
	}
	return res
}

// toolError is a failed call in the dialect's error format.
func toolError(d dialect, msg string) Result {
	if d == claude {
		return Result{Output: "<tool_use_error>" + msg + "</tool_use_error>", IsError: true}
	}
	return Result{Output: "Error: " + msg, IsError: true}
}

// pathError turns a resolve error into a tool error.
func pathError(d dialect, err error) Result {
	if errors.Is(err, errOutside) {
		return toolError(d, "Refused: "+err.Error())
	}
	return toolError(d, err.Error())
}

// decodeArgs decodes a tool's arguments, answering a validation error in
// Claude Code's words when they do not fit.
func decodeArgs(d dialect, tool string, args json.RawMessage, v any) *Result {
	if err := json.Unmarshal(args, v); err != nil {
		r := toolError(d, fmt.Sprintf("InputValidationError: %s failed due to the following issue:\n%s", tool, cleanJSONError(err)))
		return &r
	}
	return nil
}

func missing(d dialect, tool, param string) Result {
	return toolError(d, fmt.Sprintf("InputValidationError: %s failed due to the following issue:\nThe required parameter `%s` is missing", tool, param))
}

func cleanJSONError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return msg
}

// num is a JSON number that also accepts a numeric string ("30") and null;
// models send both.
type num struct {
	v   int64
	set bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		n.v, n.set = int64(f), true
		return nil
	}
	return fmt.Errorf("expected a number, got %s", b)
}

// flag is a JSON boolean that also accepts "true"/"false" strings.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	switch strings.Trim(strings.TrimSpace(string(b)), `"`) {
	case "true", "1":
		*f = true
	case "false", "0", "null", "":
		*f = false
	default:
		return fmt.Errorf("expected a boolean, got %s", b)
	}
	return nil
}

// version is a parsed Claude Code version; zero means "newest".
type version struct{ major, minor, patch int }

func parseVersion(s string) version {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, " -+"); i >= 0 {
		s = s[:i]
	}
	var v version
	parts := strings.SplitN(s, ".", 3)
	nums := []*int{&v.major, &v.minor, &v.patch}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return version{}
		}
		*nums[i] = n
	}
	return v
}

func (v version) zero() bool { return v == version{} }

func (v version) less(o version) bool {
	if v.major != o.major {
		return v.major < o.major
	}
	if v.minor != o.minor {
		return v.minor < o.minor
	}
	return v.patch < o.patch
}

// ver is the Claude Code version whose formats to imitate.
func (s *Server) ver() version { return parseVersion(s.cfg.Version) }

// v1 reports whether the formats are those of Claude Code 1.x.
func (s *Server) v1() bool { v := s.ver(); return !v.zero() && v.major < 2 }

// lineNo formats a line number prefix as Claude Code's Read does:
// early 1.0 "%6d\t", mid-2025 to 2.1.87 "%6d→", 2.1.88 and later "%d\t".
func (s *Server) lineNo(n int) string {
	v := s.ver()
	switch {
	case v.zero() || !v.less(version{2, 1, 88}):
		return strconv.Itoa(n) + "\t"
	case v.less(version{1, 0, 40}):
		return fmt.Sprintf("%6d\t", n)
	default:
		return fmt.Sprintf("%6d→", n)
	}
}
