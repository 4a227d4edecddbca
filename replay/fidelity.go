package replay

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/agentreplay/replay/replay/trace/claudecode"
	"github.com/agentreplay/replay/sandbox"
)

// Fidelity verdicts of a re-executed tool call.
const (
	Match         = "match"          // the re-executed result is the recorded one (after the normalizations listed)
	Differs       = "differs"        // it is not
	NotReexecuted = "not-reexecuted" // the call was answered another way (recorded, denied, failed to run), with the reason
	// Environment: the call differs because the sandbox's image lacks a
	// program it ran (command not found), which says nothing of the world.
	Environment = "environment"
	// Harness: the agent's harness answered the call in the original (a
	// prompt aborted or refused, an interrupt, a hook): answered as
	// recorded, neither a match nor a divergence.
	Harness = "harness"
)

// notFoundRE matches a shell's "program missing" line: bash's "bash: line
// 1: rg: command not found", busybox sh's "sh: rg: not found".
var notFoundRE = regexp.MustCompile(`(?m)^(?:\S+: )?(?:line \d+: )?([\w.+-]+): (?:command )?not found\s*$`)

// missingPrograms are the programs the replayed output says are not
// installed and the recorded output does not.
func missingPrograms(recorded, got string) []string {
	var out []string
	for _, m := range notFoundRE.FindAllStringSubmatch(got, -1) {
		name := m[1]
		if !slices.Contains(out, name) && !strings.Contains(recorded, name+": command not found") && !strings.Contains(recorded, name+": not found") {
			out = append(out, name)
		}
	}
	return out
}

// environmentOf turns a shell call's difference into an environment one
// when the replay could not run a program the agent had.
func environmentOf(tool, recorded, got string, c Comparison) Comparison {
	if c.Status != Differs || !sandbox.IsShellTool(tool) {
		return c
	}
	missing := missingPrograms(recorded, got)
	if len(missing) == 0 {
		return c
	}
	c.Status = Environment
	c.Reason = "not in the sandbox's image: " + strings.Join(missing, ", ") + " (pass --image with an image that has them, e.g. the agent's own)"
	return c
}

// Normalization names, as reported.
const (
	NormTrailingSpace = "trailing-whitespace"
	NormLineNumbers   = "line-number-format"
	NormReminders     = "system-reminders"
	NormEmptyOutput   = "empty-output-note"
	NormErrorTags     = "tool-use-error-tags"
	NormOrder         = "result-order"
	NormAgentTrailer  = "agent-id-trailer"
)

// Comparison is the verdict on one tool call.
type Comparison struct {
	Status         string   `json:"status"`
	Normalizations []string `json:"normalizations,omitempty"` // applied to reach a match
	Diff           string   `json:"diff,omitempty"`           // short, for differs
	Reason         string   `json:"reason,omitempty"`         // for not-reexecuted
}

// CompareResults compares a recorded tool result with a re-executed one.
// Differences that carry no meaning are normalized away, each named in the
// result: trailing whitespace, a tool's own line-number format, harness
// reminders appended to results, the "(… completed with no output)" note,
// <tool_use_error> tags, the order of Glob and file-list results (which
// follow file modification times, and a checkout sets new ones), and the
// "agentId: …" line Claude Code 2.x appends to a sub-agent's answer.
func CompareResults(tool, recorded string, recErr bool, got string, gotErr bool) Comparison {
	if recorded == got && recErr == gotErr {
		return Comparison{Status: Match}
	}
	a, b := recorded, got
	var applied []string
	// Each normalization is applied only while the texts still differ, and
	// named when it changed something.
	apply := func(name string, f func(string) string) {
		if a == b {
			return
		}
		na, nb := f(a), f(b)
		if na != a || nb != b {
			a, b = na, nb
			applied = append(applied, name)
		}
	}
	if slices.Contains(agentTools, tool) {
		apply(NormAgentTrailer, stripAgentTrailer)
	}
	apply(NormReminders, claudecode.StripReminders)
	apply(NormErrorTags, stripErrorTags)
	apply(NormEmptyOutput, stripEmptyNote)
	if claudecode.Numbered(a) || claudecode.Numbered(b) {
		apply(NormLineNumbers, claudecode.StripLineNumbers)
	}
	apply(NormTrailingSpace, trimTrailing)
	if unorderedTool(tool, a) {
		apply(NormOrder, sortLines)
	}
	if a == b && recErr == gotErr {
		return Comparison{Status: Match, Normalizations: applied}
	}
	d := shortDiff(a, b, 6)
	if recErr != gotErr {
		d = fmt.Sprintf("recorded is_error=%t, replayed is_error=%t\n", recErr, gotErr) + d
	}
	return Comparison{Status: Differs, Normalizations: applied, Diff: d}
}

func stripErrorTags(s string) string {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "<tool_use_error>") && strings.HasSuffix(t, "</tool_use_error>") {
		return strings.TrimSuffix(strings.TrimPrefix(t, "<tool_use_error>"), "</tool_use_error>")
	}
	return s
}

var emptyNoteRE = regexp.MustCompile(`^\(\w+ completed with no output\)$`)

func stripEmptyNote(s string) string {
	if emptyNoteRE.MatchString(strings.TrimSpace(s)) {
		return ""
	}
	return s
}

func trimTrailing(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// unorderedTool reports whether a result is a list whose order carries no
// meaning: Glob's paths, and file lists of Grep and similar tools.
func unorderedTool(tool, s string) bool {
	switch tool {
	case "Glob", "glob":
		return true
	case "Grep", "grep":
		return strings.HasPrefix(s, "Found ") // files_with_matches
	}
	return false
}

// sortLines sorts the lines of a list, keeping a "Found N files" header
// first.
func sortLines(s string) string {
	lines := strings.Split(s, "\n")
	body := lines
	if strings.HasPrefix(lines[0], "Found ") {
		body = lines[1:]
	}
	slices.Sort(body)
	return strings.Join(lines, "\n")
}

// shortDiff shows where two texts differ: the first differing lines of each
// (up to max), after the common prefix and suffix, with line numbers.
func shortDiff(a, b string, max int) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	p := 0
	for p < len(al) && p < len(bl) && al[p] == bl[p] {
		p++
	}
	s := 0
	for s < len(al)-p && s < len(bl)-p && al[len(al)-1-s] == bl[len(bl)-1-s] {
		s++
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "@@ line %d @@\n", p+1)
	write := func(sign string, lines []string) {
		for i, l := range lines {
			if i == max {
				fmt.Fprintf(&sb, "%s … %d more line(s)\n", sign, len(lines)-max)
				break
			}
			if len(l) > 200 {
				l = l[:200] + "…"
			}
			sb.WriteString(sign + " " + l + "\n")
		}
	}
	write("-", al[p:len(al)-s])
	write("+", bl[p:len(bl)-s])
	return sb.String()
}

// stripAgentTrailer drops the "agentId: …" lines Claude Code 2.x appends to
// a sub-agent's answer.
func stripAgentTrailer(s string) string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && strings.HasPrefix(strings.TrimSpace(lines[len(lines)-1]), "agentId: ") {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}
