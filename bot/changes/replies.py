"""PR reply text for the merge queue's outcomes: what landed (with the commit link) and what
did not (with the reason and how to retry). Pure functions; the publisher posts them.
"""

from __future__ import annotations

from bot.changes.outcomes import DeadLetter, LandingReport

_REASONS = {
    "conflict": "it conflicts with changes made on the branch since it was computed",
    "base_missing": "the commit it was computed on is gone from the branch (force-push?)",
    "branch_gone": "the branch no longer exists",
    "push_rejected": "GitHub refused the push",
    "attempts_exhausted": "it failed too many times",
}


def landed_reply(report: LandingReport, web_url: str = "https://github.com") -> str:
    """Markdown for the PR: the commit, each change in it, and the files it touched."""
    lines: list[str] = []
    if report.commit_sha and report.change_ids:
        url = f"{web_url.rstrip('/')}/{report.repo}/commit/{report.commit_sha}"
        count = len(report.change_ids)
        noun = "change" if count == 1 else "changes"
        lines.append(
            f"Shunter pushed [{report.commit_sha[:7]}]({url}) to `{report.branch}` with {count} {noun}:"
        )
        by_id = {c.id: c for c in report.changes}
        for change_id in report.change_ids:
            change = by_id.get(change_id)
            title = change.title if change else change_id
            lines.append(f"- {title} (`{change_id}`)")
        files = ", ".join(f"`{f}`" for f in report.files[:20])
        more = f" and {len(report.files) - 20} more" if len(report.files) > 20 else ""
        lines.append(f"\nFiles: {files}{more}.")
    for change_id, sha in report.already_landed.items():
        lines.append(f"- `{change_id}` was already on the branch in {sha[:7]}.")
    for change_id in report.already_present:
        lines.append(f"- `{change_id}` changed nothing: the branch already has it.")
    return "\n".join(lines).strip()


def dead_letter_reply(letter: DeadLetter) -> str:
    """Markdown saying why a change was not applied and what to do about it."""
    why = _REASONS.get(letter.reason, letter.reason)
    return (
        f"Shunter could not apply **{letter.change.title}** (`{letter.change.id}`): {why}.\n\n"
        f"> {letter.detail}\n\n"
        "To try again, update the branch and run `/shunter apply` (the stage recomputes the "
        f"patch on the new head), or ask an operator to run `shunter queue retry "
        f"{letter.change.id}`."
    )
