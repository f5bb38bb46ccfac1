"""The tests stage on code for a newer Python than Shunter's: it cannot parse the changed
file, so it must say which Python the file needs, and must not report a pass for changed
functions it never read. Excerpts: aiohasupervisor 0.11.0 (PEP 695 class generics, 3.12)
and hass-nabucasa 2.8.1 (``except A, B:``, 3.14)."""

from __future__ import annotations

import sys

import pytest

from bot.stages import tests as tests_stage

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
LATER = f"3.{sys.version_info.minor + 1}"

GENERIC_CLASS = '''from abc import ABC


class _ResponseIterator[T](ABC):
    """Async iterator over a response body, which owns the response."""

    def __init__(self, response: T) -> None:
        self._response = response
'''
EXCEPT_COMMA = '''def expiration_from_token(token):
    """Return the expiration time from a token."""
    try:
        return int(decode(token)["exp"])
    except DecodeError, KeyError:
        return None
'''


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the running Python parses these")
def test_newer_python_files_are_named_and_nothing_measured_is_no_pass(make_context) -> None:
    ctx = make_context(
        {"pkg/__init__.py": ""},
        {"pkg/__init__.py": "", "pkg/aiohttp.py": GENERIC_CLASS, "pkg/utils.py": EXCEPT_COMMA,
         "pkg/broken.py": "def f(:\n    pass\n"},
    )
    res = tests_stage.run(ctx)
    notes = "\n".join(res.notes)
    assert "`pkg/aiohttp.py` uses Python 3.12 syntax that Shunter's Python" in notes, notes
    assert "`pkg/utils.py` uses Python 3.14 syntax" in notes
    assert "no test was generated or run for it" in notes
    assert "cannot parse pkg/broken.py: invalid syntax" in notes  # really invalid: said as before
    assert res.neutral and res.summary == "Nothing measured: 3 changed Python files could not be parsed."
    assert res.metrics["functions_changed"] == 0 and not res.findings


CALC_BASE = "from pkg.types_ import Number\n\n\ndef add(a: Number, b: Number) -> Number:\n    return a + b\n"
CALC_HEAD = CALC_BASE.replace("    return a + b", "    if a is None:\n        return b\n    return a + b")


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the running Python parses a type alias")
def test_a_suite_for_a_later_python_is_not_sent_to_raise_the_timeout(make_context) -> None:
    """The changed file parses on Shunter's Python, but what it imports does not: the run
    ended in 'no coverage report ... raise timeout_seconds', the wrong way to send anyone."""
    base = {
        "pyproject.toml": f'[project]\nname = "pkg"\nrequires-python = ">={LATER}"\n',
        "pkg/__init__.py": "",
        "pkg/types_.py": "type Number = int | float\n",
        "pkg/calc.py": CALC_BASE,
        "tests/test_calc.py": "from pkg.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    }
    res = tests_stage.run(make_context(base, {**base, "pkg/calc.py": CALC_HEAD}))
    notes = "\n".join(res.notes)
    assert (
        f"`pyproject.toml` requires Python `>={LATER}`, and Shunter runs tests with Python {RUNNING}: "
        "what needs the later Python fails here"
    ) in notes, notes
    assert "likely because the project needs a later Python than Shunter's" in notes
    assert "timeout_seconds" not in notes
    assert res.neutral and not res.findings


def test_the_project_asking_for_a_later_python_is_named(make_context) -> None:
    base = {
        "new/pyproject.toml": f'[project]\nname = "new"\nrequires-python = "=={LATER}.*"\n',
        "old/pyproject.toml": '[project]\nname = "old"\nrequires-python = ">=3.8,<4"\n',
    }
    ctx = make_context(base, base)
    assert tests_stage._later_python(ctx, ["old"]) is None
    assert tests_stage._later_python(ctx, ["old", "new"]) == (
        f"`new/pyproject.toml` requires Python `=={LATER}.*`, and Shunter runs tests with Python {RUNNING}"
    )


@pytest.mark.parametrize(
    ("requires", "later"),
    [(f">={LATER}", True), (f"=={LATER}.*", True), (">=3.8", False), (f"<{RUNNING}", False),
     (f">={RUNNING}.99", False), ("not a specifier", False)],
)
def test_needs_newer_python(requires: str, later: bool) -> None:
    from bot.engines.python_syntax import needs_newer_python

    assert needs_newer_python(requires) is later
