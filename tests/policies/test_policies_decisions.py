"""Every policy decision, with its code and a sentence for people."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.policies.decisions import (
    APPROVAL_GUARDRAILS,
    PullRequestFacts,
    may_apply_change,
    may_run_command,
    paths_decision,
    should_run_stage,
)
from bot.policies.schema import PERMISSION_RANK, PathFilter, ShunterConfig

DEFAULT = ShunterConfig()


def cfg(**data: object) -> ShunterConfig:
    return ShunterConfig.model_validate(data)


def pr(**facts: object) -> PullRequestFacts:
    base: dict[str, object] = {
        "author": "alice",
        "title": "Add feature",
        "base_branch": "main",
        "changed_paths": ["src/app.py"],
    }
    base.update(facts)
    return PullRequestFacts(**base)  # type: ignore[arg-type]


# -- should_run_stage ----------------------------------------------------------------------


def test_runs_by_default() -> None:
    d = should_run_stage(DEFAULT, "review", "opened", pr())
    assert (d.allowed, d.code) == (True, "will_run")
    assert "1 of 1 changed files" in d.message


@pytest.mark.parametrize(
    ("config", "stage", "trigger", "facts", "code"),
    [
        (DEFAULT, "lint", "opened", pr(), "unknown_stage"),
        (cfg(stages={"security": {"enabled": False}}), "security", "opened", pr(), "stage_disabled"),
        (DEFAULT, "review", "labeled", pr(), "trigger_not_configured"),
        (DEFAULT, "review", "opened", pr(draft=True), "draft"),
        (DEFAULT, "review", "opened", pr(author="Dependabot[bot]"), "ignored_author"),
        (cfg(ignore={"bots": True}), "review", "opened", pr(author="x[bot]"), "ignored_bot"),
        (
            cfg(ignore={"bots": True}),
            "review",
            "opened",
            pr(author="ci", author_is_bot=True),
            "ignored_bot",
        ),
        (
            cfg(ignore={"title_patterns": [r"^\[?WIP\b"]}),
            "review",
            "opened",
            pr(title="WIP: later"),
            "ignored_title",
        ),
        (DEFAULT, "review", "opened", pr(labels=["Shunter:Skip"]), "ignored_label"),
        (
            cfg(ignore={"branches": ["release/*"]}),
            "tests",
            "opened",
            pr(base_branch="release/1.2"),
            "ignored_branch",
        ),
        (
            cfg(stages={"tests": {"labels": {"skip": ["no-tests"]}}}),
            "tests",
            "opened",
            pr(labels=["no-tests"]),
            "skip_label",
        ),
        (
            cfg(stages={"tests": {"labels": {"enable": ["needs-tests"]}}}),
            "tests",
            "opened",
            pr(labels=["bug"]),
            "missing_enable_label",
        ),
        (
            cfg(stages={"review": {"paths": {"include": ["src/**"], "exclude": ["**/*.md"]}}}),
            "review",
            "synchronize",
            pr(changed_paths=["docs/a.md", "src/readme.md"]),
            "no_matching_paths",
        ),
    ],
)
def test_reasons_not_to_run(
    config: ShunterConfig, stage: str, trigger: str, facts: PullRequestFacts, code: str
) -> None:
    d = should_run_stage(config, stage, trigger, facts)
    assert (d.allowed, d.code) == (False, code)
    assert d.message.endswith((".", ")")) and len(d.message) > 20


def test_enable_label_present_runs() -> None:
    config = cfg(stages={"tests": {"labels": {"enable": ["needs-tests"]}}})
    assert should_run_stage(config, "tests", "labeled", pr(labels=["Needs-Tests"])).code == (
        "trigger_not_configured"
    )
    config = cfg(stages={"tests": {"on": ["labeled"], "labels": {"enable": ["needs-tests"]}}})
    assert should_run_stage(config, "tests", "labeled", pr(labels=["Needs-Tests"])).allowed


def test_paths_are_double_star_aware() -> None:
    config = cfg(stages={"review": {"paths": {"include": ["**/*.py"], "exclude": ["tests/**"]}}})
    assert should_run_stage(config, "review", "opened", pr(changed_paths=["a/b/c.py"])).allowed
    assert should_run_stage(config, "review", "opened", pr(changed_paths=["c.py"])).allowed
    assert not should_run_stage(config, "review", "opened", pr(changed_paths=["tests/x/test_a.py"])).allowed


def test_a_command_overrides_ignore_and_labels_but_not_disabled_or_paths() -> None:
    config = cfg(stages={"review": {"paths": {"include": ["src/**"]}}})
    facts = pr(draft=True, labels=["shunter:skip"], changed_paths=["src/a.py"])
    d = should_run_stage(config, "review", "command", facts)
    assert (d.allowed, d.code) == (True, "requested_by_command")
    off = cfg(stages={"review": {"enabled": False}})
    assert should_run_stage(off, "review", "command", facts).code == "stage_disabled"
    # paths choose what the stage looks at: with nothing chosen, asking for it changes nothing
    outside = pr(draft=True, changed_paths=["docs/a.md"])
    assert should_run_stage(config, "review", "command", outside).code == "no_matching_paths"


def test_paths_decision_skips_a_stage_no_changed_file_is_for() -> None:
    """The stage job's question once it has the diff (the planner never knows the files)."""
    paths = PathFilter(include=["src/**"], exclude=["**/*.md"])
    d = paths_decision("review", paths, ["docs/a.md", "src/readme.md"])
    assert (d.allowed, d.code) == (False, "no_matching_paths")
    assert d.message.startswith("No changed file matches stages.review.paths")
    assert 'include: ["src/**"], exclude: ["**/*.md"]' in d.message and "(2 files changed)" in d.message
    d = paths_decision("review", paths, ["docs/a.md", "src/app.py"])
    assert (d.allowed, d.code) == (True, "matching_paths")
    assert "1 of 2 changed files" in d.message
    # nothing changed (a push back to the base): it runs, to resolve what it reported before
    assert paths_decision("tests", PathFilter(include=["src/**"]), []).allowed
    # an empty include means every file, as the stages read it
    assert paths_decision("tests", PathFilter(include=[]), ["a.py"]).allowed
    # globs as GitHub Actions reads them: ** spans folders, a trailing / means below
    assert paths_decision("security", PathFilter(include=["**/*.py"]), ["a/b/c.py"]).allowed
    assert paths_decision("security", PathFilter(include=["src/"]), ["src/x/y.txt"]).allowed
    assert not paths_decision("security", PathFilter(include=["*.py"]), ["a/b.py"]).allowed


