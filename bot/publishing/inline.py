"""Inline review comments: which findings get one, where, and with which suggestion.

GitHub rejects (422) a review comment on a line outside the diff, so only findings whose
lines are added or context lines of the PR's diff qualify. A finding is commented at most
once per PR across pushes (its fingerprint is remembered), the most important first, and a
one-hunk fix becomes a ```suggestion block the author can commit with one click.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.engines.secrets_scan import holds_secret
from bot.models import Finding, Severity, fingerprint
from bot.publishing import limits
from bot.publishing.markdown import cell, clip, code, fence_for, quoted
from bot.stages.context import ChangedFile
from bot.store.redaction import redact_secrets

FINDING_MARKER = "<!-- shunter:finding {} -->"
_FINDING_MARKER_RE = re.compile(r"<!-- shunter:finding ([0-9a-zA-Z]{1,64}) -->")
_MAX_SUGGESTION_BYTES = 50_000
_MESSAGE_BYTES = 8_000
_LEVEL = {Severity.ERROR: "🔴 error", Severity.WARNING: "🟠 warning", Severity.NOTICE: "🔵 notice"}
HELD_BACK_SUGGESTION = (
    "_No suggestion shown: the lines this fix rewrites hold a secret, and a suggestion "
    "would publish it again. Remove the secret (see `shunter/security`) first._"
)


@dataclass(frozen=True)
class ReviewComment:
    """One review comment on the head side of the diff (``line``, optionally from
    ``start_line`` for a multi-line comment)."""

    path: str
    line: int
    body: str
    fingerprint: str
    severity: Severity
    start_line: int | None = None
    has_suggestion: bool = False

    def to_payload(self) -> dict[str, Any]:
        """A ``comments[]`` item of ``POST /pulls/{n}/reviews`` (add ``commit_id`` for
        ``POST /pulls/{n}/comments``)."""
        payload: dict[str, Any] = {
            "path": self.path,
            "line": self.line,
            "side": "RIGHT",
            "body": self.body,
        }
        if self.start_line is not None and self.start_line < self.line:
            payload["start_line"] = self.start_line
            payload["start_side"] = "RIGHT"
        return payload


def finding_key(finding: Finding) -> str:
    """The finding's fingerprint, or (for a stage that set none) one from its place."""
    if finding.fingerprint:
        return finding.fingerprint
    return fingerprint(finding.rule_id, finding.path, f"{finding.start_line}:{finding.message}")


def select_inline_comments(
    findings: Iterable[Finding],
    changed_files: Iterable[ChangedFile],
    already_posted_fingerprints: Collection[str],
    limit: int,
) -> list[ReviewComment]:
    """Up to ``limit`` comments for findings on diff lines, never one already posted.

    A finding whose whole range lies in one diff hunk is commented on that range (with its
    suggestion, if any); one that only touches the diff is commented on its first diff line
    without a suggestion (a partial range would make the suggestion wrong); the rest are
    left to the check run's annotations. A remark on the whole pull request has no line to
    sit on: the check run's summary and the summary comment carry it.
    """
    if limit <= 0:
        return []
    files = {f.path: f for f in changed_files if f.status != "deleted" and not f.is_binary}
    posted = set(already_posted_fingerprints)
    seen: set[str] = set()
    chosen: list[tuple[tuple[Any, ...], ReviewComment]] = []
    for finding in findings:
        key = finding_key(finding)
        if finding.suppressed or finding.on_pull_request or key in posted or key in seen:
            continue
        changed = files.get(finding.path)
        if changed is None:
            continue
        anchor = _anchor(finding, changed.diff_lines)
        if anchor is None:
            continue
        seen.add(key)
        start, end, whole = anchor
        # deleting whole lines (an empty suggestion) writes no line ending: always safe
        crlf = bool(finding.suggestion) and whole and ends_in_crlf(changed.patch, start, end)
        foreign = (
            bool(finding.suggestion)
            and whole
            and not_utf8(finding.suggestion or "", changed.patch, start, end)
        )
        comment = ReviewComment(
            path=finding.path,
            line=end,
            start_line=start if start < end else None,
            body=comment_body(finding, key, with_suggestion=whole, crlf=crlf, foreign=foreign),
            fingerprint=key,
            severity=finding.severity,
            has_suggestion=whole and not crlf and not foreign and _suggestion_fits(finding),
        )
        priority = (
            -finding.severity.rank,
            not comment.has_suggestion,
            finding.start_line not in changed.added_lines,
            finding.path,
            finding.start_line,
            finding.rule_id,
        )
        chosen.append((priority, comment))
    chosen.sort(key=lambda pair: pair[0])
    return [comment for _, comment in chosen[:limit]]


