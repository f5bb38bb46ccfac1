"""`shunter doctor` and `shunter replay` against real servers."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from click.testing import CliRunner

from bot.cli import main


def test_doctor_all_green_against_the_simulator(clean_env, monkeypatch, simulator, redis_url, tmp_path):
    for key, value in simulator.settings_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "✓ app credentials: authenticated as App 'shunter-sim'" in result.output
    assert "✓ redis" in result.output and "✓ database" in result.output
    assert "✓ missed-delivery sweeps: none has run yet" in result.output
    assert "✓ run history pruning: none has run yet" in result.output


def _doctor_against(simulator, monkeypatch, redis_url, tmp_path):
    for key, value in simulator.settings_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    return CliRunner().invoke(main, ["doctor"])


def test_doctor_checks_the_bot_login_against_the_apps_slug(clean_env, monkeypatch, simulator, redis_url, tmp_path):
    result = _doctor_against(simulator, monkeypatch, redis_url, tmp_path)
    assert "✓ bot login: SHUNTER_BOT_LOGIN is shunter-sim[bot]" in result.output, result.output
    monkeypatch.delenv("SHUNTER_BOT_LOGIN")
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "✓ bot login: shunter-sim[bot], learned from GitHub (SHUNTER_BOT_LOGIN unset)" in result.output
    monkeypatch.setenv("SHUNTER_BOT_LOGIN", "shunter[bot]")
    result = CliRunner().invoke(main, ["doctor"])
    assert "⚠ bot login: SHUNTER_BOT_LOGIN is 'shunter[bot]'; this App's bot is shunter-sim[bot]" in result.output


def test_doctor_says_the_clock_is_in_step_with_github(clean_env, monkeypatch, simulator, redis_url, tmp_path):
    result = _doctor_against(simulator, monkeypatch, redis_url, tmp_path)
    assert "✓ clock: in step with GitHub's (within about 1 s)" in result.output, result.output


def test_doctor_gives_the_clock_offset_from_githubs_date(clean_env, monkeypatch, simulator, redis_url, tmp_path):
    """The simulator's Date header follows its clock: moving it is moving GitHub's time."""
    simulator.advance_time(3)  # GitHub is 3 s ahead: this host is behind
    result = _doctor_against(simulator, monkeypatch, redis_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert re.search(r"^✓ clock: [234] s behind GitHub$", result.output, re.M), result.output


def test_doctor_warns_of_a_clock_far_off_githubs_without_failing(
    clean_env, monkeypatch, simulator, redis_url, tmp_path
):
    simulator.advance_time(-95)  # GitHub is 95 s behind: this host's clock runs fast
    result = _doctor_against(simulator, monkeypatch, redis_url, tmp_path)
    assert result.exit_code == 0, result.output  # Shunter copes; the operator should still look
    assert "✓ app credentials: authenticated as App 'shunter-sim'" in result.output  # the JWT follows GitHub's clock
    (line,) = [line for line in result.output.splitlines() if "clock:" in line]
    assert re.fullmatch(
        r"⚠ clock: the host's clock is 9[456] s ahead of GitHub's: fix NTP; Shunter compensates "
        r"for the App JWT, but logs and run times will be off",
        line,
    ), line
    assert result.output.splitlines()[-1].startswith("0 failures, "), result.output


def test_a_missing_date_header_is_worth_a_look():
    """Without GitHub's Date (a proxy that drops it) the JWT cannot follow GitHub's clock."""
    from bot.doctor import clock_check

    check = clock_check(None)
    assert not check.ok and not check.required
    assert check.detail.startswith("GitHub's answer had no Date header (does a proxy drop it?)")
    assert clock_check(-30.0).ok and not clock_check(30.6).ok


def test_doctor_lists_what_is_missing(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("SHUNTER_REDIS_URL", "redis://127.0.0.1:1")
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "✗ webhook secret" in result.output
    assert "✗ redis: Redis at redis://127.0.0.1:1 does not answer" in result.output
    assert "✗ app credentials: SHUNTER_APP_ID" in result.output


def test_doctor_tells_failures_from_warnings(clean_env, monkeypatch, tmp_path):
    """An optional check's problem was marked ✗ like a required failure: only the exit
    status told "Shunter will not work" from "worth a look"; they are ⚠ now, and counted."""
    monkeypatch.setenv("SHUNTER_REDIS_URL", "redis://127.0.0.1:1")
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["doctor", "--timeout", "1"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "⚠ redis eviction: cannot read its settings: ConnectionError" in lines, result.output
    assert "⚠ missed-delivery sweeps: cannot read their state: ConnectionError" in lines
    assert "⚠ run history pruning: cannot read its state: ConnectionError" in lines
    failed = [line.split(":")[0] for line in lines if line.startswith("✗ ")]
    assert failed == ["✗ webhook secret", "✗ redis", "✗ app credentials"]
    warned = sum(line.startswith("⚠ ") for line in lines)
    legend = "(✗: Shunter will not work until fixed; ⚠: worth a look, Shunter still works)"
    assert lines[-1] == f"3 failures, {warned} warnings {legend}"


def test_replay_signs_and_posts(clean_env, monkeypatch, redis_url, tmp_path):
    from bot.web.app import create_app
    from bot.web.commands import WebThread

    web = WebThread(create_app("replay-secret", redis_url), "127.0.0.1", 0)
    web.start()
    try:
        payload = tmp_path / "delivery.json"
        payload.write_text(json.dumps({"action": "created", "installation": {"id": 1}}))
        monkeypatch.setenv("SHUNTER_WEBHOOK_SECRET", "replay-secret")
        url = f"http://127.0.0.1:{web.port}/webhooks"
        ok = CliRunner().invoke(main, ["replay", str(payload), "--event", "installation", "--url", url])
        assert ok.exit_code == 0 and ok.output.startswith("202"), ok.output
        monkeypatch.setenv("SHUNTER_WEBHOOK_SECRET", "wrong")
        bad = CliRunner().invoke(main, ["replay", str(payload), "--event", "installation", "--url", url])
        assert bad.exit_code == 1 and "401 {" in bad.output
        payload.write_text("{not json")
        broken = CliRunner().invoke(main, ["replay", str(payload), "--event", "installation", "--url", url])
        assert broken.exit_code == 2 and "is not JSON" in broken.output  # bad input, not a failed check
    finally:
        web.stop()


def test_doctor_says_when_sweeps_stopped(clean_env, monkeypatch, simulator, redis_url, redis_client, tmp_path):
    import time

    from bot.github.redelivery import LAST_KEY

    for key, value in simulator.settings_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    figures = {"scanned": 40, "redelivered": 2, "gave_up": 1, "errors": 0, "complete": 1}
    redis_client.hset(LAST_KEY, mapping={**figures, "at": time.time() - 30})
    result = CliRunner().invoke(main, ["doctor"])
    assert re.search(
        r"✓ missed-delivery sweeps: last ran 3\d s ago: 40 attempts read, 2 redelivered, 1 given up", result.output
    )
    redis_client.hset(LAST_KEY, "at", time.time() - 3600)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output  # worth a look, not a broken install
    assert re.search(r"⚠ missed-delivery sweeps: last ran 36\d\d s ago", result.output)
    assert "expected every 600 s" in result.output


def _pruning_line(monkeypatch, redis_url, tmp_path) -> tuple[int, str]:
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["doctor"])
    (line,) = [line for line in result.output.splitlines() if "run history pruning:" in line]
    return result.exit_code, line


def test_doctor_says_when_run_history_pruning_stopped(
    clean_env, monkeypatch, simulator, redis_url, redis_client, tmp_path
):
    from bot.queue.jobs import RETENTION_DUE_KEY
    from bot.store.retention import LAST_KEY

    for key, value in simulator.settings_env().items():
        monkeypatch.setenv(key, value)
    _, line = _pruning_line(monkeypatch, redis_url, tmp_path)
    assert line == "✓ run history pruning: none has run yet (`shunter serve` enqueues one hourly)"
    # serve enqueued one 20 minutes ago (the key lets one through per hour); no worker took it
    redis_client.set(RETENTION_DUE_KEY, 1, ex=3600 - 1200)
    code, line = _pruning_line(monkeypatch, redis_url, tmp_path)
    assert code == 0  # worth a look, not a broken install
    assert re.fullmatch(
        r"⚠ run history pruning: never ran: one was enqueued 120\d s ago and no worker ran it: "
        r"is `shunter serve` running, with a worker\?",
        line,
    ), line
    redis_client.hset(LAST_KEY, mapping={"at": time.time() - 4 * 3600, "runs": 7, "steps": 30, "processed_comments": 2})
    code, line = _pruning_line(monkeypatch, redis_url, tmp_path)
    assert code == 0
    assert re.fullmatch(
        r"⚠ run history pruning: last ran 14\d\d\d s ago and removed 7 runs, 30 steps, 2 processed_comments "
        r"\(older than 90 days\); expected hourly: is `shunter serve` running, with a worker\?",
        line,
    ), line
    monkeypatch.setenv("SHUNTER_RETENTION_DAYS", "0")
    _, line = _pruning_line(monkeypatch, redis_url, tmp_path)
    assert line == "✓ run history pruning: off (SHUNTER_RETENTION_DAYS=0): run history is kept"


def test_doctor_opens_the_database_like_the_store(clean_env, monkeypatch, tmp_path, postgres_url):
    """``postgres://`` (what hosting providers hand out) works for the store, so doctor
    must not call it broken; a bad URL is reported as the setting it is."""
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    plain = postgres_url.replace("postgresql+psycopg://", "postgres://", 1)
    monkeypatch.setenv("SHUNTER_DATABASE_URL", plain)
    result = CliRunner().invoke(main, ["doctor"])
    assert "✓ database: SHUNTER_DATABASE_URL is reachable" in result.output, result.output
    monkeypatch.setenv("SHUNTER_DATABASE_URL", "postgresql://postgres:hunter2pw@127.0.0.1:5432:x/test")
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "✗ database: bad setting: SHUNTER_DATABASE_URL: is not a database URL" in result.output
    assert "hunter2pw" not in result.output


def test_doctor_names_a_data_dir_it_cannot_create(clean_env, monkeypatch, tmp_path):
    """A data dir under a regular file (or on a read-only disk) is a check that fails,
    not a traceback that hides every other check."""
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("SHUNTER_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "a-file" / "data"))
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"✗ data dir: {tmp_path / 'a-file' / 'data'}: Not a directory" in result.output
    assert "set SHUNTER_DATA_DIR to a writable directory" in result.output
    assert "sandbox:" in result.output  # the checks after it still ran


def test_doctor_says_the_data_dir_is_writable(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "new" / "data"))
    result = CliRunner().invoke(main, ["doctor"])
    assert f"✓ data dir: {tmp_path / 'new' / 'data'} is writable" in result.output, result.output


def test_doctor_reports_an_unreachable_database_on_one_line(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHUNTER_DATABASE_URL", "postgresql://127.0.0.1:1/test")
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    (line,) = [line for line in result.output.splitlines() if "database" in line]
    assert line.startswith("✗ database: cannot connect: OperationalError:"), result.output
    assert "Background on this error" not in result.output
    assert "sandbox:" in result.output.splitlines()[result.output.splitlines().index(line) + 1]


@pytest.fixture
def app_credentials(clean_env, monkeypatch, tmp_path):
    """An App id and a real private key, so that doctor gets as far as calling GitHub."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "app.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    monkeypatch.setenv("SHUNTER_APP_ID", "1")
    monkeypatch.setenv("SHUNTER_PRIVATE_KEY_PATH", str(pem))
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))


