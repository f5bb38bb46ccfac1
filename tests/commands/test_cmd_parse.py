"""Command parsing: the edge cases people actually type."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.commands.parse import VERBS, parse_comment


def verbs(body: str, **kw) -> list[tuple[str, tuple[str, ...]]]:
    return [(c.verb, c.args) for c in parse_comment(body, **kw).commands]


def test_single_and_several_commands():
    assert verbs("/shunter review") == [("review", ())]
    body = "Thanks!\n/shunter apply security\n/shunter dismiss abc123 false positive\n"
    assert verbs(body) == [("apply", ("security",)), ("dismiss", ("abc123", "false", "positive"))]


def test_bare_shunter_means_help_and_case_is_folded():
    assert verbs("/shunter") == [("help", ())]
    assert verbs("/Shunter REVIEW") == [("review", ())]


def test_flags_are_separated():
    cmd = parse_comment("/shunter security --full").commands[0]
    assert cmd.flags == frozenset({"full"}) and cmd.args == ()


def test_code_blocks_and_quotes_are_ignored():
    body = "\n".join([
        "```",
        "/shunter apply",
        "```",
        "~~~~",
        "/shunter pause",
        "~~~~",
        "> /shunter approve 42",
        ">> /shunter resume",
        "    /shunter tests",
        "inline `/shunter review` mention",
        "/shunter help",
    ])
    assert verbs(body) == [("help", ())]


def test_fences_close_as_commonmark_says():
    # a longer fence is closed only by one at least as long: the ``` example inside is code
    assert verbs("````markdown\nTo approve:\n```\n/shunter approve 1234abcd\n```\n````\n/shunter help") == [
        ("help", ())
    ]
    # a line with an info string is content, never a closing fence
    assert verbs("```\nfoo\n```python\n/shunter pause\n```\n/shunter help") == [("help", ())]
    # only the opening character closes: ``` inside a ~~~ block and ~~~ inside ``` are content
    assert verbs("~~~\n```\n/shunter pause\n~~~\n/shunter help") == [("help", ())]
    assert verbs("```\n~~~\n/shunter pause\n```\n/shunter help") == [("help", ())]
    # up to three spaces of indent, on the opening and the closing fence; trailing blanks are fine
    assert verbs("   ~~~~\n/shunter pause\n  ~~~~~  \n/shunter help") == [("help", ())]
    # four spaces make indented code, not a closing fence
    assert verbs("```\n    ```\n/shunter pause\n```\n/shunter help") == [("help", ())]
    # backticks in a backtick info string make inline code, not a fence
    assert verbs("```x``` is inline\n/shunter help") == [("help", ())]


def test_unclosed_fence_swallows_the_rest():
    assert verbs("```python\n/shunter apply\n") == []


def test_unknown_verbs_suggest_the_closest():
    parsed = parse_comment("/shunter reveiw\n/shunter frobnicate")
    assert [(u.verb, u.suggestion) for u in parsed.unknown] == [("reveiw", "review"), ("frobnicate", None)]
    assert parsed.commands == []


def test_aliases_only_when_enabled():
    assert verbs("/review") == []
    assert verbs("/review\n/apply tests\n/reviewer", aliases=True) == [("review", ()), ("apply", ("tests",))]


def test_mentions_mid_line_do_not_count():
    assert verbs("please run /shunter review later") == []


def test_unicode_and_huge_comments():
    body = "🚂 " * 20000 + "\n/shunter résumé\n/shunter help\n" + "x" * 60000
    parsed = parse_comment(body)
    assert [c.verb for c in parsed.commands] == ["help"]
    assert parsed.unknown[0].verb == "résumé"


def test_command_count_is_capped():
    parsed = parse_comment("\n".join(["/shunter help"] * 50))
    assert len(parsed.commands) == 10 and parsed.truncated


def test_signature_ignores_non_command_edits():
    a = parse_comment("/shunter review\nhello")
    b = parse_comment("/shunter review\nhello, edited typo")
    c = parse_comment("/shunter security")
    assert a.signature() == b.signature() != c.signature()


@given(st.text(max_size=500))
def test_parser_never_crashes_and_only_returns_known_verbs(body):
    parsed = parse_comment(body, aliases=True)
    assert all(c.verb in VERBS for c in parsed.commands)
    assert len(parsed.commands) + len(parsed.unknown) <= 10


def test_a_tab_separates_the_verb_and_look_alikes_are_not_commands():
    assert [(c.verb, c.args) for c in parse_comment("/shunter apply\treview").commands] == [("apply", ("review",))]
    assert parse_comment("/\u017fhunter pause").empty  # a long s folds to "s" under Unicode rules
    assert parse_comment("/shunter\x1fpause").empty  # a control character is not a separator
    assert [c.verb for c in parse_comment("/SHUNTER PAUSE").commands] == ["pause"]


def test_commands_in_html_comments_are_hidden_so_they_do_not_run():
    body = "<!-- /shunter approve cr-1 -->\n<!--\n/shunter pause\n-->\n/shunter review\nx <!-- a --> y\n"
    assert verbs(body) == [("review", ())]
    assert verbs("<!-- note --> /shunter security") == [("security", ())]  # shown after the comment
    assert verbs("```\n<!--\n```\n/shunter tests\n") == [("tests", ())]  # literal text in code


def test_options_a_verb_does_not_take_are_named_with_the_closest():
    assert parse_comment("/shunter security --full").commands[0].unknown_flags() == []
    assert parse_comment("/shunter review --ful").commands[0].unknown_flags() == [("ful", "full")]
    assert parse_comment("/shunter pause --force").commands[0].unknown_flags() == [("force", None)]


def test_words_past_what_a_verb_reads_are_split_off_not_lost():
    pause, approve, dismiss = parse_comment(
        "/shunter pause now\n/shunter approve abc123 please\n/shunter dismiss abc123 false positive"
    ).commands
    assert [(c.args, ignored) for c, ignored in (pause.split_ignored(), approve.split_ignored())] == [
        ((), ("now",)),
        (("abc123",), ("please",)),
    ]
    assert dismiss.split_ignored() == (dismiss, ())  # a reason is free text


def test_near_misses_suggest_the_command_meant():
    body = "/shunter run review\n/shunter please apply security\n/shunter unpause\n/shunter reveiw --full\n/shunter --help"
    assert [u.suggestion for u in parse_comment(body).unknown] == [
        "review", "apply security", "resume", "review --full", "help"
    ]


def test_usage_lists_each_form_of_a_required_choice_and_keeps_optional_ones_whole():
    from bot.commands.parse import COMMANDS

    assert COMMANDS["dismiss"].forms("dismiss") == [
        "/shunter dismiss <finding id> [reason]",
        "/shunter dismiss all-<stage> [reason]",
    ]
    assert COMMANDS["apply"].forms("apply") == ["/shunter apply [all|review|security|tests|<finding id>...]"]
    assert COMMANDS["review"].forms("review") == ["/shunter review [--full]"]
    usage = COMMANDS["approve"].usage("approve")
    assert usage.startswith("`/shunter approve` did nothing") and COMMANDS["approve"].summary in usage


# Comment bodies shaped as GitHub delivers them: the web UI sends CRLF, "Quote reply" prefixes
# "> ", e-mailed replies carry the mail they answer below an attribution line.
MAILED_GMAIL = (
    "/shunter apply security\r\n\r\n"
    "On Mon, Nov 16, 2026 at 10:02 AM Alice <notifications@github.com> wrote:\r\n\r\n"
    "> /shunter pause\r\n>\r\n> —\r\n> Reply to this email directly, view it on GitHub\r\n"
)
MAILED_WRAPPED_ATTRIBUTION = (  # the mail client wrapped the attribution and quoted nothing
    "Sounds right.\n/shunter review\n\n"
    "On Fri, Oct 19, 2026, 20:03 Peter Zhao <notifications@github.com>\nwrote:\n\n"
    "/shunter approve cr-7\n"
)
MAILED_OUTLOOK = (  # Outlook puts the mail it answers below a header block, unquoted
    "Thanks, looks good\r\n/shunter config\r\n\r\n"
    "________________________________\r\n"
    "From: Alice <notifications@github.com>\r\n"
    "Sent: Monday, November 16, 2026 10:02 AM\r\n"
    "To: octo/demo <demo@noreply.github.com>\r\n"
    "Subject: Re: [octo/demo] Change (PR #1)\r\n\r\n"
    "/shunter pause\r\n\r\n—\r\nReply to this email directly, view it on GitHub\r\n"
)


def test_quoted_and_code_commands_in_comments_shaped_as_github_sends_them_do_not_run():
    quote_reply = "> /shunter apply\r\n\r\nAgreed, but let's wait for CI first.\r\n"
    nested = "> > /shunter apply\r\n> I'd rather not.\r\n\r\n/shunter help\r\n"
    fenced = "Run this:\r\n\r\n```console\r\n/shunter apply\r\n```\r\n\r\n~~~ text\r\n/shunter pause\r\n~~~\r\n"
    in_list = "1. first\r\n   ```\r\n   /shunter apply\r\n   ```\r\n2. then `/shunter review`\r\n"
    details = "<details>\r\n<summary>log</summary>\r\n\r\n```\r\n/shunter pause\r\n```\r\n</details>\r\n"
    assert verbs(quote_reply) == verbs(fenced) == verbs(in_list) == verbs(details) == []
    assert verbs(nested) == [("help", ())]
    assert verbs("/shunter apply\r\nThis looks right to me, thanks!\r\n") == [("apply", ())]


def test_a_mailed_reply_runs_only_what_was_written_above_the_mail_it_answers():
    assert verbs(MAILED_GMAIL) == [("apply", ("security",))]
    assert verbs(MAILED_WRAPPED_ATTRIBUTION) == [("review", ())]
    assert verbs(MAILED_OUTLOOK) == [("config", ())]
    assert verbs(MAILED_OUTLOOK.replace("From:", "Von:").replace("Sent:", "Gesendet:")) == [("config", ())]
    # a person writing about the address is no mail header
    for prose in ("mail from notifications@github.com lands in spam", "Note: <notifications@github.com> is muted"):
        assert verbs(f"{prose}\n/shunter pause") == [("pause", ())], prose


def test_an_html_comment_opener_github_shows_as_text_hides_nothing():
    assert verbs("Use `<!--` to start a comment\n/shunter apply") == [("apply", ())]  # in code
    assert verbs("Write <!-- like this\n\n/shunter apply") == [("apply", ())]  # never closed
    assert verbs("x <!-- y --> <!-- z\n/shunter pause\n\n/shunter help") == [("pause", ()), ("help", ())]
    # closed within the paragraph, it is a comment GitHub does not show
    assert verbs("text <!-- note\n/shunter pause\n--> more\n/shunter help") == [("help", ())]


def test_pre_blocks_are_code_and_script_or_style_never_shows():
    body = "<pre>\n/shunter pause\n</pre>\n<PRE class=x>/shunter pause\n/shunter pause</pre>\n/shunter help"
    assert verbs(body) == [("help", ())]
    assert verbs("<style>\n/shunter pause\n</style>\n/shunter help") == [("help", ())]


def test_spaces_github_shows_as_spaces_separate_and_invisible_characters_are_not_there():
    for body in ("/shunter\u00a0pause", "/shunter\u202fpause", "/shunter\u3000pause", "\u200b/shunter pause",
                 "\ufeff/shunter pause", "/shunter pause\u200b", "/shu\u200bnter pa\u2060use", "\uff0fshunter pause"):
        assert verbs(body) == [("pause", ())], repr(body)
    assert parse_comment("/shunter pause\u200b").commands[0].raw == "/shunter pause"


def test_sentence_punctuation_after_the_verb_does_not_make_it_unknown():
    assert verbs("/shunter apply.") == [("apply", ())]
    assert verbs("/Shunter Review!") == [("review", ())]
    assert verbs("/shunter help?\n/shunter pause, then we talk") == [("help", ()), ("pause", ("then", "we", "talk"))]
    assert [(u.verb, u.suggestion) for u in parse_comment("/shunter reveiw.").unknown] == [("reveiw.", "review")]


def test_only_the_line_endings_github_knows_start_a_line():
    # U+2028, NEL and form feed are no line break in Markdown: the command stays mid-line
    for sep in ("\u2028", "\x85", "\x0c", "\x1e"):
        assert verbs(f"please run{sep}/shunter pause") == [], repr(sep)
    assert verbs("old Mac line ends\r/shunter pause\r") == [("pause", ())]


def test_an_edit_asks_only_for_the_commands_it_added():
    earlier = parse_comment("/shunter review\n/shunter reveiw\n/shunter pause")
    later = parse_comment("/shunter review\n/shunter pause\n/shunter pause\n/shunter config\n/shunter reveiw")
    added, kept = later.added_since(earlier)
    assert [c.text for c in added.commands] == ["/shunter pause", "/shunter config"]
    assert added.unknown == [] and kept == ["/shunter review", "/shunter pause"]
    nothing, _ = parse_comment("/shunter review").added_since(earlier)
    assert nothing.empty