def _anchor(finding: Finding, diff_lines: frozenset[int]) -> tuple[int, int, bool] | None:
    start = finding.start_line
    end = max(finding.end_line, start)
    span = range(start, end + 1)
    if all(line in diff_lines for line in span):
        return start, end, True
    for line in span:
        if line in diff_lines:
            return line, line, False
    return None


def comment_body(
    finding: Finding, key: str, *, with_suggestion: bool = True, crlf: bool = False, foreign: bool = False
) -> str:
    """Markdown for one finding; the hidden marker lets Shunter recognise it later. ``crlf``:
    the lines the suggestion would replace end in CRLF (:func:`ends_in_crlf`); ``foreign``:
    they are not UTF-8 text (:func:`not_utf8`)."""
    title = f": {cell(finding.title)}" if finding.title else ""
    head = f"**{_LEVEL[finding.severity]}** · {code(finding.rule_id, 80)} ({finding.engine}){title}"
    parts = [head, "", quoted(clip(finding.message.strip(), _MESSAGE_BYTES))]
    if with_suggestion and (finding.suggestion is not None or finding.suggestion_held_back):
        if suggestion_holds_secret(finding):
            parts += ["", HELD_BACK_SUGGESTION]
        elif foreign:
            parts += ["", NOT_UTF8_SUGGESTION]
        elif finding.suggestion is not None and (crlf or not keeps_line_endings(finding.suggestion)):
            parts += ["", by_hand_block(finding.suggestion)]
        elif finding.suggestion is not None and _suggestion_fits(finding):
            parts += ["", suggestion_block(finding.suggestion)]
        else:
            parts += ["", "_The suggested fix is too large to show here; use `/shunter apply`._"]
    short = key[:8]
    parts += [
        "",
        f"<sub>Finding {code(short)} · comment `/shunter dismiss {short} <reason>` "
        "to hide it on this PR.</sub>",
        FINDING_MARKER.format(key),
    ]
    return clip("\n".join(parts), limits.MAX_COMMENT_BODY)


def _suggestion_fits(finding: Finding) -> bool:
    if finding.suggestion is None or suggestion_holds_secret(finding):
        return False
    if not keeps_line_endings(finding.suggestion):
        return False
    return limits.size(suggestion_block(finding.suggestion)) <= _MAX_SUGGESTION_BYTES


def suggestion_holds_secret(finding: Finding) -> bool:
    """Whether the finding's suggested replacement carries a secret: a fix that rewrites a
    line holding one (an f-string prefix removed, quotes changed) quotes the secret whole,
    in whatever form the secrets scanner finds it (masking the known token shapes would
    still publish an AWS key, a password or a high-entropy string, and "Commit suggestion"
    would then commit the mask). The pipeline drops such a replacement before the finding
    is stored (``suggestion_held_back``); a finding that did not pass there is scanned."""
    if finding.suggestion_held_back:
        return True
    return bool(finding.suggestion) and holds_secret(finding.path, [finding.suggestion or ""])


def keeps_line_endings(replacement: str) -> bool:
    """False when a ```suggestion block could not commit ``replacement`` as it is: its
    lines end in CRLF (a file written on Windows). A suggestion is Markdown text, and GitHub
    promises nothing about the line endings "Commit suggestion" writes: a \\r kept in the
    block may land as a stray character before GitHub's newline, and one stripped turns the
    lines into LF in a CRLF file. The fix patch (``/shunter apply``) carries the file's bytes
    exactly, so it is the way such a fix is offered."""
    return "\r" not in replacement


NOT_UTF8_SUGGESTION = (
    "_No suggestion shown: this file is not UTF-8 text (as a `# -*- coding: latin-1 -*-` "
    'file is), and "Commit suggestion" would write the lines in UTF-8, its characters '
    "that are not ASCII replaced._"
)


def not_utf8(replacement: str, patch: str, start: int, end: int) -> bool:
    """Whether the lines a suggestion replaces, or the suggestion, hold U+FFFD where the
    file's bytes are not UTF-8 (the diff shows such bytes so, and a model reading it writes
    them back so): committed, they would land in the file as UTF-8 replacement characters."""
    return "\ufffd" in replacement or (
        "\ufffd" in patch and any("\ufffd" in line for line in _head_lines(patch, start, end))
    )


