package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const lfTrace = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"

// fakeLangfuse is a Langfuse server without the v2 observations endpoint
// (an older self-hosted release): the client falls back to the single-trace
// endpoint, whose payload is the langfuse package's recorded API response.
func fakeLangfuse(t *testing.T) *httptest.Server {
	t.Helper()
	body, err := os.ReadFile("../../replay/trace/langfuse/testdata/api/legacy-trace.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if u, p, ok := r.BasicAuth(); !ok || u != "pk-lf-test" || p != "sk-lf-test" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"message":"Invalid credentials. Confirm that you've configured the correct host."}`))
			return
		}
		switch r.URL.Path {
		case "/api/public/traces/" + lfTrace:
			w.Write(body)
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"Trace not found within authorized project"}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

func TestImportFromLangfuse(t *testing.T) {
	srv := fakeLangfuse(t)
	home := t.TempDir()
	keys := map[string]string{"LANGFUSE_PUBLIC_KEY": "pk-lf-test", "LANGFUSE_SECRET_KEY": "sk-lf-test"}

	code, out, errs := runCLI(t, keys, "--home", home, "import", "--langfuse-host", srv.URL, lfTrace)
	if code != 0 || !strings.Contains(out, "  langfuse  "+lfTrace) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	id := strings.Fields(out)[0]
	code, out, _ = runCLI(t, nil, "--home", home, "inspect", "--json", id)
	if code != 0 || !strings.Contains(out, `"source": "`+srv.URL+`/api/public/traces/`+lfTrace+`"`) || !strings.Contains(out, `"agent": "support-bot"`) {
		t.Errorf("the stored trace must name the server it came from:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(home, "tmp", "*")); len(left) != 0 {
		t.Errorf("fetched files left behind: %v", left)
	}

	// LANGFUSE_HOST stands in for the flag when the argument is not a file.
	env := map[string]string{"LANGFUSE_HOST": srv.URL, "LANGFUSE_PUBLIC_KEY": "pk-lf-test", "LANGFUSE_SECRET_KEY": "sk-lf-test"}
	if code, out, errs := runCLI(t, env, "--home", home, "import", lfTrace); code != 0 || !strings.Contains(out, "already in the store") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}

	t.Run("missing keys name the variables", func(t *testing.T) {
		code, _, errs := runCLI(t, nil, "--home", home, "import", "--langfuse-host", srv.URL, lfTrace)
		if code != 2 || !strings.Contains(errs, "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY") {
			t.Errorf("exit %d stderr %s", code, errs)
		}
	})
	t.Run("wrong keys", func(t *testing.T) {
		env := map[string]string{"LANGFUSE_PUBLIC_KEY": "pk-lf-test", "LANGFUSE_SECRET_KEY": "nope"}
		code, _, errs := runCLI(t, env, "--home", home, "import", "--langfuse-host", srv.URL, lfTrace)
		if code != 2 || !strings.Contains(errs, "401") {
			t.Errorf("exit %d stderr %s", code, errs)
		}
	})
	t.Run("unknown trace", func(t *testing.T) {
		code, _, errs := runCLI(t, keys, "--home", home, "import", "--langfuse-host", srv.URL, "0000")
		if code != 2 || !strings.Contains(errs, "0000") || !strings.Contains(strings.ToLower(errs), "not found") {
			t.Errorf("exit %d stderr %s", code, errs)
		}
	})
}
