"""Builders of real ``Finding``/``StageResult`` values for the publishing tests (the ``make``
fixture)."""

from __future__ import annotations

import pytest

from bot.models import FileDiff, Finding, PatchDraft, Severity, StageName, StageResult, fingerprint

HEAD = "0123456789abcdef0123456789abcdef01234567"


def finding(
    n: int = 1,
    severity: Severity = Severity.WARNING,
    *,
    path: str = "src/app.py",
    line: int | None = None,
    end_line: int | None = None,
    stage: StageName = StageName.REVIEW,
    **extra: object,
) -> Finding:
    start = line if line is not None else max(n, 1)
    rule = str(extra.pop("rule_id", f"R{n:03d}"))
    return Finding(
        stage=stage,
        rule_id=rule,
        severity=severity,
        message=str(extra.pop("message", f"problem number {n}")),
        path=path,
        start_line=start,
        end_line=end_line if end_line is not None else start,
        engine=str(extra.pop("engine", "ruff")),
        fingerprint=fingerprint(rule, path, f"line {n} {start}"),
        **extra,  # type: ignore[arg-type]
    )


def patch(stage: StageName = StageName.REVIEW, *, files: bool = True) -> PatchDraft:
    diff = "--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +1 @@\n-x=1\n+x = 1\n"
    return PatchDraft(
        stage=stage,
        title="ruff fixes",
        files=[FileDiff(path="src/app.py", diff=diff, pre_image_blob="a" * 40)] if files else [],
    )


def result(
    findings: list[Finding] | None = None,
    *,
    stage: StageName = StageName.REVIEW,
    **extra: object,
) -> StageResult:
    return StageResult(stage=stage, head_sha=HEAD, findings=findings or [], **extra)  # type: ignore[arg-type]


class Factory:
    """Handed to tests as the ``make`` fixture (test dirs are not importable packages)."""

    HEAD = HEAD
    finding = staticmethod(finding)
    patch = staticmethod(patch)
    result = staticmethod(result)


@pytest.fixture
def make() -> type[Factory]:
    return Factory
