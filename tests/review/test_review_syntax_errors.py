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
