"""What happens in the simulated GitHub, and the webhooks each happening sends.

The REST routes, the git server and the driver all change the world through :class:`Hub`, so
a ref moved by ``git push``, by ``PATCH /git/refs`` or by ``sim.commit`` has the same effects:
pull requests whose head moved get ``synchronize``, the branch gets a ``push`` event and the
App gets a ``check_suite`` ``requested`` for the new head, in GitHub's order.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bot.simulator import gitstore
from bot.simulator.events import Events
from bot.simulator.faults import Faults
from bot.simulator.gitstore import FileChange
from bot.simulator.recorder import Recorder
from bot.simulator.shapes import Json, Shapes
from bot.simulator.state import CheckSuite, IssueComment, Pull, Repo, World
from bot.simulator.webhooks import WebhookSender

ZERO = "0" * 40


class Hub:
    def __init__(
        self, world: World, webhooks: WebhookSender, base_url: str = "", api_prefix: str = ""
    ) -> None:
        self.world = world
        self.api_prefix = api_prefix
        """Where the REST API lives under the base URL: ``/api/v3`` as on GitHub Enterprise
        Server, where the web pages and git are at the root; empty, all share the root."""
        self.webhooks = webhooks
        self.shapes = Shapes(world, base_url)
        self.events = Events(self.shapes)
        self.recorder = Recorder()
        self.faults = Faults()
        # Set while the simulator stops: requests held by a latency fault let go at once,
        # so stopping never waits out a stall a test asked for.
        self.closing = asyncio.Event()
        # GitHub tells the App about its own check runs (check_run created/completed)
        self.check_run_lifecycle_events = True
        self._mergeable: dict[tuple[str, str, str], bool] = {}
        self._diffs: dict[tuple[str, str, str], tuple[str, list[FileChange]]] = {}

    def set_base_url(self, url: str) -> None:
        self.shapes.web = url.rstrip("/")
        self.shapes.api = self.shapes.web + self.api_prefix

    @property
    def bot_login(self) -> str:
        assert self.world.app is not None
        return f"{self.world.app.slug}[bot]"

    def now(self) -> datetime:
        return self.world.clock.now()

    def emit(self, event_and_payload: tuple[str, Json]) -> None:
        """Send an App delivery, as GitHub does only for repositories the App is installed
        on (a push to an uninstalled fork reaches the fork owner's hooks, not the App's)."""
        event, payload = event_and_payload
        if "installation" not in payload:
            return
        self.webhooks.enqueue(event, payload)

    # -- pull request views --------------------------------------------------------------

    def pull_diff(self, pull: Pull) -> tuple[str, list[FileChange]]:
        """GitHub's three-dot diff of the pull request (cached per base/head)."""
        repo = self.world.repo(pull.repo)
        assert repo is not None
        base = gitstore.merge_base(repo.git, pull.base_sha, pull.head_sha) or pull.base_sha
        key = (pull.repo, base, pull.head_sha)
        if key not in self._diffs:
            self._diffs[key] = gitstore.diff(repo.git, base, pull.head_sha)
        return self._diffs[key]

    def pull_json(self, pull: Pull) -> Json:
        repo = self.world.repo(pull.repo)
        assert repo is not None
        _, changes = self.pull_diff(pull)
        base = gitstore.merge_base(repo.git, pull.base_sha, pull.head_sha)
        commits = len(gitstore.commits_between(repo.git, base, pull.head_sha))
        stats = (
            commits,
            sum(c.additions for c in changes),
            sum(c.deletions for c in changes),
            len(changes),
        )
        comments = sum(
            1 for c in self.world.issue_comments.values() if c.repo == pull.repo and c.number == pull.number
        )
        review_comments = sum(
            1 for c in self.world.review_comments.values() if c.repo == pull.repo and c.number == pull.number
        )
        return self.shapes.pull(pull, stats, (comments, review_comments), self.mergeable(repo, pull))

    def mergeable(self, repo: Repo, pull: Pull) -> bool:
        """Whether the head merges into the base without conflicts (cached per pair)."""
        key = ("merge", pull.base_sha, pull.head_sha)
        if key not in self._mergeable:
            index = repo.git.merge_commits(pull.base_sha, pull.head_sha)
            self._mergeable[key] = index.conflicts is None
        return self._mergeable[key]

    def comment_count(self, pull: Pull) -> int:
        return sum(
            1 for c in self.world.issue_comments.values() if c.repo == pull.repo and c.number == pull.number
        )

    # -- pull requests -------------------------------------------------------------------

    def open_pull(
        self,
        repo: Repo,
        *,
        head_repo: Repo,
        head: str,
        base: str,
        title: str,
        body: str | None,
        user: str,
        draft: bool,
        maintainer_can_modify: bool = False,
    ) -> Pull:
        with self.world.lock:
            head_sha = gitstore.ref_sha(head_repo.git, f"refs/heads/{head}")
            base_sha = gitstore.ref_sha(repo.git, f"refs/heads/{base}")
            if head_sha is None or base_sha is None:
                raise KeyError(head if head_sha is None else base)
            now = self.now()
            pull = Pull(
                id=self.world.next_id(),
                number=repo.next_number,
                repo=repo.full_name,
                title=title,
                body=body,
                user=user,
                head_repo=head_repo.full_name,
                head_ref=head,
                head_sha=head_sha,
                base_ref=base,
                base_sha=base_sha,
                draft=draft,
                created_at=now,
                updated_at=now,
                maintainer_can_modify=maintainer_can_modify and head_repo is not repo,
            )
            repo.next_number += 1
            self.world.pulls[(repo.full_name.lower(), pull.number)] = pull
            self._fetch_pull_head(repo, head_repo, pull)
            self.emit(self.events.pull_request("opened", repo, self.pull_json(pull), user))
        return pull

    def _fetch_pull_head(self, repo: Repo, head_repo: Repo, pull: Pull) -> None:
        """Keep ``refs/pull/N/head`` in the base repo, copying objects over from a fork."""
        if head_repo is not repo:
            _copy_objects(head_repo, repo, pull.head_sha)
        repo.git.references.create(f"refs/pull/{pull.number}/head", pull.head_sha, force=True)

    def set_pull_state(self, pull: Pull, action: str, sender: str, **extra: Any) -> None:
        repo = self.world.repo(pull.repo)
        assert repo is not None
        with self.world.lock:
            now = self.now()
            pull.updated_at = now
            if action == "closed":
                pull.state = "closed"
                pull.closed_at = now
                if extra.pop("merged", False):
                    pull.merged = True
                    pull.merged_at = now
            elif action == "reopened":
                pull.state = "open"
                pull.closed_at = None
            elif action == "ready_for_review":
                pull.draft = False
            elif action == "converted_to_draft":
                pull.draft = True
            self.emit(self.events.pull_request(action, repo, self.pull_json(pull), sender, **extra))

    def label_pull(self, pull: Pull, name: str, sender: str, *, emit: bool = True) -> Json:
        repo = self.world.repo(pull.repo)
        assert repo is not None
        with self.world.lock:
            label = self.ensure_label(repo, name)
            if label.name not in pull.labels:
                pull.labels.append(label.name)
                pull.updated_at = self.now()
                if emit:
                    self.emit(
                        self.events.pull_request(
                            "labeled",
                            repo,
                            self.pull_json(pull),
                            sender,
                            label=self.shapes.label(repo, label),
                        )
                    )
            return self.shapes.label(repo, label)

    def ensure_label(self, repo: Repo, name: str):  # type: ignore[no-untyped-def]
        from bot.simulator.state import Label

        label = repo.labels.get(name.lower())
        if label is None:
            label = Label(id=self.world.next_id(), name=name)
            repo.labels[name.lower()] = label
        return label

    # -- comments ------------------------------------------------------------------------

    def add_comment(self, pull: Pull, user: str, body: str) -> IssueComment:
        repo = self.world.repo(pull.repo)
        assert repo is not None
        with self.world.lock:
            now = self.now()
            comment = IssueComment(
                id=self.world.next_id(),
                repo=pull.repo,
                number=pull.number,
                user=user,
                body=body,
                created_at=now,
                updated_at=now,
            )
            self.world.issue_comments[comment.id] = comment
            self.emit(
                self.events.issue_comment(
                    "created",
                    repo,
                    pull,
                    self.pull_json(pull),
                    comment,
                    self.comment_count(pull),
                    user,
                )
            )
        return comment

    def edit_comment(self, comment: IssueComment, body: str, sender: str) -> None:
        repo = self.world.repo(comment.repo)
        pull = self.world.pull(comment.repo, comment.number)
        assert repo is not None and pull is not None
        with self.world.lock:
            old = comment.body
            comment.body = body
            comment.updated_at = self.now()
            self.emit(
                self.events.issue_comment(
                    "edited",
                    repo,
                    pull,
                    self.pull_json(pull),
                    comment,
                    self.comment_count(pull),
                    sender,
                    changes={"body": {"from": old}},
                )
            )

    # -- refs ----------------------------------------------------------------------------

    def refs_changed(
        self,
        repo: Repo,
        changes: list[tuple[str, str, str]],
        pusher: str,
        *,
        forced: set[str] | None = None,
    ) -> None:
        """React to ref moves ``(ref, old, new)`` (ZERO for created/deleted) like GitHub."""
        forced = forced or set()
        with self.world.lock:
            repo.pushed_at = self.now()
            for ref, old, new in changes:
                if ref.startswith("refs/pull/"):
                    continue
                commits: list[Any] = []
                if new != ZERO:
                    base = old if old != ZERO else None
                    if base is None:
                        base_ref = f"refs/heads/{repo.default_branch}"
                        base = gitstore.ref_sha(repo.git, base_ref)
                        if base is not None and base == new:
                            base = None
                    commits = gitstore.commits_between(repo.git, base, new)[-20:]
                is_forced = ref in forced or (
                    old != ZERO and new != ZERO and not gitstore.is_fast_forward(repo.git, old, new)
                )
                self.emit(self.events.push(repo, ref, old, new, commits, pusher, is_forced))
                if not ref.startswith("refs/heads/") or new == ZERO:
                    continue
                branch = ref.removeprefix("refs/heads/")
                for pull in self.world.pulls_with_head(repo.full_name, branch):
                    base_repo = self.world.repo(pull.repo)
                    assert base_repo is not None
                    before = pull.head_sha
                    pull.head_sha = new
                    pull.updated_at = self.now()
                    self._fetch_pull_head(base_repo, repo, pull)
                    self.emit(
                        self.events.pull_request(
                            "synchronize",
                            base_repo,
                            self.pull_json(pull),
                            pusher,
                            before=before,
                            after=new,
                        )
                    )
                for pull in self.world.pulls_of(repo.full_name):
                    if pull.state == "open" and pull.base_ref == branch:
                        pull.base_sha = new
                self.request_suite(repo, new, branch, pusher)

    def request_suite(self, repo: Repo, sha: str, branch: str | None, sender: str) -> CheckSuite:
        """The App's check suite for ``sha``, created (with ``check_suite.requested``) if new."""
        with self.world.lock:
            found = self.find_suite(repo, sha)
            if found is not None:
                return found
            suite = self.new_suite(repo, sha, branch)
            if self.world.installation_for(repo.full_name) is not None:
                self.emit(self.events.check_suite("requested", repo, suite, sender))
            return suite

    def find_suite(self, repo: Repo, sha: str, app_id: int | None = None) -> CheckSuite | None:
        """The suite of ``app_id`` (default: Shunter's App) for ``sha``, if there is one."""
        assert self.world.app is not None
        wanted = app_id or self.world.app.id
        for suite in self.world.check_suites.values():
            if suite.repo == repo.full_name and suite.head_sha == sha and suite.app_id == wanted:
                return suite
        return None

    def new_suite(self, repo: Repo, sha: str, branch: str | None, app_id: int | None = None) -> CheckSuite:
        assert self.world.app is not None
        now = self.now()
        suite = CheckSuite(
            id=self.world.next_id(),
            repo=repo.full_name,
            head_sha=sha,
            head_branch=branch,
            app_id=app_id or self.world.app.id,
            created_at=now,
            updated_at=now,
        )
        self.world.check_suites[suite.id] = suite
        return suite

    def suite_for(self, repo: Repo, sha: str) -> CheckSuite:
        with self.world.lock:
            found = self.find_suite(repo, sha)
            if found is not None:
                return found
            branch = next(
                (
                    name.removeprefix("refs/heads/")
                    for name, target in gitstore.all_refs(repo.git).items()
                    if target == sha and name.startswith("refs/heads/")
                ),
                None,
            )
            return self.new_suite(repo, sha, branch)

    def refresh_suite(self, suite: CheckSuite) -> None:
        runs = [r for r in self.world.check_runs.values() if r.suite_id == suite.id]
        suite.updated_at = self.now()
        if not runs:
            return
        if all(r.status == "completed" for r in runs):
            suite.status = "completed"
            order = [
                "action_required",
                "cancelled",
                "timed_out",
                "failure",
                "neutral",
                "skipped",
                "success",
            ]
            conclusions = [r.conclusion or "neutral" for r in runs]
            suite.conclusion = min(conclusions, key=lambda c: order.index(c) if c in order else len(order))
            if suite.conclusion == "skipped":
                suite.conclusion = "success"
        else:
            suite.status = "in_progress"
            suite.conclusion = None


def _copy_objects(source: Repo, target: Repo, sha: str) -> None:
    """Copy every object reachable from ``sha`` that ``target`` lacks (fork -> base)."""
    import pygit2

    odb = target.git.odb
    stack = [pygit2.Oid(hex=sha)]
    while stack:
        oid = stack.pop()
        if oid in odb:
            continue
        obj = source.git.get(oid)
        assert obj is not None  # reachable from sha in source
        odb.write(obj.type, obj.read_raw())
        if isinstance(obj, pygit2.Commit):
            stack.append(obj.tree_id)
            stack.extend(obj.parent_ids)
        elif isinstance(obj, pygit2.Tree):
            stack.extend(entry.id for entry in obj)