def _github_line(monkeypatch, url: str, *args: str) -> str:
    monkeypatch.setenv("SHUNTER_GITHUB_URL", url)
    result = CliRunner().invoke(main, ["doctor", *args])
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("✗ app credentials")]
    assert "sandbox:" in result.output  # the checks after it still ran
    return line


def test_doctor_says_github_refused_the_apps_key_not_that_it_is_unreachable(
    app_credentials, monkeypatch, simulator
):
    """githubkit's error for an answer (RequestFailed) is a RequestError too: doctor took
    GitHub's 401 for a network failure, 'cannot reach ...: HTTPStatusError: Request failed
    (check SHUNTER_GITHUB_URL and the network)', with nothing about the key."""
    monkeypatch.setenv("SHUNTER_GITHUB_URL", simulator.url)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("✗ app credentials: ")]
    assert line.startswith(f"✗ app credentials: GitHub answered 401 while calling GET /app on {simulator.url}: ")
    assert "SHUNTER_APP_ID" in line and "SHUNTER_PRIVATE_KEY" in line, line
    assert "cannot reach" not in line


def test_doctor_gives_the_clock_offset_when_github_refuses_the_app(app_credentials, monkeypatch, simulator):
    """A key GitHub does not know gets 401, and the 401 still carries GitHub's Date: the
    clock line used to be missing whenever GET /app failed."""
    simulator.advance_time(-95)  # GitHub is 95 s behind: this host's clock runs fast
    monkeypatch.setenv("SHUNTER_GITHUB_URL", simulator.url)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    credentials = lines.index(next(line for line in lines if line.startswith("✗ app credentials: ")))
    assert re.match(r"⚠ clock: the host's clock is 9[456] s ahead of GitHub's: fix NTP", lines[credentials + 1])


