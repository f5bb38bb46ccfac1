"""A change's title names files of the pull request ("Security fixes in <path>: ..."), and
the replies echoed it raw into their Markdown: the ``/shunter apply`` reply's
``**{title}**`` pinged ``@octo/team`` for a file named after it and rendered its backticks
and stars, and so did the landing reply's ``- {title}``, the dead-letter reply and the
``/shunter approve`` reply's ``({title})``; the waiting reply named the protected file raw
too. Each now shows the title as plain text on one line (``bot.wording.prose_text``), and
a file a guardrail names as code. Through the simulator, the real workers and real Redis."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from bot.wording import prose_text
from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_pr, replies, waiting_change

HOSTILE = "net|x @octo/team `b` *c* <!-- d -->.py"
"""A file whose security fix's title names it."""
FILES = {HOSTILE: "import requests\n\n\ndef get(url):\n    return requests.get(url, verify=False)\n"}
SECURITY = ON_COMMAND + "    security: on_command\n"


def _inlines(body: str) -> list[list[tuple[str, str]]]:
    """Each inline run of the reply (a paragraph, a list item) as (token type, content) of
    its children, by markdown-it (CommonMark), as GitHub would read the reply."""
    return [
        [(c.type, c.content) for c in token.children or []]
        for token in MarkdownIt("commonmark").parse(body)
        if token.type == "inline"
    ]


def _assert_title_is_text(body: str, marker: str) -> None:
    """Each run holding ``marker`` shows the title, file name and all, whole in one text
    piece (so nothing in it became code, HTML, a link or emphasis), and no ``@octo/team``
    to ping anywhere outside code (the guardrail a file crossed is named as code); ``<!--``
    is broken up, so no reply holds a forged marker."""
    runs = _inlines(body)
    assert not [r for r in runs for kind, text in r if "@octo/team" in text and kind != "code_inline"], body
    assert not [r for r in runs for kind, _ in r if kind == "html_inline"], body
    found = [r for r in runs if any(marker in text for _, text in r)]
    assert found, body
    hostile = HOSTILE.replace("@", "@\u2060").replace("<!--", "<!\u200b--")
    for run in found:
        assert any(hostile in text for kind, text in run if kind == "text"), run
        assert not {kind for kind, _ in run} & {"em_open", "link_open"}, run


def test_the_apply_and_landing_replies_show_a_hostile_files_title_as_text(stack):
    number = open_pr(stack, config=SECURITY, files=FILES)
    sim = stack.sim
    sim.comment(REPO, number, "/shunter apply security", user="alice")
    sim.wait_for_deliveries()
    stack.work(("events",))  # queued; the merge job has not run yet
    queued = replies(sim, number)[-1].body
    _assert_title_is_text(queued, "queued for")
    stack.drain()  # the merge job lands it and edits the reply
    landed = [r.body for r in replies(sim, number) if "Shunter pushed" in r.body]
    assert landed, [r.body for r in replies(sim, number)]
    _assert_title_is_text(landed[-1], "Security fixes in")


def test_the_approve_reply_shows_a_hostile_files_title_as_text(stack):
    number = open_pr(stack, config=SECURITY + "  protected_paths: ['net*/**']\n", files=FILES)
    body, change_id = waiting_change(stack, number, "/shunter apply security")
    _assert_title_is_text(body, "waits for approval")
    stack.sim.comment(REPO, number, f"/shunter approve {change_id}", user="mona")
    stack.sim.wait_for_deliveries()
    stack.work(("events",))
    approved = replies(stack.sim, number)[-1].body
    assert f"Approved `{change_id}`" in approved, approved
    _assert_title_is_text(approved, "Approved")


def test_the_dead_letter_reply_shows_a_hostile_title_as_text():
    from bot.changes import DeadLetter
    from bot.changes.model import ChangeRequest
    from bot.changes.replies import dead_letter_reply
    from bot.models import FileDiff, PatchDraft, StageName

    draft = PatchDraft(stage=StageName.SECURITY, title=f"Security fixes in {HOSTILE}: 1 fix",
                       files=[FileDiff(path="a.py", diff="")])
    cr = ChangeRequest.from_draft(draft, repo=REPO, branch="feature", head_sha="a" * 40, requester="alice")
    _assert_title_is_text(dead_letter_reply(DeadLetter(cr, "push_rejected", "no")), "could not apply")


PROSE = ["a\nb", "x | y", "`code`", "**bold** _it_ ~~s~~", "[l](http://e)", "![i](x)",
         "<b>h</b> &amp;", "a \\| b \\", "@octo/team", "# h", "- item", "1. one", "2) two",
         "+ plus", "> quote", "---", "=== x", "$x^2$", "é" * 200]


@pytest.mark.parametrize("title", PROSE)
@pytest.mark.parametrize("template", ["- {}", "x **{}** y", "{}", "Approved `c` ({}); ok"])
def test_prose_text_is_one_line_of_plain_text_in_a_list_item_bold_or_a_paragraph(title, template):
    body = template.format(prose_text(title)) + "\n- next\n"
    tokens = MarkdownIt("commonmark").parse(body)
    kinds = {t.type for t in tokens}
    assert not kinds & {"heading_open", "blockquote_open", "hr", "ordered_list_open", "fence"}, (title, body)
    assert sum(t.type == "list_item_open" for t in tokens) == template.startswith("- ") + 1, (title, body)
    [run] = [r for r in _inlines(body) if r != [("text", "next")]]
    assert {kind for kind, _ in run} <= {"text", "strong_open", "strong_close", "code_inline"}, (title, run)
    shown = "".join(text for kind, text in run if kind == "text").replace("\u2060", "")
    expected = " ".join(title.split("\n")).strip()
    if len(expected) > 120:
        expected = expected[:119] + "…"
    assert expected in shown, (title, shown)
