"""The Python API tests and ``shunter demo`` drive the simulator with (see the package doc)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
from aiohttp import web

from bot.simulator import gitstore
from bot.simulator.activity import ZERO, Hub
from bot.simulator.auth import issue_token, new_rsa_key
from bot.simulator.branch_rules import BranchRules
from bot.simulator.faults import Faults
from bot.simulator.git_http import install_hooks
from bot.simulator.recorder import Recorder
from bot.simulator.server import build_app
from bot.simulator.state import (
    ACTIONS_APP_ID,
    DEFAULT_APP_EVENTS,
    DEFAULT_APP_PERMISSIONS,
    App,
    CheckRun,
    Delivery,
    Installation,
    IssueComment,
    Pull,
    Reaction,
    Repo,
    Review,
    ReviewComment,
    WorkflowRun,
    World,
)
from bot.simulator.webhooks import WebhookSender

DEFAULT_SECRET = "shunter-simulator-secret"  # noqa: S105 - a loopback test fixture, not a credential


@dataclass(frozen=True)
class RepoHandle:
    full_name: str
    id: int
    default_branch: str
    head_sha: str
    clone_url: str
    path: Path


class Simulator:
    """A local GitHub with one App. Driver methods are synchronous and thread-safe."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = DEFAULT_SECRET,
        app_slug: str = "shunter-sim",
        app_owner: str = "shunter-dev",
        app_permissions: dict[str, str] | None = None,
        rate_limit: int = 5000,
        check_run_lifecycle_events: bool = True,
        api_prefix: str = "",
        url_host: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``api_prefix="/api/v3"`` serves the REST API as GitHub Enterprise Server does,
        under that path, with web pages and git at the root and the ``X-GitHub-Enterprise-*``
        headers on deliveries; ``url_host`` names the server in its URLs (payloads,
        ``settings_env``) when that is not the address it listens on (``localhost``, or a
        name only a proxy resolves); ``ssl_context`` serves HTTPS (webhooks stay as given)."""
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.world = World(self.data_dir)
        self.world.default_rate_limit = rate_limit
        private, public = new_rsa_key()
        app_id = self.world.next_id()
        self.world.app = App(
            id=app_id,
            slug=app_slug,
            name=app_slug.replace("-", " ").title(),
            owner=app_owner,
            client_id=f"Iv1.sim{app_id:09d}",
            private_key_pem=private,
            public_key_pem=public,
            permissions=dict(app_permissions or DEFAULT_APP_PERMISSIONS),
            events=list(DEFAULT_APP_EVENTS),
            created_at=self.world.clock.now(),
        )
        self.world.user(app_owner)
        self.world.user(f"{app_slug}[bot]", kind="Bot")
        self.private_key_path = self.data_dir / "app-private-key.pem"
        self.private_key_path.write_text(private)
        self.private_key_path.chmod(0o600)
        self.webhook_secret = webhook_secret
        self._webhooks = WebhookSender(self.world, webhook_secret, webhook_url)
        self.hub = Hub(self.world, self._webhooks, api_prefix=api_prefix.rstrip("/"))
        self.url_host = url_host
        self.ssl_context = ssl_context
        self.hub.check_run_lifecycle_events = check_run_lifecycle_events
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns the base URL."""
        self._loop = asyncio.get_running_loop()
        self.hub.closing.clear()
        self._runner = web.AppRunner(build_app(self.hub, self.hub.api_prefix), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self.ssl_context)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        bound = sockets[0].getsockname()[1]
        scheme = "https" if self.ssl_context is not None else "http"
        self.url = f"{scheme}://{self.url_host or host}:{bound}"
        self.hub.set_base_url(self.url)
        if self.hub.api_prefix:  # GitHub Enterprise Server names itself on every delivery
            self._webhooks.enterprise_host = f"{self.url_host or host}:{bound}"
        await self._webhooks.start()
        return self.url

    async def stop(self) -> None:
        self.hub.closing.set()
        await self._webhooks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def drain(self) -> None:
        """Wait (on the simulator's loop) until every queued webhook has been attempted."""
        await self._webhooks.drain()

    def wait_for_deliveries(self, timeout: float = 15.0) -> None:
        """From another thread: block until every queued webhook has been attempted."""
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError(
                "wait_for_deliveries() would block the simulator's own loop; use await sim.drain()"
            )
        future = asyncio.run_coroutine_threadsafe(self._webhooks.drain(), self._loop)
        future.result(timeout)

    # -- identity and settings -----------------------------------------------------------

    @property
    def app(self) -> App:
        assert self.world.app is not None
        return self.world.app

    @property
    def app_id(self) -> int:
        return self.app.id

    @property
    def bot_login(self) -> str:
        return self.hub.bot_login

    @property
    def webhook_url(self) -> str | None:
        return self._webhooks.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self._webhooks.url = url

    @property
    def recorder(self) -> Recorder:
        return self.hub.recorder

    @property
    def faults(self) -> Faults:
        return self.hub.faults

    @property
    def api_url(self) -> str:
        """The REST API's root (``SHUNTER_GITHUB_URL``); ``url`` is the web and git root."""
        return self.url + self.hub.api_prefix

    def settings_env(self) -> dict[str, str]:
        """The ``SHUNTER_*`` variables that point Shunter at this simulator."""
        return {
            "SHUNTER_GITHUB_URL": self.api_url,
            "SHUNTER_APP_ID": str(self.app_id),
            "SHUNTER_PRIVATE_KEY_PATH": str(self.private_key_path),
            "SHUNTER_WEBHOOK_SECRET": self.webhook_secret,
            "SHUNTER_BOT_LOGIN": self.bot_login,
        }

    # -- installations, tokens, time -----------------------------------------------------

    def install(
        self,
        account: str,
        *,
        repositories: list[str] | None = None,
        permissions: dict[str, str] | None = None,
        sender: str | None = None,
    ) -> int:
        """Install the App on ``account`` (all repos, or the named ones); sends ``installation``."""
        with self.world.lock:
            for inst in self.world.installations.values():
                if inst.account.lower() == account.lower():
                    if repositories and inst.repository_selection == "selected":
                        inst.repositories |= {self._repo(r).full_name for r in repositories}
                    return inst.id
            inst = Installation(
                id=self.world.next_id(),
                account=self.world.user(account).login,
                permissions=dict(permissions or self.app.permissions),
                events=list(self.app.events),
                repository_selection="selected" if repositories else "all",
                repositories={self._repo(r).full_name for r in repositories or []},
                created_at=self.world.clock.now(),
            )
            self.world.installations[inst.id] = inst
            self.hub.emit(self.hub.events.installation("created", inst, sender or account))
            return inst.id

    def installation_id(self, full_name: str) -> int:
        inst = self.world.installation_for(full_name)
        if inst is None:
            raise KeyError(f"the App is not installed on {full_name}")
        return inst.id

    def installation_token(self, full_name: str, *, permissions: dict[str, str] | None = None) -> str:
        """Mint an installation token directly (tests of git and routes need no JWT dance)."""
        with self.world.lock:
            inst = self.world.installations[self.installation_id(full_name)]
            return issue_token(self.world, inst, permissions=permissions).token

    def set_installation_permissions(self, full_name: str, permissions: dict[str, str]) -> None:
        with self.world.lock:
            self.world.installations[self.installation_id(full_name)].permissions = dict(permissions)

    def suspend(self, account: str, *, sender: str | None = None) -> None:
        """Suspend the App's installation on ``account``: its tokens stop working and GitHub
        refuses new ones (403) until :meth:`unsuspend`. Sends ``installation`` ``suspend``."""
        self._suspend(account, True, sender)

    def unsuspend(self, account: str, *, sender: str | None = None) -> None:
        self._suspend(account, False, sender)

    def _suspend(self, account: str, suspended: bool, sender: str | None) -> None:
        with self.world.lock:
            inst = next(i for i in self.world.installations.values() if i.account.lower() == account.lower())
            inst.suspended = suspended
            inst.suspended_by = (sender or account) if suspended else None
            inst.suspended_at = self.world.clock.now() if suspended else None
            if suspended:
                for name in [t for t, tok in self.world.tokens.items() if tok.installation_id == inst.id]:
                    del self.world.tokens[name]
            action = "suspend" if suspended else "unsuspend"
            self.hub.emit(self.hub.events.installation(action, inst, sender or account))

    def advance_time(self, seconds: float) -> None:
        """Move the simulated clock (tokens and JWTs expire against it)."""
        self.world.clock.advance(seconds)

    def set_rate_limit(self, installation_id: int, limit: int, *, used: int = 0) -> None:
        with self.world.lock:
            budget = self.world.budget(installation_id)
            budget.limit, budget.used = limit, used

    # -- repositories and commits --------------------------------------------------------

    def _repo(self, full_name: str) -> Repo:
        repo = self.world.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name}")
        return repo

    def _handle(self, repo: Repo) -> RepoHandle:
        return RepoHandle(
            full_name=repo.full_name,
            id=repo.id,
            default_branch=repo.default_branch,
            head_sha=gitstore.ref_sha(repo.git, f"refs/heads/{repo.default_branch}") or ZERO,
            clone_url=self.clone_url(repo.full_name),
            path=repo.path,
        )

    def create_repo(
        self,
        full_name: str,
        files: dict[str, str | bytes] | None = None,
        *,
        from_dir: Path | str | None = None,
        default_branch: str = "main",
        private: bool = False,
        install: bool = True,
        owner_type: str = "User",
        message: str = "Initial commit",
        author: str | None = None,
    ) -> RepoHandle:
        """A repository with one commit of ``files`` (or of the files under ``from_dir``)."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"repository name must be owner/name, got {full_name!r}")
        content: dict[str, str | bytes | None] = dict(files or {})
        if from_dir is not None:
            root = Path(from_dir)
            for path in sorted(root.rglob("*")):
                if path.is_file() and ".git" not in path.relative_to(root).parts:
                    content[path.relative_to(root).as_posix()] = path.read_bytes()
        if not content:
            content = {"README.md": f"# {name}\n"}
        with self.world.lock:
            if self.world.repo(full_name) is not None:
                raise ValueError(f"repository {full_name} already exists")
            self.world.user(owner, kind=owner_type)
            path = self.data_dir / "repos" / owner / f"{name}.git"
            if path.exists():
                shutil.rmtree(path)
            gitstore.init_bare(path, default_branch)
            install_hooks(path)
            now = self.world.clock.now()
            repo = Repo(
                id=self.world.next_id(),
                owner=self.world.user(owner).login,
                name=name,
                path=path,
                default_branch=default_branch,
                private=private,
                created_at=now,
                pushed_at=now,
            )
            self.world.repos[full_name.lower()] = repo
            who = author or owner
            gitstore.commit_files(repo.git, default_branch, content, message, self._sig(who))
            if install:
                self.install(owner)
            return self._handle(repo)

    def fork(self, full_name: str, owner: str) -> RepoHandle:
        """A fork of ``full_name`` owned by ``owner`` (not covered by the App's installation)."""
        with self.world.lock:
            parent = self._repo(full_name)
            path = self.data_dir / "repos" / owner / f"{parent.name}.git"
            shutil.copytree(parent.path, path)
            now = self.world.clock.now()
            repo = Repo(
                id=self.world.next_id(),
                owner=self.world.user(owner).login,
                name=parent.name,
                path=path,
                default_branch=parent.default_branch,
                private=parent.private,
                created_at=now,
                pushed_at=now,
                fork_of=parent.full_name,
            )
            for ref in [r for r in repo.git.references if r.startswith("refs/pull/")]:
                repo.git.references.delete(ref)
            self.world.repos[repo.full_name.lower()] = repo
            return self._handle(repo)

    def rename_repo(self, full_name: str, new_name: str, *, sender: str | None = None) -> RepoHandle:
        """Rename a repository (the old name redirects); sends ``repository`` ``renamed``."""
        with self.world.lock:
            repo = self._repo(full_name)
            old = repo.name
            repo = self.world.move_repo(repo.full_name, f"{repo.owner}/{new_name}")
            changes = {"repository": {"name": {"from": old}}}
            self.hub.emit(self.hub.events.repository("renamed", repo, sender or repo.owner, changes))
            return self._handle(repo)

    def transfer_repo(self, full_name: str, new_owner: str, *, sender: str | None = None) -> RepoHandle:
        """Transfer a repository to another account (the old name redirects); sends
        ``repository`` ``transferred`` (delivered when the App is installed on the new owner)."""
        with self.world.lock:
            repo = self._repo(full_name)
            was = self.world.user(repo.owner)
            repo = self.world.move_repo(repo.full_name, f"{self.world.user(new_owner).login}/{repo.name}")
            kind = "organization" if was.type == "Organization" else "user"
            changes = {"owner": {"from": {kind: self.hub.shapes.user(was.login)}}}
            self.hub.emit(self.hub.events.repository("transferred", repo, sender or was.login, changes))
            return self._handle(repo)

    def set_default_branch(self, full_name: str, branch: str, *, sender: str | None = None) -> None:
        """Make ``branch`` (which must exist) the default; sends ``repository`` ``edited``
        with ``changes.default_branch.from``."""
        with self.world.lock:
            repo = self._repo(full_name)
            if gitstore.ref_sha(repo.git, f"refs/heads/{branch}") is None:
                raise KeyError(f"no branch {branch} in {full_name}")
            old, repo.default_branch = repo.default_branch, branch
            changes = {"default_branch": {"from": old}}
            self.hub.emit(self.hub.events.repository("edited", repo, sender or repo.owner, changes))

    def archive(self, full_name: str, *, archived: bool = True, sender: str | None = None) -> None:
        """Archive (or unarchive) a repository: GitHub refuses every write to it with 403.
        Sends ``repository`` ``archived`` (``unarchived``)."""
        with self.world.lock:
            repo = self._repo(full_name)
            repo.archived = archived
            action = "archived" if archived else "unarchived"
            self.hub.emit(self.hub.events.repository(action, repo, sender or repo.owner))

    def _sig(self, login: str) -> Any:
        user = self.world.user(login)
        return gitstore.signature(
            user.name or user.login,
            user.email or f"{user.id}+{user.login}@users.noreply.simulator",
            self.world.clock.now(),
        )

    def commit(
        self,
        full_name: str,
        branch: str,
        files: dict[str, str | bytes | None],
        *,
        message: str = "Update files",
        author: str = "octocat",
        parent: str | None = None,
        emit: bool = True,
    ) -> str:
        """Commit ``files`` (None deletes) on ``branch``, as a push by ``author``; returns sha.

        Pull requests whose head is ``branch`` get ``synchronize``; a new branch starts from
        ``parent`` or the default branch.
        """
        with self.world.lock:
            repo = self._repo(full_name)
            ref = f"refs/heads/{branch}"
            old = gitstore.ref_sha(repo.git, ref)
            start = parent or old or gitstore.ref_sha(repo.git, f"refs/heads/{repo.default_branch}")
            sha = gitstore.commit_files(repo.git, branch, files, message, self._sig(author), parent=start)
            if emit:
                self.hub.refs_changed(
                    repo,
                    [(ref, old or ZERO, sha)],
                    author,
                    forced={ref} if old and parent and parent != old else None,
                )
            return sha

    def create_branch(
        self, full_name: str, branch: str, from_ref: str | None = None, *, user: str = "octocat"
    ) -> str:
        with self.world.lock:
            repo = self._repo(full_name)
            commit = gitstore.resolve(repo.git, from_ref or repo.default_branch)
            if commit is None:
                raise KeyError(f"no ref {from_ref} in {full_name}")
            ref = f"refs/heads/{branch}"
            repo.git.references.create(ref, commit.id, force=True)
            self.hub.refs_changed(repo, [(ref, ZERO, str(commit.id))], user)
            return str(commit.id)

    def protect_branch(
        self,
        full_name: str,
        branch: str,
        *,
        required_signatures: bool = False,
        push_allowances: list[str] | None = None,
        required_checks: list[str] | None = None,
        ruleset: bool = False,
    ) -> None:
        """Protect ``branch`` (``ruleset=True``: by a ruleset, worded GH013 / 409): pushes over
        git and ``PATCH /git/refs`` that break a rule are refused in GitHub's words (see
        :mod:`bot.simulator.branch_rules`). The driver's own commits, a maintainer's pushes,
        are not checked."""
        rules = BranchRules(
            required_signatures=required_signatures,
            push_allowances=tuple(push_allowances) if push_allowances is not None else None,
            required_checks=tuple(required_checks or ()),
            ruleset=ruleset,
        )
        with self.world.lock:
            self._repo(full_name).rules[branch] = rules

    def ref(self, full_name: str, ref: str) -> str | None:
        """The sha a ref points at (``main``, ``refs/heads/main``, ``refs/pull/1/head``)."""
        with self.world.lock:
            repo = self._repo(full_name)
            full = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
            return gitstore.ref_sha(repo.git, full)

    def refs(self, full_name: str) -> dict[str, str]:
        with self.world.lock:
            return gitstore.all_refs(self._repo(full_name).git)

    def file(self, full_name: str, ref: str, path: str) -> str | None:
        with self.world.lock:
            repo = self._repo(full_name)
            commit = gitstore.resolve(repo.git, ref)
            obj = gitstore.read_path(repo.git, commit, path) if commit is not None else None
            return obj.data.decode() if isinstance(obj, pygit2.Blob) else None

    def clone_url(self, full_name: str, token: str | None = None) -> str:
        base = self.url or "http://simulator.invalid"
        if token:
            scheme, _, rest = base.partition("://")
            base = f"{scheme}://x-access-token:{token}@{rest}"
        return f"{base}/{self._repo(full_name).full_name}.git"

    def set_permission(
        self, full_name: str, user: str, level: str, *, custom_role: str | None = None
    ) -> None:
        """Give ``user`` a role on the repo: none, read, triage, write, maintain or admin;
        ``custom_role`` names an organisation's custom role built on ``level``."""
        from bot.simulator.state import PERMISSION_LEVELS

        if level not in PERMISSION_LEVELS:
            raise ValueError(f"unknown permission level {level!r}")
        with self.world.lock:
            self.world.user(user)
            repo = self._repo(full_name)
            repo.permissions[user.lower()] = level
            if custom_role:
                repo.custom_roles[user.lower()] = custom_role
            else:
                repo.custom_roles.pop(user.lower(), None)

    # -- pull requests -------------------------------------------------------------------

    def open_pull_request(
        self,
        full_name: str,
        head: str,
        base: str | None = None,
        *,
        title: str = "A change",
        body: str | None = None,
        user: str = "octocat",
        draft: bool = False,
        from_fork: str | None = None,
        maintainer_can_modify: bool = False,
    ) -> int:
        """Open a PR (``from_fork``: the fork owner whose ``owner/name`` holds ``head``;
        ``maintainer_can_modify``: the fork allows pushes from the base's maintainers and
        Apps, to the PR's head branch)."""
        repo = self._repo(full_name)
        head_repo = repo if from_fork is None else self._repo(f"{from_fork}/{repo.name}")
        pull = self.hub.open_pull(
            repo,
            head_repo=head_repo,
            head=head,
            base=base or repo.default_branch,
            title=title,
            body=body,
            user=user,
            draft=draft,
            maintainer_can_modify=maintainer_can_modify,
        )
        return pull.number

    def pull(self, full_name: str, number: int) -> Pull:
        pull = self.world.pull(full_name, number)
        if pull is None:
            raise KeyError(f"no pull request {full_name}#{number}")
        return pull

    def close_pull_request(
        self, full_name: str, number: int, *, user: str = "octocat", merged: bool = False
    ) -> None:
        self.hub.set_pull_state(self.pull(full_name, number), "closed", user, merged=merged)

    def reopen_pull_request(self, full_name: str, number: int, *, user: str = "octocat") -> None:
        self.hub.set_pull_state(self.pull(full_name, number), "reopened", user)

    def ready_for_review(self, full_name: str, number: int, *, user: str = "octocat") -> None:
        self.hub.set_pull_state(self.pull(full_name, number), "ready_for_review", user)

    def add_label(self, full_name: str, number: int, label: str, *, user: str = "octocat") -> None:
        self.hub.label_pull(self.pull(full_name, number), label, user)

    def comment(
        self,
        full_name: str,
        number: int,
        body: str,
        *,
        user: str = "octocat",
        permission: str | None = None,
    ) -> int:
        """``user`` comments on the PR (sends ``issue_comment`` ``created``); returns its id.

        ``permission`` first gives ``user`` that role on the repository (see set_permission).
        """
        if permission is not None:
            self.set_permission(full_name, user, permission)
        return self.hub.add_comment(self.pull(full_name, number), user, body).id

    def edit_comment(self, comment_id: int, body: str, *, user: str | None = None) -> None:
        comment = self.world.issue_comments[comment_id]
        self.hub.edit_comment(comment, body, user or comment.user)

    def react(self, comment_id: int, content: str, *, user: str) -> None:
        """``user`` reacts to a PR comment (GitHub sends no webhook for a reaction)."""
        comment = self.world.issue_comments[comment_id]
        with self.world.lock:
            comment.reactions.append(Reaction(self.world.next_id(), user, content, self.hub.now()))

    # -- checks, CI, merge queue ---------------------------------------------------------

    def _check_run(self, check_run_id: int) -> CheckRun:
        run = self.world.check_runs.get(check_run_id)
        if run is None:
            raise KeyError(f"no check run {check_run_id}")
        return run

    def click_button(self, check_run_id: int, identifier: str, *, user: str = "octocat") -> None:
        """Press a check run's action button (``check_run`` ``requested_action``)."""
        with self.world.lock:
            run = self._check_run(check_run_id)
            if identifier not in [a["identifier"] for a in run.actions]:
                raise ValueError(f"check run {check_run_id} has no button {identifier!r}")
            repo = self._repo(run.repo)
            self.hub.emit(self.hub.events.check_run("requested_action", repo, run, user, identifier))

    def rerequest_check_run(self, check_run_id: int, *, user: str = "octocat") -> None:
        with self.world.lock:
            run = self._check_run(check_run_id)
            repo = self._repo(run.repo)
            self.hub.emit(self.hub.events.check_run("rerequested", repo, run, user, None))

    def rerequest_check_suite(self, full_name: str, head_sha: str, *, user: str = "octocat") -> None:
        with self.world.lock:
            repo = self._repo(full_name)
            suite = self.hub.suite_for(repo, head_sha)
            self.hub.emit(self.hub.events.check_suite("rerequested", repo, suite, user))

    def complete_workflow_run(
        self,
        full_name: str,
        *,
        head_sha: str | None = None,
        pull_number: int | None = None,
        name: str = "CI",
        job: str = "test",
        conclusion: str = "failure",
        user: str = "octocat",
    ) -> int:
        """CI finished on a PR head (or a sha): GitHub Actions' check run ``job`` completes
        with ``conclusion`` in its own suite, and ``workflow_run`` ``completed`` is sent.
        Returns the workflow run id."""
        with self.world.lock:
            repo = self._repo(full_name)
            pulls: list[int] = []
            branch = repo.default_branch
            if pull_number is not None:
                pull = self.pull(full_name, pull_number)
                head_sha = head_sha or pull.head_sha
                branch = pull.head_ref
                pulls = [pull.number]
            sha = head_sha or self.ref(full_name, repo.default_branch)
            assert sha is not None
            now = self.world.clock.now()
            suite = self.hub.find_suite(repo, sha, ACTIONS_APP_ID) or self.hub.new_suite(
                repo, sha, branch, ACTIONS_APP_ID
            )
            check = CheckRun(
                id=self.world.next_id(),
                repo=repo.full_name,
                suite_id=suite.id,
                app_id=ACTIONS_APP_ID,
                name=job,
                head_sha=sha,
                status="completed",
                conclusion=conclusion,
                started_at=now,
                completed_at=now,
                details_url=None,
                external_id=None,
                title=f"{name} {conclusion}",
                summary=f"The {job} job of {name} finished: {conclusion}.",
            )
            self.world.check_runs[check.id] = check
            self.hub.refresh_suite(suite)
            count = sum(1 for r in self.world.workflow_runs.values() if r.repo == repo.full_name)
            run = WorkflowRun(
                id=self.world.next_id(),
                repo=repo.full_name,
                name=name,
                head_sha=sha,
                head_branch=branch,
                event="pull_request" if pulls else "push",
                status="completed",
                conclusion=conclusion,
                created_at=now,
                updated_at=now,
                workflow_id=zlib.crc32(f"{repo.full_name}:{name}".encode()) % 10_000_000,
                run_number=count + 1,
                pull_numbers=pulls,
                check_suite_id=suite.id,
            )
            self.world.workflow_runs[run.id] = run
            self.hub.emit(self.hub.events.workflow_run(repo, run, user))
            return run.id

    def request_merge_group(self, full_name: str, pull_number: int, *, user: str = "octocat") -> str:
        """Queue a PR in GitHub's merge queue: a ``gh-readonly-queue`` branch with the merge
        of base and head, and ``merge_group`` ``checks_requested``; returns the group's sha."""
        with self.world.lock:
            repo = self._repo(full_name)
            pull = self.pull(full_name, pull_number)
            base_sha = gitstore.ref_sha(repo.git, f"refs/heads/{pull.base_ref}")
            assert base_sha is not None
            index = repo.git.merge_commits(base_sha, pull.head_sha)
            if index.conflicts is not None:
                raise ValueError(f"{full_name}#{pull_number} does not merge cleanly")
            tree = index.write_tree(repo.git)
            sig = self._sig(user)
            sha = str(
                repo.git.create_commit(
                    None,
                    sig,
                    sig,
                    f"Merge pull request #{pull_number}",
                    tree,
                    [
                        gitstore.lookup(repo.git, base_sha, pygit2.Commit).id,
                        gitstore.lookup(repo.git, pull.head_sha, pygit2.Commit).id,
                    ],
                )
            )
            ref = f"refs/heads/gh-readonly-queue/{pull.base_ref}/pr-{pull_number}-{base_sha}"
            repo.git.references.create(ref, sha, force=True)
            self.hub.emit(
                self.hub.events.merge_group(repo, sha, ref, f"refs/heads/{pull.base_ref}", base_sha, user)
            )
            return sha

    def send_event(self, event: str, payload: dict[str, Any]) -> Delivery:
        """Send any payload, signed, as the App's webhook (for events not modelled here)."""
        return self._webhooks.enqueue(event, payload)

    def redeliver(self, delivery_id: int) -> Delivery:
        for d in self.world.deliveries:
            if d.id == delivery_id:
                return self._webhooks.redeliver(d)
        raise KeyError(f"no delivery {delivery_id}")

    # -- state for assertions ------------------------------------------------------------

    def check_runs(
        self, full_name: str | None = None, *, head_sha: str | None = None, name: str | None = None
    ) -> list[CheckRun]:
        """Check runs (oldest first) with every annotation they received, across PATCHes."""
        with self.world.lock:
            return [
                r
                for r in sorted(self.world.check_runs.values(), key=lambda r: r.id)
                if (full_name is None or r.repo.lower() == full_name.lower())
                and (head_sha is None or r.head_sha == head_sha)
                and (name is None or r.name == name)
            ]

    def comments(self, full_name: str, number: int) -> list[IssueComment]:
        with self.world.lock:
            return [
                c
                for c in sorted(self.world.issue_comments.values(), key=lambda c: c.id)
                if c.repo.lower() == full_name.lower() and c.number == number
            ]

    def reviews(self, full_name: str, number: int) -> list[Review]:
        with self.world.lock:
            return [
                r
                for r in sorted(self.world.reviews.values(), key=lambda r: r.id)
                if r.repo.lower() == full_name.lower() and r.number == number
            ]

    def review_comments(self, full_name: str, number: int) -> list[ReviewComment]:
        with self.world.lock:
            return [
                c
                for c in sorted(self.world.review_comments.values(), key=lambda c: c.id)
                if c.repo.lower() == full_name.lower() and c.number == number
            ]

    def deliveries(self, event: str | None = None, action: str | None = None) -> list[Delivery]:
        with self.world.lock:
            return [
                d
                for d in self.world.deliveries
                if (event is None or d.event == event) and (action is None or d.action == action)
            ]


class SimulatorThread:
    """Run a :class:`Simulator` on its own event loop in a background thread.

    ``with SimulatorThread(tmp_path) as sim:`` gives a started simulator to synchronous code
    (pytest tests, githubkit's sync client); leaving the block stops it.
    """

    def __init__(
        self, data_dir: Path | str, *, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
    ) -> None:
        self.simulator = Simulator(data_dir, **kwargs)
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulator", daemon=True)

    def start(self) -> Simulator:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self.simulator.start(self._host, self._port), self._loop)
        future.result(30)
        return self.simulator

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.simulator.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