def test_doctor_names_a_refused_connection_to_github(app_credentials, monkeypatch):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = _github_line(monkeypatch, f"http://127.0.0.1:{port}")
    assert line == (
        f"✗ app credentials: cannot reach http://127.0.0.1:{port}: connection refused "
        "(check SHUNTER_GITHUB_URL and the network)"
    )
    assert "clock:" not in CliRunner().invoke(main, ["doctor"]).output  # no answer, no Date


def test_doctor_says_github_timed_out_quickly_and_echoes_no_password(app_credentials, monkeypatch):
    accepted: list[socket.socket] = []
    with socket.socket() as silent:  # accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(0.05)
        port = silent.getsockname()[1]
        done = threading.Event()

        def accept() -> None:
            while not done.is_set():
                try:
                    accepted.append(silent.accept()[0])
                except TimeoutError:
                    continue

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        url = f"http://x-access-token:ghs_S3cr3tT0k3nValue@127.0.0.1:{port}"
        try:
            line = _github_line(monkeypatch, url, "--timeout", "1")
        finally:
            done.set()
            acceptor.join()
    # one request that gave up (it took 37 s of retries before), counted rather than timed:
    # the doctor's other checks make its run as long as a loaded machine makes them
    assert len(accepted) == 1, accepted
    for conn in accepted:
        conn.close()
    assert "timed out" in line and "within 1 s" in line, line
    assert "S3cr3tT0k3n" not in line and "(check SHUNTER_GITHUB_URL and the network)" in line


