"""Parse ``/shunter <verb> [args]`` commands out of a comment body (pure).

One command per line, several per comment. Lines inside fenced code blocks (``` or ~~~),
indented code and quoted replies (``>``) are ignored, so quoting someone's command or
showing an example never runs it. Short aliases (``/review``, ``/apply`` ...) count only
when the repository's config enables them. Unknown verbs are kept as ``UnknownVerb``
with the closest known verb, so the reply can say "did you mean".
"""

from __future__ import annotations

import difflib
import hashlib
import re
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
# ASCII: Unicode case folding would take "/\u017fhunter" (long s) for /shunter, and \s a
# no-break space for a space, so a command could hide in text that does not read as one
_COMMAND = re.compile(r"^\s{0,3}/shunter(?:\s+(?P<rest>.*))?$", re.IGNORECASE | re.ASCII)
_ALIAS = re.compile(
    r"^\s{0,3}/(?P<verb>review|security|tests|apply)\b(?P<rest>.*)$", re.IGNORECASE | re.ASCII
)


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
    """All commands in ``body``, in order, outside code and quotes."""
    parsed = Parsed()
    fence: str | None = None  # the opening fence of the code block we are in
    hidden = False  # inside an HTML comment: GitHub shows none of it, so none of it runs
    for number, line in enumerate(body.splitlines(), start=1):
        if fence is None and not hidden:
            fence = _opening_fence(line)
            if fence is not None:
                continue
        elif fence is not None and _closes(line, fence):
            fence = None
            continue
        if fence is None:
            line, hidden = _visible(line, hidden)
        if fence is not None or line.lstrip().startswith(">") or line.startswith(("    ", "\t")):
            continue
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


def _visible(line: str, hidden: bool) -> tuple[str, bool]:
    """What of ``line`` GitHub shows, and whether an HTML comment is still open after it."""
    out = ""
    while True:
        if hidden:
            end = line.find("-->")
            if end < 0:
                return out, True
            line, hidden = line[end + 3 :], False
        start = line.find("<!--")
        if start < 0:
            return out + line, False
        out, line, hidden = out + line[:start], line[start + 4 :], True


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
        return verb.lower(), tail[0] if tail else ""
    if aliases:
        alias = _ALIAS.match(line)
        if alias and (not alias.group("rest") or alias.group("rest")[0].isspace()):
            return ALIASES[alias.group("verb").lower()], alias.group("rest").strip()
    return None, ""
