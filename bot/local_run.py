"""``shunter run``: the same stages as the App, on commits of a local git repository.

No GitHub, no tokens, no queue: the stages run in this process on a ``StageContext`` built
from the repository's object database (nothing is checked out). The policy comes from
``--config`` or from ``.github/shunter.yml`` *as committed on the base*, as on GitHub where
the default branch decides, so a branch cannot loosen the rules that judge it.

Exit status: 0 when no stage fails per its ``fail_on``, 1 when one does, 2 on bad usage
or input (a path, a ref, a config), 3 when Shunter could not finish (a stage that could not
complete, a corrupt repository): a CI step never reads a crash as a pass or as findings.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from bot.errors import ConfigError, ShunterError
from bot.models import Finding, StageName, StageResult
from bot.policies.schema import ShunterConfig, StageConfig
from bot.stages.context import StageContext
from bot.stages.filtering import filter_findings
from bot.stages.registry import failed_result, run_stage, stage_options
from bot.stages.verdict import conclusion as stage_conclusion
from bot.stages.verdict import confidence_floor, confidence_note, explanation
from bot.stages.verdict import title as stage_title
from bot.wording import plural

CONFIG_PATH = ".github/shunter.yml"
FORMATS = ("text", "json", "sarif", "markdown")


def _resolve_preset(ref: str) -> Any:
    """``extends`` references ``shunter run`` can follow offline: shipped presets only (a
    name that is no preset resolves to nothing, as on GitHub)."""
    from bot.policies.presets import preset_path
    from bot.policies.validation import parse_config

    path = preset_path(ref)
    if path is None:
        return None
    return parse_config(path.read_bytes(), file=f"preset:{ref}", source=f"preset:{ref}")


def _offline_resolver(skipped: list[str]) -> Any:
    """Presets as :func:`_resolve_preset`; another repository's config, which only GitHub
    can show, is an empty layer noted in ``skipped``. Such a file is not broken, only out
    of reach here: refusing it would refuse every repository that extends its
    organisation's policy, while a preset name that does not exist fails as on GitHub."""
    from bot.policies.schema import PRESET_NAME
    from bot.policies.validation import parse_config

    def resolve(ref: str) -> Any:
        if PRESET_NAME.match(ref):
            return _resolve_preset(ref)
        skipped.append(ref)
        return parse_config(b"{}", file=ref, source=f"not followed offline:{ref}")

    return resolve


def load_config(content: bytes | None, file: str) -> tuple[ShunterConfig, list[str]]:
    """The effective config for a local run and sentences saying where it came from."""
    if content is None:
        return ShunterConfig(), [f"No {CONFIG_PATH} on the base; using Shunter's defaults."]
    try:
        from bot.policies.effective import build_effective
        from bot.policies.validation import config_error, parse_config
    except ImportError:  # the policy layer is optional for this command
        return ShunterConfig(), [f"Config loading is unavailable; ignored {file}, used defaults."]
    parsed = parse_config(content, file=file)
    if not parsed.ok:
        raise config_error(parsed.problems, file=file)
    skipped: list[str] = []
    effective = build_effective(parsed, None, _offline_resolver(skipped))
    if effective.problems:
        # as the App's shunter/config check fails (and the App acts on the last good config
        # or the defaults, never on this one)
        raise config_error(effective.problems, file=file)
    layers = [layer for layer in effective.layers if not layer.startswith("not followed offline:")]
    notes = [f"Config: {file} (layers: {', '.join(layers)})."]
    notes += [
        f"Not followed offline: extends {ref!r} (only GitHub can show another repository's "
        "config); its settings are not applied here. Pass --config FILE with them copied in."
        for ref in skipped
    ]
    return effective.config, notes


def _read_config(ctx: StageContext, config_file: Path | None) -> tuple[bytes | None, str]:
    if config_file is not None:
        try:
            return config_file.read_bytes(), str(config_file)
        except OSError as exc:
            raise ConfigError(f"cannot read {config_file}: {exc.strerror}", path=str(config_file)) from None
    return ctx.base.read(CONFIG_PATH), f"{CONFIG_PATH} (base {ctx.base_sha[:8]})"