def test_doctor_names_a_tls_error(app_credentials, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)  # plain HTTP
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        line = _github_line(monkeypatch, f"https://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert f"cannot reach https://127.0.0.1:{server.server_port}: TLS error: " in line, line


def test_doctor_says_where_enterprise_servers_api_is_when_the_url_names_its_root(
    clean_env, monkeypatch, redis_url, tmp_path
):
    from bot.simulator import SimulatorThread

    with SimulatorThread(tmp_path / "ghes", api_prefix="/api/v3", url_host="localhost") as ghes:
        for key, value in ghes.settings_env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SHUNTER_GITHUB_URL", ghes.url)  # https://HOST, without /api/v3
        monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
        monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
        result = CliRunner().invoke(main, ["doctor"])
        assert result.exit_code != 0
        assert f"set SHUNTER_GITHUB_URL={ghes.url}/api/v3" in result.output
        monkeypatch.setenv("SHUNTER_GITHUB_URL", ghes.api_url)
        fixed = CliRunner().invoke(main, ["doctor"])
    assert "✓ app credentials: authenticated as App 'shunter-sim'" in fixed.output


def test_doctor_names_api_github_com_when_the_url_is_github_coms_web_host(
    clean_env, monkeypatch, redis_url, tmp_path
):
    """``SHUNTER_GITHUB_URL=https://github.com``, reached here through a proxy that takes
    github.com to a server whose root, like github.com's web host, answers /app with 404:
    the /api/v3 advice for Enterprise Server would be wrong there."""
    from bot.simulator import SimulatorThread
    from tests.forward_proxy import ForwardProxy

    with ForwardProxy() as proxy, SimulatorThread(tmp_path / "web", api_prefix="/api/v3") as web:
        for key, value in web.settings_env().items():
            monkeypatch.setenv(key, value)
        for name in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        port = web.url.rsplit(":", 1)[1]
        monkeypatch.setenv("SHUNTER_GITHUB_URL", f"http://github.com:{port}")
        monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
        monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
        result = CliRunner().invoke(main, ["doctor"])
    assert f"GET http://github.com:{port}/app" in proxy.seen
    line = next(line for line in result.output.splitlines() if "app credentials" in line)
    assert "set SHUNTER_GITHUB_URL=https://api.github.com" in line, line
    assert "/api/v3" not in line


def test_doctor_reads_the_sweeps_and_prunes_from_a_running_embedded_valkey(clean_env, monkeypatch, tmp_path):
    """The README's quick start runs `shunter serve --with-worker` on the embedded Valkey;
    doctor beside it joins that Valkey (as `shunter queue` does) instead of saying nothing."""
    from bot.github.redelivery import LAST_KEY as SWEEP_KEY
    from bot.queue.connection import start_embedded
    from bot.store.retention import LAST_KEY as PRUNE_KEY

    data = tmp_path / "data"
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(data))
    result = CliRunner().invoke(main, ["doctor"])
    assert "✓ redis: SHUNTER_REDIS_URL unset: an embedded Valkey will be started" in result.output
    assert "✓ missed-delivery sweeps: no Shunter process runs the data dir's embedded Valkey yet" in result.output
    handle = start_embedded(data)  # what `shunter serve` does
    try:
        conn = handle.client()
        conn.hset(SWEEP_KEY, mapping={"scanned": 4, "redelivered": 1, "gave_up": 0, "errors": 0, "at": time.time()})
        conn.hset(PRUNE_KEY, mapping={"at": time.time(), "runs": 3, "steps": 9, "processed_comments": 0})
        result = CliRunner().invoke(main, ["doctor"])
    finally:
        handle.close()
    assert f"✓ redis: SHUNTER_REDIS_URL unset: the data dir's embedded Valkey answers at {handle.url}" in result.output
    assert re.search(r"✓ missed-delivery sweeps: last ran \d s ago: 4 attempts read, 1 redelivered", result.output)
    assert re.search(r"✓ run history pruning: last ran \d s ago and removed 3 runs, 9 steps", result.output)


