package trace_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

func scan(t *testing.T, input string, opts trace.Options) (lines []int, warns []trace.Warning, err error) {
	t.Helper()
	err = trace.ScanLines(context.Background(), strings.NewReader(input), "t.jsonl", opts,
		func(w trace.Warning) { warns = append(warns, w) },
		func(n int, b []byte) error {
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				return trace.BadJSON(err)
			}
			lines = append(lines, n)
			return nil
		})
	return lines, warns, err
}

func TestScanLines(t *testing.T) {
	t.Run("blank lines are skipped but counted", func(t *testing.T) {
		lines, warns, err := scan(t, "{}\n\n  \n{\"a\":1}\n", trace.Options{})
		if err != nil || len(warns) != 0 || len(lines) != 2 || lines[1] != 4 {
			t.Fatalf("got lines %v warns %v err %v; want lines [1 4]", lines, warns, err)
		}
	})
	t.Run("a truncated last line is a warning naming file and line", func(t *testing.T) {
		lines, warns, err := scan(t, "{}\n{}\n{\"type\":\"assis", trace.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 2 || len(warns) != 1 || warns[0].File != "t.jsonl" || warns[0].Line != 3 {
			t.Fatalf("got lines %v warns %+v", lines, warns)
		}
		if !strings.Contains(warns[0].String(), "t.jsonl:3: last line is truncated") {
			t.Errorf("warning %q does not say where and what", warns[0])
		}
	})
	t.Run("a bad last line with its newline is an error", func(t *testing.T) {
		_, _, err := scan(t, "{}\n{oops\n", trace.Options{})
		var le *trace.LineError
		if !errors.As(err, &le) || le.Line != 2 || le.File != "t.jsonl" {
			t.Fatalf("want a LineError at t.jsonl:2, got %v", err)
		}
	})
	t.Run("invalid JSON in the middle fails with file:line", func(t *testing.T) {
		_, _, err := scan(t, "{}\nnot json\n{}\n", trace.Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "t.jsonl:2: invalid JSON") || !strings.Contains(err.Error(), "--lenient") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("lenient skips and counts bad lines", func(t *testing.T) {
		lines, warns, err := scan(t, "{}\nbad\n{}\nbad again\n{}\n", trace.Options{Lenient: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 3 || len(warns) != 1 || warns[0].Line != 2 || !strings.Contains(warns[0].Message, "skipped 2 line(s)") {
			t.Fatalf("got lines %v warns %+v", lines, warns)
		}
	})
	t.Run("a 50 MB single line is read whole", func(t *testing.T) {
		big := `{"a":"` + strings.Repeat("x", 50<<20) + `"}`
		lines, _, err := scan(t, "{}\n"+big+"\n{}\n", trace.Options{})
		if err != nil || len(lines) != 3 {
			t.Fatalf("got lines %v err %v", lines, err)
		}
	})
	t.Run("other callback errors carry file and line", func(t *testing.T) {
		err := trace.ScanLines(context.Background(), bytes.NewReader([]byte("{}\n{}\n")), "x.jsonl", trace.Options{},
			func(trace.Warning) {}, func(n int, b []byte) error {
				if n == 2 {
					return errors.New("field \"type\" missing")
				}
				return nil
			})
		if err == nil || err.Error() != `x.jsonl:2: field "type" missing` {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a cancelled context stops the scan", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := trace.ScanLines(ctx, strings.NewReader(strings.Repeat("{}\n", 5000)), "x", trace.Options{}, func(trace.Warning) {}, func(int, []byte) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
}
