"""Measuring which changed lines tests execute: coverage.py + pytest inside the sandbox.

The pure half decides which tests matter for a module, which lines are statements, and
reads coverage's JSON and pytest's JUnit XML; the shell half (``measure``) runs one
``coverage run -m pytest`` in the sandbox. Everything read back from the sandbox is
treated as hostile input: size-capped, read only as a regular file reached without links,
shape-checked (a report of the wrong shape is "unreadable", never a crash), and XML with
entity declarations is refused. Everything written into the work dir goes through
``bot.sandbox.hostfs``, which never follows a link the sandboxed code planted there.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import TypeVar

from coverage.exceptions import CoverageException
from coverage.parser import PythonParser
from packaging.requirements import InvalidRequirement, Requirement

from bot.sandbox import Limits, Sandbox, SandboxResult, hostfs

T = TypeVar("T")
SHUNTER_DIR = ".shunter"
MAX_REPORT_BYTES = 20 * 1024 * 1024
TIME_LIMIT_PLUGIN = Path(__file__).with_name("time_limit_plugin.py")
"""Copied into the sandbox, never imported here: it imports pytest, a test-only dependency."""
HANG_LOG = "hung.log"
"""Where ``time_limit_plugin`` has ``faulthandler`` say where a test was stuck."""
CONTEXT_PLUGIN = """\
# Written by Shunter: label coverage with the running test's node id. coverage.py's own
# test_function contexts would name Hypothesis's engine instead of the test.
import coverage
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    cov = coverage.Coverage.current()
    if cov is not None:
        cov.switch_context(item.nodeid)
    yield
    if cov is not None:
        cov.switch_context("")
"""
PROGRESS_PLUGIN = """\
# Written by Shunter: note each test as it starts and ends, one unbuffered write a line,
# so that when the run is killed at the wall clock Shunter knows which test was running.
import os

import pytest

_LOG = os.open(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "progress.log"),
    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    0o600,
)


