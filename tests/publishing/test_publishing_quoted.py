"""Multi-line text Shunter did not write (a finding's message, a model's answer), quoted by
:func:`bot.wording.markdown_block`, parsed as GitHub's CommonMark parser would, with a line
of Shunter's after it; and file names holding bidirectional controls."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from bot.wording import markdown_block, path_code, shown_path

AFTER = "Shunter's own line."
HOSTILE = [
    "see [docs](https://evil.example) and ![x](https://evil.example/p.png)",
    "<details><summary>more",
    "<img src=x onerror=alert(1)>",
    "```\nunclosed fence",
    "~~~~py\nx = 1\n```\nstill inside",
    "Fixes #12 and octo/other#3 and GH-4",
    "<!-- shunter:summary -->",
    "    indented <b>",
    "`[not](a link)` but [this](is)",
]


def _tokens(body: str) -> list:
    blocks = MarkdownIt("commonmark").parse(body)
    return blocks + [c for t in blocks if t.type == "inline" for c in t.children or []]


@pytest.mark.parametrize("text", HOSTILE)
def test_quoted_text_adds_no_markup_and_leaves_the_next_line_alone(text: str) -> None:
    tokens = _tokens(markdown_block(text) + "\n\n" + AFTER)
    live = [t.content or t.type for t in tokens if t.type in ("html_inline", "html_block", "link_open", "image")]
    assert live == [], tokens
    assert [t for t in tokens if t.type == "inline" and t.content == AFTER], tokens  # not fenced in
    assert "<!-- shunter:" not in markdown_block(text)  # no marker a search of bodies would find
    for number in ("#12", "#3", "GH-4"):  # shown, with a word joiner GitHub links none of
        assert number not in markdown_block(text)


def test_code_in_quoted_text_stays_code_as_written() -> None:
    """A fenced block is left as written: GitHub pings no one from it, and a copied line works."""
    text = "Call `run(x)` here:\n\n```python\n@decorator\nif a < b and c & d:\n```\n"
    tokens = _tokens(markdown_block(text))
    assert [t.content for t in tokens if t.type == "fence"] == ["@decorator\nif a < b and c & d:\n"]
    assert [t.content for t in tokens if t.type == "code_inline"] == ["run(x)"]


def test_a_right_to_left_override_in_a_file_name_is_quoted_as_git_does() -> None:
    """Raw, U+202E showed reviewers ``evil\\u202egnp.py`` as ``evilyp.png``."""
    name = "src/evil\u202egnp.py"
    assert shown_path(name) == '"src/evil\\342\\200\\256gnp.py"'
    assert "\u202e" not in path_code(name, suffix=":3")
    assert shown_path("src/café.py") == "src/café.py"  # other non-ASCII reads as it is
