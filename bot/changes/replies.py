"""PR reply text for the merge queue's outcomes: what landed (with the commit link) and what
did not (with the reason and how to retry). Pure functions; the publisher posts them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.changes.outcomes import DeadLetter, LandingReport
from bot.wording import path_code, prose_text, quoted_code


@dataclass(frozen=True)
class ReplyLine:
    """One paragraph of a command's reply, and whether it is good news (a change queued,
    already in the queue, waiting for approval, a branch moved to make room): said by the
    code that wrote it, which knows. Telling by the words in it made a refusal naming a
    file ``queued.py`` read as a success, and the command got a rocket instead of a
    confused reaction."""

    text: str
    ok: bool


_REASONS = {
    "conflict": "it conflicts with changes made on the branch since it was computed",
    "base_missing": "the commit it was computed on is no longer on the branch",
    "branch_gone": "the branch no longer exists",
    "push_rejected": "GitHub refused the push",
    "attempts_exhausted": "it failed too many times",
    "archived": "the repository is archived, so GitHub refuses every write to it",
    "suspended": "Shunter's installation is suspended, so GitHub refuses its requests",
}


def landed_reply(report: LandingReport, web_url: str = "https://github.com") -> str:
    """Markdown for the PR: the commit, each change in it, and the files it touched.

    A change found on the branch in Shunter's own commit (a push whose answer was lost, then
    confirmed on a retry) gets the same wording as one pushed now: the reader cares where
    the fix is, not which attempt saw it land.
    """
    blocks: list[str] = []
    if report.commit_sha and report.change_ids:
        blocks.append(_pushed(report, report.commit_sha, report.change_ids, report.files, web_url))
    earlier: dict[str, list[str]] = {}
    for change_id, sha in report.already_landed.items():
        earlier.setdefault(sha, []).append(change_id)
    others: list[str] = []
    for sha, ids in earlier.items():
        if sha in report.confirmed:
            pushed = _pushed(report, sha, ids, report.confirmed[sha], web_url)
            blocks.append(
                f"{pushed}\n\nConfirmed on a retry: the push went through, but GitHub's answer "
                "to it was lost, so Shunter looked on the branch and found the commit there."
            )
        else:
            link = f"[{sha[:7]}]({_commit_url(report, sha, web_url)})"
            others.extend(f"- `{change_id}` was already on the branch in {link}." for change_id in ids)
    others.extend(
        f"- `{change_id}` changed nothing: the branch already has it."
        for change_id in report.already_present
    )
    if others:
        blocks.append("\n".join(others))
    return "\n\n".join(blocks).strip()


def _commit_url(report: LandingReport, sha: str, web_url: str) -> str:
    return f"{web_url.rstrip('/')}/{report.repo}/commit/{sha}"


def _pushed(report: LandingReport, sha: str, ids: list[str], files: list[str], web_url: str) -> str:
    """The landing's paragraph: the commit linked, on which branch, each change, the files."""
    noun = "change" if len(ids) == 1 else "changes"
    lines = [
        f"Shunter pushed [{sha[:7]}]({_commit_url(report, sha, web_url)}) to {path_code(report.branch)} "
        f"with {len(ids)} {noun}:"
    ]
    by_id = {c.id: c for c in report.changes}
    for change_id in ids:
        change = by_id.get(change_id)
        title = prose_text(change.title) if change else change_id  # a title may name a file
        lines.append(f"- {title} (`{change_id}`)")
    listed = ", ".join(path_code(f) for f in files[:20])
    more = f" and {len(files) - 20} more" if len(files) > 20 else ""
    lines.append(f"\nFiles: {listed}{more}.")
    return "\n".join(lines)


def dead_letter_reply(letter: DeadLetter) -> str:
    """Markdown saying why a change was not applied and what to do about it.

    When the branch moved since the fix was computed, the reply says how (new commits on
    top, or a force-push that dropped the fix's commit) and points at the new head, where
    the stage computes fixes afresh: retrying the old change would fail the same way.
    """
    change = letter.change
    why = _REASONS.get(letter.reason, letter.reason)
    lines = [f"Shunter could not apply **{prose_text(change.title)}** (`{change.id}`): {why}."]
    moved = _moved(letter)
    if moved:
        lines.append(moved)
    lines.append(quoted_code(letter.detail))
    if letter.branch_head and letter.reason in {"base_missing", "conflict"}:
        stage = change.origin.stage
        check = f"`{stage.check_name}` check run" if stage else "check runs"
        again = f"`/shunter apply {stage.value}`" if stage else "`/shunter apply`"
        rerun = f" (`/shunter {stage.value}` runs the stage again if it has not)" if stage else ""
        lines.append(
            f"Shunter's stages check the new head on their own: press **Apply fixes** on the "
            f"new head's {check}, or comment {again}, to apply the fixes computed for it{rerun}."
        )
    elif letter.hint:  # a branch rule: retrying as things stand fails the same way
        lines.append(letter.hint)
    else:
        lines.append(
            "To try again, update the branch and run `/shunter apply` (the stage recomputes the "
            f"patch on the new head), or ask an operator to run `shunter queue retry {change.id}`."
        )
    return "\n\n".join(lines)


def _moved(letter: DeadLetter) -> str | None:
    """One plain sentence on how the branch moved since the fix was computed, if it did."""
    if not letter.branch_head:
        return None
    branch, old, new = path_code(letter.change.branch), letter.change.head_sha[:7], letter.branch_head[:7]
    if letter.rewritten:
        return (
            f"{branch} was force-pushed since the fix was computed: it moved from `{old}` to "
            f"`{new}`, whose history no longer has `{old}`."
        )
    return (
        f"New commits were pushed to {branch} since the fix was computed: it moved from "
        f"`{old}` to `{new}`."
    )


def set_aside_reply(change_id: str, problem: str) -> str:
    """Markdown for the PR of a queued change the merge queue dropped because its stored
    entry no longer reads (``problem`` says how): nothing of it was pushed, and asking
    again queues the stage's fixes afresh (retrying the entry would fail the same way)."""
    return (
        f"Shunter dropped the queued change `{change_id}`: its entry in the merge queue could "
        f"not be read, so nothing of it was pushed.\n\n{quoted_code(problem)}\n\n"
        "To get the fixes, ask again: comment `/shunter apply`, or press **Apply fixes** on "
        "the check run."
    )