def _scratch_dir() -> Path:
    """A private scratch dir, or one line naming the setting to change."""
    from bot.git.scratch import new_scratch_dir

    try:
        return new_scratch_dir(prefix="shunter-run-")
    except OSError as exc:
        raise ShunterError(
            f"cannot create a scratch directory: {exc.strerror} ({exc.filename})",
            hint="set SHUNTER_SCRATCH_DIR to a writable directory",
        ) from None


def _parse_stages(value: str | None, config: ShunterConfig) -> list[StageName]:
    if value is None:
        return [name for name in StageName if stage_options(config, name).enabled]
    names: list[StageName] = []
    for raw in value.split(","):
        raw = raw.strip().lower()
        if not raw:
            continue
        try:
            name = StageName(raw)
        except ValueError:
            choices = ", ".join(s.value for s in StageName)
            problem = f"unknown stage {raw!r} (choose from {choices})"
            raise click.BadParameter(problem, param_hint="--stages") from None
        if name not in names:
            names.append(name)
    if not names:
        raise click.BadParameter("no stage given", param_hint="--stages")
    return names


def incomplete(result: StageResult) -> bool:
    """The stage could not complete (``run_stage`` turned its failure into this result)."""
    return bool(result.metrics.get("error"))


def exit_status(results: Sequence[StageResult], config: ShunterConfig) -> int:
    """1 when a stage fails per its ``fail_on`` (that is known however the others went),
    else 3 when one could not complete (its silence is no pass), else 0."""
    from bot.cli import EXIT_UNEXPECTED

    if any(fails(r, stage_options(config, r.stage)) for r in results):
        return 1
    return EXIT_UNEXPECTED if any(incomplete(r) for r in results) else 0


def conclusion(result: StageResult, options: StageConfig) -> str:
    """The conclusion the App's check run would show for ``result`` (nothing is dismissed
    locally), so that the exit status and the check cannot disagree on a commit."""
    return stage_conclusion(result, options.fail_on)


def fails(result: StageResult, options: StageConfig) -> bool:
    return conclusion(result, options) == "failure"


def run_stages(
    ctx: StageContext, stages: Sequence[StageName], config: ShunterConfig, scratch: Path
) -> list[StageResult]:
    """Each stage on its own scratch dir and options; findings held to the stage's filter."""
    results: list[StageResult] = []
    for name in stages:
        options = stage_options(config, name)
        stage_dir = scratch / name.value
        stage_dir.mkdir(parents=True, exist_ok=True)
        stage_ctx = dataclasses.replace(ctx, options=options, scratch_dir=stage_dir)
        result = run_stage(name, stage_ctx)
        kept = filter_findings(result.findings, ctx.files, options.filter)
        results.append(result.model_copy(update={"findings": kept}))
    return results


