// Package swebench holds what the benchmark-trajectory importers (SWE-agent,
// OpenHands) share about SWE-bench: how an instance id names its repository.
package swebench

import (
	"regexp"
	"strings"
)

// instanceRE is SWE-bench's instance id: owner__repo-N (SWE-bench,
// Multi-SWE-bench), or owner__repo-iN (SWE-agent's instances made from a
// GitHub issue URL).
var instanceRE = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*?)__([A-Za-z0-9_.-]+?)-i?([0-9]+)$`)

// Repo returns the GitHub repository (owner/name) an instance id names, as
// SWE-bench spells it: "pydicom__pydicom-1458" is pydicom/pydicom,
// "marshmallow-code__marshmallow-1867" is marshmallow-code/marshmallow. ok
// is false for an id of another shape.
func Repo(instance string) (repo string, ok bool) {
	m := instanceRE.FindStringSubmatch(strings.TrimSpace(instance))
	if m == nil {
		return "", false
	}
	return m[1] + "/" + m[2], true
}

// Number returns the issue or pull request number of an instance id ("1458"
// for "pydicom__pydicom-1458"), or "".
func Number(instance string) string {
	m := instanceRE.FindStringSubmatch(strings.TrimSpace(instance))
	if m == nil {
		return ""
	}
	return m[3]
}
