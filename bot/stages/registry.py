"""Which function runs each stage, and the one place a stage failure is turned into data.

Stage modules are imported on first use, so a worker that only runs the review stage never
imports the security scanners, and a stage whose module is missing or broken yields a
neutral ``StageResult`` saying so instead of crashing the worker.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable

from bot.errors import ShunterError
from bot.models import StageName, StageResult
from bot.policies.schema import ShunterConfig, StageConfig
from bot.stages.context import StageContext

log = logging.getLogger(__name__)

STAGES: dict[StageName, str] = {
    StageName.REVIEW: "bot.stages.review:run",
    StageName.SECURITY: "bot.stages.security:run",
    StageName.TESTS: "bot.stages.tests:run",
}

StageFunction = Callable[[StageContext], StageResult]


def stage_function(name: StageName | str) -> StageFunction:
    """The ``run`` function of a stage; ``ImportError``/``AttributeError`` when unavailable."""
    module_name, _, attr = STAGES[StageName(name)].partition(":")
    function = getattr(importlib.import_module(module_name), attr)
    if not callable(function):
        raise AttributeError(f"{module_name}:{attr} is not callable")
    return function  # type: ignore[no-any-return]


def stage_options(config: ShunterConfig, name: StageName | str) -> StageConfig:
    """The config section a stage reads as ``ctx.options``."""
    return getattr(config.stages, StageName(name).value)  # type: ignore[no-any-return]


def failed_result(name: StageName, ctx: StageContext, note: str, started: float) -> StageResult:
    """The neutral result of a stage that could not complete; ``metrics["error"]`` marks it,
    so ``shunter run`` can tell it from a pass."""
    return StageResult(
        stage=name,
        head_sha=ctx.head_sha,
        summary=f"### {name.check_name}\n\nThe stage could not complete; the notes below say why.\n",
        notes=[note],
        metrics={"error": True, "duration_seconds": round(time.monotonic() - started, 4)},
        neutral=True,
    )


def run_stage(name: StageName | str, ctx: StageContext) -> StageResult:
    """Run one stage; any failure becomes a neutral result with a note, never an exception."""
    started = time.monotonic()
    try:
        stage = StageName(name)
    except ValueError:
        raise ShunterError(
            f"unknown stage {name!r}", hint=f"choose from {', '.join(s.value for s in StageName)}"
        ) from None
    try:
        function = stage_function(stage)
    except (ImportError, AttributeError) as exc:
        log.warning("stage %s unavailable: %s", stage.value, exc)
        return failed_result(stage, ctx, f"the {stage.value} stage is not available ({exc}).", started)
    try:
        result = function(ctx)
    except ShunterError as exc:
        log.warning("stage %s failed: %s", stage.value, exc)
        return failed_result(stage, ctx, f"{type(exc).__name__}: {exc}", started)
    except Exception as exc:  # a stage bug must not take the worker down
        log.exception("stage %s crashed", stage.value)
        return failed_result(stage, ctx, f"internal error ({type(exc).__name__}); see the logs.", started)
    if not isinstance(result, StageResult):
        return failed_result(stage, ctx, f"returned {type(result).__name__}, not a StageResult.", started)
    return result
