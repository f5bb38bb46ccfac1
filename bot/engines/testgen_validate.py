"""Meta's TestGen-LLM filters, applied to generated candidates inside the sandbox.

A candidate is kept only if it (1) imports and (2) passes, (3) passes again in two more
runs (no flakiness), and (4) executes changed lines the existing tests did not. Each
filter is one batched pytest run over all surviving candidates, with coverage.py's
per-test contexts telling which candidate executed which lines. A test that runs past the
per-test limit is stopped and judged ``timeout`` while the rest of its batch goes on
(``time_limit_plugin``). When a batch still hangs or dies (code stuck in C, the wall
clock), the test that was running (pytest notes each start and end) is blamed and the
rest run again without it, so one hanging test costs only itself.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.engines.coverage_probe import SHUNTER_DIR, Measurement, TestOutcome, measure
from bot.engines.failure_brief import brief
from bot.engines.ghostwriter import Candidate
from bot.sandbox import Limits, Sandbox, hostfs

CANDIDATE_DIR = f"{SHUNTER_DIR}/cands"
MAX_DETAIL = 300
"""Characters of a failure a candidate's detail keeps; the check run shows fewer (``brief``)."""
WRITER_PREFERENCE = {"roundtrip": 0, "idempotent": 1, "magic": 2, "fuzz": 3}
_OVER_LIMIT = "TimeLimitExceeded: "
"""How the JUnit report words a test stopped at the per-test limit (``time_limit_plugin``)."""
_COLLECTION_FAILURE = "error: collection failure"
"""How ``parse_junit`` words pytest's report of a test file that could not be imported."""
_NO_INPUTS = (
    "hypothesis.errors.FailedHealthCheck",
    "hypothesis.errors.InvalidArgument",
    "hypothesis.errors.Unsatisfiable",
    " while generating '",
)
"""Hypothesis giving up on the generated test's own inputs, not on the function's answer:
they were unusable (a ``fuzz`` test rejecting all of isodate's random strings,
``st.builds(self)`` calling tomlkit's ``OutOfOrderTableProxy`` with random arguments),
which says nothing against the project's code."""


@dataclass(frozen=True)
class ValidationSetup:
    sandbox: Sandbox
    workdir: Path
    python: str
    ro_paths: list[str]
    limits: Limits
    plugins: tuple[str, ...] = ()
    """``-p`` arguments for the repository's pytest plugins (autoload is off)."""
    runs: int = 3
    deadline: float = float("inf")
    """``time.monotonic()`` after which no new batch starts."""
    test_limit: float | None = None
    """Seconds each candidate's test may run before it is stopped and judged ``timeout``
    while the batch goes on (``time_limit_plugin``); None leaves only the wall clock."""
    import_roots: tuple[str, ...] = ()
    """Folders a monorepo's packages import from, for ``PYTHONPATH`` (``measure``)."""


def names_candidate(stem: str, text: str) -> bool:
    """Does ``text`` (a JUnit class name, a test node id, a coverage context) name the
    candidate module ``stem``? As a whole name only: ``test_shunter_c1`` is a prefix of
    ``test_shunter_c10``, whose results and lines are not candidate 1's."""
    return re.search(rf"(?<!\w){re.escape(stem)}(?!\w)", text) is not None


def _outcomes_for(cand: Candidate, outcomes: Iterable[TestOutcome]) -> list[TestOutcome]:
    return [o for o in outcomes if names_candidate(cand.stem, f"{o.file_key} {o.name}")]


def judge_run(cand: Candidate, m: Measurement, *, first: bool) -> str | None:
    """The discard reason this run gives the candidate, or None when it passed (pure)."""
    mine = _outcomes_for(cand, m.outcomes)
    if not mine:
        if m.result.timed_out or m.stuck_in:
            return "timeout"
        if m.result.killed_by:
            return "crashes"
        return "does-not-import" if first else "flaky"
    failed = [o for o in mine if not o.passed]
    if not failed:
        return None
    text = " ".join(o.message for o in failed)
    if _OVER_LIMIT in text:
        return "timeout"
    if first and any(o.message.startswith(_COLLECTION_FAILURE) for o in failed):
        # only pytest's own verdict on the file: an ImportError the function under test
        # raises (toolz's TlzLoader.load_module does) is the test failing, not the import
        return "does-not-import"
    if "Flaky" in text:
        return "flaky"
    if first and all(any(marker in o.message for marker in _NO_INPUTS) for o in failed):
        return "no-inputs"
    return "fails" if first else "flaky"


def lines_by_candidate(cand: Candidate, m: Measurement, path: str) -> frozenset[int]:
    """Lines of ``path`` executed while one of the candidate's tests was running."""
    cov = m.coverage.get(path)
    if cov is None:
        return frozenset()
    return frozenset(
        line for line, ctxs in cov.contexts.items() if any(names_candidate(cand.stem, c) for c in ctxs)
    )


def _write(setup: ValidationSetup, cands: list[Candidate]) -> list[str]:
    """Write the candidates into the work dir, which earlier sandbox runs could write:
    ``hostfs`` replaces a planted link instead of writing through it to a host file."""
    paths = []
    for cand in cands:
        rel = f"{CANDIDATE_DIR}/{cand.stem}.py"
        hostfs.write_file(setup.workdir, rel, cand.source)
        paths.append(rel)
    return paths


def _run(setup: ValidationSetup, cands: list[Candidate], tag: str, contexts: bool) -> Measurement:
    return measure(
        setup.sandbox,
        setup.workdir,
        python=setup.python,
        tests=_write(setup, cands),
        tag=tag,
        contexts=contexts,
        limits=setup.limits,
        ro_paths=setup.ro_paths,
        plugins=setup.plugins,
        progress=True,
        test_limit=setup.test_limit,
        import_roots=setup.import_roots,
    )


