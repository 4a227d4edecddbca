package world

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWriteTarModesSymlinksOddNames materializes a commit with executable
// files, symlinks (one pointing out of the repository, one absolute, one
// dangling), odd path names and a submodule, and compares the tar stream
// with what git itself checks out.
func TestWriteTarModesSymlinksOddNames(t *testing.T) {
	repo := newRepo(t)
	odd := []string{
		"with space.txt",
		"ünïcödé/日本語.md",
		"tab\tname",
		"new\nline",
		`quote"and'apostrophe`,
		`back\slash`,
		"-leading-dash",
		"#hash",
		strings.Repeat("d", 120) + "/" + strings.Repeat("long", 60) + ".txt",
	}
	files := map[string]string{"README.md": "# demo\n", "bin/run.sh": "#!/bin/sh\necho hi\n", "src/a.go": "package a\n"}
	for i, n := range odd {
		files[n] = "odd " + string(rune('a'+i)) + "\n"
	}
	commit(t, repo, "2025-01-02T03:04:05Z", "base", files)
	if err := os.Chmod(filepath.Join(repo, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"escape":       "../../../../etc/passwd",
		"absolute":     "/etc/shadow",
		"src/dangling": "nothere",
		"src/inside":   "a.go",
		"dirlink":      "src",
	} {
		if err := os.Symlink(target, filepath.Join(repo, link)); err != nil {
			t.Fatal(err)
		}
	}
	// A submodule: a gitlink entry and its .gitmodules line.
	subSHA := strings.Repeat("ab", 20)
	run(t, repo, "update-index", "--add", "--cacheinfo", "160000,"+subSHA+",vendor/lib")
	os.MkdirAll(filepath.Join(repo, "vendor/lib"), 0o755) // as an uninitialized submodule
	os.WriteFile(filepath.Join(repo, ".gitmodules"), []byte("[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n"), 0o644)
	sha := commit(t, repo, "2025-01-02T03:04:05Z", "links", nil)

	w := newTestWorld(t, nil)
	remote, err := w.ParseRepo(repo)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rep, err := w.WriteTar(context.Background(), remote, sha, &buf, TarOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, &buf)

	// What git checks out (a worktree of the same commit), as tar entries.
	checkout := filepath.Join(t.TempDir(), "co")
	run(t, repo, "worktree", "add", "-q", "--detach", checkout, sha)
	var want []tarEntry
	filepath.Walk(checkout, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(checkout, p)
		if rel == "." || rel == ".git" {
			return nil
		}
		e := tarEntry{Name: filepath.ToSlash(rel)}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			e.Type, e.Mode = tar.TypeSymlink, 0o777
			e.Linkname, _ = os.Readlink(p)
		case info.IsDir():
			e.Type, e.Mode, e.Name = tar.TypeDir, 0o755, e.Name+"/"
		default:
			e.Type, e.Mode = tar.TypeReg, 0o644
			if info.Mode()&0o100 != 0 {
				e.Mode = 0o755
			}
			b, _ := os.ReadFile(p)
			e.Content = string(b)
		}
		want = append(want, e)
		return nil
	})
	want = readTar(t, tarOf(t, want))
	if !cmp.Equal(got, want) {
		t.Errorf("tar differs from git's checkout (-got +want):\n%s", cmp.Diff(got, want))
	}
	wantRep := &TarReport{Commit: sha, Files: len(files) + 1, Symlinks: 5, Dirs: rep.Dirs, Bytes: rep.Bytes,
		Submodules: []Submodule{{Path: "vendor/lib", Commit: subSHA, URL: "https://example.com/lib.git"}}}
	if !cmp.Equal(rep, wantRep) {
		t.Errorf("report (-got +want):\n%s", cmp.Diff(rep, wantRep))
	}
}

func tarOf(t *testing.T, es []tarEntry) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		if err := tw.WriteHeader(&tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Linkname, Size: int64(len(e.Content))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.Content))
	}
	tw.Close()
	return &b
}

// TestWriteTarUnsafeNames feeds a hand-made tree whose entries are named
// "..", ".git" and "a/b" (git refuses to make these; a hostile repository
// can still hold them): they are skipped and reported, never written.
func TestWriteTarUnsafeNames(t *testing.T) {
	repo := newRepo(t)
	blob := hashObject(t, repo, "blob", []byte("evil\n"))
	var tree bytes.Buffer
	for _, name := range []string{"..", ".GIT", "a/b", "ok.txt"} {
		tree.WriteString("100644 " + name + "\x00")
		b, _ := hex.DecodeString(blob)
		tree.Write(b)
	}
	treeSHA := hashObject(t, repo, "tree", tree.Bytes())
	sha := run(t, repo, "commit-tree", treeSHA, "-m", "hostile")
	run(t, repo, "update-ref", "refs/heads/main", sha)

	w := newTestWorld(t, nil)
	remote, _ := w.ParseRepo(repo)
	var buf bytes.Buffer
	rep, err := w.WriteTar(context.Background(), remote, sha, &buf, TarOptions{Prefix: "ws"})
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, &buf)
	want := []tarEntry{{Name: "ws/", Type: tar.TypeDir, Mode: 0o755}, {Name: "ws/ok.txt", Type: tar.TypeReg, Mode: 0o644, Content: "evil\n"}}
	if !cmp.Equal(got, want) {
		t.Errorf("entries (-got +want):\n%s", cmp.Diff(got, want))
	}
	if !cmp.Equal(rep.Skipped, []string{"ws/..", "ws/.GIT", "ws/a/b"}) {
		t.Errorf("skipped = %q", rep.Skipped)
	}
}

func hashObject(t *testing.T, repo, typ string, content []byte) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "-t", typ, "-w", "--literally", "--stdin")
	cmd.Dir = repo
	cmd.Env = gitEnv("")
	cmd.Stdin = bytes.NewReader(content)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git hash-object: %v", err)
	}
	return strings.TrimSpace(string(out))
}
