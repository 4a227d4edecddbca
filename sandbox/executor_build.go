package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Module is this project's module path; selfMainPackage is the main
// package that runs as the executor when it is called replay-executor (see
// cmd/replay).
const (
	Module          = "github.com/agentreplay/replay"
	selfMainPackage = Module + "/cmd/replay"
)

// executors memoizes, per architecture, the executor found or built by
// resolveExecutor in this process, so that the many sandboxes of one
// replay do not hash or build it again. It is process state by nature (the
// running binary does not change), hence package-level.
var executors struct {
	sync.Mutex
	byArch map[string]*Executor
}

// resolveExecutor is FindExecutor with the fallbacks a binary from `go
// install` or a plain `go build` needs, which embed nothing:
//
//  1. FindExecutor's sources (the path given, embedded, beside the program);
//  2. this program itself, when it is replay and a static Linux binary for
//     arch (built with CGO_ENABLED=0): cmd/replay runs as the executor when
//     called replay-executor;
//  3. an executor built once with the Go toolchain from the module source
//     this program was built from, kept under cacheDir (keyed by the
//     running binary's hash), with a progress line on log.
//
// Only when all of these fail is the error returned, saying how to get one.
func resolveExecutor(ctx context.Context, arch, path, cacheDir string, log io.Writer) (*Executor, error) {
	if path != "" {
		return FindExecutor(arch, path)
	}
	executors.Lock()
	defer executors.Unlock()
	if ex := executors.byArch[arch]; ex != nil {
		return ex, nil
	}
	ex, findErr := FindExecutor(arch, "")
	if findErr != nil {
		var err error
		if ex, err = selfExecutor(arch); err != nil {
			ex, err = buildExecutor(ctx, arch, cacheDir, log)
			if err != nil {
				return nil, fmt.Errorf("%w; building one from source failed too: %w", findErr, err)
			}
		}
	}
	if executors.byArch == nil {
		executors.byArch = map[string]*Executor{}
	}
	executors.byArch[arch] = ex
	return ex, nil
}

// selfExecutor is the running program, when it is replay built as a
// static Linux binary for arch.
func selfExecutor(arch string) (*Executor, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Path != selfMainPackage {
		return nil, errors.New("this program is not replay")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return nil, err
	}
	if err := checkStaticELF(b, arch); err != nil {
		return nil, fmt.Errorf("%s: %w", self, err)
	}
	return &Executor{Arch: arch, Source: self + " (itself)", Bin: b}, nil
}

// buildExecutor builds cmd/replay-executor for linux/arch with the Go
// toolchain, from the source this program was built from: the checkout
// (a `go build` keeps the source path) or the module cache (a `go
// install …@version`). The result is kept under cacheDir, keyed by the
// running binary, so it is built once per replay binary.
func buildExecutor(ctx context.Context, arch, cacheDir string, log io.Writer) (*Executor, error) {
	goBin, err := goTool()
	if err != nil {
		return nil, err
	}
	key, err := selfKey()
	if err != nil {
		return nil, err
	}
	name := executorName + "-linux-" + arch
	var dst string
	if cacheDir != "" {
		dst = filepath.Join(cacheDir, "executor", key, name)
		if b, err := os.ReadFile(dst); err == nil && checkStaticELF(b, arch) == nil {
			return &Executor{Arch: arch, Source: dst, Bin: b}, nil
		}
	}
	src, err := moduleSource(ctx, goBin)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	fmt.Fprintf(log, "sandbox: building the tool executor for linux/%s from %s (once for this replay binary; `make build` embeds it)\n", arch, src)
	tmpDir, err := os.MkdirTemp(cacheDir, ".executor-*")
	if cacheDir == "" || err != nil {
		tmpDir, err = os.MkdirTemp("", "replay-executor-*")
		if err != nil {
			return nil, err
		}
	}
	defer os.RemoveAll(tmpDir)
	out := filepath.Join(tmpDir, name)
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/replay-executor")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/replay-executor in %s: %w: %s", src, err, strings.TrimSpace(tail(stderr.String(), 2000)))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	if err := checkStaticELF(b, arch); err != nil {
		return nil, fmt.Errorf("built executor: %w", err)
	}
	if dst != "" {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
			// Renamed into place so that a concurrent replay never reads
			// half a binary; a failure only means building again next time.
			if os.Rename(out, dst) == nil {
				return &Executor{Arch: arch, Source: dst, Bin: b}, nil
			}
		}
	}
	return &Executor{Arch: arch, Source: "built from " + src, Bin: b}, nil
}

// goTool finds the go command: on PATH, else in the GOROOT this program
// was built with.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("the Go toolchain (go) is not on PATH")
}

// selfKey identifies the running binary by content.
func selfKey() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// moduleSource is the root of the module source this program was built
// from: the directory of this file when the build kept source paths (a go
// build or go install without -trimpath), else the module cache's copy of
// the version in the build info.
func moduleSource(ctx context.Context, goBin string) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Dir(filepath.Dir(file))
		if isModuleRoot(root) {
			return root, nil
		}
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("no build information in this program to find its source")
	}
	var version string
	if bi.Main.Path == Module {
		version = bi.Main.Version
	} else {
		for _, d := range bi.Deps {
			if d.Path == Module {
				version = d.Version
			}
		}
	}
	if version == "" || version == "(devel)" {
		return "", errors.New("the source this program was built from is not on this machine (a -trimpath build of a checkout)")
	}
	out, err := exec.CommandContext(ctx, goBin, "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	root := filepath.Join(strings.TrimSpace(string(out)), filepath.FromSlash(Module)+"@"+version)
	if !isModuleRoot(root) {
		return "", fmt.Errorf("the source of %s@%s is not in the module cache (%s): `go mod download %s@%s` fetches it", Module, version, root, Module, version)
	}
	return root, nil
}

func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !bytes.Contains(b, []byte("module "+Module+"\n")) {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, "cmd", "replay-executor"))
	return err == nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
