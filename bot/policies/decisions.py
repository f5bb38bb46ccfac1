"""Policy decisions with reasons: pure functions from (config, facts) to a ``Decision``.

Every answer carries a machine-readable ``code`` (for the audit log, metrics and tests) and
a ``message`` a person can read in a check summary or a command reply — "the security stage
did not run because the PR has the label ``shunter:skip``", not just "skipped". Nothing here
does I/O, so the same decision is reproducible from the audit log's facts.

Order of precedence in :func:`should_run_stage`: a stage that is turned off never runs; a
trigger the stage is not configured for never runs it; an explicit ``/shunter <stage>``
command then runs it whatever ``ignore`` and labels say (a person asked for it), but not
when none of the changed files is within the stage's ``paths`` (:func:`paths_decision`);
otherwise ``ignore`` rules, then the stage's labels, then its paths decide.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from bot.policies.globs import first_match, name_matches, path_matches, path_selected
from bot.policies.schema import (
    KNOWN_COMMANDS,
    PERMISSION_RANK,
    PathFilter,
    ShunterConfig,
    StageConfig,
    suggest,
)
from bot.wording import path_code, typed_code

WORKFLOWS_GLOB = ".github/workflows/**"
"""Always protected: pushing there needs the ``workflows`` permission and changes CI."""
STAGES = ("review", "security", "tests")
MAX_TITLE = 1024
ApplyTrigger = Literal["command", "button", "auto"]


@dataclass(frozen=True)
class Decision:
    """A yes/no with its reason. ``needs_approval``: no for now, yes after
    ``/shunter approve`` by a maintainer."""

    allowed: bool
    code: str
    message: str
    needs_approval: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PullRequestFacts:
    """What the decisions need to know about a pull request (from the webhook payload)."""

    author: str = ""
    author_is_bot: bool = False
    labels: Sequence[str] = ()
    draft: bool = False
    title: str = ""
    base_branch: str = ""
    changed_paths: Sequence[str] | None = None
    """None when not known yet (the filter is then not applied)."""

    @classmethod
    def from_pull_request(
        cls, pull: Mapping[str, Any], changed_paths: Sequence[str] | None = None
    ) -> PullRequestFacts:
        """Facts from a webhook's (or the REST API's) ``pull_request`` object."""
        user = pull.get("user") or {}
        return cls(
            author=str(user.get("login") or ""),
            author_is_bot=user.get("type") == "Bot",
            labels=tuple(str(label.get("name", "")) for label in pull.get("labels") or ()),
            draft=bool(pull.get("draft")),
            title=str(pull.get("title") or ""),
            base_branch=str((pull.get("base") or {}).get("ref") or ""),
            changed_paths=changed_paths,
        )


def _stage_config(config: ShunterConfig, stage: str) -> StageConfig | None:
    return getattr(config.stages, stage, None) if stage in STAGES else None


def _labels(labels: Sequence[str]) -> dict[str, str]:
    return {label.casefold(): label for label in labels}


def _is_bot(login: str, flagged: bool) -> bool:
    return flagged or login.endswith("[bot]")


def should_run_stage(
    config: ShunterConfig,
    stage: str,
    trigger: str,
    pr: PullRequestFacts | None = None,
) -> Decision:
    """Should ``stage`` run for this ``trigger`` (a PR action like ``opened``, or
    ``merge_group``, ``schedule``, ``command``) on this pull request?"""
    stage = str(stage)
    cfg = _stage_config(config, stage)
    if cfg is None:
        return Decision(False, "unknown_stage", f"There is no stage named '{stage}'.")
    if not cfg.enabled:
        return Decision(
            False,
            "stage_disabled",
            f"The {stage} stage is turned off (stages.{stage}.enabled is false).",
        )
    if trigger not in cfg.on:
        return Decision(
            False,
            "trigger_not_configured",
            f"The {stage} stage does not run on '{trigger}' (stages.{stage}.on is"
            f" {', '.join(cfg.on) or 'empty'}).",
        )
    if trigger == "command":
        # a command does not override paths: they choose what the stage looks at, and
        # with none of the changed files chosen it would look at nothing
        if pr is not None and pr.changed_paths is not None:
            chosen = paths_decision(stage, cfg.paths, pr.changed_paths)
            if not chosen.allowed:
                return chosen
        return Decision(True, "requested_by_command", f"Someone asked for the {stage} stage with a command.")
    if pr is None:
        return Decision(True, "triggered", f"The {stage} stage runs on '{trigger}'.")
    skipped = _ignored(config, pr)
    if skipped is not None:
        return skipped
    present = _labels(pr.labels)
    for label in cfg.labels.skip:
        if label.casefold() in present:
            return Decision(
                False,
                "skip_label",
                f"The {stage} stage is skipped: the PR has the label '{present[label.casefold()]}'"
                f" (stages.{stage}.labels.skip).",
            )
    if cfg.labels.enable and not any(lb.casefold() in present for lb in cfg.labels.enable):
        return Decision(
            False,
            "missing_enable_label",
            f"The {stage} stage runs only on PRs labelled"
            f" {', '.join(repr(lb) for lb in cfg.labels.enable)} (stages.{stage}.labels.enable).",
        )
    if pr.changed_paths is not None:
        chosen = paths_decision(stage, cfg.paths, pr.changed_paths)
        if not chosen.allowed:
            return chosen
        return Decision(True, "will_run", f"The {stage} stage runs on '{trigger}': {chosen.message}")
    return Decision(True, "will_run", f"The {stage} stage runs on '{trigger}'.")


def paths_decision(stage: str, paths: PathFilter, changed_paths: Sequence[str]) -> Decision:
    """Does any changed file fall within the stage's ``paths``? Like GitHub Actions' ``paths``
    filter: with none, the stage is skipped (``no_matching_paths``), whoever asked for it.
    With no changed file at all it runs, or its earlier findings would never be resolved.

    The planner never knows the changed files (it does not fetch them); the stage job
    asks this once it has the diff, before the stage's engines run."""
    if not changed_paths:
        # a push that takes the pull request back to its base (a revert, a fix undone):
        # the stage runs on nothing, which marks what it reported on earlier commits fixed
        return Decision(
            True, "matching_paths", "Nothing is changed; it runs to take back what it reported before."
        )
    matching = [p for p in changed_paths if path_selected(p, paths.include, paths.exclude)]
    if not matching:
        return Decision(
            False,
            "no_matching_paths",
            f"No changed file matches stages.{stage}.paths (include: {json.dumps(paths.include)},"
            f" exclude: {json.dumps(paths.exclude)}), so there is nothing for it to look at"
            f" ({_files(len(changed_paths))} changed).",
        )
    return Decision(
        True,
        "matching_paths",
        f"{len(matching)} of {len(changed_paths)} changed files match its paths.",
    )


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def _ignored(config: ShunterConfig, pr: PullRequestFacts) -> Decision | None:
    """The ``ignore`` section's verdict on a PR, or None when it is not ignored."""
    ignore = config.ignore
    if ignore.drafts and pr.draft:
        return Decision(
            False,
            "draft",
            "The PR is a draft; Shunter starts when it is marked ready for review"
            " (ignore.drafts). Comment `/shunter review` to run it now.",
        )
    author = pr.author.casefold()
    if author and author in {a.casefold() for a in ignore.authors}:
        return Decision(False, "ignored_author", f"PRs by {pr.author} are ignored (ignore.authors).")
    if ignore.bots and _is_bot(pr.author, pr.author_is_bot):
        return Decision(False, "ignored_bot", f"{pr.author} is a bot and ignore.bots is true.")
    title = pr.title[:MAX_TITLE]  # bounds the work of a pathological pattern
    for pattern in ignore.title_patterns:
        if re.search(pattern, title):
            return Decision(
                False,
                "ignored_title",
                f"The PR title matches {pattern!r} (ignore.title_patterns).",
            )
    present = _labels(pr.labels)
    for label in ignore.labels:
        if label.casefold() in present:
            return Decision(
                False,
                "ignored_label",
                f"The PR has the label '{present[label.casefold()]}' (ignore.labels).",
            )
    if pr.base_branch and name_matches(pr.base_branch, ignore.branches):
        return Decision(
            False,
            "ignored_branch",
            f"PRs into '{pr.base_branch}' are ignored (ignore.branches).",
        )
    return None


