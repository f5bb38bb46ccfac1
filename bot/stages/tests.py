"""The test-enrichment stage (``shunter/tests``): untested changes, and tests that help.

Flow: changed functions from the diff (AST) -> the sandbox decision (refuse untrusted code
unless the policy allows it and bubblewrap works) -> the repository's dependencies ->
coverage of the changed lines by the existing tests that import the changed modules ->
ghostwritten candidates for what stays uncovered -> TestGen-LLM's filters (imports,
passes, passes three times, adds covered changed lines) -> one final run of the merged
test files -> findings, a summary with before/after coverage and discard counts, and the
kept tests as one ``PatchDraft``. The stage never calls GitHub; all PR code runs in
``bot.sandbox``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.engines import python_syntax
from bot.engines.coverage_probe import (
    SHUNTER_DIR,
    FileCoverage,
    Measurement,
    combine,
    measure,
    project_pythonpath,
    pytest_args,
    pytest_plugins,
    select_tests,
    statement_lines,
)
from bot.engines.failure_brief import brief
from bot.engines.ghostwriter import Candidate, generate
from bot.engines.lfs_pointers import is_lfs_pointer, skipped_pointer
from bot.engines.llm.endings import DEFAULT_TOKENS_PER_RUN
from bot.engines.llm.prompt_secrets import masked_note
from bot.engines.llm.protocol import ChatProvider
from bot.engines.project_layout import (
    by_project,
    covers,
    import_roots,
    project_of,
    project_roots,
    source_root,
)
from bot.engines.testgen_changes import (
    ChangedFunction,
    callers_of,
    changed_functions,
    importable,
    is_test_path,
)
from bot.engines.testgen_patch import build_files, not_utf8_targets, patch_draft
from bot.engines.testgen_validate import ValidationSetup, validate
from bot.models import Finding, Severity, StageName, StageResult, fingerprint
from bot.policies.schema import TestsStageConfig
from bot.sandbox import Limits, Sandbox, SandboxRefused, hostfs
from bot.sandbox.venv import declared_requirements, ensure_venv, write_metadata_shim, write_vcs_version_files
from bot.settings import default_data_dir
from bot.stages.context import ChangedFile, StageContext
from bot.stages.filtering import path_selected
from bot.wording import code_span, path_code, plural, table_cell

RULE_UNTESTED = "tests/untested-change"
CACHE_ENV = "SHUNTER_SANDBOX_CACHE"
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_PARSE_BYTES = 1_000_000
"""Changed files larger than this are not searched for changed functions: parsing and
measuring a generated 12 MB module took 90 s and 7 GB, before any policy decision."""
MAX_TREE_BYTES = 200 * 1024 * 1024
MAX_ROWS = 60


@dataclass
class Target:
    """A changed function and what is known about its changed statement lines."""

    fn: ChangedFunction
    statements: frozenset[int]
    covered_before: frozenset[int] = frozenset()
    covered_after: frozenset[int] = frozenset()
    reason: str = ""

    @property
    def uncovered_before(self) -> frozenset[int]:
        return self.statements - self.covered_before


@dataclass
class Run:
    ctx: StageContext
    opts: TestsStageConfig
    started: float = field(default_factory=time.monotonic)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    llm_tokens: list[int] = field(default_factory=lambda: [0, 0])
    llm_secrets_masked: int = 0
    llm_tokens_per_run: int = DEFAULT_TOKENS_PER_RUN
    """The repository's ``llm.max_tokens_per_run``: each answer of tests gets a share."""
    strength: str = "none"
    """How PR code was contained: ``bubblewrap``, ``rlimits-only``, ``refused`` or ``none``."""
    strength_note: str = ""
    unmeasured: str = ""
    """Why the existing tests' coverage is unknown (their run left no coverage report),
    or empty when it was measured or there was nothing to measure."""

    @property
    def deadline(self) -> float:
        return self.started + self.opts.time_budget_seconds

    def wall(self) -> float:
        """A sandbox run's wall clock: the per-run timeout, within what the budget leaves."""
        left = self.deadline - time.monotonic()
        return max(1.0, min(float(self.opts.timeout_seconds), left))


