#!/usr/bin/env python3
"""Write the GitHub fixture of the bundled example: pull request acme/widgets#42
as GitHub's REST API returns it (trimmed to the fields replay reads, shapes
unchanged), so that `replay world fetch --github-fixture` can build its
snapshot offline. The run reviewed it at 2025-11-25T10:00:00Z; the review
bot's own review and label came a minute later, and are cut from the
snapshot as later events.

    python3 testdata/example/github/generate.py

pr.diff is `git diff BASE HEAD` of ../widgets.bundle.
"""
import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLE = os.path.join(HERE, "..", "widgets.bundle")
BASE = "85b0f9af5fd0995f289449747d214535f8b9f7fd"
HEAD = "072bdd28f8409b602018042d087e7b7fa184dc79"
API = "https://api.github.com/repos/acme/widgets"
WEB = "https://github.com/acme/widgets"

ADA = {"login": "ada-dev", "id": 4201, "node_id": "U_kgDOAAAQaQ", "type": "User",
       "url": "https://api.github.com/users/ada-dev", "html_url": "https://github.com/ada-dev", "site_admin": False}
BOT = {"login": "acme-review[bot]", "id": 9901, "node_id": "BOT_kgDOAAAmrQ", "type": "Bot",
       "url": "https://api.github.com/users/acme-review%5Bbot%5D", "html_url": "https://github.com/apps/acme-review", "site_admin": False}
REPO = {"id": 7001, "node_id": "R_kgDOAAAbWQ", "name": "widgets", "full_name": "acme/widgets", "private": False,
        "owner": {"login": "acme", "id": 3001, "type": "Organization"}, "html_url": WEB, "url": API,
        "default_branch": "main", "clone_url": WEB + ".git"}
ENH = {"id": 11, "node_id": "LA_kwDOAAAbWc8AAAALAAA", "url": API + "/labels/enhancement", "name": "enhancement",
       "color": "a2eeef", "default": True, "description": "New feature or request"}
CHG = {"id": 12, "node_id": "LA_kwDOAAAbWc8AAAAMAAA", "url": API + "/labels/changes-requested", "name": "changes-requested",
       "color": "d93f0b", "default": False, "description": "A reviewer asked for changes"}
BODY = ("Adds `page_count(total, per_page=10)` so callers can show how many pages a list has.\n\n"
        "- new helper in `widgets/paginate.py`, exported from the package\n- a test for it\n")


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}).stdout


