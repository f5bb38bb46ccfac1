"""shunter config validate | schema | explain | presets, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.policies.presets import policies_dir, preset_names
from bot.policies.safe_yaml import parse_yaml
from bot.policies.schema_export import schema_json


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["config", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_validate_ok(tmp_path: Path) -> None:
    path = tmp_path / "shunter.yml"
    path.write_text("extends: [strict]\nstages:\n  tests:\n    enabled: false\n")
    assert run("validate", str(path)) == (0, "ok\n", "")


def test_validate_reports_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "shunter.yml"
    path.write_text("stages:\n  review:\n    fail_on: warn\nextends: [nope]\n")
    code, out, _ = run("validate", str(path))
    assert code == 1
    assert out.splitlines() == [
        f"{path}:3:14: stages.review.fail_on: 'warn' is not one of error, warning, notice,"
        " never; did you mean 'warning'?",
    ]
    path.write_text("extends: [nope]\n")
    code, out, _ = run("validate", str(path))
    assert code == 1
    assert out.startswith(f"{path}:1:11: extends 'nope': there is no such preset")


def test_validate_defaults_to_the_repo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "shunter.yml").write_text("version: 3\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("validate")
    assert code == 1
    assert out.startswith(".github/shunter.yml:1:10: version 3 is not supported")


def test_validate_missing_file(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path / "none.yml"))
    assert code == 2  # bad input; 1 means the file has problems
    assert "no such file" in err


def test_schema_matches_the_shipped_file() -> None:
    code, out, _ = run("schema")
    assert code == 0
    shipped = (policies_dir() / "shunter.schema.json").read_text()
    assert out == shipped == schema_json(), (
        "policies/shunter.schema.json is stale: regenerate it with"
        " `shunter config schema > policies/shunter.schema.json`"
    )


@pytest.mark.parametrize("name", ["recommended", "strict", "security-only", "advisory", "autofix"])
def test_presets_validate_against_the_json_schema(name: str) -> None:
    schema = json.loads((policies_dir() / "shunter.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    data = parse_yaml((policies_dir() / f"{name}.yml").read_bytes()).data
    jsonschema.Draft202012Validator(schema).validate(data)


def test_json_schema_rejects_unknown_keys() -> None:
    schema = json.loads(schema_json())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"stages": {"reviw": {}}}, schema)


def test_presets_lists_them() -> None:
    code, out, _ = run("presets")
    assert code == 0
    assert out.split() == preset_names()
    assert {"recommended", "strict", "security-only"} <= set(out.split())


def test_explain_file_shows_sources(tmp_path: Path) -> None:
    path = tmp_path / "shunter.yml"
    path.write_text("extends: [strict]\npatches:\n  max_files: 3\n")
    code, out, _ = run("explain", "--file", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "# layers (lowest first): default < preset:recommended < preset:strict < repo"
    rows = {line.split(" = ")[0].strip(): line for line in lines[1:]}
    assert rows["patches.max_files"].endswith("= 3  # repo")
    assert rows["stages.review.fail_on"].endswith('= "warning"  # preset:strict')
    assert rows["stages.tests.run_untrusted"].endswith("= false  # preset:recommended")
    assert rows["commands.rules.help.permission"].endswith('= "read"  # default')


def test_explain_json(tmp_path: Path) -> None:
    path = tmp_path / "shunter.yml"
    path.write_text("stages: {security: {fail_on: error}}\n")
    code, out, _ = run("explain", "--file", str(path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "ok"
    assert data["settings"]["stages.security.fail_on"] == {"value": "error", "source": "repo"}


def test_explain_file_with_problems_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "shunter.yml"
    path.write_text("extends: [acme/policies]\n")
    code, out, err = run("explain", "--file", str(path))
    assert code == 1
    assert "cannot read extends 'acme/policies'" in err
    assert "offline" in err


def test_explain_needs_exactly_one_target(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["config", "explain"])
    assert result.exit_code == 2
    assert "exactly one of --file or --repo" in result.output
