// Package world rebuilds the world a trace points to: the repository at the
// recorded commit, and the pull request or issue as it was when the run
// started. It turns a trace's pointers (repo, commit, branch, pr, issue,
// work item; see trace.Refs) into a cached, hermetic workspace and GitHub
// snapshot.
//
// # Use
//
//	w, _ := world.New(world.Config{CacheDir: dir, GitHubToken: token})
//	res, err := w.Fetch(ctx, world.TargetOf(summary), world.FetchOptions{})
//	rep, err := w.Workspace(ctx, res, tarWriter, world.TarOptions{})  // sandbox.Options.Workspace
//	snap, err := w.Snapshot(res)                                      // snap.WriteTar(w, world.SnapshotDir)
//
// Fetch resolves every ref with its provenance (recorded in the trace,
// inferred and how, or given by flag), fetches what is missing and records
// the resolution under the trace's id; LoadResolution reads it back (replay
// inspect shows its refs). A second Fetch of the same trace needs no
// network; with Config.Offline it is an error (ErrOffline) when something is
// not cached.
//
// # Commit inference
//
// When the trace records no commit (and --commit gives none):
//   - a pull request run: the head_sha of the agent's result, else the
//     pull request's head as of the run's start: the last of its commits
//     (GitHub's list, in order) committed at or before the start;
//   - a branch and a time (Claude Code's gitBranch): the branch's tip as of
//     the start, the first commit on its first-parent chain committed at or
//     before it;
//   - an issue run (or none of these): the default branch as of the start.
//
// Commit dates stand in for push times, which git does not keep: a commit
// pushed later than it was made can be taken for one that was there.
//
// # Repository
//
// Each remote gets a bare mirror in the cache, fetched with go-git: https
// (GITHUB_TOKEN for the GitHub host only), ssh, git://, local repositories
// and file:// URLs (through git-upload-pack, which must be on PATH), and git
// bundle files. A missing commit is fetched alone, shallow, when the server
// allows fetching by SHA; otherwise every branch and tag is fetched (and a
// GitHub pull request's head ref). Nothing is pruned, so commits that were
// force-pushed away stay available once fetched.
//
// WriteTar streams a commit's tree as a tar without a checkout: modes (0644,
// 0755), symlinks as symlinks (never followed, wherever they point),
// directories, and an empty directory for each submodule (reported, not
// materialized). Entries whose names could escape the workspace (".",
// "..", ".git", a slash or NUL inside) are left out and reported. Memory
// stays bounded whatever the size of the tree: a few objects are read
// ahead by Config.Workers goroutines; large ones are streamed.
//
// # GitHub snapshot
//
// The pull request (title, body, author, labels, state, base and head refs
// and SHAs, changed files, unified diff, commits, reviews, review comments,
// conversation comments) or issue (title, body, labels, state, comments) as
// of the run's start, through the REST API (github.com/google/go-github):
// pagination followed, rate limits (403/429 with reset or Retry-After
// headers) waited out up to Config.MaxRateLimitWait. What was created after
// the start is left out; later renames and label changes are undone from
// the timeline; a body edited later is taken from its edit history (GitHub's
// GraphQL userContentEdits, which needs a token; without one the snapshot
// keeps the current body and says so). When the pull request's head moved
// after the run, its diff and files are computed from git for the head as
// of the run. The snapshot's files are listed under Snapshot; they are
// offered as data and as a tar of their own (Snapshot.WriteTar), not inside
// the workspace tar, where they would show in the agent's ls, globs and git
// status.
//
// A GitHub fixture directory (FetchOptions.GitHubFixture, --github-fixture)
// stands in for the API, with REST responses saved as files: pr.json (GET
// /repos/{o}/{r}/pulls/{n}), pr.diff (the same with Accept:
// application/vnd.github.diff), files.json, commits.json, reviews.json,
// review_comments.json (the pulls/{n}/... listings, all pages in one
// array), comments.json (issues/{n}/comments), timeline.json
// (issues/{n}/timeline), issue.json (issues/{n}, for issue runs) and
// body_edits.json (the userContentEdits nodes: [{"editedAt", "diff"}]).
// Only pr.json (or issue.json) is required. testdata/example/github holds
// the bundled example's.
//
// # Cache
//
// Under Config.CacheDir ($REPLAY_CACHE):
//
//	git/<name>-<hash>.git/   bare mirror of one remote, with replay-state.json
//	                         (its packs as last verified, default branch,
//	                         fetch times)
//	git/<name>-<hash>.lock   its lock: shared to read, exclusive to fetch
//	github/objects/<aa>/<sha256>   snapshot file contents, by SHA-256
//	github/snapshots/<host>/<owner>/<name>/<pr|issue>-<n>@<as-of>.json
//	                         a snapshot's manifest: file name -> hash
//	resolved/<trace-id>.json what Fetch resolved for a trace
//	tmp/                     entries being written
//
// Every entry is written to a temporary name and renamed into place when
// complete (a new mirror is cloned into a temporary directory), so a full
// disk or a crash never leaves a half-written entry. Entries are checked
// when read: snapshot files against their hash, mirrors' packs against the
// sizes and times recorded when they were verified (on a mismatch, against
// their SHA-1 checksums). A damaged entry is removed and fetched again.
// Processes share a cache safely: mirrors are guarded by file locks
// (gofrs/flock), other entries are immutable or replaced by rename.
package world
