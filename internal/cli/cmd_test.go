package cli

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/agentreplay/replay/replay"
	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/world"
)

// parse runs a command's flag parsing with runF capturing its options: what
// the command would do, without doing it.
func parse(t *testing.T, cmd *cobra.Command, args []string) error {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(context.Background())
}

// baseRequest is what every replay request holds by default.
func baseRequest(mode string) replay.Request {
	return replay.Request{Trace: "t.jsonl", Mode: mode, Timeout: 30 * time.Minute, DiskBytes: 4 << 30, Policies: map[string]replay.Policy{},
		Decision: replay.DecisionSpec("auto")}
}

// Test_NewCmdRun: `replay run`'s flags become a request, without I/O.
func Test_NewCmdRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(r *replay.Request)
		wantErr string
	}{
		{name: "defaults", args: []string{"t.jsonl"}, want: func(r *replay.Request) { r.Repeat, r.MaxSteps = 1, 200 }},
		{name: "model and endpoint", args: []string{"t.jsonl", "--model", "gpt-4o-mini", "--base-url", "http://h/v1"},
			want: func(r *replay.Request) {
				r.Repeat, r.MaxSteps = 1, 200
				r.Variant.Model, r.Variant.BaseURL = "gpt-4o-mini", "http://h/v1"
			}},
		{name: "endpoint from the environment", args: []string{"t.jsonl"}, env: map[string]string{"OPENAI_BASE_URL": "http://env/v1"},
			want: func(r *replay.Request) { r.Repeat, r.MaxSteps, r.Variant.BaseURL = 1, 200, "http://env/v1" }},
		{name: "prompts, context, parameters, limits", args: []string{"t.jsonl", "--system-file", "acme/p@v2:review.md", "--prompt", "security=sec.md",
			"--context", "add=STYLE.md", "--context", "drop=3", "--temperature", "0", "--seed", "7", "--from-step", "12",
			"--repeat", "5", "--max-steps", "9", "--max-cost", "0.5", "--tool-policy", "Task=recorded", "--repo", "r.bundle", "--commit", "HEAD"},
			want: func(r *replay.Request) {
				r.Repeat, r.MaxSteps, r.MaxCostUSD = 5, 9, 0.5
				r.Policies["Task"] = replay.Recorded
				r.Fetch = world.FetchOptions{Repo: "r.bundle", Commit: "HEAD"}
				r.Variant = replay.Variant{SystemFile: "acme/p@v2:review.md", Prompts: map[string]string{"security": "sec.md"},
					AddContext: []string{"STYLE.md"}, DropSteps: []int{3}, FromStep: 12,
					Params: trace.Params{Temperature: trace.Float(0), Seed: trace.Int(7)}}
			}},
		{name: "a temperature not given is not sent", args: []string{"t.jsonl", "--top-p", "0.9"},
			want: func(r *replay.Request) {
				r.Repeat, r.MaxSteps = 1, 200
				r.Variant.Params = trace.Params{TopP: trace.Float(0.9)}
			}},
		{name: "bad repeat", args: []string{"t.jsonl", "--repeat", "0"}, wantErr: "--repeat 0: want 1 or more"},
		{name: "bad prompt", args: []string{"t.jsonl", "--prompt", "sec.md"}, wantErr: `--prompt "sec.md": want NAME=FILE`},
		{name: "bad context", args: []string{"t.jsonl", "--context", "drop=x"}, wantErr: "drop takes a step number"},
		{name: "bad policy", args: []string{"t.jsonl", "--tool-policy", "Bash"}, wantErr: `--tool-policy "Bash": want NAME=POLICY`},
		{name: "unknown policy", args: []string{"t.jsonl", "--tool-policy", "Bash=run"}, wantErr: "unknown tool policy"},
		{name: "two repos", args: []string{"t.jsonl", "--repo", "a", "--repo", "b"}, wantErr: "--repo given twice"},
		{name: "bad decision", args: []string{"t.jsonl", "--decision", "nowhere"}, wantErr: "--decision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &globals{env: Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return tt.env[k] }}}
			var got *runOptions
			if err := parse(t, newRunCmd(g, func(_ context.Context, o *runOptions) error { got = o; return nil }), tt.args); err != nil {
				t.Fatal(err)
			}
			req, err := got.request()
			if tt.wantErr != "" {
				var ue *usageError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ue) {
					t.Fatalf("error %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := baseRequest(replay.ModeRun)
			tt.want(&want)
			if !cmp.Equal(req, want) {
				t.Errorf("request:\n got %+v\nwant %+v", req, want)
			}
		})
	}
}