def test_events_without_a_pull_request() -> None:
    d = should_run_stage(DEFAULT, "security", "merge_group")
    assert (d.allowed, d.code) == (True, "triggered")
    assert should_run_stage(DEFAULT, "security", "schedule").code == "trigger_not_configured"


def test_unknown_changed_paths_do_not_filter() -> None:
    assert should_run_stage(DEFAULT, "review", "opened", pr(changed_paths=None)).allowed


# -- may_run_command -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "permission", "is_author", "allowed", "code"),
    [
        ("help", "none", False, False, "insufficient_permission"),
        ("help", "read", False, True, "permission"),
        ("apply", "read", False, False, "insufficient_permission"),
        ("apply", "read", True, True, "pr_author"),
        ("apply", "write", False, True, "permission"),
        ("approve", "write", True, False, "insufficient_permission"),
        ("approve", "maintain", False, True, "permission"),
        ("approve", "admin", False, True, "permission"),
        ("dismiss", "triage", False, True, "permission"),
        ("aply", "admin", False, False, "unknown_command"),
    ],
)
def test_command_permissions(
    command: str, permission: str, is_author: bool, allowed: bool, code: str
) -> None:
    d = may_run_command(DEFAULT, command, user="bob", permission=permission, is_author=is_author)
    assert (d.allowed, d.code) == (allowed, code)


def test_command_messages_say_what_is_needed() -> None:
    d = may_run_command(DEFAULT, "approve", user="bob", permission="write", is_author=True)
    assert d.message == "/shunter approve needs maintain permission; @bob has write."
    d = may_run_command(DEFAULT, "apply", user="eve", permission="read")
    assert "(or being the PR's author)" in d.message
    d = may_run_command(DEFAULT, "aply", user="eve", permission="read")
    assert "did you mean 'apply'?" in d.message


def test_repo_can_tighten_a_command() -> None:
    config = cfg(commands={"rules": {"apply": {"permission": "maintain", "author_may_run": False}}})
    d = may_run_command(config, "apply", user="a", permission="write", is_author=True)
    assert (d.allowed, d.code) == (False, "insufficient_permission")


permissions = st.sampled_from(list(PERMISSION_RANK))


@given(permissions, permissions, st.booleans())
def test_more_permission_never_loses_a_right(low: str, high: str, is_author: bool) -> None:
    if PERMISSION_RANK[low] > PERMISSION_RANK[high]:
        low, high = high, low
    for command in DEFAULT.commands.rules:
        lo = may_run_command(DEFAULT, command, user="u", permission=low, is_author=is_author)
        hi = may_run_command(DEFAULT, command, user="u", permission=high, is_author=is_author)
        assert not lo.allowed or hi.allowed