def test_doctor_warns_of_a_redis_that_evicts_or_keeps_nothing(clean_env, monkeypatch, tmp_path):
    """rq needs maxmemory-policy noeviction; allkeys-lru dropped queued jobs without a word,
    and a Redis with no persistence loses them at each restart: doctor said only "answers PING"."""
    from tests.throwaway_valkey import ThrowawayValkey

    valkey = ThrowawayValkey()
    try:
        monkeypatch.setenv("SHUNTER_REDIS_URL", valkey.url)
        monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
        connection = redis.Redis.from_url(valkey.url)
        connection.config_set("maxmemory", "64mb")
        connection.config_set("maxmemory-policy", "allkeys-lru")
        result = CliRunner().invoke(main, ["doctor"])
        assert "⚠ redis eviction: maxmemory-policy allkeys-lru with maxmemory 67108864 bytes" in result.output
        assert "set maxmemory-policy noeviction" in result.output
        assert "⚠ redis persistence: nothing is kept on disk" in result.output
        assert "set appendonly yes" in result.output
        connection.config_set("maxmemory-policy", "noeviction")
        connection.config_set("appendonly", "yes")
        result = CliRunner().invoke(main, ["doctor"])
        assert "✓ redis eviction: maxmemory-policy noeviction" in result.output
        assert "✓ redis persistence: appendonly yes" in result.output
        connection.close()
    finally:
        valkey.stop()


def test_doctor_help_names_every_optional_check() -> None:
    """`shunter doctor --help` says which checks only inform (exit 0 whatever they find): the
    Redis eviction and persistence checks and the bot login were missing from its list."""
    import ast
    from pathlib import Path

    import bot.doctor
    from bot.doctor import doctor

    tree = ast.parse(Path(bot.doctor.__file__).read_text())
    strings = {
        target.id: node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }
    optional = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Check" and node.args):
            continue
        if any(k.arg == "required" and getattr(k.value, "value", True) is False for k in node.keywords):
            first = node.args[0]
            optional.add(first.value if isinstance(first, ast.Constant) else strings[first.id])  # type: ignore[attr-defined]
    assert {"clock", "sandbox", "redis eviction"} <= optional  # found at all
    said = " ".join((doctor.help or "").split())
    assert sorted(name for name in optional if name not in said) == []


@pytest.mark.parametrize("bind", ["::1", "::", "0.0.0.0"])
def test_replay_reaches_a_server_on_an_ipv6_or_wildcard_address(clean_env, monkeypatch, redis_url, tmp_path, bind):
    """`--url` defaults to this host's `shunter serve` (SHUNTER_HOST, SHUNTER_PORT): with an
    IPv6 SHUNTER_HOST (`::1`, or `::` for every address) replay built `http://::1:8080/...`
    and crashed with a traceback; a wildcard bind is reached on loopback."""
    from bot.web.app import create_app
    from bot.web.commands import WebThread

    web = WebThread(create_app("replay-secret", redis_url), bind, 0)
    web.start()
    try:
        payload = tmp_path / "ping.json"
        payload.write_text(json.dumps({"zen": "hi", "hook_id": 1}))
        monkeypatch.setenv("SHUNTER_WEBHOOK_SECRET", "replay-secret")
        monkeypatch.setenv("SHUNTER_HOST", bind)
        monkeypatch.setenv("SHUNTER_PORT", str(web.port))
        result = CliRunner().invoke(main, ["replay", str(payload), "--event", "ping"])
        assert result.exit_code == 0 and result.output.startswith("200"), result.output
    finally:
        web.stop()
