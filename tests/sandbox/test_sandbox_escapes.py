"""Escapes tried from inside the bubblewrap sandbox; each must fail with a clear note while
this test process (the "worker") stays unharmed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.sandbox import Limits, Sandbox, SandboxResult
from bot.sandbox.bubblewrap import find_bwrap, probe

pytestmark = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)

FAKE_TOKEN = "ghs_FAKEfakeFAKEfake0123456789"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.delenv("SHUNTER_SANDBOX_BWRAP", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("SHUNTER_WEBHOOK_SECRET", FAKE_TOKEN)
    box = Sandbox.for_pr(
        trusted_author=False,
        run_untrusted=True,
        limits=Limits(
            wall_seconds=8,
            cpu_seconds=3,
            processes=16,
            memory_bytes=512 * 1024 * 1024,
            file_size_bytes=8 * 1024 * 1024,
        ),
    )
    assert box.strength == "bubblewrap"
    return box


@pytest.fixture
def workdir(tmp_path: Path, sandbox: Sandbox) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    sandbox.prepare(work)
    return work


def run_py(sandbox: Sandbox, workdir: Path, code: str, **kw) -> SandboxResult:
    return sandbox.run([sys.executable, "-c", code], workdir, **kw)


def worker_is_fine() -> None:
    """The worker can still fork, exec and allocate after the attempt."""
    done = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True)
    assert done.stdout.strip() == "42"


def test_token_in_worker_env_is_not_visible(sandbox: Sandbox, workdir: Path) -> None:
    assert os.environ["GITHUB_TOKEN"] == FAKE_TOKEN
    result = run_py(sandbox, workdir, "import os; print(sorted(os.environ))")
    assert result.exit_code == 0, result.stderr_tail
    assert FAKE_TOKEN not in result.stdout_tail + result.stderr_tail
    assert "GITHUB_TOKEN" not in result.stdout_tail
    assert "SHUNTER_" not in result.stdout_tail
    # the worker's /proc entry is not reachable either: the PID namespace starts fresh,
    # and pid 1 inside is bwrap, whose environment the sandbox uid may not read
    for pid in (os.getpid(), 1):
        peek = run_py(sandbox, workdir, f"print(open('/proc/{pid}/environ').read())")
        assert FAKE_TOKEN not in peek.stdout_tail + peek.stderr_tail
        assert peek.exit_code != 0 and peek.note.startswith("failed with exit code 1: it ")
    worker_is_fine()


def test_network_is_unreachable(sandbox: Sandbox, workdir: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
    local = run_py(sandbox, workdir, code)
    remote = run_py(sandbox, workdir, "import socket; socket.create_connection(('1.1.1.1', 443), timeout=3)")
    dns = run_py(sandbox, workdir, "import socket; socket.getaddrinfo('pypi.org', 443)")
    server.setblocking(False)
    with pytest.raises(BlockingIOError):
        server.accept()  # a completed handshake would wait in the backlog: there is none
    server.close()
    assert local.exit_code != 0 and "Connection refused" in local.stderr_tail
    assert remote.exit_code != 0
    assert "network" in remote.note
    assert dns.exit_code != 0 and ("network" in dns.note or "host name" in dns.note)
    worker_is_fine()


def test_writing_outside_the_work_dir_fails(sandbox: Sandbox, workdir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    targets = [str(outside), "/usr/shunter-pwned", "/etc/shunter-pwned", sys.prefix + "/pwned"]
    for target in targets:
        result = run_py(sandbox, workdir, f"open({target!r}, 'w').write('x')")
        assert result.exit_code == 1, target
        assert "it " in result.note, result.note  # a diagnosis, not just an exit code
        assert not Path(target).exists(), target
    inside = run_py(sandbox, workdir, "open('ok.txt', 'w').write('fine')")
    assert inside.ok and (workdir / "ok.txt").read_text() == "fine"
    worker_is_fine()


def test_fork_bomb_is_contained(sandbox: Sandbox, workdir: Path) -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_py(sandbox, workdir, code, limits=sandbox.limits.scaled(wall_seconds=4))
    assert not result.ok
    assert result.timed_out or result.killed_by
    assert "killed" in result.note or "stopped" in result.note
    worker_is_fine()


def test_ten_gigabyte_file_is_refused(sandbox: Sandbox, workdir: Path) -> None:
    code = (
        "f = open('huge.bin', 'wb')\n"
        "block = b'0' * (1024 * 1024)\n"
        "for _ in range(10 * 1024):\n"
        "    f.write(block)\n"
    )
    result = run_py(sandbox, workdir, code)
    assert result.exit_code == 1
    assert "file size limit" in result.note
    assert (workdir / "huge.bin").stat().st_size <= 8 * 1024 * 1024
    worker_is_fine()


def test_infinite_loop_is_stopped(sandbox: Sandbox, workdir: Path) -> None:
    busy = Limits(wall_seconds=5, cpu_seconds=1)
    result = run_py(sandbox, workdir, "while True: pass", limits=busy)
    assert not result.ok
    # on an idle machine the CPU limit fires first; on a loaded one the wall clock may
    assert result.killed_by is not None
    assert "CPU time limit (1s)" in result.killed_by or result.timed_out
    assert result.note.startswith("stopped")
    sleeper = run_py(
        sandbox, workdir, "import time; time.sleep(60)", limits=sandbox.limits.scaled(wall_seconds=2)
    )
    assert sleeper.timed_out and "wall-clock timeout" in sleeper.note
    assert sleeper.seconds < 10
    worker_is_fine()


def test_memory_hog_is_stopped(sandbox: Sandbox, workdir: Path) -> None:
    result = run_py(sandbox, workdir, "x = bytearray(4 * 1024 ** 3)")
    assert result.exit_code == 1 and "memory limit" in result.note
    worker_is_fine()
