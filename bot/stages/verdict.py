"""A stage's verdict: the one function the App's check run and ``shunter run`` both ask.

Severity against ``fail_on`` is only the first word. A stage may know more and say so in
``metrics["conclusion"]``: the security stage fails only on findings confident enough for
``fail_on_confidence``, so a low-confidence warning is no failure there. Both front ends
reading the result on their own let them drift apart (``shunter run`` exited 1 on a commit
whose check run passed); this module is the single reading.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from bot.engines.security_findings import confidence_rank
from bot.models import Finding, Severity, StageResult
from bot.policies.schema import FailOn
from bot.wording import findings_title

VERDICTS = frozenset({"success", "failure", "neutral"})
"""The conclusions a stage may impose through ``metrics["conclusion"]``."""


def reported_findings(result: StageResult, dismissed: Collection[str] = ()) -> list[Finding]:
    """The findings that count: neither suppressed in the code nor dismissed on the PR."""
    dismissed_set = set(dismissed)
    return [f for f in result.findings if not f.suppressed and f.fingerprint not in dismissed_set]


def severity_conclusion(reported: Iterable[Finding], fail_on: FailOn, *, neutral: bool) -> str:
    """``failure`` when a finding reaches ``fail_on``, else ``neutral`` for a stage that
    could not judge everything, else ``success``."""
    if any(fail_on.fails(f.severity) for f in reported):
        return "failure"
    return "neutral" if neutral else "success"


def conclusion(result: StageResult, fail_on: FailOn, *, dismissed: Collection[str] = ()) -> str:
    """The check run's conclusion for ``result``; ``dismissed`` holds the fingerprints people
    dismissed on the pull request (none for ``shunter run``).

    The stage's own verdict wins over severities, with two exceptions that only people can
    cause: when every finding it failed on was dismissed, its ``conclusion_without_failing``
    stands instead; and a failure never outlives the findings, so when nothing reported is
    severe enough to fail the check it does not fail.
    """
    dismissed_set = set(dismissed)
    reported = reported_findings(result, dismissed_set)
    by_severity = severity_conclusion(reported, fail_on, neutral=result.neutral)
    verdict = result.metrics.get("conclusion")
    failing = result.metrics.get("failing_fingerprints")
    if verdict == "failure" and isinstance(failing, list) and failing and set(failing) <= dismissed_set:
        # what is left may still be errors by severity, but not ones the stage fails on
        # (e.g. below its confidence threshold)
        verdict = result.metrics.get("conclusion_without_failing", "success")
    if verdict in VERDICTS and not (verdict == "failure" and by_severity == "success"):
        return str(verdict)
    return by_severity


def incomplete_because(result: StageResult) -> str | None:
    """What a neutral stage could not do, in a few words (``metrics["incomplete"]``)."""
    why = result.metrics.get("incomplete")
    return why if isinstance(why, str) and why else None


def title(result: StageResult, *, dismissed: Collection[str] = ()) -> str:
    """The check run's title (``2 errors, 1 warning``, ``Incomplete (why): No findings``):
    it counts the reported findings only, so ``shunter run`` does not count suppressed ones
    that the check run leaves out."""
    reported = reported_findings(result, dismissed)
    return findings_title(reported, neutral=result.neutral, why=incomplete_because(result))


def confidence_floor(result: StageResult) -> str | None:
    """The confidence a finding needs to fail the check (``fail_on_confidence``, which the
    security stage records in ``metrics``), or None when any confidence will do."""
    floor = result.metrics.get("fail_on_confidence")
    if isinstance(floor, str) and confidence_rank(floor) > confidence_rank("low"):
        return floor
    return None


def below_confidence(
    result: StageResult, fail_on: FailOn, *, dismissed: Collection[str] = ()
) -> list[Finding]:
    """The reported findings severe enough for ``fail_on`` that do not fail the check
    because the stage is not confident enough of them: on a passing check they are the
    errors and warnings a reader would otherwise take for a mistake."""
    floor = confidence_floor(result)
    if floor is None:
        return []
    return [
        f
        for f in reported_findings(result, dismissed)
        if fail_on.fails(f.severity) and confidence_rank(f.confidence) < confidence_rank(floor)
    ]


def below_fail_on(result: StageResult, fail_on: FailOn, *, dismissed: Collection[str] = ()) -> list[Finding]:
    """The reported warnings (and errors) whose severity ``fail_on`` does not fail on
    (``fail_on: error`` and a warning): on a passing check a reader takes them for a mistake
    unless told. Notices are not counted: they never fail a check by default."""
    if fail_on is FailOn.NEVER:
        return []
    return [
        f
        for f in reported_findings(result, dismissed)
        if f.severity.rank >= Severity.WARNING.rank and not fail_on.fails(f.severity)
    ]


def confidence_note(result: StageResult, fail_on: FailOn, *, dismissed: Collection[str] = ()) -> str | None:
    """``1 warning is below the confidence that fails the check (`fail_on_confidence: high`).``,
    or None when every finding severe enough to fail the check is confident enough."""
    held = below_confidence(result, fail_on, dismissed=dismissed)
    if not held:
        return None
    verb = "is" if len(held) == 1 else "are"
    return (
        f"{findings_title(held)} {verb} below the confidence that fails the check "
        f"(`fail_on_confidence: {confidence_floor(result)}`)."
    )


def row_note(result: StageResult, fail_on: FailOn, *, dismissed: Collection[str] = ()) -> str | None:
    """Why a passing stage has findings that could fail it, in the few words of the summary
    comment's row (``✅ passed (1 warning below `fail_on_confidence: high`)``): the check
    run's summary says it in a sentence (:func:`explanation`); the row only had the counts,
    and a reader saw warnings on a green row with no why. A neutral stage's row names what
    it could not do."""
    verdict = conclusion(result, fail_on, dismissed=dismissed)
    if verdict == "neutral":
        return incomplete_because(result)
    if verdict != "success":
        return None
    if fail_on is FailOn.NEVER:
        reported = reported_findings(result, dismissed)
        return "never fails: `fail_on: never`" if reported else None
    reasons = []
    held = below_confidence(result, fail_on, dismissed=dismissed)
    if held:
        reasons.append(f"{findings_title(held)} below `fail_on_confidence: {confidence_floor(result)}`")
    mild = below_fail_on(result, fail_on, dismissed=dismissed)
    if mild:
        reasons.append(f"{findings_title(mild)} below `fail_on: {fail_on.value}`")
    return "; ".join(reasons) or None


def explanation(result: StageResult, fail_on: FailOn, *, dismissed: Collection[str] = ()) -> list[str]:
    """Why the check concludes as it does, in Markdown sentences: what fails it, and which
    findings do not count because of their confidence or severity. The check run's summary and
    ``shunter run`` say this, once; the stages leave it out of their own summaries."""
    sentences: list[str] = []
    floor = confidence_floor(result)
    failing = conclusion(result, fail_on, dismissed=dismissed) == "failure"
    if fail_on is FailOn.NEVER:
        sentences.append("This check never fails (`fail_on: never`).")
    elif failing:
        confident = ""
        if floor == "high":
            confident = " and `high` confidence"
        elif floor:
            confident = f" and at least `{floor}` confidence"
        # nothing is above an error: "or higher" would send a reader looking for it
        severity = "`error`" if fail_on is FailOn.ERROR else f"`{fail_on.value}` or higher"
        sentences.append(f"The check fails on findings of severity {severity}{confident}.")
    note = confidence_note(result, fail_on, dismissed=dismissed)
    if note:
        sentences.append(note)
    # on a failing check the sentence above already says what fails it
    mild = [] if failing else below_fail_on(result, fail_on, dismissed=dismissed)
    if mild:
        verb = "is" if len(mild) == 1 else "are"
        sentences.append(
            f"{findings_title(mild)} {verb} below the severity that fails the check "
            f"(`fail_on: {fail_on.value}`)."
        )
    return sentences
