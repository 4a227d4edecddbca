package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
)

// IDLen is the length of a trace id in hex characters.
const IDLen = 32

// MinPrefix is the shortest id prefix Lookup accepts.
const MinPrefix = 4

// ContentID returns the id of the trace at path: the lowercase hex of a
// SHA-256, first IDLen characters. For a file it is the hash of its bytes, so
// the same trace imported twice, from anywhere, gets the same id. For a
// directory it is the hash, over its regular files in the byte order of their
// slash-separated relative paths, of each file's relative path, a NUL, its
// size in decimal, a NUL and its contents (symbolic links and other special
// files are skipped).
func ContentID(ctx context.Context, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("hash %q: %w", path, err)
	}
	h := sha256.New()
	if !fi.IsDir() {
		if err := hashFile(ctx, h, path); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil))[:IDLen], nil
	}
	type file struct {
		rel  string
		size int64
	}
	var files []file
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		files = append(files, file{rel: filepath.ToSlash(rel), size: info.Size()})
		return ctx.Err()
	})
	if err != nil {
		return "", fmt.Errorf("hash %q: %w", path, err)
	}
	slices.SortFunc(files, func(a, b file) int {
		switch {
		case a.rel < b.rel:
			return -1
		case a.rel > b.rel:
			return 1
		}
		return 0
	})
	for _, f := range files {
		io.WriteString(h, f.rel)
		h.Write([]byte{0})
		io.WriteString(h, strconv.FormatInt(f.size, 10))
		h.Write([]byte{0})
		if err := hashFile(ctx, h, filepath.Join(path, filepath.FromSlash(f.rel))); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:IDLen], nil
}

// hashBuffers are hashFile's read buffers, reused from file to file of a
// folder: twice io.Copy's size halves the reads, and a fresh buffer for
// every file would cost more than the reads it saves. A cache, not state.
var hashBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func hashFile(ctx context.Context, w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("hash %q: %w", path, err)
	}
	defer f.Close()
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	if _, err := io.CopyBuffer(w, ctxReader{ctx, f}, *buf); err != nil {
		return fmt.Errorf("hash %q: %w", path, err)
	}
	return nil
}

// ctxReader stops a long copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// validID reports whether s could be an id or id prefix (lowercase hex).
func validID(s string) bool {
	if s == "" || len(s) > IDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// LooksLikeID reports whether s could name a stored trace: hex, at least
// MinPrefix and at most IDLen characters (case-insensitive).
func LooksLikeID(s string) bool {
	return len(s) >= MinPrefix && validID(lower(s))
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
