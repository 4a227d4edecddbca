package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Test_NewCmdDiff: `replay diff`'s flags become a request, without I/O.
func Test_NewCmdDiff(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    diffRequest
		wantErr string
	}{
		{name: "two runs, text", args: []string{"a", "b"}, want: diffRequest{Targets: []string{"a", "b"}, Format: "text"}},
		{name: "many runs", args: []string{"a", "b", "c", "d"}, want: diffRequest{Targets: []string{"a", "b", "c", "d"}, Format: "text"}},
		{name: "format", args: []string{"a", "b", "--format", "md"}, want: diffRequest{Targets: []string{"a", "b"}, Format: "md"}},
		{name: "format from -o", args: []string{"a", "b", "-o", "d.html"}, want: diffRequest{Targets: []string{"a", "b"}, Format: "html", Out: "d.html"}},
		{name: "format wins over -o", args: []string{"a", "b", "-o", "d.html", "--format", "json"}, want: diffRequest{Targets: []string{"a", "b"}, Format: "json", Out: "d.html"}},
		{name: "colour asked", args: []string{"a", "b", "--color", "always"}, want: diffRequest{Targets: []string{"a", "b"}, Format: "text", Color: true}},
		{name: "no colour off a terminal", args: []string{"a", "b"}, env: map[string]string{}, want: diffRequest{Targets: []string{"a", "b"}, Format: "text"}},
		{name: "no colour in JSON", args: []string{"a", "b", "--color", "always", "--format", "json"}, want: diffRequest{Targets: []string{"a", "b"}, Format: "json"}},
		{name: "bad format", args: []string{"a", "b", "--format", "pdf"}, wantErr: `--format "pdf": want text, json, md or html`},
		{name: "bad colour", args: []string{"a", "b", "--color", "rainbow"}, wantErr: `--color "rainbow"`},
		{name: "one run", args: []string{"a"}, wantErr: "requires at least 2 arg(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &globals{env: Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return tt.env[k] }}}
			var got diffRequest
			cmd := newDiffCmd(g, func(_ context.Context, o *diffOptions) error {
				var err error
				got, err = o.request()
				return err
			})
			err := parse(t, cmd, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(got, tt.want) {
				t.Errorf("request %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDiffExitCodes: 0 when the runs agree on the decision, 1 when they
// differ, 2 on bad input; -o writes the report.
func TestDiffExitCodes(t *testing.T) {
	orig, replayed, verified := "../../diff/testdata/example/original.jsonl", "../../diff/testdata/example/replay.jsonl", "../../diff/testdata/example/verify.jsonl"
	home := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var out, errb strings.Builder
		code := Run(context.Background(), append([]string{"--home", home, "diff"}, args...), Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		return code, out.String(), errb.String()
	}
	if code, out, errs := run(orig, verified); code != ExitOK || !strings.HasPrefix(out, "same actions; decision request-changes (unchanged)") {
		t.Errorf("a faithful replay: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := run(orig, replayed); code != ExitCheckFailed || !strings.Contains(out, "decision request-changes → approve") {
		t.Errorf("a flipped decision: exit %d\n%s", code, out)
	}
	if code, _, errs := run(orig, "nope.jsonl"); code != ExitUsage || !strings.Contains(errs, `diff "nope.jsonl": no such file`) {
		t.Errorf("a missing file: exit %d %s", code, errs)
	}
	file := filepath.Join(t.TempDir(), "d.md")
	if code, out, _ := run(orig, replayed, verified, "-o", file); code != ExitCheckFailed || out != "" {
		t.Errorf("many runs to a file: exit %d, stdout %q", code, out)
	}
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), "flip rate 1/2") {
		t.Errorf("the Markdown report: %v\n%s", err, b)
	}
}
