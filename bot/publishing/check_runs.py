"""Check-run payloads for a stage's result: conclusion, annotations in batches, buttons.

Pure: ``check_run_output`` turns a ``StageResult`` and the stage's config into a
``CheckRunPlan``; the publisher sends ``plan.update_payload()`` (or ``create_payload``)
and then each of ``plan.followup_payloads()``, because GitHub takes at most 50 annotations
per request and appends the annotations of every later PATCH.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.models import Finding, Severity, StageName, StageResult
from bot.policies.schema import FailOn, StageConfig
from bot.publishing import limits
from bot.publishing.fixes import fixes_phrase, offered_fixes
from bot.publishing.inline import suggestion_holds_secret
from bot.publishing.markdown import cell, clip, code, line, plain
from bot.stages.verdict import conclusion as stage_conclusion
from bot.stages.verdict import explanation as verdict_explanation
from bot.stages.verdict import reported_findings
from bot.stages.verdict import title as check_title
from bot.store.redaction import redact_secrets
from bot.wording import findings_title, path_code, plural

DEFAULT_MAX_ANNOTATIONS = 500
"""Annotations per check run; more findings are counted in the summary instead."""
_MESSAGE_BYTES = 4000
_RAW_DETAILS_BYTES = 8000
_TEXT_ROW_CHARS = 300
_NOTE_ROOM = 400  # bytes kept free for the "left out" note

ACTION_APPLY = "apply"
ACTION_RERUN = "rerun"
ACTION_DISMISS = "dismiss"

_SEVERITY_ICON = {Severity.ERROR: "🔴", Severity.WARNING: "🟠", Severity.NOTICE: "🔵"}


@dataclass(frozen=True)
class CheckRunPlan:
    """Everything the publisher needs to bring one check run to its final state."""

    name: str
    conclusion: str
    title: str
    summary: str
    text: str | None = None
    annotation_batches: tuple[tuple[dict[str, Any], ...], ...] = ()
    actions: tuple[dict[str, str], ...] = ()
    details_url: str | None = None
    reported: int = 0
    """Findings reported (not suppressed, not dismissed)."""
    annotated: int = 0
    """Findings sent as annotations (``reported`` minus those over the cap)."""
    external_id: str | None = None
    notes: tuple[str, ...] = field(default=())

    def _output(self, batch: tuple[dict[str, Any], ...]) -> dict[str, Any]:
        output: dict[str, Any] = {"title": self.title, "summary": self.summary}
        if self.text:
            output["text"] = self.text
        if batch:
            output["annotations"] = [dict(item) for item in batch]
        return output

    def _first_batch(self) -> tuple[dict[str, Any], ...]:
        return self.annotation_batches[0] if self.annotation_batches else ()

    def update_payload(self) -> dict[str, Any]:
        """``PATCH /repos/{o}/{r}/check-runs/{id}``: complete the run with the first batch."""
        payload: dict[str, Any] = {
            "name": self.name,
            "status": "completed",
            "conclusion": self.conclusion,
            "output": self._output(self._first_batch()),
            "actions": [dict(action) for action in self.actions],
        }
        if self.details_url:
            payload["details_url"] = self.details_url
        if self.external_id:
            payload["external_id"] = self.external_id
        return payload

    def create_payload(self, head_sha: str) -> dict[str, Any]:
        """``POST /repos/{o}/{r}/check-runs``: create the run already completed."""
        return {**self.update_payload(), "head_sha": head_sha}

    def followup_payloads(self) -> list[dict[str, Any]]:
        """One ``PATCH`` per further batch of ≤50 annotations (GitHub appends them)."""
        return [{"output": self._output(batch)} for batch in self.annotation_batches[1:]]

    def payloads(self, head_sha: str | None = None) -> list[dict[str, Any]]:
        """The whole sequence: the create (with ``head_sha``) or update, then follow-ups."""
        first = self.create_payload(head_sha) if head_sha else self.update_payload()
        return [first, *self.followup_payloads()]


def check_run_output(
    result: StageResult,
    stage_config: StageConfig | None = None,
    *,
    details_url: str | None = None,
    dismissed: Collection[str] = (),
    dismissed_by: Mapping[str, str] | None = None,
    apply_allowed: bool = True,
    max_annotations: int = DEFAULT_MAX_ANNOTATIONS,
    external_id: str | None = None,
) -> CheckRunPlan:
    """The completed check run for ``result``.

    ``dismissed`` holds fingerprints people dismissed on the PR: they neither annotate nor
    fail the check, nor are listed or counted; ``dismissed_by`` maps them to the login that
    dismissed each, for the one line that says how many are left out and by whom.
    ``apply_allowed`` is False when policy forbids applying this stage's patches, which
    hides the "Apply fixes" button.
    """
    config = stage_config or StageConfig()
    dismissed_set = set(dismissed)
    suppressed = [f for f in result.findings if f.suppressed]
    reported = sort_findings(reported_findings(result, dismissed_set))
    gone = [f for f in result.findings if not f.suppressed and f.fingerprint in dismissed_set]
    who = sorted({(dismissed_by or {}).get(f.fingerprint, "") for f in gone} - {""}, key=str.casefold)
    conclusion = stage_conclusion(result, config.fail_on, dismissed=dismissed_set)
    # a remark on the whole pull request has no place in a file: the summary says it
    placed = [f for f in reported if not f.on_pull_request]
    shown = placed[: max(max_annotations, 0)]
    annotations = [annotation(f) for f in shown]
    batches = tuple(
        tuple(annotations[i : i + limits.MAX_ANNOTATIONS_PER_REQUEST])
        for i in range(0, len(annotations), limits.MAX_ANNOTATIONS_PER_REQUEST)
    )
    fixes = offered_fixes(result)
    stage_summary = _stage_summary(result, dismissed_set)
    listed = not reported or _summary_lists(result, reported, stage_summary)
    summary = _summary(
        result,
        reported,
        config.fail_on,
        dismissed_fingerprints=dismissed_set,
        stage_summary=stage_summary,
        fixes=fixes,
        apply_allowed=apply_allowed,
        suppressed=len(suppressed),
        dismissed=[f.short_id for f in gone],
        dismissed_by=who,
        not_annotated=len(placed) - len(shown),
    )
    return CheckRunPlan(
        name=result.stage.check_name,
        conclusion=conclusion,
        title=check_title(result, dismissed=dismissed_set),
        summary=summary,
        text=None if listed else findings_text(reported),
        annotation_batches=batches,
        actions=tuple(_actions(has_fixes=bool(fixes) and apply_allowed, has_findings=bool(reported))),
        details_url=details_url,
        reported=len(reported),
        annotated=len(shown),
        external_id=external_id,
        notes=tuple(result.notes),
    )


def _stage_summary(result: StageResult, dismissed: Collection[str]) -> str:
    """The stage's own summary as the check run shows it. The review and security stages'
    list their findings one by one, so once people dismiss some it is written again without
    them (each stage's ``render_summary`` reads the result alone): the check says they are
    not shown, and neither list nor counts may still hold them."""
    gone = set(dismissed)
    render = _renderer(result)
    if render is None or not any(f.fingerprint in gone for f in result.findings if not f.suppressed):
        return result.summary
    kept = [f for f in result.findings if f.suppressed or f.fingerprint not in gone]
    return render(result.model_copy(update={"findings": kept}))


def _renderer(result: StageResult) -> Callable[[StageResult], str] | None:
    """The function that wrote ``result.summary`` from the result alone, when there is one
    (the builtin review engine's; not the llm engine's, whose summary is the model's)."""
    # the stages' modules pull in the scanners: imported only when needed
    if result.stage is StageName.SECURITY:
        from bot.stages.security import render_summary as security_summary

        return security_summary
    if result.stage is StageName.REVIEW and "filter" in result.metrics:
        from bot.stages.review import render_summary as review_summary

        return review_summary
    return None


def _summary_lists(result: StageResult, reported: list[Finding], stage_summary: str) -> bool:
    """Whether the stage's summary, as the check run shows it, already lists every reported
    finding (the security stage's does, by severity and CWE, with each finding's id; the
    review stage's table does, with their ids, up to 20 findings): the table of findings
    under it then said everything a second time, a secret's full message and rotation
    advice once per row included. A summary that does not name every reported finding's id
    (an llm review, a long review) keeps the check's own table."""
    if result.stage is StageName.SECURITY:
        from bot.stages.security import MAX_SUMMARY_ITEMS  # the scanners' module: only when needed

        return len(reported) <= MAX_SUMMARY_ITEMS
    if result.stage is StageName.REVIEW:
        return all(f"| `{f.short_id}` |" in stage_summary for f in reported)
    return False


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by place, so truncation always drops the least important.
    A remark on the whole pull request (no path) comes first among its severity."""
    return sorted(findings, key=lambda f: (-f.severity.rank, f.path, f.start_line, f.end_line, f.rule_id))


def annotation(finding: Finding) -> dict[str, Any]:
    """One finding as a check-run annotation (within GitHub's per-field limits)."""
    start = finding.start_line
    end = max(finding.end_line, start)
    title = redact_secrets(f"{finding.rule_id}: {finding.title}" if finding.title else finding.rule_id)
    item: dict[str, Any] = {
        "path": finding.path.lstrip("/"),
        "start_line": start,
        "end_line": end,
        "annotation_level": finding.severity.annotation_level,
        "message": clip(redact_secrets(finding.message.strip() or finding.rule_id), _MESSAGE_BYTES),
        "title": title[: limits.MAX_ANNOTATION_TITLE],
    }
    raw = _raw_details(finding)
    if raw:
        item["raw_details"] = clip(redact_secrets(raw), _RAW_DETAILS_BYTES)
    return item


def _raw_details(finding: Finding) -> str:
    lines = [f"rule {finding.rule_id} ({finding.engine})"]
    if finding.short_id:
        lines.append(f"finding id {finding.short_id}: /shunter dismiss {finding.short_id}")
    if finding.cwe:
        lines.append(f"CWE-{finding.cwe}")
    if finding.confidence:
        lines.append(f"confidence: {finding.confidence}")
    if finding.help_uri:
        lines.append(f"help: {finding.help_uri}")
    if finding.suggestion is not None or finding.suggestion_held_back:
        span = (
            f"line {finding.start_line}"
            if finding.end_line == finding.start_line
            else f"lines {finding.start_line}-{finding.end_line}"
        )
        if suggestion_holds_secret(finding):  # the inline comment says the same
            lines.append(f"suggested fix for {span} not shown: the lines hold a secret")
        elif finding.suggestion:
            lines.append(f"suggested replacement for {span}:")
            # a CRLF file's fix keeps its line ends (Apply fixes lands them); shown here,
            # each line would end in a stray carriage return
            lines.append(finding.suggestion.replace("\r\n", "\n"))
        else:  # an empty replacement: the fix removes the lines (an unused import, a breakpoint)
            lines.append(f"suggested fix: delete {span}")
    return "\n".join(lines)


def _summary(
    result: StageResult,
    reported: list[Finding],
    fail_on: FailOn,
    *,
    dismissed_fingerprints: Collection[str],
    stage_summary: str,
    fixes: int,
    apply_allowed: bool,
    suppressed: int,
    dismissed: list[str],
    dismissed_by: list[str],
    not_annotated: int,
) -> str:
    head: list[str] = []
    files = len({f.path for f in reported if not f.on_pull_request})
    remarks = [f for f in reported if f.on_pull_request]
    if reported:
        where = " and ".join(
            ([plural(files, "file")] if files else []) + (["the pull request"] if remarks else [])
        )
        head.append(f"**{findings_title(reported)}** in {where} on `{result.head_sha[:7]}`.")
    else:
        head.append(f"**No findings** on `{result.head_sha[:7]}`.")
    # what fails the check and which findings do not count, said here once for every stage
    head.extend(verdict_explanation(result, fail_on, dismissed=dismissed_fingerprints))
    if result.neutral:
        head.append("The stage could not judge everything; see the notes below.")
    if fixes and apply_allowed:
        head.append(
            f"{fixes_phrase(result.stage, fixes)} available: press **Apply fixes** or comment "
            f"`/shunter apply {result.stage.value}`."
        )
    elif fixes:  # neither the button nor the command would do it: do not offer them
        head.append(
            f"{fixes_phrase(result.stage, fixes)} suggested. Shunter does not commit them here "
            f"(`patches.auto_apply.{result.stage.value}` is `never`): apply them by hand."
        )
    if suppressed:  # not "not shown": a stage may list them with their reasons (security does)
        head.append(f"{plural(suppressed, 'finding')} suppressed in the code {_be(suppressed)} not counted.")
    if dismissed:
        by = f" (dismissed by {', '.join(code(login, 60) for login in dismissed_by)})" if dismissed_by else ""
        count = len(dismissed)
        head.append(
            f"{plural(count, 'finding')} dismissed on this PR {_be(count)} not shown{by}. "
            + undismiss_hint(result.stage, sorted(set(dismissed)))
        )
    if not_annotated:
        annotated = len(reported) - len(remarks) - not_annotated
        head.append(
            f"Only the {annotated} most important findings are annotated; "
            f"{plural(not_annotated, 'finding')} left out (see the list below)."
        )
    tail: list[str] = []
    if result.notes:
        tail.append(notes_section(result.notes))
    header = "\n\n".join(head)
    stage_summary = plain(stage_summary.strip())
    budget = limits.MAX_OUTPUT_TEXT - limits.size(header) - _NOTE_ROOM
    tail_text = clip("\n\n".join(tail), max(budget // 4, 0))
    budget -= limits.size(tail_text)
    parts = [header]
    if stage_summary:
        if limits.size(stage_summary) > budget:
            left = limits.size(stage_summary) - budget
            stage_summary = (
                clip(stage_summary, max(budget, 0))
                + f"\n\n_The stage summary was truncated ({left} bytes left out; "
                f"GitHub allows {limits.MAX_OUTPUT_TEXT} characters)._"
            )
        parts.append(stage_summary)
    if tail_text:
        parts.append(tail_text)
    return clip("\n\n".join(parts), limits.MAX_OUTPUT_TEXT)


MAX_UNDISMISS_IDS = 5


def undismiss_hint(stage: StageName, ids: list[str]) -> str:
    """How to show findings dismissed on the PR again, with their ids: a maintainer who
    dismissed the wrong one (a short hash, easily mixed up) finds the way back here."""
    if len(ids) == 1:
        return f"Comment `/shunter undismiss {ids[0]}` to show it again."
    named = ", ".join(code(short, 20) for short in ids[:MAX_UNDISMISS_IDS])
    if len(ids) > MAX_UNDISMISS_IDS:
        named += f" and {len(ids) - MAX_UNDISMISS_IDS} more"
    return (
        f"Comment `/shunter undismiss all-{stage.value}` to show them again, "
        f"or `/shunter undismiss <id>` for one of {named}."
    )


def _be(count: int) -> str:
    return "is" if count == 1 else "are"


def notes_section(notes: Iterable[str]) -> str:
    """A stage's notes as the one ``### Notes`` list a reader gets: the stages leave them
    out of their own summaries, so each note is said once, after the stage's summary, and
    survives a stage summary cut to GitHub's limit (``shunter run --format markdown`` uses
    it too). A note may quote the PR (a requirements line, a tool's error): each is one line
    of text (:func:`~bot.publishing.markdown.line`), its code spans kept, HTML, links and
    issue references inert."""
    return "### Notes\n" + "\n".join(f"- {line(n, 1000)}" for n in notes)


def findings_text(findings: list[Finding]) -> str:
    """The ``output.text`` table of findings, cut below the limit with a count of the rest."""
    header = "| | Location | Rule | Message | Id |\n|---|---|---|---|---|\n"
    rows: list[str] = []
    used = limits.size(header)
    budget = limits.MAX_OUTPUT_TEXT - _NOTE_ROOM
    for finding in findings:
        row = _text_row(finding)
        if used + limits.size(row) > budget:
            break
        rows.append(row)
        used += limits.size(row)
    text = header + "".join(rows)
    left_out = len(findings) - len(rows)
    if left_out:
        text += (
            f"\n_… and {plural(left_out, 'more finding')} not listed here: GitHub limits "
            f"this text to {limits.MAX_OUTPUT_TEXT} characters._\n"
        )
    return text


def _text_row(finding: Finding) -> str:
    lines = (
        f"{finding.start_line}"
        if finding.end_line <= finding.start_line
        else f"{finding.start_line}-{finding.end_line}"
    )
    location = (
        "_the pull request_"
        if finding.on_pull_request
        else path_code(finding.path, suffix=f":{lines}", table=True, max_chars=160)
    )
    rule = f"{code(finding.rule_id, 60, table=True)} ({cell(finding.engine, 30)})"
    short = code(finding.short_id, 20, table=True) if finding.short_id else ""
    message = cell(finding.message, _TEXT_ROW_CHARS)
    return f"| {_SEVERITY_ICON[finding.severity]} | {location} | {rule} | {message} | {short} |\n"


def _actions(*, has_fixes: bool, has_findings: bool) -> list[dict[str, str]]:
    actions: list[dict[str, str]] = []
    if has_fixes:
        actions.append(
            {
                "label": "Apply fixes",
                "description": "Commit the suggested fixes to the branch",
                "identifier": ACTION_APPLY,
            }
        )
    actions.append(
        {
            "label": "Re-run",
            "description": "Run this stage again on the head",
            "identifier": ACTION_RERUN,
        }
    )
    if has_findings:
        actions.append(
            {
                "label": "Dismiss",
                "description": "Dismiss these findings on this PR",
                "identifier": ACTION_DISMISS,
            }
        )
    return actions


def superseded_output(
    stage: StageName | str, new_sha: str, *, details_url: str | None = None
) -> CheckRunPlan:
    """For a run a newer push replaced: concluded ``cancelled`` with the replacing commit."""
    name = _check_name(stage)
    return CheckRunPlan(
        name=name,
        conclusion="cancelled",
        title=f"Superseded by {new_sha[:7]}",
        summary=(
            f"A newer push replaced this commit before `{name}` finished. "
            f"The results are on commit `{new_sha}`."
        ),
        details_url=details_url,
    )


def closed_output(
    stage: StageName | str, state: str, *, details_url: str | None = None
) -> CheckRunPlan:
    """For a run whose pull request was closed or merged before it finished: ``skipped``,
    saying that nothing was published and that reopening runs it."""
    name = _check_name(stage)
    again = "" if state == "merged" else " Reopen the pull request to run it."
    return CheckRunPlan(
        name=name,
        conclusion="skipped",
        title=f"Skipped: the pull request was {state}",
        summary=(
            f"The pull request was {state} before `{name}` finished, so it stopped and "
            f"published nothing.{again}"
        ),
        details_url=details_url,
    )


def skipped_output(
    stage: StageName | str, decision_message: str, *, details_url: str | None = None
) -> CheckRunPlan:
    """For a stage the policy did not run: ``skipped`` with the policy's reason."""
    reason = clip(plain(decision_message.strip()) or "The policy skipped this stage.", 60_000)
    return CheckRunPlan(
        name=_check_name(stage),
        conclusion="skipped",
        title=clip(f"Skipped: {' '.join(decision_message.split())}", 200).rstrip(": ") or "Skipped",
        summary=reason,
        details_url=details_url,
    )


def in_progress_payload(stage: StageName | str, *, details_url: str | None = None) -> dict[str, Any]:
    """The ``PATCH`` a stage job sends when it starts."""
    payload: dict[str, Any] = {
        "status": "in_progress",
        "output": {
            "title": "Running",
            "summary": f"`{_check_name(stage)}` is running on this commit.",
        },
    }
    if details_url:
        payload["details_url"] = details_url
    return payload


def _check_name(stage: StageName | str) -> str:
    if isinstance(stage, StageName):
        return stage.check_name
    return stage if stage.startswith("shunter/") else f"shunter/{stage}"
