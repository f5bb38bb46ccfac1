"""The merge queue's operator knobs are described where operators read them: each
``QueueSettings`` attribute docstring under its own knob, and ``python -m
bot.queue.merge_worker --help`` saying what each knob does (the README sends them there)."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from bot.queue.merge import QueueSettings

BOT = Path(__file__).resolve().parents[2] / "bot"


def _is_text(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def test_no_attribute_docstring_is_pushed_off_its_attribute() -> None:
    """Two string statements in a row in a class body mean one describes the wrong
    attribute (``landed_ttl_seconds``'s sat under ``branch_lock``); every settings class
    in bot/ is checked, not only ``QueueSettings``."""
    shifted = []
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                for before, after in zip(node.body, node.body[1:], strict=False):
                    if _is_text(before) and _is_text(after):
                        shifted.append(f"{path.relative_to(BOT.parent)}:{after.lineno} ({node.name})")
    assert shifted == []


def test_every_knob_has_its_own_docstring() -> None:
    from bot.queue.merge import knob_docs

    docs = knob_docs()
    assert sorted(docs) == sorted(f.name for f in dataclasses.fields(QueueSettings))
    assert docs["landed_ttl_seconds"].startswith("How long a landed entry is kept")
    assert docs["branch_lock"].startswith("One batch in flight per branch")
    assert "landed entry" not in docs["branch_lock"]


def _merge_worker_help() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.queue.merge_worker", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_merge_worker_help_describes_each_knob() -> None:
    from bot.queue.merge import knob_docs

    done = _merge_worker_help()
    text = " ".join(done.stdout.split())
    defaults = QueueSettings()
    for flag, name in [
        ("--lease-seconds LEASE_SECONDS", "lease_seconds"),
        ("--max-batch MAX_BATCH", "max_batch"),
        ("--max-attempts MAX_ATTEMPTS", "max_attempts"),
        ("--backoff-base BACKOFF_BASE", "backoff_base"),
    ]:
        assert f"{flag} {knob_docs()[name]} (default: {getattr(defaults, name)})" in text, name
    assert (
        f"--no-branch-lock turn branch_lock off (it is on by default). {knob_docs()['branch_lock']}" in text
    )
    for name in ("max_batch_paths", "backoff_max", "landed_ttl_seconds"):  # no flag: listed after
        assert f"{name} ({getattr(defaults, name)!r}): {knob_docs()[name]}" in text, name


def test_merge_worker_help_explains_every_option() -> None:
    """An operator reading ``--help`` learns what each flag is for, not only its name."""
    done = _merge_worker_help()
    options = done.stdout.split("options:", 1)[1].split("\n\n", 1)[0]
    entries = re.split(r"\n  (?=-)", "\n" + options.strip("\n"))
    described = {}
    for entry in filter(None, (e.strip() for e in entries)):
        flags, _, rest = entry.partition("  ")
        described[flags.split()[0].rstrip(",")] = " ".join(rest.split())
    assert {"--redis-url", "--owner", "--exit-when-idle", "--idle-sleep", "--workdir"} <= set(described)
    assert all(described.values()), [flag for flag, text in described.items() if not text]
    assert "must differ between workers" in described["--owner"]
    assert "empty this long" in described["--exit-when-idle"]
