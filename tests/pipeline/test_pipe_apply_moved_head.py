"""Changes computed on an older head of the PR, queued or waiting for approval while the
author pushed again: the dead-letter reply says in plain words how the branch moved (new
commits on top, or a force-push that dropped the fix's commit), from which commit to which,
and to apply the new head's fixes instead, never "(force-pushed?)". Through the simulator,
the real workers and real Redis."""

from __future__ import annotations

from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_pr, replies, waiting_change

REWRITE = {"app.py": "import re\n\n\ndef add(a, b):\n    return a + b\n"}
SAME_LINES = {"app.py": "import json\n\n\ndef add(a, b):\n    return a + b + 0\n"}


def dead_letter(sim, number) -> str:
    [body] = [r.body for r in replies(sim, number) if "could not apply" in r.body]
    return body


def test_a_queued_change_after_a_force_push_says_the_branch_was_force_pushed(stack):
    number = open_pr(stack)
    sim = stack.sim
    old = sim.pull(REPO, number).head_sha
    main = sim.ref(REPO, "refs/heads/main")
    sim.comment(REPO, number, "/shunter apply", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))  # queued; the merge job has not run yet
    sim.commit(REPO, "feature", REWRITE, author="alice", parent=main)  # history rewritten
    stack.drain()
    new = sim.pull(REPO, number).head_sha
    body = dead_letter(sim, number)
    assert "force-pushed?" not in body and "(force-push?)" not in body, body
    assert f"`feature` was force-pushed since the fix was computed: it moved from `{old[:7]}` to `{new[:7]}`" in body, body
    assert f"whose history no longer has `{old[:7]}`" in body, body
    assert "**Apply fixes** on the new head's `shunter/review` check run" in body and "`/shunter apply review`" in body, body
    assert sim.pull(REPO, number).head_sha == new  # nothing landed on the rewritten branch


def test_a_change_approved_after_new_commits_conflict_says_new_commits_were_pushed(stack):
    number = open_pr(stack, config=ON_COMMAND + "  protected_paths: ['app.py']\n")
    sim = stack.sim
    old = sim.pull(REPO, number).head_sha
    _, change_id = waiting_change(stack, number)
    sim.commit(REPO, "feature", SAME_LINES, author="alice")  # on top of the old head
    stack.drain()
    new = sim.pull(REPO, number).head_sha
    sim.comment(REPO, number, f"/shunter approve {change_id}", user="mona")
    stack.drain()
    body = dead_letter(sim, number)
    assert "force" not in body, body
    assert f"New commits were pushed to `feature` since the fix was computed: it moved from `{old[:7]}` to `{new[:7]}`." in body, body
    assert "**Apply fixes**" in body and "`/shunter review` runs the stage again" in body, body
    assert sim.pull(REPO, number).head_sha == new


def _quoted_lines(body: str) -> list[list[tuple[str, str]]]:
    """Each paragraph in the reply's block quotes, as (token type, content) of its inline
    children, by markdown-it (CommonMark), as GitHub would read the reply."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(body)
    depth, found = 0, []
    for token in tokens:
        depth += {"blockquote_open": 1, "blockquote_close": -1}.get(token.type, 0)
        if depth and token.type == "inline":
            found.append([(c.type, c.content) for c in token.children or []])
    return found


def test_a_conflict_on_a_file_named_like_a_mention_quotes_it_as_code_and_pings_no_one(stack):
    """The conflict list was quoted raw after one ``> ``: a file under ``@octo/`` named the
    team ``@octo/team`` in the reply (GitHub notifies its members)."""
    name = "@octo/team.py"
    number = open_pr(stack, files={name: "import os\nimport sys\n\n\ndef add(a, b):\n    return a + b\n"})
    sim = stack.sim
    sim.comment(REPO, number, "/shunter apply", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))  # queued; the merge job has not run yet
    sim.commit(REPO, "feature", {name: SAME_LINES["app.py"]}, author="alice")
    stack.drain()
    body = dead_letter(sim, number)
    assert "@octo/team" not in body, body  # the word joiner after "@" keeps it from pinging
    conflict = [p for p in _quoted_lines(body) if any("conflict on" in text for _, text in p)]
    assert conflict, body
    for paragraph in conflict:  # every piece of the quoted detail is code, nothing rendered
        assert {kind for kind, _ in paragraph} <= {"code_inline", "softbreak"}, paragraph


def test_every_line_of_a_multi_line_detail_is_quoted_as_code():
    """Only the first line of a git error got the ``> ``: the rest ran on as the reply's
    own Markdown (a ``# `` line became a heading, a fence swallowed the retry advice)."""
    from bot.changes import DeadLetter
    from bot.changes.model import ChangeRequest
    from bot.changes.replies import dead_letter_reply
    from bot.models import FileDiff, PatchDraft, StageName

    draft = PatchDraft(stage=StageName.REVIEW, title="t", files=[FileDiff(path="a.py", diff="")])
    cr = ChangeRequest.from_draft(draft, repo=REPO, branch="feature", head_sha="a" * 40, requester="alice")
    detail = "push failed:\n# fatal: refused by @octo/team\n\n```\n> hint: __init__ <!-- x -->"
    body = dead_letter_reply(DeadLetter(cr, "push_rejected", detail))
    [quoted] = _quoted_lines(body)
    codes = [text for kind, text in quoted if kind == "code_inline"]
    assert [kind for kind, _ in quoted if kind != "code_inline"] == ["softbreak"] * 3, quoted
    assert codes == ["push failed:", "# fatal: refused by @\u2060octo/team", "```", "> hint: __init__ <!\u200b-- x -->"]
    assert body.endswith(f"ask an operator to run `shunter queue retry {cr.id}`."), body
