"""Undismiss's answers, pure: what it restores, and what it says to an id it cannot use."""

from __future__ import annotations

from bot.commands.dismissals import dismissed_entries, of_stage, restored_text, stage_problem, unknown_text
from bot.commands.finding_ids import matching_findings

KNOWN = {
    "bd7bad2876e06af6": {"fingerprint": "bd7bad2876e06af6", "rule_id": "F401", "path": "app.py",
                         "start_line": 1, "stage": "review"},
    "11db13db0c5e9f21": {"fingerprint": "11db13db0c5e9f21", "rule_id": "debugger", "path": "app.py",
                         "start_line": 6, "stage": "review"},
}


def test_a_dismissal_whose_finding_is_forgotten_is_still_listed_by_its_id():
    entries = dismissed_entries({"bd7bad2876e06af6": ("tina", ""), "0badc0de00000000": ("mia", "old")}, KNOWN)
    assert [e["fingerprint"] for e in of_stage(entries, "review")] == ["bd7bad2876e06af6"]
    assert matching_findings(entries, "0badc0de") == [entries["0badc0de"]]
    text = unknown_text("bd7bad29", entries)
    assert text.startswith("No dismissed finding `bd7bad29` on this PR. Did you mean `bd7bad28`? Dismissed here:")
    assert "- `0badc0de` (dismissed by `mia`)\n- `bd7bad28` F401 at `app.py:1` (dismissed by `tina`)" in text


def test_an_id_far_from_every_dismissed_one_gets_no_guess_and_none_dismissed_says_so():
    entries = dismissed_entries({"bd7bad2876e06af6": ("tina", "")}, KNOWN)
    assert "Did you mean" not in unknown_text("ffffffff", entries)
    assert unknown_text("ffffffff", {}) == "Nothing is dismissed on this PR, so `ffffffff` cannot be restored."


def test_restored_findings_and_a_reason_that_pings_no_one():
    entries = dismissed_entries({fp: ("tina", "") for fp in KNOWN}, KNOWN)
    text = restored_text(of_stage(entries, "review"), "asked by @octo/team.")
    assert text.startswith("Restored 2 findings: they are reported on this PR again. Reason: asked by @\u2060octo/team.")
    assert "- `11db13db` debugger at `app.py:6` (dismissed by `tina`)" in text


def test_all_of_a_misspelt_stage_names_the_stage_meant():
    assert stage_problem("all-review") is None
    assert stage_problem("all-secuirty") == (
        "`all-secuirty` names no stage. Did you mean `all-security`? "
        "The stages are `all-review`, `all-security`, `all-tests`."
    )
