package sandbox

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentreplay/replay/sandbox/executorbin"
)

// Executor is the static replay-executor binary copied into every
// sandbox, for one architecture.
type Executor struct {
	Arch   string // Go architecture name: amd64, arm64
	Source string // where it came from, for messages
	Bin    []byte
}

// executorName is the executor's file name beside the replay binary.
const executorName = "replay-executor"

// FindExecutor returns the executor for linux/arch. It looks, in order:
//
//  1. at path, when given (a --executor flag; tests build one with go build);
//  2. in the binaries embedded at build time (go generate ./sandbox/executorbin,
//     run by `make`);
//  3. beside the running program, as replay-executor or
//     replay-executor-linux-<arch> (a release archive ships it there);
//
// and answers a clear error when none fits. Every candidate must be a
// static Linux ELF binary for arch: a dynamically linked one would not run
// in an arbitrary image.
func FindExecutor(arch, path string) (*Executor, error) {
	if arch == "" {
		return nil, errors.New("find executor: no architecture")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("find executor: %w", err)
		}
		if err := checkStaticELF(b, arch); err != nil {
			return nil, fmt.Errorf("find executor: %q: %w", path, err)
		}
		return &Executor{Arch: arch, Source: path, Bin: b}, nil
	}
	if b, ok := executorbin.Binary(arch); ok {
		if err := checkStaticELF(b, arch); err == nil {
			return &Executor{Arch: arch, Source: "embedded", Bin: b}, nil
		}
	}
	var tried []string
	if self, err := os.Executable(); err == nil {
		dir := filepath.Dir(self)
		for _, name := range []string{executorName + "-linux-" + arch, executorName} {
			p := filepath.Join(dir, name)
			tried = append(tried, p)
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if checkStaticELF(b, arch) == nil {
				return &Executor{Arch: arch, Source: p, Bin: b}, nil
			}
		}
	}
	return nil, fmt.Errorf("find executor: no static replay-executor for linux/%s: not embedded in this build and not found at %q; "+
		"build it with `make executor` (or `go generate ./sandbox/executorbin` before `go build`), "+
		"or pass the path of one built with `CGO_ENABLED=0 GOOS=linux GOARCH=%s go build ./cmd/replay-executor`", arch, tried, arch)
}

// checkStaticELF checks that b is a statically linked Linux executable for
// the Go architecture arch.
func checkStaticELF(b []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM, "riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390}[arch]
	if want == 0 {
		return fmt.Errorf("unsupported architecture %q", arch)
	}
	if f.Machine != want {
		return fmt.Errorf("built for %v, want %v (%s)", f.Machine, want, arch)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("not an executable (%v)", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (build it with CGO_ENABLED=0)")
		}
	}
	return nil
}

// goArch maps Docker's architecture names to Go's.
func goArch(a string) string {
	switch a {
	case "x86_64", "amd64", "":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	}
	return a
}
