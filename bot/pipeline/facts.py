"""What the planner needs to know about the commit under review, from any triggering event.

Pure functions over webhook payloads: ``pull_request``, ``check_suite``, ``check_run`` and
``merge_group`` all reduce to one ``Target`` (a head SHA to report on, a base to diff
against, and the PR when there is one). ``merge_group`` reports on the group's head SHA —
GitHub's merge queue waits for checks on exactly that commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


class Target(BaseModel):
    """One commit to judge, in JSON-friendly form (it travels inside rq jobs)."""

    repo: str
    installation_id: int
    head_sha: str
    base_ref: str
    clone_url: str
    trigger: str
    """The policy trigger name: opened, synchronize, merge_group, check_suite, command ..."""
    number: int | None = None
    head_ref: str | None = None
    head_clone_url: str | None = None
    default_branch: str = "main"
    draft: bool = False
    labels: list[str] = []
    author: str = ""
    title: str = ""
    body: str = ""
    from_fork: bool = False
    maintainer_can_modify: bool = False
    state: str = "open"
    updated_at: str | None = None
    """The pull request's ``updated_at`` in the event (ISO 8601, UTC): GitHub does not
    promise delivery order and redeliveries come late, so this tells an old event from a
    newer one."""
    before: str | None = None
    """For a ``synchronize``: the head commit the push replaced."""

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    @property
    def is_merge_group(self) -> bool:
        return self.trigger == "merge_group"

    @property
    def fetch_ref(self) -> str:
        """The remote ref holding ``head_sha``: the PR's pull ref or the merge group's branch."""
        if self.number is not None and not self.is_merge_group:
            return f"refs/pull/{self.number}/head"
        return self.head_ref or self.head_sha


@dataclass
class Unplannable:
    """Why an event yields no target (e.g. a check suite on a commit with no open PR)."""

    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def _installation(payload: dict[str, Any]) -> int:
    installation = payload.get("installation") or {}
    return int(installation.get("id") or 0)


def _repo(payload: dict[str, Any]) -> dict[str, Any]:
    return payload.get("repository") or {}


def from_pull_request(payload: dict[str, Any], trigger: str | None = None) -> Target:
    pr = payload["pull_request"]
    repo = _repo(payload)
    head = pr.get("head") or {}
    head_repo = head.get("repo") or {}
    # ``head.repo`` is null once the fork the pull request came from was deleted: the head
    # is still a fork's, not a branch of this repository that happens to share its name
    fork_deleted = "repo" in head and head["repo"] is None
    return Target(
        repo=repo["full_name"],
        installation_id=_installation(payload),
        head_sha=pr["head"]["sha"],
        head_ref=pr["head"].get("ref"),
        base_ref=pr["base"]["ref"],
        clone_url=repo.get("clone_url") or f"https://github.com/{repo['full_name']}.git",
        head_clone_url=head_repo.get("clone_url"),
        default_branch=repo.get("default_branch") or "main",
        trigger=trigger or payload.get("action") or "opened",
        number=pr["number"],
        draft=bool(pr.get("draft")),
        labels=[label.get("name", "") for label in pr.get("labels") or []],
        author=(pr.get("user") or {}).get("login", ""),
        title=pr.get("title") or "",
        body=pr.get("body") or "",
        from_fork=fork_deleted or (bool(head_repo) and head_repo.get("full_name") != repo["full_name"]),
        maintainer_can_modify=bool(pr.get("maintainer_can_modify")),
        state="merged" if pr.get("merged") else pr.get("state", "open"),
        updated_at=pr.get("updated_at") if isinstance(pr.get("updated_at"), str) else None,
        before=payload.get("before") if isinstance(payload.get("before"), str) else None,
    )


def from_merge_group(payload: dict[str, Any]) -> Target:
    group = payload["merge_group"]
    repo = _repo(payload)
    base_ref = (group.get("base_ref") or "").removeprefix("refs/heads/")
    return Target(
        repo=repo["full_name"],
        installation_id=_installation(payload),
        head_sha=group["head_sha"],
        head_ref=group.get("head_ref"),
        base_ref=base_ref or repo.get("default_branch") or "main",
        clone_url=repo.get("clone_url") or f"https://github.com/{repo['full_name']}.git",
        default_branch=repo.get("default_branch") or "main",
        trigger="merge_group",
        title=(group.get("head_commit") or {}).get("message", "")[:200],
    )


def _base_repo_is(pull: dict[str, Any], repo: dict[str, Any]) -> bool:
    """Whether a pull request as check suites list it (``{number, head, base}``, each end
    naming its repository by ``id``, ``url`` and ``name``) is one of ``repo``'s.

    GitHub lists every pull request whose head branch is the suite's, in whichever
    repository it was opened: a suite on a fork's branch lists the pull request that branch
    has upstream, numbered upstream. Read as one of this repository's, it names a pull
    request that does not exist here (a 404, and a failed job) or, worse, another one.
    A pull request that names no base repository is kept (nothing says it is foreign).
    """
    base = (pull.get("base") or {}).get("repo")
    if not isinstance(base, dict):
        return True
    if isinstance(base.get("id"), int) and isinstance(repo.get("id"), int):
        return bool(base["id"] == repo["id"])
    if isinstance(base.get("url"), str) and isinstance(repo.get("url"), str):
        return bool(base["url"].rstrip("/").lower() == repo["url"].rstrip("/").lower())
    return True


def own_pulls(payload: dict[str, Any], pulls: Any) -> list[dict[str, Any]]:
    """The pull requests of a check suite or check run opened in the event's repository."""
    repo = _repo(payload)
    return [p for p in pulls or [] if isinstance(p, dict) and _base_repo_is(p, repo)]


def from_check_suite(payload: dict[str, Any], suite: dict[str, Any] | None = None) -> Target | Unplannable:
    """``check_suite`` (or a ``check_run``'s suite): the first open PR of the suite's head
    opened in this repository."""
    suite = suite if suite is not None else payload["check_suite"]
    repo = _repo(payload)
    pulls = own_pulls(payload, suite.get("pull_requests"))
    if not pulls:
        return Unplannable(
            "the check suite's commit belongs to no pull request of this repository",
            {"head_sha": suite.get("head_sha")},
        )
    pr = pulls[0]
    return Target(
        repo=repo["full_name"],
        installation_id=_installation(payload),
        head_sha=suite["head_sha"],
        head_ref=(pr.get("head") or {}).get("ref"),
        base_ref=(pr.get("base") or {}).get("ref") or repo.get("default_branch") or "main",
        clone_url=repo.get("clone_url") or f"https://github.com/{repo['full_name']}.git",
        default_branch=repo.get("default_branch") or "main",
        trigger="check_suite",
        number=pr["number"],
    )
