"""Shunter's one exception hierarchy.

Every error a user can meet is a ``ShunterError`` whose message says what is wrong and
what to do about it; the CLI prints that message as one line instead of a traceback, and
the web and job layers map the subclasses to HTTP statuses and check-run conclusions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


class ShunterError(Exception):
    """Base of every error Shunter raises on purpose.

    ``hint`` is an optional sentence telling the user how to fix the problem.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class SettingsError(ShunterError):
    """A ``SHUNTER_*`` setting is missing or malformed; start-up stops."""

    def __init__(self, setting: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{setting}: {problem}", hint=hint)
        self.setting = setting
        self.problem = problem


class ConfigError(ShunterError):
    """A repository config (``.github/shunter.yml``) is invalid.

    ``problems`` lists ``(line, column, message)`` triples for annotations.
    """

    def __init__(
        self,
        message: str,
        problems: list[tuple[int, int, str]] | None = None,
        *,
        path: str = ".github/shunter.yml",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []
        self.path = path


class QueueUnavailable(ShunterError):
    """Redis/Valkey cannot be reached; the caller must not pretend the work was stored."""


class GitHubError(ShunterError):
    """GitHub (or the simulator) answered with an error we cannot recover from here."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status


class AccessPaused(GitHubError):
    """GitHub refuses Shunter's work for a reason only the repository's owner can lift, and
    no retry changes: the repository is archived (read-only), or the App's installation is
    suspended. ``reason`` is ``archived`` or ``suspended``. Jobs that meet it stop quietly
    (logged and audited once) instead of failing, retrying and filling the failed registry;
    the next event after the owner lifts it is handled as usual."""

    def __init__(self, message: str, *, reason: str, status: int | None = 403) -> None:
        super().__init__(message, status=status)
        self.reason = reason


class TransientError(ShunterError):
    """A failure worth retrying: network, 5xx, rate limits, lost leases."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WorkspaceError(ShunterError):
    """A git workspace operation failed (fetch, diff, materialise)."""


class ChangeRejected(ShunterError):
    """A change request failed validation; ``reason`` is a machine-readable code.

    ``message`` names what the change's author chose (a file name, a branch, a line of the
    diff) by ``{field}``s filled from ``values``: ``str()`` shows each with ``repr`` (logs,
    the audit log), and :meth:`shown` lets a PR reply show each safely (a file named
    ``@org/team.py`` pinged the team, and a backtick in one broke the reply's Markdown).
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        hint: str | None = None,
        values: Mapping[str, str] | None = None,
    ) -> None:
        self.template = message
        self.values = dict(values or {})
        super().__init__(self.shown(repr, with_hint=False), hint=hint)
        self.reason = reason

    def shown(self, show: Callable[[str], str], *, with_hint: bool = True) -> str:
        """The message with each of ``values`` put through ``show`` (and the hint)."""
        text = self.template
        if self.values:
            text = text.format_map({name: show(value) for name, value in self.values.items()})
        return f"{text} ({self.hint})" if with_hint and self.hint else text


class PatchConflict(ShunterError):
    """A patch does not apply to the branch's current head, even 3-way."""

    def __init__(self, message: str, paths: list[str] | None = None) -> None:
        super().__init__(message)
        self.paths = paths or []


class SandboxError(ShunterError):
    """Untrusted code could not be run safely (or was refused)."""


class EngineError(ShunterError):
    """An analyzer or LLM engine failed; the stage reports it instead of crashing."""
