"""The configuration reference's annotated example is valid and mentions every setting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.policies.merge import leaves
from bot.policies.schema import LLMConfig, ShunterConfig
from bot.policies.validation import parse_config

ROOT = Path(__file__).resolve().parents[2]
MARKER = "### A complete, annotated example"


def _example() -> str:
    for doc in (ROOT / "README.md",):
        if doc.is_file() and MARKER in (text := doc.read_text()):
            section = text[text.index(MARKER) :]
            match = re.search(r"```yaml\n(.*?)```", section, re.S)
            assert match is not None
            return match.group(1)
    pytest.skip("no configuration reference found")


def test_example_is_valid() -> None:
    parsed = parse_config(_example(), file="README example")
    assert parsed.ok, [p.render() for p in parsed.problems]


def test_example_mentions_every_setting() -> None:
    parsed = parse_config(_example())
    assert parsed.data is not None
    written = set(leaves(parsed.data))
    everything = set(leaves(ShunterConfig().model_dump(mode="json")))
    everything |= {("llm", name) for name in LLMConfig.model_fields}
    everything.discard(("llm",))
    missing = sorted(".".join(p) for p in everything - written)
    assert not missing, f"the README example lacks: {missing}"


def _schema_nodes() -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every property of the JSON Schema with its path (``*`` for a mapping's values), refs
    resolved; alternatives (``anyOf``) and list items folded into their property's path."""
    schema = ShunterConfig.model_json_schema()
    defs = schema.get("$defs", {})

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        yield path, node
        for alternative in node.get("anyOf", []):
            yield from walk(alternative, path)
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], path)
        for key, sub in node.get("properties", {}).items():
            yield from walk(sub, (*path, key))
        if isinstance(node.get("additionalProperties"), dict):
            yield from walk(node["additionalProperties"], (*path, "*"))

    return list(walk(schema, ()))


def _example_comments() -> dict[str, str]:
    """The comments of the annotated example, joined per top-level section."""
    comments: dict[str, list[str]] = {}
    section = ""
    for line in _example().splitlines():
        if match := re.match(r"([a-z_]+):", line):
            section = match.group(1)
        if "#" in line:
            comments.setdefault(section, []).append(line.split("#", 1)[1])
    return {name: " ".join(lines) for name, lines in comments.items()}


def test_example_names_every_allowed_value() -> None:
    """Each value a key accepts from a fixed set (a trigger, a filter mode, a scanner, a
    permission, an auto_apply mode...) is named in the comments of the example's section,
    so a value added to the schema cannot go undocumented."""
    comments = _example_comments()
    missing = []
    for path, node in _schema_nodes():
        allowed = node.get("enum", []) + ([node["const"]] if "const" in node else [])
        for value in allowed:
            if not re.search(rf"(?<![\w-]){re.escape(str(value))}(?![\w-])", comments.get(path[0], "")):
                missing.append(f"{'.'.join(path)}: {value}")
    assert missing == []


def _example_paths() -> Iterator[tuple[tuple[str, ...], str]]:
    """Each key line of the example as its dotted path (list entries aside) and its comment."""
    stack: list[tuple[int, str]] = []
    for line in _example().splitlines():
        match = re.match(r"( *)([a-z_]+):(.*)", line)
        if match is None:
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group(2)))
        yield tuple(key for _, key in stack), match.group(3).partition("#")[2]


def test_example_states_each_range() -> None:
    """A range in a comment (``# 0..50``, ``# up to 600``) is the schema's bound for that key."""
    bounds: dict[tuple[str, ...], dict[str, Any]] = {}
    for path, node in _schema_nodes():
        bounds.setdefault(path, {}).update({k: node[k] for k in ("minimum", "maximum") if k in node})
    checked = 0
    for path, comment in _example_paths():
        node = bounds.get(path, {})
        if match := re.search(r"\b(\d+)\.\.(\d+)\b", comment):
            assert (node.get("minimum"), node.get("maximum")) == tuple(map(int, match.groups())), path
            checked += 1
        elif match := re.search(r"\bup to (\d+)\b", comment):
            assert node.get("maximum") == int(match.group(1)), path
            checked += 1
    assert checked >= 8  # the ranges the example states (0..50 inline comments, 1..20 attempts, ...)


# Decision codes the README's "Policy decisions" section need not name, with why.
UNNAMED_DECISIONS = {"unknown_stage": "asked for a stage that does not exist: a caller's bug, never a user's"}


