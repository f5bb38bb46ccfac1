"""The tests stage on code for a newer Python than Shunter's: it cannot parse the changed
file, so it must say which Python the file needs, and must not report a pass for changed
functions it never read. Excerpts: aiohasupervisor 0.11.0 (PEP 695 class generics, 3.12)
and hass-nabucasa 2.8.1 (``except A, B:``, 3.14)."""

from __future__ import annotations

import sys

import pytest

from bot.stages import tests as tests_stage

pytestmark = pytest.mark.skipif(sys.version_info >= (3, 14), reason="the running Python parses these")

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
