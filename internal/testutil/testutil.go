// Package testutil holds helpers shared by the project's tests and
// benchmarks: locating the shared corpus of real traces and building large
// benchmark inputs (here), importing with a trace format, counting events,
// bounding the heap and timing an import (trace.go), and the measures
// benchmarks share: peak heap and the jq baseline (bench.go).
//
// It imports replay/trace, so only external test packages (package
// trace_test) of replay/trace itself can use it.
package testutil

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// CorpusDir returns shared/corpus/<sub> from the nearest ancestor directory
// that has it (the corpus sits beside the repository), or "" when there is
// none.
func CorpusDir(sub string) string {
	dir, err := filepath.Abs(".")
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "shared", "corpus", sub)
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

// RequireCorpus returns CorpusDir(sub), skipping the test with a clear
// message when the corpus is not there (failing it under CI=true). With sub "" it returns the corpus
// root, shared/corpus.
func RequireCorpus(tb testing.TB, sub string) string {
	tb.Helper()
	dir := CorpusDir(sub)
	if dir == "" {
		SkipUnlessCI(tb, "no %s beside the repository: conformance against real traces skipped", filepath.Join("shared", "corpus", sub))
	}
	return dir
}

// SkipUnlessCI skips the test with the message, except under CI=true,
// where what is missing fails it: CI must never pass by silently skipping
// the real thing.
func SkipUnlessCI(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true: "+format+" (CI must run this test; install what it needs)", args...)
	}
	tb.Skipf(format, args...)
}

// ClaudeSources returns the Claude Code transcripts a benchmark input is
// built from: the corpus sessions when the corpus is there, else the
// transcripts of fallbackGlob.
func ClaudeSources(tb testing.TB, fallbackGlob string) [][]byte {
	tb.Helper()
	var files []string
	if dir := CorpusDir("claude-code"); dir != "" {
		files, _ = filepath.Glob(filepath.Join(dir, "*.jsonl"))
	}
	if len(files) == 0 {
		files, _ = filepath.Glob(fallbackGlob)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		tb.Fatal("no Claude Code transcripts to build a benchmark input from")
	}
	return out
}

// WriteClaudeTranscript writes at least size bytes of Claude Code transcript
// to path, made of copies of srcs, each copy with its own session, message,
// tool call and line ids so that every copy stays a distinct conversation.
// It returns the number of bytes written.
func WriteClaudeTranscript(tb testing.TB, path string, srcs [][]byte, size int64) int64 {
	tb.Helper()
	return WriteInput(tb, path, func(w io.Writer) error {
		var n int64
		for k := 0; n < size; k++ {
			tag := fmt.Sprintf("k%d-", k)
			for _, src := range srcs {
				b := src
				for _, field := range []string{`"sessionId":"`, `"uuid":"`, `"parentUuid":"`, `"leafUuid":"`, `"msg_`, `"toolu_`} {
					b = bytes.ReplaceAll(b, []byte(field), []byte(field+tag))
				}
				if len(b) > 0 && b[len(b)-1] != '\n' {
					b = append(b, '\n')
				}
				m, err := w.Write(b)
				if err != nil {
					return err
				}
				n += int64(m)
			}
		}
		return nil
	})
}

// WriteInput creates path, has write fill it through a 1 MiB buffer, and
// returns the size of the file; any error fails tb.
func WriteInput(tb testing.TB, path string, write func(w io.Writer) error) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}