def write(name, value):
    with open(os.path.join(HERE, name), "w") as f:
        if isinstance(value, str):
            f.write(value)
        else:
            json.dump(value, f, indent=2, ensure_ascii=False)
            f.write("\n")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "widgets")
        git("clone", "-q", "--bare", BUNDLE, repo)
        diff = git("diff", BASE, HEAD, cwd=repo)
        numstat = [l.split("\t") for l in git("diff", "--numstat", BASE, HEAD, cwd=repo).splitlines()]
        blobs = dict(reversed(l.split("\t")[0].split()[2:3] + [l.split("\t")[1]]) for l in
                     git("ls-tree", "-r", HEAD, cwd=repo).splitlines())
        patches = {}
        cur = None
        for line in diff.splitlines(keepends=True):
            if line.startswith("diff --git "):
                cur = line.split(" b/", 1)[1].strip()
                patches[cur] = []
            elif cur and (patches[cur] or line.startswith("@@")):
                patches[cur].append(line)

    write("pr.diff", diff)
    additions = sum(int(a) for a, _, _ in numstat)
    deletions = sum(int(d) for _, d, _ in numstat)
    write("pr.json", {
        "url": API + "/pulls/42", "id": 190042, "node_id": "PR_kwDOAAAbWc4AAuZa", "html_url": WEB + "/pull/42",
        "diff_url": WEB + "/pull/42.diff", "patch_url": WEB + "/pull/42.patch", "issue_url": API + "/issues/42",
        "number": 42, "state": "open", "locked": False, "title": "Add page_count helper", "user": ADA, "body": BODY,
        "created_at": "2025-11-24T16:45:00Z", "updated_at": "2025-11-25T10:01:05Z", "closed_at": None, "merged_at": None,
        "merge_commit_sha": "5b2f0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c", "assignee": None, "assignees": [],
        "requested_reviewers": [], "labels": [ENH, CHG], "draft": False,
        "head": {"label": "acme:page-count", "ref": "page-count", "sha": HEAD, "user": REPO["owner"], "repo": REPO},
        "base": {"label": "acme:main", "ref": "main", "sha": BASE, "user": REPO["owner"], "repo": REPO},
        "author_association": "MEMBER", "merged": False, "mergeable": True, "comments": 2, "review_comments": 0,
        "commits": 1, "additions": additions, "deletions": deletions, "changed_files": len(numstat)})
    write("files.json", [{
        "sha": blobs[name], "filename": name, "status": "modified", "additions": int(a), "deletions": int(d),
        "changes": int(a) + int(d), "blob_url": f"{WEB}/blob/{HEAD}/{name}", "raw_url": f"{WEB}/raw/{HEAD}/{name}",
        "contents_url": f"{API}/contents/{name}?ref={HEAD}", "patch": "".join(patches[name]).rstrip("\n")}
        for a, d, name in numstat])
    author = {"name": "Ada Dev", "email": "ada@example.com", "date": "2025-11-24T16:30:00Z"}
    write("commits.json", [{
        "sha": HEAD, "node_id": "C_kwDOAAAbWdoAKDA3MmJkZDI4", "url": f"{API}/commits/{HEAD}", "html_url": f"{WEB}/commit/{HEAD}",
        "commit": {"author": author, "committer": author, "message": "Add page_count helper",
                   "tree": {"sha": "3d6f3d0f5e0b8f5e8a3c1c2d7b6e4f1a9c8b7d6e", "url": f"{API}/git/trees/3d6f3d0f5e0b8f5e8a3c1c2d7b6e4f1a9c8b7d6e"},
                   "comment_count": 0},
        "author": ADA, "committer": ADA, "parents": [{"sha": BASE, "url": f"{API}/commits/{BASE}"}]}])
    write("reviews.json", [{
        "id": 800001, "node_id": "PRR_kwDOAAAbWc4AMNSh", "user": BOT,
        "body": "page_count undercounts pages whenever total is not a multiple of per_page.",
        "state": "CHANGES_REQUESTED", "html_url": WEB + "/pull/42#pullrequestreview-800001",
        "pull_request_url": API + "/pulls/42", "submitted_at": "2025-11-25T10:01:04Z", "commit_id": HEAD,
        "author_association": "NONE"}])
    write("review_comments.json", [])
    write("comments.json", [
        {"id": 700001, "node_id": "IC_kwDOAAAbWc4AAqyh", "url": API + "/issues/comments/700001",
         "html_url": WEB + "/pull/42#issuecomment-700001", "issue_url": API + "/issues/42", "user": ADA,
         "body": "Ready for review. The helper mirrors paginate's per_page default.",
         "created_at": "2025-11-24T16:50:00Z", "updated_at": "2025-11-24T16:50:00Z", "author_association": "MEMBER"},
        {"id": 700002, "node_id": "IC_kwDOAAAbWc4AAqyi", "url": API + "/issues/comments/700002",
         "html_url": WEB + "/pull/42#issuecomment-700002", "issue_url": API + "/issues/42", "user": BOT,
         "body": "Review finished: changes requested (1 high finding).",
         "created_at": "2025-11-25T10:01:05Z", "updated_at": "2025-11-25T10:01:05Z", "author_association": "NONE"}])
    write("timeline.json", [
        {"id": 600001, "node_id": "LE_lADOAAAbWc4AAuZazwAAAAAAAJJh", "url": API + "/issues/events/600001", "actor": ADA,
         "event": "labeled", "created_at": "2025-11-24T16:45:01Z", "label": {"name": "enhancement", "color": "a2eeef"}},
        {"sha": HEAD, "node_id": "C_kwDOAAAbWdoAKDA3MmJkZDI4", "url": f"{API}/git/commits/{HEAD}", "html_url": f"{WEB}/commit/{HEAD}",
         "author": author, "committer": author, "message": "Add page_count helper", "event": "committed"},
        {"id": 700001, "url": API + "/issues/comments/700001", "actor": ADA, "user": ADA, "event": "commented",
         "created_at": "2025-11-24T16:50:00Z", "body": "Ready for review. The helper mirrors paginate's per_page default."},
        {"id": 800001, "node_id": "PRR_kwDOAAAbWc4AMNSh", "user": BOT, "event": "reviewed", "state": "changes_requested",
         "submitted_at": "2025-11-25T10:01:04Z", "body": "page_count undercounts pages whenever total is not a multiple of per_page."},
        {"id": 600002, "node_id": "LE_lADOAAAbWc4AAuZazwAAAAAAAJJi", "url": API + "/issues/events/600002", "actor": BOT,
         "event": "labeled", "created_at": "2025-11-25T10:01:05Z", "label": {"name": "changes-requested", "color": "d93f0b"}}])
    # GraphQL userContentEdits of the body: one version, the original.
    write("body_edits.json", [{"editedAt": "2025-11-24T16:45:00Z", "diff": BODY}])


if __name__ == "__main__":
    main()
