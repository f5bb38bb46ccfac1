"""The optional llm engine for test generation: the Cover-Agent loop over a chat model.

For each function whose changed lines no test runs, the model gets the function (with the
uncovered lines marked), its call sites in the module, and the head of the existing test
file (to copy its conventions), and answers with test functions as structured output.
Candidates go through exactly the same TestGen-LLM filters as the ghostwriter's; a second
round tells the model which of its tests were discarded and why, and which lines are
still uncovered. PR text is fenced as untrusted data; model output is only ever *run* in
the sandbox, never executed by the worker.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from pydantic import BaseModel, Field

from bot.engines.failure_brief import brief
from bot.engines.ghostwriter import Candidate
from bot.engines.llm.endings import (
    DEFAULT_TOKENS_PER_RUN,
    UnusableAnswer,
    answer_tokens,
    failure_advice,
)
from bot.engines.llm.prompt_secrets import holds_secret_or_mask
from bot.engines.llm.protocol import ChatProvider, Message
from bot.engines.llm.untrusted import data_rules, fence, new_boundary
from bot.engines.testgen_changes import ChangedFunction
from bot.engines.testgen_patch import target_test_file
from bot.errors import EngineError

MAX_TESTS_PER_ANSWER = 5
MIN_ANSWER_TOKENS = 2048
"""The least ``max_tokens`` an answer of tests gets, however small the run's budget."""
UNCOMMITTABLE = (
    "the test holds a secret-shaped string (or a mask from the prompt), which Shunter "
    "never commits; use an obviously fake value"
)
_TEST_NAME = re.compile(r"^test_[A-Za-z0-9_]{1,80}$")


class ProposedTest(BaseModel):
    name: str = Field(description="The test function's name; starts with test_.")
    imports: list[str] = Field(
        default_factory=list,
        description="Import statements the test needs, one per item (import x / from x import y).",
    )
    code: str = Field(description="The complete pytest test function, decorators included.")


class ProposedTests(BaseModel):
    tests: list[ProposedTest] = Field(default_factory=list)


SYSTEM = (
    "You write pytest tests for Python functions changed in a pull request. Each test must "
    "run the lines marked '# <- not covered' with inputs the function is meant to accept, "
    "and assert on the result. Import the function from its module as shown. Use only the "
    "standard library, pytest, hypothesis and the project itself. No network, no files "
    "outside tmp_path, no sleeps, no randomness without a fixed seed. Answer with at most "
    f"{MAX_TESTS_PER_ANSWER} tests."
)


@dataclass
class LLMRound:
    candidates: list[Candidate] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    secrets_masked: int = 0
    """Secrets masked out of this round's requests before they were sent."""


def _numbered(source: str, fn: ChangedFunction, missing: frozenset[int]) -> str:
    lines = source.splitlines()
    out = []
    for number in range(fn.start_line, min(fn.end_line, len(lines)) + 1):
        mark = "  # <- not covered" if number in missing else ""
        out.append(f"{number:5d}  {lines[number - 1]}{mark}")
    return "\n".join(out)


def _call_sites(source: str, fn: ChangedFunction, limit: int = 5) -> list[str]:
    pattern = re.compile(rf"\b{re.escape(fn.name)}\s*\(")
    sites = []
    for number, line in enumerate(source.splitlines(), start=1):
        if fn.start_line <= number <= fn.end_line or not pattern.search(line):
            continue
        sites.append(f"{number:5d}  {line.strip()}")
    return sites[:limit]