def _broken(m: Measurement) -> bool:
    return m.result.timed_out or m.result.killed_by is not None or not m.outcomes


def _batch(
    setup: ValidationSetup, cands: list[Candidate], tag: str, contexts: bool
) -> list[tuple[Candidate, Measurement | None]]:
    """One run for all. When that run hangs or dies (a candidate exhausting a limit takes
    pytest down with it), the candidate whose test was running is judged on it and the
    others run again without it: one hanging test costs one wall clock, not two. When no
    test was running (collection hung, say), one run each, so only the culprit pays. A
    candidate not run again before the deadline comes back with None: it was never judged.
    """
    out: list[tuple[Candidate, Measurement | None]] = []
    left = list(cands)
    retry = 0
    while True:
        m = _run(setup, left, tag if retry == 0 else f"{tag}-r{retry}", contexts)
        if not _broken(m) or len(left) == 1:
            return out + [(c, m) for c in left]
        culprit = next((c for c in left if m.running and names_candidate(c.stem, m.running)), None)
        if culprit is None:
            return out + _one_by_one(setup, left, tag, contexts)
        out.append((culprit, m))
        left.remove(culprit)
        retry += 1
        if time.monotonic() > setup.deadline:
            return out + [(c, None) for c in left]


def _one_by_one(
    setup: ValidationSetup, cands: list[Candidate], tag: str, contexts: bool
) -> list[tuple[Candidate, Measurement | None]]:
    out: list[tuple[Candidate, Measurement | None]] = []
    for cand in cands:
        if time.monotonic() > setup.deadline:
            out.append((cand, None))
        else:
            out.append((cand, _run(setup, [cand], f"{tag}-{cand.index}", contexts)))
    return out


def _over_budget(cand: Candidate) -> None:
    cand.verdict, cand.detail = "over-budget", "the stage's time budget ran out"


def validate(
    setup: ValidationSetup,
    candidates: list[Candidate],
    *,
    uncovered: dict[str, frozenset[int]],
    max_kept: int,
) -> None:
    """Set each pending candidate's verdict; ``uncovered`` maps function dotted names to
    their changed statement lines no existing test ran. Mutates the candidates."""
    pending = [c for c in candidates if c.verdict == "pending"]
    if not pending:
        return
    if time.monotonic() > setup.deadline:
        for cand in pending:
            _over_budget(cand)
        return
    for cand, m in _batch(setup, pending, "v1", contexts=True):
        if m is None:
            _over_budget(cand)
            continue
        reason = judge_run(cand, m, first=True)
        if reason is not None:
            cand.verdict, cand.detail = reason, _detail(cand, m)
            continue
        gained = lines_by_candidate(cand, m, cand.target.path) & uncovered.get(
            cand.target.dotted, frozenset()
        )
        cand.gained_lines = gained
        if not gained:
            cand.verdict = "no-coverage-gain"
            cand.detail = "runs no changed line that the existing tests miss"
    survivors = [c for c in pending if c.verdict == "pending"]
    for run in range(2, setup.runs + 1):
        if not survivors:
            break
        if time.monotonic() > setup.deadline:
            for cand in survivors:
                _over_budget(cand)
            return
        for cand, m in _batch(setup, survivors, f"v{run}", contexts=False):
            if m is None:
                _over_budget(cand)
                continue
            reason = judge_run(cand, m, first=False)
            if reason is not None:
                cand.verdict = reason if reason in ("timeout", "crashes") else "flaky"
                cand.detail = f"passed run 1, failed run {run}: {_detail(cand, m)}"
        survivors = [c for c in survivors if c.verdict == "pending"]
    _choose(survivors, max_kept)


def _choose(survivors: list[Candidate], max_kept: int) -> None:
    """Keep, per function, candidates that add lines beyond those already kept."""
    survivors.sort(key=lambda c: (-len(c.gained_lines), WRITER_PREFERENCE.get(c.writer, 9)))
    covered: dict[str, set[int]] = {}
    kept = 0
    for cand in survivors:
        mine = covered.setdefault(cand.target.dotted, set())
        if kept >= max_kept:
            cand.verdict, cand.detail = "over-budget", "max_generated_tests reached"
        elif cand.gained_lines - mine:
            cand.verdict = "kept"
            mine.update(cand.gained_lines)
            kept += 1
        else:
            cand.verdict = "no-coverage-gain"
            cand.detail = "covers nothing a kept test does not already cover"


def _detail(cand: Candidate, m: Measurement) -> str:
    mine = [o for o in _outcomes_for(cand, m.outcomes) if not o.passed]
    over = next((o for o in mine if _OVER_LIMIT in o.message), None)
    if over is not None:
        return (over.headline or over.message).partition(_OVER_LIMIT)[2] or "stopped at the per-test limit"
    if mine:
        text = mine[0].headline or mine[0].message
        # a long exception (pydantic's ValidationError runs past 300 characters) gives way
        # to Hypothesis' input after it, which a cut from the end dropped
        return text if len(text) <= MAX_DETAIL else brief(text, limit=MAX_DETAIL)
    if m.stuck_in:
        return f"ran past the per-test limit stuck in {m.stuck_in}, which never returned to Python"
    tail = [ln for ln in m.result.stderr_tail.splitlines() if ln.strip()]
    return (m.problem or m.result.note) + (f": {tail[-1][:200]}" if tail else "")
