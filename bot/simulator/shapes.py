"""JSON bodies shaped like GitHub's REST answers, built from the simulator's records.

One function per GitHub object. The faithfulness test parses each of them with githubkit's
typed models, so a field GitHub always sends is always here, even when Shunter ignores it.
Webhook payloads reuse these shapes (see ``bot.simulator.events``).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import pygit2

from bot.simulator import gitstore
from bot.simulator.gitstore import FileChange
from bot.simulator.state import (
    CheckRun,
    CheckSuite,
    Delivery,
    Installation,
    IssueComment,
    Label,
    Pull,
    Reaction,
    Repo,
    Review,
    ReviewComment,
    World,
)

Json = dict[str, Any]


def iso(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def node_id(prefix: str, ident: int | str) -> str:
    return prefix + "_" + base64.b64encode(f"{prefix}{ident}".encode()).decode().rstrip("=")


class Shapes:
    """Builds bodies with URLs pointing at this simulator (``api`` root, ``web`` root)."""

    def __init__(self, world: World, base_url: str) -> None:
        self.world = world
        self.api = base_url.rstrip("/")
        self.web = self.api

    # -- people and apps -----------------------------------------------------------------

    def user(self, login: str) -> Json:
        user = self.world.user(login)
        api = f"{self.api}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id("U", user.id),
            "avatar_url": f"{self.web}/avatars/{user.login}",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.web}/{user.login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def public_user(self, login: str) -> Json:
        """``GET /users/{username}``: the user object plus the profile GitHub adds there."""
        user = self.world.user(login)
        when = iso(self.world.clock.now())
        profile = dict.fromkeys(("company", "location", "hireable", "bio"), None)
        return {
            **self.user(login),
            **profile,
            "name": user.name,
            "email": user.email,
            "blog": "",
            "twitter_username": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": when,
            "updated_at": when,
        }

    def app(self) -> Json:
        app = self.world.app
        assert app is not None
        return {
            "id": app.id,
            "slug": app.slug,
            "client_id": app.client_id,
            "node_id": node_id("A", app.id),
            "owner": self.user(app.owner),
            "name": app.name,
            "description": "Shunter, simulated",
            "external_url": f"{self.web}/apps/{app.slug}",
            "html_url": f"{self.web}/apps/{app.slug}",
            "created_at": iso(app.created_at),
            "updated_at": iso(app.created_at),
            "permissions": dict(app.permissions),
            "events": list(app.events),
            "installations_count": len(self.world.installations),
        }

    def app_for(self, app_id: int) -> Json:
        """The App owning a check run or suite: Shunter's, or GitHub Actions for CI."""
        assert self.world.app is not None
        if app_id == self.world.app.id:
            return self.app()
        return {
            "id": app_id,
            "slug": "github-actions",
            "client_id": "Iv1.actions",
            "node_id": node_id("A", app_id),
            "owner": self.user("github"),
            "name": "GitHub Actions",
            "description": "Automate your workflow from idea to production",
            "external_url": "https://help.github.com/en/actions",
            "html_url": f"{self.web}/apps/github-actions",
            "created_at": "2018-07-30T09:30:17Z",
            "updated_at": "2024-04-10T20:33:16Z",
            "permissions": {"actions": "write", "checks": "write", "contents": "write"},
            "events": ["check_run", "check_suite", "pull_request", "push", "workflow_dispatch"],
        }

    def installation(self, inst: Installation) -> Json:
        app = self.world.app
        assert app is not None
        account = self.world.user(inst.account)
        return {
            "id": inst.id,
            "account": self.user(inst.account),
            "repository_selection": inst.repository_selection,
            "access_tokens_url": f"{self.api}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.web}/settings/installations/{inst.id}",
            "app_id": app.id,
            "app_slug": app.slug,
            "target_id": account.id,
            "target_type": account.type if account.type != "Bot" else "User",
            "permissions": dict(inst.permissions),
            "events": list(inst.events),
            "created_at": iso(inst.created_at),
            "updated_at": iso(inst.created_at),
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": self.user(inst.suspended_by) if inst.suspended_by else None,
            "suspended_at": iso(inst.suspended_at) if inst.suspended_at else None,
        }

    # -- repositories --------------------------------------------------------------------

    def repo_urls(self, repo: Repo) -> Json:
        a = f"{self.api}/repos/{repo.full_name}"
        return {
            "url": a,
            "html_url": f"{self.web}/{repo.full_name}",
            "archive_url": f"{a}/{{archive_format}}{{/ref}}",
            "assignees_url": f"{a}/assignees{{/user}}",
            "blobs_url": f"{a}/git/blobs{{/sha}}",
            "branches_url": f"{a}/branches{{/branch}}",
            "collaborators_url": f"{a}/collaborators{{/collaborator}}",
            "comments_url": f"{a}/comments{{/number}}",
            "commits_url": f"{a}/commits{{/sha}}",
            "compare_url": f"{a}/compare/{{base}}...{{head}}",
            "contents_url": f"{a}/contents/{{+path}}",
            "contributors_url": f"{a}/contributors",
            "deployments_url": f"{a}/deployments",
            "downloads_url": f"{a}/downloads",
            "events_url": f"{a}/events",
            "forks_url": f"{a}/forks",
            "git_commits_url": f"{a}/git/commits{{/sha}}",
            "git_refs_url": f"{a}/git/refs{{/sha}}",
            "git_tags_url": f"{a}/git/tags{{/sha}}",
            "issue_comment_url": f"{a}/issues/comments{{/number}}",
            "issue_events_url": f"{a}/issues/events{{/number}}",
            "issues_url": f"{a}/issues{{/number}}",
            "keys_url": f"{a}/keys{{/key_id}}",
            "labels_url": f"{a}/labels{{/name}}",
            "languages_url": f"{a}/languages",
            "merges_url": f"{a}/merges",
            "milestones_url": f"{a}/milestones{{/number}}",
            "notifications_url": f"{a}/notifications{{?since,all,participating}}",
            "pulls_url": f"{a}/pulls{{/number}}",
            "releases_url": f"{a}/releases{{/id}}",
            "stargazers_url": f"{a}/stargazers",
            "statuses_url": f"{a}/statuses/{{sha}}",
            "subscribers_url": f"{a}/subscribers",
            "subscription_url": f"{a}/subscription",
            "tags_url": f"{a}/tags",
            "teams_url": f"{a}/teams",
            "trees_url": f"{a}/git/trees{{/sha}}",
            "hooks_url": f"{a}/hooks",
        }

    def clone_url(self, repo: Repo) -> str:
        return f"{self.web}/{repo.full_name}.git"

    def repo(self, repo: Repo, *, full: bool = False) -> Json:
        open_count = sum(1 for p in self.world.pulls_of(repo.full_name) if p.state == "open")
        body: Json = {
            "id": repo.id,
            "node_id": node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.user(repo.owner),
            "private": repo.private,
            "description": repo.description,
            "fork": repo.fork_of is not None,
            **self.repo_urls(repo),
            "git_url": f"git://{self.web.split('://', 1)[-1]}/{repo.full_name}.git",
            "ssh_url": f"git@simulator:{repo.full_name}.git",
            "clone_url": self.clone_url(repo),
            "svn_url": f"{self.web}/{repo.full_name}",
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 1,
            "default_branch": repo.default_branch,
            "open_issues_count": open_count,
            "open_issues": open_count,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": repo.archived,
            "disabled": False,
            "visibility": "private" if repo.private else "public",
            "license": None,
            "allow_forking": True,
            "web_commit_signoff_required": False,
            "pushed_at": iso(repo.pushed_at),
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.pushed_at),
        }
        if full:
            body["subscribers_count"] = 0
            body["network_count"] = 0
            body["allow_merge_commit"] = True
            body["allow_squash_merge"] = True
            body["allow_rebase_merge"] = True
            body["delete_branch_on_merge"] = False
            if repo.fork_of and (parent := self.world.repo(repo.fork_of)) is not None:
                body["parent"] = self.repo(parent)
                body["source"] = self.repo(parent)
        return body

    def label(self, repo: Repo, label: Label) -> Json:
        return {
            "id": label.id,
            "node_id": node_id("LA", label.id),
            "url": f"{self.api}/repos/{repo.full_name}/labels/{label.name}",
            "name": label.name,
            "description": label.description,
            "color": label.color,
            "default": False,
            "archived_at": None,
            "archived_by": None,
        }

    # -- pull requests -------------------------------------------------------------------

    def _branch_end(self, repo_name: str, ref: str, sha: str) -> Json:
        repo = self.world.repo(repo_name)
        assert repo is not None
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repo(repo),
        }

    def _pull_links(self, pull: Pull) -> tuple[Json, Json]:
        a = f"{self.api}/repos/{pull.repo}"
        html = f"{self.web}/{pull.repo}/pull/{pull.number}"
        urls = {
            "url": f"{a}/pulls/{pull.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{a}/issues/{pull.number}",
            "commits_url": f"{a}/pulls/{pull.number}/commits",
            "review_comments_url": f"{a}/pulls/{pull.number}/comments",
            "review_comment_url": f"{a}/pulls/comments{{/number}}",
            "comments_url": f"{a}/issues/{pull.number}/comments",
            "statuses_url": f"{a}/statuses/{pull.head_sha}",
        }
        links = {
            "self": {"href": urls["url"]},
            "html": {"href": html},
            "issue": {"href": urls["issue_url"]},
            "comments": {"href": urls["comments_url"]},
            "review_comments": {"href": urls["review_comments_url"]},
            "review_comment": {"href": urls["review_comment_url"]},
            "commits": {"href": urls["commits_url"]},
            "statuses": {"href": urls["statuses_url"]},
        }
        return urls, links

    def author_association(self, repo_name: str, login: str) -> str:
        repo = self.world.repo(repo_name)
        if repo is None:
            return "NONE"
        if login.lower() == repo.owner.lower():
            return "OWNER"
        if repo.permissions.get(login.lower(), "none") in ("write", "maintain", "admin"):
            return "COLLABORATOR"
        return "CONTRIBUTOR"

    def pull_simple(self, pull: Pull) -> Json:
        repo = self.world.repo(pull.repo)
        assert repo is not None
        urls, links = self._pull_links(pull)
        return {
            **urls,
            "id": pull.id,
            "node_id": node_id("PR", pull.id),
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user(pull.user),
            "body": pull.body,
            "labels": [self.label(repo, repo.labels[n.lower()]) for n in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(pull.created_at),
            "updated_at": iso(pull.updated_at),
            "closed_at": iso(pull.closed_at),
            "merged_at": iso(pull.merged_at),
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._branch_end(pull.head_repo, pull.head_ref, pull.head_sha),
            "base": self._branch_end(pull.repo, pull.base_ref, pull.base_sha),
            "_links": links,
            "author_association": self.author_association(pull.repo, pull.user),
            "auto_merge": None,
            "draft": pull.draft,
        }

    def pull(
        self,
        pull: Pull,
        stats: tuple[int, int, int, int],
        counts: tuple[int, int],
        mergeable: bool | None = True,
    ) -> Json:
        """``stats`` = (commits, additions, deletions, changed_files); ``counts`` = comments;
        ``mergeable`` = whether head merges into base without conflicts."""
        body = self.pull_simple(pull)
        commits, additions, deletions, changed = stats
        body.update(
            {
                "merged": pull.merged,
                "mergeable": None if pull.state == "closed" else mergeable,
                "rebaseable": None if pull.state == "closed" else mergeable,
                "mergeable_state": ("unknown" if pull.state != "open" else "clean" if mergeable else "dirty"),
                "merged_by": None,
                "comments": counts[0],
                "review_comments": counts[1],
                "maintainer_can_modify": pull.maintainer_can_modify,
                "commits": commits,
                "additions": additions,
                "deletions": deletions,
                "changed_files": changed,
            }
        )
        return body

    def pull_minimal(self, pull: Pull) -> Json:
        def end(repo_name: str, ref: str, sha: str) -> Json:
            repo = self.world.repo(repo_name)
            assert repo is not None
            return {
                "ref": ref,
                "sha": sha,
                "repo": {"id": repo.id, "url": self.repo_urls(repo)["url"], "name": repo.name},
            }

        return {
            "id": pull.id,
            "number": pull.number,
            "url": f"{self.api}/repos/{pull.repo}/pulls/{pull.number}",
            "head": end(pull.head_repo, pull.head_ref, pull.head_sha),
            "base": end(pull.repo, pull.base_ref, pull.base_sha),
        }

    def diff_entry(self, repo: Repo, head_sha: str, change: FileChange) -> Json:
        body: Json = {
            "sha": change.sha,
            "filename": change.filename,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.additions + change.deletions,
            "blob_url": f"{self.web}/{repo.full_name}/blob/{head_sha}/{change.filename}",
            "raw_url": f"{self.web}/{repo.full_name}/raw/{head_sha}/{change.filename}",
            "contents_url": (f"{self.api}/repos/{repo.full_name}/contents/{change.filename}?ref={head_sha}"),
            "patch": change.patch,
        }
        if change.previous_filename:
            body["previous_filename"] = change.previous_filename
        return body

    def review(self, review: Review) -> Json:
        pull_url = f"{self.api}/repos/{review.repo}/pulls/{review.number}"
        html = f"{self.web}/{review.repo}/pull/{review.number}#pullrequestreview-{review.id}"
        return {
            "id": review.id,
            "node_id": node_id("PRR", review.id),
            "user": self.user(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pull_url,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "submitted_at": iso(review.submitted_at),
            "commit_id": review.commit_id,
            "author_association": self.author_association(review.repo, review.user),
        }

    def review_comment(self, c: ReviewComment) -> Json:
        url = f"{self.api}/repos/{c.repo}/pulls/comments/{c.id}"
        pull_url = f"{self.api}/repos/{c.repo}/pulls/{c.number}"
        html = f"{self.web}/{c.repo}/pull/{c.number}#discussion_r{c.id}"
        return {
            "url": url,
            "pull_request_review_id": c.review_id,
            "id": c.id,
            "node_id": node_id("PRRC", c.id),
            "diff_hunk": c.diff_hunk,
            "path": c.path,
            "position": c.position,
            "original_position": c.position,
            "commit_id": c.commit_id,
            "original_commit_id": c.commit_id,
            "user": self.user(c.user),
            "body": c.body,
            "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at or c.created_at),
            "html_url": html,
            "pull_request_url": pull_url,
            "author_association": self.author_association(c.repo, c.user),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "pull_request": {"href": pull_url},
            },
            "start_line": c.start_line,
            "original_start_line": c.start_line,
            "start_side": c.start_side,
            "line": c.line,
            "original_line": c.line,
            "side": c.side,
            "subject_type": "line",
            "reactions": self.reaction_rollup(url, []),
        }

    # -- issues --------------------------------------------------------------------------

    def reaction_rollup(self, url: str, reactions: list[Reaction]) -> Json:
        counts = {k: 0 for k in ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")}
        for r in reactions:
            counts[r.content] += 1
        return {"url": f"{url}/reactions", "total_count": len(reactions), **counts}

    def issue_comment(self, c: IssueComment) -> Json:
        url = f"{self.api}/repos/{c.repo}/issues/comments/{c.id}"
        return {
            "id": c.id,
            "node_id": node_id("IC", c.id),
            "url": url,
            "html_url": f"{self.web}/{c.repo}/pull/{c.number}#issuecomment-{c.id}",
            "body": c.body,
            "user": self.user(c.user),
            "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at),
            "issue_url": f"{self.api}/repos/{c.repo}/issues/{c.number}",
            "author_association": self.author_association(c.repo, c.user),
            "reactions": self.reaction_rollup(url, c.reactions),
            "performed_via_github_app": None,
        }

    def reaction(self, r: Reaction) -> Json:
        return {
            "id": r.id,
            "node_id": node_id("REA", r.id),
            "user": self.user(r.user),
            "content": r.content,
            "created_at": iso(r.created_at),
        }

    # -- checks --------------------------------------------------------------------------

    def _pulls_of_checks(self, repo: str, head_sha: str) -> list[Json]:
        """A check's ``pull_requests``: the open PRs on that commit, but, as on github.com,
        never one whose head branch is in a fork ("the pull_requests array will be empty")."""
        return [
            self.pull_minimal(p)
            for p in self.world.pulls_of(repo)
            if p.head_sha == head_sha and p.state == "open" and p.head_repo.lower() == repo.lower()
        ]

    def check_run(self, run: CheckRun) -> Json:
        url = f"{self.api}/repos/{run.repo}/check-runs/{run.id}"
        pulls = self._pulls_of_checks(run.repo, run.head_sha)
        return {
            "id": run.id,
            "head_sha": run.head_sha,
            "node_id": node_id("CR", run.id),
            "external_id": run.external_id or "",
            "url": url,
            "html_url": f"{self.web}/{run.repo}/runs/{run.id}",
            "details_url": run.details_url or f"{self.web}/{run.repo}/runs/{run.id}",
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": iso(run.started_at),
            "completed_at": iso(run.completed_at),
            "output": {
                "title": run.title,
                "summary": run.summary,
                "text": run.text,
                "annotations_count": len(run.annotations),
                "annotations_url": f"{url}/annotations",
            },
            "name": run.name,
            "check_suite": {"id": run.suite_id},
            "app": self.app_for(run.app_id),
            "pull_requests": pulls,
            "actions": [dict(a) for a in run.actions] if run.actions else None,
        }

    def annotation(self, repo: str, head_sha: str, a: dict[str, Any]) -> Json:
        return {
            "path": a["path"],
            "start_line": a["start_line"],
            "end_line": a["end_line"],
            "start_column": a.get("start_column"),
            "end_column": a.get("end_column"),
            "annotation_level": a.get("annotation_level"),
            "title": a.get("title"),
            "message": a.get("message"),
            "raw_details": a.get("raw_details"),
            "blob_href": f"{self.web}/{repo}/blob/{head_sha}/{a['path']}",
        }

    def check_suite(self, suite: CheckSuite) -> Json:
        repo = self.world.repo(suite.repo)
        assert repo is not None
        runs = [r for r in self.world.check_runs.values() if r.suite_id == suite.id]
        commit = repo.git.get(suite.head_sha)
        pulls = self._pulls_of_checks(suite.repo, suite.head_sha)
        return {
            "id": suite.id,
            "node_id": node_id("CS", suite.id),
            "head_branch": suite.head_branch,
            "head_sha": suite.head_sha,
            "status": suite.status,
            "conclusion": suite.conclusion,
            "url": f"{self.api}/repos/{suite.repo}/check-suites/{suite.id}",
            "before": None,
            "after": suite.head_sha,
            "pull_requests": pulls,
            "app": self.app_for(suite.app_id),
            "repository": self.repo(repo),
            "created_at": iso(suite.created_at),
            "updated_at": iso(suite.updated_at),
            "head_commit": self.simple_commit(commit) if commit is not None else None,
            "latest_check_runs_count": len(runs),
            "check_runs_url": f"{self.api}/repos/{suite.repo}/check-suites/{suite.id}/check-runs",
            "rerequestable": True,
            "runs_rerequestable": True,
        }

    def simple_commit(self, commit: Any) -> Json:
        return {
            "id": str(commit.id),
            "tree_id": str(commit.tree_id),
            "message": commit.message,
            "timestamp": _commit_time(commit.committer),
            "author": {"name": commit.author.name, "email": commit.author.email},
            "committer": {"name": commit.committer.name, "email": commit.committer.email},
        }

    # -- git data ------------------------------------------------------------------------

    def git_commit(self, repo: Repo, commit: Any, *, verified: bool) -> Json:
        a = f"{self.api}/repos/{repo.full_name}"
        sha = str(commit.id)
        return {
            "sha": sha,
            "node_id": node_id("C", sha),
            "url": f"{a}/git/commits/{sha}",
            "html_url": f"{self.web}/{repo.full_name}/commit/{sha}",
            "author": {
                "name": commit.author.name,
                "email": commit.author.email,
                "date": _commit_time(commit.author),
            },
            "committer": {
                "name": commit.committer.name,
                "email": commit.committer.email,
                "date": _commit_time(commit.committer),
            },
            "message": commit.message,
            "tree": {"sha": str(commit.tree_id), "url": f"{a}/git/trees/{commit.tree_id}"},
            "parents": [
                {
                    "sha": str(p),
                    "url": f"{a}/git/commits/{p}",
                    "html_url": f"{self.web}/{repo.full_name}/commit/{p}",
                }
                for p in commit.parent_ids
            ],
            "verification": {
                "verified": verified,
                "reason": "valid" if verified else "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": iso(self.world.clock.now()) if verified else None,
            },
        }

    def git_tree(self, repo: Repo, tree: Any, entries: list[tuple[str, Any]]) -> Json:
        a = f"{self.api}/repos/{repo.full_name}"
        items = []
        for path, obj in entries:
            kind = obj.type_str
            item: Json = {
                "path": path,
                "mode": f"{obj.filemode:06o}",
                "type": kind,
                "sha": str(obj.id),
                "url": f"{a}/git/{'trees' if kind == 'tree' else 'blobs'}/{obj.id}",
            }
            if kind == "blob":
                item["size"] = gitstore.lookup(repo.git, obj.id, pygit2.Blob).size
            items.append(item)
        return {
            "sha": str(tree.id),
            "url": f"{a}/git/trees/{tree.id}",
            "tree": items,
            "truncated": False,
        }

    def git_ref(self, repo: Repo, ref: str, sha: str) -> Json:
        a = f"{self.api}/repos/{repo.full_name}"
        return {
            "ref": ref,
            "node_id": node_id("REF", f"{repo.id}:{ref}"),
            "url": f"{a}/git/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{a}/git/commits/{sha}"},
        }

    def blob(self, repo: Repo, blob: Any) -> Json:
        sha = str(blob.id)
        return {
            "sha": sha,
            "node_id": node_id("B", sha),
            "url": f"{self.api}/repos/{repo.full_name}/git/blobs/{sha}",
            "size": blob.size,
            "encoding": "base64",
            "content": _b64_lines(blob.data),
        }

    def content_file(self, repo: Repo, path: str, blob: Any, ref: str) -> Json:
        a = f"{self.api}/repos/{repo.full_name}"
        url = f"{a}/contents/{path}?ref={ref}"
        git_url = f"{a}/git/blobs/{blob.id}"
        html = f"{self.web}/{repo.full_name}/blob/{ref}/{path}"
        return {
            "type": "file",
            "encoding": "base64",
            "size": blob.size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": _b64_lines(blob.data),
            "sha": str(blob.id),
            "url": url,
            "git_url": git_url,
            "html_url": html,
            "download_url": f"{self.web}/{repo.full_name}/raw/{ref}/{path}",
            "_links": {"git": git_url, "html": html, "self": url},
        }

    def content_entry(self, repo: Repo, path: str, obj: Any, ref: str) -> Json:
        a = f"{self.api}/repos/{repo.full_name}"
        kind = "dir" if obj.type_str == "tree" else "file"
        url = f"{a}/contents/{path}?ref={ref}"
        git_url = f"{a}/git/{'trees' if kind == 'dir' else 'blobs'}/{obj.id}"
        html = f"{self.web}/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
        return {
            "type": kind,
            "size": 0 if kind == "dir" else gitstore.lookup(repo.git, obj.id, pygit2.Blob).size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": str(obj.id),
            "url": url,
            "git_url": git_url,
            "html_url": html,
            "download_url": None if kind == "dir" else f"{self.web}/{repo.full_name}/raw/{ref}/{path}",
            "_links": {"git": git_url, "html": html, "self": url},
        }

    # -- deliveries ----------------------------------------------------------------------

    def delivery_item(self, d: Delivery) -> Json:
        return {
            "id": d.id,
            "guid": d.guid,
            "delivered_at": iso(d.delivered_at),
            "redelivery": d.redelivery,
            "duration": d.duration,
            "status": d.status,
            "status_code": d.status_code,
            "event": d.event,
            "action": d.action,
            "installation_id": d.installation_id,
            "repository_id": d.repository_id,
            "throttled_at": None,
        }

    def delivery(self, d: Delivery) -> Json:
        return {
            **self.delivery_item(d),
            "url": d.url,
            "request": {"headers": dict(d.request_headers), "payload": d.payload},
            "response": {"headers": dict(d.response_headers), "payload": d.response_body},
        }


def _commit_time(sig: Any) -> str:
    from datetime import UTC, timedelta, timezone

    tz = timezone(timedelta(minutes=sig.offset))
    when = datetime.fromtimestamp(sig.time, tz).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64_lines(data: bytes) -> str:
    """GitHub wraps base64 content at 60 characters per line."""
    text = base64.b64encode(data).decode()
    return "\n".join(text[i : i + 60] for i in range(0, len(text), 60)) + "\n"
