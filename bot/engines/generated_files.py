"""Which changed files are generated, so the review stage leaves their lint alone.

A generated file (protobuf's ``*_pb2.py``, a parser table, a vendored bundle a tool wrote)
is rewritten by its generator: a lint finding there is noise nobody can act on in that
file, and a fix Shunter committed to it would be undone on the next regeneration. GitHub
itself collapses such files in the pull request's diff.

What decides, in order:

1. the ``linguist-generated`` git attribute, read from the pull request's *base*
   (``.gitattributes`` on the default branch, as for the config: a pull request cannot
   exempt its own files from review by marking them); set says generated, unset
   (``-linguist-generated`` or ``=false``) says not generated whatever else is true;
2. a well-known generated name (``*_pb2.py``, ``*_pb2_grpc.py``, minified bundles);
3. a header mark in the file's first lines, as generators write it: ``@generated`` or
   ``DO NOT EDIT`` anywhere, ``auto-generated`` only in a comment line (a module docstring
   about "auto-generated documentation" is not a generator's mark).

The security stage does not use this: a secret in a generated file is still a secret.
"""

from __future__ import annotations

from bot.engines.heuristics import GENERATED_MARK, GENERATED_NAMES

HEADER_LINES = 10
"""How many of a file's first lines may hold the generator's mark."""

STRONG_MARKS = frozenset({"@generated", "do not edit"})
"""Marks that say "generated" wherever in the header they stand."""


def generated_reason(path: str, text: str, attribute: str | bool | None) -> str | None:
    """Why ``path`` counts as generated (said in the stage's note), or None when it does
    not; ``attribute`` is its ``linguist-generated`` attribute on the base (pure)."""
    if attribute is False or (isinstance(attribute, str) and attribute.lower() == "false"):
        return None
    if attribute is True or (isinstance(attribute, str) and attribute.lower() == "true"):
        return "marked `linguist-generated` in `.gitattributes`"
    name = path.rsplit("/", 1)[-1]
    if GENERATED_NAMES.search(name):
        return "a generated file by its name"
    header = text[:4000].split("\n", HEADER_LINES)[:HEADER_LINES]
    for line in header:
        mark = GENERATED_MARK.search(line)
        if mark is None:
            continue
        strong = mark.group(0).lower() in STRONG_MARKS
        if strong or line.lstrip().startswith(("#", "//", "/*", "*")):
            return f"its header says so ({mark.group(0)!r})"
    return None
