"""Diff heuristics reviewers value, as pure functions of the changed files and their text.

Each rule looks only at lines the PR added (except the PR-wide ones), so a file's old sins
are not blamed on whoever touched it last. PR-wide findings (large PR, untested change)
are remarks on the pull request (``Finding.on_pull_request``: no file, no line): anchored
on some file's first added line they became an annotation and an inline comment there,
which read as being about that line. Their fingerprints use the rule and the files the
remark is about (an untested change's sources; none for a large PR), never a count or a
line, so that a dismissed remark does not come back on a push that leaves its meaning as it
was, while source changed without tests in another file is a new remark, not a dismissed one.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from bot.engines import notebooks, python_lines
from bot.engines.behaviour_change import base_text, changes_behaviour
from bot.engines.line_breaks import diff_lines
from bot.engines.project_layout import covers, project_of
from bot.models import Finding, Severity, StageName, fingerprint
from bot.policies.globs import path_matches
from bot.stages.context import ChangedFile
from bot.wording import path_code, plural

ENGINE = "heuristics"

DEBUGGER = re.compile(
    r"^\s*(?:breakpoint\(\s*\)"
    r"|(?:import|from)\s+(?:pdb|ipdb|pudb|pdbpp|debugpy)\b"
    r"|.*\b(?:pdb|ipdb|pudb)\.(?:set_trace|post_mortem|pm)\("
    r"|.*\bdebugpy\.(?:breakpoint|wait_for_client)\()"
)
DEBUGGER_ONLY = re.compile(
    r"^\s*(?:breakpoint\(\s*\)|import\s+(?:pdb|ipdb|pudb)(?:\s*;\s*(?:pdb|ipdb|pudb)"
    r"\.set_trace\(\s*\))?|(?:pdb|ipdb|pudb)\.set_trace\(\s*\))\s*(?:#.*)?$"
)
PRINT = re.compile(r"^\s*print\(")
CONFLICT_START = re.compile(r"^<{7}(?: |$)")
CONFLICT_OTHER = re.compile(r"^(?:>{7}(?: |$)|\|{7}(?: |$)|={7}$)")
TODO = re.compile(r"\b(TODO|FIXME|XXX|HACK)\b")
COMMENT = re.compile(r"^\s*#")
PROSE_TODO = re.compile(r"\b(TODO|FIXME|HACK)\b")
"""In documentation XXX is a placeholder (zod 3.23's README: ``alt="XXX"``, ``<b>XXX</b>``
for a sponsor's logo and name), not a note to come back; TODO, FIXME and HACK still count."""
PROSE_SUFFIXES = (".md", ".markdown", ".rst", ".txt", ".adoc", ".html", ".htm")
MAX_LINE = 1000
# a cheap first pass; only lines holding one of these get the precise patterns above
CANDIDATE_TOKENS = (
    "<<<<<<<",
    "=======",
    ">>>>>>>",
    "|||||||",
    "breakpoint",
    "pdb",
    "pudb",
    "debugpy",
    "print",
    "TODO",
    "FIXME",
    "XXX",
    "HACK",
)

SCRIPT_DIRS = {
    "tests",
    "test",
    "testing",
    "scripts",
    "script",
    "bin",
    "examples",
    "example",
    "docs",
    "doc",
    "bench",
    "benchmarks",
    "tools",
    "demo",
}
SCRIPT_NAMES = {"__main__.py", "setup.py", "conftest.py", "noxfile.py", "tasks.py", "fabfile.py"}
# migrations are generated and exercised by the migration tool, not by unit tests
NOT_SOURCE_DIRS = (SCRIPT_DIRS - {"tests", "test", "testing"}) | {"migrations"}


def is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def _split(path: str) -> tuple[list[str], str]:
    """A repository path's folders and file name. Git paths are normalised, so string
    splits stand in for ``PurePosixPath``, whose construction costs more than the checks."""
    *folders, name = path.split("/")
    return folders, name


TEST_FOLDERS = frozenset({"tests", "test", "testing", "__tests__", "testdata"})
"""Python's and, in a repository of several languages, Jest's ``__tests__`` and Go's
``testdata`` (which the go tool leaves to tests)."""
OTHER_TEST_NAMES = re.compile(r"(?:\.(?:test|spec)\.[cm]?[jt]sx?|_test\.go)$")
"""JavaScript and TypeScript's ``login.test.ts``, ``login.spec.js``; Go's ``auth_test.go``."""


def is_test_path(path: str) -> bool:
    """A test folder (``tests``, ``test``, ``testing``, ``__tests__``, ``testdata``; ``t``
    at the top, as celery and kombu name theirs, after Perl) or a test file name (Python's,
    ``*.test.ts``/``*.spec.js``, ``*_test.go``)."""
    folders, name = _split(path)
    if any(part in TEST_FOLDERS for part in folders) or folders[:1] == ["t"]:
        return True
    return (
        name.startswith("test_")
        or name.endswith(("_test.py", "_tests.py"))
        or bool(OTHER_TEST_NAMES.search(name))
        or name
        in {
            "conftest.py",
            "tests.py",
        }
    )


def _python_test(path: str) -> bool:
    """A test that may test Python: not a Jest ``__tests__`` folder's, a ``*.test.ts`` or
    a Go ``*_test.go``, which test the JavaScript or Go beside them."""
    folders, name = _split(path)
    return is_test_path(path) and "__tests__" not in folders and not OTHER_TEST_NAMES.search(name)


# folders of a test tree that hold data the tests read or compare against, not code
TEST_DATA_DIRS = {
    "fixtures",
    "fixture",
    "data",
    "testdata",
    "expected",
    "snapshots",
    "__snapshots__",
    "golden",
}


def is_test_data(path: str) -> bool:
    """A fixture or an expected output: a TODO there is the data under test (docutils keeps
    the HTML its writers must produce in ``test/functional/expected/``, TODO comments and
    ``\\phantom{XXX}`` copied from the input documents), not a note to the maintainers."""
    folders, _name = _split(path)
    return is_test_path(path) and any(part in TEST_DATA_DIRS for part in folders)


# folders holding another project's code, copied in whole (pip's src/pip/_vendor)
VENDORED_DIRS = {"_vendor", "vendor", "vendored", "third_party", "_vendored"}


def is_vendored(path: str) -> bool:
    """Another project's code copied in: its TODOs are notes to its own maintainers (pip
    24.1's update of ``_vendor/packaging`` brought two), nothing this repository acts on."""
    folders, _name = _split(path)
    return any(part in VENDORED_DIRS for part in folders)


def _is_script(path: str, text: str) -> bool:
    folders, name = _split(path)
    if name in SCRIPT_NAMES or any(part in SCRIPT_DIRS for part in folders):
        return True
    return "__name__ == " in text or is_test_path(path)


def _is_source(path: str) -> bool:
    folders, name = _split(path)
    return (
        path.endswith(".py")
        and not is_test_path(path)
        and name not in SCRIPT_NAMES
        and not any(part in NOT_SOURCE_DIRS for part in folders)
    )


@dataclass
class HeuristicReport:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _finding(
    rule: str,
    severity: Severity,
    message: str,
    path: str,
    line: int,
    content: str,
    *,
    title: str,
    suggestion: str | None = None,
) -> Finding:
    return Finding(
        stage=StageName.REVIEW,
        rule_id=rule,
        severity=severity,
        message=message,
        path=path,
        start_line=line,
        end_line=line,
        engine=ENGINE,
        title=title,
        suggestion=suggestion,
        fingerprint=fingerprint(rule, path, content),
    )


def _remark(rule: str, severity: Severity, message: str, *, title: str, about: Iterable[str] = ()) -> Finding:
    """A finding about the whole pull request: no path, no line (0), fingerprinted by its
    rule and the files it is ``about`` (all of them, sorted), never by the counts its
    message gives: a dismissal holds while the remark means the same, whatever the push."""
    return _finding(rule, severity, message, "", 0, "\0".join([rule, *sorted(set(about))]), title=title)


def _added(file: ChangedFile, lines: Sequence[str]) -> Iterable[tuple[int, str]]:
    for number in sorted(file.added_lines):
        if 1 <= number <= len(lines):
            yield number, lines[number - 1]


def _candidates(added: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The added lines worth a closer look. ``str.find`` for each token over all added
    lines at once is far faster than a regex per line, and most lines hit nothing."""
    if not added:
        return []
    blob = "\n".join(line for _n, line in added)
    starts = list(accumulate((len(line) + 1 for _n, line in added), initial=0))
    picked: set[int] = set()
    for token in CANDIDATE_TOKENS:
        at = blob.find(token)
        while at >= 0:
            index = bisect_right(starts, at) - 1
            picked.add(index)
            at = blob.find(token, starts[index + 1])  # next line: one hit per line is enough
    # lines longer than MAX_LINE are minified or generated: nobody reviews them line by line,
    # and the precise patterns would crawl over megabytes of a single line
    return [added[i] for i in sorted(picked) if len(added[i][1]) <= MAX_LINE]


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


_BASE_HUNK = re.compile(r"^@@ -(\d+)")


def added_from_patch(patch: str) -> list[tuple[int, str]]:
    """``(head line number, text)`` of every added line, read from the hunks alone: for a
    non-Python file that is all the heuristics need, so its blob is never read."""
    return _side_lines(patch, "+")


def _side_lines(patch: str, sign: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of every line the hunks add (``sign`` "+", head numbers) or
    delete ("-", base numbers). The patch is cut at ``\\n`` as git cut it (``diff_lines``):
    ``splitlines`` also cut inside a line holding U+2028 or a form feed, and a piece after
    one that began with a space counted as a line, so every finding below came a line low."""
    start = _HUNK if sign == "+" else _BASE_HUNK
    out: list[tuple[int, str]] = []
    number = 0
    for line in diff_lines(patch):
        if line.startswith("@@"):
            match = start.match(line)
            number = int(match.group(1)) if match else number
        elif line.startswith(sign):
            out.append((number, line[1:]))
            number += 1
        elif line.startswith(" "):
            number += 1
        # the other side's lines and "\ No newline at end of file" do not advance this side
    return out


def removed_lines(files: Sequence[ChangedFile]) -> frozenset[str]:
    """The text (stripped) of every line the PR deletes, in any file: an added line with the
    same text was moved (Sphinx 7.3 split ``domains/c.py`` into a package: its 30 TODOs came
    back as "added") or reindented, not written by this PR."""
    return frozenset(line[1:].strip() for f in files for line in f.patch.splitlines() if line.startswith("-"))


def line_findings(
    file: ChangedFile,
    text: str | None,
    split: dict[str, list[str]] | None = None,
    moved: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Debugger calls, stray prints, conflict markers and TODOs on the file's added lines.

    ``text`` is the head file; without it the added lines come from the patch (the
    Python-only rules need the whole file, to tell scripts from library code). ``split``
    caches ``text.splitlines()`` by path for a caller that needs the lines too. A TODO whose
    line is among ``moved`` (``removed_lines``) is an old one that moved, not one added.
    """
    path = file.path
    python = is_python(path) and text is not None
    script: bool | None = None  # asked only when a print() turns up
    if text is not None:
        if split is None:
            lines = text.splitlines()
        elif path in split:
            lines = split[path]
        else:
            lines = split[path] = text.splitlines()
        added = _candidates(list(_added(file, lines)))
    else:
        added = _candidates(added_from_patch(file.patch))
    shown: dict[int, str] = {}  # a notebook's rows as the cell has them, not as JSON escapes them
    if added and text is not None and notebooks.is_notebook(path):
        # a TODO in a notebook is one in a cell, not in what a cell printed or a figure's base64
        strings = notebooks.json_strings(text)
        if strings is not None:
            in_cells = notebooks.code_lines(strings)
            added = [(n, line) for n, line in added if n in in_cells]
            shown = notebooks.readable_lines(strings)
    layout = python_lines.read(text) if python and added and text is not None else None
    data = is_test_data(path) or is_vendored(path)
    prose = path.lower().endswith(PROSE_SUFFIXES)
    has_conflict = any(line.startswith("<<<<<<<") and CONFLICT_START.match(line) for _n, line in added)
    out: list[Finding] = []
    for number, line in added:
        if has_conflict and (CONFLICT_START.match(line) or CONFLICT_OTHER.match(line)):
            out.append(
                _finding(
                    "merge-marker",
                    Severity.ERROR,
                    "Merge conflict marker committed; resolve the conflict before merging.",
                    path,
                    number,
                    line,
                    title="Merge conflict marker",
                )
            )
            continue
        # what runs, without strings and comments: a docstring's `print(...)` example is not a print
        code = layout.code(number, line) if layout else line.split("#", 1)[0]
        if python and not COMMENT.match(line):
            if DEBUGGER.match(code):
                out.append(
                    _finding(
                        "debugger",
                        Severity.ERROR,
                        f"Debugger call left in the code: `{line.strip()}`.",
                        path,
                        number,
                        line,
                        title="Debugger call",
                        suggestion="" if DEBUGGER_ONLY.match(line) else None,
                    )
                )
                continue
            if script is None and PRINT.match(code):
                script = _is_script(path, text or "")
            if not script and PRINT.match(code):
                out.append(
                    _finding(
                        "stray-print",
                        Severity.NOTICE,
                        "print() added to library code; use logging, or remove it.",
                        path,
                        number,
                        line,
                        title="Stray print",
                    )
                )
                continue
        # in Python, a TODO is a note in a comment or docstring; in other strings it is data
        match = (PROSE_TODO if prose else TODO).search(layout.note(number, line) if layout else line)
        if match and line.strip() not in moved and not data:
            quoted = shown.get(number, line).strip()[:120]
            out.append(
                _finding(
                    "todo-added",
                    Severity.NOTICE,
                    f"{match.group(1)} added: `{quoted}`. Consider an issue instead.",
                    path,
                    number,
                    line,
                    title=f"{match.group(1)} added",
                )
            )
    return out


def _deleted_count(file: ChangedFile) -> int:
    """Deleted lines in the file's hunks (``patch`` holds hunks only, no ``---`` header)."""
    return ("\n" + file.patch).count("\n-")


LOCK_FILES = frozenset(
    {
        "poetry.lock",
        "uv.lock",
        "pdm.lock",
        "Pipfile.lock",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "Cargo.lock",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
    }
)
GENERATED_NAMES = re.compile(r"(?:\.min\.(?:js|css)|\.(?:[cm]?js|css)\.map|_pb2(?:_grpc)?\.pyi?|\.pb\.go)$")
BUILD_FOLDERS = frozenset({"dist"})
"""Where JavaScript packages commit their bundler's output (axios 1.7.4's ``dist/``: 1,226
of the release's 1,595 changed lines, ``lib/`` holding the change)."""
BUILT_ASSETS = re.compile(r"\.(?:[cm]?js|css|d\.[cm]?ts|map)$")
GENERATED_MARK = re.compile(r"@generated\b|\bDO NOT EDIT\b|\b(?:auto-?|automatically )generated\b", re.I)
_FROM_TOP = re.compile(r"^@@ -\d+(?:,\d+)? \+1(?:,\d+)? @@")


def is_generated(file: ChangedFile) -> bool:
    """Lock files, minified bundles, JavaScript build output in ``dist/``, protobuf output
    and files whose first added lines say they are generated: PR-size tools leave them out,
    since nobody reviews them line by line."""
    _folders, name = _split(file.path)
    if name in LOCK_FILES or GENERATED_NAMES.search(name):
        return True
    if BUILT_ASSETS.search(name) and any(folder in BUILD_FOLDERS for folder in _folders):
        return True  # a bundle in dist/, not the source a reviewer reads
    if not _FROM_TOP.match(file.patch):
        return False  # the mark must be in the file's header, which this diff leaves alone
    first = file.patch[:2000].split("\n", 12)[1:12]
    return any(line.startswith("+") and GENERATED_MARK.search(line) for line in first)


def changed_line_count(files: Sequence[ChangedFile]) -> int:
    """Lines added plus lines deleted, as GitHub counts a PR's size (binary files excluded)."""
    return sum(len(f.added_lines) + _deleted_count(f) for f in files if not f.is_binary)


def _kernel_line_count(file: ChangedFile, head: str | None) -> int:
    """How many of a notebook's changed lines a kernel or an editor wrote (outputs such as
    base64 figures, attachments, ids, metadata), which nobody reads in the diff; 0 for
    another file, or a notebook whose JSON (head or base) cannot be read."""
    if head is None or not notebooks.is_notebook(file.path):
        return 0
    after = notebooks.json_strings(head)
    if after is None:
        return 0
    code_after = notebooks.code_lines(after)
    count = sum(1 for n in file.added_lines if n not in code_after)
    deleted = [n for n, _line in _side_lines(file.patch, "-")]
    if deleted:
        base = base_text(head, file.patch)
        before = notebooks.json_strings(base) if base is not None else None
        if before is None:
            return 0
        code_before = notebooks.code_lines(before)
        count += sum(1 for n in deleted if n not in code_before)
    return count


def _large_pr(
    files: Sequence[ChangedFile],
    limit: int,
    exclude: Sequence[str] = (),
    texts: Mapping[str, str] | None = None,
) -> Finding | None:
    """One warning on the pull request when the lines a reviewer has to read exceed
    ``limit``; lock and generated files do not count, nor files matching ``exclude`` (the
    config's ``large_pr_exclude``: test data such as httpx's 9,746-line
    ``tests/models/whatwg.json`` made a one-file PR "consider splitting it"), nor a
    notebook's lines outside its cells' sources (``texts`` has its head): five of nbconvert's
    example notebooks made 6,108 changed lines, 540 of them cells' sources, the rest base64
    figures, widget state and the JSON around them."""
    readable = [f for f in files if not f.is_binary and not is_generated(f)]
    counted = [f for f in readable if not _excluded(f, exclude)]
    kernel = sum(_kernel_line_count(f, (texts or {}).get(f.path)) for f in counted)
    size = changed_line_count(counted) - kernel
    if size <= limit or not any(f.added_lines for f in counted):
        return None
    generated = changed_line_count(files) - changed_line_count(readable)
    excluded = changed_line_count(readable) - size - kernel
    asides = [f"{plural(generated, 'line')} of lock or generated files"] if generated else []
    asides += [f"{plural(excluded, 'line')} of files `large_pr_exclude` leaves out"] if excluded else []
    if kernel:
        asides.append(f"{plural(kernel, 'notebook line')} outside cell sources (outputs, metadata)")
    aside = f", not counting {' nor '.join(asides)}" if asides else ""
    return _remark(
        "large-pr",
        Severity.WARNING,
        f"This PR changes {plural(size, 'line')} in {plural(len(counted), 'file')} (limit {limit}"
        f"{aside}); large PRs are hard to review, consider splitting it.",
        title="Very large pull request",
    )


def _excluded(file: ChangedFile, patterns: Sequence[str]) -> bool:
    """A file ``large_pr_exclude`` leaves out, by its new path or (for a rename) its old one."""
    return bool(patterns) and (
        path_matches(file.path, patterns) or bool(file.old_path and path_matches(file.old_path, patterns))
    )


def _untested(file: ChangedFile, head: str | None) -> bool:
    """Source whose change a test could observe (not annotations, imports, docstrings,
    ``__version__``...). Without the head text that cannot be told, so it counts."""
    if head is None:
        return True
    return changes_behaviour(None if file.status == "added" else base_text(head, file.patch), head)


def pr_findings(
    files: Sequence[ChangedFile],
    large_pr_lines: int,
    texts: Mapping[str, str] | None = None,
    large_pr_exclude: Sequence[str] = (),
    projects: Collection[str] = (),
) -> list[Finding]:
    """PR-wide rules: a very large diff, and source changed with no test changed.
    ``texts`` (head text by path) lets the second tell behaviour from annotations.

    ``projects`` are the folders of the head tree holding a project file
    (``project_layout.project_roots``): in a monorepo a changed test stands only for source
    of its own package (or of packages below its folder), so a PR changing
    ``packages/a/src/a/x.py`` and ``packages/b/tests/test_y.py`` still asks for a test of
    ``a``; without them the repository is one project."""
    large = _large_pr(files, large_pr_lines, large_pr_exclude, texts)
    out: list[Finding] = [] if large is None else [large]
    with_added = [f for f in files if f.added_lines and not f.is_binary]
    tested = {project_of(f.path, projects) for f in files if _python_test(f.path) and f.status != "deleted"}
    sources = [
        f
        for f in with_added
        if _is_source(f.path)
        and not any(covers(test, project_of(f.path, projects)) for test in tested)
    ]
    sources = [f for f in sources if _untested(f, (texts or {}).get(f.path))]
    if sources:
        names = ", ".join(path_code(f.path) for f in sources[:5])
        more = f" and {len(sources) - 5} more" if len(sources) > 5 else ""
        out.append(
            _remark(
                "untested-change",
                Severity.WARNING,
                f"Source changed without tests: {names}{more}. Add or update tests.",
                title="Source changed without tests",
                about=[f.path for f in sources],
            )
        )
    return out


def risky_findings(files: Sequence[ChangedFile], patterns: Sequence[str]) -> HeuristicReport:
    report = HeuristicReport()
    for file in files:
        if not path_matches(file.path, patterns) and not (
            file.old_path and path_matches(file.old_path, patterns)
        ):
            continue
        if file.added_lines:
            report.findings.append(
                _finding(
                    "risky-file",
                    Severity.NOTICE,
                    f"{path_code(file.path)} is a sensitive file (build, CI, dependencies or migrations); "
                    "review this change with extra care.",
                    file.path,
                    min(file.added_lines),
                    "risky-file",
                    title="Sensitive file changed",
                )
            )
        else:
            report.notes.append(f"Sensitive file {file.status}: {path_code(file.path)}.")
    return report


def scan(
    files: Sequence[ChangedFile],
    texts: Mapping[str, str],
    *,
    large_pr_lines: int,
    risky_paths: Sequence[str],
    large_pr_exclude: Sequence[str] = (),
    split: dict[str, list[str]] | None = None,
    projects: Collection[str] = (),
) -> HeuristicReport:
    """All heuristics. ``texts`` maps a path to its head text where the caller has it
    (Python files); other files are judged from their patch. ``split`` (path to
    ``splitlines()``) is filled for the texts scanned, for a caller that needs them too;
    ``projects`` are the tree's project folders (``pr_findings`` says why)."""
    report = risky_findings(files, risky_paths)
    moved = removed_lines(files)
    for file in files:
        if not file.added_lines or file.is_binary or file.status == "deleted":
            continue
        report.findings.extend(line_findings(file, texts.get(file.path), split, moved))
    report.findings.extend(pr_findings(files, large_pr_lines, texts, large_pr_exclude, projects))
    return report
