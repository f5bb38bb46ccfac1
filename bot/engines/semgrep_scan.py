"""Shunter's rules through semgrep, when the optional ``shunter[semgrep]`` extra is installed.

The rule files carry a ``semgrep:`` section beside the AST matcher's ``match:``; this module
turns them into a semgrep config on the fly so there is one source of truth per rule.
semgrep runs with ``--metrics off``, local rules only, no version check, and as a
subprocess (it is a separate binary). Without semgrep the AST matcher enforces the same
rules, so nothing is lost by default; semgrep only adds what its dataflow sees.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from bot.engines.own_rules import Rule
from bot.engines.redaction import redact
from bot.engines.security_findings import EngineReport
from bot.models import Finding, Severity, StageName

ENGINE = "semgrep"
_LEVEL = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.NOTICE: "INFO"}


def scanner_env(home: str) -> dict[str, str]:
    """A bare environment: the worker's tokens and settings never reach the scanner."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C.UTF-8",
        "SEMGREP_SEND_METRICS": "off",
        "SEMGREP_ENABLE_VERSION_CHECK": "0",
    }


def semgrep_binary() -> str | None:
    return shutil.which("semgrep")


def semgrep_config(rules: list[Rule]) -> dict[str, object]:
    """A semgrep config (``{"rules": [...]}``) from the rules that have a ``semgrep`` body."""
    out: list[dict[str, object]] = []
    for rule in rules:
        if not rule.semgrep:
            continue
        out.append(
            {
                "id": rule.id,
                "message": rule.info().short,
                "severity": _LEVEL[rule.severity],
                "languages": ["python"],
                "metadata": {"cwe": f"CWE-{rule.cwe}" if rule.cwe else None},
                **rule.semgrep,
            }
        )
    return {"rules": out}


def run_semgrep(
    root: Path, paths: list[str], rules: list[Rule], *, timeout: float = 120.0
) -> EngineReport:
    report = EngineReport(engine=ENGINE)
    binary = semgrep_binary()
    if binary is None:
        report.notes.append("semgrep is not installed; Shunter's AST matcher ran the rules.")
        return report
    if not paths:
        return report
    by_id = {r.id: r for r in rules}
    with tempfile.TemporaryDirectory(prefix="shunter-semgrep-") as tmp:
        config = Path(tmp) / "shunter-rules.yml"
        config.write_text(yaml.safe_dump(semgrep_config(rules)), encoding="utf-8")
        cmd = [
            binary,
            "scan",
            "--config",
            str(config),
            "--metrics",
            "off",
            "--disable-version-check",
            "--json",
            "--quiet",
            "--no-git-ignore",
            *[str(root / p) for p in paths],
        ]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, timeout=timeout, check=False, env=scanner_env(tmp)
            )
            data = json.loads(proc.stdout or b"{}")
        except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
            report.notes.append(
                f"semgrep failed ({type(exc).__name__}); AST matcher results stand."
            )
            return report
    for err in data.get("errors", [])[:5]:
        report.notes.append(f"semgrep: {redact(str(err.get('message', err)))[:200]}")
    for hit in data.get("results", []):
        check_id = str(hit.get("check_id", ""))
        rule = by_id.get(check_id) or next(
            (r for rid, r in by_id.items() if check_id.endswith("." + rid)), None
        )
        if rule is None:
            continue
        try:
            rel = Path(hit["path"]).resolve().relative_to(root.resolve()).as_posix()
        except (KeyError, ValueError):
            continue
        start = int(hit.get("start", {}).get("line", 1))
        end = int(hit.get("end", {}).get("line", start))
        report.findings.append(
            Finding(
                stage=StageName.SECURITY,
                rule_id=rule.id,
                severity=rule.severity,
                message=rule.info().short,
                path=rel,
                start_line=start,
                end_line=max(start, end),
                engine=ENGINE,
                title=rule.name,
                confidence=rule.confidence,
                cwe=rule.cwe,
            )
        )
        report.rules[rule.id] = rule.info()
    return report
