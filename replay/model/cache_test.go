package model

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/agentreplay/replay/replay/trace"
)

// cacheFiles lists the files under dir, relative.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestCache: an unchanged request is answered from the cache (no request to
// the endpoint, usage kept, no cost, no latency); any change to what is sent
// or to the sample misses.
func TestCache(t *testing.T) {
	api := newFakeAPI(t, reply{body: "@tool_calls"})
	dir := t.TempDir()
	cache, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	var warnings []error
	c, _ := newTestClient(t, api, Config{APIKey: "sk-secret-key", Cache: cache, Warn: func(err error) { warnings = append(warnings, err) }})
	ctx := context.Background()

	first, err := c.Complete(ctx, sailingRequest())
	if err != nil {
		t.Fatal(err)
	}
	if first.Produced != ProducedModel {
		t.Errorf("first call produced by %q, want model", first.Produced)
	}
	files := cacheFiles(t, dir)
	if len(files) != 1 || !strings.HasSuffix(files[0], ".json") {
		t.Fatalf("cache holds %v, want one entry and no temporary file", files)
	}
	entry, _ := os.ReadFile(filepath.Join(dir, files[0]))
	if strings.Contains(string(entry), "sk-secret-key") {
		t.Error("the cache entry holds the API key")
	}
	if !strings.Contains(string(entry), api.URL()+"/chat/completions") || !strings.Contains(string(entry), "chatcmpl-T3stParallelTools01") {
		t.Errorf("cache entry does not name the endpoint or hold the response: %s", entry)
	}

	second, err := c.Complete(ctx, sailingRequest())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(api.requests()); n != 1 {
		t.Errorf("server got %d requests, want 1: the second call must come from the cache", n)
	}
	if second.Produced != ProducedCache || second.LatencyMS != 0 || second.Cost.Priced == nil || *second.Cost.Priced != 0 {
		t.Errorf("cache hit: produced %q, latency %d, priced %v; want cache, 0, 0", second.Produced, second.LatencyMS, second.Cost.Priced)
	}
	if d := cmp.Diff(first, second, cmpopts.IgnoreFields(trace.LLMCall{}, "Produced", "LatencyMS", "Cost")); d != "" {
		t.Errorf("cached answer differs from the original (-first +second):\n%s", d)
	}

	// Every change to what is sent misses.
	changes := map[string]func(*Request){
		"sample":      func(r *Request) { r.Sample = 1 },
		"model":       func(r *Request) { r.Params.Model = "gpt-4o" },
		"temperature": func(r *Request) { r.Params.Temperature = trace.Float(0.2) },
		"seed":        func(r *Request) { r.Params.Seed = trace.Int(8) },
		"system":      func(r *Request) { r.System += " Be careful." },
		"message":     func(r *Request) { r.Messages = append(r.Messages, userText("And Sunday?")) },
		"tools":       func(r *Request) { r.Tools = r.Tools[:1] },
		"schema":      func(r *Request) { r.Tools[0].Schema = json.RawMessage(`{"type":"object"}`) },
	}
	want := 1
	for name, change := range changes {
		req := sailingRequest()
		change(&req)
		got, err := c.Complete(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		want++
		if n := len(api.requests()); n != want || got.Produced != ProducedModel {
			t.Errorf("%s changed: server got %d requests (want %d), produced %q; want a cache miss", name, n, want, got.Produced)
		}
	}

	// Reasoning parts are not sent, so they do not change the key.
	req := sailingRequest()
	req.Messages = append(req.Messages, trace.Message{Role: "assistant", Parts: []trace.Part{part(trace.PartText, "Let me check.")}})
	if _, err := c.Complete(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.Messages[1].Parts = append([]trace.Part{part(trace.PartReasoning, "hidden")}, req.Messages[1].Parts...)
	if got, _ := c.Complete(ctx, req); got.Produced != ProducedCache {
		t.Errorf("a reasoning part changed the key: produced %q", got.Produced)
	}

	// Another endpoint misses.
	other := newFakeAPI(t, reply{body: "@tool_calls"})
	c2, _ := newTestClient(t, other, Config{Cache: cache})
	if got, _ := c2.Complete(ctx, sailingRequest()); got.Produced != ProducedModel || len(other.requests()) != 1 {
		t.Errorf("another endpoint was answered from the cache")
	}

	// NoCache asks the endpoint and refreshes the entry.
	before := len(api.requests())
	c3, _ := newTestClient(t, api, Config{Cache: cache, NoCache: true})
	if got, _ := c3.Complete(ctx, sailingRequest()); got.Produced != ProducedModel || len(api.requests()) != before+1 {
		t.Errorf("NoCache: produced %q, the server got %d new requests; want the endpoint asked", got.Produced, len(api.requests())-before)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	for _, f := range cacheFiles(t, dir) {
		if strings.Contains(f, ".tmp") {
			t.Errorf("temporary file left: %s", f)
		}
	}
}

// TestCacheCorruptEntry: a damaged entry is reported, ignored and replaced.
func TestCacheCorruptEntry(t *testing.T) {
	api := newFakeAPI(t, reply{body: "@text"})
	dir := t.TempDir()
	cache, _ := OpenCache(dir)
	var warnings []error
	c, _ := newTestClient(t, api, Config{Cache: cache, Warn: func(err error) { warnings = append(warnings, err) }})
	req := Request{Messages: []trace.Message{userText("hi")}, Params: trace.Params{Model: "gpt-4o"}}
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	files := cacheFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("cache holds %v", files)
	}
	path := filepath.Join(dir, files[0])

	for name, content := range map[string]string{
		"torn":         `{"version":"replay-model-cache/1","body":{"id":`,
		"old version":  `{"version":"replay-model-cache/0","body":{}}`,
		"not a choice": `{"version":"replay-model-cache/1","body":{"id":"x","choices":[]}}`,
	} {
		warnings = nil
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		n := len(api.requests())
		got, err := c.Complete(context.Background(), req)
		if err != nil {
			t.Fatalf("%s entry: %v", name, err)
		}
		if got.Produced != ProducedModel || len(api.requests()) != n+1 {
			t.Errorf("%s entry: produced %q; want the endpoint asked", name, got.Produced)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "cache entry") {
			t.Errorf("%s entry: warnings %v, want one about the entry", name, warnings)
		}
		if got, _ := c.Complete(context.Background(), req); got.Produced != ProducedCache {
			t.Errorf("%s entry was not replaced: produced %q", name, got.Produced)
		}
	}
}

// TestCacheConcurrentWriters: parallel calls of one request never leave a
// torn entry.
func TestCacheConcurrentWriters(t *testing.T) {
	api := newFakeAPI(t, reply{body: "@tool_calls"})
	dir := t.TempDir()
	cache, _ := OpenCache(dir)
	c, _ := newTestClient(t, api, Config{Cache: cache, NoCache: true})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Complete(context.Background(), sailingRequest()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	files := cacheFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one entry", files)
	}
	c2, _ := newTestClient(t, api, Config{Cache: cache})
	if got, err := c2.Complete(context.Background(), sailingRequest()); err != nil || got.Produced != ProducedCache {
		t.Errorf("after concurrent writes: %v, %v", got, err)
	}
}

// TestCacheWriteFailureWarns: an answer that cannot be stored is still
// returned, and the failure is reported.
func TestCacheWriteFailureWarns(t *testing.T) {
	api := newFakeAPI(t, reply{body: "@text"})
	req := Request{Messages: []trace.Message{userText("hi")}, Params: trace.Params{Model: "gpt-4o"}}
	// Learn where the entry goes, then block that place with a file.
	probe, _ := OpenCache(t.TempDir())
	c, _ := newTestClient(t, api, Config{Cache: probe})
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Dir(cacheFiles(t, probe.Dir())[0])
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, sub), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cache, _ := OpenCache(dir)
	var warnings []error
	c, _ = newTestClient(t, api, Config{Cache: cache, Warn: func(err error) { warnings = append(warnings, err) }})
	got, err := c.Complete(context.Background(), req)
	if err != nil || got.Produced != ProducedModel {
		t.Fatalf("a failed cache write must not fail the call: %v", err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "write model cache entry") {
		t.Errorf("warnings %v, want one about the write", warnings)
	}
}

func TestOpenCacheErrors(t *testing.T) {
	if _, err := OpenCache(""); err == nil {
		t.Error("OpenCache(\"\") succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := OpenCache(filepath.Join(f, "sub")); err == nil || !strings.Contains(err.Error(), "open model cache") {
		t.Errorf("OpenCache under a file: %v", err)
	}
}

// TestCachePrune: entries stored before the cutoff go (and unfinished
// writes); younger ones stay and still answer; files that are not the
// cache's own are left alone. A dry run only counts.
func TestCachePrune(t *testing.T) {
	api := newFakeAPI(t, reply{body: "@tool_calls"})
	dir := t.TempDir()
	cache, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newTestClient(t, api, Config{Cache: cache})
	ctx := context.Background()
	oldReq, newReq := sailingRequest(), sailingRequest()
	newReq.Sample = 1
	for _, r := range []Request{oldReq, newReq} {
		if _, err := c.Complete(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	longAgo := now.Add(-40 * 24 * time.Hour)
	h := keyHasher(c.endpoint, 0)
	body, _ := chatRequest(oldReq)
	b, _ := encodeRequest(&body)
	h.Write(b)
	oldKey := keyString(h)
	if err := os.Chtimes(cache.path(oldKey), longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	oldEntry, _ := os.Stat(cache.path(oldKey))
	tmp := filepath.Join(dir, oldKey[:2], ".tmp-123")
	notOurs := []string{filepath.Join(dir, "NOTES.txt"), filepath.Join(dir, oldKey[:2], "keep.json")}
	for _, p := range append([]string{tmp}, notOurs...) {
		os.WriteFile(p, []byte("x"), 0o644)
		os.Chtimes(p, longAgo, longAgo)
	}
	before := cacheFiles(t, dir)

	cutoff := now.Add(-30 * 24 * time.Hour)
	st, err := cache.Prune(ctx, cutoff, true)
	if err != nil || st.Entries != 2 || st.Bytes != oldEntry.Size()+1 {
		t.Errorf("dry run: %+v, %v; want 2 files (the old entry and the unfinished write) of %d bytes", st, err, oldEntry.Size()+1)
	}
	if d := cmp.Diff(before, cacheFiles(t, dir)); d != "" {
		t.Errorf("a dry run changed the cache (-before +after):\n%s", d)
	}
	if st, err = cache.Prune(ctx, cutoff, false); err != nil || st.Entries != 2 {
		t.Errorf("prune: %+v, %v", st, err)
	}
	for _, p := range []string{cache.path(oldKey), tmp} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s stays after the prune", p)
		}
	}
	for _, p := range notOurs {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the prune removed %s, not the cache's own", p)
		}
	}
	// The young entry still answers; the pruned one asks the endpoint.
	sent := len(api.requests())
	if got, err := c.Complete(ctx, newReq); err != nil || got.Produced != ProducedCache {
		t.Errorf("the kept entry: %v, %v", got, err)
	}
	if got, err := c.Complete(ctx, oldReq); err != nil || got.Produced != ProducedModel || len(api.requests()) != sent+1 {
		t.Errorf("the pruned entry: produced %v, %v, %d requests", got.Produced, err, len(api.requests())-sent)
	}
}
