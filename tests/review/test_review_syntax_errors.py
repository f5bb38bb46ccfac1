"""A pull request whose Python does not parse fails the review (``fail_on: error``).

ruff 0.17 reports a syntax error with the code ``invalid-syntax`` (older releases gave
none, which Shunter names ``syntax-error``): both are errors, as code that cannot run is.
"""

from __future__ import annotations

from tests.review.test_review_local_run import BASE, _invoke, local_repo  # noqa: F401  (fixture)


def test_a_syntax_error_fails_the_review(local_repo) -> None:  # noqa: F811
    path = local_repo({**BASE, "pkg/broken.py": b"def f(:\n    pass\n"})
    result = _invoke("--repo", str(path), "--base", "main", "--stages", "review")
    assert "pkg/broken.py:1: error: invalid-syntax" in result.output, result.output
    assert result.exit_code == 1, result.output


# PEP 695 generics and a PEP 701 f-string (Python 3.12), in a project that says it needs 3.12
NEWER_PYTHON = b'''import os


def first[T](items: list[T]) -> T:
    return items[0]


def greet(name: str) -> str:
    return f"{"hello"} {name}"
'''


def test_newer_python_syntax_is_no_syntax_error_and_still_linted(local_repo) -> None:  # noqa: F811
    """Shunter runs on an older Python than the code may target: ruff parses every
    version's syntax, so the file is linted as usual and is not called invalid."""
    pyproject = b'[project]\nname = "pkg"\nrequires-python = ">=3.12"\n'
    path = local_repo({**BASE, "pyproject.toml": pyproject, "pkg/gen.py": NEWER_PYTHON})
    result = _invoke("--repo", str(path), "--base", "main", "--stages", "review")
    assert "pkg/gen.py:1: warning: F401" in result.output, result.output
    assert "invalid-syntax" not in result.output
    assert result.exit_code == 0, result.output
