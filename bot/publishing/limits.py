"""GitHub's documented limits on what Shunter sends, and a checker for them.

The builders in this package stay inside these limits by construction; the checker lets
tests (and the simulator) prove it, and lets the publisher refuse a payload that would be
rejected with a 422 instead of burning a request and a rate-limit slot on it.

Text limits are enforced in UTF-8 bytes, which is never more permissive than GitHub's
"characters", so a body full of emoji cannot slip over the limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_ANNOTATIONS_PER_REQUEST = 50
MAX_OUTPUT_TEXT = 65535  # check run output.summary and output.text
MAX_COMMENT_BODY = 65536  # issue comments and review comments
MAX_ACTIONS = 3
MAX_ACTION_LABEL = 20
MAX_ACTION_DESCRIPTION = 40
MAX_ACTION_IDENTIFIER = 20
MAX_ANNOTATION_TITLE = 255
MAX_ANNOTATION_MESSAGE = 64 * 1024
MAX_ANNOTATION_RAW_DETAILS = 64 * 1024

CONCLUSIONS = frozenset(
    {"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"}
)
STATUSES = frozenset({"queued", "in_progress", "completed"})
ANNOTATION_LEVELS = frozenset({"notice", "warning", "failure"})


def size(text: str) -> int:
    """The length GitHub's limits are checked against here: UTF-8 bytes."""
    return len(text.encode("utf-8"))


def check_run_problems(payload: Mapping[str, Any]) -> list[str]:
    """Why GitHub would reject this create/update check-run body (empty when it is fine)."""
    problems: list[str] = []
    status = payload.get("status")
    conclusion = payload.get("conclusion")
    if status is not None and status not in STATUSES:
        problems.append(f"status {status!r} is not one of {sorted(STATUSES)}")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        problems.append(f"conclusion {conclusion!r} is not one of {sorted(CONCLUSIONS)}")
    if status == "completed" and conclusion is None:
        problems.append("a completed check run needs a conclusion")
    if conclusion == "action_required" and not payload.get("details_url"):
        problems.append("conclusion action_required needs a details_url")
    output = payload.get("output")
    if output is not None:
        problems.extend(_output_problems(output))
    problems.extend(_actions_problems(payload.get("actions") or []))
    return problems


def _output_problems(output: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for key in ("title", "summary"):
        if not isinstance(output.get(key), str) or not output[key]:
            problems.append(f"output.{key} is required")
    for key in ("summary", "text"):
        value = output.get(key)
        if isinstance(value, str) and size(value) > MAX_OUTPUT_TEXT:
            problems.append(f"output.{key} is {size(value)} bytes, over {MAX_OUTPUT_TEXT}")
    annotations = output.get("annotations") or []
    if len(annotations) > MAX_ANNOTATIONS_PER_REQUEST:
        problems.append(f"{len(annotations)} annotations in one request, over {MAX_ANNOTATIONS_PER_REQUEST}")
    for index, annotation in enumerate(annotations):
        problems.extend(f"annotation {index}: {p}" for p in annotation_problems(annotation))
    return problems


def annotation_problems(annotation: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    path = annotation.get("path")
    if not isinstance(path, str) or not path or path.startswith("/"):
        problems.append(f"path {path!r} must be a non-empty repository-relative path")
    start, end = annotation.get("start_line"), annotation.get("end_line")
    if not isinstance(start, int) or not isinstance(end, int) or start < 1 or end < start:
        problems.append(f"lines {start!r}..{end!r} are not a valid range")
    if annotation.get("annotation_level") not in ANNOTATION_LEVELS:
        problems.append(f"annotation_level {annotation.get('annotation_level')!r} is invalid")
    message = annotation.get("message")
    if not isinstance(message, str) or not message:
        problems.append("message is required")
    elif size(message) > MAX_ANNOTATION_MESSAGE:
        problems.append("message is over 64 KB")
    title = annotation.get("title")
    if title is not None and len(title) > MAX_ANNOTATION_TITLE:
        problems.append(f"title is over {MAX_ANNOTATION_TITLE} characters")
    raw = annotation.get("raw_details")
    if raw is not None and size(raw) > MAX_ANNOTATION_RAW_DETAILS:
        problems.append("raw_details is over 64 KB")
    if ("start_column" in annotation or "end_column" in annotation) and start != end:
        problems.append("columns are only allowed when start_line equals end_line")
    return problems


def _actions_problems(actions: list[Mapping[str, Any]]) -> list[str]:
    problems: list[str] = []
    if len(actions) > MAX_ACTIONS:
        problems.append(f"{len(actions)} actions, over {MAX_ACTIONS}")
    seen: set[str] = set()
    for action in actions:
        label = action.get("label", "")
        description = action.get("description", "")
        identifier = action.get("identifier", "")
        if not label or len(label) > MAX_ACTION_LABEL:
            problems.append(f"action label {label!r} must be 1..{MAX_ACTION_LABEL} characters")
        if not description or len(description) > MAX_ACTION_DESCRIPTION:
            problems.append(
                f"action description {description!r} must be 1..{MAX_ACTION_DESCRIPTION} characters"
            )
        if not identifier or len(identifier) > MAX_ACTION_IDENTIFIER:
            problems.append(f"action identifier {identifier!r} must be 1..{MAX_ACTION_IDENTIFIER} characters")
        if identifier in seen:
            problems.append(f"action identifier {identifier!r} is used twice")
        seen.add(identifier)
    return problems


def comment_problems(body: str) -> list[str]:
    if not body.strip():
        return ["the comment body is empty"]
    if size(body) > MAX_COMMENT_BODY:
        return [f"the comment body is {size(body)} bytes, over {MAX_COMMENT_BODY}"]
    return []


def review_comment_problems(payload: Mapping[str, Any]) -> list[str]:
    """A review comment (``POST /pulls/{n}/comments`` or a review's ``comments`` item)."""
    problems = comment_problems(payload.get("body", ""))
    line = payload.get("line")
    start_line = payload.get("start_line")
    if not isinstance(payload.get("path"), str) or not payload["path"]:
        problems.append("path is required")
    if not isinstance(line, int) or line < 1:
        problems.append(f"line {line!r} must be a positive integer")
    if start_line is not None and (not isinstance(line, int) or start_line >= line):
        problems.append("start_line must be before line")
    if payload.get("side", "RIGHT") not in {"LEFT", "RIGHT"}:
        problems.append("side must be LEFT or RIGHT")
    return problems
