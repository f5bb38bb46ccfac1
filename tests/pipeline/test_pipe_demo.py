"""``shunter demo``, the README's main-job command, run end to end as a user runs it.

Everything it shows comes from real parts (the simulator over loopback, Redis, git, the
sandbox), so this guards the whole loop the way a first-time user meets it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main


def test_demo_shows_the_loop_and_lands_the_fix(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    done = CliRunner().invoke(main, ["demo", "--data-dir", str(tmp_path / "demo")], catch_exceptions=False)
    out = done.output
    assert done.exit_code == 0, out
    queued, _, rest = out.partition("▶ stages finished:")
    assert queued.count("queued") >= 3  # the three check runs exist before any stage ran
    finished, _, after_apply = rest.partition("▶ alice presses")
    for check in ("shunter/review", "shunter/security", "shunter/tests"):
        assert f"{check}" in finished and "completed" in finished
    assert "`os` imported but unused" in finished
    assert "runs a shell on a command that is not a string literal" in finished
    assert "▶ shunter/tests wrote tests" in finished and "def test_" in finished, out
    assert "| `shunter/review` | ✅ passed (2 warnings below `fail_on: error`) |" in finished  # the summary table
    pushed, _, rechecked = after_apply.partition("▶ GitHub sent `synchronize`")
    assert "▶ Shunter pushed" in pushed and "-import os" in pushed
    assert "shunter/review" in rechecked and "`os` imported but unused" not in rechecked
    assert "Apply 1 safe ruff fix" in rechecked  # the reply names what landed


def test_demo_does_not_print_the_password_of_shunter_redis_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SHUNTER_REDIS_URL set the demo names the Redis it uses, without its password."""
    from types import SimpleNamespace

    import bot.stack

    class Stop(Exception):
        pass

    def stop(*args: object, **kwargs: object) -> None:
        raise Stop

    class FakeStack:
        def __init__(self, root: Path, redis_url: str | None) -> None:
            self.sim = SimpleNamespace(url="http://sim", webhook_url="http://web/webhooks", create_repo=stop)
            self.handle = SimpleNamespace(embedded=False, url=redis_url)

        def __enter__(self) -> FakeStack:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(bot.stack, "LocalStack", FakeStack)
    monkeypatch.setenv("SHUNTER_REDIS_URL", "redis://:hunter2@redis.internal:6379/0")
    result = CliRunner().invoke(main, ["demo", "--data-dir", str(tmp_path)])
    assert "Redis: redis://:***@redis.internal:6379/0" in result.output
    assert "hunter2" not in result.output
