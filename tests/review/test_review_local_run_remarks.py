"""``shunter run`` on a pull request that draws remarks on the whole PR (``large-pr``,
``untested-change``): every output format says they are about the PR, none invents a file
and line for them (SARIF results may have no location, SARIF 2.1.0 §3.27.12)."""

from __future__ import annotations

import json

import pytest

from tests.review.test_review_local_run import BASE, _invoke, local_repo  # noqa: F401  (fixture)

CONFIG = b"version: 1\nstages:\n  review:\n    large_pr_lines: 3\n"
HEAD = {
    **BASE,
    ".github/shunter.yml": CONFIG,
    "pkg/core.py": b"def f():\n    return 1\n\n\ndef g(x):\n    return x * 2\n",
}


def _run(local_repo, output_format: str):  # noqa: F811
    path = local_repo(HEAD, {**BASE, ".github/shunter.yml": CONFIG})
    return _invoke("--repo", str(path), "--base", "main", "--stages", "review", "--format", output_format)


def test_text_and_json_say_a_remark_is_on_the_pull_request(local_repo) -> None:  # noqa: F811
    text = _run(local_repo, "text").output
    assert "  (pull request): warning: large-pr: This PR changes 4 lines in 1 file (limit 3)" in text, text
    assert "  (pull request): warning: untested-change: Source changed without tests" in text, text
    [review] = json.loads(_run(local_repo, "json").output)["results"]
    large = next(f for f in review["findings"] if f["rule_id"] == "large-pr")
    assert (large["path"], large["start_line"], large["end_line"]) == ("", 0, 0)


def test_sarif_gives_a_remark_on_the_pull_request_no_location(local_repo) -> None:  # noqa: F811
    pytest.importorskip("bot.sarif")
    sarif = json.loads(_run(local_repo, "sarif").output)
    results = {r["ruleId"]: r for run_ in sarif["runs"] for r in run_["results"]}
    assert "locations" not in results["large-pr"] and "locations" not in results["untested-change"]
    assert results["large-pr"]["message"]["text"].startswith("This PR changes 4 lines in 1 file")
    assert all(r.get("locations") for rule, r in results.items() if rule not in {"large-pr", "untested-change"})


def test_markdown_lists_a_remark_on_the_pull_request(local_repo) -> None:  # noqa: F811
    out = _run(local_repo, "markdown").output
    assert "| warning | `large-pr` | _the pull request_ | This PR changes 4 lines" in out, out
