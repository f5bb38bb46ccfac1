"""A failed candidate's report as one bounded line (pure): the check run lists many of
them within GitHub's 65535 characters, and each must still say what failed and on which
input, since the input is what the PR's author needs to reproduce it."""

from __future__ import annotations

import re

_EXAMPLE = re.compile(r"(?:Failing test case|Falsifying example):")
_ANY_OTHER = re.compile(r"\s+# or any other generated value")


def brief(detail: str, limit: int = 160) -> str:
    """A candidate's failure as one line a reader can take in, at most ``limit`` characters:
    whitespace collapsed, the junit tag (``failure:``) dropped, and cut after a sentence or
    word, never inside a word, with an ellipsis when something was left out (the check run's
    text is no traceback, and lists many candidates within GitHub's 65535 characters). A
    long exception message gives way to Hypothesis' ``Failing test case: ...`` after it,
    which is kept whole up to three fifths of ``limit``: it is what the PR's author needs
    to reproduce the failure, and cutting from the end lost it first."""
    text = _ANY_OTHER.sub("", detail)
    text = re.sub(r",?\s+\)", ")", re.sub(r"\(\s+", "(", " ".join(text.split())))
    for tag in ("failure: ", "error: "):
        text = text.removeprefix(tag)
    if len(text) <= limit:
        return text
    found = _EXAMPLE.search(text)
    if found is None or found.start() == 0:
        return _cut(text, limit)
    head, example = text[: found.start()].rstrip(), text[found.start() :]
    room = max(limit * 3 // 5, limit - len(head) - 1)
    if len(example) > room:
        example = _cut(example, room, at_sentence=False)  # not just after "example:"
    return f"{_cut(head, limit - len(example) - 1)} {example}"


def _cut(text: str, limit: int, *, at_sentence: bool = True) -> str:
    """``text`` cut to ``limit`` characters after a sentence (if ``at_sentence``) or word,
    ending `` …`` when cut."""
    if len(text) <= limit:
        return text
    head = text[: limit - 2]
    sentence = max(head.rfind(". "), head.rfind(": ")) if at_sentence else -1
    if sentence >= limit // 2:
        return head[: sentence + 1] + " …"
    space = head.rfind(" ")
    return (head[:space] if space > 0 else head).rstrip(" ,;:(") + " …"
