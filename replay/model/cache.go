package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cacheVersion enters every key: changing how responses are stored or keys
// are computed changes it, and old entries are simply never found again.
const cacheVersion = "replay-model-cache/1"

// Cache is a disk cache of model responses, so re-running an unchanged
// replay costs nothing. An entry is keyed by a SHA-256 of the endpoint URL,
// the request's Sample and the exact JSON request body the client sends
// (model, messages, tools and parameters, in go-openai's fixed field order),
// and holds the endpoint's response body as it came. Entries are written
// atomically (a temporary file renamed into place), so concurrent replays
// and a crash mid-write never leave a torn entry. A Cache is safe for
// concurrent use.
type Cache struct {
	dir string
}

// OpenCache returns the cache kept in dir, creating dir if needed.
func OpenCache(dir string) (*Cache, error) {
	if dir == "" {
		return nil, errors.New("open model cache: no directory given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open model cache %q: %w", dir, err)
	}
	return &Cache{dir: dir}, nil
}

// Dir returns the directory the cache lives in.
func (c *Cache) Dir() string { return c.dir }

// cacheEntry is the JSON of one cache file.
type cacheEntry struct {
	Version  string          `json:"version"`
	Endpoint string          `json:"endpoint"`
	Model    string          `json:"model,omitempty"` // as asked, for people reading the cache
	Sample   int             `json:"sample,omitempty"`
	Created  time.Time       `json:"created"`
	Latency  int64           `json:"latency_ms,omitempty"` // of the call that filled the entry
	Body     json.RawMessage `json:"body"`                 // the response body, verbatim
}

// keyHasher starts the hash of a cache key; the caller adds the request
// body.
func keyHasher(endpoint string, sample int) hash.Hash {
	h := sha256.New()
	h.Write([]byte(cacheVersion + "\x00" + endpoint + "\x00" + strconv.Itoa(sample) + "\x00"))
	return h
}

func keyString(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func (c *Cache) path(key string) string {
	return filepath.Join(c.dir, key[:2], key+".json")
}

// get returns the response body stored under key. A missing entry is a miss
// with no error; an unreadable or corrupt one is a miss with an error that
// says so.
func (c *Cache) get(key string) ([]byte, bool, error) {
	p := c.path(key)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read model cache entry %q: %w", p, err)
	}
	var e cacheEntry
	if err := json.Unmarshal(data, &e); err != nil || e.Version != cacheVersion || len(e.Body) == 0 {
		if err == nil {
			err = errors.New("not a cache entry of this version")
		}
		return nil, false, fmt.Errorf("read model cache entry %q: %w (ignored; it will be replaced)", p, err)
	}
	return e.Body, true, nil
}

// put stores e under key: written to a temporary file in the entry's
// directory, then renamed into place.
func (c *Cache) put(key string, e cacheEntry) error {
	p := c.path(key)
	e.Version = cacheVersion
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("write model cache entry %q: %w", p, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write model cache entry %q: %w", p, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write model cache entry %q: %w", p, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write model cache entry %q: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write model cache entry %q: %w", p, err)
	}
	return nil
}

// PruneStats counts what Prune removed (or, in a dry run, would remove).
type PruneStats struct {
	Entries int   // cache entries, and temporary files of writes that never finished
	Bytes   int64 // their size
}

// Prune removes the entries stored before cutoff (by their file's
// modification time: when the answer was written; a cache hit does not make
// an entry younger), and the temporary files of writes that never finished.
// With dryRun it only counts them. Files that are not the cache's own are
// left alone.
func (c *Cache) Prune(ctx context.Context, cutoff time.Time, dryRun bool) (PruneStats, error) {
	var st PruneStats
	shards, err := os.ReadDir(c.dir)
	if err != nil {
		return st, fmt.Errorf("prune model cache %q: %w", c.dir, err)
	}
	var errs []error
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 || !isHex(sh.Name()) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		dir := filepath.Join(c.dir, sh.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("prune model cache %q: %w", dir, err))
			continue
		}
		for _, f := range files {
			name := f.Name()
			key, isEntry := strings.CutSuffix(name, ".json")
			if !(isEntry && len(key) == sha256.Size*2 && isHex(key) && key[:2] == sh.Name()) && !strings.HasPrefix(name, ".tmp-") {
				continue
			}
			fi, err := f.Info()
			if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
				continue
			}
			if !dryRun {
				if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, fmt.Errorf("prune model cache entry %q: %w", filepath.Join(dir, name), err))
					continue
				}
			}
			st.Entries++
			st.Bytes += fi.Size()
		}
	}
	return st, errors.Join(errs...)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}
