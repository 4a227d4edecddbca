package claudecode

import (
	"os"
	"path/filepath"
	"testing"
)

// corpusDir returns shared/corpus/<name> beside the repository root, or ""
// when it is not there.
func corpusDir(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "shared", "corpus", name)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
