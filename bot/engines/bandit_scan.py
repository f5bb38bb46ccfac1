"""bandit over materialised Python files, in-process.

In-process beats a subprocess for a worker: bandit's import and plugin discovery (a few
hundred milliseconds) are paid once per worker instead of once per scan, and there is no
JSON round trip (``bench/security.py --bandit-modes`` measures both; on werkzeug's 39-file
3.0.3 diff: 1.07 s warm in-process vs 1.21 s as a subprocess). The subprocess mode stays
available for isolation (``mode="subprocess"``).

bandit runs with ``ignore_nosec`` so every finding comes back: the stage applies ``# nosec``
itself and lists what it suppressed, which bandit alone would hide. Messages of the
hard-coded password tests quote the value; they are masked before leaving this module.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from bot.engines.redaction import mask, redact
from bot.engines.security_findings import EngineReport, RuleInfo
from bot.models import Finding, Severity, StageName

ENGINE = "bandit"
SEVERITY = {"HIGH": Severity.ERROR, "MEDIUM": Severity.WARNING, "LOW": Severity.NOTICE}
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_VALUE_TESTS = {"B105", "B106", "B107"}  # hard-coded password tests quote the value

logging.getLogger("bandit").setLevel(logging.ERROR)
# stevedore reports bandit's optional formatters it cannot load (e.g. SARIF without sarif_om);
# Shunter writes its own SARIF, so those are noise in every worker's log
logging.getLogger("stevedore").setLevel(logging.CRITICAL)


def _message(test_id: str, text: str) -> str:
    if test_id in _VALUE_TESTS:
        text = _QUOTED.sub(lambda m: f"'{mask(m.group(1))}'", text)
    return redact(text)


def _rule(test_id: str, test_name: str, cwe: int | None, text: str) -> RuleInfo:
    slug = test_name.replace("_", "-")
    return RuleInfo(
        id=test_id,
        name=f"bandit {test_id}: {test_name}",
        short=_message(test_id, text) if test_id not in _VALUE_TESTS else test_name,
        help=(
            f"bandit test {test_id} ({test_name}). See bandit's documentation for the "
            "rationale and safe alternatives."
        ),
        cwe=cwe or None,
        help_uri=f"https://bandit.readthedocs.io/en/latest/search.html?q={slug}",
    )


def _finding(root: Path, raw: Mapping[str, Any], paths: Mapping[str, str]) -> Finding:
    fname = str(raw["filename"])
    try:
        rel = Path(fname).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = fname
    path = paths.get(rel, rel)
    test_id = str(raw["test_id"])
    lines = [int(n) for n in raw.get("line_range") or [raw["line_number"]]]
    start = int(raw["line_number"])
    cwe = (raw.get("issue_cwe") or {}).get("id") or None
    return Finding(
        stage=StageName.SECURITY,
        rule_id=test_id,
        severity=SEVERITY.get(str(raw["issue_severity"]).upper(), Severity.WARNING),
        message=_message(test_id, str(raw["issue_text"])),
        path=path,
        start_line=max(1, start),
        end_line=max(start, max(lines) if lines else start, 1),
        engine=ENGINE,
        # annotations and inline comments put the rule id before the title themselves
        title=str(raw["test_name"]).replace("_", " "),
        confidence=str(raw["issue_confidence"]).lower(),
        cwe=int(cwe) if cwe else None,
    )


def run_bandit(
    root: Path,
    paths: list[str],
    *,
    mode: Literal["inprocess", "subprocess"] = "inprocess",
    timeout: float = 300.0,
) -> EngineReport:
    """Scan ``root/<path>`` for each path; paths in the report are the given relative ones."""
    report = EngineReport(engine=ENGINE)
    if not paths:
        return report
    targets = [str(root / p) for p in paths]
    by_rel = {Path(p).as_posix(): p for p in paths}
    try:
        raw, skipped = _inprocess(targets) if mode == "inprocess" else _subprocess(targets, timeout)
    except Exception as exc:  # bandit must not sink the stage; say so instead
        report.notes.append(f"bandit failed ({type(exc).__name__}): {redact(str(exc))[:200]}")
        return report
    for item in raw:
        finding = _finding(root, item, by_rel)
        report.findings.append(finding)
        cwe = finding.cwe
        report.rules.setdefault(
            finding.rule_id,
            _rule(finding.rule_id, str(item["test_name"]), cwe, str(item["issue_text"])),
        )
    for fname, reason in skipped:
        try:
            rel = Path(fname).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = fname
        report.notes.append(f"bandit skipped {rel}: {reason}")
    return report


def _inprocess(targets: list[str]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    from bandit.core import config as b_config
    from bandit.core import manager as b_manager

    manager = b_manager.BanditManager(
        b_config.BanditConfig(), "file", quiet=True, ignore_nosec=True
    )
    manager.discover_files(targets)
    manager.run_tests()
    issues = [issue.as_dict(with_code=False) for issue in manager.get_issue_list()]
    return issues, [(str(f), str(r)) for f, r in manager.get_skipped()]


def _subprocess(
    targets: list[str], timeout: float
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    proc = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-f", "json", "--ignore-nosec", *targets],
        capture_output=True,
        timeout=timeout,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
    )
    if proc.returncode not in (0, 1):
        raise RuntimeError(redact(proc.stderr.decode("utf-8", "replace"))[-300:])
    data = json.loads(proc.stdout or b"{}")
    skipped = [(e.get("filename", "?"), e.get("reason", "?")) for e in data.get("errors", [])]
    return list(data.get("results", [])), skipped