// Test_NewCmdVerify: `replay verify`'s flags become a verify request.
func Test_NewCmdVerify(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    func(r *replay.Request)
		wantErr string
	}{
		{name: "defaults", args: []string{"t.jsonl"}, want: func(*replay.Request) {}},
		{name: "world and sandbox", args: []string{"t.jsonl", "--repo", "acme/widgets=w.bundle", "--github-fixture", "gh", "--image", "img:1", "--timeout", "5m", "--decision", "file:out/*.json"},
			want: func(r *replay.Request) {
				r.Fetch = world.FetchOptions{RepoMap: map[string]string{"acme/widgets": "w.bundle"}, GitHubFixture: "gh"}
				r.Image, r.Timeout = "img:1", 5*time.Minute
				r.Decision = replay.DecisionSpec("file:out/*.json")
			}},
		{name: "bad policy", args: []string{"t.jsonl", "--tool-policy", "Bash"}, wantErr: `--tool-policy "Bash"`},
		{name: "a disk size", args: []string{"t.jsonl", "--disk", "500MiB"}, want: func(r *replay.Request) { r.DiskBytes = 500 << 20 }},
		{name: "a bad disk size", args: []string{"t.jsonl", "--disk", "lots"}, wantErr: `--disk "lots"`},
		{name: "commit search", args: []string{"t.jsonl", "--commit-search", "all", "--commit-window", "36h", "--overlay-recorded", "--commit", "Feature-X"},
			want: func(r *replay.Request) {
				r.Fetch = world.FetchOptions{CommitSearch: world.SearchAll, CommitWindow: 36 * time.Hour, Commit: "Feature-X"}
				r.OverlayRecorded = true
			}},
		{name: "a window in days", args: []string{"t.jsonl", "--commit-window", "2w"},
			want: func(r *replay.Request) { r.Fetch.CommitWindow = 14 * 24 * time.Hour }},
		{name: "a bad search mode", args: []string{"t.jsonl", "--commit-search", "sometimes"}, wantErr: `--commit-search "sometimes": want off, window or all`},
		{name: "a bad window", args: []string{"t.jsonl", "--commit-window", "soon"}, wantErr: `--commit-window "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &globals{env: Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}}
			var got *verifyOptions
			if err := parse(t, newVerifyCmd(g, func(_ context.Context, o *verifyOptions) error { got = o; return nil }), tt.args); err != nil {
				t.Fatal(err)
			}
			req, err := got.request()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := baseRequest(replay.ModeVerify)
			tt.want(&want)
			if !cmp.Equal(req, want) {
				t.Errorf("request:\n got %+v\nwant %+v", req, want)
			}
		})
	}
}

// TestUsageHintNamesTheFailingCommand: a usage mistake points at the --help
// of the command that was run, not another one.
func TestUsageHintNamesTheFailingCommand(t *testing.T) {
	tests := []struct {
		args []string
		help string
	}{
		{[]string{"verify", "t.jsonl", "--tool-policy", "Bash"}, "replay verify"},
		{[]string{"run", "t.jsonl", "--repo", "a", "--repo", "b"}, "replay run"},
		{[]string{"run", "t.jsonl", "--repeat", "0"}, "replay run"},
		{[]string{"world", "fetch", "t.jsonl", "--repo", "a", "--repo", "b"}, "replay world fetch"},
		{[]string{"inspect", "t.jsonl", "--nope"}, "replay inspect"},
		{[]string{"ls", "--limit", "-1"}, "replay ls"},
	}
	for _, tt := range tests {
		var out, errb strings.Builder
		dir := t.TempDir()
		args := append([]string{"--home", dir}, tt.args...)
		// t.jsonl must exist for the commands that parse the trace first.
		code := Run(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			if k == "REPLAY_CACHE" {
				return dir
			}
			return ""
		}})
		want := "Run '" + tt.help + " --help' for usage."
		if code != ExitUsage || !strings.Contains(errb.String(), want) {
			t.Errorf("%v: exit %d, stderr %q, want exit 2 and %q", tt.args, code, errb.String(), want)
		}
	}
}

// TestExitCodes: the one mapping from errors to exit codes.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, ExitOK},
		{"a check failed", &exitError{code: ExitCheckFailed, msg: "differs"}, ExitCheckFailed},
		{"usage", usage(errors.New("bad flag")), ExitUsage},
		{"bad input", errors.New(`read "x": invalid`), ExitUsage},
		{"a limit stopped the run", &replay.StopError{Reason: "max-cost", Step: 8}, ExitIncomplete},
		{"max-steps", &replay.StopError{Reason: "max-steps", Step: 3}, ExitIncomplete},
		{"a model error", &replay.StopError{Reason: "model-error", Step: 2, Err: errors.New("401")}, ExitIncomplete},
		{"a sandbox fault, wrapped", errors.Join(errors.New("store"), &replay.StopError{Reason: "sandbox-fault"}), ExitIncomplete},
		{"interrupted", &replay.StopError{Reason: "interrupted"}, ExitInterrupted},
		{"cancelled", context.Canceled, ExitInterrupted},
	}
	for _, tt := range tests {
		var errb strings.Builder
		if got := exitCode(context.Background(), nil, tt.err, &errb); got != tt.want {
			t.Errorf("%s: exit %d, want %d (%s)", tt.name, got, tt.want, errb.String())
		}
	}
}

// Test_NewCmdRunModelConfig: what `replay run`'s flags and environment make
// of the model client: the silence limits from --request-timeout or
// $REPLAY_REQUEST_TIMEOUT, the key, and OpenAI's endpoint refused without
// one before anything starts.
func Test_NewCmdRunModelConfig(t *testing.T) {
	key := map[string]string{"OPENAI_API_KEY": "sk-test"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for kk, vv := range m {
			out[kk] = vv
		}
		return out
	}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		firstByte time.Duration // FirstByteTimeout and IdleTimeout (0: the model package's defaults)
		apiKey    string
		wantErr   []string
		isUsage   bool
	}{
		{name: "defaults", args: []string{"t.jsonl"}, env: key, apiKey: "sk-test"},
		{name: "--request-timeout", args: []string{"t.jsonl", "--request-timeout", "10m"}, env: key, firstByte: 10 * time.Minute, apiKey: "sk-test"},
		{name: "REPLAY_REQUEST_TIMEOUT", args: []string{"t.jsonl"}, env: with(key, "REPLAY_REQUEST_TIMEOUT", "90s"), firstByte: 90 * time.Second, apiKey: "sk-test"},
		{name: "the flag wins over the environment", args: []string{"t.jsonl", "--request-timeout", "5s"}, env: with(key, "REPLAY_REQUEST_TIMEOUT", "90s"), firstByte: 5 * time.Second, apiKey: "sk-test"},
		{name: "a bad REPLAY_REQUEST_TIMEOUT", args: []string{"t.jsonl"}, env: with(key, "REPLAY_REQUEST_TIMEOUT", "soon"),
			wantErr: []string{`REPLAY_REQUEST_TIMEOUT="soon"`, "positive duration"}, isUsage: true},
		{name: "a zero --request-timeout", args: []string{"t.jsonl", "--request-timeout", "0s"}, env: key, wantErr: []string{"--request-timeout 0s"}, isUsage: true},
		{name: "OpenAI without a key", args: []string{"t.jsonl"},
			wantErr: []string{"https://api.openai.com/v1 needs an API key", "OPENAI_API_KEY", "--base-url"}},
		{name: "OpenAI named explicitly, without a key", args: []string{"t.jsonl", "--base-url", "https://api.openai.com/v1"},
			wantErr: []string{"needs an API key", "OPENAI_API_KEY"}},
		{name: "a local server without a key", args: []string{"t.jsonl", "--base-url", "http://localhost:11434/v1"}},
		{name: "a local server from the environment", args: []string{"t.jsonl"}, env: map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &globals{env: Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return tt.env[k] }}}
			var got *runOptions
			if err := parse(t, newRunCmd(g, func(_ context.Context, o *runOptions) error { got = o; return nil }), tt.args); err != nil {
				t.Fatal(err)
			}
			req, err := got.request()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := got.modelConfig(req.Variant.BaseURL)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want one saying %q", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				var ue *usageError
				if errors.As(err, &ue) != tt.isUsage {
					t.Errorf("error %v: usage error %v, want %v", err, !tt.isUsage, tt.isUsage)
				}
				if code := exitCode(context.Background(), nil, err, io.Discard); code != ExitUsage {
					t.Errorf("exit %d, want %d", code, ExitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.FirstByteTimeout != tt.firstByte || cfg.IdleTimeout != tt.firstByte || cfg.APIKey != tt.apiKey || cfg.BaseURL != req.Variant.BaseURL {
				t.Errorf("config: first byte %s, idle %s, key %q, base %q; want %s, %s, %q, %q",
					cfg.FirstByteTimeout, cfg.IdleTimeout, cfg.APIKey, cfg.BaseURL, tt.firstByte, tt.firstByte, tt.apiKey, req.Variant.BaseURL)
			}
		})
	}
}
