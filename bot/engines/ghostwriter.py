"""The builtin test generator: Hypothesis's ghostwriter, run in the sandbox on PR code.

Ghostwriting imports the module under test, which is PR code, so it happens inside the
sandbox (``ghostwriter_script.py``); this side prepares the targets, reads the answers
back and applies the first filter: a candidate that still contains an ``st.nothing()``
placeholder is dropped, never proposed, and the function is reported with the arguments
whose strategy could not be inferred.

The answer file is written by PR code (the module under test runs in the same process),
so it is read like any sandbox output: without following links, size-capped, and
shape-checked; a malformed answer means "no candidates", never an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.engines.coverage_probe import SHUNTER_DIR
from bot.engines.testgen_changes import ChangedFunction
from bot.sandbox import Limits, Sandbox, SandboxResult, hostfs

SCRIPT = Path(__file__).with_name("ghostwriter_script.py")
MAX_ANSWER_BYTES = 5 * 1024 * 1024
_NOTHING_ARG = re.compile(r"(\w+)=st\.nothing\(\)")


@dataclass
class Candidate:
    """One generated test file for one target function."""

    target: ChangedFunction
    writer: str
    source: str
    index: int = 0
    verdict: str = "pending"
    """``kept`` or a discard reason (``placeholder``, ``does-not-import``, ``fails``,
    ``no-inputs`` (Hypothesis could not generate usable inputs), ``flaky``,
    ``no-coverage-gain``, ``timeout``, ``crashes``, ``over-budget``, and the llm engine's
    ``holds-secret``)."""
    detail: str = ""
    gained_lines: frozenset[int] = frozenset()
    label: str = ""
    """The test's own name where the engine gave one (the llm engine does)."""

    @property
    def stem(self) -> str:
        return f"test_shunter_c{self.index}"


@dataclass
class Generation:
    candidates: list[Candidate] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    """Per target (``ChangedFunction.dotted``): why no usable candidate was written."""
    result: SandboxResult | None = None


def code_lines(source: str) -> list[str]:
    return [ln for ln in source.splitlines() if not ln.lstrip().startswith("#")]


def placeholder_args(source: str) -> list[str]:
    """Arguments ghostwriter left as ``st.nothing()`` (it could not infer a strategy)."""
    return sorted({m for ln in code_lines(source) for m in _NOTHING_ARG.findall(ln)})


def tidy(source: str) -> str:
    """Drop ghostwriter's TODO comments once no placeholder is left in the code."""
    if any("st.nothing()" in ln for ln in code_lines(source)):
        return source
    kept = [ln for ln in source.splitlines() if "st.nothing()" not in ln]
    return re.sub(r"\n{4,}", "\n\n\n", "\n".join(kept)) + "\n"


def load_answers(data: bytes | None) -> list[dict[str, object]]:
    """The answer file's items that are JSON objects; anything unreadable counts as none."""
    if data is None:
        return []
    try:
        loaded = json.loads(data.decode(errors="replace"))
    except (ValueError, RecursionError):
        return []
    if not isinstance(loaded, list):
        return []
    return [item for item in loaded if isinstance(item, dict)]


def split_candidates(
    targets: dict[str, ChangedFunction], answers: list[dict[str, object]], start: int = 0
) -> Generation:
    """Turn the sandbox's answers into candidates, dropping placeholders (pure)."""
    gen = Generation()
    index = start
    for answer in answers:
        if not isinstance(answer, dict):
            continue  # the caller filters too; PR code wrote these
        target = targets.get(str(answer.get("id")))
        if target is None:
            continue
        raw = answer.get("candidates") or []
        usable = 0
        unknown: set[str] = set()
        errors: list[str] = []
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict):
                continue
            source = str(item.get("source") or "")
            if not source:
                if item.get("error"):  # a writer with nothing to say (magic, for no arguments) is left out
                    errors.append(f"{item.get('writer')}: {item.get('error')}")
                continue
            source = tidy(source)
            index += 1
            missing = placeholder_args(source)
            cand = Candidate(target, str(item.get("writer")), source, index)
            if missing:
                unknown.update(missing)
                cand.verdict = "placeholder"
                cand.detail = f"no strategy for {', '.join(missing)}"
            else:
                usable += 1
            gen.candidates.append(cand)
        if usable == 0:
            if unknown:
                gen.reasons[target.dotted] = (
                    "no test proposed: Hypothesis cannot infer values for "
                    f"{'argument' if len(unknown) == 1 else 'arguments'} "
                    f"{', '.join(sorted(unknown))} (add type hints or register a strategy)"
                )
            elif answer.get("error"):
                gen.reasons[target.dotted] = f"no test proposed: {answer.get('error')}"
            else:
                gen.reasons[target.dotted] = "no test proposed: " + (
                    "; ".join(errors) or "ghostwriter wrote nothing"
                )
    return gen


def generate(
    sandbox: Sandbox,
    workdir: Path,
    functions: list[ChangedFunction],
    *,
    python: str,
    limits: Limits,
    ro_paths: list[str],
    pythonpath: str,
    start: int = 0,
) -> Generation:
    """Ghostwrite candidates for ``functions`` in one sandboxed run.

    Raises ``hostfs.UnsafeWorkPath`` when an earlier run replaced Shunter's directory with
    a link (or similar): the inputs are never written through it.
    """
    hostfs.make_dirs(workdir, SHUNTER_DIR)
    targets = {str(i): fn for i, fn in enumerate(functions)}
    hostfs.write_file(
        workdir,
        f"{SHUNTER_DIR}/targets.json",
        json.dumps([{"id": k, "module": f.module, "qualname": f.qualname} for k, f in targets.items()]),
    )
    hostfs.write_file(workdir, f"{SHUNTER_DIR}/ghostwrite.py", SCRIPT.read_bytes())
    hostfs.remove(workdir, f"{SHUNTER_DIR}/candidates.json")
    sandbox.prepare(workdir)
    result = sandbox.run(
        [python, f"{SHUNTER_DIR}/ghostwrite.py", f"{SHUNTER_DIR}/targets.json",
         f"{SHUNTER_DIR}/candidates.json"],
        workdir,
        env={"PYTHONPATH": pythonpath},
        limits=limits,
        extra_ro_paths=ro_paths,
    )  # fmt: skip
    answers = load_answers(
        hostfs.read_file_capped(workdir, f"{SHUNTER_DIR}/candidates.json", MAX_ANSWER_BYTES)
    )
    gen = split_candidates(targets, answers, start)
    gen.result = result
    for fn in functions:
        if fn.dotted not in gen.reasons and not any(c.target is fn for c in gen.candidates):
            gen.reasons[fn.dotted] = f"no test proposed: the ghostwriter run {result.note}"
    return gen
