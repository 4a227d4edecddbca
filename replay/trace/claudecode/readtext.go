package claudecode

import (
	"regexp"
	"strings"
)

// The text of Claude Code's Read results, which replay both compares
// (verify's normalizations) and reads back into file contents (commit
// search): one place that knows its line prefixes and reminders.

// readLineRE matches Read's line prefixes across Claude Code versions:
// "     1\t" (early 1.0), "     1→" (mid-2025 to 2.1.8x), "1\t" (2.1.88+).
var readLineRE = regexp.MustCompile(`(?m)^ *\d+(?:→|\t)`)

// ReadLimit is how many lines Read shows of a file at most.
const ReadLimit = 2000

// Numbered reports whether s starts with a Read line prefix.
func Numbered(s string) bool {
	first, _, _ := strings.Cut(s, "\n")
	return readLineRE.MatchString(first)
}

// StripLineNumbers removes Read's line prefixes.
func StripLineNumbers(s string) string { return readLineRE.ReplaceAllString(s, "") }

var reminderRE = regexp.MustCompile(`(?s)\s*<system-reminder>.*?</system-reminder>\s*`)

// StripReminders removes the <system-reminder> blocks Claude Code appends
// to tool results, with the blank space around them.
func StripReminders(s string) string {
	if !strings.Contains(s, "<system-reminder>") {
		return s
	}
	return strings.TrimLeft(strings.TrimRight(reminderRE.ReplaceAllString(s, "\n"), " \t\r\n"), "\r\n")
}

var trailingRemindersRE = regexp.MustCompile(`(?s)\n*<system-reminder>.*$`)

// ReadText is the file content a whole-file Read result shows: the
// reminders after it cut, every line's prefix removed. ok is false when a
// line has no prefix (the text is a message, not content) or the file was
// cut at ReadLimit lines. Whether the file ended with a newline the text
// does not say.
func ReadText(out string) (content string, ok bool) {
	text := trailingRemindersRE.ReplaceAllString(out, "")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) >= ReadLimit {
		return "", false
	}
	for i, l := range lines {
		loc := readLineRE.FindStringIndex(l)
		if loc == nil || loc[0] != 0 {
			return "", false
		}
		lines[i] = l[loc[1]:]
	}
	return strings.Join(lines, "\n"), true
}
