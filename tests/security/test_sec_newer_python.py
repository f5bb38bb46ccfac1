"""Code written for a newer Python than Shunter's: bandit and the Python rules parse with
the running interpreter's ``ast``, which rejects it. The note must say so, not call valid
Python a parse failure; code invalid in every Python keeps the plain parse note.

The excerpts are from real releases: music-assistant-models 1.1.229 (PEP 695 ``type``
aliases, Python 3.12) and hass-nabucasa 2.8.1 (``except A, B:``, Python 3.14).
"""

from __future__ import annotations

import sys

import pytest

from bot.engines.python_syntax import newer_syntax
from bot.stages import security
from bot.stages.context import ChangedFile, MemoryTree, StageContext

pytestmark = pytest.mark.skipif(sys.version_info >= (3, 12), reason="the running Python parses these")

TYPE_ALIASES = b'''"""Models for long running background tasks in Music Assistant."""

from __future__ import annotations

type TaskMetadataValue = (
    bool | int | float | str | list[TaskMetadataValue] | dict[str, TaskMetadataValue] | None
)
type TaskMetadata = dict[str, TaskMetadataValue]
'''
EXCEPT_COMMA = b'''def expiration_from_token(token: str | None) -> int | None:
    """Return the expiration time from a token."""
    if not token:
        return None

    try:
        decoded_token = jwt.decode(token, options={"verify_signature": False})
        return int(decoded_token["exp"])
    except jwt.DecodeError, KeyError:
        return None
'''
BROKEN = b"def f(:\n    pass\n"


def _ctx(head: dict[str, bytes]) -> StageContext:
    files = [
        ChangedFile(path, "added", added_lines=frozenset(range(1, data.count(b"\n") + 2)))
        for path, data in head.items()
    ]
    return StageContext(
        repo="o/r", base_sha="b" * 40, head_sha="h" * 40, files=files,
        head=MemoryTree(head), base=MemoryTree({}),
    )


def test_newer_syntax_is_told_apart_from_invalid_syntax() -> None:
    found = newer_syntax({
        "bg.py": TYPE_ALIASES,
        "utils.py": EXCEPT_COMMA.decode(),
        "broken.py": BROKEN,
        "both.py": TYPE_ALIASES + BROKEN,  # a 3.12 file with a real error is still broken
    })
    assert sorted(found) == ["bg.py", "utils.py"]
    assert (found["bg.py"].version, found["bg.py"].line) == ("3.12", 5)
    assert "`type` alias statement" in found["bg.py"].what
    assert (found["utils.py"].version, found["utils.py"].line) == ("3.14", 9)


def test_security_notes_name_the_python_version_a_file_needs() -> None:
    result = security.run(_ctx({
        "models/bg.py": TYPE_ALIASES,
        "cloud/utils.py": EXCEPT_COMMA,
        "broken.py": BROKEN,
        "good.py": b"eval(input())\n",
    }))
    notes = "\n".join(result.notes)
    assert (
        "`models/bg.py` uses Python 3.12 syntax that Shunter's Python "
        f"{sys.version_info.major}.{sys.version_info.minor} cannot parse (line 5:"
    ) in notes, notes
    assert "`cloud/utils.py` uses Python 3.14 syntax" in notes
    assert "Could not parse `models/bg.py`" not in notes
    assert "Could not parse `broken.py` (line 1): Python rules and bandit skipped it." in notes
    assert any(f.rule_id == "shunter.eval-exec-injection" for f in result.findings)