def _note(event, item):
    os.write(_LOG, (event + " " + item.nodeid.replace("\\n", " ") + "\\n").encode("utf-8", "replace"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _note("start", item)
    yield
    _note("end", item)
"""
COVERAGERC = """\
[run]
data_file = {dir}/coverage.dat
relative_files = true
source = .
omit = {dir}/*
[json]
output = {dir}/coverage.json
show_contexts = {show}
"""


def statement_lines(source: str) -> frozenset[int]:
    """Executable lines as coverage.py counts them, from the source alone (nothing runs).

    An empty module (a new, empty ``__init__.py``) has none; coverage's parser refuses an
    empty text with an AssertionError, which crashed the tests stage.
    """
    if not source:
        return frozenset()
    try:
        parser = PythonParser(text=source)
        parser.parse_source()
    except (CoverageException, SyntaxError, ValueError):
        return frozenset()
    return frozenset(parser.statements)


def select_tests(module_path: str, module: str, tests: dict[str, str]) -> list[str]:
    """Existing test files that can exercise ``module``: by name, or by importing it.

    ``tests`` maps test file paths to their text. Name matches (``test_mod.py``,
    ``mod_test.py``) and imports of the module or its package name are both counted, so a
    ``tests/test_api.py`` that does ``from pkg.mod import f`` is found. So is a test of the
    top-level package's own API (``import pkg``, ``from pkg import parse``): packages
    re-export their submodules' functions there, and tomlkit's tests, which all import
    ``tomlkit``, were measured as running none of ``tomlkit/container.py``. A test that
    imports only a sibling submodule (``import pkg.other``) is not counted.
    """
    stem = PurePosixPath(module_path).stem
    if stem == "__init__":
        stem = PurePosixPath(module_path).parent.name
    parent, _, leaf = module.rpartition(".")
    top = re.escape(module.partition(".")[0])
    patterns = [
        rf"^\s*import\s+{re.escape(module)}\b",
        rf"^\s*from\s+{re.escape(module)}\s+import\b",
        rf"^\s*import\s+{top}(?![\w.])",
        rf"^\s*from\s+{top}\s+import\b",
    ]
    if parent:
        patterns.append(rf"^\s*from\s+{re.escape(parent)}\s+import\s+[^\n]*\b{leaf}\b")
    importing = re.compile("|".join(patterns), re.MULTILINE)
    chosen = []
    for path, text in sorted(tests.items()):
        name = PurePosixPath(path).name
        if name in (f"test_{stem}.py", f"{stem}_test.py") or importing.search(text):
            chosen.append(path)
    return chosen


@dataclass(frozen=True)
class FileCoverage:
    executed: frozenset[int]
    missing: frozenset[int]
    contexts: dict[int, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class TestOutcome:
    """One pytest testcase from JUnit XML."""

    __test__ = False  # not a pytest class, despite the name

    file_key: str
    name: str
    passed: bool
    message: str = ""
    """Everything JUnit says about a failure: the message and the traceback's tail."""
    headline: str = ""
    """Only the first failure's message (the exception, Hypothesis' falsifying example):
    what a reader of the check run is shown, where the traceback would be noise."""


@dataclass
class Measurement:
    result: SandboxResult
    coverage: dict[str, FileCoverage] = field(default_factory=dict)
    outcomes: list[TestOutcome] = field(default_factory=list)
    problem: str | None = None
    running: str | None = None
    """The node id of the test that had started and not ended when the run stopped (read
    only with ``progress``): the one to blame when the run hung or died."""
    stuck_in: str = ""
    """Where the test that ran over the per-test limit was stuck when the process was
    ended for not coming back to Python (``time_limit_plugin``), as ``path:line in name``;
    empty otherwise."""


def combine(runs: Sequence[Measurement]) -> Measurement:
    """One measurement of several runs (pure): the lines any of them executed, every
    outcome, their problems, and the first failed run's result (else the last's; pytest's
    "no tests collected" counts as failed only when nothing else failed).

    A monorepo's packages are run in one pytest session each, as their own CI runs them:
    two packages' ``tests/__init__.py`` with a ``test_utils.py`` each are both the module
    ``tests.test_utils`` to pytest, and in one session the second was not collected."""
    if len(runs) == 1:
        return runs[0]
    coverage: dict[str, FileCoverage] = {}
    for run in runs:
        for path, cov in run.coverage.items():
            had = coverage.get(path)
            if had is None:
                coverage[path] = cov
                continue
            executed = had.executed | cov.executed
            contexts = dict(had.contexts)
            for line, names in cov.contexts.items():
                contexts[line] = contexts.get(line, frozenset()) | names
            coverage[path] = FileCoverage(executed, (had.missing | cov.missing) - executed, contexts)
    # a failure before "no tests collected" (5), which a caller may accept
    failed = sorted(
        (run for run in runs if run.result.exit_code != 0), key=lambda run: run.result.exit_code == 5
    )
    problems = [run.problem for run in runs if run.problem]
    return Measurement(
        result=(failed or runs)[0 if failed else -1].result,
        coverage=coverage,
        outcomes=[outcome for run in runs for outcome in run.outcomes],
        problem="; ".join(dict.fromkeys(problems)) or None,
        running=next((run.running for run in runs if run.running), None),
        stuck_in=next((run.stuck_in for run in runs if run.stuck_in), ""),
    )


def _shaped(value: object, kind: type[T], what: str) -> T:
    if not isinstance(value, kind):
        raise ValueError(f"{what} is not a JSON {'object' if kind is dict else 'array'}")
    return value


def _line_numbers(value: object, what: str) -> frozenset[int]:
    items = _shaped(value, list, what)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in items):
        raise ValueError(f"{what} holds something other than line numbers")
    return frozenset(items)


def parse_coverage_json(text: str) -> dict[str, FileCoverage]:
    """coverage.py's JSON report, per file. The sandbox wrote it, so its shape is checked:
    anything unexpected raises ``ValueError`` (the caller's "unreadable report")."""
    data = _shaped(json.loads(text), dict, "the coverage report")
    out: dict[str, FileCoverage] = {}
    for path, raw in _shaped(data.get("files") or {}, dict, "its files").items():
        info = _shaped(raw, dict, f"the entry for {path}")
        contexts = {
            int(line): frozenset(str(c) for c in _shaped(ctxs, list, "a context list") if c)
            for line, ctxs in _shaped(info.get("contexts") or {}, dict, "its contexts").items()
        }
        out[str(PurePosixPath(path))] = FileCoverage(
            executed=_line_numbers(info.get("executed_lines", []), "executed_lines"),
            missing=_line_numbers(info.get("missing_lines", []), "missing_lines"),
            contexts=contexts,
        )
    return out


def parse_junit(text: str) -> list[TestOutcome]:
    """Testcases from pytest's JUnit XML; collection errors appear as failed testcases."""
    if "<!ENTITY" in text or "<!DOCTYPE" in text:
        raise ValueError("JUnit report declares entities; refusing to parse it")
    root = ET.fromstring(text)  # noqa: S314 - no DTD/entities (checked above), size-capped
    outcomes = []
    for case in root.iter("testcase"):
        bad = [c for c in case if c.tag in ("failure", "error", "skipped")]
        message = " ".join(f"{c.tag}: {c.get('message', '')} {(c.text or '')[-2000:]}" for c in bad)
        outcomes.append(
            TestOutcome(
                file_key=f"{case.get('classname', '')} {case.get('file', '')}",
                name=case.get("name", ""),
                passed=not bad,
                message=message.strip(),
                headline=_headline(bad),
            )
        )
    return outcomes


_GROUP = re.compile(r"^(?:Base)?ExceptionGroup: ")
_FIRST_MEMBER = re.compile(r"^\s*\+-\+-+ 1 -+$")
_EXAMPLE = re.compile(r"^(?:Failing test case|Falsifying example):")


_SHORTENED = re.compile(r"\n\[(?:\+\d+ more lines?|truncated); full report in element text\]$")
"""pytest's (9.x) note ending a JUnit ``message`` it cut to 500 characters."""


def _headline(bad: list[ET.Element]) -> str:
    """The first failure's message; for an exception group (Hypothesis' 'found 2 distinct
    failures') the first member's exception and falsifying example, read from the report's
    traceback: the group's own message names no exception and no input, and the detail
    is what the PR's author reads (within 160 characters, so no count is added). A message
    pytest cut short is read whole from the traceback too: Hypothesis' input comes last,
    and pydantic's ValidationError for two fields left it out."""
    message = next((c.get("message", "") for c in bad if c.get("message")), "").strip()
    text = next((c.text or "" for c in bad if c.get("message")), "")
    if _GROUP.match(message):
        return first_group_member(text) or message
    if _SHORTENED.search(message):
        return last_error(text) or message
    return message


def last_error(traceback: str) -> str:
    """The exception that ends pytest's rendering of a failure: its last run of ``E``
    lines, without the marker and pytest's indent (pure). Empty when there is none."""
    runs: list[list[str]] = [[]]
    for line in traceback.splitlines():
        if line == "E" or line.startswith("E "):
            runs[-1].append(line[8:] if line.startswith("E       ") else line[1:].strip())
        elif runs[-1] and line.strip():
            runs.append([])
    return "\n".join(next((run for run in reversed(runs) if run), [])).strip()


def first_group_member(traceback: str) -> str:
    """The exception (and the falsifying example Hypothesis noted on it) that ends the
    first member of an exception group in Python's rendering of its traceback (pure):
    ``+-+---- 1 ----`` then ``| ...`` lines. Empty when the text has no such member."""
    lines = traceback.splitlines()
    start = next((i for i, line in enumerate(lines) if _FIRST_MEMBER.match(line)), None)
    if start is None:
        return ""
    member: list[str] = []
    for line in lines[start + 1 :]:
        bar = line.lstrip()
        if not bar.startswith("|"):
            break  # the next member's "+---- 2 ----", or the group's end
        member.append(bar[2:] if bar.startswith("| ") else bar[1:])
    while member and not member[-1].strip():
        member.pop()
    end = next((i for i, line in enumerate(member) if _EXAMPLE.match(line)), len(member))
    begin = end
    while begin > 0 and member[begin - 1].strip() and not member[begin - 1].startswith(" "):
        begin -= 1  # the exception's own lines, after the last frame of its traceback
    return "\n".join(member[begin:]).strip()  # and the example, when Hypothesis noted one


def pytest_args(test_command: str | None) -> tuple[list[str], str | None]:
    """Extra pytest arguments from the policy's ``test_command``, or why it was ignored.

    Coverage has to wrap the test runner, so only pytest commands are understood
    (``pytest ...`` or ``python -m pytest ...``); their arguments replace the selection.
    """
    if not test_command:
        return [], None
    argv = shlex.split(test_command)
    if argv[:1] == ["pytest"]:
        return argv[1:], None
    if len(argv) >= 3 and argv[1:3] == ["-m", "pytest"] and "python" in argv[0]:
        return argv[3:], None
    return [], f"test_command {test_command!r} is not a pytest command; using the default"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pytest_plugins(wanted: Iterable[str], site_dirs: Iterable[str] = ()) -> list[str]:
    """``-p`` arguments for the pytest plugins the repository declares, plus Hypothesis's.

    Plugin autoloading is switched off in the sandbox: the worker's own plugins
    (pytest-asyncio, pytest-timeout...) would otherwise load into every repository's test
    run and can break it (a deprecation warning under ``filterwarnings = error``).
    """
    names = {"hypothesis"}
    for line in wanted:
        with contextlib.suppress(InvalidRequirement):
            names.add(_normal(Requirement(line).name))
    modules: list[str] = []
    for ep in metadata.entry_points(group="pytest11"):
        dist = ep.dist.name if ep.dist is not None else ""
        if _normal(dist) in names:
            modules.append(ep.value.split(":")[0])
    for site in site_dirs:
        for ep_file in Path(site).glob("*.dist-info/entry_points.txt"):
            dist = ep_file.parent.name.split("-")[0]
            if _normal(dist) not in names:
                continue
            parser = configparser.ConfigParser()
            with contextlib.suppress(configparser.Error, OSError):
                parser.read_string(ep_file.read_text(errors="replace"))
            if parser.has_section("pytest11"):
                modules += [v.split(":")[0].strip() for v in parser["pytest11"].values()]
    args: list[str] = []
    for module in dict.fromkeys(modules):
        args += ["-p", module]
    return args


def project_pythonpath(workdir: Path, import_roots: Iterable[str] = ()) -> str:
    """What tests import from: the checkout, ``src/`` when present, the folders a
    monorepo's packages import from (``project_layout.import_roots``: ``packages/a/src``),
    the metadata shim.

    Checked without following links: a ``src`` link planted by an earlier sandbox run
    would otherwise tell the sandbox (through its ``PYTHONPATH``) which host dirs exist.
    """
    parts = [str(workdir)]
    for extra in dict.fromkeys([*import_roots, "src", f"{SHUNTER_DIR}/meta"]):
        if hostfs.is_dir(workdir, extra):
            parts.append(str(workdir / extra))
    return ":".join(parts)


def still_running(log: str) -> str | None:
    """The test the progress log shows started and not ended (pure). PR code can write the
    log too; at worst it blames the wrong candidate, which then only loses its own run."""
    running: str | None = None
    for line in log.splitlines():
        event, _, nodeid = line.partition(" ")
        if event == "start":
            running = nodeid
        elif event == "end" and nodeid == running:
            running = None
    return running


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]*)", line (?P<line>\d+) in (?P<name>\S+)')


def stuck_frame(dump: str, root: str) -> str:
    """The innermost frame in a ``faulthandler`` dump, ``path:line in name`` with the path
    relative to ``root`` (the work dir) when it lies there, or empty when the dump is not
    one (pure). PR code can write the dump; at worst it misnames where its own test hung."""
    if "Timeout (" not in dump:
        return ""
    for line in dump.splitlines():
        found = _FRAME.match(line)
        if found:
            path = found["path"].removeprefix(root.rstrip("/") + "/")
            return f"{path}:{found['line']} in {found['name']}"
    return ""


def _read_capped(workdir: Path, rel: str) -> str | None:
    """A report the sandbox wrote, or None: never through a link, never a non-file."""
    data = hostfs.read_file_capped(workdir, rel, MAX_REPORT_BYTES)
    return None if data is None else data.decode(errors="replace")


def measure(
    sandbox: Sandbox,
    workdir: Path,
    *,
    python: str,
    tests: Iterable[str],
    tag: str,
    contexts: bool = False,
    limits: Limits | None = None,
    ro_paths: Iterable[str] = (),
    extra_args: Iterable[str] = (),
    plugins: Iterable[str] = (),
    before_run: Callable[[], None] | None = None,
    progress: bool = False,
    test_limit: float | None = None,
    import_roots: Iterable[str] = (),
) -> Measurement:
    """Run ``coverage run -m pytest <tests>`` in the sandbox and read what it produced;
    with ``progress``, also which test was running when it stopped; with ``test_limit``,
    each test is stopped after that many seconds (``time_limit_plugin``); ``import_roots``
    go on ``PYTHONPATH`` (``project_pythonpath``).

    Raises ``hostfs.UnsafeWorkPath`` when an earlier run replaced Shunter's directory
    with a link (or similar): the inputs are never written through it.
    """
    shunter = workdir / SHUNTER_DIR
    hostfs.make_dirs(workdir, SHUNTER_DIR)
    for stale in ("coverage.json", "coverage.dat", f"junit-{tag}.xml", "progress.log", HANG_LOG):
        hostfs.remove(workdir, f"{SHUNTER_DIR}/{stale}")
    rc = COVERAGERC.format(
        dir=SHUNTER_DIR,
        show="true" if contexts else "false",
    )
    hostfs.write_file(workdir, f"{SHUNTER_DIR}/coveragerc", rc)
    plugin: list[str] = []
    if contexts:
        hostfs.write_file(workdir, f"{SHUNTER_DIR}/shunter_contexts.py", CONTEXT_PLUGIN)
        plugin = ["-p", "shunter_contexts"]
    if progress:
        hostfs.write_file(workdir, f"{SHUNTER_DIR}/shunter_progress.py", PROGRESS_PLUGIN)
        plugin += ["-p", "shunter_progress"]
    if test_limit:
        hostfs.write_file(workdir, f"{SHUNTER_DIR}/shunter_time_limit.py", TIME_LIMIT_PLUGIN.read_bytes())
        plugin += ["-p", "shunter_time_limit", f"--shunter-time-limit={test_limit:g}"]
    if before_run is not None:
        before_run()
    sandbox.prepare(workdir)
    rcfile = f"{SHUNTER_DIR}/coveragerc"
    run = [
        python, "-m", "coverage", "run", f"--rcfile={rcfile}", "-m", "pytest",
        "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--continue-on-collection-errors",
        f"--junitxml={SHUNTER_DIR}/junit-{tag}.xml", "--rootdir=.", *plugins, *plugin, *extra_args, *tests,
    ]  # fmt: skip
    report = [python, "-m", "coverage", "json", f"--rcfile={rcfile}", "-q"]
    script = f"{shlex.join(run)}; rc=$?; {shlex.join(report)} >/dev/null 2>&1; exit $rc"
    pythonpath = project_pythonpath(workdir, import_roots)
    if contexts or progress or test_limit:
        pythonpath += f":{shunter}"
    result = sandbox.run(
        ["/bin/sh", "-c", script],
        workdir,
        env={"PYTHONPATH": pythonpath, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        limits=limits,
        extra_ro_paths=ro_paths,
    )
    measurement = Measurement(result=result)
    cov_text = _read_capped(workdir, f"{SHUNTER_DIR}/coverage.json")
    junit_text = _read_capped(workdir, f"{SHUNTER_DIR}/junit-{tag}.xml")
    try:
        if cov_text is not None:
            measurement.coverage = parse_coverage_json(cov_text)
        if junit_text is not None:
            measurement.outcomes = parse_junit(junit_text)
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError, ET.ParseError) as exc:
        measurement.problem = f"unreadable test report: {exc}"
    if progress:
        measurement.running = still_running(_read_capped(workdir, f"{SHUNTER_DIR}/progress.log") or "")
    if test_limit:
        measurement.stuck_in = stuck_frame(
            _read_capped(workdir, f"{SHUNTER_DIR}/{HANG_LOG}") or "", str(workdir.resolve())
        )
    if cov_text is None and measurement.problem is None:
        measurement.problem = no_report(result)
    return measurement


def no_report(result: SandboxResult) -> str:
    """Why a run left no coverage report, as one clause without parentheses of its own
    (pure): wrapped around the runner's note and then in the stage's own, it read
    'unknown (no coverage report (stopped: the wall-clock timeout (20s); ...))'."""
    if result.timed_out:
        return f"the run left no coverage report, as it was stopped at {result.killed_by}"
    return f"the run left no coverage report; it {result.note}"  # stopped by, failed, finished
