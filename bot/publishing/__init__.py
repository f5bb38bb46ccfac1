"""Pure builders of what Shunter sends to GitHub: check runs, the summary comment and
inline review comments. No I/O here; the publisher in ``bot.github`` sends the payloads
and ``bot.publishing.limits`` checks them against GitHub's documented limits."""

from bot.publishing.check_runs import (
    ACTION_APPLY,
    ACTION_DISMISS,
    ACTION_RERUN,
    CheckRunPlan,
    annotation,
    check_run_output,
    findings_title,
    in_progress_payload,
    skipped_output,
    sort_findings,
    superseded_output,
)
from bot.publishing.inline import (
    ReviewComment,
    finding_key,
    outdated_comments,
    posted_from_comments,
    resolved_comment_body,
    select_inline_comments,
    suggestion_block,
)
from bot.publishing.summary_comment import (
    MARKER,
    StageRow,
    find_summary_comment,
    summary_comment_body,
)

__all__ = [
    "ACTION_APPLY",
    "ACTION_DISMISS",
    "ACTION_RERUN",
    "MARKER",
    "CheckRunPlan",
    "ReviewComment",
    "StageRow",
    "annotation",
    "check_run_output",
    "find_summary_comment",
    "finding_key",
    "findings_title",
    "in_progress_payload",
    "outdated_comments",
    "posted_from_comments",
    "resolved_comment_body",
    "select_inline_comments",
    "skipped_output",
    "sort_findings",
    "suggestion_block",
    "summary_comment_body",
    "superseded_output",
]
