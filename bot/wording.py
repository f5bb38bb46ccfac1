"""How counts read in English, shared by the stages (pure) and the publisher (shell).

Both say "1 error, 2 warnings" and "1 changed file" the same way; living here rather than
in ``bot.publishing`` keeps the stages' imports light (the publisher's pull in the store and
SQLAlchemy, a quarter of a second at every ``shunter run``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from bot.models import Finding, Severity


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    """``1 error``, ``2 errors``; ``plural_word`` for irregular ones (``1 fix``, ``2 fixes``)."""
    return f"{count} {word if count == 1 else (plural_word or word + 's')}"


def findings_title(findings: Iterable[Finding], *, neutral: bool = False, why: str | None = None) -> str:
    """``3 errors, 2 warnings``; ``No findings``; prefixed ``Incomplete`` when neutral, with
    ``why`` in brackets when the stage says what it could not do (the title is what people
    see in the PR's list of checks)."""
    counts = Counter(f.severity for f in findings)
    parts = [
        plural(counts[severity], severity.value)
        for severity in (Severity.ERROR, Severity.WARNING, Severity.NOTICE)
        if counts[severity]
    ]
    title = ", ".join(parts) if parts else "No findings"
    if not neutral:
        return title
    return f"Incomplete ({why}): {title}" if why else f"Incomplete: {title}"
