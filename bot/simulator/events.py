"""Webhook payloads shaped like GitHub's, one builder per event.

Each builder returns ``(event, payload)``; the dispatcher in ``bot.simulator.webhooks`` signs
and sends it. Payloads embed the same objects the REST API serves (``Shapes``), plus the
``installation`` stub GitHub adds for App deliveries.
"""

from __future__ import annotations

from typing import Any

from bot.simulator.gitstore import commit_file_lists
from bot.simulator.shapes import Json, Shapes, iso, node_id
from bot.simulator.state import (
    CheckRun,
    CheckSuite,
    Installation,
    IssueComment,
    Pull,
    Repo,
    WorkflowRun,
)


class Events:
    def __init__(self, shapes: Shapes) -> None:
        self.shapes = shapes
        self.world = shapes.world

    def _common(self, repo: Repo, sender: str) -> Json:
        body: Json = {"repository": self.shapes.repo(repo), "sender": self.shapes.user(sender)}
        inst = self.world.installation_for(repo.full_name)
        if inst is not None:
            body["installation"] = {"id": inst.id, "node_id": node_id("MDIz", inst.id)}
        owner = self.world.user(repo.owner)
        if owner.type == "Organization":
            body["organization"] = {
                "login": owner.login,
                "id": owner.id,
                "node_id": node_id("O", owner.id),
                "url": f"{self.shapes.api}/orgs/{owner.login}",
                "repos_url": f"{self.shapes.api}/orgs/{owner.login}/repos",
                "events_url": f"{self.shapes.api}/orgs/{owner.login}/events",
                "hooks_url": f"{self.shapes.api}/orgs/{owner.login}/hooks",
                "issues_url": f"{self.shapes.api}/orgs/{owner.login}/issues",
                "members_url": f"{self.shapes.api}/orgs/{owner.login}/members{{/member}}",
                "public_members_url": (f"{self.shapes.api}/orgs/{owner.login}/public_members{{/member}}"),
                "avatar_url": f"{self.shapes.web}/avatars/{owner.login}",
                "description": None,
            }
        return body

    def pull_request(
        self, action: str, repo: Repo, pull_body: Json, sender: str, **extra: Any
    ) -> tuple[str, Json]:
        payload = {
            "action": action,
            "number": pull_body["number"],
            "pull_request": pull_body,
            **extra,
            **self._common(repo, sender),
        }
        return "pull_request", payload

    def issue(self, pull: Pull, pull_body: Json, comments: int) -> Json:
        """A pull request seen through the Issues API (what ``issue_comment`` carries)."""
        a = f"{self.shapes.api}/repos/{pull.repo}/issues/{pull.number}"
        return {
            "id": pull.id + 500_000_000,
            "node_id": node_id("I", pull.id),
            "url": a,
            "repository_url": f"{self.shapes.api}/repos/{pull.repo}",
            "labels_url": f"{a}/labels{{/name}}",
            "comments_url": f"{a}/comments",
            "events_url": f"{a}/events",
            "html_url": pull_body["html_url"],
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "body": pull.body,
            "user": self.shapes.user(pull.user),
            "labels": pull_body["labels"],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": comments,
            "created_at": iso(pull.created_at),
            "updated_at": iso(pull.updated_at),
            "closed_at": iso(pull.closed_at),
            "author_association": pull_body["author_association"],
            "active_lock_reason": None,
            "draft": pull.draft,
            "pull_request": {
                "url": pull_body["url"],
                "html_url": pull_body["html_url"],
                "diff_url": pull_body["diff_url"],
                "patch_url": pull_body["patch_url"],
                "merged_at": iso(pull.merged_at),
            },
            "reactions": self.shapes.reaction_rollup(a, []),
            "timeline_url": f"{a}/timeline",
            "performed_via_github_app": None,
            "state_reason": None,
        }

    def issue_comment(
        self,
        action: str,
        repo: Repo,
        pull: Pull,
        pull_body: Json,
        comment: IssueComment,
        comments: int,
        sender: str,
        changes: Json | None = None,
    ) -> tuple[str, Json]:
        payload: Json = {
            "action": action,
            "issue": self.issue(pull, pull_body, comments),
            "comment": self.shapes.issue_comment(comment),
            **self._common(repo, sender),
        }
        if changes is not None:
            payload["changes"] = changes
        return "issue_comment", payload

    def check_run(
        self, action: str, repo: Repo, run: CheckRun, sender: str, requested_action: str | None
    ) -> tuple[str, Json]:
        body = self.shapes.check_run(run)
        suite = self.world.check_suites.get(run.suite_id)
        if suite is not None:
            body["check_suite"] = self.shapes.check_suite(suite)
        payload: Json = {"action": action, "check_run": body, **self._common(repo, sender)}
        if requested_action is not None:
            payload["requested_action"] = {"identifier": requested_action}
        return "check_run", payload

    def check_suite(self, action: str, repo: Repo, suite: CheckSuite, sender: str) -> tuple[str, Json]:
        return "check_suite", {
            "action": action,
            "check_suite": self.shapes.check_suite(suite),
            **self._common(repo, sender),
        }

    def merge_group(
        self, repo: Repo, head_sha: str, head_ref: str, base_ref: str, base_sha: str, sender: str
    ) -> tuple[str, Json]:
        commit = repo.git.get(head_sha)
        return "merge_group", {
            "action": "checks_requested",
            "merge_group": {
                "head_sha": head_sha,
                "head_ref": head_ref,
                "base_ref": base_ref,
                "base_sha": base_sha,
                "head_commit": self.shapes.simple_commit(commit),
            },
            **self._common(repo, sender),
        }

    def push(
        self,
        repo: Repo,
        ref: str,
        before: str,
        after: str,
        commits: list[Any],
        pusher: str,
        forced: bool,
    ) -> tuple[str, Json]:
        zero = "0" * 40
        web = f"{self.shapes.web}/{repo.full_name}"

        def commit_body(c: Any) -> Json:
            sha = str(c.id)
            return {
                "id": sha,
                "tree_id": str(c.tree_id),
                "distinct": True,
                "message": c.message,
                "timestamp": self.shapes.simple_commit(c)["timestamp"],
                "url": f"{web}/commit/{sha}",
                "author": {"name": c.author.name, "email": c.author.email},
                "committer": {"name": c.committer.name, "email": c.committer.email},
                **commit_file_lists(repo.git, c),
            }

        head = repo.git.get(after) if after != zero else None
        repo_body = self.shapes.repo(repo)
        repo_body["master_branch"] = repo.default_branch
        repo_body["stargazers"] = 0
        common = self._common(repo, pusher)
        common["repository"] = repo_body
        return "push", {
            "ref": ref,
            "before": before,
            "after": after,
            "created": before == zero,
            "deleted": after == zero,
            "forced": forced,
            "base_ref": None,
            "compare": f"{web}/compare/{before[:12]}...{after[:12]}",
            "commits": [commit_body(c) for c in commits],
            "head_commit": commit_body(head) if head is not None else None,
            "pusher": {"name": pusher, "email": f"{pusher}@users.noreply.simulator"},
            **common,
        }

    def workflow_run(self, repo: Repo, run: WorkflowRun, sender: str) -> tuple[str, Json]:
        a = f"{self.shapes.api}/repos/{repo.full_name}/actions"
        web = f"{self.shapes.web}/{repo.full_name}/actions"
        commit = repo.git.get(run.head_sha)
        pulls = [
            self.shapes.pull_minimal(p)
            for n in run.pull_numbers
            if (p := self.world.pull(repo.full_name, n)) is not None
        ]
        repo_body = self.shapes.repo(repo)
        workflow = {
            "id": run.workflow_id,
            "node_id": node_id("W", run.workflow_id),
            "name": run.name,
            "path": f".github/workflows/{run.name.lower().replace(' ', '-')}.yml",
            "state": "active",
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.created_at),
            "url": f"{a}/workflows/{run.workflow_id}",
            "html_url": f"{web}/workflows/{run.workflow_id}",
            "badge_url": f"{web}/workflows/{run.workflow_id}/badge.svg",
        }
        body = {
            "id": run.id,
            "node_id": node_id("WFR", run.id),
            "name": run.name,
            "path": workflow["path"],
            "display_title": run.name,
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "run_number": run.run_number,
            "run_attempt": 1,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow_id,
            "check_suite_id": run.check_suite_id,
            "check_suite_node_id": node_id("CS", run.check_suite_id),
            "check_suite_url": f"{self.shapes.api}/repos/{repo.full_name}/check-suites/{run.check_suite_id}",
            "url": f"{a}/runs/{run.id}",
            "html_url": f"{web}/runs/{run.id}",
            "jobs_url": f"{a}/runs/{run.id}/jobs",
            "logs_url": f"{a}/runs/{run.id}/logs",
            "artifacts_url": f"{a}/runs/{run.id}/artifacts",
            "cancel_url": f"{a}/runs/{run.id}/cancel",
            "rerun_url": f"{a}/runs/{run.id}/rerun",
            "workflow_url": workflow["url"],
            "previous_attempt_url": None,
            "pull_requests": pulls,
            "created_at": iso(run.created_at),
            "updated_at": iso(run.updated_at),
            "run_started_at": iso(run.created_at),
            "actor": self.shapes.user(sender),
            "triggering_actor": self.shapes.user(sender),
            "head_commit": self.shapes.simple_commit(commit),
            "repository": repo_body,
            "head_repository": repo_body,
            "referenced_workflows": [],
        }
        return "workflow_run", {
            "action": "completed",
            "workflow": workflow,
            "workflow_run": body,
            **self._common(repo, sender),
        }

    def repository(
        self, action: str, repo: Repo, sender: str, changes: Json | None = None
    ) -> tuple[str, Json]:
        """``repository``: ``renamed`` (changes.repository.name.from), ``transferred``
        (changes.owner.from.user or .organization), ``edited`` (e.g.
        changes.default_branch.from), ``archived``, ``unarchived``..."""
        payload: Json = {"action": action}
        if changes is not None:
            payload["changes"] = changes
        return "repository", {**payload, **self._common(repo, sender)}

    def installation(self, action: str, inst: Installation, sender: str) -> tuple[str, Json]:
        repos = self.world.installation_repos(inst)
        return "installation", {
            "action": action,
            "installation": self.shapes.installation(inst),
            "repositories": [
                {
                    "id": r.id,
                    "node_id": node_id("R", r.id),
                    "name": r.name,
                    "full_name": r.full_name,
                    "private": r.private,
                }
                for r in repos
            ],
            "requester": None,
            "sender": self.shapes.user(sender),
        }
