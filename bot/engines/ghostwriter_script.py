"""Runs *inside the sandbox*: imports the PR's modules and asks Hypothesis's ghostwriter
for test candidates. Standalone on purpose (stdlib + hypothesis only, no ``bot`` import):
the worker copies this file into the work dir and runs it with the sandbox's Python.

Usage: ``python ghostwriter_script.py targets.json candidates.json``; each target is
``{"id", "module", "qualname"}``, each answer ``{"id", "candidates": [{"writer",
"source"}], "error"}``.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import json
import re
import sys
import textwrap
import warnings
from collections.abc import Callable
from typing import Any

PARTNERS = (
    ("encode", "decode"),
    ("dumps", "loads"),
    ("dump", "load"),
    ("serialize", "deserialize"),
    ("compress", "decompress"),
    ("encrypt", "decrypt"),
    ("to_", "from_"),
    ("pack", "unpack"),
    ("quote", "unquote"),
    ("escape", "unescape"),
)


IDEMPOTENT_NAMES = re.compile(
    r"normal|clean|canonical|sort|strip|slug|sanitiz|dedup|unique|simplif|lower|upper|trim"
)


def _raised(func: object) -> tuple[type[Exception], ...]:
    """Exception classes the function raises itself (``raise ValueError(...)``) or documents
    in its docstring: its contract for bad input, which a fuzz test should accept, not
    fail on. Plain ``Exception`` is never accepted: it would hide every failure."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))  # type: ignore[arg-type]
    except (OSError, TypeError, SyntaxError):
        return ()
    scope = {**vars(builtins), **getattr(func, "__globals__", {})}
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name):
                names.append(target.id)
    names += _documented_raises(inspect.getdoc(func) or "")
    found: list[type[Exception]] = []
    for name in names:
        obj = scope.get(name)
        if isinstance(obj, type) and issubclass(obj, Exception) and obj is not Exception and obj not in found:
            found.append(obj)
    return tuple(found)


def _documented_raises(doc: str) -> list[str]:
    """Exception names a docstring promises (Google/NumPy ``Raises:`` or ``:raises X:``)."""
    names = re.findall(r":raises?\s+([A-Za-z_]\w*)\s*:", doc)
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() not in ("Raises:", "Raises"):
            continue
        for item in lines[i + 1 :]:
            if item.strip().startswith("---"):
                continue
            if not item.strip() or (not item.startswith((" ", "\t")) and item.strip().endswith(":")):
                break
            match = re.match(r"\s*([A-Za-z_]\w*)\s*(:|$)", item)
            if match:
                names.append(match.group(1))
    return names


def _required_only(func: object, write: object, raised: tuple[type[Exception], ...]) -> str:
    """Ghostwrite with the optional parameters left at their defaults.

    Random values for options (a format string, a precision) are the commonest reason a
    fuzz test of a sound function fails; hiding them from the signature while writing keeps
    the test on the function's main inputs. The call in the test names the real function.
    """
    signature = inspect.signature(func)  # type: ignore[arg-type]
    required = [p for p in signature.parameters.values() if p.default is p.empty]
    func.__signature__ = signature.replace(parameters=required)  # type: ignore[attr-defined]
    try:
        return write(func, except_=raised)  # type: ignore[operator,no-any-return]
    finally:
        del func.__signature__  # type: ignore[attr-defined]


def _resolve(module_name: str, qualname: str) -> object:
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _partner(module: object, name: str) -> Callable[..., Any] | None:
    for left, right in PARTNERS:
        for a, b in ((left, right), (right, left)):
            if a in name:
                other = getattr(module, name.replace(a, b, 1), None)
                if callable(other):
                    return other
    return None


def _candidates(target: dict[str, str]) -> list[dict[str, str]]:
    from hypothesis.extra import ghostwriter

    func = _resolve(target["module"], target["qualname"])
    if not callable(func):
        raise TypeError(f"{target['qualname']} is not callable")
    module = importlib.import_module(target["module"])
    signature = inspect.signature(func)
    params = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", "cls")
    ]
    has_optional = any(p.default is not p.empty for p in signature.parameters.values())
    raised = _raised(func)
    name = getattr(func, "__name__", "")
    partner = _partner(module, name)
    # most promising first: the stage tries only attempts_per_function of them
    writers: list[tuple[str, object]] = []
    if partner is not None:
        writers.append(("roundtrip", lambda: ghostwriter.roundtrip(func, partner)))
    # every writer allows for the function's own raised or documented exceptions: a test
    # that fails on isodate's parse_date('') raising its ISO8601Error blames sound code
    writers.append(("magic", lambda: ghostwriter.magic(func, except_=raised)))
    if has_optional:
        writers.append(("fuzz", lambda: _required_only(func, ghostwriter.fuzz, raised)))
    writers.append(("fuzz", lambda: ghostwriter.fuzz(func, except_=raised)))
    if len(params) == 1 and IDEMPOTENT_NAMES.search(name.lower()):
        writers.append(("idempotent", lambda: ghostwriter.idempotent(func)))
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for name, write in writers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                source = write()  # type: ignore[operator]
        except Exception as exc:
            out.append({"writer": name, "source": "", "error": f"{type(exc).__name__}: {exc}"})
            continue
        owner = target["qualname"].rpartition(".")[0]
        if owner and "self=st.nothing()" in source:
            # an instance method: let Hypothesis build the instance from __init__'s hints
            source = source.replace("self=st.nothing()", f"self=st.builds({target['module']}.{owner})")
        if source not in seen:
            seen.add(source)
            out.append({"writer": name, "source": source})
    return out


def main() -> int:
    with open(sys.argv[1]) as handle:
        targets = json.load(handle)
    answers = []
    for target in targets:
        try:
            answers.append({"id": target["id"], "candidates": _candidates(target)})
        except BaseException as exc:
            answers.append({"id": target["id"], "candidates": [], "error": f"{type(exc).__name__}: {exc}"})
    with open(sys.argv[2], "w") as handle:
        json.dump(answers, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