def per_test_limit(opts: TestsStageConfig) -> float:
    """Seconds a generated candidate's test may run before it is stopped as hanging (pure):
    a quarter of a run's wall clock, at most a tenth of the stage's budget, at least 2 s
    (4.5 s beside the bench's 20 s runs and 45 s budget, 15 s by default). A candidate that
    hangs on some input then costs that, not a whole wall clock: two such left the rest of
    humanize 4.9 -> 4.10's candidates over budget."""
    return max(2.0, min(opts.timeout_seconds / 4, opts.time_budget_seconds / 10))


def cache_root() -> Path:
    """Where per-repo dependency environments are cached between PRs."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    data = os.environ.get("SHUNTER_DATA_DIR")
    return (Path(data) if data else default_data_dir()) / "sandbox-venvs"


def find_targets(ctx: StageContext, opts: TestsStageConfig) -> tuple[list[Target], list[str]]:
    """Changed functions with their changed statement lines (pure; reads the head tree)."""
    targets, notes, _unparsed = _find_targets(ctx, opts)
    return targets, notes


OTHER_LANGUAGES = {
    ".js": "JavaScript", ".jsx": "JavaScript", ".mjs": "JavaScript", ".cjs": "JavaScript",
    ".ts": "TypeScript", ".tsx": "TypeScript", ".mts": "TypeScript", ".cts": "TypeScript",
    ".go": "Go", ".rs": "Rust", ".java": "Java", ".kt": "Kotlin", ".rb": "Ruby", ".php": "PHP",
    ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++", ".hpp": "C++", ".cs": "C#",
    ".swift": "Swift", ".scala": "Scala",
}  # fmt: skip
"""Source in a language the stage does not measure, by suffix, as its summary names it."""


def other_languages(files: Sequence[ChangedFile]) -> list[str]:
    """The languages of a pull request's changed source files, in the order they come, when
    it changes no Python file (pure); empty when it changes Python, or no source at all."""
    present = [f.path for f in files if f.status != "deleted"]
    if any(path.endswith((".py", ".pyi")) for path in present):
        return []
    named = (OTHER_LANGUAGES.get(os.path.splitext(path)[1].lower()) for path in present)
    return list(dict.fromkeys(name for name in named if name))


def _python_only(state: Run, languages: Sequence[str]) -> StageResult:
    """A pull request of JavaScript, Go, Rust...: nothing was measured, which is no pass."""
    result = _result(
        state,
        summary=(
            "Nothing measured: this stage measures the test coverage of Python code only, and this "
            f"pull request changes no Python file (its changed source is {', '.join(languages)})."
        ),
        neutral=True,
    )
    result.metrics["incomplete"] = "measures Python only"
    return result


def _find_targets(ctx: StageContext, opts: TestsStageConfig) -> tuple[list[Target], list[str], int]:
    """``find_targets``, and how many changed files could not be parsed."""
    targets: list[Target] = []
    notes: list[str] = []
    unparsed: dict[str, tuple[str, int]] = {}  # path to its source and its note's index
    layout: frozenset[str] | None = None  # the tree's project folders, read once if needed
    for changed in ctx.files:
        path = changed.path
        if (
            not path.endswith(".py")
            or changed.status == "deleted"
            or changed.is_binary
            or is_test_path(path)
            or not path_selected(path, opts.paths.include, opts.paths.exclude)
        ):
            continue
        data = ctx.head.read(path)
        if data is None:
            continue
        if len(data) > MAX_PARSE_BYTES:
            notes.append(f"Skipped {path_code(path)}: larger than {MAX_PARSE_BYTES // 1_000_000} MB.")
            continue
        if is_lfs_pointer(data):
            notes.append(skipped_pointer(path_code(path)))
            continue
        source = data.decode("utf-8", errors="replace")
        if layout is None:
            layout = project_roots(ctx.head.paths())
        # a monorepo's packages/a/src/a/x.py is module a.x, as its own tests import it
        module = changed_functions(path, source, changed.added_lines, source_root(path, layout))
        if module.parse_error:
            unparsed[path] = (source, len(notes))
            notes.append(module.parse_error)
            continue
        statements = statement_lines(source)
        for fn in module.functions:
            lines = fn.changed_lines & statements
            if lines:
                targets.append(Target(fn, lines))
    # valid Python of a later version than Shunter's is no syntax error: say so instead
    newer = python_syntax.newer_syntax({path: source for path, (source, _) in unparsed.items()})
    for path, found in newer.items():
        notes[unparsed[path][1]] = f"{found.describe(path_code(path))}: no test was generated or run for it"
    return targets, notes, len(unparsed)


def _later_python(ctx: StageContext, projects: Sequence[str]) -> str | None:
    """Which project's ``requires-python`` asks for a later Python than the one the tests
    run with, as a clause, or None. Its code may still run here, but where it fails (on
    syntax this Python lacks, or a dependency pip will not install for it), that is why."""
    for project in projects:
        name = f"{project}/pyproject.toml" if project else "pyproject.toml"
        raw = ctx.head.read(name)
        requires = python_syntax.requires_python(raw) if raw is not None else None
        if requires and python_syntax.needs_newer_python(requires):
            return (
                f"{path_code(name)} requires Python {code_span(requires)}, and Shunter runs tests "
                f"with Python {python_syntax.RUNNING}"
            )
    return None


def materialise(ctx: StageContext, root: Path) -> list[str]:
    """Write the head tree into ``root`` (capped); returns what was skipped and why.

    Paths that are not plain relative paths (``..``, absolute) or that would pass through
    a link or a file are skipped: ``hostfs`` never follows links, so nothing lands outside.
    """
    skipped: list[str] = []
    total = 0
    for path in ctx.head.paths():
        data = ctx.head.read(path)
        if data is None:
            continue
        if len(data) > MAX_FILE_BYTES or total + len(data) > MAX_TREE_BYTES:
            skipped.append(path)
            continue
        try:
            hostfs.write_file(root, path, data)
        except hostfs.UnsafeWorkPath:
            skipped.append(path)
            continue
        total += len(data)
    return skipped


def run(
    ctx: StageContext,
    *,
    llm: ChatProvider | None = None,
    llm_tokens_per_run: int = DEFAULT_TOKENS_PER_RUN,
) -> StageResult:
    """The stage entry point (see the module docstring); never raises for PR content.

    ``llm`` is the chat provider for ``engine: llm`` (built by the caller from the
    repository's ``llm:`` config, whose ``max_tokens_per_run`` is ``llm_tokens_per_run``);
    without it the builtin engine runs alone.
    """
    opts = ctx.options if isinstance(ctx.options, TestsStageConfig) else TestsStageConfig()
    state = Run(ctx, opts, llm_tokens_per_run=llm_tokens_per_run)
    state.targets, parse_notes, unparsed = _find_targets(ctx, opts)
    state.notes += parse_notes
    if not state.targets and unparsed:
        # changed functions may be there, unread: measuring nothing is not a pass
        return _result(
            state,
            summary=f"Nothing measured: {plural(unparsed, 'changed Python file')} could not be parsed.",
            neutral=True,
        )
    if not state.targets:
        other = other_languages(ctx.files)
        if other:
            return _python_only(state, other)
        return _result(state, summary="No changed Python function to measure.")
    limits = Limits(wall_seconds=float(opts.timeout_seconds))
    try:
        sandbox = Sandbox.for_pr(
            trusted_author=ctx.author_trusted(),
            run_untrusted=opts.run_untrusted,
            limits=limits,
            origin=ctx.origin,
        )
    except SandboxRefused as exc:
        state.notes.append(exc.reason)
        state.strength = "refused"
        return _result(state, neutral=True, refused=exc.reason)
    state.notes += sandbox.notes
    state.strength = sandbox.strength.value
    state.strength_note = sandbox.notes[0] if sandbox.notes else ""
    workdir = Path(tempfile.mkdtemp(prefix="shunter-tests-"))
    try:
        return _run_in(state, sandbox, workdir, llm)
    except hostfs.UnsafeWorkPath as exc:
        # PR code left a link (or a directory, or a locked dir) where Shunter writes its
        # own files; hostfs refused to follow it. Hostile or broken, the run cannot go on.
        reason = (
            "stopped: the code under test replaced Shunter's working files in the sandbox "
            f"(`{exc.rel}` {exc.problem}), so nothing more was run"
        )
        state.notes.append(reason)
        return _result(state, neutral=True, refused=reason)
    finally:
        hostfs.remove_tree(workdir)  # not shutil.rmtree: PR code can nest past its recursion limit


def _run_in(state: Run, sandbox: Sandbox, workdir: Path, llm: ChatProvider | None) -> StageResult:
    ctx, opts = state.ctx, state.opts
    skipped = materialise(ctx, workdir)
    if skipped:
        state.notes.append(f"{len(skipped)} large or unsafe files were not materialised")
    # a monorepo's packages each declare what their own tests import
    paths = list(ctx.head.paths())
    layout = project_roots(paths)
    projects = sorted({project_of(t.fn.path, layout) for t in state.targets})
    later = _later_python(ctx, projects)
    if later:
        state.notes.append(f"{later}: what needs the later Python fails here")
    declared = declared_requirements(workdir, projects, layout)
    state.notes += [f"ignored requirement: {item}" for item in declared.unsupported[:5]]
    venv = ensure_venv(
        declared.requirements,
        sandbox=sandbox,
        cache_root=cache_root(),
        time_limit=min(300.0, max(10.0, state.deadline - time.monotonic())),
    )
    if not venv.ok:
        reason = f"dependencies could not be installed ({', '.join(venv.failed)}): {venv.note}"
        if later:
            reason += f" ({later})"
        state.notes.append(reason)
        return _result(state, neutral=True, refused=reason)
    if venv.installed:
        state.notes.append(venv.note)
    write_metadata_shim(workdir, projects)
    for path in write_vcs_version_files(workdir, projects):
        state.notes.append(f"wrote {path_code(path)}, the version file a build would generate (not in git)")
    roots = tuple(import_roots(paths, first=[t.fn.path for t in state.targets]))
    pythonpath = project_pythonpath(workdir, roots)
    venv_sites = [str(p) for r in venv.ro_paths for p in Path(r).glob("lib/python*/site-packages")]
    plugins = pytest_plugins(declared.requirements, venv_sites)

    def limits_now() -> Limits:
        return sandbox.limits.scaled(wall_seconds=state.wall())

    def in_sandbox(
        tests: list[str], tag: str, *, contexts: bool = False, extra_args: Sequence[str] = ()
    ) -> Measurement:
        """``measure`` on one pytest session's tests: the final run of the merged files
        gets a whole ``timeout_seconds``, the others what the budget leaves."""
        wall = float(opts.timeout_seconds) if tag == "final" else state.wall()
        return measure(
            sandbox, workdir, python=venv.python, tests=tests, tag=tag, contexts=contexts,
            limits=sandbox.limits.scaled(wall_seconds=wall), ro_paths=venv.ro_paths,
            extra_args=extra_args, plugins=plugins, import_roots=roots,
        )  # fmt: skip

    # 1. the existing tests that matter, under coverage
    extra, problem = pytest_args(opts.test_command)
    if problem:
        state.notes.append(problem)
    tests = _existing_tests(ctx, state.targets)
    if extra or tests:
        # one pytest session per package (``combine`` says why); a test_command is one
        groups = [[]] if extra else by_project(tests, layout)
        base = combine([in_sandbox(group, "base", extra_args=extra) for group in groups])
        if base.problem and not base.coverage:
            # PR code may have made the report unreachable by replacing Shunter's dir with a
            # link: that stops the run as such (UnsafeWorkPath), not as a slow suite
            hostfs.make_dirs(workdir, SHUNTER_DIR)
            state.unmeasured = base.problem
            # a suite that fails to import on this Python is not a slow one
            later_only = bool(later) and not base.result.timed_out
            state.notes.append(_unmeasured_note(base.problem, opts, later_python=later_only))
            return _result(state, neutral=True)
        if base.problem:
            state.notes.append(f"existing tests: {base.problem}")
        elif base.result.exit_code not in (0, 5):
            state.notes.append(f"existing tests: {base.result.note} (coverage still counted)")
        for target in state.targets:
            cov = base.coverage.get(target.fn.path)
            executed = cov.executed if cov else frozenset()
            target.covered_before = target.statements & executed
    else:
        state.notes.append("no existing test imports the changed modules")
    for target in state.targets:
        target.covered_after = target.covered_before

    if ctx.cancelled():
        return _cancelled(state)

    # 2. candidates for what the existing tests miss
    uncovered = [t for t in state.targets if t.uncovered_before]
    for target in uncovered:
        if not importable(target.fn.module):
            target.reason = (
                f"no test proposed: a test cannot import {path_code(target.fn.path)} (not a module name)"
            )
        elif target.fn.is_async:
            target.reason = "no test proposed: async functions are not ghostwritten"
    uncovered = [t for t in uncovered if importable(t.fn.module)]
    wanted = [t for t in uncovered if not t.fn.is_async and not t.fn.is_private]
    goals, proxies = _generation_goals(ctx, wanted, [t for t in uncovered if t.fn.is_private])
    goals = {dotted: goal for dotted, goal in goals.items() if goal[1]}
    if goals and opts.max_generated_tests == 0:
        for target in wanted:
            target.reason = "no test proposed: max_generated_tests is 0"
    setup = ValidationSetup(
        sandbox=sandbox, workdir=workdir, python=venv.python, ro_paths=venv.ro_paths,
        limits=limits_now(), deadline=state.deadline, plugins=tuple(plugins),
        test_limit=per_test_limit(opts), import_roots=roots,
    )  # fmt: skip
    if goals and opts.max_generated_tests > 0 and time.monotonic() < state.deadline:
        gen = generate(
            sandbox, workdir, [fn for fn, _ in goals.values()], python=venv.python,
            limits=limits_now(), ro_paths=venv.ro_paths, pythonpath=pythonpath,
        )  # fmt: skip
        _cap_attempts(gen.candidates, opts.attempts_per_function)
        state.candidates = gen.candidates
        for target in wanted:
            if target.fn.dotted in gen.reasons:
                target.reason = gen.reasons[target.fn.dotted]
        validate(
            setup,
            state.candidates,
            uncovered={dotted: lines for dotted, (_fn, lines) in goals.items()},
            max_kept=opts.max_generated_tests,
        )
    if opts.engine == "llm" and goals and opts.max_generated_tests > 0:
        if llm is None:
            state.notes.append(
                "the llm engine is selected, but no LLM provider reached the stage; "
                "only the builtin engine ran"
            )
        else:
            _llm_rounds(state, llm, goals, replace(setup, limits=limits_now()))
    for helper in (t for t in uncovered if t.fn.is_private and not t.fn.is_async):
        callers = proxies.get(helper.fn.dotted, [])
        helper.reason = (
            f"private helper: tests were sought through its {'caller' if len(callers) == 1 else 'callers'} "
            f"{', '.join(callers)}"
            if callers
            else "no test proposed: private helper with no public caller in its module"
        )

    if ctx.cancelled():
        return _cancelled(state)

    # 3. the merged test files, run once more exactly as they would be committed
    kept = [c for c in state.candidates if c.verdict == "kept"]
    patches = []
    if kept:
        repo_paths = list(ctx.head.paths())
        for path, cands in not_utf8_targets(kept, ctx.head.read, repo_paths).items():
            state.notes.append(
                f"{path_code(path)} is not UTF-8 text: Shunter adds no tests to it (a patch "
                f"could not keep its bytes), so {plural(len(cands), 'kept test')} for it "
                f"{'is' if len(cands) == 1 else 'are'} not offered"
            )
            for cand in cands:
                cand.verdict, cand.detail = "not-merged", f"{path} is not UTF-8 text"
        kept = [c for c in kept if c.verdict == "kept"]
    if kept:
        files = build_files(kept, ctx.head.read, repo_paths)
        for path, (_before, text) in files.items():
            hostfs.write_file(workdir, path, text)  # never through a link PR code planted
        final = combine([in_sandbox(group, "final", contexts=True) for group in by_project(files, layout)])
        if final.result.exit_code == 0 and not final.problem:
            patches.append(patch_draft(files, kept))
            for target in state.targets:
                ran = run_by_tests(target, final.coverage.get(target.fn.path))
                target.covered_after = target.covered_before | ran
        else:
            state.notes.append(
                "the merged test file did not pass as a whole "
                f"({final.problem or final.result.note}); no patch is offered"
            )
            for cand in kept:
                cand.verdict, cand.detail = "fails", "failed when merged into the test file"
    for target in state.targets:
        has_kept = any(c.verdict == "kept" and c.target is target.fn for c in state.candidates)
        via = proxies.get(target.fn.dotted)
        if has_kept:
            target.reason = ""
        elif via and len(target.covered_after) > len(target.covered_before):
            target.reason = (
                f"reached by the generated {'test' if len(via) == 1 else 'tests'} for {', '.join(via)}"
            )
        elif target.uncovered_before and not target.reason:
            target.reason = _why_not(target, state.candidates)
    return _result(state, patches=patches)


def _llm_rounds(
    state: Run,
    llm: ChatProvider,
    goals: dict[str, tuple[ChangedFunction, frozenset[int]]],
    setup: ValidationSetup,
) -> None:
    """The Cover-Agent loop: propose, validate, tell the model what was discarded, repeat.

    A function whose answer failed (cut off, refused, the service down) is not asked
    again: with no discarded tests to tell the model about, the second round's request
    would be the first one's, and fail the same way."""
    from bot.engines.testgen_llm import feedback_for, propose

    ctx, opts = state.ctx, state.opts
    feedback: dict[str, list[str]] = {}
    failed: set[str] = set()
    for _round in range(min(2, opts.attempts_per_function)):
        if time.monotonic() > state.deadline or ctx.cancelled():
            return
        gained: dict[str, set[int]] = {}
        for cand in state.candidates:
            if cand.verdict == "kept":
                gained.setdefault(cand.target.dotted, set()).update(cand.gained_lines)
        remaining = {d: lines - gained.get(d, set()) for d, (_fn, lines) in goals.items()}
        todo = [(goals[d][0], rest) for d, rest in remaining.items() if rest and d not in failed]
        room = opts.max_generated_tests - sum(c.verdict == "kept" for c in state.candidates)
        if not todo or room <= 0:
            return
        start = max((c.index for c in state.candidates), default=0)
        answer = propose(
            llm, todo, read=ctx.head.read, repo_paths=list(ctx.head.paths()), start=start,
            feedback=feedback, tokens_per_run=state.llm_tokens_per_run,
        )  # fmt: skip
        failed.update(answer.errors)
        state.llm_tokens[0] += answer.input_tokens
        state.llm_tokens[1] += answer.output_tokens
        state.llm_secrets_masked += answer.secrets_masked
        for error in answer.errors.values():
            if error not in state.notes:
                state.notes.append(error)
        state.candidates += answer.candidates
        validate(setup, answer.candidates, uncovered=remaining, max_kept=room)
        feedback = feedback_for(answer.candidates)


def _unmeasured_note(problem: str, opts: TestsStageConfig, *, later_python: bool = False) -> str:
    """What to do when the existing tests left no coverage: a whole suite killed at the
    wall clock (more-itertools' took 160 s under coverage) leaves nothing behind.
    ``later_python``: the project asks for a later Python (a note says which), the likely
    cause of a run that failed, which no time limit would change."""
    if later_python:
        return (
            f"the existing tests' coverage of the changed lines is unknown; {problem}, likely because "
            "the project needs a later Python than Shunter's (see the note on `requires-python`). "
            "No test is proposed"
        )
    return (
        f"the existing tests' coverage of the changed lines is unknown; {problem}. No test "
        "is proposed, since which changed lines they miss is unknown. Raise "
        f"`stages.tests.timeout_seconds` (now {opts.timeout_seconds}) in `.github/shunter.yml`, "
        "or set `stages.tests.test_command` to a faster pytest selection"
    )


def _cancelled(state: Run) -> StageResult:
    """A newer push superseded this head: stop between steps, publish nothing as final."""
    state.notes.append("stopped early: the pull request's head moved on")
    return _result(state, neutral=True, refused="stopped early: the head moved on")


def run_by_tests(target: Target, cov: FileCoverage | None) -> frozenset[int]:
    """The target's changed lines that some test ran (pure): those with a test's context,
    and with them its ``def`` line (and decorators). The ``def`` line runs when the test
    file imports the module, outside any test; credited on that alone it gave isodate's
    parse_date '0 -> 1 covered' beside 'no kept test'."""
    if cov is None:
        return frozenset()
    ran = target.statements & {line for line, contexts in cov.contexts.items() if contexts}
    if not ran:
        return frozenset()
    header = {n for n in target.statements if n <= target.fn.start_line}
    return ran | (header & cov.executed)


def _body_lines(target: Target) -> frozenset[int]:
    """Uncovered lines a test can reach: the ``def`` line (and its decorators) runs when
    the module is imported, never inside a test, so it is no test's goal."""
    return frozenset(n for n in target.uncovered_before if n > target.fn.start_line)


def _generation_goals(
    ctx: StageContext, wanted: list[Target], helpers: list[Target]
) -> tuple[dict[str, tuple[ChangedFunction, frozenset[int]]], dict[str, list[str]]]:
    """What to ghostwrite, and which changed lines each generated test should reach.

    Public functions aim at their own uncovered lines; a private helper's uncovered lines
    are assigned to its public callers in the same module (up to two), which are
    ghostwritten in its place. Returns the goals by dotted name and, per helper, the
    callers chosen for it.
    """
    goals = {t.fn.dotted: (t.fn, _body_lines(t)) for t in wanted}
    proxies: dict[str, list[str]] = {}
    for helper in helpers:
        data = ctx.head.read(helper.fn.path) or b""
        callers = callers_of(helper.fn.path, data.decode("utf-8", errors="replace"), helper.fn)
        for caller in callers[:2]:
            fn, lines = goals.get(caller.dotted, (caller, frozenset()))
            goals[caller.dotted] = (fn, lines | _body_lines(helper))
            proxies.setdefault(helper.fn.dotted, []).append(caller.qualname)
    return goals, proxies


def _existing_tests(ctx: StageContext, targets: list[Target]) -> list[str]:
    """The test files that can exercise the targets' modules (``select_tests``). In a
    monorepo only those of the module's own package or of one enclosing it count: a sibling
    package's ``tests/test_utils.py`` tests its own ``utils``, and run here it fails to
    import."""
    paths = list(ctx.head.paths())
    layout = project_roots(paths)
    texts = {}
    for path in paths:
        name = Path(path).name
        if path.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
            data = ctx.head.read(path)
            if data is not None and len(data) <= MAX_FILE_BYTES:
                texts[path] = data.decode("utf-8", errors="replace")
    chosen: list[str] = []
    for path, module in sorted({(t.fn.path, t.fn.module) for t in targets}):
        project = project_of(path, layout)
        own = {test: text for test, text in texts.items() if covers(project_of(test, layout), project)}
        for test in select_tests(path, module, own):
            if test not in chosen:
                chosen.append(test)
    return chosen


def _cap_attempts(candidates: list[Candidate], attempts: int) -> None:
    used: Counter[str] = Counter()
    for cand in candidates:
        if cand.verdict != "pending":
            continue
        used[cand.target.dotted] += 1
        if used[cand.target.dotted] > attempts:
            cand.verdict, cand.detail = "over-budget", "attempts_per_function reached"


VERDICT_WORDS = {
    "fails": "failed",
    "flaky": "flaky",
    "does-not-import": "did not import",
    "no-inputs": "found no usable inputs",
    "no-coverage-gain": "added no coverage",
    "over-budget": "over budget",
    "timeout": "timed out",
    "crashes": "crashed",
    "placeholder": "placeholder only",
    "holds-secret": "held a secret",
}
"""Candidate verdicts as a reader says them; the metrics keep the machine's words."""


def verdict_counts(verdicts: Counter[str]) -> str:
    """``1 failed, 2 flaky``: how many candidates met each fate, most common first."""
    ordered = sorted(verdicts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{n} {VERDICT_WORDS.get(v, v.replace('-', ' '))}" for v, n in ordered)


def _why_not(target: Target, candidates: list[Candidate]) -> str:
    mine = [c for c in candidates if c.target is target.fn]
    if not mine:
        return "no test proposed"
    verdicts = Counter(c.verdict for c in mine)
    example = next((c.detail for c in mine if c.detail and c.verdict != "kept"), "")
    tried = plural(len(mine), "candidate")
    return f"no kept test: of {tried}, {verdict_counts(verdicts)}" + (
        f" ({brief(example)})" if example else ""
    )


def _pct(part: int, whole: int) -> str:
    return f"{(100 * part / whole):.0f}%" if whole else "n/a"


def _result(
    state: Run,
    *,
    summary: str | None = None,
    neutral: bool = False,
    refused: str | None = None,
    patches: list | None = None,
) -> StageResult:
    ctx = state.ctx
    total = sum(len(t.statements) for t in state.targets)
    before = sum(len(t.covered_before) for t in state.targets)
    after = sum(len(t.covered_after) for t in state.targets)
    cands = [c for c in state.candidates]
    kept = [c for c in cands if c.verdict == "kept"]
    discards = Counter(c.verdict for c in cands if c.verdict not in ("kept", "pending"))
    findings = [] if refused or state.unmeasured else _findings(state)
    untested = [] if state.unmeasured else [t for t in state.targets if t.covered_after != t.statements]
    if summary is None:
        summary = _summary(state, total, before, after, kept, discards, refused, untested)
    return StageResult(
        stage=StageName.TESTS,
        head_sha=ctx.head_sha,
        findings=findings,
        patches=patches or [],
        summary=summary,
        notes=[*state.notes, *masked_note(state.llm_secrets_masked)],
        neutral=neutral,
        metrics={
            "functions_changed": len(state.targets),
            "functions_untested": len(untested),
            "changed_lines": total,
            "covered_before": before,
            "covered_after": after,
            "candidates": len(cands),
            "kept": len(kept),
            "discards": dict(discards),
            "sandbox": state.strength,
            "llm_tokens": {"input": state.llm_tokens[0], "output": state.llm_tokens[1]},
            "llm_secrets_masked": state.llm_secrets_masked,
            "seconds": round(time.monotonic() - state.started, 2),
        },
    )


def _findings(state: Run) -> list[Finding]:
    out = []
    for target in state.targets:
        missing = sorted(target.statements - target.covered_after)
        if not missing:
            continue
        fn = target.fn
        data = state.ctx.head.read(fn.path) or b""
        lines = data.decode("utf-8", errors="replace").splitlines()
        line = missing[0]
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        message = (
            f"{len(missing)} of {plural(len(target.statements), 'changed line')} of `{fn.qualname}` "
            f"{'runs' if len(missing) == 1 else 'run'} under no test"
        )
        if target.reason:
            message += f"; {target.reason}"
        out.append(
            Finding(
                stage=StageName.TESTS,
                rule_id=RULE_UNTESTED,
                severity=Severity.NOTICE,
                message=message,
                path=fn.path,
                start_line=line,
                end_line=line,
                title=f"Untested change in {fn.qualname}",
                fingerprint=fingerprint(RULE_UNTESTED, fn.path, f"{fn.qualname}:{text}"),
            )
        )
    return out


def _summary(
    state: Run,
    total: int,
    before: int,
    after: int,
    kept: list[Candidate],
    discards: Counter[str],
    refused: str | None,
    untested: list[Target],
) -> str:
    lines = []
    if refused or state.unmeasured:
        if refused:
            lines.append("**Not run**: the notes below say why.")  # ``refused`` is one of them
        else:
            lines.append(
                "**Not measured**: the existing tests' coverage of the changed lines is unknown; "
                f"{state.unmeasured}. The notes below say what to change."
            )
        lines.append("")
        lines.append(f"Changed functions ({len(state.targets)}), coverage not measured:")
        lines += [
            f"- {code_span(t.fn.dotted)} ({path_code(t.fn.path, suffix=f':{t.fn.start_line}')})"
            for t in state.targets
        ]
        return "\n".join(lines)
    lines.append(
        f"**Changed-line coverage:** {before}/{total} ({_pct(before, total)}) by the existing "
        f"tests → {after}/{total} ({_pct(after, total)}) with the proposed tests."
    )
    cands = len(state.candidates)
    if cands:
        parts = verdict_counts(discards)
        lines.append(
            f"**Generated:** {plural(cands, 'candidate')}, {len(kept)} kept ({_pct(len(kept), cands)})"
            + (f"; discarded: {parts}." if parts else ".")
        )
    if state.strength == "rlimits-only":
        lines.append(f"**Weaker sandbox:** {state.strength_note}.")
    else:
        lines.append("_Ran under bubblewrap: no network, no secrets, read-only system._")
    lines.append("")
    lines.append("| function | changed lines | covered before | after | note |")
    lines.append("|---|---|---|---|---|")
    for t in state.targets[:MAX_ROWS]:
        note = t.reason or ("covered" if t.covered_after == t.statements else "")
        if any(c.verdict == "kept" and c.target is t.fn for c in state.candidates):
            note = "generated test kept"
        lines.append(
            f"| {code_span(t.fn.dotted, table=True)} | {len(t.statements)} | {len(t.covered_before)} | "
            f"{len(t.covered_after)} | {table_cell(note, 500)} |"
        )
    if len(state.targets) > MAX_ROWS:
        lines.append(f"| … {len(state.targets) - MAX_ROWS} more | | | | |")
    if kept:
        lines.append("")
        lines.append("The kept tests are offered as a patch.")
    if untested:
        lines.append("")
        lines.append(
            f"{plural(len(untested), 'changed function')} still "
            f"{'has' if len(untested) == 1 else 'have'} lines no test runs."
        )
    return "\n".join(lines)
