"""What a stage's patches offer, counted the way a reader counts it.

A patch is the unit Shunter lands, not the unit people fix by: ruff's safe fixes for a whole
pull request are one patch, the security stage makes one per file. The check run's
sentence, the summary table's Fixes column and the run record all count from here, so they
agree with each other and with the stage's own summary ("ruff can fix 3 of them safely").
"""

from __future__ import annotations

from bot.models import StageName, StageResult
from bot.wording import plural


def offered_fixes(result: StageResult) -> int:
    """How many fixes ``result``'s patches hold: the findings each patch fixes; a patch
    naming none counts the tests it adds (the tests stage's ``kept`` metric), or one.

    Findings, not distinct ids: two of one rule on one line (``f"a" + f"b"``) share a
    fingerprint but are two rows of the table, each fixed, and the patch's title counts
    both; counting ids made the check say "1 fix" of a patch titled "Apply 2 ...".
    """
    offered = [p for p in result.patches if p.files]
    count = sum(len(p.finding_fingerprints) for p in offered)
    bare = [p for p in offered if not p.finding_fingerprints]
    if bare:
        kept = result.metrics.get("kept")
        tests = kept if result.stage is StageName.TESTS and isinstance(kept, int) else 0
        count += max(tests, len(bare))
    return count


def fixes_phrase(stage: StageName | str, count: int) -> str:
    """``3 fixes``, ``1 fix``; for the tests stage, whose patch fixes nothing but adds
    tests, ``2 generated tests``."""
    if str(getattr(stage, "value", stage)) == StageName.TESTS.value:
        return plural(count, "generated test")
    return plural(count, "fix", "fixes")
