"""One way of neutralising a mention, whichever helper escapes the text."""

from __future__ import annotations

from bot.publishing.markdown import cell, plain
from bot.wording import prose_text, typed_code

WORD_JOINER = "\u2060"


def test_a_mention_after_a_lone_backtick_pings_no_one_in_any_helper() -> None:
    """A backtick that opens no code span is shown as text, and GitHub links the mention
    after it: the publishing helpers skipped an ``@`` right after a backtick."""
    text = "see x`@octo/team and @alice, mail a@b.c"
    for shown in (cell(text), plain(text), prose_text(text), typed_code(text)):
        assert "@octo/team" not in shown and "@alice" not in shown, shown
        assert f"@{WORD_JOINER}octo/team" in shown and f"@{WORD_JOINER}alice" in shown, shown
        assert "\u200b" not in shown.replace("<!\u200b--", ""), shown  # one character for mentions
        assert "a@b.c" in shown, shown  # an e-mail address is no mention
