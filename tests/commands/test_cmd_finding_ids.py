"""A typed finding id names one finding, or says which ones it could mean."""

from __future__ import annotations

from bot.commands.finding_ids import candidates_text, matching_findings


def finding(fp: str, rule: str, line: int) -> dict[str, object]:
    return {"fingerprint": fp, "rule_id": rule, "path": "app.py", "start_line": line}


FINDINGS = {
    "f9220a2e": finding("f9220a2e28029af5", "stray-print", 7),
    "f9220aae": finding("f9220aae7df18b74", "stray-print", 8),
    "bd7bad28": finding("bd7bad2876e06af6", "F401", 1),
}


def test_an_exact_or_unique_id_names_one_finding():
    assert matching_findings(FINDINGS, "f9220a2e") == [FINDINGS["f9220a2e"]]
    assert matching_findings(FINDINGS, "`F9220AAE7DF18B74`") == [FINDINGS["f9220aae"]]
    assert matching_findings(FINDINGS, "bd7bad") == [FINDINGS["bd7bad28"]]


def test_an_ambiguous_prefix_names_every_candidate_and_a_short_one_none():
    assert matching_findings(FINDINGS, "f9220a") == [FINDINGS["f9220a2e"], FINDINGS["f9220aae"]]
    assert matching_findings(FINDINGS, "f922") == []
    text = candidates_text("f9220a", matching_findings(FINDINGS, "f9220a"))
    assert "fits 2 findings" in text and "nothing was done" in text
    assert "`f9220a2e` stray-print at `app.py:7`" in text and "`f9220aae` stray-print at `app.py:8`" in text