def local_stage_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Job (queue ``stages``): one stage of ``shunter run --queue``, rebuilt from JSON."""
    from bot.git.scratch import new_scratch_dir
    from bot.git.workspace import context_from_local_repo

    scratch = new_scratch_dir(prefix="shunter-run-job-")
    try:
        ctx = context_from_local_repo(
            Path(payload["repo"]),
            payload["base"],
            payload["head"],
            trusted_author=payload["trusted"],
            origin="local_run",
        )
        config = ShunterConfig.model_validate(payload["config"])
        [result] = run_stages(ctx, [StageName(payload["stage"])], config, scratch)
        return result.model_dump(mode="json")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_stages_via_queue(
    repo_path: Path, ctx: StageContext, stages: Sequence[StageName], config: ShunterConfig, trusted: bool
) -> list[StageResult]:
    """The same stages as jobs on Shunter's queue (embedded Valkey unless SHUNTER_REDIS_URL),
    executed by an in-process worker: exactly the path the App's stage jobs take.

    The jobs get the commits ``ctx`` resolved (the merge base stands in for the base: the
    diff is the same), so a branch that moves meanwhile cannot change what they judge; a
    job that fails is a stage that could not complete, and the other stages still count."""
    from redis import Redis

    from bot.queue.connection import check_reachable, open_redis
    from bot.queue.foreground import ForegroundWorker
    from bot.queue.jobs import STAGES, queue
    from bot.settings import load_settings

    started = time.monotonic()
    settings = load_settings()
    handle = open_redis(settings)
    try:
        check_reachable(handle.url)  # one line naming SHUNTER_REDIS_URL, not a traceback
        conn = Redis.from_url(handle.url)
        q = queue(f"{STAGES}-local-{os.getpid()}", conn)
        jobs = [
            q.enqueue(
                "bot.local_run.local_stage_job",
                {
                    "repo": str(repo_path.resolve()),
                    "base": ctx.base_sha,
                    "head": ctx.head_sha,
                    "stage": name.value,
                    "config": config.model_dump(mode="json", by_alias=True),
                    "trusted": trusted,
                },
                job_timeout=1800,
                result_ttl=600,
                failure_ttl=3600,
            )
            for name in stages
        ]
        worker = ForegroundWorker([q], connection=conn, serializer=q.serializer)
        worker.work(burst=True, logging_level="ERROR")  # Ctrl-C: exit 130
        results = []
        for job, name in zip(jobs, stages, strict=True):
            job.refresh()
            value = job.return_value()
            if value is None:
                latest = job.latest_result()
                error = ((latest.exc_string if latest is not None else None) or "").strip().splitlines()
                why = error[-1] if error else str(job.get_status())
                note = f"the {name.value} stage job failed ({why})."
                results.append(failed_result(name, ctx, note, started))
            else:
                results.append(StageResult.model_validate(value))
        return results
    finally:
        handle.close()


def _printable(text: str) -> str:
    """``text`` with control characters (a newline in a file name) and undecodable bytes
    escaped, so that one finding stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _line(f: Finding) -> str:
    where = (
        "(pull request)"
        if f.on_pull_request
        else f"{_printable(f.path)}:{f.start_line}" + (f"-{f.end_line}" if f.end_line != f.start_line else "")
    )
    flag = f" [suppressed: {f.suppressed}]" if f.suppressed else ""
    return f"  {where}: {f.severity.value}: {f.rule_id}: {_printable(f.message)}{flag}"


def _heading(result: StageResult, options: StageConfig) -> str:
    """``shunter/review: failure — 1 error, 2 warnings``: the check run's name, conclusion
    and title, as the App would show them for this result."""
    status = conclusion(result, options) + (", could not complete" if incomplete(result) else "")
    return f"{result.stage.check_name}: {status} — {stage_title(result)}"


def _counted(result: StageResult) -> str:
    """The suppressed findings the title leaves out, since the text lists them too."""
    suppressed = sum(1 for f in result.findings if f.suppressed)
    return f"{suppressed} suppressed in the code; " if suppressed else ""


def render_text(
    ctx: StageContext, results: list[StageResult], config: ShunterConfig, notes: list[str]
) -> str:
    changed = plural(len(ctx.files), "changed file")
    out = [f"shunter run: {ctx.repo} {ctx.base_sha[:10]}..{ctx.head_sha[:10]} ({changed})"]
    out += [f"  note: {_printable(note)}" for note in notes]
    for result in results:
        options = stage_options(config, result.stage)
        out.append("")
        floor = confidence_floor(result)
        at = f" at {floor} confidence" if floor else ""
        out.append(_heading(result, options) + f" ({_counted(result)}fails on {options.fail_on.value}{at})")
        note = confidence_note(result, options.fail_on)
        if note:  # errors on a passing check: say why, as the check run does
            out.append(f"  {note}")
        ordered = sorted(result.findings, key=lambda f: (f.path, f.start_line, f.rule_id))
        out += [_line(f) for f in ordered]
        out += [f"  note: {_printable(note)}" for note in result.notes]
        for patch in result.patches:
            out.append(
                f"  patch: {patch.title} ({plural(len(patch.files), 'file')}; see --format json for the diff)"
            )
    return "\n".join(out)


def render_json(
    ctx: StageContext, results: list[StageResult], config: ShunterConfig, notes: list[str]
) -> str:
    payload = {
        "repo": ctx.repo,
        "base_sha": ctx.base_sha,
        "head_sha": ctx.head_sha,
        "notes": notes,
        "failed": any(fails(r, stage_options(config, r.stage)) for r in results),
        "incomplete": any(incomplete(r) for r in results),
        "results": [
            {
                **r.model_dump(mode="json"),
                "conclusion": conclusion(r, stage_options(config, r.stage)),
                "title": stage_title(r),
            }
            for r in results
        ],
    }
    return json.dumps(payload, indent=2)


