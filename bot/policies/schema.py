"""The ``.github/shunter.yml`` schema: pydantic models that also export the JSON Schema.

Every model forbids unknown keys so a typo is an error, not a silently ignored setting.
Defaults here are the built-in defaults, the lowest layer of the merge
(built-in < org ``.github`` repo < ``extends`` presets < the repository's own file).
"""

from __future__ import annotations

import difflib
import re
import string
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from bot.models import Severity

SCHEMA_ID = "https://raw.githubusercontent.com/shunter-bot/shunter/main/policies/shunter.schema.json"
PRESET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
REPO_REF = re.compile(
    r"^(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<repo>[A-Za-z0-9._-]{1,100})"
    r"(?::(?P<path>[^\s:]+))?$"
)
COMMIT_MESSAGE_FIELDS = ("title", "stage", "pr_number", "count")
"""Placeholders ``patches.commit_message`` may use; the merge queue fills all of them."""


def suggest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """A "did you mean" tail for ``word`` among ``choices`` (empty when nothing is close)."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _extends_ref(value: str) -> str:
    value = value.strip()
    if PRESET_NAME.match(value):
        return value
    match = REPO_REF.match(value)
    if match is None:
        raise PydanticCustomError(
            "extends_ref",
            "'{value}' is neither a preset name (like 'recommended') nor 'owner/repo[:path]'",
            {"value": value},
        )
    path = match.group("path")
    if path is not None and (path.startswith("/") or ".." in path.split("/")):
        raise PydanticCustomError(
            "extends_ref",
            "'{value}': the path after ':' must be relative to the repository root without '..'",
            {"value": value},
        )
    return value


ExtendsRef = Annotated[str, AfterValidator(_extends_ref)]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "regex",
            "'{value}' is not a valid regular expression: {error}",
            {"value": value, "error": str(exc)},
        ) from None
    return value


Regex = Annotated[str, AfterValidator(_regex)]


class Strict(BaseModel):
    """Unknown keys are errors (with a "did you mean" from the loader), never ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FilterMode(StrEnum):
    """Which findings are reported, as reviewdog defines the modes."""

    ADDED = "added"  # only on lines the PR added or changed
    DIFF_CONTEXT = "diff_context"  # on any line inside the diff hunks
    FILE = "file"  # anywhere in a file the PR changed
    NOFILTER = "nofilter"  # everything, even in files the PR did not touch


class FailOn(StrEnum):
    """The lowest finding severity that makes the stage's check fail (``never``: advisory)."""

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
    """The changed files the stage looks at: those matching ``include`` and not ``exclude``
    (like GitHub Actions' ``paths``). When none match, the stage's check concludes skipped
    (no_matching_paths), even when a command asked for it."""

    include: list[str] = Field(
        default_factory=lambda: ["**"],
        description="Globs ('**' spans directories); a changed file must match one.",
    )
    exclude: list[str] = Field(default_factory=list, description="Globs of changed files that do not count.")


class LabelFilter(Strict):
    enable: list[str] = Field(
        default_factory=list, description="Run the stage only on PRs with one of these labels."
    )
    skip: list[str] = Field(
        default_factory=list, description="Skip the stage on PRs with any of these labels."
    )


class StageConfig(Strict):
    """What every stage shares: when it runs, which findings it reports, when it fails."""

    enabled: bool = Field(default=True, description="false turns the stage off entirely.")
    on: list[Trigger] = Field(
        default_factory=lambda: list(DEFAULT_TRIGGERS),
        description=(
            "Pull-request actions and events that start the stage (schedule is accepted but"
            " nothing runs stages on a schedule yet: the config check warns)."
        ),
    )
    paths: PathFilter = Field(default_factory=PathFilter)
    labels: LabelFilter = Field(default_factory=LabelFilter)
    engine: Literal["builtin", "llm"] = Field(
        default="builtin", description="builtin analyzers, or the LLM configured under 'llm'."
    )
    filter: FilterMode = Field(
        default=FilterMode.ADDED,
        description="Which findings are reported (reviewdog's modes): added, diff_context, file, nofilter.",
    )
    fail_on: FailOn = Field(default=FailOn.ERROR, description="Severity at or above which the check fails.")
    max_inline_comments: int = Field(
        default=10,
        ge=0,
        le=50,
        description="Inline review comments per run (the rest go to the check run).",
    )


DEFAULT_RISKY_PATHS = (
    # CI: workflows and the local actions they run
    ".github/workflows/**",
    ".github/actions/**",
    "**/migrations/**",
    # images, wherever the Dockerfile lives (docker/Dockerfile, Dockerfile.dev)
    "**/Dockerfile",
    "**/Dockerfile.*",
    # dependencies: pip files at the root or in a requirements/ folder (flask), pip-tools
    # inputs, constraints, Pipfile; lock files are left out, being generated
    "**/requirements*.txt",
    "**/requirements*.in",
    "**/requirements/*.txt",
    "**/requirements/*.in",
    "**/constraints*.txt",
    "Pipfile",
    # packaging and build, in every package of a monorepo
    "**/pyproject.toml",
    "**/setup.py",
    "**/setup.cfg",
    "MANIFEST.in",
    # tools that run code on developers' machines and in CI
    "tox.ini",
    "noxfile.py",
    ".pre-commit-config.yaml",
)
"""What the review stage points out by default: files whose change alters how the code is
built, installed, tested or deployed, which a diff of library code does not show."""


