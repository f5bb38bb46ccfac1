"""Which findings a stage reports: reviewdog's filter modes, and a stage's ``paths``.

Pure functions over ``Finding``s and ``ChangedFile``s. The stages apply them before they
return, and the publisher and ``shunter run`` may apply them again: filtering is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from bot.engines.secrets_scan import holds_secret
from bot.models import Finding
from bot.policies.globs import path_selected as path_selected  # the stages import it from here
from bot.policies.schema import FilterMode
from bot.stages.context import ChangedFile


def _lines_for(mode: FilterMode, file: ChangedFile) -> frozenset[int] | None:
    """The head lines a finding must touch in ``file``; None means "any line"."""
    if mode is FilterMode.ADDED:
        return file.added_lines
    if mode is FilterMode.DIFF_CONTEXT:
        return file.diff_lines
    return None


def keeps(mode: FilterMode, finding: Finding, files_by_path: dict[str, ChangedFile]) -> bool:
    """True when ``finding`` is reported under ``mode``.

    A multi-line finding is kept when any of its lines qualifies, so a call spanning lines
    where only one was edited is still reported. Deleted files have no head lines and so
    only ``nofilter`` reports on them. A remark on the whole pull request is about the
    diff itself, and is always kept.
    """
    if mode is FilterMode.NOFILTER or finding.on_pull_request:
        return True
    file = files_by_path.get(finding.path)
    if file is None or file.status == "deleted":
        return False
    allowed = _lines_for(mode, file)
    if allowed is None:
        return True
    return any(line in allowed for line in range(finding.start_line, finding.end_line + 1))


def line_gate(mode: FilterMode | str, files: Sequence[ChangedFile]) -> Callable[[str, int, int], bool]:
    """``gate(path, start, end) -> bool``: the filter as a predicate on raw locations, so an
    engine can drop thousands of out-of-diff diagnostics before building findings."""
    mode = FilterMode(mode)
    if mode is FilterMode.NOFILTER:
        return _anywhere
    allowed: dict[str, frozenset[int] | None] = {
        f.path: _lines_for(mode, f) for f in files if f.status != "deleted"
    }
    absent: frozenset[int] = frozenset()  # a path outside the diff: no line qualifies

    # called once per ruff diagnostic, most of them outside the diff: a single-line one
    # (nearly all) costs one set lookup, without a generator per call
    def gate(path: str, start: int, end: int) -> bool:
        lines = allowed.get(path, absent)
        if lines is None:
            return True
        if start == end:
            return start in lines
        return not lines.isdisjoint(range(start, end + 1))

    return gate


def _anywhere(path: str, start: int, end: int) -> bool:
    return True


def split_findings(
    findings: Iterable[Finding], files: Sequence[ChangedFile], mode: FilterMode | str
) -> tuple[list[Finding], list[Finding]]:
    """``(kept, dropped)`` under ``mode``, each in the input order."""
    mode = FilterMode(mode)
    by_path = {file.path: file for file in files if file.status != "deleted"}
    kept: list[Finding] = []
    dropped: list[Finding] = []
    for finding in findings:
        (kept if keeps(mode, finding, by_path) else dropped).append(finding)
    return kept, dropped


def filter_findings(
    findings: Iterable[Finding], files: Sequence[ChangedFile], mode: FilterMode | str
) -> list[Finding]:
    return split_findings(findings, files, mode)[0]


def without_secret_suggestions(findings: Iterable[Finding]) -> list[Finding]:
    """``findings``, each whose suggested replacement holds a secret without it (marked
    ``suggestion_held_back``, so the publisher says why no fix is shown).

    A finding is kept in Redis for ``/shunter explain`` and ``dismiss`` and goes wherever
    the result goes: a fix rewriting a line that holds a secret (ruff's F541 on
    ``KEY = f"AKIA..."``) would keep the secret there in clear. It is dropped, not masked:
    a mask in a replacement is something "Commit suggestion" would commit. Scanned like
    the publisher's check (:func:`bot.publishing.inline.suggestion_holds_secret`), so what
    is held back here is what was held back from the comments.
    """
    return [
        finding.model_copy(update={"suggestion": None, "suggestion_held_back": True})
        if finding.suggestion and holds_secret(finding.path, [finding.suggestion])
        else finding
        for finding in findings
    ]
