"""The ``.github/shunter.yml`` schema: pydantic models that also export the JSON Schema.

Every model forbids unknown keys so a typo is an error, not a silently ignored setting.
Defaults here are the built-in defaults, the lowest layer of the merge
(built-in < org ``.github`` repo < ``extends`` presets < the repository's own file).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.models import Severity


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FilterMode(StrEnum):
    """Which findings are reported, as reviewdog defines the modes."""

    ADDED = "added"  # only on lines the PR added or changed
    DIFF_CONTEXT = "diff_context"  # on any line inside the diff hunks
    FILE = "file"  # anywhere in a file the PR changed
    NOFILTER = "nofilter"  # everything, even in files the PR did not touch


class FailOn(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"
    NEVER = "never"

    def fails(self, severity: Severity) -> bool:
        """True when a finding of ``severity`` should fail the check."""
        if self is FailOn.NEVER:
            return False
        return severity.rank >= Severity(self.value).rank


Trigger = Literal[
    "opened",
    "synchronize",
    "reopened",
    "ready_for_review",
    "labeled",
    "unlabeled",
    "edited",
    "merge_group",
    "check_suite",
    "check_run",
    "command",
    "schedule",
]

DEFAULT_TRIGGERS: list[Trigger] = [
    "opened",
    "synchronize",
    "reopened",
    "ready_for_review",
    "merge_group",
    "check_suite",
    "check_run",
    "command",
]


class PathFilter(Strict):
    include: list[str] = Field(default_factory=lambda: ["**"])
    exclude: list[str] = Field(default_factory=list)


class LabelFilter(Strict):
    enable: list[str] = Field(
        default_factory=list, description="Run the stage only on PRs with one of these labels."
    )
    skip: list[str] = Field(
        default_factory=list, description="Skip the stage on PRs with any of these labels."
    )


class StageConfig(Strict):
    enabled: bool = True
    on: list[Trigger] = Field(default_factory=lambda: list(DEFAULT_TRIGGERS))
    paths: PathFilter = Field(default_factory=PathFilter)
    labels: LabelFilter = Field(default_factory=LabelFilter)
    engine: Literal["builtin", "llm"] = "builtin"
    filter: FilterMode = FilterMode.ADDED
    fail_on: FailOn = FailOn.ERROR
    max_inline_comments: int = Field(default=10, ge=0, le=50)


class ReviewStageConfig(StageConfig):
    ruff: bool = Field(default=True, description="Run ruff on changed Python files.")
    heuristics: bool = Field(default=True, description="Diff heuristics reviewers value.")
    large_pr_lines: int = Field(default=800, ge=1)
    risky_paths: list[str] = Field(
        default_factory=lambda: [
            ".github/workflows/**",
            "**/migrations/**",
            "Dockerfile",
            "**/requirements*.txt",
            "pyproject.toml",
            "setup.py",
        ]
    )


Scanner = Literal["bandit", "secrets", "rules", "semgrep", "dependencies"]


class SecurityStageConfig(StageConfig):
    new_only: bool = True
    scanners: list[Scanner] = Field(default_factory=lambda: ["bandit", "secrets", "rules"])
    ignore_rules: list[str] = Field(default_factory=list)
    ignore_paths: list[str] = Field(default_factory=list)
    min_confidence: Literal["low", "medium", "high"] = "low"
    fail_on: FailOn = FailOn.WARNING
    osv_url: str | None = Field(
        default=None, description="OSV-compatible API for the dependency audit (off when unset)."
    )
    upload_sarif: bool = Field(default=False, description="Upload SARIF to code scanning.")


class TestsStageConfig(StageConfig):
    run_untrusted: bool = False
    attempts_per_function: int = Field(default=3, ge=1, le=20)
    time_budget_seconds: int = Field(default=300, ge=10, le=3600)
    timeout_seconds: int = Field(default=60, ge=1, le=1800)
    max_generated_tests: int = Field(default=10, ge=0, le=100)
    test_command: str | None = None
    fail_on: FailOn = FailOn.NEVER


class Stages(Strict):
    review: ReviewStageConfig = Field(default_factory=ReviewStageConfig)
    security: SecurityStageConfig = Field(default_factory=SecurityStageConfig)
    tests: TestsStageConfig = Field(default_factory=TestsStageConfig)


Permission = Literal["read", "triage", "write", "maintain", "admin"]
PERMISSION_RANK: dict[str, int] = {
    "none": 0,
    "read": 1,
    "triage": 2,
    "write": 3,
    "maintain": 4,
    "admin": 5,
}


class CommandRule(Strict):
    permission: Permission = "write"
    author_may_run: bool = Field(
        default=False, description="The PR's author may run it whatever their permission."
    )


def _default_commands() -> dict[str, CommandRule]:
    read_author = {"permission": "read", "author_may_run": True}
    return {
        "help": CommandRule(permission="read", author_may_run=True),
        "review": CommandRule(**read_author),
        "security": CommandRule(**read_author),
        "tests": CommandRule(**read_author),
        "all": CommandRule(**read_author),
        "explain": CommandRule(permission="read", author_may_run=True),
        "ask": CommandRule(permission="read", author_may_run=True),
        "config": CommandRule(permission="read", author_may_run=True),
        "queue": CommandRule(permission="read", author_may_run=True),
        "apply": CommandRule(permission="write", author_may_run=True),
        "retry": CommandRule(permission="write", author_may_run=True),
        "dismiss": CommandRule(permission="triage", author_may_run=False),
        "pause": CommandRule(permission="write", author_may_run=True),
        "resume": CommandRule(permission="write", author_may_run=True),
        "approve": CommandRule(permission="maintain", author_may_run=False),
    }


class Commands(Strict):
    aliases: bool = Field(default=False, description="Also accept /review, /apply, ...")
    rules: dict[str, CommandRule] = Field(default_factory=_default_commands)


AutoApply = Literal["never", "on_command", "always"]


class AutoApplyPolicy(Strict):
    review: AutoApply = "on_command"
    security: AutoApply = "on_command"
    tests: AutoApply = "on_command"


class Patches(Strict):
    auto_apply: AutoApplyPolicy = Field(default_factory=AutoApplyPolicy)
    protected_paths: list[str] = Field(default_factory=list)
    allowed_paths: list[str] = Field(default_factory=lambda: ["**"])
    max_files: int = Field(default=20, ge=1, le=1000)
    max_lines: int = Field(default=500, ge=1, le=100_000)
    commit_message: str = "shunter: {title}"
    push_to: Literal["branch", "pull_request"] = "branch"
    push_method: Literal["git", "api"] = Field(
        default="api", description="git push, or the Git Data API (Verified commits)."
    )


class Ignore(Strict):
    drafts: bool = True
    authors: list[str] = Field(default_factory=lambda: ["dependabot[bot]", "renovate[bot]"])
    title_patterns: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=lambda: ["shunter:skip"])
    branches: list[str] = Field(default_factory=list)


class LLMConfig(Strict):
    provider: Literal["openai-compatible", "anthropic"] = "openai-compatible"
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key (never the key).",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
    )
    max_tokens_per_run: int = Field(default=20_000, ge=256, le=2_000_000)
    timeout_seconds: float = Field(default=60, gt=0, le=600)


class ShunterConfig(Strict):
    """The whole ``.github/shunter.yml``."""

    version: Literal[1] = 1
    extends: list[str] = Field(default_factory=list)
    stages: Stages = Field(default_factory=Stages)
    commands: Commands = Field(default_factory=Commands)
    patches: Patches = Field(default_factory=Patches)
    ignore: Ignore = Field(default_factory=Ignore)
    llm: LLMConfig | None = None