def may_run_command(
    config: ShunterConfig,
    command: str,
    *,
    user: str,
    permission: str,
    is_author: bool = False,
) -> Decision:
    """May ``user``, whose repository permission is ``permission`` (``none``, ``read``,
    ``triage``, ``write``, ``maintain``, ``admin``), run ``/shunter <command>``?"""
    rule = config.commands.rules.get(command)
    if rule is None:
        known = sorted(set(KNOWN_COMMANDS) & set(config.commands.rules))
        return Decision(
            False,
            "unknown_command",
            f"There is no command '{command}'{suggest(command, known)} Comment `/shunter help` for the list.",
        )
    have = PERMISSION_RANK.get(permission, 0)
    need = PERMISSION_RANK[rule.permission]
    if have >= need:
        return Decision(
            True,
            "permission",
            f"@{user} has {permission} permission; /shunter {command} needs {rule.permission}.",
        )
    if rule.author_may_run and is_author:
        return Decision(
            True, "pr_author", f"@{user} opened this PR, and its author may run /shunter {command}."
        )
    author_note = " (or being the PR's author)" if rule.author_may_run else ""
    return Decision(
        False,
        "insufficient_permission",
        f"/shunter {command} needs {rule.permission} permission{author_note}; @{user} has {permission}.",
    )


