"""The simulator's world: users, installations, repositories, pull requests, checks, comments.

Plain records behind one re-entrant lock. The aiohttp handlers (simulator thread) and the
driver (test thread) both mutate it, and pygit2 objects must not be used from two threads at
once, so every read-modify-write of the world and every git operation holds ``World.lock``.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pygit2

from bot.simulator.branch_rules import BranchRules

PERMISSION_LEVELS = ("none", "read", "triage", "write", "maintain", "admin")

DEFAULT_APP_PERMISSIONS: dict[str, str] = {
    "metadata": "read",
    "contents": "write",
    "pull_requests": "write",
    "issues": "write",
    "checks": "write",
    "statuses": "read",
    "actions": "read",
    "members": "read",
    "security_events": "write",
}

# GitHub Actions' own App: CI check runs and suites belong to it, not to Shunter.
ACTIONS_APP_ID = 15368

DEFAULT_APP_EVENTS = [
    "check_run",
    "check_suite",
    "issue_comment",
    "merge_group",
    "pull_request",
    "push",
    "workflow_run",
]


class Clock:
    """Wall time plus an offset, so tests can make tokens and JWTs expire without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User", "Organization" or "Bot"
    name: str | None = None
    email: str | None = None


@dataclass
class App:
    id: int
    slug: str
    name: str
    owner: str
    client_id: str
    private_key_pem: str
    public_key_pem: str
    permissions: dict[str, str]
    events: list[str]
    created_at: datetime


@dataclass
class Installation:
    id: int
    account: str
    permissions: dict[str, str]
    events: list[str]
    repository_selection: str  # "all" or "selected"
    repositories: set[str]  # full names when "selected"
    created_at: datetime
    suspended: bool = False
    suspended_by: str | None = None
    suspended_at: datetime | None = None


@dataclass
class Token:
    token: str
    installation_id: int
    permissions: dict[str, str]
    repositories: set[str] | None  # None: every repo of the installation
    expires_at: datetime


@dataclass
class RateBudget:
    limit: int
    used: int
    reset_at: datetime


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    path: Path
    default_branch: str
    private: bool
    created_at: datetime
    pushed_at: datetime
    description: str | None = None
    fork_of: str | None = None  # full name of the parent
    permissions: dict[str, str] = field(default_factory=dict)  # login -> level
    custom_roles: dict[str, str] = field(default_factory=dict)  # login -> custom role's name
    labels: dict[str, Label] = field(default_factory=dict)
    next_number: int = 1
    rules: dict[str, BranchRules] = field(default_factory=dict)
    """Branch name -> its protection or ruleset (none by default: any push lands)."""
    signed: set[str] = field(default_factory=set)
    """Commits GitHub signed: made through the Git Data API without an author of the caller's."""
    archived: bool = False
    """Read-only: GitHub refuses every write (REST and git pushes) with 403."""
    _git: pygit2.Repository | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def git(self) -> pygit2.Repository:
        if self._git is None:
            self._git = pygit2.Repository(str(self.path))
        return self._git


@dataclass
class Pull:
    id: int
    number: int
    repo: str  # base repository full name
    title: str
    body: str | None
    user: str
    head_repo: str
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    draft: bool
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    merged: bool = False
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    labels: list[str] = field(default_factory=list)
    maintainer_can_modify: bool = False
    """The fork's author allowed edits from maintainers (and Apps installed upstream)."""


@dataclass
class Reaction:
    id: int
    user: str
    content: str
    created_at: datetime


@dataclass
class IssueComment:
    id: int
    repo: str
    number: int
    user: str
    body: str
    created_at: datetime
    updated_at: datetime
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class ReviewComment:
    id: int
    review_id: int
    repo: str
    number: int
    user: str
    body: str
    path: str
    line: int
    side: str
    start_line: int | None
    start_side: str | None
    commit_id: str
    diff_hunk: str
    position: int
    created_at: datetime
    updated_at: datetime | None = None
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Review:
    id: int
    repo: str
    number: int
    user: str
    body: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, PENDING
    commit_id: str
    submitted_at: datetime | None


@dataclass
class CheckSuite:
    id: int
    repo: str
    head_sha: str
    head_branch: str | None
    app_id: int
    created_at: datetime
    updated_at: datetime
    status: str = "queued"
    conclusion: str | None = None


@dataclass
class CheckRun:
    id: int
    repo: str
    suite_id: int
    app_id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: datetime
    completed_at: datetime | None
    details_url: str | None
    external_id: str | None
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    annotations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, str]] = field(default_factory=list)


@dataclass
class WorkflowRun:
    id: int
    repo: str
    name: str
    head_sha: str
    head_branch: str
    event: str
    status: str
    conclusion: str | None
    created_at: datetime
    updated_at: datetime
    workflow_id: int
    run_number: int
    pull_numbers: list[int] = field(default_factory=list)
    check_suite_id: int = 0


@dataclass
class Delivery:
    id: int
    guid: str
    event: str
    action: str | None
    payload: dict[str, Any]
    installation_id: int | None
    repository_id: int | None
    delivered_at: datetime
    redelivery: bool = False
    status_code: int = 0  # 0 until an answer came back (or when it never did)
    status: str = "pending"
    duration: float = 0.0
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    url: str | None = None


