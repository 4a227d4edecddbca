package world

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
)

// fullDisk is a disk that holds budget more bytes, then fails every write
// with ENOSPC, as a full file system does.
type fullDisk struct{ left atomic.Int64 }

func newFullDisk(budget int64) *fullDisk {
	d := &fullDisk{}
	d.left.Store(budget)
	return d
}

func (d *fullDisk) take(n int) (int, error) {
	if left := d.left.Add(-int64(n)); left < 0 {
		d.left.Store(0)
		return 0, &os.PathError{Op: "write", Path: "disk", Err: syscall.ENOSPC}
	}
	return n, nil
}

// Create implements fileSystem.
func (d *fullDisk) Create(name string) (io.WriteCloser, error) {
	f, err := osFS{}.Create(name)
	if err != nil {
		return nil, err
	}
	return &diskFile{File: f.(*os.File), d: d}, nil
}

type diskFile struct {
	*os.File
	d *fullDisk
}

func (f *diskFile) Write(p []byte) (int, error) {
	n, err := f.d.take(len(p))
	if err != nil {
		return 0, err
	}
	return f.File.Write(p[:n])
}

// billyFS is the same disk for go-git.
type billyFS struct {
	billy.Filesystem
	d *fullDisk
}

func (d *fullDisk) wrap(fs billy.Filesystem) billy.Filesystem { return &billyFS{Filesystem: fs, d: d} }

type billyFile struct {
	billy.File
	d *fullDisk
}

func (f *billyFile) Write(p []byte) (int, error) {
	n, err := f.d.take(len(p))
	if err != nil {
		return 0, err
	}
	return f.File.Write(p[:n])
}

func (b *billyFS) Create(name string) (billy.File, error) {
	f, err := b.Filesystem.Create(name)
	if err != nil {
		return nil, err
	}
	return &billyFile{File: f, d: b.d}, nil
}

func (b *billyFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	f, err := b.Filesystem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &billyFile{File: f, d: b.d}, nil
}

func (b *billyFS) TempFile(dir, prefix string) (billy.File, error) {
	f, err := b.Filesystem.TempFile(dir, prefix)
	if err != nil {
		return nil, err
	}
	return &billyFile{File: f, d: b.d}, nil
}

func (b *billyFS) Chroot(p string) (billy.Filesystem, error) {
	fs, err := b.Filesystem.Chroot(p)
	if err != nil {
		return nil, err
	}
	return &billyFS{Filesystem: fs, d: b.d}, nil
}

// listCache lists the cache's files (relative), for "nothing half-written"
// checks.
func listCache(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestFullDiskWhileCloning fills the disk in the middle of a clone: the
// error says so plainly, and no mirror (not even a temporary one) is left;
// with space again the same fetch works.
func TestFullDiskWhileCloning(t *testing.T) {
	repo := newRepo(t)
	big := strings.Repeat("incompressible? no, but big enough\n", 20000)
	sha := commit(t, repo, "2025-01-01T00:00:00Z", "big", map[string]string{"big.txt": big, "small.txt": "x\n"})
	root := t.TempDir()
	bareClone(t, repo, root, "big.git")
	srv := gitHTTPServer(t, root)

	disk := newFullDisk(4 << 10)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	w := newTestWorld(t, func(c *Config) { c.CacheDir = cacheDir; c.wrapFS = disk.wrap; c.fs = disk })
	remote, _ := w.ParseRepo(srv.URL + "/big.git")
	_, err := w.WriteTar(context.Background(), remote, sha, io.Discard, TarOptions{})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("err = %v, want a full disk", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(cacheDir, "git")); len(ents) != 1 || !strings.HasSuffix(ents[0].Name(), ".lock") {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("cache holds %q after the failed clone, want only the lock", names)
	}

	w2 := newTestWorld(t, func(c *Config) { c.CacheDir = cacheDir })
	var buf bytes.Buffer
	if _, err := w2.WriteTar(context.Background(), remote, sha, &buf, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := readTar(t, &buf); len(got) != 2 || got[0].Content != big {
		t.Errorf("after the disk was freed: %d entries", len(got))
	}
}

// TestFullDiskWhileStoringSnapshot fills the disk while a GitHub snapshot
// is stored: no manifest appears, and the temporary files are gone.
func TestFullDiskWhileStoringSnapshot(t *testing.T) {
	disk := newFullDisk(1 << 10)
	w := newTestWorld(t, func(c *Config) { c.fs = disk })
	s := &Snapshot{Version: SnapshotVersion, Kind: KindPR, Repo: "a/b", Number: 1, data: map[string][]byte{
		"pr.json": []byte(`{"number":1}`), "pr.diff": bytes.Repeat([]byte("+x\n"), 4096)}}
	key := w.snapshotKey(KindPR, "a", "b", 1, time.Time{})
	err := w.storeSnapshot(key, s)
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	for _, f := range listCache(t, w.CacheDir()) {
		if strings.Contains(f, "snapshots") || strings.HasPrefix(f, "tmp/") {
			t.Errorf("left behind: %s", f)
		}
	}
	if _, err := w.loadSnapshot(key); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("load after the failed store: %v, want not found", err)
	}
}

// TestUnreachableRemote names the remote and says it cannot be reached.
func TestUnreachableRemote(t *testing.T) {
	requireGit(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/gone.git"
	srv.Close() // nothing listens there any more
	w := newTestWorld(t, nil)
	remote, _ := w.ParseRepo(url)
	_, err := w.WriteTar(context.Background(), remote, strings.Repeat("a", 40), io.Discard, TarOptions{})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), url) {
		t.Fatalf("err = %v, want ErrUnreachable naming %s", err, url)
	}
}
