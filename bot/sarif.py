"""SARIF 2.1.0 from stage results: for ``shunter run --format sarif``, the run store and
GitHub code scanning.

One SARIF run per stage, each with its own ``automationDetails.id`` (GitHub rejects two
runs of one tool with the same category in an upload). Rules carry help text and CWE tags
(``external/cwe/cwe-N``, which code scanning turns into filters); results carry
``partialFingerprints.primaryLocationLineHash`` so alerts follow code that moves.
Inline-suppressed findings are kept as results with an ``inSource`` suppression. Every
string is passed through ``redact`` as a last line of defence. ``artifactLocation.uri`` is
a URI reference, not a file name: paths are percent-encoded (``artifact_uri``) and anything
that reads them back must decode them (``artifact_path``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from bot import __version__
from bot.engines.redaction import redact
from bot.models import Finding, Severity, StageResult

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "note"}
SECURITY_SEVERITY = {Severity.ERROR: "8.0", Severity.WARNING: "5.0", Severity.NOTICE: "2.0"}


def artifact_uri(path: str) -> str:
    """The repository-relative ``path`` as an RFC 3986 relative reference for
    ``artifactLocation.uri``.

    SARIF 2.1.0 (3.4.3) makes the property a URI reference, and GitHub code scanning
    resolves it against the repository root, so a raw ``with space.py``, ``a#b.py`` (a
    fragment), ``100%.py`` (a bad escape) or a newline would be invalid or name another
    file. Everything but unreserved characters and ``/`` is percent-encoded as UTF-8; a
    name's undecodable bytes (kept as surrogates by the git layer) are encoded as those
    bytes, so ``artifact_path`` gives back exactly the original.
    """
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")


def artifact_path(uri: str) -> str:
    """The repository path an ``artifactLocation.uri`` written by ``artifact_uri`` names."""
    return unquote_to_bytes(uri).decode("utf-8", "surrogateescape")


def _rule_meta(result: StageResult) -> dict[str, dict[str, Any]]:
    meta = result.metrics.get("rules") if isinstance(result.metrics, dict) else None
    return meta if isinstance(meta, dict) else {}


def _rule_descriptor(rule_id: str, meta: dict[str, Any] | None, example: Finding) -> dict[str, Any]:
    meta = meta or {}
    cwe = meta.get("cwe") or example.cwe
    name = str(meta.get("name") or example.title or rule_id)
    short = str(meta.get("short") or example.title or example.message.split(". ")[0])
    help_text = str(meta.get("help") or short)
    tags = list(meta.get("tags") or ([example.stage.value] if example.stage else []))
    if example.stage.value == "security" and "security" not in tags:
        tags.append("security")
    if cwe:
        tags.append(f"external/cwe/cwe-{int(cwe)}")
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": _pascal(name),
        "shortDescription": {"text": redact(short)},
        "fullDescription": {"text": redact(help_text.split("\n\n")[0].strip() or short)},
        "help": {"text": redact(help_text), "markdown": redact(help_text)},
        "defaultConfiguration": {"level": LEVEL[example.severity]},
        "properties": {"tags": sorted(set(tags))},
    }
    if example.stage.value == "security":
        descriptor["properties"]["security-severity"] = SECURITY_SEVERITY[example.severity]
    uri = meta.get("help_uri") or example.help_uri
    if uri:
        descriptor["helpUri"] = str(uri)
    return descriptor


def _pascal(text: str) -> str:
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    return "".join(w[:1].upper() + w[1:] for w in words) or "Rule"


def _result(f: Finding, rule_index: int, occurrence: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": LEVEL[f.severity],
        "message": {"text": redact(f.message)},
        "partialFingerprints": {"primaryLocationLineHash": f"{f.fingerprint}:{occurrence}"},
        "properties": {"engine": f.engine},
    }
    # a remark on the whole pull request has no location, and SARIF 2.1.0 lets a result
    # have none (3.27.12): a made-up file and line would send a viewer to the wrong place
    if not f.on_pull_request:
        region: dict[str, Any] = {"startLine": f.start_line, "endLine": max(f.end_line, f.start_line)}
        artifact = {"uri": artifact_uri(f.path), "uriBaseId": "%SRCROOT%"}
        out["locations"] = [{"physicalLocation": {"artifactLocation": artifact, "region": region}}]
    if f.confidence:
        out["properties"]["confidence"] = f.confidence
    if f.suppressed:
        out["suppressions"] = [{"kind": "inSource", "justification": redact(f.suppressed)}]
    return out


def _run(result: StageResult, tool_version: str) -> dict[str, Any]:
    meta = _rule_meta(result)
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    seen = Counter[str]()
    for f in result.findings:
        if f.rule_id not in index:
            index[f.rule_id] = len(rules)
            rules.append(_rule_descriptor(f.rule_id, meta.get(f.rule_id), f))
        seen[f.fingerprint] += 1
        results.append(_result(f, index[f.rule_id], seen[f.fingerprint]))
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "Shunter",
                "semanticVersion": tool_version,
                "version": tool_version,
                "rules": rules,
            }
        },
        "automationDetails": {"id": f"shunter/{result.stage.value}/"},
        "results": results,
        "invocations": [
            {
                "executionSuccessful": not result.neutral,
                "toolExecutionNotifications": [
                    {"message": {"text": redact(n)}, "level": "note"} for n in result.notes
                ],
            }
        ],
        "properties": {"headSha": result.head_sha},
    }
    return run


def to_sarif(results: list[StageResult], tool_version: str = __version__) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run per stage result."""
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [_run(r, tool_version) for r in results],
    }
