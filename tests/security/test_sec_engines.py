"""Engine-level units: suppressions parsing, fix edits, bandit modes."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.engines import bandit_scan, own_rules, security_fixes, suppressions
from bot.models import Finding, Severity, StageName
from bot.publishing.check_runs import annotation


def _finding(rule_id: str, engine: str = "bandit", line: int = 1) -> Finding:
    return Finding(stage=StageName.SECURITY, rule_id=rule_id, severity=Severity.ERROR, message="m",
                   path="a.py", start_line=line, end_line=line, engine=engine)


def test_suppression_forms() -> None:
    aliases = {"shunter.unsafe-yaml-load": ("B506",)}
    yaml_rule = _finding("shunter.unsafe-yaml-load", engine="rules")
    cases = {
        "yaml.load(s)  # nosec": True,
        "yaml.load(s)  # nosec B506": True,
        "yaml.load(s)  # nosec B602": False,
        "yaml.load(s)  # noqa: S506": True,
        "yaml.load(s)  # noqa": False,
        "yaml.load(s)  # noqa: E501": False,
        "yaml.load(s)  # shunter: ignore[shunter.unsafe-yaml-load] config is ours": True,
        "yaml.load(s)  # shunter: ignore[shunter.*] all ours": True,
        "yaml.load(s)  # shunter: ignore[shunter.unsafe-yaml-load]": False,
        "yaml.load(s)  # pragma: allowlist secret": False,
    }
    for line, expected in cases.items():
        assert (suppressions.suppression_for(yaml_rule, [line], aliases) is not None) is expected, line


def test_secrets_need_an_explicit_allowlist() -> None:
    secret = _finding("secret.github-token", engine="secrets")
    assert suppressions.suppression_for(secret, ["t = 'x'  # nosec"], {}) is None
    assert suppressions.suppression_for(secret, ["t = 'x'  # pragma: allowlist secret"], {})
    assert suppressions.suppression_for(secret, ["t = 'x'  # shunter: ignore[secret.*] test fixture"], {})


def test_multiline_finding_honours_a_comment_on_its_last_line() -> None:
    finding = _finding("B602").model_copy(update={"start_line": 1, "end_line": 3})
    lines = ["subprocess.call(", "    cmd, shell=True", ")  # nosec"]
    assert suppressions.suppression_for(finding, lines, {}) == "# nosec"


def _edits(source: str) -> list[security_fixes.Edit]:
    tree = ast.parse(source)
    rules = own_rules.load_rules()
    lines = source.splitlines()
    return [e for m in own_rules.iter_autofix_matches(tree, rules)
            if (e := security_fixes.edit_for(m, lines, tree)) is not None]


def test_fixes_skip_what_is_not_mechanical() -> None:
    multiline = "import yaml\ndata = yaml.load(\n    stream,\n)\n"
    assert _edits(multiline) == []
    no_os = "import tempfile\npath = tempfile.mktemp()\n"
    assert _edits(no_os) == []  # mkstemp needs os.close; no import to lean on
    star = "import yaml\nyaml.load(*args)\n"
    assert _edits(star) == []
    as_argument = "import os, tempfile\nuse(tempfile.mktemp())\n"
    assert _edits(as_argument) == []


def test_fixes_keep_the_rest_of_the_line() -> None:
    source = "import requests\nr = requests.get(url, verify=False, timeout=3)  # keep me\n"
    (edit,) = _edits(source)
    fixed = security_fixes.apply_edits(source, [edit])
    assert fixed.splitlines()[1] == "r = requests.get(url, timeout=3)  # keep me"
    assert security_fixes.git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_bandit_in_process_and_subprocess_agree(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "import subprocess\n\n\ndef f(c):\n    subprocess.call(c, shell=True)  # nosec\n"
        "    password = 'hunter2hunter2'\n    return password\n"
    )
    inproc = bandit_scan.run_bandit(tmp_path, ["a.py"])
    sub = bandit_scan.run_bandit(tmp_path, ["a.py"], mode="subprocess")
    key = lambda r: sorted((f.rule_id, f.start_line, f.severity, f.confidence, f.cwe) for f in r.findings)  # noqa: E731
    assert key(inproc) == key(sub)
    ids = {f.rule_id for f in inproc.findings}
    assert {"B602", "B105"} <= ids  # nosec does not hide it from the engine; the stage decides
    b105 = next(f for f in inproc.findings if f.rule_id == "B105")
    assert "hunter2hunter2" not in b105.message
    # the annotation reads "B105: hardcoded password string", not "B105: bandit B105: ..."
    assert b105.title == "hardcoded password string"
    assert annotation(b105)["title"] == "B105: hardcoded password string"


def test_bandit_reports_unparsable_files_as_notes(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def f(:\n")
    report = bandit_scan.run_bandit(tmp_path, ["bad.py"])
    assert report.findings == [] and any("bad.py" in n for n in report.notes)


def test_scanner_subprocesses_get_a_bare_environment(monkeypatch) -> None:
    from bot.engines import semgrep_scan

    monkeypatch.setenv("SHUNTER_GITHUB_APP_PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_" + "x" * 36)
    env = semgrep_scan.scanner_env("/tmp/home")
    assert set(env) == {"PATH", "HOME", "LANG", "SEMGREP_SEND_METRICS", "SEMGREP_ENABLE_VERSION_CHECK"}
    assert env["SEMGREP_SEND_METRICS"] == "off"
