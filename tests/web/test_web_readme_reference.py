"""The README's reference tables agree with the code they describe.

Operators and maintainers look options, settings and defaults up in the README; a row that
names an option the command lacks, a setting nobody reads, or a stale default sends them
wrong. (The annotated `.github/shunter.yml` example is checked in tests/policies.)
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import click
import pytest

from bot.cli import COMMANDS, main
from bot.policies.schema import ShunterConfig
from bot.queue.merge import QueueSettings
from bot.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _section(heading: str) -> str:
    return README.split(heading, 1)[1].split("\n## ", 1)[0]


def _rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text`` (escaped pipes kept inside cells)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            rows.append([cell.strip() for cell in cells])
    return rows


def _command(path: list[str]) -> click.Command:
    command: click.Command = main
    ctx = click.Context(main)
    for name in path:
        assert isinstance(command, click.Group), path
        found = command.get_command(ctx, name)
        assert found is not None, f"the README names `shunter {' '.join(path)}`, which does not exist"
        command = found
    return command


def _options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


# -- Command line ---------------------------------------------------------------------------

COMMAND_ROWS = [row[0] for row in _rows(_section("## Command line")) if row[0].startswith("`shunter ")]


def _words(cell: str) -> list[str]:
    """A row's command line as words, `[` `]` and the alternatives' `\\|` taken out."""
    words = re.split(r"\s+|\\\|", cell.replace("`", " "))
    return [w.strip("[]") for w in words if w.strip("[]")]


def test_the_command_table_names_every_command() -> None:
    named = {re.match(r"`shunter (\w+)", cell).group(1) for cell in COMMAND_ROWS}  # type: ignore[union-attr]
    assert sorted(set(COMMANDS) - named) == []


@pytest.mark.parametrize("cell", COMMAND_ROWS)
def test_every_option_in_the_command_table_exists(cell: str) -> None:
    """Each option a row names belongs to its command (for a group such as `shunter queue`,
    to one of the subcommands the row names; each of those must exist)."""
    words = _words(cell)
    assert words[0] == "shunter", cell
    command = _command([words[1]])
    options = set(re.findall(r"--[a-z][a-z-]*", cell))
    if isinstance(command, click.Group):
        subs = [w for w in words[2:] if w in command.commands]
        assert subs, cell
        offered = set().union(*(_options(_command([words[1], sub])) for sub in subs))
    else:
        offered = _options(command)
    assert sorted(options - offered) == [], cell


# Options the command table may leave out, as "shunter <command> --option": why. Empty: every
# option is one an operator may need, so the table names it. An entry here needs a reason a
# reader would accept (an option kept only for tests, say), not "the row is long".
UNLISTED_OPTIONS: dict[str, str] = {}


def _leaf_commands() -> list[list[str]]:
    """Every runnable command as its words after `shunter` (a group's subcommands, not it)."""
    paths: list[list[str]] = []
    pending = [[name] for name in COMMANDS]
    while pending:
        path = pending.pop(0)
        command = _command(path)
        if isinstance(command, click.Group):
            pending += [[*path, sub] for sub in command.list_commands(click.Context(command))]
        else:
            paths.append(path)
    return paths


def _row_for(path: list[str]) -> str:
    """The first cell of the row that names ``shunter <path>`` (a subcommand among its words)."""
    for cell in COMMAND_ROWS:
        words = _words(cell)
        if words[1] == path[0] and all(sub in words[2:] for sub in path[1:]):
            return cell
    raise AssertionError(f"no row of the command table names `shunter {' '.join(path)}`")


@pytest.mark.parametrize("path", _leaf_commands(), ids=" ".join)
def test_the_command_table_names_every_option(path: list[str]) -> None:
    """Every option a command takes is in its row (by its long name), so the table is the
    whole reference, not a sample: `demo --data-dir`, `worker --no-fork` and `--name`,
    `replay --delivery` and `queue ls --landed` were missing."""
    cell = _row_for(path)
    missing = []
    for param in _command(path).params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        names = [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
        key = f"shunter {' '.join(path)} {names[0]}"
        if key not in UNLISTED_OPTIONS and not any(re.search(rf"{n}(?![\w-])", cell) for n in names):
            missing.append(names[0])
    assert missing == [], cell


# -- Settings (the installation) ------------------------------------------------------------

SETTING_ROWS = {
    name: row[1]
    for row in _rows(_section("## Settings (the installation)"))
    for name in re.findall(r"`(SHUNTER_[A-Z_]+)`", row[0])
}


def test_every_setting_in_the_table_is_one_shunter_reads() -> None:
    fields = {f"SHUNTER_{name.upper()}" for name in Settings.model_fields}
    assert sorted(set(SETTING_ROWS) - fields) == []


def _scalar(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


@pytest.mark.parametrize(
    "name", [n for n, f in Settings.model_fields.items() if isinstance(f.default, int | float | str)]
)
def test_the_settings_table_states_each_default(name: str) -> None:
    env = f"SHUNTER_{name.upper()}"
    cell = SETTING_ROWS[env]
    default = Settings.model_fields[name].default
    if env in {"SHUNTER_HOST", "SHUNTER_PORT"}:  # one row: `127.0.0.1` / `8080`
        cell = cell.split(" / ")[0 if env == "SHUNTER_HOST" else 1]
    if default == "":
        assert cell == "(empty)", (env, cell)
        return
    stated = re.match(r"`([^`]*)`", cell)
    assert stated is not None, (env, cell)
    assert _scalar(stated.group(1)) == _scalar(str(default)), (env, cell, default)



def _environment_reads(root: Path) -> set[str]:
    """The ``SHUNTER_*`` names code under ``root`` reads from the environment directly
    (``os.environ.get(NAME)``, ``environ[NAME]``, ``os.getenv(NAME)``), a module constant's
    value included, whatever module defines it."""
    import ast

    trees = [ast.parse(path.read_text(), str(path)) for path in sorted(root.rglob("*.py"))]
    constants = {
        target.id: node.value.value
        for tree in trees
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }

    def named(node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        key = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        return constants.get(key)

    def environ(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id == "environ"
        )

    reads = set()
    for tree in trees:
        for node in ast.walk(tree):
            arg: ast.AST | None = None
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                if (isinstance(func, ast.Name) and func.id == "getenv") or (
                    isinstance(func, ast.Attribute)
                    and (func.attr == "getenv" or (func.attr == "get" and environ(func.value)))
                ):
                    arg = node.args[0]
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and environ(node.value):
                arg = node.slice
            name = named(arg)
            if name and name.startswith("SHUNTER_"):
                reads.add(name)
    return reads


def test_every_variable_the_code_reads_is_in_the_settings_table() -> None:
    """Code that reads a ``SHUNTER_*`` variable straight from the environment (a stage, the
    sandbox, the demo) bypasses ``Settings``: its variable must still be a row of the table."""
    reads = _environment_reads(Path(__file__).resolve().parents[2] / "bot")
    assert {"SHUNTER_SCRATCH_DIR", "SHUNTER_SANDBOX_UID", "SHUNTER_LLM_KEYS"} <= reads  # found at all
    assert sorted(reads - set(SETTING_ROWS)) == []


def test_environment_reads_are_found_however_written(tmp_path: Path) -> None:
    (tmp_path / "names.py").write_text('NEW_ENV = "SHUNTER_NEW_KNOB"\n')
    (tmp_path / "use.py").write_text(
        "import os\nfrom os import environ, getenv\nfrom names import NEW_ENV\n"
        'a = os.environ.get(NEW_ENV)\nb = environ["SHUNTER_OTHER"]\nc = getenv("SHUNTER_THIRD", "x")\n'
        'os.environ["SHUNTER_WRITTEN"] = "1"\n'
    )
    assert _environment_reads(tmp_path) == {"SHUNTER_NEW_KNOB", "SHUNTER_OTHER", "SHUNTER_THIRD"}


# -- .github/shunter.yml: the patches table -------------------------------------------------


def _dotted(data: Any, path: str) -> Any:
    for key in path.split("."):
        data = data[key]
    return data


def _yaml_scalar(text: str) -> Any:
    text = text.strip().strip("`")
    if text.startswith("["):
        return [item.strip().strip('"') for item in text.strip("[]").split(",") if item.strip()]
    return int(text) if text.isdigit() else text


def test_the_patches_table_states_each_default() -> None:
    patches = ShunterConfig().model_dump(mode="json")["patches"]
    section = README.split("### Policy knobs (`.github/shunter.yml`, section `patches`)", 1)[1]
    rows = [row for row in _rows(section.split("\n### ", 1)[0]) if row[0] != "key"]
    seen = set()
    for keys_cell, default_cell, _meaning in rows:
        keys = [k.strip().strip("`") for k in keys_cell.split(" / ")]
        parent = keys[0].rsplit(".", 1)[0] if "." in keys[0] else ""
        keys = [f"{parent}{k}" if k.startswith(".") else k for k in keys]
        defaults = default_cell.split(" / ")
        if len(defaults) == 1:
            defaults *= len(keys)
        for key, default in zip(keys, defaults, strict=True):
            assert _yaml_scalar(default) == _dotted(patches, key), (key, default)
            seen.add(key.split(".")[0])
    assert seen == set(patches)


def test_the_operator_knobs_state_each_default() -> None:
    text = " ".join(README.split("### Operator knobs", 1)[1].split("\n### ", 1)[0].split())
    for field in dataclasses.fields(QueueSettings):
        assert f"`{field.name}`" in text, field.name
    defaults = QueueSettings()
    for name in ("lease_seconds", "max_attempts", "max_batch", "max_batch_paths"):
        assert f"`{name}` ({getattr(defaults, name):g})" in text, name
    assert f"({defaults.backoff_base:g} s / {defaults.backoff_max:g} s)" in text
    assert f"({defaults.landed_ttl_seconds // 86400} days" in text
    assert "`branch_lock` (on)" in text and defaults.branch_lock


# -- Endpoints: /metrics --------------------------------------------------------------------

# Names the Endpoints paragraph mentions that /metrics no longer exports, with why.
FORMER_METRICS = {"shunter_redeliveries": "named as the gauge the two sweep counters replaced"}


def _exported_metrics() -> set[str]:
    """Every family `/metrics` exposes, by the name a scrape shows (counters with `_total`;
    the `_created` series prometheus_client adds beside counters and histograms left out)."""
    from prometheus_client import generate_latest

    from bot.web.metrics import WebMetrics

    text = generate_latest(WebMetrics().registry).decode()
    names = set(re.findall(r"^# TYPE (\w+) ", text, re.M))
    return {name for name in names if not name.endswith("_created")}


def test_the_readme_names_every_exported_metric() -> None:
    """A dashboard is built from the names the README gives: the deliveries counter, the
    enqueue latency histogram and the queue depth gauge were described but never named."""
    endpoints = README.split("**Endpoints.**", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`(shunter_\w+)", endpoints))
    exported = _exported_metrics()
    assert sorted(exported - named) == []
    assert sorted(named - exported - set(FORMER_METRICS)) == []


# -- Agent patches: the refusal reasons -----------------------------------------------------


def _refusal_codes(root: Path) -> set[str]:
    """The reason codes code under ``root`` refuses a change request with."""
    import ast

    codes: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"ChangeRejected", "_rejected"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                codes.add(node.args[0].value)
    return codes


def test_the_refusal_table_names_every_reason() -> None:
    """"Every refusal has a reason code, shown in the PR reply and in `shunter queue show`":
    an operator looks the code up in this table (path_too_long, not_a_file, duplicate_path,
    rename_target_exists, empty_change, bad_repo, bad_branch and bad_sha were missing)."""
    section = README.split("### What is checked before anything is queued", 1)[1].split("\n### ", 1)[0]
    listed = {code for row in _rows(section) for code in re.findall(r"`([a-z_]+)`", row[0])}
    raised = _refusal_codes(Path(__file__).resolve().parents[2] / "bot")
    assert {"path_traversal", "approval_required"} <= raised  # found at all
    assert sorted(raised - listed) == []
    assert sorted(listed - raised) == []


# -- Architecture: the package table --------------------------------------------------------


def test_the_package_table_names_every_package_and_module() -> None:
    """A maintainer finds code through the Architecture table: every package and top-level
    module under bot/ has a row (cli, demo, doctor, local_run, settings, runtime and the
    other modules beside the packages had none), and every path a row names exists."""
    root = Path(__file__).resolve().parents[2]
    section = _section("## Architecture")
    named = {path for row in _rows(section) for path in re.findall(r"`([\w./-]+/?)`", row[0])}
    present = {f"bot/{p.name}/" for p in (root / "bot").iterdir() if (p / "__init__.py").is_file()}
    present |= {f"bot/{p.name}" for p in (root / "bot").glob("*.py") if p.name != "__init__.py"}
    assert len(present) > 20  # found at all
    assert sorted(present - named) == []
    assert sorted(path for path in named if not (root / path).exists()) == []


# -- Every `shunter ...` the README shows ---------------------------------------------------


def _shown_command_lines() -> set[str]:
    """Each `shunter ...` command line the README shows: in inline code, and as the lines of
    its shell and plain code blocks that start with one (a trailing comment cut off)."""
    shown = set(re.findall(r"`(shunter [a-z][^`\n]*)`", README))
    fence: str | None = None
    for line in README.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip() or "text"
        elif fence in {"bash", "text"} and re.match(r"shunter [a-z]", line):
            shown.add(line.split("#", 1)[0].strip())
    return shown


def test_every_command_line_shown_exists() -> None:
    """Beyond the command table: every command and option the README shows anywhere (the
    config CLI block, the merge queue's, Quick start) is one `shunter` has, so an operator
    who types what the README says gets that command, not a usage error."""
    shown = _shown_command_lines()
    assert {"shunter config explain --file FILE", "shunter serve --with-worker"} <= shown
    wrong = []
    for line in sorted(shown):
        words = _words(line)[1:]
        path = [words.pop(0)]
        while isinstance(group := _command(path), click.Group) and words and words[0] in group.commands:
            path.append(words.pop(0))
        if isinstance(_command(path), click.Group):
            wrong.append(f"{line}: `shunter {' '.join(path)}` has no subcommand {words[:1]}")
            continue
        missing = sorted(set(re.findall(r"--[a-z][a-z-]*", line)) - _options(_command(path)))
        if missing:
            wrong.append(f"{line}: {missing}")
    assert wrong == []


# -- Deployment: the App's permissions ------------------------------------------------------


def test_the_permissions_paragraph_matches_the_manifest() -> None:
    """**Permissions.** names each permission app.yml asks for, with its level, and says
    `workflows` is not asked for: an operator grants what the README lists."""
    import yaml

    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "app.yml").read_text())
    asked: dict[str, str] = manifest["default_permissions"]
    paragraph = " ".join(README.split("**Permissions.**", 1)[1].split("\n\n", 1)[0].split())
    sentence = paragraph.split("It asks for", 1)[1].split(". It does", 1)[0]
    groups = re.findall(r"([^()]+?) \((write|read)[^)]*\)", sentence)
    said = {
        name.strip().replace(" ", "_"): level
        for names, level in groups
        for name in re.split(r",\s*|\s+and\s+", names)
        if name.strip()
    }
    assert said == asked
    assert "workflows" not in asked and "does **not** ask for `workflows`" in paragraph


def test_the_endpoints_paragraph_names_every_route() -> None:
    """Each route the web app serves is in **Endpoints.**, with its method (the SARIF of a
    security run, `/runs/{id}/sarif`, was served but never named)."""
    from bot.web.app import create_app

    app = create_app("secret", "redis://127.0.0.1:1")
    placeholder = re.compile(r"\{\w+\}")
    routes = {
        route.method + " " + placeholder.sub("{id}", route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    endpoints = README.split("**Endpoints.**", 1)[1].split("\n\n", 1)[0]
    named = {re.sub(r"\?.*", "", m) for m in re.findall(r"`((?:GET|POST) /[^`]*)`", endpoints)}
    assert "GET /runs/{id}" in routes  # found at all
    assert sorted(routes - named) == []
    assert sorted(named - routes) == []


def test_every_variable_the_readme_names_exists() -> None:
    """A `SHUNTER_*` name anywhere in the README (prose, examples) is a setting, the key
    variable `SHUNTER_LLM_KEYS` offers by default, or one the test suite reads: a misspelt
    or retired name sends an operator to set something nothing reads."""
    conftest = (Path(__file__).resolve().parents[1] / "conftest.py").read_text()
    known = {f"SHUNTER_{name.upper()}" for name in Settings.model_fields}
    known |= {Settings.model_fields["llm_keys"].default}
    known |= set(re.findall(r"SHUNTER_TEST_[A-Z_]+", conftest))
    named = set(re.findall(r"\bSHUNTER_[A-Z][A-Z0-9_]*[A-Z0-9]\b", README))
    assert "SHUNTER_TEST_REDIS_URL" in known  # found at all
    assert sorted(named - known) == []
