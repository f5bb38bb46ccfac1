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
    assert parse_comment("/shunter\u00a0pause").empty  # a no-break space is not a separator
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
