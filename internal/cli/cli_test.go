package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/agentreplay/replay/replay/store"
	"github.com/agentreplay/replay/replay/trace"
)

var update = flag.Bool("update", false, "rewrite the testscript files' golden sections with the actual output")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"replay": func() { os.Exit(Main()) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script/*.txtar. Each runs in
// its own directory with REPLAY_HOME=$WORK/home and TZ=UTC.
//
// Besides testscript's builtins: "exitcode N command args..." runs a command
// and fails unless it exits with code N; "import-at TIME file..." imports
// files into the store as if it were TIME (RFC 3339), for scripts about age;
// "chtime TIME file..." sets files' modification times.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPLAY_HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("TZ", "UTC")
			// The feedback package's traces and saved GitHub responses.
			fb, err := filepath.Abs("../../replay/feedback/testdata")
			if err != nil {
				return err
			}
			env.Setenv("FEEDBACK_TESTDATA", fb)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"import-at": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: import-at TIME file...")
				}
				at, err := time.Parse(time.RFC3339, args[0])
				ts.Check(err)
				st, err := store.Open(context.Background(), ts.Getenv("REPLAY_HOME"), store.Options{Now: func() time.Time { return at }})
				ts.Check(err)
				defer st.Close()
				for _, f := range args[1:] {
					r, err := st.Import(context.Background(), ts.MkAbs(f), "", trace.Options{})
					ts.Check(err)
					ts.Logf("imported %s as %s at %s", f, r.ID, at)
				}
			},
			"chtime": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: chtime TIME file...")
				}
				at, err := time.Parse(time.RFC3339, args[0])
				ts.Check(err)
				for _, f := range args[1:] {
					ts.Check(os.Chtimes(ts.MkAbs(f), at, at))
				}
			},
			"fakelangfuse": fakeLangfuseCmd, // export_test.go
			"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exitcode N command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exitcode: %v", err)
				}
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						ts.Fatalf("exitcode: %v", err)
					}
					got = ee.ExitCode()
				}
				if got != want {
					ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
				}
			},
		},
	})
}

func TestInterruptedExits130(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := Run(ctx, []string{"--home", t.TempDir(), "import", "../../replay/store/testdata/review.jsonl"},
		Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code != ExitInterrupted || !strings.Contains(errb.String(), "interrupted") || out.Len() > 0 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

func TestHomeResolution(t *testing.T) {
	tests := []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"/flag", map[string]string{"REPLAY_HOME": "/rh", "XDG_DATA_HOME": "/xdg", "HOME": "/h"}, "/flag"},
		{"", map[string]string{"REPLAY_HOME": "/rh", "XDG_DATA_HOME": "/xdg", "HOME": "/h"}, "/rh"},
		{"", map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/h"}, "/xdg/replay"},
		{"", map[string]string{"HOME": "/h"}, "/h/.local/share/replay"},
	}
	for _, tt := range tests {
		g := &globals{home: tt.flag, env: Env{Getenv: func(k string) string { return tt.env[k] }}}
		if got, err := g.homeDir(); err != nil || got != tt.want {
			t.Errorf("homeDir with flag %q env %v = %q, %v; want %q", tt.flag, tt.env, got, err, tt.want)
		}
	}
	g := &globals{env: Env{Getenv: func(string) string { return "" }}}
	if _, err := g.homeDir(); err == nil {
		t.Error("no flag and no environment: want an error")
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"1.5d", now.Add(-36 * time.Hour)},
		{"2w", now.Add(-14 * 24 * time.Hour)},
		{"12h", now.Add(-12 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-11-01T09:30:00+01:00", time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "d", "-3d", "yesterday", "2026-13-01", "7x", "-1h", "NaNd", "1e400d", "200000w"} {
		if _, err := parseSince(bad, now); err == nil || !strings.Contains(err.Error(), "want a duration back from now") {
			t.Errorf("parseSince(%q): %v", bad, err)
		}
	}
}

func TestUSD(t *testing.T) {
	for v, want := range map[float64]string{
		0: "$0", 0.54: "$0.54", 0.0123: "$0.0123", 0.000489: "$0.000489", 0.020176: "$0.02018",
		12.3456: "$12.35", 0.00001: "<$0.0001", 1: "$1.00",
	} {
		if got := usd(v); got != want {
			t.Errorf("usd(%v) = %q, want %q", v, got, want)
		}
	}
}

// FuzzParseSince: --since never panics, and what it accepts as a duration
// is never in the future.
func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"7d", "1.5w", "90m", "2026-11-01", "2026-11-01T09:30:00+01:00", "1e400d", "NaNd", "-0d"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if err != nil {
			return
		}
		if last := s[len(s)-1]; (last == 'd' || last == 'w' || last == 'h' || last == 's') && got.After(now) {
			t.Fatalf("parseSince(%q) = %v: a duration back from now is in the future", s, got)
		}
	})
}

// TestRoundUSD: --json costs are rounded to micro-dollars; the value they
// come from (the stored one) is left as it is.
func TestRoundUSD(t *testing.T) {
	if roundUSD(nil) != nil {
		t.Error("roundUSD(nil) is not nil")
	}
	for in, want := range map[float64]float64{
		0.0001 + 0.0002: 0.0003, 0.00027089999900000003: 0.000271, 0.54: 0.54, 12.3456789: 12.345679, 0.0000004: 0, 0.0000005: 0.000001, -0.0000126: -0.000013,
	} {
		v := in
		got := roundUSD(&v)
		if *got != want || v != in {
			t.Errorf("roundUSD(%v) = %v (input now %v), want %v", in, *got, v, want)
		}
	}
}
