// Command mutate checks that the test suite keeps the project's promises:
// it applies deliberate bugs, one at a time, to a temporary copy of the
// repository and expects a failing test for each. A mutation the suite
// does not catch is a promise nobody checks. `make mutate` runs it.
//
// Each mutation replaces one exact piece of text in one file (it must occur
// exactly once, so a mutation cannot go stale silently) and names the
// packages and tests that must catch it. Keep the list growing as defences
// are added.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	only := flag.String("only", "", "run only the mutations whose name contains `TEXT`")
	keep := flag.Bool("keep", false, "keep the temporary copy (to look at a survivor)")
	flag.Parse()
	root, err := repoRoot()
	if err != nil {
		fail(err)
	}
	tmp, err := os.MkdirTemp("", "replay-mutate-")
	if err != nil {
		fail(err)
	}
	if !*keep {
		defer os.RemoveAll(tmp)
	}
	work := filepath.Join(tmp, "replay")
	if err := copyTracked(root, work); err != nil {
		fail(err)
	}
	fmt.Printf("mutating a copy of %s in %s\n\n", root, work)
	caught, survived, stale := 0, 0, 0
	for _, m := range mutations {
		if *only != "" && !strings.Contains(m.name, *only) {
			continue
		}
		start := time.Now()
		verdict, detail := run(work, m)
		switch verdict {
		case "caught":
			caught++
		case "SURVIVED":
			survived++
		default:
			stale++
		}
		fmt.Printf("%-9s %-62s %5.1fs %s\n", verdict, m.name, time.Since(start).Seconds(), detail)
	}
	fmt.Printf("\n%d caught, %d survived, %d stale\n", caught, survived, stale)
	if survived > 0 || stale > 0 {
		os.Exit(1)
	}
}

// run applies one mutation, runs its tests, and restores the file.
func run(dir string, m mutation) (verdict, detail string) {
	p := filepath.Join(dir, m.file)
	orig, err := os.ReadFile(p)
	if err != nil {
		return "stale", err.Error()
	}
	if n := strings.Count(string(orig), m.old); n != 1 {
		return "stale", fmt.Sprintf("%s: the text to replace occurs %d times", m.file, n)
	}
	mutated := strings.Replace(string(orig), m.old, m.new, 1)
	for _, e := range m.more {
		if n := strings.Count(mutated, e[0]); n != 1 {
			return "stale", fmt.Sprintf("%s: %q occurs %d times", m.file, e[0], n)
		}
		mutated = strings.Replace(mutated, e[0], e[1], 1)
	}
	if err := os.WriteFile(p, []byte(mutated), 0o644); err != nil {
		return "stale", err.Error()
	}
	defer os.WriteFile(p, orig, 0o644)
	args := append([]string{"test", "-count=1"}, m.pkgs...)
	if m.run != "" {
		args = append(args, "-run", m.run)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CI=true")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return "SURVIVED", "(" + strings.Join(m.pkgs, " ") + " -run " + m.run + " passed)"
	}
	if strings.Contains(string(out), "[build failed]") || strings.Contains(string(out), "[setup failed]") {
		return "stale", "the mutant does not build: " + firstLine(string(out))
	}
	return "caught", "by " + failingTest(string(out))
}

func failingTest(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(l), "--- FAIL: "); ok {
			return strings.Fields(t)[0]
		}
	}
	return "a failing package"
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, ".go:") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(s)
}

func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("find the repository: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// copyTracked copies the working tree's tracked files (with their current
// contents) to dst; ../shared beside it stays reachable through a link.
func copyTracked(root, dst string) error {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		return err
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the working tree
		}
		fi, _ := os.Stat(filepath.Join(root, f))
		p := filepath.Join(dst, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	// The corpus is looked for beside the repository.
	if shared := filepath.Join(filepath.Dir(root), "shared"); exists(shared) {
		os.Symlink(shared, filepath.Join(filepath.Dir(dst), "shared"))
	}
	return nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mutate:", err)
	os.Exit(2)
}
