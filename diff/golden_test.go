package diff

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentreplay/replay/replay/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden with the actual output")

// load reads a native run from testdata; its id is the file's name.
func load(t testing.TB, name string) *trace.Run {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := trace.DecodeRun(context.Background(), f, name)
	if err != nil {
		t.Fatal(err)
	}
	if r.Meta.ID == "" {
		r.Meta.ID = strings.TrimSuffix(filepath.Base(name), ".jsonl")
	}
	return r
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./diff -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: the output is not the golden file's (go test ./diff -run %s -update rewrites it; git diff shows what changed)\n--- got (first 3000 bytes):\n%s",
			path, t.Name(), firstBytes(got, 3000))
	}
}

func firstBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// The example pairs: the bundled example's original beside its
// counterfactual, and beside its faithful replay; and hand-made pairs.
func goldenPairs(t *testing.T) map[string][2]*trace.Run {
	t.Helper()
	orig := load(t, "example/original.jsonl")
	orig.Meta.ID = "5c737df208441331f47b41c414394b5c"
	return map[string][2]*trace.Run{
		"example":        {orig, load(t, "example/replay.jsonl")},
		"example-verify": {orig, load(t, "example/verify.jsonl")},
		"inserted-step":  {handA(), handInserted()},
		"patch":          {handPatchA(), handPatchB()},
	}
}

// TestGolden: every renderer's output over the example pairs is stable and
// reviewed (testdata/golden; -update rewrites).
func TestGolden(t *testing.T) {
	for name, p := range goldenPairs(t) {
		r := Runs(p[0], p[1], Options{})
		for _, f := range Formats {
			t.Run(name+"/"+f, func(t *testing.T) {
				var b bytes.Buffer
				if err := Render(&b, f, r, RenderOptions{}); err != nil {
					t.Fatal(err)
				}
				golden(t, name+"."+f, b.Bytes())
			})
		}
	}
}