# -- may_apply_change ----------------------------------------------------------------------


ON_COMMAND = ShunterConfig.model_validate({"patches": {"auto_apply": {"review": "on_command"}}})


def test_writing_to_branches_is_opt_in_by_default() -> None:
    d = may_apply_change(DEFAULT, "review", "command", paths=["src/a.py"], lines_changed=4)
    assert (d.allowed, d.code) == (False, "auto_apply_never")


def test_within_policy_on_command() -> None:
    d = may_apply_change(ON_COMMAND, "review", "command", paths=["src/a.py"], lines_changed=4)
    assert (d.allowed, d.code, d.needs_approval) == (True, "within_policy", False)


def test_auto_needs_always() -> None:
    d = may_apply_change(ON_COMMAND, "review", "auto", paths=["src/a.py"], lines_changed=4)
    assert (d.allowed, d.code) == (False, "needs_command")
    config = cfg(patches={"auto_apply": {"review": "always"}})
    assert may_apply_change(config, "review", "auto", paths=["a.py"], lines_changed=1).allowed


def test_never_refuses_even_a_command() -> None:
    config = cfg(patches={"auto_apply": {"security": "never"}})
    d = may_apply_change(config, "security", "button", paths=["a.py"], lines_changed=1)
    assert (d.allowed, d.code, d.needs_approval) == (False, "auto_apply_never", False)


def test_workflows_are_always_protected() -> None:
    config = cfg(patches={"auto_apply": {"review": "always"}, "protected_paths": []})
    d = may_apply_change(config, "review", "auto", paths=[".github/workflows/ci.yml"], lines_changed=1)
    assert (d.allowed, d.code, d.needs_approval) == (False, "protected_path", True)
    assert ".github/workflows/**" in d.message
    approved = may_apply_change(
        config, "review", "auto", paths=[".github/workflows/ci.yml"], lines_changed=1, approved=True
    )
    assert (approved.allowed, approved.code) == (True, "approved")


@pytest.mark.parametrize(
    ("patches", "paths", "lines", "code"),
    [
        ({"protected_paths": ["**/migrations/**"]}, ["app/migrations/0001.py"], 3, "protected_path"),
        ({"allowed_paths": ["src/**"]}, ["src/a.py", "setup.py"], 3, "path_not_allowed"),
        ({"max_files": 2}, ["a.py", "b.py", "c.py"], 3, "too_many_files"),
        ({"max_lines": 10}, ["a.py"], 11, "too_many_lines"),
    ],
)
def test_guardrails_need_approval(
    patches: dict[str, object], paths: list[str], lines: int, code: str
) -> None:
    patches = {**patches, "auto_apply": {"tests": "on_command"}}
    d = may_apply_change(cfg(patches=patches), "tests", "command", paths=paths, lines_changed=lines)
    assert (d.allowed, d.code, d.needs_approval) == (False, code, True)
    assert d.code in APPROVAL_GUARDRAILS  # an expired wait is recognised by it (bot.pipeline.patches)
    assert d.message.startswith("This change needs `/shunter approve` from a maintainer:")


def test_every_crossed_guardrail_is_named() -> None:
    config = cfg(patches={"max_files": 1, "max_lines": 1, "protected_paths": ["Dockerfile"],
                          "auto_apply": {"review": "on_command"}})
    d = may_apply_change(config, "review", "command", paths=["Dockerfile", "b"], lines_changed=5)
    assert "`Dockerfile` is protected (`Dockerfile`)" in d.message
    assert "touches 2 files" in d.message
    assert "changes 5 lines" in d.message


def test_decisions_serialise() -> None:
    d = may_apply_change(DEFAULT, "nope", "command", paths=[], lines_changed=0)
    assert d.as_dict() == {
        "allowed": False,
        "code": "unknown_stage",
        "message": "There is no stage named 'nope'.",
        "needs_approval": False,
    }


def test_facts_from_a_webhook_pull_request() -> None:
    payload = {
        "user": {"login": "renovate[bot]", "type": "Bot"},
        "labels": [{"name": "deps"}, {"name": "Shunter:Skip"}],
        "draft": False,
        "title": "Update x",
        "base": {"ref": "main"},
    }
    facts = PullRequestFacts.from_pull_request(payload, ["a.py"])
    assert facts == PullRequestFacts(
        author="renovate[bot]",
        author_is_bot=True,
        labels=("deps", "Shunter:Skip"),
        draft=False,
        title="Update x",
        base_branch="main",
        changed_paths=["a.py"],
    )
    assert should_run_stage(DEFAULT, "review", "opened", facts).code == "ignored_author"