def build_messages(
    fn: ChangedFunction,
    source: str,
    missing: frozenset[int],
    conventions: str | None,
    feedback: list[str],
    tag: str,
) -> list[Message]:
    """The chat for one function (pure)."""
    owner = fn.qualname.rpartition(".")[0]
    how = (
        f"from {fn.module} import {owner}  # then call {owner}(...).{fn.name}(...)"
        if owner
        else f"from {fn.module} import {fn.name}"
    )
    parts = [
        f"Module `{fn.module}` (file {fn.path}); import it as:\n{how}",
        fence("function", _numbered(source, fn, missing), tag),
    ]
    sites = _call_sites(source, fn)
    if sites:
        parts.append(fence("call sites in the module", "\n".join(sites), tag))
    if conventions:
        parts.append(fence("existing test file (follow its style)", conventions, tag))
    if feedback:
        parts.append(
            "Your previous tests were discarded:\n"
            + "\n".join(f"- {item}" for item in feedback)
            + "\nWrite different tests that pass reliably."
        )
    return [
        {"role": "system", "content": f"{SYSTEM}\n\n{data_rules(tag)}"},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def candidate_source(test: ProposedTest) -> tuple[str | None, str]:
    """The test file for one proposed test, or None and why it is unusable (pure)."""
    if not _TEST_NAME.match(test.name):
        return None, f"name {test.name[:40]!r} is not a pytest test name"
    imports = []
    for line in test.imports:
        line = line.strip()
        try:
            tree = ast.parse(line)
        except SyntaxError:
            return None, f"import line {line[:60]!r} is not valid Python"
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Import | ast.ImportFrom):
            return None, f"{line[:60]!r} is not an import statement"
        imports.append(line)
    source = "\n".join(imports) + "\n\n\n" + test.code.strip() + "\n"
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return None, f"the test is not valid Python ({exc.msg}, line {exc.lineno})"
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if test.name not in names:
        return None, f"the code does not define {test.name}"
    return source, ""


def propose(
    provider: ChatProvider,
    goals: Iterable[tuple[ChangedFunction, frozenset[int]]],
    *,
    read: Callable[[str], bytes | None],
    repo_paths: list[str],
    start: int,
    feedback: dict[str, list[str]] | None = None,
    tokens_per_run: int = DEFAULT_TOKENS_PER_RUN,
) -> LLMRound:
    """One round: ask the model for tests of each goal; unusable answers become discards.

    Each answer gets the ``max_tokens`` a review's answer gets from ``tokens_per_run``
    (``llm.max_tokens_per_run``), and at least ``MIN_ANSWER_TOKENS``. A function whose
    answer failed is in ``errors``, with what to change: an answer cut off, refused or
    filtered keeps none of its tests, and asking again the same way would not help.
    """
    result = LLMRound()
    max_tokens = max(MIN_ANSWER_TOKENS, answer_tokens(tokens_per_run))
    index = start
    for fn, missing in goals:
        data = read(fn.path)
        if data is None:
            continue
        source = data.decode("utf-8", errors="replace")
        test_path = target_test_file(fn.path, repo_paths)
        existing = read(test_path)
        conventions = None
        if existing is not None:
            conventions = "\n".join(existing.decode("utf-8", errors="replace").splitlines()[:80])
        tag = new_boundary()
        messages = build_messages(fn, source, missing, conventions, (feedback or {}).get(fn.dotted, []), tag)
        try:
            answer = provider.complete(messages, schema=ProposedTests, max_tokens=max_tokens)
        except EngineError as exc:
            if isinstance(exc, UnusableAnswer) and exc.spent is not None:  # billed all the same
                result.input_tokens += exc.spent.input_tokens
                result.output_tokens += exc.spent.output_tokens
                result.secrets_masked += exc.spent.secrets_masked
            advice, _why = failure_advice(exc, total=tokens_per_run, output=max_tokens)
            result.errors[fn.dotted] = f"the llm engine failed: {exc}" + (
                f"; {advice}" if advice else ""
            )
            continue
        result.input_tokens += answer.input_tokens
        result.output_tokens += answer.output_tokens
        result.secrets_masked += answer.secrets_masked
        parsed = answer.parsed
        tests = parsed.tests if isinstance(parsed, ProposedTests) else []
        for test in tests[:MAX_TESTS_PER_ANSWER]:
            index += 1
            source_text, problem = candidate_source(test)
            secret = source_text is not None and holds_secret_or_mask(source_text)
            cand = Candidate(fn, "llm", "" if secret else source_text or "", index, label=test.name[:80])
            if source_text is None:
                cand.verdict, cand.detail = "does-not-import", problem
            elif secret:  # never run, never committed, never shown
                cand.verdict, cand.detail = "holds-secret", UNCOMMITTABLE
            result.candidates.append(cand)
    return result


def feedback_for(candidates: list[Candidate]) -> dict[str, list[str]]:
    """What to tell the model about its discarded tests, per function (pure)."""
    out: dict[str, list[str]] = {}
    for cand in candidates:
        if cand.writer != "llm" or cand.verdict == "kept":
            continue
        name = cand.label or PurePosixPath(cand.stem).name
        detail = brief(cand.detail, limit=300)  # keeps Hypothesis' input, which a plain cut lost
        out.setdefault(cand.target.dotted, []).append(f"{name}: {cand.verdict}: {detail}")
    return out
