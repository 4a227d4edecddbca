package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentreplay/replay/internal/fakemodel"
	"github.com/agentreplay/replay/sandbox"
	"github.com/agentreplay/replay/sandbox/sandboxtest"
)

var (
	execOnce sync.Once
	execBin  string
	execErr  error
)

// replayEnv is a fresh store and cache, Docker from the environment, and
// an executor built for the test.
func replayEnv(t *testing.T) (map[string]string, []string) {
	t.Helper()
	cli := sandboxtest.Docker(t)
	sandboxtest.EnsureImage(t, cli)
	execOnce.Do(func() {
		dir, err := os.MkdirTemp("", "replay-cli-executor-")
		if err != nil {
			execErr = err
			return
		}
		execBin, execErr = sandboxtest.BuildExecutor(dir)
	})
	if execErr != nil {
		t.Fatal(execErr)
	}
	env := map[string]string{"REPLAY_CACHE": t.TempDir(), "HOME": t.TempDir()}
	for _, k := range []string{"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION"} {
		env[k] = os.Getenv(k)
	}
	world := []string{"--executor", execBin, "--repo", "../../testdata/example/widgets.bundle", "--github-fixture", "../../testdata/example/github"}
	return env, append([]string{"--home", t.TempDir()}, world...)
}

// The README's first command: the bundled example replays faithfully.
func TestVerifyExample(t *testing.T) {
	env, flags := replayEnv(t)
	args := append([]string{flags[0], flags[1], "verify", "../../testdata/example/run", "--json"}, flags[2:]...)
	code, out, errs := runCLI(t, env, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	var v struct {
		Faithful bool           `json:"faithful"`
		Counts   map[string]int `json:"counts"`
		Run      string         `json:"run"`
		Commit   string         `json:"commit"`
		Calls    []struct {
			Tool     string `json:"tool"`
			Fidelity struct {
				Status string `json:"status"`
			} `json:"fidelity"`
		} `json:"calls"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if !v.Faithful || v.Counts["match"] != 6 || v.Counts["differs"] != 0 || v.Counts["not-reexecuted"] != 2 || v.Commit != "072bdd28f8409b602018042d087e7b7fa184dc79" {
		t.Errorf("verify: %+v", v)
	}
	// The replay is stored, linked to the original.
	code, out, _ = runCLI(t, env, flags[0], flags[1], "inspect", "--json", v.Run)
	if code != 0 || !strings.Contains(out, `"format": "native"`) || !strings.Contains(out, `"llm_calls": 10`) || !strings.Contains(out, `"mode": "verify"`) {
		t.Errorf("the stored replay: %s", out)
	}
	code, out, _ = runCLI(t, env, flags[0], flags[1], "inspect", v.Run)
	if code != 0 || !strings.Contains(out, "replay of   5c737df2") {
		t.Errorf("inspect does not say what the run replays:\n%s", out)
	}
	// ls lists it as a replay of the original, and the original apart.
	code, out, _ = runCLI(t, env, flags[0], flags[1], "ls", "--replays")
	if code != 0 || !strings.Contains(out, v.Run[:12]+"  ") || !strings.Contains(out, "5c737df2") || !strings.Contains(out, " verify\n") {
		t.Errorf("ls --replays does not list the verify as a replay of the original:\n%s", out)
	}
	code, out, _ = runCLI(t, env, flags[0], flags[1], "ls", "--originals")
	if code != 0 || strings.Contains(out, v.Run[:12]) || !strings.Contains(out, "5c737df2") {
		t.Errorf("ls --originals:\n%s", out)
	}
}

// A world that does not give the recorded results: verify says where, with
// a diff, and exits 1.
func TestVerifyReportsDifferences(t *testing.T) {
	env, flags := replayEnv(t)
	dir := t.TempDir()
	copyDir(t, "../../testdata/example/run", dir)
	p := filepath.Join(dir, "iteration-1", "transcripts", "review-35e13df7-dfc5-5858-a310-4a26200156bd.jsonl")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `"__init__.py\npaginate.py"`, `"__init__.py\npaginate.py\nvendored.py"`, 1)), 0o644)
	args := append([]string{flags[0], flags[1], "verify", dir}, flags[2:]...)
	code, out, errs := runCLI(t, env, args...)
	if code != 1 || !strings.Contains(out, "differs") || !strings.Contains(out, "- vendored.py") || !strings.Contains(errs, "1 re-executed call(s) differ") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, _ := os.ReadFile(p)
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// The README's counterfactual: a scripted OpenAI-compatible endpoint plays a
// reviewer that approves; the comparison shows the changed decision.
func TestRunCounterfactual(t *testing.T) {
	env, flags := replayEnv(t)
	script, err := fakemodel.Load("../../testdata/example/fake-model.json")
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	fake := &fakemodel.Server{Script: script}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	env["OPENAI_API_KEY"] = "sk-test"
	args := append([]string{flags[0], flags[1], "../../testdata/example/run", "--model", "fake-reviewer", "--base-url", srv.URL + "/v1", "--json"}, flags[2:]...)
	code, out, errs := runCLI(t, env, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	// The example records neither a system prompt nor tool schemas: run
	// says what the model gets instead, never silently.
	for _, want := range []string{"records no system prompt: the model gets none (--system-file FILE gives one)",
		"records no tool definitions with schemas: the model is offered replay's own definitions of Bash, Read,"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errs)
		}
	}
	var r struct {
		Runs []struct {
			Run      string              `json:"run"`
			Decision json.RawMessage     `json:"decision"`
			Was      json.RawMessage     `json:"original_decision"`
			LLMCalls [2]int              `json:"llm_calls"`
			Produced map[string]int      `json:"tool_results"`
			Diverged *struct{ Step int } `json:"first_divergence"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Runs) != 1 {
		t.Fatalf("%v\n%s", err, out)
	}
	run := r.Runs[0]
	if !strings.Contains(string(run.Decision), `"approve"`) || !strings.Contains(string(run.Was), `"request-changes"`) {
		t.Errorf("decisions: was %s, now %s", run.Was, run.Decision)
	}
	if run.LLMCalls != [2]int{10, 7} || run.Produced["agent"] != 1 || run.Produced["recorded"] != 1 || run.Diverged == nil {
		t.Errorf("run: %+v", run)
	}
	// Costs in --json are USD to 6 decimal places.
	if m := regexp.MustCompile(`"cost_usd": \[[^\]]*\]`).FindString(out); m == "" || regexp.MustCompile(`[0-9]\.[0-9]{7,}`).MatchString(m) {
		t.Errorf("run --json costs not rounded to 6 decimal places: %q", m)
	}
	// A system prompt from git (the bundle's README at a branch), and the
	// new run written out.
	outDir := t.TempDir()
	diffOut := filepath.Join(t.TempDir(), "diff.md")
	args2 := append(slices.Clone(args), "--system-file", "../../testdata/example/widgets.bundle@page-count:README.md", "--out", outDir, "--diff-out", diffOut)
	code, out2, errs := runCLI(t, env, args2...)
	if code != 0 || !strings.Contains(out2, `"decision"`) {
		t.Fatalf("with a prompt from git: exit %d\n%s\n%s", code, out2, errs)
	}
	files, _ := filepath.Glob(filepath.Join(outDir, "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("--out wrote %v", files)
	}
	// --diff-out writes the diff against the original, its format from the
	// extension.
	if md, err := os.ReadFile(diffOut); err != nil || !strings.Contains(string(md), "decision request\\-changes → approve") || !strings.Contains(string(md), "#### Decision (review)") {
		t.Errorf("--diff-out: %v\n%.800s", err, md)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), `"system":"# widgets\n\nSmall helpers for paging through lists.\n"`) || !strings.Contains(string(b), `"system-file":"../../testdata/example/widgets.bundle@page-count:README.md"`) {
		t.Errorf("the new run does not carry the prompt from git and its variant:\n%.600s", b)
	}

	// Unchanged, it runs again from the response cache: not one request
	// reaches the endpoint, and the stored run says where its answers
	// came from.
	before := requests.Load()
	cached := t.TempDir()
	code, out2, _ = runCLI(t, env, append(slices.Clone(args), "--out", cached)...)
	if code != 0 || !strings.Contains(out2, `"decision"`) {
		t.Fatalf("second run: exit %d %s", code, out2)
	}
	if n := requests.Load() - before; n != 0 {
		t.Errorf("the unchanged run sent %d requests to the endpoint; the response cache should answer them all", n)
	}
	files, _ = filepath.Glob(filepath.Join(cached, "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("--out wrote %v", files)
	}
	b, _ = os.ReadFile(files[0])
	if n := strings.Count(string(b), `"produced":"cache"`); n != 7 || strings.Contains(string(b), `"produced":"model"`) {
		t.Errorf("%d model answers from the cache in the second run, want all 7", n)
	}
}

// Ctrl-C part way: the partial run is stored and the container removed.
func TestRunInterruptedKeepsThePartialRun(t *testing.T) {
	env, flags := replayEnv(t)
	script, _ := fakemodel.Load("../../testdata/example/fake-model.json")
	srv := httptest.NewServer(&fakemodel.Server{Script: script})
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	slow := httptest.NewServer(httpDelay(srv.URL, 3, cancel))
	defer slow.Close()
	args := append([]string{flags[0], flags[1], "-v", "run", "../../testdata/example/run", "--model", "fake-reviewer", "--base-url", slow.URL + "/v1", "--no-cache"}, flags[2:]...)
	var outb, errb strings.Builder
	code := Run(ctx, args, Env{Stdout: &outb, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	if code != ExitInterrupted || !strings.Contains(errb.String(), "partial run is stored as") {
		t.Fatalf("exit %d\n%s\n%s", code, outb.String(), errb.String())
	}
	// This replay's own sandbox, by the run id verbose mode prints: other
	// replays of the example may be running on the same daemon.
	m := regexp.MustCompile(`sandbox: run (\S+) for trace`).FindStringSubmatch(errb.String())
	if m == nil {
		t.Fatalf("-v did not print the sandbox's run id:\n%s", errb.String())
	}
	if left := sandboxtest.Leftovers(t, sandboxtest.Docker(t), map[string]string{sandbox.LabelRun: m[1]}); len(left) > 0 {
		t.Errorf("sandboxes left after the interrupt: %v", left)
	}
	code, out, _ := runCLI(t, env, flags[0], flags[1], "ls", "--replays", "--json")
	if code != 0 || !strings.Contains(out, `"format": "native"`) || !strings.Contains(out, `"failed": true,`) || !strings.Contains(out, `"stopped": "interrupted"`) {
		t.Errorf("the partial run is not in the store as a failed replay: %s", out)
	}
}

// httpDelay forwards to target and, at the n-th request, cancels (a Ctrl-C)
// before answering.
func httpDelay(target string, n int, cancel context.CancelFunc) http.Handler {
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	count := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		count++
		k := count
		mu.Unlock()
		if k == n {
			// Read the request: the server notices the client going away
			// only once the body is consumed.
			io.Copy(io.Discard, r.Body)
			cancel()
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

func TestDefaultRun(t *testing.T) {
	root := newRootCmd(&globals{})
	tests := []struct{ in, want string }{
		{"../../testdata/example/run --model m", "run ../../testdata/example/run --model m"},
		{"--home h 5ef49dd6 --model m", "--home h run 5ef49dd6 --model m"},
		{"--home=h 5ef49dd6", "--home=h run 5ef49dd6"},
		{"verify 5ef49dd6", "verify 5ef49dd6"},
		{"frobnicate", "frobnicate"},
		{"--help", "--help"},
		{"help run", "help run"},
	}
	for _, tt := range tests {
		if got := strings.Join(defaultRun(root, strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("%q -> %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A run ended by a limit is incomplete: exit 3, the partial run stored, the
// stop named. So is a run whose model fails.
func TestRunIncompleteExits3(t *testing.T) {
	env, flags := replayEnv(t)
	script, err := fakemodel.Load("../../testdata/example/fake-model.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&fakemodel.Server{Script: script})
	defer srv.Close()
	args := append([]string{flags[0], flags[1], "run", "../../testdata/example/run", "--model", "fake-reviewer", "--base-url", srv.URL + "/v1", "--max-steps", "2"}, flags[2:]...)
	code, out, errs := runCLI(t, env, args...)
	if code != ExitIncomplete || !strings.Contains(errs, "stopped (max-steps)") || !strings.Contains(errs, "partial run is stored as") || !strings.Contains(out, "max-steps") {
		t.Errorf("--max-steps 2: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ := runCLI(t, env, flags[0], flags[1], "ls", "--replays"); code != 0 || !strings.Contains(out, "failed (max-steps)") {
		t.Errorf("ls does not mark the stopped run as failed:\n%s", out)
	}

	// An endpoint that refuses the key: not a usage error, an incomplete run.
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
	}))
	defer refuse.Close()
	args = append([]string{flags[0], flags[1], "run", "../../testdata/example/run", "--model", "fake-reviewer", "--base-url", refuse.URL + "/v1"}, flags[2:]...)
	code, out, errs = runCLI(t, env, args...)
	if code != ExitIncomplete || !strings.Contains(errs, "model-error") {
		t.Errorf("a refused key: exit %d\n%s\n%s", code, out, errs)
	}
}

// The API key never reaches the sandbox, through the path a user takes:
// the key in the environment replay is started with (the CLI's and the
// process's own), a model that asks the sandbox for every environment it
// can see. Only the endpoint receives it.
func TestAPIKeyNeverEntersTheSandbox(t *testing.T) {
	const key = "sk-live-never-in-the-sandbox-7f3a"
	t.Setenv("OPENAI_API_KEY", key) // the process's environment too
	env, flags := replayEnv(t)
	env["OPENAI_API_KEY"] = key
	dir := t.TempDir()
	script := `[{"match": "", "answers": [
	  {"tool_calls": [{"name": "Bash", "arguments": {"command": "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; echo; ls -la /proc/*/fd 2>/dev/null | head -50"}}]},
	  {"tool_calls": [{"name": "Grep", "arguments": {"pattern": "sk-", "path": "/", "output_mode": "content"}}]},
	  {"content": "done"}
	]}]`
	p := filepath.Join(dir, "script.json")
	os.WriteFile(p, []byte(script), 0o644)
	sc, err := fakemodel.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	var auth []string
	var mu sync.Mutex
	fake := &fakemodel.Server{Script: sc}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	out := t.TempDir()
	args := append([]string{flags[0], flags[1], "run", "../../testdata/example/run", "--model", "m", "--base-url", srv.URL + "/v1", "--no-cache", "--out", out}, flags[2:]...)
	code, stdout, errs := runCLI(t, env, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errs)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("--out wrote %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "PATH=") {
		t.Fatalf("the env call did not run in the sandbox:\n%.2000s", b)
	}
	if strings.Contains(string(b), key) {
		t.Errorf("the API key was seen inside the sandbox:\n%.3000s", b)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) == 0 || auth[0] != "Bearer "+key {
		t.Errorf("the endpoint got Authorization %q", auth)
	}
}
