"""Shunter's own rules against the vulnerable/safe twin corpus, and the rule files' shape."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
import yaml

from bot.engines import own_rules, semgrep_scan
from bot.errors import ConfigError

CORPUS = Path(__file__).parent / "corpus"
RULES = own_rules.load_rules()
RULE_IDS = sorted(r.id for r in RULES)
EXPECT = re.compile(r"#\s*expect:\s*([\w.,\s-]+)$")


def _expected(text: str) -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for n, line in enumerate(text.splitlines(), start=1):
        if m := EXPECT.search(line):
            out |= {(rid.strip(), n) for rid in m.group(1).split(",") if rid.strip()}
    return out


def _found(path: Path) -> set[tuple[str, int]]:
    report = own_rules.scan_python({path.name: ast.parse(path.read_bytes())}, RULES)
    return {(f.rule_id, f.start_line) for f in report.findings}


def test_issue_rules_are_all_present() -> None:
    wanted = {
        "shunter.unsafe-deserialisation",
        "shunter.unsafe-yaml-load",
        "shunter.subprocess-shell-injection",
        "shunter.eval-exec-injection",
        "shunter.tls-verification-disabled",
        "shunter.sql-string-formatting",
        "shunter.weak-password-hash",
        "shunter.insecure-mktemp",
        "shunter.debug-mode-enabled",
    }
    assert wanted <= set(RULE_IDS)
    for rule in RULES:
        assert rule.help.strip() and rule.fix.strip() and rule.cwe, rule.id


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_vulnerable_twin_reports_exactly_the_marked_lines(rule_id: str) -> None:
    path = CORPUS / f"{rule_id.removeprefix('shunter.')}_vulnerable.py"
    expected = _expected(path.read_text())
    assert expected, f"{path.name} marks no expected findings"
    assert _found(path) == expected


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_safe_twin_reports_nothing(rule_id: str) -> None:
    path = CORPUS / f"{rule_id.removeprefix('shunter.')}_safe.py"
    assert _found(path) == set()


def test_findings_carry_rule_metadata() -> None:
    path = CORPUS / "unsafe-yaml-load_vulnerable.py"
    report = own_rules.scan_python({"x.py": ast.parse(path.read_bytes())}, RULES)
    finding = report.findings[0]
    assert finding.cwe == 502 and finding.confidence == "high"
    assert "yaml.load" in finding.message
    info = report.rules[finding.rule_id]
    assert "Fix:" in info.help and info.help_uri.endswith("/502.html")
    assert report.aliases[finding.rule_id] == ("B506",)


def test_broken_rule_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("id: Bad Id\nname: x\n")
    with pytest.raises(ConfigError, match="bad.yml"):
        own_rules.load_rules(tmp_path)


def test_semgrep_config_has_one_rule_per_file() -> None:
    config = semgrep_scan.semgrep_config(RULES)
    ids = [r["id"] for r in config["rules"]]
    assert sorted(ids) == RULE_IDS
    for rule in config["rules"]:
        assert rule["languages"] == ["python"]
        assert rule["severity"] in {"ERROR", "WARNING", "INFO"}
        assert any(k.startswith("pattern") for k in rule), rule["id"]
    yaml.safe_load(yaml.safe_dump(config))  # serialisable as semgrep reads it


def test_without_semgrep_the_engine_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    report = semgrep_scan.run_semgrep(tmp_path, ["a.py"], RULES)
    assert report.findings == []
    assert "AST matcher" in report.notes[0]


@pytest.mark.skipif(shutil.which("semgrep") is None, reason="semgrep (shunter[semgrep]) not installed")
def test_semgrep_runs_the_same_rules_on_the_corpus() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.py"))
    report = semgrep_scan.run_semgrep(CORPUS, files, RULES)
    found = {(f.rule_id, f.path, f.start_line) for f in report.findings}
    expected = {
        (rid, name, line) for name in files for rid, line in _expected((CORPUS / name).read_text())
    }
    assert found == expected  # every marked line in the vulnerable twins, nothing in the safe ones


@pytest.mark.skipif(shutil.which("semgrep") is None, reason="semgrep (shunter[semgrep]) not installed")
def test_stage_with_semgrep_reports_each_finding_once(pr) -> None:
    from bot.stages import security

    head = {"app.py": (CORPUS / "sql-string-formatting_vulnerable.py").read_text()}
    both = security.run(pr({"README": "x"}, head, scanners=["rules", "semgrep"]))
    lines = [f.start_line for f in both.findings if f.rule_id == "shunter.sql-string-formatting"]
    assert sorted(lines) == [7, 12, 17, 22]
    assert "semgrep_head" in both.metrics["timings"]


def test_missing_rules_are_an_error_and_make_the_check_neutral(pr, tmp_path, monkeypatch) -> None:
    from bot.stages import security

    with pytest.raises(ConfigError, match="no security rules"):
        own_rules.load_rules(tmp_path)
    monkeypatch.setattr(own_rules, "rules_dir", lambda: tmp_path)
    result = security.run(pr({"README": "x"}, {"a.py": "x = 1\n"}))
    assert result.neutral and result.metrics["conclusion"] == "neutral"
    assert any("own rules did not run" in n for n in result.notes)