def render_sarif(results: list[StageResult]) -> str:
    try:
        from bot.sarif import to_sarif
    except ImportError:
        raise ShunterError("SARIF output is not available in this build", hint="use --format json") from None
    return json.dumps(to_sarif(results), indent=2)


def render_markdown(results: list[StageResult], config: ShunterConfig, notes: list[str]) -> str:
    """Each stage under its check run's name, conclusion and title, then its summary and its
    notes, as the check run shows them; then the run's own notes (the config used,
    uncommitted changes)."""
    from bot.publishing.check_runs import notes_section

    parts: list[str] = []
    for result in results:
        options = stage_options(config, result.stage)
        parts.append("## " + _heading(result, options))
        said = explanation(result, options.fail_on)
        if said:  # what fails the check, as its summary says it (the stages leave it out)
            parts.append("\n\n".join(said))
        if result.summary.strip():
            parts.append(result.summary.strip())
        if result.notes:
            parts.append(notes_section(result.notes))
    if notes:  # under a heading of their own, or they would join the last stage's notes
        parts.append("## shunter run\n\n" + "\n".join(f"- {note}" for note in notes))
    return "\n\n".join(parts) + "\n"


@click.command(name="run")
@click.option(
    "--repo",
    "repo_path",
    type=click.Path(path_type=Path, exists=True),
    default=".",
    show_default=True,
    help="A path inside the git repository.",
)
@click.option("--base", required=True, help="Base ref or SHA (the PR's target).")
@click.option(
    "--head",
    default="HEAD",
    show_default=True,
    help="Head ref or SHA; commits only, uncommitted changes are not seen.",
)
@click.option(
    "--stages",
    default=None,
    help="Comma-separated stages (review,security,tests); default: enabled ones.",
)
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"Config file instead of the base's {CONFIG_PATH}.",
)
@click.option(
    "--trusted",
    is_flag=True,
    default=False,
    help="Treat the head as trusted code, so the tests stage may run it (sandboxed).",
)
@click.option(
    "--queue",
    "via_queue",
    is_flag=True,
    default=False,
    help="Run each stage as a job on Shunter's queue (embedded Valkey unless SHUNTER_REDIS_URL).",
)
@click.pass_context
def run(
    click_ctx: click.Context,
    repo_path: Path,
    base: str,
    head: str,
    stages: str | None,
    output_format: str,
    config_file: Path | None,
    trusted: bool,
    via_queue: bool,
) -> None:
    """Run Shunter's stages on the diff merge-base(BASE, HEAD)..HEAD of a local repository.

    Only commits are read: uncommitted changes are not part of the run (a note says so).

    \b
    Exit status:
      0  no stage fails per its fail_on
      1  a stage fails per its fail_on
      2  bad usage or input (a path, a ref, the config)
      3  Shunter could not finish (a stage could not complete, an unexpected error)
    """
    from bot.git.workspace import context_from_local_repo, local_repo_notes

    scratch: Path | None = None
    try:
        try:
            scratch = _scratch_dir()
            ctx = context_from_local_repo(repo_path, base, head, trusted_author=trusted, origin="local_run")
            content, source = _read_config(ctx, config_file)
            config, notes = load_config(content, source)
            notes += local_repo_notes(repo_path, base, head)
            names = _parse_stages(stages, config)
            if via_queue:
                results = run_stages_via_queue(repo_path, ctx, names, config, trusted)
            else:
                results = run_stages(ctx, names, config, scratch)
            if output_format == "json":
                text = render_json(ctx, results, config, notes)
            elif output_format == "sarif":
                text = render_sarif(results)
            elif output_format == "markdown":
                text = render_markdown(results, config, notes)
            else:
                text = render_text(ctx, results, config, notes)
        except ShunterError as exc:
            click.echo(f"shunter: {exc}", err=True)
            if isinstance(exc, ConfigError):
                for line, column, message in exc.problems[1:]:
                    click.echo(f"  {exc.path}:{line}:{column}: {message}", err=True)
            click_ctx.exit(2)
        click.echo(text)
        click_ctx.exit(exit_status(results, config))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
