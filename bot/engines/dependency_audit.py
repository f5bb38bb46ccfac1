"""Pinned Python dependencies checked against an OSV-compatible vulnerability service.

Off by default: it is the one scanner that talks to the network, and only to the URL the
repository's config names (``stages.security.osv_url``), speaking OSV's
``POST /v1/querybatch`` and ``GET /v1/vulns/{id}``. An unreachable service raises
``TransientError`` so the stage can say "could not check" (neutral) instead of passing.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

import httpx

from bot.engines.security_findings import EngineReport, RuleInfo
from bot.errors import TransientError
from bot.models import Finding, Severity, StageName

ENGINE = "dependencies"
MAX_DETAILS = 25
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([^\s;#,]+)")
_SEVERITY = {
    "CRITICAL": Severity.ERROR,
    "HIGH": Severity.ERROR,
    "MODERATE": Severity.WARNING,
    "MEDIUM": Severity.WARNING,
    "LOW": Severity.NOTICE,
}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    path: str
    line: int


def is_manifest(path: str) -> bool:
    """Files whose pins the audit reads."""
    p = PurePosixPath(path)
    name = p.name.lower()
    if name in {"poetry.lock", "uv.lock", "pipfile.lock", "pylock.toml"}:
        return True
    if name.endswith(".txt") and ("requirements" in name or "requirements" in p.parts[:-1]):
        return True
    return name.endswith(".txt") and name.startswith("constraints")


def _line_of(text: str, needle: str) -> int:
    for n, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return n
    return 1


def parse_pins(path: str, text: str) -> list[Pin]:
    """Exact pins only: a range says nothing about what is installed."""
    name = PurePosixPath(path).name.lower()
    pins: list[Pin] = []
    if name.endswith(".txt"):
        for n, line in enumerate(text.splitlines(), start=1):
            if m := _REQ.match(line):
                pins.append(Pin(m.group(1), m.group(2), path, n))
    elif name == "pipfile.lock":
        data = json.loads(text)
        for section in ("default", "develop"):
            for pkg, meta in (data.get(section) or {}).items():
                version = str((meta or {}).get("version", "")).lstrip("=")
                if version:
                    pins.append(Pin(pkg, version, path, _line_of(text, f'"{pkg}"')))
    else:
        data = tomllib.loads(text)
        for pkg in data.get("package", []):
            if pkg.get("name") and pkg.get("version"):
                pins.append(
                    Pin(pkg["name"], pkg["version"], path, _line_of(text, f'"{pkg["name"]}"'))
                )
    return pins


def audit(files: Mapping[str, str], osv_url: str, *, timeout: float = 10.0) -> EngineReport:
    """Query the service for every pin in ``files``; raise ``TransientError`` if unreachable."""
    report = EngineReport(engine=ENGINE)
    pins: list[Pin] = []
    for path, text in files.items():
        try:
            pins.extend(parse_pins(path, text))
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            report.notes.append(f"could not read pins from {path}: {type(exc).__name__}")
    if not pins:
        return report
    base = osv_url.rstrip("/")
    queries = [
        {"package": {"name": p.name, "ecosystem": "PyPI"}, "version": p.version} for p in pins
    ]
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(f"{base}/v1/querybatch", json={"queries": queries})
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(f"the OSV service answered {response.status_code}")
            response.raise_for_status()
            results = response.json().get("results", [])
            details: dict[str, dict[str, object]] = {}
            for pin, result in zip(pins, results, strict=False):
                for vuln in (result or {}).get("vulns", []) or []:
                    vid = str(vuln.get("id"))
                    if vid not in details and len(details) < MAX_DETAILS:
                        details[vid] = _details(client, base, vid)
                    report.findings.append(_finding(pin, vid, details.get(vid, {})))
                    report.rules.setdefault(vid, _rule(vid, details.get(vid, {})))
    except httpx.HTTPError as exc:
        raise TransientError(
            f"the OSV service at {base} is unreachable ({type(exc).__name__})"
        ) from exc
    except ValueError as exc:  # a body that is not the OSV shape
        raise TransientError(f"the OSV service at {base} sent an unreadable answer") from exc
    return report


def _details(client: httpx.Client, base: str, vid: str) -> dict[str, object]:
    try:
        response = client.get(f"{base}/v1/vulns/{vid}")
        return response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}


def _severity(detail: Mapping[str, object]) -> Severity:
    specific = detail.get("database_specific")
    if isinstance(specific, dict):
        return _SEVERITY.get(str(specific.get("severity", "")).upper(), Severity.WARNING)
    return Severity.WARNING


def _finding(pin: Pin, vid: str, detail: Mapping[str, object]) -> Finding:
    summary = str(detail.get("summary") or "a known vulnerability")
    return Finding(
        stage=StageName.SECURITY,
        rule_id=vid,
        severity=_severity(detail),
        message=f"{pin.name}=={pin.version} is affected by {vid}: {summary}",
        path=pin.path,
        start_line=pin.line,
        end_line=pin.line,
        engine=ENGINE,
        title=f"Vulnerable dependency {pin.name}",
        confidence="high",
        cwe=1395,
        help_uri=f"https://osv.dev/vulnerability/{vid}",
    )


def _rule(vid: str, detail: Mapping[str, object]) -> RuleInfo:
    return RuleInfo(
        id=vid,
        name=f"Vulnerable dependency ({vid})",
        short=str(detail.get("summary") or f"Known vulnerability {vid}"),
        help=str(detail.get("details") or "Upgrade to a version outside the affected ranges."),
        cwe=1395,
        help_uri=f"https://osv.dev/vulnerability/{vid}",
        fix="Upgrade the pin to a fixed version.",
        tags=("security", "dependency"),
    )