# One counter for every World in the process: clients such as githubkit cache JWTs and
# installation tokens by App id and installation id, so two simulators in one test session
# must never hand out the same ids.
_IDS = itertools.count(1001)


class World:
    """Everything the simulated GitHub knows, with id counters that never repeat."""

    def __init__(self, data_dir: Path, clock: Clock | None = None) -> None:
        self.data_dir = data_dir
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self._ids = _IDS
        self.app: App | None = None
        self.users: dict[str, User] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.budgets: dict[int, RateBudget] = {}
        self.default_rate_limit = 5000
        self.repos: dict[str, Repo] = {}
        self.pulls: dict[tuple[str, int], Pull] = {}
        self.issue_comments: dict[int, IssueComment] = {}
        self.reviews: dict[int, Review] = {}
        self.review_comments: dict[int, ReviewComment] = {}
        self.check_suites: dict[int, CheckSuite] = {}
        self.check_runs: dict[int, CheckRun] = {}
        self.workflow_runs: dict[int, WorkflowRun] = {}
        self.deliveries: list[Delivery] = []
        self.sarifs: dict[str, dict[str, Any]] = {}  # code scanning uploads by id
        self.moved: dict[str, str] = {}
        """Old full name (lower case) of a renamed or transferred repository -> its new one:
        GitHub redirects requests to the old name."""

    def next_id(self) -> int:
        return next(self._ids)

    def new_token(self) -> str:
        return "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]

    def user(self, login: str, *, kind: str = "User") -> User:
        """The user called ``login``, created on first mention (GitHub has them all)."""
        with self.lock:
            found = self.users.get(login.lower())
            if found is None:
                found = User(login=login, id=self.next_id(), type=kind)
                self.users[login.lower()] = found
            return found

    def repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name.lower())

    def move_repo(self, old: str, new: str) -> Repo:
        """Rename or transfer ``old`` to ``new`` (``owner/name``): every record follows it,
        and the old name redirects (:attr:`moved`) until a repository takes it again."""
        repo = self.repos.pop(old.lower())
        before = repo.full_name
        repo.owner, _, repo.name = new.partition("/")
        after = repo.full_name
        self.repos[after.lower()] = repo
        self.moved.pop(after.lower(), None)
        self.moved[before.lower()] = after
        for key, target in list(self.moved.items()):
            if target == before:
                self.moved[key] = after
        for (name, number), pull in list(self.pulls.items()):
            if pull.head_repo == before:
                pull.head_repo = after
            if name == before.lower():
                del self.pulls[(name, number)]
                pull.repo = after
                self.pulls[(after.lower(), number)] = pull
        records: list[Any] = [
            *self.issue_comments.values(),
            *self.reviews.values(),
            *self.review_comments.values(),
            *self.check_suites.values(),
            *self.check_runs.values(),
            *self.workflow_runs.values(),
        ]
        for record in records:
            if record.repo == before:
                record.repo = after
        for other in self.repos.values():
            if other.fork_of == before:
                other.fork_of = after
        for inst in self.installations.values():
            if before in inst.repositories:
                inst.repositories = (inst.repositories - {before}) | {after}
        for token in self.tokens.values():
            if token.repositories is not None and before.lower() in token.repositories:
                token.repositories = (token.repositories - {before.lower()}) | {after.lower()}
        return repo

    def installation_for(self, full_name: str) -> Installation | None:
        repo = self.repo(full_name)
        if repo is None:
            return None
        for inst in self.installations.values():
            if inst.account.lower() != repo.owner.lower() or inst.suspended:
                continue
            if inst.repository_selection == "all" or repo.full_name in inst.repositories:
                return inst
        return None

    def installation_repos(self, inst: Installation) -> list[Repo]:
        return [
            repo
            for repo in self.repos.values()
            if repo.owner.lower() == inst.account.lower()
            and (inst.repository_selection == "all" or repo.full_name in inst.repositories)
        ]

    def pulls_of(self, full_name: str) -> list[Pull]:
        return sorted(
            (p for (name, _), p in self.pulls.items() if name == full_name.lower()),
            key=lambda p: p.number,
        )

    def pull(self, full_name: str, number: int) -> Pull | None:
        return self.pulls.get((full_name.lower(), number))

    def pulls_with_head(self, head_repo: str, head_ref: str) -> list[Pull]:
        return [
            p
            for p in self.pulls.values()
            if p.state == "open" and p.head_repo.lower() == head_repo.lower() and p.head_ref == head_ref
        ]

    def budget(self, installation_id: int) -> RateBudget:
        """The installation's hourly budget, refilled when its window has passed."""
        now = self.clock.now()
        budget = self.budgets.get(installation_id)
        if budget is None or budget.reset_at <= now:
            fresh = 60 if installation_id == 0 else self.default_rate_limit  # 0: anonymous
            limit = budget.limit if budget else fresh
            budget = RateBudget(limit=limit, used=0, reset_at=now + timedelta(hours=1))
            self.budgets[installation_id] = budget
        return budget
