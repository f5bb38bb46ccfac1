"""Parse ``/shunter <verb> [args]`` commands out of a comment body (pure).

One command per line, several per comment. Lines inside fenced code blocks (``` or ~~~),
``<pre>`` blocks, indented code, quoted replies (``>``), HTML comments and the mail an
e-mailed reply answers are ignored, so quoting someone's command or showing an example
never runs it. What runs is what GitHub shows: a no-break space separates words as a
space does, and zero-width characters are not there. Short aliases (``/review``,
``/apply`` ...) count only when the repository's config enables them. Unknown verbs are
kept as ``UnknownVerb`` with the closest known verb, so the reply can say "did you mean".
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field, replace

MAX_COMMANDS = 10
MAX_LINE = 1000


@dataclass(frozen=True)
class Verb:
    """One command as people see it (help, README) and as the parser takes it: one table, so
    what help shows cannot drift from what runs."""

    summary: str
    args: str = ""
    """The arguments as help shows them, e.g. ``<finding id> [reason]``; empty: none."""
    flags: frozenset[str] = frozenset()
    """The ``--options`` it takes; any other is refused, never silently dropped."""
    max_args: int | None = 0
    """How many words it reads; None: any number (free text such as a reason). Words past
    these are named in the reply as ignored, never dropped silently."""

    def synopsis(self, name: str) -> str:
        """``/shunter name args [--flag]``, exactly as the parser accepts it."""
        options = [f"[--{flag}]" for flag in sorted(self.flags)]
        return " ".join(part for part in ("/shunter", name, self.args, *options) if part)

    def forms(self, name: str) -> list[str]:
        """Each way to write the command: ``<finding id>|all-<stage> [reason]`` is two, one
        per alternative of a required first argument (an optional ``[...]`` one stays one)."""
        required, bracket, optional = self.args.partition("[")
        if "|" not in required:
            return [self.synopsis(name)]
        return [
            replace(self, args=f"{choice.strip()} {bracket}{optional}".strip()).synopsis(name)
            for choice in required.split("|")
        ]

    def usage(self, name: str) -> str:
        """The reply to the command given without what it needs: what it does and each of
        its forms, so the person need not run ``/shunter help`` to find the one they meant."""
        forms = "\n".join(f"- `{form}`" for form in self.forms(name))
        return f"`/shunter {name}` did nothing: it needs an argument. {self.summary}\n\n{forms}"


_FULL = frozenset({"full"})
_FULL_TEXT = " `--full`: every finding, not only new ones on changed lines."
COMMANDS: dict[str, Verb] = {
    "help": Verb("List the commands you may run here."),
    "review": Verb("Run the code-review stage on the current head." + _FULL_TEXT, flags=_FULL),
    "security": Verb("Run the security stage on the current head." + _FULL_TEXT, flags=_FULL),
    "tests": Verb("Run the test-enrichment stage on the current head." + _FULL_TEXT, flags=_FULL),
    "all": Verb("Run every enabled stage on the current head." + _FULL_TEXT, flags=_FULL),
    "apply": Verb(
        "Queue fixes in the merge queue: every stage's by default, or those named.",
        "[all|review|security|tests|<finding id>...]",
        max_args=None,
    ),
    "approve": Verb("Approve a change that touches protected paths.", "<change id>", max_args=1),
    "dismiss": Verb(
        "Hide a finding on this PR; `all-<stage>` hides all of that stage's "
        "(`all-review`, `all-security` or `all-tests`).",
        "<finding id>|all-<stage> [reason]",
        max_args=None,
    ),
    "undismiss": Verb(
        "Show a finding dismissed on this PR again; `all-<stage>` shows all of that stage's "
        "dismissed findings again.",
        "<finding id>|all-<stage> [reason]",
        max_args=None,
    ),
    "retry": Verb("Put a dead-lettered change back in the queue.", "<change id>", max_args=1),
    "pause": Verb("Stop automatic runs on this PR."),
    "resume": Verb("Restart automatic runs on this PR."),
    "queue": Verb("Show what the merge queue holds of this PR's changes, wherever they land."),
    "config": Verb("Show the effective config, with where each value came from."),
    "explain": Verb("Explain why a finding was reported.", "<finding id>", max_args=1),
    "ask": Verb("Ask the LLM engine about this PR (llm engine only).", "<question>", max_args=None),
}
VERBS: dict[str, str] = {name: verb.summary for name, verb in COMMANDS.items()}
ALIASES = {"review": "review", "security": "security", "tests": "tests", "apply": "apply"}
STAGE_VERBS = ("review", "security", "tests", "all")
FLAGS: dict[str, frozenset[str]] = {name: verb.flags for name, verb in COMMANDS.items()}
"""The ``--options`` each verb takes; any other is refused, never silently dropped."""

# CommonMark fences: up to 3 spaces of indent, then 3+ backticks or tildes. An opening
# backtick fence's info string may not contain a backtick; a closing fence is the opening
# character at least as many times, with nothing after it but spaces and tabs.
_FENCE = re.compile(r"^ {0,3}(?P<marker>`{3,}|~{3,})(?P<info>.*)$")
# ASCII: Unicode case folding would take "/\u017fhunter" (long s) for /shunter, and Unicode
# \s control characters (\x1c-\x1f) for spaces, so a command could hide in text that does
# not read as one. The spaces GitHub shows as spaces are made spaces first (``_SHOWN``).
_COMMAND = re.compile(r"^\s{0,3}/shunter(?:\s+(?P<rest>.*))?$", re.IGNORECASE | re.ASCII)
_ALIAS = re.compile(
    r"^\s{0,3}/(?P<verb>review|security|tests|apply)\b(?P<rest>.*)$", re.IGNORECASE | re.ASCII
)


# Markdown ends a line at \n, \r\n or \r only: str.splitlines() also breaks at U+2028, NEL,
# form feed and \x1c-\x1e, which GitHub shows inside a line, and a mention there is no command
_LINE_END = re.compile(r"\r\n|\r|\n")
# What a reader sees: no-break, narrow, ideographic and other Unicode spaces look like a
# space (a Mac's Option+Space types one), zero-width ones and a byte-order mark look like
# nothing (pasted from chat or a word processor), and a full-width solidus (an input method's
# "/") looks like a slash. Left as they are, "/shunter pause" would silently not run.
_SHOWN = {
    **dict.fromkeys(range(0x2000, 0x200B), " "),
    **dict.fromkeys(map(ord, "\u00a0\u1680\u202f\u205f\u3000"), " "),
    **dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff")),
    ord("\uff0f"): "/",
}
_SENTENCE_END = ".,;:!?"
"""Punctuation a sentence puts after a word: ``/shunter apply.`` asks for ``apply``."""
# CommonMark HTML blocks of type 1: their lines are raw up to the line holding the closing
# tag. <pre> shows them as code; GitHub removes <script>, <style> and <textarea> altogether.
_RAW_BLOCK = re.compile(r"^ {0,3}<(?P<tag>pre|script|style|textarea)(?:[\s>]|$)", re.IGNORECASE)
_HTML_COMMENT_BLOCK = re.compile(r"^ {0,3}<!--")
# The mail an e-mailed reply answers: GitHub's notifications come from this address, so the
# attribution line ("On ..., Alice <notifications@github.com> wrote:", which a client may
# wrap) or Outlook's header block ("From: Alice <notifications@github.com>", then "Sent: ...")
# names it, and what follows is the mail, quoted with ">" or not quoted at all.
_NOTIFICATIONS = re.compile(r"(?:<|\[|mailto:)notifications@github\.com\b", re.IGNORECASE)
_HEADER = re.compile(r"^\W{0,2}[^\W\d_][\w -]{0,30}:\W{0,2}\s")
_COLONS = (":", "\uff1a")


def _mail_starts(line: str, following: str) -> bool:
    """Whether ``line`` introduces the GitHub notification an e-mailed reply answers."""
    if _NOTIFICATIONS.search(line) is None:
        return False
    text, after = line.strip(), following.strip()
    if _HEADER.match(text) and _HEADER.match(after):
        return True  # "From: ..." and the next header of the block
    return text.endswith(_COLONS) or after.endswith(_COLONS)  # "... wrote:"


@dataclass(frozen=True)
class Command:
    verb: str
    args: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    line: int = 0
    raw: str = ""

    @property
    def text(self) -> str:
        return " ".join(("/shunter", self.verb, *self.args, *sorted(f"--{f}" for f in self.flags)))

    def split_ignored(self) -> tuple[Command, tuple[str, ...]]:
        """This command with only the words its verb reads, and the words past those."""
        limit = COMMANDS[self.verb].max_args if self.verb in COMMANDS else None
        if limit is None or len(self.args) <= limit:
            return self, ()
        return replace(self, args=self.args[:limit]), self.args[limit:]

    def unknown_flags(self) -> list[tuple[str, str | None]]:
        """The options this verb does not take, each with the closest one it does."""
        known = sorted(FLAGS.get(self.verb, frozenset()))
        return [
            (flag, next(iter(difflib.get_close_matches(flag, known, n=1, cutoff=0.6)), None))
            for flag in sorted(self.flags)
            if flag not in known
        ]


@dataclass(frozen=True)
class UnknownVerb:
    verb: str
    suggestion: str | None
    """What the line most likely meant, as the text after ``/shunter`` (verb and words)."""
    line: int = 0
    raw: str = ""


@dataclass
class Parsed:
    commands: list[Command] = field(default_factory=list)
    unknown: list[UnknownVerb] = field(default_factory=list)
    truncated: bool = False
    too_long: list[tuple[int, int]] = field(default_factory=list)
    """Command lines longer than ``MAX_LINE``, as (line number, length): not run, but said,
    so a long ``/shunter ask`` question does not vanish without an answer."""

    @property
    def empty(self) -> bool:
        return not self.commands and not self.unknown and not self.too_long

    def signature(self) -> str:
        """A hash of what the comment asks for: an edit that changes nothing runs nothing."""
        lines = [c.text for c in self.commands] + ["?" + u.raw for u in self.unknown]
        lines += [f"!{number}:{length}" for number, length in self.too_long]
        text = "\n".join(lines)
        return hashlib.sha256(text.encode()).hexdigest()

    def added_since(self, earlier: Parsed) -> tuple[Parsed, list[str]]:
        """What this version of an edited comment asks that ``earlier`` did not, and the
        commands both ask for (already run for ``earlier``: they do not run again).

        Counted, not compared as sets: a second ``/shunter review`` added below the first
        is asked for once more. An unknown command already answered is not answered again.
        """
        runs = Counter(c.text for c in earlier.commands)
        added, kept = Parsed(truncated=self.truncated and not earlier.truncated), []
        for command in self.commands:
            if runs[command.text] > 0:
                runs[command.text] -= 1
                kept.append(command.text)
            else:
                added.commands.append(command)
        said = Counter(u.raw for u in earlier.unknown)
        for unknown in self.unknown:
            if said[unknown.raw] > 0:
                said[unknown.raw] -= 1
            else:
                added.unknown.append(unknown)
        added.too_long = [long for long in self.too_long if long not in earlier.too_long]
        return added, kept


def closest_verb(word: str) -> str | None:
    matches = difflib.get_close_matches(word.lower().lstrip("-"), list(VERBS), n=1, cutoff=0.6)
    return matches[0] if matches else None


_MEANT = {
    "unpause": "resume",
    "stop": "pause",
    "fix": "apply",
    "ignore": "dismiss",
    "why": "explain",
    "restore": "undismiss",
    "unignore": "undismiss",
}
"""Words people use for a verb that no spelling distance finds."""


def suggest_command(word: str, rest: str) -> str | None:
    """What an unknown ``/shunter <word> <rest>`` most likely meant, as the text after
    ``/shunter``: ``run review`` -> ``review`` (a command after a filler word), ``unpause``
    -> ``resume``, ``reveiw --full`` -> ``review --full`` (a typo)."""
    words = rest.split()
    if words and words[0].lower() in VERBS:
        return " ".join([words[0].lower(), *words[1:]])[:80]
    verb = _MEANT.get(word.lower()) or closest_verb(word)
    return " ".join([verb, *words])[:80] if verb else None


def _split_args(rest: str) -> tuple[tuple[str, ...], frozenset[str]]:
    args: list[str] = []
    flags: set[str] = set()
    for token in rest.split():
        if token.startswith("--") and len(token) > 2:
            flags.add(token[2:].lower())
        else:
            args.append(token)
    return tuple(args), frozenset(flags)


def parse_comment(body: str, *, aliases: bool = False) -> Parsed:
    """All commands in ``body``, in order, outside code, quotes and what GitHub hides."""
    parsed = Parsed()
    lines = _LINE_END.split(body)
    ahead = _Ahead(lines)
    fence: str | None = None  # the opening fence of the code block we are in
    raw: str | None = None  # the closing tag of the <pre> (<script>...) block we are in
    hidden = False  # inside an HTML comment: GitHub shows none of it, so none of it runs
    for index, line in enumerate(lines):
        number = index + 1
        if raw is not None:
            raw = None if raw in line.lower() else raw
            continue
        if fence is None and not hidden:
            fence = _opening_fence(line)
            if fence is not None:
                continue
            opened = _RAW_BLOCK.match(line)
            if opened is not None:
                closing = f"</{opened.group('tag').lower()}>"
                raw = None if closing in line.lower()[opened.end() - 1 :] else closing
                continue
        elif fence is not None and _closes(line, fence):
            fence = None
            continue
        if fence is not None:
            continue
        line, hidden = _visible(line, hidden, ahead, index)
        if line.lstrip().startswith(">") or line.startswith(("    ", "\t")):
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _mail_starts(line, following):
            break  # the rest is the mail this e-mailed reply answers
        line = line.translate(_SHOWN)
        if len(line) > MAX_LINE:
            if _match(line[:MAX_LINE], aliases)[0] is not None:
                parsed.too_long.append((number, len(line)))
            continue
        verb, rest = _match(line, aliases)
        if verb is None:
            continue
        if len(parsed.commands) + len(parsed.unknown) >= MAX_COMMANDS:
            parsed.truncated = True
            break
        if verb not in VERBS:
            parsed.unknown.append(UnknownVerb(verb, suggest_command(verb, rest), number, line.strip()))
            continue
        args, flags = _split_args(rest)
        parsed.commands.append(Command(verb, args, flags, number, line.strip()))
    return parsed


class _Ahead:
    """For each line, where the next ``-->`` and the next blank line are (a paragraph ends
    at a blank line), so an inline ``<!--`` is known closed or not without rescanning."""

    def __init__(self, lines: list[str]) -> None:
        size = len(lines)
        self.close, self.blank = [size] * (size + 1), [size] * (size + 1)
        for index in range(size - 1, -1, -1):
            line = lines[index]
            self.close[index] = index if "-->" in line else self.close[index + 1]
            self.blank[index] = index if not line.strip() else self.blank[index + 1]

    def closes_in_paragraph(self, index: int) -> bool:
        """Whether a line after ``index`` in the same paragraph holds ``-->``."""
        return self.close[index + 1] < self.blank[index + 1]


def _visible(line: str, hidden: bool, ahead: _Ahead, index: int) -> tuple[str, bool]:
    """What of ``line`` GitHub shows, and whether an HTML comment is still open after it.

    A line starting with ``<!--`` opens an HTML block that ends only at a line holding
    ``-->``, blank lines or not. Elsewhere ``<!--`` starts a comment only when ``-->``
    closes it before the paragraph ends, and never inside a code span: else GitHub shows
    it as text, and the commands after it run. One pass over the line, whatever it holds.
    """
    shown: list[str] = []
    position = 0
    block = not hidden and _HTML_COMMENT_BLOCK.match(line) is not None
    runs = _backtick_runs(line) if "<!--" in line else []
    run = 0  # the first run of backticks not yet passed
    while True:
        if hidden:
            end = line.find("-->", position)
            if end < 0:
                return "".join(shown), True
            position, hidden = end + 3, False
        start = line.find("<!--", position)
        while start >= 0 and run < len(runs) and runs[run][0] < start:
            opening, closer = runs[run]
            if opening < position or closer is None:
                run += 1  # inside the comment just passed, or backticks that open nothing
                continue
            span_end, run = runs[closer][0] + 1, closer + 1
            if span_end > start:  # the "<!--" is code: look past the span
                start = line.find("<!--", span_end)
        if start < 0:
            shown.append(line[position:])
            return "".join(shown), False
        if not (block or line.find("-->", start + 4) >= 0 or ahead.closes_in_paragraph(index)):
            shown.append(line[position:])  # never closed: text, and so is any later "<!--"
            return "".join(shown), False
        shown.append(line[position:start])
        position, hidden, block = start + 4, True, False


def _backtick_runs(line: str) -> list[tuple[int, int | None]]:
    """Each run of backticks in ``line``: where it starts, and the index of the run that
    closes the code span it opens (the next run of the same length), None if none does
    (then it is plain text, as CommonMark says)."""
    found = [(m.start(), m.end() - m.start()) for m in re.finditer("`+", line)]
    runs: list[tuple[int, int | None]] = []
    last: dict[int, int] = {}
    for index in range(len(found) - 1, -1, -1):
        start, length = found[index]
        runs.append((start, last.get(length)))
        last[length] = index
    runs.reverse()
    return runs


def _opening_fence(line: str) -> str | None:
    """The fence ``line`` opens a code block with, per CommonMark, or None.

    The whole run of backticks or tildes is kept: a block opened with four backticks is
    only closed by four or more, so a three-backtick example inside it stays code (and the
    commands shown in it never run).
    """
    match = _FENCE.match(line)
    if match is None:
        return None
    marker = match.group("marker")
    if marker[0] == "`" and "`" in match.group("info"):
        return None  # inline code such as ```x``` on one line, not a fence
    return marker


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes the block opened by ``fence``: same character, at least as
    long, and no info string (```` ```python ```` inside a block is content, not its end)."""
    match = _FENCE.match(line)
    if match is None or match.group("info").strip(" \t"):
        return False
    marker = match.group("marker")
    return marker[0] == fence[0] and len(marker) >= len(fence)


def _match(line: str, aliases: bool) -> tuple[str | None, str]:
    match = _COMMAND.match(line)
    if match:
        rest = (match.group("rest") or "").strip()
        if not rest:
            return "help", ""
        verb, *tail = rest.split(None, 1)  # a tab separates the verb as well as a space
        verb = verb.lower()
        if verb not in VERBS and verb.rstrip(_SENTENCE_END) in VERBS:
            verb = verb.rstrip(_SENTENCE_END)  # "/shunter apply." or "/shunter pause, please"
        return verb, tail[0] if tail else ""
    if aliases:
        alias = _ALIAS.match(line)
        if alias and (not alias.group("rest") or alias.group("rest")[0].isspace()):
            return ALIASES[alias.group("verb").lower()], alias.group("rest").strip()
    return None, ""
