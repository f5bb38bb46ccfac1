"""Dependency audit against a loopback OSV-compatible server, and when it is unreachable."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import pytest

from bot.engines import dependency_audit
from bot.errors import TransientError
from bot.publishing.check_runs import check_run_output
from bot.stages import security

VULNS = {
    ("jinja2", "2.10"): [{"id": "GHSA-462w-v97r-4m45", "modified": "2024-01-01T00:00:00Z"}],
    ("pyyaml", "5.3"): [{"id": "PYSEC-2021-142", "modified": "2024-01-01T00:00:00Z"}],
}
DETAILS = {
    "GHSA-462w-v97r-4m45": {"id": "GHSA-462w-v97r-4m45", "summary": "Jinja2 sandbox escape",
                            "database_specific": {"severity": "HIGH"}},
    "PYSEC-2021-142": {"id": "PYSEC-2021-142", "summary": "PyYAML arbitrary code execution"},
}


class FakeOSV:
    def __init__(self) -> None:
        self.queries: list[dict] = []

    def respond(self, method: str, path: str, headers: Mapping[str, str], body: Any) -> tuple[int, dict]:
        if method == "POST":
            assert path == "/v1/querybatch"
            self.queries.extend(body["queries"])
            results = []
            for q in body["queries"]:
                key = (q["package"]["name"].lower(), q["version"])
                assert q["package"]["ecosystem"] == "PyPI"
                results.append({"vulns": VULNS[key]} if key in VULNS else {})
            return 200, {"results": results}
        vid = path.rsplit("/", 1)[-1]
        if vid in DETAILS:
            return 200, DETAILS[vid]
        return 404, {"message": "not found"}


@pytest.fixture
def osv(json_server) -> tuple[FakeOSV, str]:
    state = FakeOSV()
    return state, json_server(state.respond)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REQS = "flask>=2  # ranges are not pins\nJinja2==2.10\nrequests==2.31.0\n"
POETRY_LOCK = '[[package]]\nname = "pyyaml"\nversion = "5.3"\n\n[[package]]\nname = "idna"\nversion = "3.7"\n'


def test_parse_pins_reads_requirements_and_locks() -> None:
    pins = dependency_audit.parse_pins("requirements/base.txt", REQS)
    assert [(p.name, p.version, p.line) for p in pins] == [("Jinja2", "2.10", 2), ("requests", "2.31.0", 3)]
    assert [p.name for p in dependency_audit.parse_pins("poetry.lock", POETRY_LOCK)] == ["pyyaml", "idna"]
    assert dependency_audit.is_manifest("requirements-dev.txt")
    assert dependency_audit.is_manifest("requirements/base.txt")
    assert not dependency_audit.is_manifest("docs/notes.txt")


def test_vulnerable_pins_become_findings(pr, osv, monkeypatch) -> None:
    state, url = osv
    monkeypatch.setenv("SHUNTER_OUTBOUND_URLS", url)
    ctx = pr({"README": "x"}, {"requirements.txt": REQS, "poetry.lock": POETRY_LOCK},
             scanners=["dependencies"], osv_url=url)
    result = security.run(ctx)
    found = {(f.rule_id, f.path, f.start_line, f.severity.value) for f in result.findings}
    assert ("GHSA-462w-v97r-4m45", "requirements.txt", 2, "error") in found
    assert ("PYSEC-2021-142", "poetry.lock", 2, "warning") in found
    assert len(found) == 2 and not result.neutral
    assert "Jinja2 sandbox escape" in result.summary
    assert len(state.queries) == 4


def test_unreachable_service_is_neutral_not_a_pass(pr, monkeypatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("SHUNTER_OUTBOUND_URLS", url)
    ctx = pr({"README": "x"}, {"requirements.txt": REQS}, scanners=["dependencies"], osv_url=url)
    result = security.run(ctx)
    assert result.neutral and result.metrics["conclusion"] == "neutral"
    assert any("Dependency audit could not run" in n for n in result.notes)
    assert "unreachable" in check_run_output(result).summary  # among the notes, once
    with pytest.raises(TransientError):
        dependency_audit.audit({"requirements.txt": REQS}, url, timeout=2)


def test_a_service_the_operator_did_not_allow_is_never_asked(pr, osv, monkeypatch) -> None:
    state, url = osv  # a repository's config may not point the worker at internal servers
    monkeypatch.delenv("SHUNTER_OUTBOUND_URLS", raising=False)
    ctx = pr({"README": "x"}, {"requirements.txt": REQS}, scanners=["dependencies"], osv_url=url)
    result = security.run(ctx)
    assert state.queries == [] and result.neutral
    assert any("SHUNTER_OUTBOUND_URLS" in n for n in result.notes)


def test_audit_enabled_without_url_says_nothing_was_checked(pr) -> None:
    ctx = pr({"README": "x"}, {"requirements.txt": REQS}, scanners=["dependencies"])
    result = security.run(ctx)
    assert result.neutral and any("no `osv_url`" in n for n in result.notes)


def test_audit_is_off_by_default(pr, osv) -> None:
    state, url = osv
    result = security.run(pr({"README": "x"}, {"requirements.txt": REQS}, osv_url=url))
    assert state.queries == [] and not result.neutral
