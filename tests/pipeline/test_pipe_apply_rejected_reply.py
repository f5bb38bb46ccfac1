"""The ``/shunter apply`` reply for a change validation rejects.

Two defects, one pull request: a file named ``@octo/team\\`queued`.py`` (a backslash, so
validation refuses the fix as ``path_backslash``). The refusal echoed the name raw
(``path '@octo/team\\`queued`.py' contains a backslash``): it pinged the team and its
backticks broke the reply's Markdown. And the reply told good news from bad by the words
in each line, so the word "queued" in the file's name made the refusal a success: the
command got a rocket instead of a confused reaction. Through the simulator, the real
workers, real git, ruff and real Redis.
"""

from __future__ import annotations

from markdown_it import MarkdownIt

from bot.errors import ChangeRejected
from tests.pipeline.test_pipe_apply import REPO, open_pr, replies

HOSTILE = "@octo/team\\`queued`.py"
"""A file ruff has fixes for, whose name validation refuses (a backslash), naming a team,
holding backticks and the word "queued"."""
FILES = {HOSTILE: "import os\nimport sys\n\n\ndef f():\n    return 1\n"}


def _runs(body: str) -> list[list[tuple[str, str]]]:
    """Each inline run of ``body`` as (token type, content) of its children, as GitHub's
    CommonMark reads it."""
    return [
        [(c.type, c.content) for c in token.children or []]
        for token in MarkdownIt("commonmark").parse(body)
        if token.type == "inline"
    ]


def _apply_hostile_fix(stack) -> tuple[str, list[str]]:
    """``/shunter apply`` on the pull request: the reply, and the command's reactions."""
    number = open_pr(stack, files=FILES)
    sim = stack.sim
    head = sim.pull(REPO, number).head_sha
    comment_id = sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    assert sim.ref(REPO, "feature") == head  # nothing was pushed
    comment = next(c for c in sim.comments(REPO, number) if c.id == comment_id)
    return replies(sim, number)[-1].body, [r.content for r in comment.reactions]


def test_a_rejected_fix_names_its_hostile_file_as_one_code_span_that_pings_no_one(stack):
    body, _ = _apply_hostile_fix(stack)
    [run] = [r for r in _runs(body) if any("rejected (path_backslash)" in text for _, text in r)]
    # the name is one code span holding it whole, its @ made inert; nothing outside code
    # can ping the team or render
    assert ("code_inline", HOSTILE.replace("@", "@\u2060")) in run, run
    assert not [text for kind, text in run if "@octo" in text and kind != "code_inline"], run
    assert {kind for kind, _ in run} <= {"text", "strong_open", "strong_close", "code_inline"}, run


def test_a_rejection_naming_a_file_queued_gets_a_confused_reaction(stack):
    body, reactions = _apply_hostile_fix(stack)
    assert "rejected (path_backslash)" in body and "queued" in body, body
    assert reactions == ["eyes", "confused"], body


def test_the_plain_message_quotes_the_authors_values_and_the_reply_shows_them_as_code():
    """Logs and the audit log read ``str()``; the reply puts each value through a helper."""
    from bot.pipeline.patches import authored_code

    exc = ChangeRejected(
        "bad_mode", "{path}: file mode {mode} is not allowed", values={"path": "a\nb.py", "mode": "1"}
    )
    assert str(exc) == "'a\\nb.py': file mode '1' is not allowed"
    assert exc.shown(authored_code) == '`"a\\nb.py"`: file mode `1` is not allowed'
    no_values = ChangeRejected("empty_change", "a {literal} brace", hint="do x")
    assert str(no_values) == no_values.shown(authored_code) == "a {literal} brace (do x)"