def _head_lines(patch: str, start: int, end: int) -> list[str]:
    """The head lines ``start``..``end`` that the file's diff shows, ends kept (a CRLF's
    ``\\r``)."""
    out: list[str] = []
    number = 0
    for line in patch.split("\n"):
        if line.startswith("@@"):
            match = _HUNK_HEAD.match(line)
            number = int(match.group(1)) if match else number
        elif line.startswith(("+", " ")):
            if start <= number <= end:
                out.append(line[1:])
            number += 1
    return out


_HUNK_HEAD = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)")


def ends_in_crlf(patch: str, start: int, end: int) -> bool:
    """Whether a head line ``start``..``end`` ends in CRLF, as the file's diff shows it: a
    suggestion for such lines is withheld whatever its own text (a model's replacement is
    written with LF; see :func:`keeps_line_endings`)."""
    return "\r" in patch and any(line.endswith("\r") for line in _head_lines(patch, start, end))


def by_hand_block(replacement: str) -> str:
    """The fix as plain code, for lines a ```suggestion block would not commit as they are
    (:func:`keeps_line_endings`, :func:`ends_in_crlf`): the author makes the change by hand,
    or with the check run's "Apply fixes" where the fix is in its patch. An empty
    replacement deletes the lines."""
    lines = replacement.removesuffix("\n").split("\n")
    code = redact_secrets("\n".join(line.removesuffix("\r") for line in lines))
    intro = (
        "_Not offered as a suggestion: these lines end in CRLF (Windows line endings), "
        'which GitHub\'s "Commit suggestion" does not keep._'
    )
    if not code:
        return f"{intro} _The fix deletes them._"
    fence = fence_for(code)
    return f"{intro} _The lines become:_\n\n{fence}python\n{code}\n{fence}"


def suggestion_block(replacement: str) -> str:
    """A ```suggestion block replacing the commented lines with ``replacement``.

    The fence is longer than any backtick run inside, so code containing ``` survives;
    an empty replacement deletes the lines. A secret in the replacement is masked: never
    publish a token, even one the PR itself added.
    """
    replacement = redact_secrets(replacement)
    fence = fence_for(replacement)
    if replacement == "":
        return f"{fence}suggestion\n{fence}"
    content = replacement[:-1] if replacement.endswith("\n") else replacement
    return f"{fence}suggestion\n{content}\n{fence}"


def outdated_comments(posted: Iterable[Any], current_fingerprints: Collection[str]) -> list[Any]:
    """Posted, unresolved comments whose finding no longer appears: a later push fixed it.

    ``posted`` holds records with ``fingerprint`` and ``resolved`` (``bot.store``'s
    ``PostedComment``); claims that never became comments (no ``comment_id``) are skipped.
    """
    current = set(current_fingerprints)
    return [
        item
        for item in posted
        if not getattr(item, "resolved", False)
        and getattr(item, "comment_id", 0) is not None
        and item.fingerprint not in current
    ]


def resolved_comment_body(original_body: str, fixed_in_sha: str) -> str:
    """The edited body of a comment whose finding was fixed: a note, the original folded."""
    note = f"✅ **Resolved** in `{fixed_in_sha[:7]}`: this finding no longer appears."
    if original_body.startswith("✅ **Resolved**"):
        return original_body
    folded = f"{note}\n\n<details><summary>Original comment</summary>\n\n{original_body}\n\n</details>"
    if limits.size(folded) <= limits.MAX_COMMENT_BODY:
        return folded
    marker = _FINDING_MARKER_RE.search(original_body)
    return note + (f"\n{marker.group(0)}" if marker else "")


def fingerprint_in_comment(body: str) -> str | None:
    """The fingerprint a Shunter inline comment carries (to rebuild state from GitHub)."""
    match = _FINDING_MARKER_RE.search(body)
    return match.group(1) if match else None


def posted_from_comments(comments: Sequence[Any], bot_login: str) -> set[str]:
    """Fingerprints of the review comments ``bot_login`` wrote, read from their markers."""
    wanted = bot_login.casefold()
    found: set[str] = set()
    for comment in comments:
        user = comment.get("user") if isinstance(comment, dict) else getattr(comment, "user", None)
        login = user.get("login") if isinstance(user, dict) else getattr(user, "login", None)
        body = comment.get("body") if isinstance(comment, dict) else getattr(comment, "body", "")
        if isinstance(login, str) and login.casefold() == wanted:
            key = fingerprint_in_comment(body or "")
            if key:
                found.add(key)
    return found
