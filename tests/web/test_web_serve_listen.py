"""`shunter serve` on an address it cannot use says so in one line, exit status 2: a port
another process holds was a traceback and "unexpected error" (3), or with --with-worker
click's "Error:" with status 1 and asyncio's "Task was destroyed" complaint."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUNTER_") or k.startswith("SHUNTER_TEST_")}
    env.update({"HOME": str(tmp_path), "SHUNTER_WEBHOOK_SECRET": "s", "SHUNTER_DATA_DIR": str(tmp_path / "data")})
    env.update(extra)
    return env


@pytest.mark.parametrize("args", [["serve"], ["serve", "--with-worker"]], ids=["serve", "with-worker"])
def test_serve_on_a_port_another_process_holds(redis_url, tmp_path, args):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            env=_env(tmp_path, SHUNTER_REDIS_URL=redis_url, SHUNTER_PORT=str(port)),
            capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
        )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    assert "Task was destroyed" not in output  # the app's timers were stopped, not dropped
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"shunter: cannot listen on 127.0.0.1:{port}: Address already in use ("), last
    assert "--port or SHUNTER_PORT" in last


def test_serve_on_a_host_that_does_not_resolve(redis_url, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "no-such-host.invalid", "--port", "8080"],
        env=_env(tmp_path, SHUNTER_REDIS_URL=redis_url),
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("shunter: cannot listen on no-such-host.invalid:8080: "), last
    assert "--host or SHUNTER_HOST" in last