class ReviewStageConfig(StageConfig):
    ruff: bool = Field(default=True, description="Run ruff on changed Python files.")
    heuristics: bool = Field(default=True, description="Diff heuristics reviewers value.")
    large_pr_lines: int = Field(
        default=800,
        ge=1,
        description="A PR changing more lines than this gets a 'consider splitting it' warning.",
    )
    large_pr_exclude: list[str] = Field(
        default_factory=list,
        description="Globs of changed files whose lines large_pr_lines does not count (test data,"
        " fixtures, vendored code); lock and generated files never count.",
    )
    risky_paths: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RISKY_PATHS),
        description="Globs of build, CI, dependency and migration files whose changes are pointed out.",
    )


Scanner = Literal["bandit", "secrets", "rules", "semgrep", "dependencies"]
DEFAULT_SCANNERS: tuple[Scanner, ...] = ("bandit", "secrets", "rules")


DEFAULT_IGNORED_IN_TESTS = ("B101", "B108")
"""bandit's assert test in test files is the best-known false positive: pytest checks with
``assert``, and tests do not run under ``python -O``. Projects that run bandit skip it there.
Its hard-coded temp path (B108) is the next: a test's fixed ``/tmp/...`` path (celery's daemon
test config, ``beat_pidfile = "/tmp/beat.test.pid"``) runs on a test machine, not where
another user can plant a symlink first."""


class SecurityStageConfig(StageConfig):
    new_only: bool = Field(
        default=True, description="Report only findings the PR introduces (not on the base)."
    )
    scanners: list[Scanner] = Field(default_factory=lambda: list(DEFAULT_SCANNERS))
    ignore_rules: list[str] = Field(default_factory=list, description="Rule ids never reported (e.g. B101).")
    ignore_paths: list[str] = Field(default_factory=list, description="Globs of files the scanners skip.")
    ignore_rules_in_tests: list[str] = Field(
        default_factory=lambda: list(DEFAULT_IGNORED_IN_TESTS),
        description="Rule ids or globs not reported in test files (tests/, test_*.py, *_test.py,"
        " conftest.py...): B101 and B108 by default, since a test's assert is how pytest checks and"
        " its /tmp paths run on a test machine; [] reports them everywhere.",
    )
    min_confidence: Literal["low", "medium", "high"] = "low"
    fail_on: FailOn = FailOn.WARNING
    fail_on_confidence: Literal["low", "medium", "high"] = Field(
        default="low", description="Only findings at least this confident fail the check."
    )
    osv_url: str | None = Field(
        default=None, description="OSV-compatible API for the dependency audit (off when unset)."
    )
    upload_sarif: bool = Field(default=False, description="Upload SARIF to code scanning.")


class TestsStageConfig(StageConfig):
    run_untrusted: bool = Field(
        default=False,
        description="Run the PR's code (in the sandbox: no network, no secrets) to check"
        " generated tests; false only proposes tests.",
    )
    attempts_per_function: int = Field(default=3, ge=1, le=20)
    time_budget_seconds: int = Field(default=300, ge=10, le=3600)
    timeout_seconds: int = Field(default=60, ge=1, le=1800)
    max_generated_tests: int = Field(default=10, ge=0, le=100)
    test_command: str | None = Field(
        default=None, description="How to run the test suite in the sandbox (default: pytest)."
    )
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
    """Who may run one ``/shunter`` command."""

    permission: Permission = Field(
        default="write", description="Lowest repository permission that may run it."
    )
    author_may_run: bool = Field(
        default=False, description="The PR's author may run it whatever their permission."
    )


def _default_commands() -> dict[str, CommandRule]:
    def read_author() -> CommandRule:
        return CommandRule(permission="read", author_may_run=True)

    return {
        "help": CommandRule(permission="read", author_may_run=True),
        "review": read_author(),
        "security": read_author(),
        "tests": read_author(),
        "all": read_author(),
        "explain": CommandRule(permission="read", author_may_run=True),
        "ask": CommandRule(permission="read", author_may_run=True),
        "config": CommandRule(permission="read", author_may_run=True),
        "queue": CommandRule(permission="read", author_may_run=True),
        "apply": CommandRule(permission="write", author_may_run=True),
        "retry": CommandRule(permission="write", author_may_run=True),
        "dismiss": CommandRule(permission="triage", author_may_run=False),
        "undismiss": CommandRule(permission="triage", author_may_run=False),
        "pause": CommandRule(permission="write", author_may_run=True),
        "resume": CommandRule(permission="write", author_may_run=True),
        "approve": CommandRule(permission="maintain", author_may_run=False),
    }


KNOWN_COMMANDS: tuple[str, ...] = tuple(_default_commands())


