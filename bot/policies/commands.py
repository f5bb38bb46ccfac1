"""``shunter config``: validate a config file, print the JSON Schema, explain the effective
config (each value with the layer it came from), locally or for a repository on GitHub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from bot.policies.effective import (
    EffectiveConfig,
    build_effective,
    load_effective_config,
    resolver_for,
)
from bot.policies.explain import explain_text
from bot.policies.presets import preset_names, preset_path
from bot.policies.schema import PRESET_NAME
from bot.policies.schema_export import schema_json
from bot.policies.source import LocalConfigSource
from bot.policies.validation import CONFIG_PATH, ConfigProblem, parse_config


@click.group()
def config() -> None:
    """Validate, explain and export repository config (.github/shunter.yml)."""


@config.command()
@click.argument("file", default=CONFIG_PATH, type=click.Path(dir_okay=False, path_type=Path))
def validate(file: Path) -> None:
    """Check FILE (default .github/shunter.yml); print file:line:col: message per problem."""
    if not file.is_file():
        raise click.ClickException(f"{file}: no such file")
    parsed = parse_config(file.read_bytes(), file=str(file))
    problems = list(parsed.problems)
    if parsed.ok:
        for index, ref in enumerate(parsed.extends):
            if PRESET_NAME.match(ref) and preset_path(ref) is None:
                line, column = parsed.extends_at[index]
                problems.append(
                    ConfigProblem(
                        str(file),
                        line,
                        column,
                        f"extends '{ref}': there is no such preset (presets: {', '.join(preset_names())})",
                    )
                )
    if problems:
        for problem in problems:
            click.echo(problem.render())
        raise SystemExit(1)
    click.echo("ok")


@config.command()
def schema() -> None:
    """Print the JSON Schema of .github/shunter.yml (for yaml-language-server and editors)."""
    click.echo(schema_json(), nl=False)


@config.command()
def presets() -> None:
    """List the presets 'extends' can name."""
    for name in preset_names():
        click.echo(name)


@config.command()
@click.option(
    "--file",
    "file_",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A local config file (extends to other repositories cannot be read offline).",
)
@click.option("--repo", help="owner/name: the effective config on the configured GitHub.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def explain(file_: Path | None, repo: str | None, as_json: bool) -> None:
    """Print the effective config, each value with where it came from."""
    if (file_ is None) == (repo is None):
        raise click.UsageError("give exactly one of --file or --repo")
    if file_ is not None:
        parsed = parse_config(file_.read_bytes(), file=str(file_))
        effective = build_effective(parsed, None, resolver_for(LocalConfigSource({})))
    else:
        assert repo is not None
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise click.UsageError("--repo must be owner/name")
        effective = load_effective_config(_github_source(owner, name), owner, name)
    _print(effective, as_json)
    if effective.status != "ok":
        raise SystemExit(1)


def _github_source(owner: str, repo: str) -> Any:
    """A ``GitHubConfigSource`` acting as the App's installation on ``owner/repo``."""
    from bot.github.client import GitHubFactory
    from bot.policies.source import GitHubConfigSource
    from bot.settings import load_settings

    _, client = GitHubFactory(load_settings()).installation_for_repo(owner, repo)
    return GitHubConfigSource(client)


def _print(effective: EffectiveConfig, as_json: bool) -> None:
    rows = effective.explain()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "status": effective.status,
                    "fallback": effective.fallback,
                    "layers": list(effective.layers),
                    "problems": [p.render() for p in effective.problems],
                    "settings": {path: {"value": v, "source": s} for path, v, s in rows},
                },
                indent=2,
            )
        )
        return
    for problem in effective.problems:
        click.echo(f"problem: {problem.render()}", err=True)
    for line in explain_text(effective):
        click.echo(line)
