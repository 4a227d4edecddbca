package executor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run whose agent worked in a repository but wrote beside it: the
// workspace root is the parent, commands start in the repository, and a
// write to the sibling directory is inside the workspace.
func TestCwdInsideRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "widgets"), 0o755)
	os.WriteFile(filepath.Join(root, "widgets", "a.txt"), []byte("hello\n"), 0o644)
	s, err := NewServer(Config{Root: root, Cwd: filepath.Join(root, "widgets"), Shell: "/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, call(t, s, "Bash", `{"command":"pwd; cat a.txt"}`), want{out: "$ROOT/widgets\nhello"})
	check(t, s, call(t, s, "Read", `{"file_path":"a.txt"}`), want{contains: []string{"hello"}})
	check(t, s, call(t, s, "Write", `{"file_path":"$ROOT/output/r.json","content":"{}"}`), want{contains: []string{"File created successfully"}})
	if b, err := os.ReadFile(filepath.Join(root, "output", "r.json")); err != nil || string(b) != "{}" {
		t.Errorf("the sibling file: %q %v", b, err)
	}

	for _, bad := range []string{"relative", "/elsewhere", filepath.Join(root, "..")} {
		if _, err := NewServer(Config{Root: root, Cwd: bad}); err == nil || !strings.Contains(err.Error(), "not inside the workspace") {
			t.Errorf("cwd %q: got %v", bad, err)
		}
	}
}
