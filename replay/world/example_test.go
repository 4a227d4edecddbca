package world

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v93/github"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/importers"
)

const (
	exampleDir    = "../../testdata/example"
	exampleBase   = "85b0f9af5fd0995f289449747d214535f8b9f7fd"
	exampleHead   = "072bdd28f8409b602018042d087e7b7fa184dc79"
	exampleTrace  = exampleDir + "/run"
	exampleBundle = exampleDir + "/widgets.bundle"
	exampleGitHub = exampleDir + "/github"
)

// summaryOf imports a trace into a Summarizer, as `replay inspect` does.
func summaryOf(t *testing.T, path string) trace.Summary {
	t.Helper()
	src, err := importers.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := importers.Detect(src, "")
	if err != nil {
		t.Fatal(err)
	}
	z := &trace.Summarizer{}
	if err := importers.ImportSource(context.Background(), f, src, trace.Options{}, z); err != nil {
		t.Fatal(err)
	}
	s := z.Summary()
	s.ID = "5ef49dd67a62d9805e29f09e35a8dad7"
	return s
}

// TestExampleOffline rebuilds the bundled example's world from local files
// only (the bundle and the GitHub fixture), then again with --offline from
// the cache alone.
func TestExampleOffline(t *testing.T) {
	requireGit(t)
	sum := summaryOf(t, exampleTrace)
	w := newTestWorld(t, func(c *Config) { c.Offline = true })
	ctx := context.Background()
	res, err := w.Fetch(ctx, TargetOf(sum), FetchOptions{Repo: exampleBundle, GitHubFixture: exampleGitHub})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != exampleHead || res.Remote.Kind != RemoteBundle {
		t.Errorf("commit %s from %+v, want %s from the bundle", res.Commit, res.Remote, exampleHead)
	}
	wantRefs := map[string]trace.Ref{
		"repo":        {Value: res.Remote.URL, Provenance: trace.Flag, From: "--repo"},
		"work_item":   {Value: "acme/widgets#42", Provenance: trace.Recorded, From: "fullsend.work_item_id"},
		"pr":          {Value: "42", Provenance: trace.Recorded, From: "review-result.json pr_number"},
		"commit":      {Value: exampleHead, Provenance: trace.Recorded, From: "review-result.json head_sha"},
		"base_commit": {Value: exampleBase, Provenance: trace.Inferred, From: "base of pull request #42"},
		"branch":      {Value: "page-count", Provenance: trace.Recorded, From: "gitBranch"},
		"cwd":         {Value: "/sandbox/workspace/widgets", Provenance: trace.Recorded, From: "cwd"},
	}
	if !cmp.Equal(res.Refs, wantRefs) {
		t.Errorf("refs (-got +want):\n%s", cmp.Diff(res.Refs, wantRefs))
	}

	check := func(res *Resolution) {
		t.Helper()
		snap, err := w.Snapshot(res)
		if err != nil {
			t.Fatal(err)
		}
		wantDiff, _ := os.ReadFile(filepath.Join(exampleGitHub, "pr.diff"))
		if d, _ := snap.File("pr.diff"); !bytes.Equal(d, wantDiff) {
			t.Errorf("pr.diff = %q, want the fixture's", d)
		}
		var pr github.PullRequest
		b, _ := snap.File("pr.json")
		if err := json.Unmarshal(b, &pr); err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, l := range pr.Labels {
			labels = append(labels, l.GetName())
		}
		// The bot's label, review and comment came after the run started.
		if pr.GetTitle() != "Add page_count helper" || pr.GetUser().GetLogin() != "ada-dev" || !cmp.Equal(labels, []string{"enhancement"}) ||
			pr.GetHead().GetSHA() != exampleHead || pr.GetBase().GetSHA() != exampleBase || pr.GetState() != "open" {
			t.Errorf("pr.json: title %q, author %q, labels %q, head %s, base %s, state %s", pr.GetTitle(), pr.GetUser().GetLogin(), labels,
				pr.GetHead().GetSHA(), pr.GetBase().GetSHA(), pr.GetState())
		}
		for name, want := range map[string]int{"reviews.json": 0, "comments.json": 1, "files.json": 3, "commits.json": 1} {
			var v []json.RawMessage
			b, _ := snap.File(name)
			if err := json.Unmarshal(b, &v); err != nil || len(v) != want {
				t.Errorf("%s: %d entries (%v), want %d", name, len(v), err, want)
			}
		}
		if len(snap.Warnings) != 0 {
			t.Errorf("warnings: %q", snap.Warnings)
		}
		var buf bytes.Buffer
		rep, err := w.Workspace(ctx, res, &buf, TarOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range readTar(t, &buf) {
			names = append(names, e.Name)
		}
		want := []string{"README.md", "tests/", "tests/test_paginate.py", "widgets/", "widgets/__init__.py", "widgets/paginate.py"}
		if !cmp.Equal(names, want) || rep.Files != 4 {
			t.Errorf("workspace: %q (%d files)", names, rep.Files)
		}
	}
	check(res)

	// Again, offline, without flags: the recorded resolution and the cache
	// are enough.
	again, err := w.Fetch(ctx, TargetOf(sum), FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Commit != exampleHead || again.Remote != res.Remote || again.Snapshot != res.Snapshot {
		t.Errorf("second fetch resolved %s from %+v (snapshot %s)", again.Commit, again.Remote, again.Snapshot)
	}
	check(again)
	loaded, err := LoadResolution(w.CacheDir(), sum.ID)
	if err != nil || loaded == nil || !cmp.Equal(loaded.Refs, wantRefs) {
		t.Errorf("LoadResolution: %v, refs %v", err, loaded)
	}
}

// trySummary is summaryOf for files that may not be traces.
func trySummary(path string) (trace.Summary, bool) {
	src, err := importers.Open(path)
	if err != nil {
		return trace.Summary{}, false
	}
	f, err := importers.Detect(src, "")
	if err != nil {
		return trace.Summary{}, false
	}
	z := &trace.Summarizer{}
	if err := importers.ImportSource(context.Background(), f, src, trace.Options{Lenient: true}, z); err != nil {
		return trace.Summary{}, false
	}
	s := z.Summary()
	s.ID = "0123456789abcdef0123456789abcdef"
	return s, true
}

// TestWorkspaceReader reads the example's workspace through the pipe the
// sandbox consumes, under the recorded cwd's last element.
func TestWorkspaceReader(t *testing.T) {
	requireGit(t)
	w := newTestWorld(t, func(c *Config) { c.Offline = true })
	res, err := w.Fetch(context.Background(), TargetOf(summaryOf(t, exampleTrace)), FetchOptions{Repo: exampleBundle, GitHubFixture: exampleGitHub})
	if err != nil {
		t.Fatal(err)
	}
	s := w.WorkspaceReader(context.Background(), res, TarOptions{Prefix: "widgets"})
	entries := readTar(t, s)
	s.Close()
	rep, err := s.Report()
	if err != nil || rep.Files != 4 || len(entries) != 7 || entries[0].Name != "widgets/" {
		t.Errorf("report %+v, %v; %d entries, first %q", rep, err, len(entries), entries[0].Name)
	}
	// Closed unread, the writer stops (it would block on the pipe forever
	// otherwise, and this test time out) with the pipe's error.
	s = w.WorkspaceReader(context.Background(), res, TarOptions{})
	s.Close()
	if _, err := s.Report(); err == nil || !strings.Contains(err.Error(), "closed pipe") {
		t.Errorf("closed unread: %v, want a closed-pipe error", err)
	}
}