class Commands(Strict):
    aliases: bool = Field(default=False, description="Also accept /review, /apply, ...")
    rules: dict[str, CommandRule] = Field(
        default_factory=_default_commands,
        description="Per command: the permission it needs; merged key by key with the"
        " defaults, so list only the commands you change.",
    )

    @field_validator("rules")
    @classmethod
    def _known_commands(cls, rules: dict[str, CommandRule]) -> dict[str, CommandRule]:
        for name in rules:
            if name not in KNOWN_COMMANDS:
                raise PydanticCustomError(
                    "unknown_command",
                    "unknown command '{key}'{hint} (commands: {known})",
                    {
                        "key": name,
                        "hint": suggest(name, KNOWN_COMMANDS),
                        "known": ", ".join(KNOWN_COMMANDS),
                    },
                )
        return rules


AutoApply = Literal["never", "on_command", "always"]


class AutoApplyPolicy(Strict):
    """Per stage: ``never`` (patches stay suggestions), ``on_command`` (applied when someone
    runs ``/shunter apply`` or presses "Apply fixes"), ``always`` (applied without asking,
    within the guardrails of ``patches``)."""

    review: AutoApply = "never"
    security: AutoApply = "never"
    tests: AutoApply = "never"


class Patches(Strict):
    auto_apply: AutoApplyPolicy = Field(default_factory=AutoApplyPolicy)
    protected_paths: list[str] = Field(
        default_factory=list,
        description="Globs a patch may touch only after '/shunter approve' by a maintainer"
        " ('.github/workflows/**' is always protected).",
    )
    allowed_paths: list[str] = Field(
        default_factory=lambda: ["**"],
        description="Globs outside which a patch needs a maintainer's approval.",
    )
    max_files: int = Field(default=20, ge=1, le=1000, description="Larger patches need approval.")
    max_lines: int = Field(
        default=500, ge=1, le=100_000, description="Added plus removed lines; more need approval."
    )
    commit_message: str = Field(
        default="shunter: {title}",
        description="Template; placeholders: {title}, {stage}, {pr_number}, {count}.",
    )
    push_to: Literal["branch", "pull_request"] = Field(
        default="branch",
        description="branch: commit onto the PR's branch; pull_request: open a follow-up PR.",
    )
    push_method: Literal["git", "api"] = Field(
        default="api", description="git push, or the Git Data API (Verified commits)."
    )

    @field_validator("commit_message")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise PydanticCustomError(
                "template",
                "not a valid template ({error}); write '{{' for a literal '{'",
                {"error": str(exc)},
            ) from None
        for name in fields:
            if name not in COMMIT_MESSAGE_FIELDS:
                raise PydanticCustomError(
                    "template",
                    "unknown placeholder '{placeholder}'{hint} (placeholders: {known})",
                    {
                        "placeholder": "{" + name + "}",
                        "hint": suggest(name, COMMIT_MESSAGE_FIELDS),
                        "known": ", ".join("{" + f + "}" for f in COMMIT_MESSAGE_FIELDS),
                    },
                )
        return value


class Ignore(Strict):
    """Pull requests Shunter leaves alone (a ``/shunter`` command still runs on them)."""

    drafts: bool = Field(default=True, description="Skip draft PRs until ready for review.")
    authors: list[str] = Field(
        default_factory=lambda: ["dependabot[bot]", "renovate[bot]"],
        description="Logins whose PRs are skipped (exact, case-insensitive).",
    )
    bots: bool = Field(default=False, description="Skip every PR opened by a bot account.")
    title_patterns: list[Regex] = Field(
        default_factory=list, description="Regular expressions searched in the PR title."
    )
    labels: list[str] = Field(
        default_factory=lambda: ["shunter:skip"], description="Skip PRs with any of these."
    )
    branches: list[str] = Field(
        default_factory=list, description="Base-branch patterns to skip ('release/*')."
    )


class LLMConfig(Strict):
    """An LLM engine; the API key is read from the environment variable named here."""

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

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise PydanticCustomError("url", "must be an http:// or https:// URL", {})
        if parsed.username or parsed.password:
            raise PydanticCustomError(
                "url", "must not carry credentials; name the key's variable in api_key_env", {}
            )
        return value

    @field_validator("api_key_env", mode="before")
    @classmethod
    def _env_name(cls, value: object) -> object:
        if isinstance(value, str) and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
            raise PydanticCustomError(
                "env_name",
                "must be the NAME of an environment variable (like OPENAI_API_KEY), never the key itself",
                {},
            )
        return value


class ShunterConfig(Strict):
    """The whole ``.github/shunter.yml``."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        title="Shunter repository config (.github/shunter.yml)",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID,
        },
    )

    version: Literal[1] = Field(default=1, description="The config format version.")
    extends: list[ExtendsRef] = Field(
        default_factory=list,
        description="Presets ('recommended', 'strict', 'security-only', ...) or"
        " 'owner/repo[:path]', applied in order under this file.",
    )
    stages: Stages = Field(default_factory=Stages)
    commands: Commands = Field(default_factory=Commands)
    patches: Patches = Field(default_factory=Patches)
    ignore: Ignore = Field(default_factory=Ignore)
    llm: LLMConfig | None = None
