"""GitHubConfigSource over real HTTP: a loopback server speaking the contents API (for ETag
and failure behaviour the simulator does not model), then the simulator end to end."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from githubkit import GitHub, TokenAuthStrategy

from bot.errors import ConfigError, TransientError
from bot.policies.cache import ConfigCache
from bot.policies.effective import load_effective_config
from bot.policies.source import GitHubConfigSource


@dataclass
class FakeRepoServer:
    """Files served in GitHub's contents-API JSON with ETags; counts every request."""

    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    default_branches: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    fail_with: int | None = None
    url: str = ""
    while_answering: list = field(default_factory=list)
    """Callables run (once each) while a request is being answered."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/repos/{owner}/{repo}", self.repo)
        app.router.add_get("/repos/{owner}/{repo}/contents/{path:.*}", self.contents)
        return app

    def _answer(self, request: web.Request, body: dict, etag: str) -> web.Response:
        self.requests.append((request.method, request.path_qs, request.headers.get("If-None-Match")))
        while self.while_answering:
            self.while_answering.pop(0)()
        if self.fail_with:
            return web.json_response({"message": "boom"}, status=self.fail_with)
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.json_response(body, headers={"ETag": etag})

    async def repo(self, request: web.Request) -> web.Response:
        name = f"{request.match_info['owner']}/{request.match_info['repo']}"
        if name not in self.default_branches:
            self.requests.append((request.method, request.path_qs, None))
            return web.json_response({"message": "Not Found"}, status=404)
        branch = self.default_branches[name]
        return self._answer(request, {"default_branch": branch}, f'"{branch}"')

    async def contents(self, request: web.Request) -> web.Response:
        name = f"{request.match_info['owner']}/{request.match_info['repo']}"
        path = request.match_info["path"]
        if path == "dir":
            return self._answer(request, [], '"dir"')  # type: ignore[arg-type]
        content = self.files.get((name, path))
        if content is None:
            self.requests.append((request.method, request.path_qs, None))
            return web.json_response({"message": "Not Found"}, status=404)
        sha = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        body = {
            "type": "file",
            "encoding": "base64",
            "size": len(content),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": base64.encodebytes(content).decode(),
            "sha": sha,
        }
        return self._answer(request, body, f'"{sha}"')


@pytest.fixture
def server() -> Iterator[FakeRepoServer]:
    fake = FakeRepoServer()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app(), access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield fake
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(url: str) -> GitHub:
    return GitHub(TokenAuthStrategy("test-token"), base_url=url + "/", auto_retry=False, http_cache=False)


def test_reads_files_and_default_branch(server: FakeRepoServer) -> None:
    server.files[("acme/app", ".github/shunter.yml")] = b"version: 1\n"
    server.default_branches["acme/app"] = "trunk"
    source = GitHubConfigSource(_client(server.url))
    content, sha = source.read_file("acme", "app", ".github/shunter.yml", "trunk")  # type: ignore[misc]
    assert content == b"version: 1\n"
    assert sha == hashlib.sha1(b"blob 11\0version: 1\n").hexdigest()
    assert source.default_branch("acme", "app") == "trunk"
    assert server.requests[0][1] == "/repos/acme/app/contents/.github/shunter.yml?ref=trunk"
    assert source.read_file("acme", "app", "missing.yml") is None


def test_unchanged_config_costs_no_request_then_only_304s(server: FakeRepoServer) -> None:
    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: 4}\n"
    server.default_branches["acme/app"] = "main"
    clock = Clock()
    source = GitHubConfigSource(_client(server.url), fresh_seconds=60, clock=clock)
    cache = ConfigCache()
    first = load_effective_config(source, "acme", "app", cache=cache)
    assert first.config.patches.max_files == 4
    after_first = len(server.requests)  # repo, config file, org config (404)
    assert after_first == 3
    clock.now += 30
    load_effective_config(source, "acme", "app", cache=cache)
    assert len(server.requests) == after_first  # fresh: no request at all
    clock.now += 60
    parses = cache.misses
    again = load_effective_config(source, "acme", "app", cache=cache)
    assert again.config.patches.max_files == 4
    revalidations = server.requests[after_first:]
    assert [r[2] is not None for r in revalidations].count(True) == 2  # repo + file: If-None-Match
    assert source.not_modified == 2
    assert cache.misses == parses  # the blob was not parsed again


def test_changed_file_and_invalidate(server: FakeRepoServer) -> None:
    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: 4}\n"
    clock = Clock()
    source = GitHubConfigSource(_client(server.url), clock=clock)
    assert source.read_file("acme", "app", ".github/shunter.yml", "main")[0].endswith(b"4}\n")  # type: ignore[index]
    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: 5}\n"
    # still fresh: the old answer, until a push invalidates it
    assert source.read_file("acme", "app", ".github/shunter.yml", "main")[0].endswith(b"4}\n")  # type: ignore[index]
    source.invalidate("ACME", "app")
    assert source.read_file("acme", "app", ".github/shunter.yml", "main")[0].endswith(b"5}\n")  # type: ignore[index]


def test_a_directory_is_not_a_config(server: FakeRepoServer) -> None:
    source = GitHubConfigSource(_client(server.url))
    with pytest.raises(ConfigError, match="is a directory"):
        source.read_file("acme", "app", "dir")


def test_server_errors_are_transient_and_loading_falls_back(server: FakeRepoServer) -> None:
    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: 6}\n"
    server.default_branches["acme/app"] = "main"
    clock = Clock()
    cache = ConfigCache()
    source = GitHubConfigSource(_client(server.url), clock=clock)
    load_effective_config(source, "acme", "app", cache=cache)
    server.fail_with = 502
    clock.now += 120
    with pytest.raises(TransientError):
        source.read_file("acme", "app", ".github/shunter.yml", "main")
    eff = load_effective_config(source, "acme", "app", cache=cache)
    assert (eff.status, eff.fallback) == ("unavailable", "last_good")
    assert eff.config.patches.max_files == 6


def test_last_good_survives_in_redis(server: FakeRepoServer, redis_client) -> None:
    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: 8}\n"
    server.default_branches["acme/app"] = "main"
    source = GitHubConfigSource(_client(server.url))
    load_effective_config(source, "acme", "app", cache=ConfigCache(redis_client))
    # a new process: empty LRU, same Redis
    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: nope}\n"
    fresh_source = GitHubConfigSource(_client(server.url))
    cache = ConfigCache(redis_client)
    eff = load_effective_config(fresh_source, "acme", "app", cache=cache)
    assert (eff.status, eff.fallback) == ("invalid", "last_good")
    assert eff.config.patches.max_files == 8
    # the broken blob's parse result is shared too
    second = ConfigCache(redis_client)
    load_effective_config(GitHubConfigSource(_client(server.url)), "acme", "app", cache=second)
    assert second.hits >= 1


def test_workers_share_answers_and_invalidations_through_redis(server: FakeRepoServer, redis_client) -> None:
    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: 4}\n"
    server.default_branches["acme/app"] = "main"
    clock = Clock()
    one = GitHubConfigSource(_client(server.url), store=redis_client, installation_id=7, clock=clock)
    other = GitHubConfigSource(_client(server.url), store=redis_client, installation_id=7, clock=clock)
    load_effective_config(one, "acme", "app", cache=ConfigCache(), default_branch="main")
    assert len(server.requests) == 2  # the file and the org's (a 404)
    # another worker (rq forks a fresh process per job) asks no question already answered
    again = load_effective_config(other, "acme", "app", cache=ConfigCache(), default_branch="main")
    assert again.config.patches.max_files == 4
    assert len(server.requests) == 2 and other.requests == 0
    # a push handled by one worker drops the answers for every worker
    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: 5}\n"
    other.invalidate("acme", "APP")
    changed = load_effective_config(one, "acme", "app", cache=ConfigCache(), default_branch="main")
    assert changed.config.patches.max_files == 5
    # past the window an answer is revalidated with its ETag (a 304 costs no rate limit)
    clock.now += 61
    one.read_file("acme", "app", ".github/shunter.yml", "main")
    assert server.requests[-1][2] is not None and one.not_modified == 1
    # another installation keeps answers of its own (a private repo may be a 404 for it)
    stranger = GitHubConfigSource(_client(server.url), store=redis_client, installation_id=8, clock=clock)
    before = len(server.requests)
    stranger.read_file("acme", "app", ".github/shunter.yml", "main")
    assert len(server.requests) == before + 1


def test_an_answer_fetched_across_an_invalidation_is_not_kept(server: FakeRepoServer, redis_client) -> None:
    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: 4}\n"
    reader = GitHubConfigSource(_client(server.url), store=redis_client, installation_id=9)
    pusher = GitHubConfigSource(_client(server.url), store=redis_client, installation_id=9)
    # a push lands while the reader's request is in flight: its answer may predate the push
    server.while_answering.append(lambda: pusher.invalidate("acme", "app"))
    reader.read_file("acme", "app", ".github/shunter.yml", "main")
    before = len(server.requests)
    later = GitHubConfigSource(_client(server.url), store=redis_client, installation_id=9)
    later.read_file("acme", "app", ".github/shunter.yml", "main")
    assert len(server.requests) == before + 1  # asked GitHub again rather than trust it
    # and that answer, fetched with no push in between, is kept
    GitHubConfigSource(_client(server.url), store=redis_client, installation_id=9).read_file(
        "acme", "app", ".github/shunter.yml", "main"
    )
    assert len(server.requests) == before + 1


def test_without_redis_the_shared_cache_is_skipped_not_fatal(server: FakeRepoServer) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    server.files[("acme/app", ".github/shunter.yml")] = b"patches: {max_files: 3}\n"
    down = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    source = GitHubConfigSource(_client(server.url), store=down, installation_id=1)
    content, _sha = source.read_file("acme", "app", ".github/shunter.yml", "main")  # type: ignore[misc]
    assert content.endswith(b"3}\n")
    source.invalidate("acme", "app")


# -- the simulator ------------------------------------------------------------------------


@pytest.fixture
def sim(tmp_path: Path):
    simulator = pytest.importorskip("bot.simulator")
    with simulator.SimulatorThread(tmp_path / "sim") as running:
        yield running


def _installation_source(sim) -> GitHubConfigSource:
    from bot.github.client import GitHubFactory
    from bot.settings import load_settings

    env = sim.settings_env()
    settings = load_settings(
        github_url=env["SHUNTER_GITHUB_URL"],
        app_id=int(env["SHUNTER_APP_ID"]),
        private_key_path=env["SHUNTER_PRIVATE_KEY_PATH"],
        mutation_interval=0,
    )
    _, client = GitHubFactory(settings).installation_for_repo("acme", "app")
    return GitHubConfigSource(client)


def test_config_check_end_to_end_through_the_simulator(sim) -> None:
    """The default branch's config decides; a PR disabling security only gets a preview."""
    from bot.policies.check_output import config_check_output
    from bot.policies.decisions import PullRequestFacts, should_run_stage
    from bot.policies.effective import preview_config_change

    sim.create_repo(
        "acme/.github",
        {".github/shunter.yml": "ignore:\n  title_patterns: ['^WIP']\n"},
        owner_type="Organization",
    )
    sim.create_repo(
        "acme/app",
        {".github/shunter.yml": "extends: [recommended]\n", "app.py": "x = 1\n"},
        owner_type="Organization",
    )
    sim.commit(
        "acme/app",
        "weaken",
        {".github/shunter.yml": "extends: [recommended]\nstages:\n  security:\n    enabled: false\n"},
        author="mallory",
    )
    number = sim.open_pull_request("acme/app", "weaken", user="mallory")
    head = sim.pull("acme/app", number).head_sha

    source = _installation_source(sim)
    current = load_effective_config(source, "acme", "app")
    assert current.status == "ok", current.problems
    assert current.layers == ("default", "org", "preset:recommended", "repo")
    assert current.config.ignore.title_patterns == ["^WIP"]
    assert current.source_of("ignore.title_patterns") == "org"
    assert current.config.stages.security.enabled is True
    facts = PullRequestFacts(author="mallory", changed_paths=[".github/shunter.yml"])
    assert should_run_stage(current.config, "security", "opened", facts).allowed

    proposed = source.read_file("acme", "app", ".github/shunter.yml", head)
    assert proposed is not None
    preview = preview_config_change(source, "acme", "app", proposed[0], current=current)
    out = config_check_output(current, preview=preview)
    client = source.github
    client.rest.checks.create(
        "acme",
        "app",
        data={
            "name": out.name,
            "head_sha": head,
            "status": "completed",
            "conclusion": out.conclusion,
            "output": out.output(),
        },
    )
    [run] = sim.check_runs("acme/app", name="shunter/config")
    assert run.conclusion == "success"
    assert "does not take effect for this pull request" in (run.summary or "")
    assert "`stages.security.enabled` | `true` | `false`" in (run.summary or "")


