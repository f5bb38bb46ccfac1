"""What someone typed, echoed in a reply: one code span whatever it holds, and no pings."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from bot.wording import typed_code

HOSTILE = [
    "/shunter x`hi`",
    "ab`cdef`gh",
    "```triple``` and ``double``",
    "`starts and ends with a backtick`",
    "` `",
    "/shunter dismiss abc @org/team please",
    '<img src=x onerror="alert(1)">',
    "<!-- shunter:reply -->",
    "a\n# heading\n> quote\r\n- item",
    " spaced both ends ",
]


def _inline(text: str) -> list:
    tokens = MarkdownIt("commonmark").parse(f"- said {text} here\n- next\n")
    assert sum(t.type == "list_item_open" for t in tokens) == 2, text  # nothing broke out of the line
    return [c for t in tokens if t.type == "inline" for c in t.children or []]


@pytest.mark.parametrize("typed", HOSTILE)
def test_typed_text_is_one_code_span_holding_what_was_typed(typed: str) -> None:
    children = _inline(typed_code(typed))
    spans = [c.content for c in children if c.type == "code_inline"]
    assert len(spans) == 1, children
    assert not [c for c in children if c.type in ("html_inline", "link_open", "image")]
    shown = spans[0].replace("\u2060", "")
    if "<!--" in typed:  # broken up, so a reply holds no forged marker
        assert "<!--" not in shown and shown.replace("\u200b", "") == typed
    else:
        assert shown == re.sub(r"[\r\n]+", " ", typed)


def test_a_mention_typed_in_a_command_pings_no_one() -> None:
    code = typed_code("/shunter dismiss abc @org/team and @alice")
    assert "@org" not in code and "@alice" not in code
    assert code.replace("\u2060", "") == "`/shunter dismiss abc @org/team and @alice`"


def test_line_breaks_become_spaces_and_long_text_ends_with_an_ellipsis() -> None:
    assert typed_code("one\ntwo\r\n\tthree") == "`one two three`"
    long = typed_code("why " * 100, max_chars=80)
    assert long.startswith("`why why") and long.endswith("…`") and len(long) == 80 + 2
    assert typed_code("abcdef", max_chars=20) == "`abcdef`"


def test_a_landing_reply_shows_a_branch_and_files_with_backticks_in_their_names_whole() -> None:
    from bot.changes import LandingReport
    from bot.changes.replies import landed_reply

    report = LandingReport("o/r", "fix`1", "a" * 40, ["cr-1"], ["we`ird.py", "``x``.py"], 1, 0, "api", None)
    children = _inline(landed_reply(report).replace("\n", " "))
    assert [c.content for c in children if c.type == "code_inline"] == ["fix`1", "cr-1", "we`ird.py", "``x``.py"]
