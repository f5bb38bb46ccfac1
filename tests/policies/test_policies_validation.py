"""Schema errors at exact file:line:col, with suggestions; presets load and validate."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.policies.presets import preset_names, preset_path
from bot.policies.schema import FailOn, ShunterConfig
from bot.policies.validation import load_config, parse_config

BAD = """\
version: 1
stages:
  reviw:
    enabled: false
  security:
    fail_on: warn
    on: [opened, synchronise]
commands:
  rules:
    apply: {permision: admin}
llm:
  api_key: sk-not-a-real-key-1234
  api_key_env: sk-not-a-real-key-1234
patches:
  max_files: 0
  commit_message: "fix {titel}"
ignore:
  title_patterns: ["("]
extends: [strict, "../x"]
"""


def _rendered(text: str, file: str = ".github/shunter.yml") -> list[str]:
    parsed = parse_config(text, file=file)
    assert not parsed.ok
    return [p.render() for p in parsed.problems]


def test_every_problem_is_reported_at_its_line_and_column() -> None:
    lines = _rendered(BAD)
    assert lines == [
        ".github/shunter.yml:3:3: unknown key 'reviw' in stages; did you mean 'review'?",
        ".github/shunter.yml:6:14: stages.security.fail_on: 'warn' is not one of error,"
        " warning, notice, never; did you mean 'warning'?",
        ".github/shunter.yml:7:18: stages.security.on[1]: 'synchronise' is not one of opened,"
        " synchronize, reopened, ready_for_review, labeled, unlabeled, edited, merge_group,"
        " check_suite, check_run, command, schedule; did you mean 'synchronize'?",
        ".github/shunter.yml:10:13: unknown key 'permision' in commands.rules.apply; did you"
        " mean 'permission'?",
        ".github/shunter.yml:12:3: 'api_key' looks like a secret; secrets never go in the"
        " config file: put it in an environment variable of the Shunter installation and set"
        " llm.api_key_env to that variable's name",
        ".github/shunter.yml:13:16: llm.api_key_env: must be the NAME of an environment"
        " variable (like OPENAI_API_KEY), never the key itself",
        ".github/shunter.yml:15:14: patches.max_files: Input should be greater than or equal to 1 (got 0)",
        ".github/shunter.yml:16:19: patches.commit_message: unknown placeholder '{titel}'; did"
        " you mean 'title'? (placeholders: {title}, {stage}, {pr_number}, {count})",
        ".github/shunter.yml:18:20: ignore.title_patterns[0]: '(' is not a valid regular"
        " expression: missing ), unterminated subpattern at position 0",
        ".github/shunter.yml:19:19: extends[1]: '../x' is neither a preset name (like"
        " 'recommended') nor 'owner/repo[:path]'",
    ]


def test_secrets_are_never_echoed() -> None:
    assert not any("sk-not-a-real-key" in line for line in _rendered(BAD))


def test_unknown_command_points_at_its_key() -> None:
    text = "commands:\n  rules:\n    review: {permission: read}\n    aply: {permission: write}\n"
    assert _rendered(text) == [
        ".github/shunter.yml:4:5: commands.rules: unknown command 'aply'; did you mean"
        " 'apply'? (commands: help, review, security, tests, all, explain, ask, config, queue,"
        " apply, retry, dismiss, undismiss, pause, resume, approve)"
    ]


def test_unknown_key_without_close_match_lists_choices() -> None:
    [line] = _rendered("ignore:\n  zzz: 1\n")
    assert line.startswith(".github/shunter.yml:2:3: unknown key 'zzz' in ignore (expected one of:")
    assert "drafts" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 2\n", "1:10: version 2 is not supported; this Shunter reads version 1"),
        ("stages:\n  review:\n    enabled: maybe\n", "3:14: stages.review.enabled: Input should"),
        ("llm:\n  base_url: ftp://x\n", "2:13: llm.base_url: must be an http:// or https:// URL"),
        ("llm:\n  base_url: https://u:p@h/\n", "2:13: llm.base_url: must not carry credentials"),
        ("patches:\n  commit_message: 'a {'\n", "2:19: patches.commit_message: not a valid"),
        ("stages: [review]\n", "1:9: stages: Input should be a valid dictionary"),
    ],
)
def test_single_problems(text: str, expected: str) -> None:
    [line] = _rendered(text)
    assert line.startswith(f".github/shunter.yml:{expected}")


def test_yaml_errors_use_the_same_shape() -> None:
    assert _rendered("stages:\n  review:\n\tenabled: true\n", file="x.yml")[0].startswith("x.yml:3:")


def test_layer_data_holds_only_what_the_file_sets_normalised() -> None:
    parsed = parse_config("stages:\n  review:\n    enabled: 'false'\n    fail_on: never\n")
    assert parsed.ok
    assert parsed.data == {"stages": {"review": {"enabled": False, "fail_on": "never"}}}


def test_load_config_raises_config_error_with_all_problems() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(BAD)
    assert len(info.value.problems) == 10
    assert info.value.problems[0] == (3, 3, "unknown key 'reviw' in stages; did you mean 'review'?")
    assert info.value.path == ".github/shunter.yml"
    assert "(and 9 more)" in str(info.value)


def test_fail_on_compares_severities() -> None:
    from bot.models import Severity

    assert FailOn.WARNING.fails(Severity.ERROR)
    assert FailOn.WARNING.fails(Severity.WARNING)
    assert not FailOn.WARNING.fails(Severity.NOTICE)
    assert not FailOn.NEVER.fails(Severity.ERROR)


@pytest.mark.parametrize("name", ["recommended", "strict", "security-only", "advisory", "autofix"])
def test_shipped_presets_are_valid(name: str) -> None:
    assert name in preset_names()
    path = preset_path(name)
    assert path is not None
    parsed = parse_config(path.read_bytes(), file=str(path), source=f"preset:{name}")
    assert parsed.ok, [p.render() for p in parsed.problems]
    ShunterConfig.model_validate(parsed.data)


def test_preset_lookup_refuses_odd_names() -> None:
    assert preset_path("../pyproject") is None
    assert preset_path("no-such-preset") is None