def test_invalid_config_check_run_has_annotations_in_the_simulator(sim) -> None:
    from bot.policies.check_output import config_check_output

    handle = sim.create_repo(
        "acme/app",
        {".github/shunter.yml": "stages:\n  security:\n    fail_on: warn\n"},
        owner_type="Organization",
    )
    source = _installation_source(sim)
    eff = load_effective_config(source, "acme", "app")
    out = config_check_output(eff)
    source.github.rest.checks.create(
        "acme",
        "app",
        data={
            "name": out.name,
            "head_sha": handle.head_sha,
            "status": "completed",
            "conclusion": out.conclusion,
            "output": out.output(),
        },
    )
    [run] = sim.check_runs("acme/app", name="shunter/config")
    assert run.conclusion == "failure"
    [note] = run.annotations
    assert (note["path"], note["start_line"], note["start_column"]) == (
        ".github/shunter.yml",
        3,
        14,
    )
    assert "did you mean 'warning'?" in note["message"]
    assert "built-in defaults" in (run.summary or "")


def test_cli_explain_repo_against_the_simulator(sim, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    sim.create_repo(
        "acme/app",
        {".github/shunter.yml": "extends: [security-only]\npatches:\n  max_lines: 42\n"},
        owner_type="Organization",
    )
    for name, value in sim.settings_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHUNTER_MUTATION_INTERVAL", "0")
    result = CliRunner().invoke(main, ["config", "explain", "--repo", "acme/app"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {line.split(" = ")[0].strip(): line for line in result.stdout.splitlines()[1:]}
    assert rows["patches.max_lines"].endswith("= 42  # repo")
    assert rows["stages.review.enabled"].endswith("= false  # preset:security-only")
    assert result.stdout.splitlines()[0] == "# layers (lowest first): default < preset:security-only < repo"


def test_an_unusable_answer_is_remembered_and_revalidated_like_a_good_one(
    server: FakeRepoServer, redis_client
) -> None:
    server.files[("acme/app", ".github/shunter.yml")] = b"#" * (300 * 1024)
    clock = Clock()
    workers = [
        GitHubConfigSource(_client(server.url), fresh_seconds=60, clock=clock, store=redis_client, installation_id=11)
        for _ in range(2)
    ]
    for source in workers:  # the second worker asks nothing: the refusal is shared
        for path in (".github/shunter.yml", "dir"):
            with pytest.raises(ConfigError, match="the limit is 262144|is a directory"):
                source.read_file("acme", "app", path, "main")
    assert len(server.requests) == 2
    clock.now += 120
    with pytest.raises(ConfigError, match="is a directory"):
        workers[0].read_file("acme", "app", "dir", "main")
    assert server.requests[-1][2] == '"dir"'  # revalidated with its ETag, answered 304
    assert workers[0].not_modified == 1
    server.files[("acme/app", ".github/shunter.yml")] = b"version: 1\n"
    workers[1].invalidate("acme", "app")  # a push to the default branch fixed it
    assert workers[0].read_file("acme", "app", ".github/shunter.yml", "main")[0] == b"version: 1\n"  # type: ignore[index]


def test_oversized_config_is_refused_without_decoding(server: FakeRepoServer) -> None:
    server.files[("acme/app", ".github/shunter.yml")] = b"#" * (300 * 1024)
    server.default_branches["acme/app"] = "main"
    source = GitHubConfigSource(_client(server.url))
    with pytest.raises(ConfigError, match="the limit is 262144"):
        source.read_file("acme", "app", ".github/shunter.yml", "main")
    eff = load_effective_config(source, "acme", "app")
    assert (eff.status, eff.fallback) == ("invalid", "defaults")
    [problem] = eff.problems
    assert (problem.file, problem.line, problem.column, problem.source) == (
        ".github/shunter.yml",
        1,
        1,
        "repo",
    )
    assert "is 307200 bytes; the limit is 262144" in problem.message


def test_client_errors_are_github_errors(server: FakeRepoServer) -> None:
    from bot.errors import GitHubError

    server.files[("acme/app", "x.yml")] = b"a: 1\n"
    server.fail_with = 401
    source = GitHubConfigSource(_client(server.url))
    with pytest.raises(GitHubError) as info:
        source.read_file("acme", "app", "x.yml")
    assert info.value.status == 401
