"""``shunter run`` and the App's check run read a stage's result through one verdict
(``bot.stages.verdict``): real git repositories, the real security stage (bandit,
detect-secrets, Shunter's rules), and the check-run builder the publisher sends."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pygit2
from click.testing import CliRunner

from bot.local_run import run
from bot.models import StageName, StageResult
from bot.policies.schema import SecurityStageConfig
from bot.publishing.check_runs import check_run_output
from bot.stages.verdict import conclusion

SIG = pygit2.Signature("t", "t@example.com", 1_700_000_000, 0)
BASE = {"app.py": b"def f():\n    return 1\n"}
# bandit's B608: a warning it is not sure of (low confidence)
SQL = b"def f(user):\n    query = \"SELECT * FROM users WHERE name = '%s'\" % user\n    return query\n"
CONFIDENT_ONLY = b"version: 1\nstages:\n  security:\n    fail_on: warning\n    fail_on_confidence: high\n"


def _commit(repo: pygit2.Repository, files: Mapping[str, bytes], branch: str) -> None:
    index = pygit2.Index()
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    ref = f"refs/heads/{branch}"
    parents = [repo.references[ref].target] if ref in repo.references else []
    if not parents and "refs/heads/main" in repo.references:
        parents = [repo.references["refs/heads/main"].target]
    repo.create_commit(ref, SIG, SIG, branch, index.write_tree(repo), parents)


def _repo(tmp_path: Path, head: Mapping[str, bytes], base: Mapping[str, bytes]) -> Path:
    repo = pygit2.init_repository(str(tmp_path / "proj"), initial_head="main")
    _commit(repo, base, "main")
    _commit(repo, head, "feature")
    repo.set_head("refs/heads/feature")
    return tmp_path / "proj"


def _security(path: Path) -> tuple[int, StageResult, str]:
    """``shunter run --stages security --format json``: exit status, the stage's result as
    the App would get it, and the conclusion ``shunter run`` printed."""
    done = CliRunner().invoke(
        run, ["--repo", str(path), "--base", "main", "--stages", "security", "--format", "json"],
        catch_exceptions=False,
    )
    [raw] = json.loads(done.output)["results"]
    printed = raw.pop("conclusion")
    return done.exit_code, StageResult.model_validate(raw), printed


def test_a_warning_below_fail_on_confidence_passes_in_shunter_run_as_on_the_check(tmp_path) -> None:
    path = _repo(tmp_path, {**BASE, "app.py": SQL}, {**BASE, ".github/shunter.yml": CONFIDENT_ONLY})
    status, result, printed = _security(path)
    [warning] = [f for f in result.findings if f.rule_id == "B608"]
    assert warning.confidence == "low" and result.metrics["conclusion"] == "success"

    assert (printed, status) == ("success", 0)  # was "failure" and exit 1: the check passed
    plan = check_run_output(result, SecurityStageConfig(fail_on_confidence="high"))
    assert plan.conclusion == "success"
    # the check run's text agrees with its conclusion (it said "The check fails ...")
    assert "The check fails" not in plan.summary


def test_the_app_concludes_the_same_commit_as_shunter_run(redis_url, tmp_path) -> None:
    """The same change through the simulator: the published check run passes, and its
    summary does not claim that it fails."""
    from bot.stack import LocalStack

    repo = "octo/demo"
    with LocalStack(tmp_path / "stack", redis_url=redis_url) as stack:
        sim = stack.sim
        sim.create_repo(repo, {"app.py": BASE["app.py"].decode(), ".github/shunter.yml": CONFIDENT_ONLY.decode()})
        sim.commit(repo, "feature", {"app.py": SQL.decode()}, author="alice")
        sim.open_pull_request(repo, "feature", title="Query users", user="alice")
        stack.drain()
        [check] = [r for r in sim.check_runs(repo) if r.name == "shunter/security"]
    assert check.conclusion == "success"
    assert check.title == "1 warning"
    assert check.summary and "The check fails" not in check.summary


def test_a_confident_warning_fails_both(tmp_path) -> None:
    path = _repo(tmp_path, {**BASE, "app.py": SQL}, BASE)  # fail_on_confidence: low (default)
    status, result, printed = _security(path)
    plan = check_run_output(result, SecurityStageConfig())
    assert (plan.conclusion, printed, status) == ("failure", "failure", 1)
    assert "The check fails on findings of severity `warning` or higher." in plan.summary


def test_the_stage_verdict_yields_to_what_people_dismissed(tmp_path) -> None:
    """The App's dismissals, through the same function: once every finding the stage failed
    on is dismissed, its ``conclusion_without_failing`` stands; a failure never outlives
    findings severe enough for ``fail_on``."""
    path = _repo(tmp_path, {**BASE, "app.py": SQL}, BASE)
    _, result, _ = _security(path)
    assert result.stage is StageName.SECURITY
    failing = result.metrics["failing_fingerprints"]
    assert failing and conclusion(result, SecurityStageConfig().fail_on) == "failure"
    assert conclusion(result, SecurityStageConfig().fail_on, dismissed=failing) == "success"
    plan = check_run_output(result, SecurityStageConfig(), dismissed=failing)
    assert plan.conclusion == "success" and "The check fails" not in plan.summary


# ``# shunter: ignore[...]`` without a reason: the security stage notes it; the tests stage,
# not trusted to run the head's code, notes why it did not
UNEXPLAINED = (
    b"import subprocess\n\n\ndef f(cmd):\n"
    b"    subprocess.call(cmd, shell=True)  # shunter: ignore[B602]\n    return 1\n"
)


def test_each_stage_note_is_said_once_on_the_check_run_and_in_markdown(tmp_path) -> None:
    path = _repo(tmp_path, {**BASE, "app.py": UNEXPLAINED}, BASE)
    args = ["--repo", str(path), "--base", "main", "--stages", "security,tests"]
    done = CliRunner().invoke(run, [*args, "--format", "json"], catch_exceptions=False)
    results = {
        r["stage"]: StageResult.model_validate({k: v for k, v in r.items() if k != "conclusion"})
        for r in json.loads(done.output)["results"]
    }
    security, tests = results["security"], results["tests"]
    assert any("without a reason" in n for n in security.notes)
    assert any("run_untrusted" in n for n in tests.notes)
    for result in (security, tests):
        summary = check_run_output(result).summary
        for note in result.notes:
            assert summary.count(note[:60]) == 1, (note, summary)  # was twice
        assert summary.count("### Notes") == 1

    markdown = CliRunner().invoke(run, [*args, "--format", "markdown"], catch_exceptions=False).output
    for note in [*security.notes, *tests.notes]:
        assert markdown.count(note[:60]) == 1, (note, markdown)
    # each stage's notes follow its own summary, before the next stage's
    assert markdown.index("without a reason") < markdown.index("Not run") < markdown.index("run_untrusted")


# two findings, both suppressed with a reason: the check run reports neither
SUPPRESSED = (
    b"def f(x):\n    assert x  # shunter: ignore[B101] checked by the caller\n"
    b"    return eval(x)  # shunter: ignore[B307] trusted input from config\n"
)


def test_shunter_run_titles_a_stage_as_its_check_run_does(tmp_path) -> None:
    path = _repo(tmp_path, {**BASE, "app.py": SUPPRESSED}, BASE)
    status, result, _ = _security(path)
    assert status == 0 and len(result.findings) == 2
    plan = check_run_output(result, SecurityStageConfig())
    assert plan.title == "No findings"

    args = ["--repo", str(path), "--base", "main", "--stages", "security"]
    text = CliRunner().invoke(run, args, catch_exceptions=False).output
    # was "shunter/security: success (2 findings, fails on warning)" beside a "No findings" check
    assert "shunter/security: success — No findings (2 suppressed in the code; fails on warning)" in text
    raw = CliRunner().invoke(run, [*args, "--format", "json"], catch_exceptions=False).output
    assert json.loads(raw)["results"][0]["title"] == plan.title
    markdown = CliRunner().invoke(run, [*args, "--format", "markdown"], catch_exceptions=False).output
    assert markdown.startswith("## shunter/security: success — No findings\n")
    # the run's own notes do not read as the last stage's
    assert "## shunter run\n\n- No .github/shunter.yml" in markdown


def _warning_result(**metrics: object) -> StageResult:
    from bot.models import Finding, Severity

    finding = Finding(
        stage=StageName.SECURITY, rule_id="B608", severity=Severity.WARNING, message="m",
        path="db.py", start_line=2, end_line=2, fingerprint="f" * 16, confidence="low",
    )
    return StageResult(stage=StageName.SECURITY, head_sha="a" * 40, findings=[finding], metrics=metrics)


def test_the_summary_rows_reason_for_a_pass_is_the_check_runs() -> None:
    from bot.policies.schema import FailOn
    from bot.stages.verdict import row_note

    held = _warning_result(fail_on_confidence="high", conclusion="success")  # as the stage records
    assert row_note(held, FailOn.WARNING) == "1 warning below `fail_on_confidence: high`"
    assert row_note(held, FailOn.WARNING, dismissed={"f" * 16}) is None  # nothing left to explain
    assert row_note(_warning_result(), FailOn.NEVER) == "never fails: `fail_on: never`"
    assert row_note(_warning_result(), FailOn.WARNING) is None  # it failed: the row says so
    # a green row with a warning gave no why: the check run's summary says it too
    assert row_note(_warning_result(), FailOn.ERROR) == "1 warning below `fail_on: error`"
    assert row_note(_warning_result(), FailOn.ERROR, dismissed={"f" * 16}) is None
