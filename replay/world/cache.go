package world

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// cache is the directory layout under Config.CacheDir:
//
//	git/<key>.git/           bare mirror of one remote
//	git/<key>.lock           its lock (shared: reading; exclusive: fetching)
//	github/objects/<aa>/<sha256>            snapshot file contents, by hash
//	github/snapshots/<host>/<owner>/<name>/<pr|issue>-<n>@<as-of>.json
//	                         a snapshot's manifest (file name -> hash)
//	resolved/<trace-id>.json what world fetch resolved for a trace
//	tmp/                     files being written (renamed into place)
//
// Every entry is written to tmp/ (or a temporary directory beside it) and
// renamed into place once complete, so a failed write (a full disk, a
// crash) never leaves a half-written entry under its final name.
type cache struct {
	root string
	fs   fileSystem
}

func (c *cache) path(elem ...string) string {
	return filepath.Join(append([]string{c.root}, elem...)...)
}

func (c *cache) tmpDir() (string, error) {
	d := c.path("tmp")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("create cache directory %s: %w", d, err)
	}
	return d, nil
}

func randomName(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// writeAtomic writes data to path through a temporary file that is synced
// and renamed into place.
func (c *cache) writeAtomic(path string, data []byte) error {
	return c.writeAtomicFrom(path, bytes.NewReader(data))
}

func (c *cache) writeAtomicFrom(path string, r io.Reader) (err error) {
	tmpd, err := c.tmpDir()
	if err != nil {
		return err
	}
	tmp := filepath.Join(tmpd, randomName("w-"))
	f, err := c.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("write cache entry %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return fmt.Errorf("write cache entry %s: %w", path, err)
	}
	if s, ok := f.(interface{ Sync() error }); ok {
		if err = s.Sync(); err != nil {
			return fmt.Errorf("write cache entry %s: %w", path, err)
		}
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write cache entry %s: %w", path, err)
	}
	if err = os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write cache entry %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write cache entry %s: %w", path, err)
	}
	return nil
}

// putBlob stores data under its SHA-256 and returns the hex digest.
func (c *cache) putBlob(data []byte) (string, error) {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	p := c.blobPath(h)
	if st, err := os.Stat(p); err == nil && st.Size() == int64(len(data)) {
		if got, err := os.ReadFile(p); err == nil && bytes.Equal(got, data) {
			return h, nil
		}
	}
	return h, c.writeAtomic(p, data)
}

func (c *cache) blobPath(h string) string {
	return c.path("github", "objects", h[:2], h)
}

// getBlob reads the blob h and checks its hash. A blob whose content does
// not match is removed and reported as ErrCorrupt.
func (c *cache) getBlob(h string) ([]byte, error) {
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("read cache blob %q: %w: not a sha256", h, ErrCorrupt)
	}
	p := c.blobPath(h)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read cache blob %s: %w", p, err)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != h {
		os.Remove(p)
		return nil, fmt.Errorf("read cache blob %s: %w: its content does not match its hash (removed)", p, ErrCorrupt)
	}
	return data, nil
}

// lock is a file lock shared by processes: shared for readers, exclusive
// for writers.
type lock struct{ f *flock.Flock }

func (c *cache) lock(ctx context.Context, path string, exclusive bool) (*lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f := flock.New(path)
	var (
		ok  bool
		err error
	)
	if exclusive {
		ok, err = f.TryLockContext(ctx, 20*time.Millisecond)
	} else {
		ok, err = f.TryRLockContext(ctx, 20*time.Millisecond)
	}
	if err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, errors.New("not acquired"))
	}
	return &lock{f: f}, nil
}

func (l *lock) unlock() {
	if l != nil {
		l.f.Unlock()
		l.f.Close()
	}
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
