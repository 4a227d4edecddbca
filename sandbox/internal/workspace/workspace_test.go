package workspace

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type entry struct {
	Name, Link string
	Type       byte
	Mode       int64
	UID, GID   int
	Body       string
}

func readTar(t *testing.T, r io.Reader) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, entry{Name: h.Name, Link: h.Linkname, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Body: string(b)})
	}
}

func mkTar(t *testing.T, hs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	return b.Bytes()
}

func TestRewriteWorkspace(t *testing.T) {
	in := mkTar(t,
		&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "./a/b/c.txt", Typeflag: tar.TypeReg, Mode: 0o600, Size: 2, Uid: 501, Gid: 20},
		&tar.Header{Name: "/abs/x", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1},
		&tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o500},
		&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		&tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "abs/x"},
		&tar.Header{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o644},
	)
	var out bytes.Buffer
	if err := Rewrite(bytes.NewReader(in), &out, "repo", 1000, 1001); err != nil {
		t.Fatal(err)
	}
	got := readTar(t, &out)
	want := []entry{
		{Name: "repo/", Type: tar.TypeDir, Mode: 0o755, UID: 1000, GID: 1001},
		{Name: "repo/a/", Type: tar.TypeDir, Mode: 0o755, UID: 1000, GID: 1001},
		{Name: "repo/a/b/", Type: tar.TypeDir, Mode: 0o755, UID: 1000, GID: 1001},
		{Name: "repo/a/b/c.txt", Type: tar.TypeReg, Mode: 0o600, UID: 1000, GID: 1001, Body: "xx"},
		{Name: "repo/abs/", Type: tar.TypeDir, Mode: 0o755, UID: 1000, GID: 1001},
		{Name: "repo/abs/x", Type: tar.TypeReg, Mode: 0o755, UID: 1000, GID: 1001, Body: "x"},
		// "a/" came after its parent was made: not repeated.
		{Name: "repo/link", Type: tar.TypeSymlink, Link: "/etc/passwd", Mode: 0, UID: 1000, GID: 1001},
		{Name: "repo/hard", Type: tar.TypeLink, Link: "repo/abs/x", UID: 1000, GID: 1001},
		{Name: "repo/fifo", Type: tar.TypeFifo, Mode: 0o644, UID: 1000, GID: 1001},
	}
	if !cmp.Equal(got, want) {
		t.Errorf("rewritten tar (-want +got):\n%s", cmp.Diff(want, got))
	}

	// Into the work directory itself (no prefix): no root entry.
	out.Reset()
	if err := Rewrite(nil, &out, "", 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if got := readTar(t, &out); len(got) != 0 {
		t.Errorf("empty workspace without prefix: %+v", got)
	}
}

func TestRewriteWorkspaceRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"dot-dot", mkTar(t, &tar.Header{Name: "a/../../x", Typeflag: tar.TypeReg, Mode: 0o644})},
		{"hard link out", mkTar(t, &tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../x"})},
		{"char device", mkTar(t, &tar.Header{Name: "null", Typeflag: tar.TypeChar, Mode: 0o666})},
		{"block device", mkTar(t, &tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Mode: 0o666})},
		{"garbage", bytes.Repeat([]byte{0xff}, 1024)},
		{"truncated", mkTar(t, &tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5000})[:1024]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Rewrite(bytes.NewReader(tt.in), io.Discard, "w", 1000, 1000)
			if !errors.Is(err, ErrBadWorkspace) {
				t.Errorf("err = %v, want ErrBadWorkspace", err)
			}
		})
	}
}

func FuzzWorkspaceTar(f *testing.F) {
	f.Add([]byte{})
	f.Add(mkTarF(f, &tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3}))
	f.Add(mkTarF(f, &tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../../x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if err := Rewrite(bytes.NewReader(data), &out, "w", 1000, 1000); err != nil {
			return
		}
		// Whatever was accepted stays under the prefix.
		tr := tar.NewReader(&out)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if !strings.HasPrefix(h.Name, "w/") || strings.Contains(h.Name, "..") {
				t.Fatalf("entry %q escapes the workspace", h.Name)
			}
			if h.Typeflag == tar.TypeLink && (!strings.HasPrefix(h.Linkname, "w/") || strings.Contains(h.Linkname, "..")) {
				t.Fatalf("hard link %q -> %q escapes the workspace", h.Name, h.Linkname)
			}
		}
	})
}

func mkTarF(f *testing.F, h *tar.Header) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(h)
	tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
	tw.Close()
	return b.Bytes()
}
