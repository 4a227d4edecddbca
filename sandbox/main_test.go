package sandbox_test

import (
	"os"
	"sync"
	"testing"

	"github.com/agentreplay/replay/sandbox/sandboxtest"
)

// The executor is built once per test binary, when a test first needs it
// (fuzz workers never do); a child process started by a test reuses its
// parent's through the environment.
var (
	executorOnce sync.Once
	executorBin  = os.Getenv("REPLAY_TEST_EXECUTOR")
	executorDir  string
	executorErr  error
)

func executorFor(tb testing.TB) string {
	tb.Helper()
	executorOnce.Do(func() {
		if executorBin != "" {
			return
		}
		executorDir, executorErr = os.MkdirTemp("", "replay-executor-")
		if executorErr == nil {
			executorBin, executorErr = sandboxtest.BuildExecutor(executorDir)
		}
	})
	if executorErr != nil {
		tb.Fatal(executorErr)
	}
	return executorBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if executorDir != "" {
		os.RemoveAll(executorDir)
	}
	os.Exit(code)
}
