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


def _ctx(head: dict[str, bytes], base: dict[str, bytes] | None = None) -> StageContext:
    files = [
        ChangedFile(
            path, "modified" if base and path in base else "added",
            added_lines=frozenset(range(1, data.count(b"\n") + 2)),
        )
        for path, data in head.items()
    ]
    return StageContext(
        repo="o/r", base_sha="b" * 40, head_sha="h" * 40, files=files,
        head=MemoryTree(head), base=MemoryTree(base or {}),
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


def test_a_type_alias_hides_no_eval_from_bandit_and_the_rules() -> None:
    """bandit and the rules read such a file rewritten line for line (the aliases and type
    parameters made 3.11 syntax): the ``eval`` is found on its own line, and one the base
    already had is not new."""
    base = TYPE_ALIASES + b"\n\ndef run(cmd: str) -> None:\n    eval(cmd)\n"
    head = base + (
        b"\n\ndef run_again[T](cmd: T) -> None:\n    import pickle\n\n    eval(cmd)\n    pickle.loads(cmd)\n"
    )
    result = security.run(_ctx({"models/bg.py": head}, {"models/bg.py": base}))
    found = {(f.start_line, f.rule_id, f.engine) for f in result.findings}
    assert found == {
        (16, "B403", "bandit"),
        (18, "shunter.eval-exec-injection", "rules"),
        (19, "shunter.unsafe-deserialisation", "rules"),
    }, found  # not the base's eval on line 12: it is not new
    assert any("`models/bg.py` uses Python 3.12 syntax" in n and "rewritten for Python" in n for n in result.notes)


def test_a_file_that_cannot_be_rewritten_is_still_said_to_be_skipped() -> None:
    fstring = TYPE_ALIASES + b'\nname = f"{"nested"} quotes"\neval(name)\n'  # PEP 701: no rewriting
    result = security.run(_ctx({"models/bg.py": fstring}))
    assert not result.findings
    assert any(
        n.startswith("`models/bg.py` uses Python 3.12 syntax") and n.endswith("Python rules and bandit skipped it.")
        for n in result.notes
    ), result.notes


def test_no_fix_is_built_from_the_columns_of_a_rewritten_line() -> None:
    """``except A, B:`` gains its parentheses in the rewriting, so on its line the parsed
    columns are not the file's: the fix there is left out, the one on a plain line stays."""
    src = (
        b"import yaml\n\ntype A = int\n\n\ndef load(s):\n    try:\n        return yaml.load(s)\n"
        b"    except ValueError, KeyError: return yaml.load(s)\n"
    )
    result = security.run(_ctx({"a.py": src}))
    assert sorted(f.start_line for f in result.findings) == [8, 9]
    [patch] = result.patches
    diff = patch.files[0].diff
    assert "+        return yaml.safe_load(s)\n" in diff
    assert "     except ValueError, KeyError: return yaml.load(s)\n" in diff  # context, unchanged


def test_downgrade_keeps_every_line_and_rewrites_only_the_newer_syntax() -> None:
    from bot.engines.python_syntax import downgrade

    src = (
        "type Pair[K, V: int = int] = tuple[K, V]\n"
        "class _ResponseIterator[T](ABC):\n"
        "    def read[S](self, size: S) -> T:\n"
        "        try:\n            return eval(size)\n"
        "        except* TimeoutError, KeyError:\n            raise\n"
    )
    assert downgrade(src) == (
        f"{'Pair':{len('type Pair[K, V: int = int]')}} = tuple[K, V]\n"
        "class _ResponseIterator   (ABC):\n"
        "    def read   (self, size: S) -> T:\n"
        "        try:\n            return eval(size)\n"
        "        except* (TimeoutError, KeyError):\n            raise\n"
    )
    assert downgrade("x = 1\n") is None  # nothing to rewrite
    assert downgrade("type A = int\ndef f(:\n    pass\n") is None  # still invalid
    assert downgrade('type A = int\nx = f"{"nested"}"\n') is None  # a 3.12 f-string: not rewritten
