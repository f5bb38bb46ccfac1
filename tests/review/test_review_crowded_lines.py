"""A generated or minified line on which ruff reports one rule hundreds of times: the stage
reports ``MAX_SAME_ON_LINE`` of each rule there (they share one finding id), says how many
it left out, and works out no fingerprint, suggestion or fix for the rest. Before, a
100,000-character line with 12,000 f-string findings kept the review running for hours."""

from __future__ import annotations

import random

from bot.engines.ruff_check import Edit, Fix, _span, choose_fixes
from bot.models import Severity
from bot.stages import review
from bot.stages.review import MAX_SAME_ON_LINE, SUGGESTION_MAX_CHARS, run

BASE = {"app.py": b"x = 1\n"}
# 300 f-strings without placeholders (F541, each with a safe fix) and 300 undefined names
# (F821, an error) on one line of 3,307 characters
CROWDED = "x = [" + 'f"ab", y, ' * 300 + "]\n"


def test_a_crowded_line_reports_ten_of_each_rule_and_says_how_many_are_left_out(make_ctx, monkeypatch):
    hashed: list[str] = []
    fingerprint = review.fingerprint

    def counting(rule_id: str, path: str, line: str) -> str:
        hashed.append(rule_id)
        return fingerprint(rule_id, path, line)

    monkeypatch.setattr(review, "fingerprint", counting)
    result = run(make_ctx(BASE, {**BASE, "data.py": CROWDED.encode()}))

    by_rule = {rule: [f for f in result.findings if f.rule_id == rule] for rule in ("F541", "F821")}
    assert {rule: len(found) for rule, found in by_rule.items()} == {"F541": 10, "F821": 10}
    assert MAX_SAME_ON_LINE == 10
    assert {f.severity for f in by_rule["F821"]} == {Severity.ERROR}  # the errors still fail the check
    # one fingerprint per finding reported, none for the 580 left out
    assert hashed.count("F541") + hashed.count("F821") == 20
    assert (
        "Only 10 findings of one rule on one line are reported (they share one finding id): ruff "
        "found `F541` 300 times on line 1 and `F821` 300 times on line 1 in `data.py`; the 580 "
        "more are left out, with their fixes."
    ) in result.notes
    assert result.metrics["left_out_same_on_line"] == 580
    assert result.metrics["findings"] == 21  # and the heuristics' untested-change remark


def test_a_line_too_long_to_suggest_keeps_each_reported_fix_in_the_patch(make_ctx):
    """No suggestion rewrites 3,307 characters; the ten reported F541 (equal findings,
    since nothing tells them apart) are ten fixes of the patch, not one."""
    assert len(CROWDED) > SUGGESTION_MAX_CHARS
    result = run(make_ctx(BASE, {**BASE, "data.py": CROWDED.encode()}))
    f541 = [f for f in result.findings if f.rule_id == "F541"]
    assert all(f.suggestion is None for f in f541)
    [patch] = result.patches
    assert patch.title == "Apply 10 safe ruff fixes"
    assert len(patch.finding_fingerprints) == 10
    [diff] = patch.files
    added = [line for line in diff.diff.splitlines() if line.startswith("+x")]
    assert len(added) == 1 and added[0].count('f"ab"') == 290 and added[0].count('"ab"') == 300


def test_a_short_line_still_gets_its_suggestion(make_ctx):
    result = run(make_ctx(BASE, {**BASE, "data.py": b'x = f"ab"\n'}))
    [f541] = [f for f in result.findings if f.rule_id == "F541"]
    assert f541.suggestion == 'x = "ab"'
    assert "left_out_same_on_line" not in result.metrics


def _one_by_one(fixes: list[Fix]) -> list[int]:
    """``choose_fixes`` as it was written first: each span checked against every one taken."""
    spans = {i: _span(fix) for i, fix in enumerate(fixes) if fix.edits}
    chosen: list[int] = []
    for i in sorted(spans, key=lambda i: (spans[i][1][0] - spans[i][0][0], spans[i][0])):
        begin, end = spans[i]
        taken = [spans[j] for j in chosen]
        if any(begin < t_end and t_begin < end for t_begin, t_end in taken):
            continue
        if begin == end and (begin, end) in taken:
            continue  # two insertions at one point
        chosen.append(i)
    return sorted(chosen)


def test_choose_fixes_by_bisection_picks_what_checking_every_pair_picks():
    rng = random.Random(7)
    for _ in range(3000):
        fixes = []
        for _fix in range(rng.randint(0, 12)):
            edits = []
            for _edit in range(rng.randint(0, 2)):
                row, col = rng.randint(1, 3), rng.randint(1, 5)
                end_row = row + rng.choice([0, 0, 0, 1])
                end_col = rng.randint(1, 5) if end_row > row else rng.randint(col, col + 2)
                edits.append(Edit(row, col, end_row, end_col, "x"))
            fixes.append(Fix("safe", None, tuple(edits)))
        assert choose_fixes(fixes) == _one_by_one(fixes), fixes