def test_policy_decisions_name_every_code() -> None:
    """Each reason a policy decision (or the planner's pause) refuses with is named where the
    README explains the decisions (`paused` and `unknown_command` were not). Codes of allowed
    decisions are left to the prose: some only feed another's message."""
    import ast

    codes = set()
    for module in ("bot/policies/decisions.py", "bot/pipeline/decide.py"):
        for node in ast.walk(ast.parse((ROOT / module).read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            position = {"Decision": 1, "StageVerdict": 2}.get(node.func.id)  # the code's argument
            if position is None or len(node.args) <= position:
                continue
            allowed, code = node.args[position - 1], node.args[position]
            refused = isinstance(allowed, ast.Constant) and allowed.value is False
            if refused and isinstance(code, ast.Constant) and isinstance(code.value, str):
                codes.add(code.value)
    text = (ROOT / "README.md").read_text()
    section = text.split("### Policy decisions, with reasons", 1)[1].split("\n### ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", section))
    assert {"stage_disabled", "paused", "insufficient_permission"} <= codes  # found at all
    assert sorted(codes - named - set(UNNAMED_DECISIONS)) == []


def test_every_config_snippet_is_valid() -> None:
    """Each ```yaml block of the README is a config Shunter accepts, not only the annotated
    example: readers paste the security stage's block as it stands."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 3
    problems = [p.render() for block in blocks for p in parse_config(block, file="README").problems]
    assert problems == []


def test_the_rules_table_matches_the_rule_files() -> None:
    """The security stage's table of Shunter's rules: one row per file in policies/rules,
    with its CWE, and a fix patch named exactly for the rules that carry an autofix."""
    import yaml

    text = (ROOT / "README.md").read_text()
    rows = {
        cells[0].strip("`"): cells
        for line in text.splitlines()
        if line.startswith("| `shunter.")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    rules = [yaml.safe_load(path.read_text()) for path in sorted((ROOT / "policies" / "rules").glob("*.yml"))]
    assert sorted(rows) == sorted(rule["id"] for rule in rules)
    for rule in rules:
        _id, cwe, _finds, fix = rows[rule["id"]]
        assert int(cwe) == rule["cwe"], rule["id"]
        assert (fix != "—") == bool(rule.get("autofix")), rule["id"]


def test_the_presets_named_are_the_presets_shipped() -> None:
    """The Presets table and the example's `extends` comment list exactly the shipped presets."""
    from bot.policies.presets import preset_names

    text = (ROOT / "README.md").read_text()
    table = text.split("### Presets", 1)[1].split("\n### ", 1)[0]
    assert sorted(re.findall(r"^\| `([a-z-]+)` \|", table, re.M)) == sorted(preset_names())
    comment = re.search(r"preset shipped\n# with Shunter \(([^)]*)\)", _example())
    assert comment is not None
    assert sorted(comment.group(1).split(", ")) == sorted(preset_names())


def test_paths_choose_files_but_never_skip_a_stage() -> None:
    """The planner knows no changed files (it does not fetch them), so it plans a stage
    whatever its `paths` say; only the stage job, once it has the diff, can tell that none of
    the changed files is within them (the README's policy decisions say what it does)."""
    from bot.pipeline.decide import plan_stages
    from bot.pipeline.facts import Target

    config = ShunterConfig.model_validate({"stages": {"review": {"paths": {"include": ["docs/**"]}}}})
    target = Target(
        repo="o/r", installation_id=1, head_sha="a" * 40, base_ref="main", clone_url="", trigger="opened", number=1
    )
    verdicts = {v.stage.value: (v.run, v.code) for v in plan_stages(config, target)}
    assert verdicts["review"] == (True, "will_run")


def test_a_trigger_nothing_sends_is_called_so() -> None:
    """`on:` accepts `schedule`, but no event or job plans stages with it: the README listed it
    among what starts a stage. Every trigger the schema accepts is one the pull-request events
    plan with or a name the pipeline uses, or the example says nothing sends it."""
    import ast
    from typing import get_args

    from bot.events.pulls import PLANNING_ACTIONS
    from bot.policies.schema import Trigger

    used = set(PLANNING_ACTIONS)
    for folder in ("bot/pipeline", "bot/events"):
        for path in (ROOT / folder).glob("*.py"):
            used |= {
                node.value
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            }
    unsent = sorted(set(get_args(Trigger)) - used)
    assert "opened" in used and "check_run" in used  # found at all
    example = " ".join(line.strip(" #") for line in _example().splitlines())
    assert [t for t in unsent if f"{t} is accepted, but nothing runs stages" not in example] == []


def test_adding_the_enable_label_runs_a_stage_only_with_labeled_in_on() -> None:
    """The README said a stage skipped for a missing `labels.enable` label runs once the label
    is added; the `labeled` event starts it only when `labeled` is in its `on`, which the
    defaults leave out. It now says so."""
    from bot.policies.decisions import PullRequestFacts, should_run_stage

    labelled = PullRequestFacts(labels=["needs-tests"])
    tests = {"labels": {"enable": ["needs-tests"]}}
    default_on = ShunterConfig.model_validate({"stages": {"tests": tests}})
    with_labeled = ShunterConfig.model_validate({"stages": {"tests": {**tests, "on": ["opened", "labeled"]}}})
    assert should_run_stage(default_on, "tests", "labeled", labelled).code == "trigger_not_configured"
    assert should_run_stage(with_labeled, "tests", "labeled", labelled).allowed
    text = (ROOT / "README.md").read_text()
    assert "the label added when `labeled` is among the stage's triggers" in text


def test_the_commit_message_placeholders_are_the_ones_filled() -> None:
    """The example's comment and the patches table name exactly the placeholders the merge
    queue fills (any other is refused by the schema)."""
    from bot.policies.schema import COMMIT_MESSAGE_FIELDS

    text = (ROOT / "README.md").read_text()
    expected = " ".join("{" + name + "}" for name in COMMIT_MESSAGE_FIELDS)
    comment = re.search(r"commit_message: .*# placeholders: (.*)", _example())
    row = re.search(r"^\| `commit_message` \|.*fields `([^`]*)`", text, re.M)
    assert comment is not None and row is not None
    assert comment.group(1).strip() == expected == row.group(1)
