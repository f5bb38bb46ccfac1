"""A missing or malformed setting stops start-up with one line naming it, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bot.cli import main


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SHUNTER_PORT": "eighty"}, "SHUNTER_PORT: Input should be a valid integer"),
        ({"SHUNTER_PORT": "70000"}, "SHUNTER_PORT: Input should be less than or equal to 65535"),
        ({"SHUNTER_WEBHOOK_SECRET": "s", "SHUNTER_APP_ID": "x"}, "SHUNTER_APP_ID: Input should be a valid integer"),
        ({"SHUNTER_PRIVATE_KEY": "hunter2"}, "SHUNTER_PRIVATE_KEY: is not PEM text"),
        ({"SHUNTER_LOG_LEVEL": "chatty"}, "SHUNTER_LOG_LEVEL: Input should be"),
        ({"SHUNTER_GITHUB_URL": "nope"}, "SHUNTER_GITHUB_URL: not a URL"),
        ({"SHUNTER_REDIS_URL": "localhost:6379"}, "SHUNTER_REDIS_URL: not a Redis URL"),
        ({"SHUNTER_REDIS_URL": "http://cache:6379"}, "SHUNTER_REDIS_URL: not a Redis URL"),
        ({"SHUNTER_REDIS_URL": "redis//:hunter2@cache"}, "SHUNTER_REDIS_URL: not a URL"),
        ({"SHUNTER_REDIS_URL": "https://:hunter2@cache"}, "SHUNTER_REDIS_URL: not a Redis URL"),
        ({}, "SHUNTER_WEBHOOK_SECRET: is not set"),
        ({"SHUNTER_MIRROR_MAX_GB": "inf"}, "SHUNTER_MIRROR_MAX_GB: Input should be a finite number"),
        ({"SHUNTER_MIRROR_MAX_AGE_DAYS": "infinity"}, "SHUNTER_MIRROR_MAX_AGE_DAYS: Input should be a finite"),
        ({"SHUNTER_RETENTION_DAYS": "inf"}, "SHUNTER_RETENTION_DAYS: Input should be a finite number"),
    ],
)
def test_bad_settings_print_one_line(clean_env, monkeypatch, env, expected):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("shunter: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert "hunter2" not in result.output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis//:hunter2pw@cache", "redis//:***@cache"),
        ("http://user:hunter2pw@cache:6379", "http://user:***@cache:6379"),
        ("http://user:hunter2pw:with:colons@cache", "http://user:***@cache"),
        ("ftp://hunter2pw@cache", "ftp://***@cache"),
    ],
)
def test_url_passwords_are_never_echoed(clean_env, monkeypatch, url, shown):
    monkeypatch.setenv("SHUNTER_REDIS_URL", url)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "hunter2pw" not in result.output
    assert f"(got '{shown}')" in result.output
    assert result.output.count("got") == 1, result.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"SHUNTER_PORT=8080\n# caf\xe9\n", ".env: is not UTF-8 text (byte 0xe9 at offset 23)"),
        (b"\xff\xfeS\x00", ".env: is not UTF-8 text (byte 0xff at offset 0)"),
    ],
)
def test_a_dotenv_that_is_not_utf8_is_one_line(clean_env, tmp_path, content, expected):
    (tmp_path / ".env").write_bytes(content)  # clean_env made tmp_path the working directory
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"shunter: {expected}")
    assert "Traceback" not in result.output


def test_an_unreadable_dotenv_is_one_line(clean_env, tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("SHUNTER_PORT=8080\n")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("dotenv.main.DotEnv._get_stream", refuse)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "shunter: .env: cannot be read: Permission denied"


def test_secret_values_are_never_echoed(clean_env, monkeypatch):
    monkeypatch.setenv("SHUNTER_PRIVATE_KEY", "super-secret-value")
    result = CliRunner().invoke(main, ["serve"])
    assert "super-secret-value" not in result.output


def test_real_process_prints_one_line(clean_env, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHUNTER_PORT": "x"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"], env=env, capture_output=True, text=True,
        cwd=tmp_path, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("shunter: SHUNTER_PORT:")


def test_help_everywhere():
    runner = CliRunner()
    for command in ["serve", "worker", "replay", "doctor", "version"]:
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output


def test_the_readme_settings_table_names_every_setting() -> None:
    """The README's "Settings" table is the reference operators read: a setting missing
    there is a setting nobody finds."""
    from pathlib import Path

    from bot.settings import Settings

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Settings (the installation)", 1)[1].split("\n## ", 1)[0]
    missing = [
        f"SHUNTER_{name.upper()}" for name in Settings.model_fields if f"`SHUNTER_{name.upper()}`" not in table
    ]
    assert missing == []


def test_engine_settings_in_dotenv_reach_the_engines(clean_env, tmp_path, monkeypatch):
    from bot.engines import outbound
    from bot.errors import EngineError
    from bot.settings import load_settings

    for name in ("SHUNTER_OUTBOUND_URLS", "SHUNTER_LLM_KEYS"):
        monkeypatch.delenv(name, raising=False)  # and restored when the test ends
    with pytest.raises(EngineError):
        outbound.check("http://ollama.internal:11434/v1", "llm.base_url")
    (tmp_path / ".env").write_text("SHUNTER_OUTBOUND_URLS=http://ollama.internal:11434/v1\n")
    load_settings()
    outbound.check("http://ollama.internal:11434/v1", "llm.base_url")  # the engines see it now


def test_sandbox_and_scratch_settings_in_dotenv_are_used(clean_env, tmp_path, monkeypatch):
    """The README's Settings table lists them, and settings may come from .env: the sandbox
    and scratch dirs read only the process environment, so .env values were ignored."""
    from bot.git.scratch import scratch_root
    from bot.sandbox.bubblewrap import find_bwrap
    from bot.settings import load_settings
    from bot.stages.tests import cache_root

    names = ("DATA_DIR", "SANDBOX_BWRAP", "SANDBOX_CACHE", "SANDBOX_UID", "SCRATCH_DIR")
    for name in names:
        monkeypatch.delenv(f"SHUNTER_{name}", raising=False)  # and restored when the test ends
    (tmp_path / ".env").write_text(
        f"SHUNTER_DATA_DIR={tmp_path / 'state'}\nSHUNTER_SANDBOX_BWRAP=/nonexistent/bwrap\n"
        f"SHUNTER_SCRATCH_DIR={tmp_path / 'scratch'}\nSHUNTER_SANDBOX_UID=4242\n"
    )
    load_settings()
    assert find_bwrap() is None
    assert scratch_root() == tmp_path / "scratch"
    assert cache_root() == tmp_path / "state" / "sandbox-venvs"  # under SHUNTER_DATA_DIR from .env
    assert os.environ["SHUNTER_SANDBOX_UID"] == "4242"
    assert "SHUNTER_SANDBOX_CACHE" not in os.environ  # unset stays unset: the code's default


def test_a_bwrap_named_in_dotenv_reaches_doctor(clean_env, tmp_path, redis_url):
    (tmp_path / ".env").write_text(f"SHUNTER_SANDBOX_BWRAP=/nonexistent/bwrap\nSHUNTER_REDIS_URL={redis_url}\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SHUNTER_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "doctor"], env=env, capture_output=True, text=True,
        cwd=tmp_path, check=False, timeout=120,
    )
    sandbox = [line for line in proc.stdout.splitlines() if "sandbox:" in line]
    assert sandbox and "bubblewrap works" not in sandbox[0], proc.stdout
