package world

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v93/github"
)

// FuzzParseRepo: any repository reference parses or fails, never panics;
// what parses has a kind and a URL, and owner/name only when both are set.
func FuzzParseRepo(f *testing.F) {
	for _, s := range []string{"acme/widgets", "acme/widgets#42", "https://github.com/acme/widgets.git", "git@github.com:acme/widgets.git",
		"ssh://git@host:22/a/b", "git://127.0.0.1:9418/r.git", "file:///tmp/x", "ftp://x/y", "a/b/c", "", "/", "#", "..", "./..",
		"https://", "http://[::1", "x@y:z", "acme/..", "-x/y", "a/b.git.git"} {
		f.Add(s)
	}
	gh, _ := parseGitHubHost("")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "\x00") || len(s) > 4096 {
			return
		}
		// Only names that cannot be existing paths, so the result does not
		// depend on the machine.
		if _, err := os.Lstat(s); err == nil {
			return
		}
		r, err := parseRepo(s, gh)
		if err != nil {
			return
		}
		switch r.Kind {
		case RemoteGitHub, RemoteURL, RemotePath, RemoteBundle:
		default:
			t.Fatalf("%q: kind %q", s, r.Kind)
		}
		if r.URL == "" || (r.Owner == "") != (r.Name == "") {
			t.Fatalf("%q: %+v", s, r)
		}
		if r.Kind == RemoteGitHub && r.FullName() == "" {
			t.Fatalf("%q: a GitHub remote without owner/name: %+v", s, r)
		}
		if k := r.key(); k == "" || strings.ContainsAny(k, "/\\\x00") || k == "." || k == ".." {
			t.Fatalf("%q: unsafe cache key %q", s, k)
		}
	})
}

// FuzzBundleHeader: a bundle header parses or fails cleanly.
func FuzzBundleHeader(f *testing.F) {
	sha := strings.Repeat("ab", 20)
	for _, s := range []string{
		bundleV2 + sha + " refs/heads/main\n" + sha + " HEAD\n\nPACK",
		bundleV3 + "@object-format=sha1\n" + sha + " refs/heads/main\n\n",
		bundleV2 + "-" + sha + " old\n" + sha + " refs/tags/v1\n\n",
		bundleV2 + "zz refs/heads/x\n\n", bundleV2, "# v9 git bundle\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, head, err := readBundleHeader(bufio.NewReader(bytes.NewReader(b)), "fuzz.bundle", nil)
		if err != nil {
			return
		}
		for _, r := range refs {
			if !strings.HasPrefix(string(r.Name()), "refs/") || r.Hash().IsZero() && !strings.Contains(string(b), strings.Repeat("0", 40)) {
				t.Fatalf("ref %v", r)
			}
		}
		if head != "" && !strings.Contains(string(b), head) {
			t.Fatalf("head %q not in the input", head)
		}
	})
}

// FuzzSnapshotAsOf: whatever GitHub (or a fixture) returns, cutting it to
// the run's time never panics, and nothing created after that time stays.
func FuzzSnapshotAsOf(f *testing.F) {
	read := func(name string) []byte {
		b, _ := os.ReadFile(filepath.Join("../../testdata/example/github", name))
		return b
	}
	f.Add(read("pr.json"), read("timeline.json"), read("commits.json"), read("comments.json"), read("body_edits.json"), int64(1764064800))
	f.Add([]byte(`{"head":null,"base":{},"labels":[null],"title":null}`), []byte(`[null,{"event":"renamed"},{"event":"labeled"}]`),
		[]byte(`[null,{"commit":null},{"sha":"x","commit":{"committer":null}}]`), []byte(`[null]`), []byte(`[{"diff":null}]`), int64(0))
	f.Add([]byte(`{}`), []byte(`[]`), []byte(`[]`), []byte(`[]`), []byte(`null`), int64(-1))
	f.Fuzz(func(t *testing.T, prJSON, tlJSON, commitsJSON, commentsJSON, editsJSON []byte, unix int64) {
		var pr github.PullRequest
		if json.Unmarshal(prJSON, &pr) != nil {
			return
		}
		d := &prData{pr: &pr}
		json.Unmarshal(tlJSON, &d.timeline)
		json.Unmarshal(commitsJSON, &d.commits)
		json.Unmarshal(commentsJSON, &d.comments)
		d.hasEdits = json.Unmarshal(editsJSON, &d.edits) == nil
		var at time.Time
		if unix > 0 {
			at = time.Unix(unix%(1<<40), 0).UTC()
		}
		s, _, err := asOfPR(d, "o", "r", 1, at, "", "")
		if err != nil {
			return
		}
		var cs []*github.IssueComment
		if err := json.Unmarshal(s.data["comments.json"], &cs); err != nil {
			t.Fatalf("comments.json: %v", err)
		}
		for _, c := range cs {
			if after(c.CreatedAt, at) {
				t.Fatalf("comment created at %v kept in a snapshot as of %v", c.CreatedAt, at)
			}
		}
		is := &issueData{issue: &github.Issue{Title: pr.Title, Body: pr.Body, Labels: pr.Labels, UpdatedAt: pr.UpdatedAt}, comments: d.comments, timeline: d.timeline, edits: d.edits, hasEdits: d.hasEdits}
		if _, err := asOfIssue(is, "o", "r", 1, at); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCacheRecords: a damaged resolution record or snapshot manifest is
// reported (and removed), never trusted, never a panic.
func FuzzCacheRecords(f *testing.F) {
	f.Add([]byte(`{"version":1,"trace_id":"abcd","refs":{},"remote":{"kind":"github","url":"https://github.com/a/b.git"},"commit":"` + strings.Repeat("a", 40) + `"}`))
	f.Add([]byte(`{"version":1,"kind":"pr","repo":"a/b","number":1,"files":{"pr.json":{"sha256":"` + strings.Repeat("0", 64) + `","size":2}}}`))
	f.Add([]byte(`{"version":1,"kind":"pr","files":{"../x":{"sha256":"zz"}}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w := newTestWorld(t, nil)
		p, _ := w.resolutionPath("abcd")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
		res, err := w.LoadResolution("abcd")
		if err == nil && res != nil && (res.Version != ResolutionVersion || res.TraceID != "abcd") {
			t.Fatalf("accepted %+v", res)
		}
		key := w.snapshotKey(KindPR, "a", "b", 1, time.Time{})
		os.MkdirAll(filepath.Dir(w.cache.path(key)), 0o755)
		os.WriteFile(w.cache.path(key), b, 0o644)
		s, err := w.loadSnapshot(key)
		if err == nil {
			for name := range s.Files {
				if !validSnapshotName(name) {
					t.Fatalf("accepted file name %q", name)
				}
			}
		}
	})
}
