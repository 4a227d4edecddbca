package world

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileAt(t *testing.T) {
	w, err := New(Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := filepath.Abs("../../testdata/example/widgets.bundle")
	ctx := context.Background()
	head, err := w.FileAt(ctx, bundle, "page-count", "widgets/paginate.py")
	if err != nil || !strings.Contains(string(head), "def page_count") {
		t.Fatalf("at the branch: %q %v", head, err)
	}
	base, err := w.FileAt(ctx, bundle, "85b0f9af5fd0995f289449747d214535f8b9f7fd", "widgets/paginate.py")
	if err != nil || strings.Contains(string(base), "page_count") {
		t.Fatalf("at the base commit: %q %v", base, err)
	}
	if _, err := w.FileAt(ctx, bundle, "main", "nope.md"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := w.FileAt(ctx, bundle, "no-such-branch", "README.md"); err == nil {
		t.Error("a missing branch was found")
	}
}
