"""Which stages run for a target, each with a reason (pure: config + target in, verdicts out)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import StageName
from bot.pipeline.facts import Target
from bot.policies.decisions import PullRequestFacts, should_run_stage
from bot.policies.schema import ShunterConfig

# Triggers a person asked for explicitly: they run even on a paused PR.
EXPLICIT = {"command", "check_run", "check_suite"}
# Decisions that should still show a skipped check run: a required check may wait on it.
REPORTED_SKIPS = {
    "skip_label",
    "missing_enable_label",
    "draft",
    "ignored_author",
    "ignored_title",
    "ignored_label",
    "ignored_branch",
    "ignored_bot",
    "paused",
}


@dataclass(frozen=True)
class StageVerdict:
    stage: StageName
    run: bool
    code: str
    message: str

    @property
    def report_skip(self) -> bool:
        return not self.run and (self.code in REPORTED_SKIPS or self.code.startswith("ignored"))


def pull_facts(target: Target) -> PullRequestFacts | None:
    if target.number is None:
        return None
    return PullRequestFacts(
        author=target.author,
        author_is_bot=target.author.endswith("[bot]"),
        labels=tuple(target.labels),
        draft=target.draft,
        title=target.title,
        base_branch=target.base_ref,
    )


def plan_stages(
    config: ShunterConfig,
    target: Target,
    *,
    paused: bool = False,
    only: list[StageName] | None = None,
    explicit: bool | None = None,
) -> list[StageVerdict]:
    """``explicit``: a person asked for this run, so it goes ahead on a paused PR (default:
    whether the trigger is one of ``EXPLICIT``)."""
    facts = pull_facts(target)
    asked = target.trigger in EXPLICIT if explicit is None else explicit
    verdicts = []
    for stage in only or list(StageName):
        decision = should_run_stage(config, stage.value, target.trigger, facts)
        if decision.allowed and paused and not asked:
            verdicts.append(
                StageVerdict(stage, False, "paused",
                             "Automatic runs are paused on this PR (`/shunter resume` restarts them).")
            )
            continue
        verdicts.append(StageVerdict(stage, decision.allowed, decision.code, decision.message))
    return verdicts