APPROVAL_GUARDRAILS = frozenset({"protected_path", "path_not_allowed", "too_many_files", "too_many_lines"})
"""The codes of the guardrails :func:`may_apply_change` makes a change wait for ``/shunter
approve`` for (a ``needs_approval`` decision's code is the first one crossed)."""


def may_apply_change(
    config: ShunterConfig,
    stage: str,
    trigger: ApplyTrigger,
    *,
    paths: Sequence[str],
    lines_changed: int,
    approved: bool = False,
) -> Decision:
    """May a patch from ``stage`` be pushed now?

    ``trigger``: ``command`` (``/shunter apply``), ``button`` ("Apply fixes") or ``auto``
    (Shunter on its own). ``lines_changed`` counts added plus removed lines. ``approved``
    means a maintainer ran ``/shunter approve`` for this change (the caller checks that with
    :func:`may_run_command`). A ``needs_approval`` refusal names every guardrail crossed.
    """
    if stage not in STAGES:
        return Decision(False, "unknown_stage", f"There is no stage named '{stage}'.")
    policy = getattr(config.patches.auto_apply, stage)
    setting = f"patches.auto_apply.{stage}"
    if policy == "never":
        return Decision(
            False,
            "auto_apply_never",
            f"{setting} is 'never': Shunter only suggests {stage} changes; apply them by hand.",
        )
    if trigger == "auto" and policy != "always":
        return Decision(
            False,
            "needs_command",
            f"{setting} is '{policy}': comment `/shunter apply` or press \"Apply fixes\".",
        )
    patches = config.patches
    crossed: list[tuple[str, str]] = []
    protected = [
        p for p in paths if path_matches(p, [WORKFLOWS_GLOB]) or path_matches(p, patches.protected_paths)
    ]
    if protected:
        pattern = first_match(protected[0], [WORKFLOWS_GLOB, *patches.protected_paths])
        crossed.append(
            (
                "protected_path",
                # the reply shows a name as code: a file under @org/ pinged the team
                f"{path_code(protected[0])} is protected ({typed_code(pattern or '')})"
                + (f" with {len(protected) - 1} more" if len(protected) > 1 else ""),
            )
        )
    outside = [p for p in paths if not path_matches(p, patches.allowed_paths)]
    if outside:
        crossed.append(("path_not_allowed", f"{path_code(outside[0])} is outside patches.allowed_paths"))
    if len(paths) > patches.max_files:
        crossed.append(
            (
                "too_many_files",
                f"it touches {len(paths)} files (patches.max_files is {patches.max_files})",
            )
        )
    if lines_changed > patches.max_lines:
        crossed.append(
            (
                "too_many_lines",
                f"it changes {lines_changed} lines (patches.max_lines is {patches.max_lines})",
            )
        )
    if crossed and not approved:
        reasons = "; ".join(text for _, text in crossed)
        return Decision(
            False,
            crossed[0][0],
            f"This change needs `/shunter approve` from a maintainer: {reasons}.",
            needs_approval=True,
        )
    how = {"command": "/shunter apply", "button": "the Apply fixes button", "auto": "policy"}
    if crossed:
        return Decision(
            True,
            "approved",
            f"A maintainer approved this change ({'; '.join(t for _, t in crossed)}).",
        )
    return Decision(
        True,
        "within_policy",
        f"Applied by {how[trigger]} ({setting} is '{policy}'): {len(paths)} files,"
        f" {lines_changed} lines, within the patch limits.",
    )
