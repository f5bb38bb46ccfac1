"""``/shunter queue`` lists the changes proposed on this pull request that the merge queue
holds, wherever they land: the PR's branch, Shunter's follow-up branch
(``push_to: pull_request``) or a fork; never another pull request's. Through the
simulator, the real workers and real Redis."""

from __future__ import annotations

from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_fork_pr, open_pr, replies


def queued_then_listed(stack, number: int, user: str = "alice") -> str:
    """``/shunter apply`` queues the fixes (the merge job has not run yet), then
    ``/shunter queue`` answers; returns that answer."""
    sim = stack.sim
    sim.comment(REPO, number, "/shunter apply", user=user)
    sim.wait_for_deliveries()
    stack.work(("events",))
    assert "queued for" in replies(sim, number)[-1].body
    sim.comment(REPO, number, "/shunter queue", user=user)
    sim.wait_for_deliveries()
    stack.work(("events",))
    return replies(sim, number)[-1].body


def test_queue_lists_a_change_waiting_for_the_prs_branch(stack):
    number = open_pr(stack)
    body = queued_then_listed(stack, number)
    assert "| `feature` | waiting |" in body, body


def test_queue_lists_a_change_waiting_for_the_follow_up_branch(stack):
    number = open_pr(stack, config=ON_COMMAND + "  push_to: pull_request\n")
    body = queued_then_listed(stack, number)
    assert "holds none" not in body, body
    assert "| `shunter/feature-fixes` | waiting |" in body, body


def test_queue_lists_a_change_waiting_for_a_fork_and_not_another_prs(stack):
    sim, _, number = open_fork_pr(stack, "carol", maintainer_can_modify=True)
    body = queued_then_listed(stack, number, user="mona")
    assert "holds none" not in body, body
    assert "| `feature` | waiting |" in body, body
    [change_id] = [line.split("`")[1] for line in body.splitlines() if "| waiting |" in line]
    # a pull request of the base repository from its own `feature` branch lists nothing of it
    sim.set_permission(REPO, "alice", "write")
    sim.commit(
        REPO, "feature", {"app.py": "import re\n\n\ndef add(a, b):\n    return a + b\n"}, author="alice"
    )
    other = sim.open_pull_request(REPO, "feature", title="same branch name", user="alice")
    stack.drain()
    sim.comment(REPO, other, "/shunter queue", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))
    answer = replies(sim, other)[-1].body
    assert change_id not in answer and "holds none of the changes proposed on this pull request" in answer, (
        answer
    )


HOSTILE = "net|x @octo/team `b` *c* <!-- d -->.py"
"""A file whose security fix's title ("Security fixes in <path>: ...") names it."""


def _table_rows(body: str) -> list[list[list[tuple[str, str]]]]:
    """The body rows of the reply's table as markdown-it (CommonMark with GFM tables) reads
    them: per row, per cell, the (token type, content) of the cell's inline children."""
    from markdown_it import MarkdownIt

    rows: list[list[list[tuple[str, str]]]] = []
    in_body = False
    for token in MarkdownIt("commonmark").enable("table").parse(body):
        in_body = {"tbody_open": True, "tbody_close": False}.get(token.type, in_body)
        if in_body and token.type == "tr_open":
            rows.append([])
        elif in_body and token.type == "inline":
            rows[-1].append([(c.type, c.content) for c in token.children or []])
    return rows


def test_queue_shows_a_title_naming_a_hostile_file_in_its_own_cell_as_plain_text(stack):
    """The title went into the table raw: the ``|`` in the file's name split the row into
    seven cells, the backticks and stars rendered and ``@octo/team`` pinged the team."""
    files = {HOSTILE: "import requests\n\n\ndef get(url):\n    return requests.get(url, verify=False)\n"}
    number = open_pr(stack, config=ON_COMMAND + "    security: on_command\n", files=files)
    sim = stack.sim
    sim.comment(REPO, number, "/shunter apply security", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))  # queued; the merge job has not run yet
    sim.comment(REPO, number, "/shunter queue", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))
    body = replies(sim, number)[-1].body
    [row] = _table_rows(body)
    assert len(row) == 6, row
    [(kind, title)] = row[1]
    assert kind == "text", row[1]
    shown = HOSTILE.replace("@", "@\u2060").replace("<!--", "<!\u200b--")  # no forged marker
    assert title.startswith(f"Security fixes in {shown}:"), title
    assert row[2] == [("code_inline", "feature")] and row[3] == [("text", "waiting")], row


def test_a_table_cell_holds_any_title_as_one_line_of_plain_text():
    """Line breaks end a table; each kind of markup a title could carry stays text."""
    from bot.wording import prose_text

    titles = ["a\nb", "x | y", "`code`", "**bold** _it_ ~~s~~", "[l](http://e)", "![i](x)",
              "<b>h</b> &amp;", "a \\| b \\", "@octo/team", "# h", "  ", "é" * 200]
    body = "| n | title |\n|---|---|\n" + "\n".join(f"| {i} | {prose_text(t)} |" for i, t in enumerate(titles))
    rows = _table_rows(body)
    assert len(rows) == len(titles)
    for row, title in zip(rows, titles, strict=True):
        assert len(row) == 2, (title, row)
        kinds = {kind for kind, _ in row[1]}
        assert kinds <= {"text"}, (title, row)
        shown = "".join(text for _, text in row[1])
        expected = " ".join(title.split("\n")).strip().replace("@", "@\u2060")
        if len(expected) > 120:
            expected = expected[:119] + "…"
        assert shown == expected, (title, shown)
