"""The code-review stage (builtin engine): ruff on changed Python files plus diff heuristics.

``run(ctx)`` is a pure function of the ``StageContext`` apart from running ruff on a scratch
copy of the changed files; it never calls GitHub. Findings are filtered per the stage's
``filter`` mode before they are returned, and ruff's safe fixes for the findings that remain
become one ``PatchDraft`` ("Apply fixes").
"""

from __future__ import annotations

import posixpath
import shutil
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from bot.engines import heuristics, notebooks, review_waivers, secrets_scan
from bot.engines.generated_files import generated_reason
from bot.engines.lfs_pointers import is_lfs_pointer, skipped_pointer
from bot.engines.line_breaks import diff_lines
from bot.engines.project_layout import project_roots
from bot.engines.ruff_check import (
    BOM,
    Diagnostic,
    Fix,
    RuffFailed,
    RuffRun,
    choose_fixes,
    config_extends,
    config_paths_for,
    fixes_diff,
    module_skeleton,
    only_newlines,
    package_markers,
    past_bom,
    row_lines,
    ruff_lines,
    seal_root,
    severity_for,
    suggestion_for,
    walked_files,
    write_files,
    write_placeholders,
)
from bot.errors import EngineError
from bot.git.scratch import new_scratch_dir
from bot.models import FileDiff, Finding, PatchDraft, Severity, StageName, StageResult, fingerprint
from bot.policies.schema import ReviewStageConfig
from bot.stages.context import ChangedFile, StageContext
from bot.stages.filtering import line_gate, path_selected, split_findings
from bot.wording import code_span, path_code, plural, table_cell

MAX_FILE_BYTES = 2_000_000
MAX_EXTEND_DEPTH = 8
RUFF_TIMEOUT = 120.0
"""Seconds ruff may take on a PR's Python files; a ruff that takes longer lints nothing
(the check says so) rather than holding the stage job until its own time limit."""
SUMMARY_ROWS = 20


@dataclass
class _Work:
    """What the steps accumulate; ``fixes`` holds each ruff finding with its safe fix."""

    findings: list[Finding] = field(default_factory=list)
    fixes: dict[int, tuple[Finding, Fix]] = field(default_factory=dict)
    """By the finding's ``id()``: two findings of one rule on one line with no suggestion
    (a line too long to suggest) are equal, and keyed by value they kept one fix between
    them, so the patch fixed one of them."""
    notes: list[str] = field(default_factory=list)
    lines: dict[str, list[str]] = field(default_factory=dict)
    """``diff_lines`` of the texts (numbered as the diff numbers them), split once per file
    (by the heuristics or the findings)."""
    row_lines: dict[str, list[int] | None] = field(default_factory=dict)
    """``row_lines`` of the texts with ruff findings: the diff's line of each ruff row,
    None where they are the same (no lone ``\\r``)."""
    lines_with_ends: dict[str, list[str] | None] = field(default_factory=dict)
    """``ruff_lines`` of the texts that have fixes, split once per file (None where
    ``lines`` serve: the text breaks lines at ``\n`` only)."""
    timings: dict[str, float] = field(default_factory=dict)
    _mark: float = field(default_factory=time.perf_counter)

    def fix_of(self, finding: Finding) -> Fix | None:
        """The safe fix of this very finding (not of an equal one), if it has one."""
        pair = self.fixes.get(id(finding))
        return pair[1] if pair is not None and pair[0] is finding else None

    def lap(self, name: str) -> None:
        """Record the seconds since the previous lap under ``<name>_seconds`` (metrics)."""
        now = time.perf_counter()
        self.timings[f"{name}_seconds"] = round(now - self._mark, 4)
        self._mark = now

    dropped_early: int = 0
    """ruff diagnostics outside the filter, dropped before becoming findings."""
    crowded: dict[tuple[str, int, str], int] = field(default_factory=dict)
    """ruff's count of findings per (path, line, rule) where it is over ``MAX_SAME_ON_LINE``."""
    outage: RuffOutage | None = None
    """Why ruff linted nothing, when it did not."""
    early: dict[str, _FilePatch] = field(default_factory=dict)
    """Files' shares of the fix patch, made while ruff was still writing (``finish_ruff``)."""


def options_of(ctx: StageContext) -> ReviewStageConfig:
    """The stage's config section; None (or a plain dict from a JSON job) is accepted too."""
    if isinstance(ctx.options, ReviewStageConfig):
        return ctx.options
    if ctx.options is None:
        return ReviewStageConfig()
    return ReviewStageConfig.model_validate(ctx.options)


# git calls a blob binary when its first 8000 bytes hold a NUL (libgit2's diff does too)
_BINARY_PROBE = 8000


class Texts(NamedTuple):
    """What ``read_texts`` found: texts and bytes of the files it read, and why it skipped
    others (by path)."""

    texts: dict[str, str]
    raw: dict[str, bytes]
    skipped: dict[str, str]


def read_texts(ctx: StageContext, paths: Iterable[str]) -> Texts:
    """Head text of the given files, and why others were skipped.

    Runs before the diff's line maps exist, so a blob git would call binary is recognised
    here by git's own rule and skipped silently, as the diff would have had it skipped.
    """
    found = Texts({}, {}, {})
    for path in paths:
        data = ctx.head.read(path)
        if data is None or b"\0" in data[:_BINARY_PROBE]:
            continue
        if len(data) > MAX_FILE_BYTES:
            found.skipped[path] = f"Skipped {path_code(path)}: larger than {MAX_FILE_BYTES // 1_000_000} MB."
            continue
        if is_lfs_pointer(data):
            found.skipped[path] = skipped_pointer(path_code(path))
            continue
        try:
            found.texts[path] = data.decode("utf-8")
        except UnicodeDecodeError:
            found.skipped[path] = f"Skipped {path_code(path)}: not UTF-8 text."
            continue
        found.raw[path] = data
    return found


def leave_out_generated(ctx: StageContext, texts: dict[str, str], raw: dict[str, bytes]) -> dict[str, str]:
    """Take the generated files (:mod:`bot.engines.generated_files`) out of ``texts`` and
    ``raw``, so neither ruff nor the line heuristics look at them; returns why each was."""
    generated: dict[str, str] = {}
    for path, text in list(texts.items()):
        reason = generated_reason(path, text, ctx.base.attribute(path, "linguist-generated"))
        if reason is not None:
            generated[path] = reason
            del texts[path]
            raw.pop(path, None)
    return generated


def generated_note(generated: dict[str, str], shown: int = 10) -> list[str]:
    """One note naming the generated files left out of the review and why, with how to
    have one reviewed anyway."""
    if not generated:
        return []
    listed = "; ".join(f"{path_code(path)}: {why}" for path, why in sorted(generated.items())[:shown])
    more = f"; and {len(generated) - shown} more" if len(generated) > shown else ""
    return [
        f"Not linted, {plural(len(generated), 'generated file')} (fix the generator's input "
        f"instead): {listed}{more}. To have a file reviewed, mark it `-linguist-generated` in "
        "`.gitattributes` on the default branch."
    ]


def ending_notes(files: Iterable[ChangedFile]) -> list[str]:
    """One note per file whose diff shows lines changed only in their ending (CRLF to LF
    or back): GitHub shows them as changed, so the author hears why Shunter did not."""
    return [
        f"{path_code(f.path)}: {plural(len(f.ending_only_lines), 'line')} changed only "
        "{} line ending{} (CRLF and LF); Shunter reviews {} as unchanged.".format(
            *(("its", "", "it") if len(f.ending_only_lines) == 1 else ("their", "s", "them"))
        )
        for f in files
        if f.ending_only_lines
    ]


SUGGESTION_MAX_CHARS = 2_000
"""The most characters a suggestion may rewrite. A fix on a generated or minified line
(one f-string prefix of 12,000 on a 100,000-character line) would suggest the whole line
again: unreadable as a suggestion, and the secret check before a suggestion is published
scans it whole, once per fix, which kept such a pull request's checks running for hours.
Such a fix goes to the patch only."""

MAX_SAME_ON_LINE = 10
"""How many findings of one rule on one line are reported. They share one finding id (the
id hashes the rule, the path and the line), so the rest add nothing a reviewer can tell
apart, while each costs the stage and the publisher work on the whole line: a line of
minified code had 12,000. The rest are counted in a note, and their fixes left out."""

SUGGESTION_REACH = 2
"""How many lines beyond ruff's range a fix may rewrite and still be shown as a suggestion.
A fix that also edits far away (an import added at the top of the file) would move the
finding there and suggest rewriting every line in between: it goes to the patch only."""


def _ruff_finding(
    diag: Diagnostic,
    text: str,
    lines: list[str],
    with_ends: dict[str, list[str] | None],
    rows: list[int] | None = None,
) -> tuple[Finding, Fix | None]:
    """``with_ends`` caches ``ruff_lines`` per path (the lines ruff's rows count): one split
    per file, and none (None) for a text whose only line break is ``\n``, where ``lines``
    serve. ``rows`` (``row_lines``) is the diff's line of each ruff row where the two
    differ (a lone ``\\r``): the finding is reported on the line GitHub shows, and offers
    no suggestion, whose lines would not be the rows its fix rewrites (the patch is)."""
    start, end, suggestion = diag.row, diag.end_row, None
    if rows:
        start, end = rows[min(start, len(rows)) - 1], rows[min(end, len(rows)) - 1]
    content = lines[start - 1] if start <= len(lines) else ""
    fix = diag.fix if diag.fix is not None and diag.fix.safe else None
    if fix is not None and text.startswith(BOM):
        fix = past_bom(fix)
    if fix is not None and rows is None:
        if diag.path not in with_ends:
            with_ends[diag.path] = None if only_newlines(text) else ruff_lines(text)
        kept_ends = with_ends[diag.path]
        region = suggestion_for(
            text,
            fix,
            kept_ends,
            plain=lines if kept_ends is None else None,
            max_chars=SUGGESTION_MAX_CHARS,
        )
        if (
            region is not None
            and diag.row - SUGGESTION_REACH <= region[0] <= diag.row <= region[1]
            and region[1] <= max(diag.row, diag.end_row) + SUGGESTION_REACH
        ):
            start, end, suggestion = region
    title = diag.code if diag.fix is None or not diag.fix.message else diag.fix.message
    finding = Finding(
        stage=StageName.REVIEW,
        rule_id=diag.code,
        severity=severity_for(diag.code),
        message=diag.message,
        path=diag.path,
        start_line=start,
        end_line=max(start, end),
        engine="ruff",
        title=title,
        suggestion=suggestion,
        fingerprint=fingerprint(diag.code, diag.path, content),
        help_uri=diag.url,
    )
    return finding, fix


def _configs(ctx: StageContext, paths: Iterable[str], tree: set[str]) -> dict[str, bytes]:
    """The ruff configs among ``paths`` that the head tree has, with their content;
    ``tree`` holds the tree's file paths, so that absent candidates (most of them) cost
    a set lookup rather than a failed walk down the tree."""
    return {path: data for path in paths if path in tree and (data := ctx.head.read(path)) is not None}


def _utf8_name(path: str) -> bool:
    """False for a git path whose bytes are not UTF-8 (pygit2 gives them as surrogates)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class RuffStart(NamedTuple):
    """A ruff run under way: the process, the files it lints and the repository's ruff
    configs it reads (to tell which one is to blame when ruff refuses them)."""

    process: RuffRun
    py_files: list[str]
    configs: frozenset[str]


@dataclass(frozen=True)
class RuffOutage:
    """Why ruff linted nothing. The stage then still reports the heuristics' findings, but
    says so plainly and is no clean pass: ``config`` is the repository's ruff config to
    blame (None when none is) and ``line`` the line of it ruff points at."""

    reason: str
    config: str | None = None
    line: int | None = None
    timed_out: bool = False


def outage_of(exc: EngineError, configs: Container[str]) -> RuffOutage:
    """``exc`` (from starting or running ruff) as an outage; ``configs`` are the
    repository's ruff configs ruff read, among which the one it names is to blame."""
    if not isinstance(exc, RuffFailed):
        return RuffOutage(str(exc))
    config, line = exc.blamed(configs)
    return RuffOutage(exc.detail, config, line, exc.timed_out)


def start_ruff(
    ctx: StageContext, texts: dict[str, str], notes: list[str], raw: dict[str, bytes] | None = None
) -> RuffStart | None:
    """Materialise the changed Python files (plus configs and import stand-ins) and start
    ruff on them in the background; None when there is nothing to lint. ``raw`` holds the
    files' bytes when the caller has them (else the texts are encoded again).

    Raises ``RuffFailed`` without starting ruff when a config's ``extend`` leaves the
    repository or cannot be checked: ruff would read whatever it names (and quote it),
    and ruff's defaults are not the repository's rules, so nothing is linted instead."""
    py_files = sorted(path for path in texts if heuristics.is_python(path) or notebooks.is_notebook(path))
    garbled = [path for path in py_files if not _utf8_name(path)]
    if garbled:
        # ruff prints such a name with U+FFFD for the bad bytes, so its findings could not
        # be matched to the file and would vanish without a word
        shown = ", ".join(path_code(path) for path in garbled)
        notes.append(f"ruff did not check {shown}: its report cannot name a file whose name is not UTF-8.")
        py_files = [path for path in py_files if path not in garbled]
    if not py_files:
        return None
    assert ctx.scratch_dir is not None
    root = ctx.scratch_dir / "head"
    tree = list(ctx.head.paths())
    in_tree = set(tree)
    configs = _configs(ctx, config_paths_for(py_files), in_tree)
    extends = config_extends(configs)
    escaping = list(extends.outside)
    unreadable = list(extends.unreadable)
    tried = {*py_files, *configs}
    too_deep = False
    for _depth in range(MAX_EXTEND_DEPTH):  # configs may extend configs
        new = [c for c in dict.fromkeys(extends.inside) if c not in tried]
        if not new:
            break
        tried.update(new)
        found = _configs(ctx, new, in_tree)
        configs.update(found)
        extends = config_extends(found)
        escaping += extends.outside
        unreadable += extends.unreadable
    else:
        too_deep = True
    _refuse_configs(sorted(unreadable), sorted(escaping), too_deep)
    sources = raw or {}
    executable = {c.path for c in ctx.changed_paths() if c.executable}
    files = {path: sources.get(path) or texts[path].encode("utf-8") for path in py_files}
    write_files(root, files | configs, executable)
    layouts = {p: notebooks.json_strings(texts[p]) for p in py_files if notebooks.is_notebook(p)}
    cells = {p: notebooks.source_lines(strings) for p, strings in layouts.items() if strings is not None}
    # a notebook's imports are in its cells' strings, which an import scan of the JSON misses
    code = (texts[p] if p not in layouts else notebooks.code_text(layouts[p] or []) for p in py_files)
    stand_ins = module_skeleton(tree, code)
    write_placeholders(root, [*package_markers(in_tree, py_files), *stand_ins])
    seal_root(root, configs)
    if layouts:
        # ruff's `include` decides whether a notebook is linted, as in `ruff check .`
        walked = walked_files(root, sorted({posixpath.dirname(p) or "." for p in layouts}))
        if walked is not None:
            py_files = [p for p in py_files if p not in layouts or p in walked]
            if not py_files:
                return None
    process = RuffRun(root, py_files, timeout=RUFF_TIMEOUT, cells=cells)
    return RuffStart(process, py_files, frozenset(configs))


def _refuse_configs(unreadable: list[str], escaping: list[str], too_deep: bool) -> None:
    """Raise ``RuffFailed`` naming the configs Shunter will not hand to ruff, if any."""
    shown = ", ".join(f"`{path}`" for path in [*unreadable, *escaping])
    if unreadable:
        detail = (
            f"{shown} may set `extend` but is not UTF-8 TOML 1.0, so Shunter could not check "
            "where it points and did not hand it to ruff"
        )
    elif escaping:
        detail = f"{shown} extends a file outside the repository, which Shunter does not let ruff read"
    elif too_deep:
        detail = f"the repository's ruff configs form a chain of more than {MAX_EXTEND_DEPTH} `extend`s"
    else:
        return
    raise RuffFailed(detail, named=[*unreadable, *escaping])


def finish_ruff(
    ctx: StageContext,
    started: RuffStart,
    texts: dict[str, str],
    options: ReviewStageConfig,
    work: _Work,
    raw: dict[str, bytes] | None = None,
) -> None:
    """Collect ruff's diagnostics and keep those the filter lets through as findings; when
    ruff fails (a config it refuses, a crash, a timeout) keep none and record why in
    ``work.outage``. ruff's defaults are not the repository's rules (its `exclude`, its
    `per-file-ignores`), so the stage does not lint with them instead.

    Findings are built batch by batch while ruff is still writing its output, and kept
    only once ruff has finished well. A file whose diagnostics are all in (ruff reports
    file by file) gets its share of the fix patch made there and then, in ``work.early``;
    ``build_patch`` uses it only if it was made from the very fixes finally reported.
    The heuristics have run: their findings are in ``work.findings``."""
    process = started.process
    gate = line_gate(options.filter, ctx.files)
    dropped_before = work.dropped_early
    built: list[tuple[Finding, Fix | None]] = []
    by_path: dict[str, list[tuple[Finding, Fix | None]]] = {}
    waiting: dict[str, None] = {}  # files with findings not yet in a patch share, in order
    repeats = _heuristic_keys(work.findings)
    blobs = {f.path: f.head_blob for f in ctx.files}

    def keep(path: str, start: int, end: int) -> bool:
        if gate(path, start, end):
            return True
        work.dropped_early += 1
        return False

    def share(path: str) -> None:
        pairs = [
            (finding, fix)
            for finding, fix in by_path[path]
            if fix is not None and not _repeats_heuristic(finding, repeats)
        ]
        # the filter as ``split_findings`` applies it later, on the findings' own lines
        pairs = [pair for pair in pairs if gate(path, pair[0].start_line, pair[0].end_line)]
        pairs.sort(key=lambda pair: (pair[0].start_line, pair[0].rule_id))  # the report's order
        if pairs:
            work.early[path] = _file_patch(path, pairs, texts, blobs.get(path), (raw or {}).get(path))

    same_on_line: Counter[tuple[str, int, str]] = Counter()

    def build(diagnostics: Sequence[Diagnostic]) -> None:
        split = work.lines
        for diag in diagnostics:
            text = texts.get(diag.path)
            if text is None:
                continue
            same = (diag.path, diag.row, diag.code)
            same_on_line[same] += 1
            if same_on_line[same] > MAX_SAME_ON_LINE:
                continue  # before the finding's fingerprint and suggestion are worked out
            if diag.path not in split:
                split[diag.path] = diff_lines(text)
            if diag.path not in work.row_lines:
                work.row_lines[diag.path] = row_lines(text)
            rows = work.row_lines[diag.path]
            pair = _ruff_finding(diag, text, split[diag.path], work.lines_with_ends, rows)
            built.append(pair)
            by_path.setdefault(diag.path, []).append(pair)
            work.early.pop(diag.path, None)
            waiting[diag.path] = None
        going_on = diagnostics[-1].path if diagnostics else None  # may go on in the next batch
        for path in [p for p in waiting if p != going_on]:
            del waiting[path]
            share(path)

    try:
        process.result(keep, build)
    except EngineError as exc:
        work.early.clear()
        work.dropped_early = dropped_before
        work.outage = outage_of(exc, started.configs)
        return
    work.crowded = {same: count for same, count in same_on_line.items() if count > MAX_SAME_ON_LINE}
    work.notes.extend(crowded_notes(work.crowded))
    for finding, fix in built:
        work.findings.append(finding)
        if fix is not None:
            work.fixes[id(finding)] = (finding, fix)


def crowded_notes(crowded: Mapping[tuple[str, int, str], int], shown: int = 3) -> list[str]:
    """One note per file where ruff reported more than ``MAX_SAME_ON_LINE`` findings of one
    rule on one line (``crowded`` counts them per path, line and rule): how many are left
    out, and the most crowded lines, so the check says what it did not report."""
    by_path: dict[str, list[tuple[int, str, int]]] = {}
    for (path, row, code), count in crowded.items():
        by_path.setdefault(path, []).append((row, code, count))
    notes: list[str] = []
    for path, places in sorted(by_path.items()):
        places.sort(key=lambda place: (-place[2], place[0], place[1]))
        left = sum(count - MAX_SAME_ON_LINE for _row, _code, count in places)
        named = [
            f"{code_span(code)} {count:,} times on line {row}" for row, code, count in places[:shown]
        ]
        if len(places) > shown:
            named.append(f"more than {MAX_SAME_ON_LINE} times on {plural(len(places) - shown, 'more line')}")
        found = ", ".join(named[:-1]) + (" and " if len(named) > 1 else "") + named[-1]
        notes.append(
            f"Only {MAX_SAME_ON_LINE} findings of one rule on one line are reported (they share "
            f"one finding id): ruff found {found} in {path_code(path)}; the {left:,} more are "
            "left out, with their fixes."
        )
    return notes


# ruff rules that say what a heuristic says (the heuristic's finding is kept: it carries a
# severity reviewers agreed on and, for debugger calls, a suggestion)
SAME_AS_HEURISTIC = {"T100": "debugger", "T201": "stray-print", "FIX002": "todo-added"}


def _heuristic_keys(findings: Iterable[Finding]) -> set[tuple[str, str, int]]:
    return {(f.rule_id, f.path, f.start_line) for f in findings if f.engine == heuristics.ENGINE}


def _repeats_heuristic(finding: Finding, keys: set[tuple[str, str, int]]) -> bool:
    return (
        finding.engine == "ruff"
        and finding.rule_id in SAME_AS_HEURISTIC
        and (SAME_AS_HEURISTIC[finding.rule_id], finding.path, finding.start_line) in keys
    )


def drop_duplicates(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per problem: a ruff finding repeating a heuristic's on the same line goes."""
    keys = _heuristic_keys(findings)
    return [f for f in findings if not _repeats_heuristic(f, keys)]


def heuristics_step(
    files: Sequence[ChangedFile],
    texts: dict[str, str],
    options: ReviewStageConfig,
    work: _Work,
    tree: Callable[[], Iterable[str]] = tuple,
) -> None:
    """The diff heuristics; ``tree`` lists the head's paths, read only when the PR changes
    both tests and other Python files: then which project each belongs to decides whether
    the tests stand for the change (a monorepo's packages each have their own)."""
    for path, text in texts.items():
        if path not in work.lines and not only_newlines(text):  # else ``splitlines`` agrees
            work.lines[path] = diff_lines(text)
    report = heuristics.scan(
        files,
        texts,
        large_pr_lines=options.large_pr_lines,
        large_pr_exclude=options.large_pr_exclude,
        risky_paths=options.risky_paths,
        split=work.lines,
        projects=_projects(files, tree),
    )
    work.findings.extend(report.findings)
    work.notes.extend(report.notes)


def _projects(files: Sequence[ChangedFile], tree: Callable[[], Iterable[str]]) -> frozenset[str]:
    """The head's project folders when tests and other Python files both changed, else none
    (walking a large tree costs time the answer does not need)."""
    tests = [f for f in files if heuristics.is_test_path(f.path)]
    if not tests or len(tests) == len(files):
        return frozenset()
    return project_roots(tree())


@dataclass
class _FilePatch:
    """One file's share of the fix patch: the fixes it was made from, in order, and the
    diff with the fingerprints of the findings it fixes (None: they change nothing)."""

    fixes: tuple[Fix, ...]
    diff: FileDiff | None
    fingerprints: list[str]


def _file_patch(
    path: str,
    pairs: Sequence[tuple[Finding, Fix]],
    texts: dict[str, str],
    blob: str | None,
    raw: bytes | None,
) -> _FilePatch:
    """``pairs``: the file's reported findings with safe fixes, in report order."""
    chosen = choose_fixes([fix for _f, fix in pairs])
    diff = fixes_diff(path, texts[path], [pairs[i][1] for i in chosen], blob, raw)
    return _FilePatch(
        fixes=tuple(fix for _f, fix in pairs),
        diff=None if diff is None else FileDiff(path=path, diff=diff, pre_image_blob=blob),
        fingerprints=[] if diff is None else [pairs[i][0].fingerprint for i in chosen],
    )


def build_patch(
    kept: Sequence[Finding],
    fixes: Mapping[Finding, Fix] | Callable[[Finding], Fix | None],
    texts: dict[str, str],
    files: Sequence[ChangedFile],
    raw: dict[str, bytes] | None = None,
    early: dict[str, _FilePatch] | None = None,
    held_back: list[str] | None = None,
) -> PatchDraft | None:
    """One patch with ruff's safe fixes for the reported findings, against the head blobs
    (``raw``: the texts' bytes, where the caller has them). ``fixes`` gives a finding's
    fix (``_Work.fix_of``, which tells equal findings apart, or a mapping). ``early`` holds files' shares
    worked out while ruff was still writing; one made from other fixes is made again.

    A file whose share holds a secret (on a line a fix rewrites, or beside one) is left out
    and its path added to ``held_back``: the merge queue would otherwise commit the secret
    again in a commit Shunter authored, and keep it in the change request, as the security
    stage's patches never do (``security._patches``)."""
    by_file: dict[str, list[tuple[Finding, Fix]]] = {}
    fix_of = fixes.get if isinstance(fixes, Mapping) else fixes
    for finding in kept:
        fix = fix_of(finding)
        if fix is not None:
            by_file.setdefault(finding.path, []).append((finding, fix))
    blobs = {file.path: file.head_blob for file in files}
    shares: dict[str, _FilePatch] = {}
    for path, pairs in sorted(by_file.items()):
        share = (early or {}).get(path)
        if share is None or not _same_fixes(share.fixes, pairs):
            share = _file_patch(path, pairs, texts, blobs.get(path), (raw or {}).get(path))
        shares[path] = share
    secret = secrets_scan.paths_holding_secrets(
        {path: share.diff.diff for path, share in shares.items() if share.diff is not None}
    )
    diffs: list[FileDiff] = []
    fixed: list[str] = []
    for path, share in shares.items():
        if share.diff is None:
            continue
        if path in secret:
            if held_back is not None:
                held_back.append(path)
            continue
        diffs.append(share.diff)
        fixed.extend(share.fingerprints)
    if not diffs:
        return None
    count = len(fixed)
    return PatchDraft(
        stage=StageName.REVIEW,
        title=f"Apply {count} safe ruff fix{'es' if count != 1 else ''}",
        files=diffs,
        finding_fingerprints=fixed,
    )


def _same_fixes(made_from: tuple[Fix, ...], pairs: Sequence[tuple[Finding, Fix]]) -> bool:
    return len(made_from) == len(pairs) and all(a is b for a, (_f, b) in zip(made_from, pairs, strict=True))


CONFIG_RULE = "ruff-config"


def report_outage(
    ctx: StageContext, outage: RuffOutage, options: ReviewStageConfig, python: int, work: _Work
) -> None:
    """Say first, in the notes, that ruff linted nothing and why; when the config to blame
    is one this pull request changes, it is also an error finding on that config (on the
    line ruff points at, else the first line the PR changed there), so the check fails the
    PR that broke the config (per ``fail_on``) instead of letting it merge unlinted. A
    config the PR does not touch is the base branch's problem: the check is only neutral."""
    heuristics_too = "; only the diff heuristics ran" if options.heuristics else ""
    unlinted = f"{plural(python, 'changed Python file')} {'was' if python == 1 else 'were'} not linted"
    if outage.timed_out:
        note = (
            f"ruff could not lint the code: {outage.reason}, so the {unlinted}{heuristics_too}. "
            "Re-run the check to try again."
        )
    elif outage.config is None:
        note = (
            f"ruff could not lint the code: {outage.reason}. The {unlinted}{heuristics_too}."
        )
    else:
        changed = ctx.changed(outage.config)
        whose = (
            "which this pull request changes: fix it here"
            if changed is not None and changed.added_lines
            else "which this pull request does not change: fix it on the base branch"
        )
        where = f"`{outage.config}`" + (f" line {outage.line}" if outage.line else "")
        note = (
            f"ruff could not lint the code: it cannot use the repository's ruff config {where}, "
            f"{whose}. ruff said: {outage.reason}. The {unlinted}{heuristics_too}."
        )
        if changed is not None and changed.added_lines:
            work.findings.append(_config_finding(outage, outage.config, changed.added_lines, options, ctx))
    work.notes.insert(0, note)


def _config_finding(
    outage: RuffOutage, config: str, added: Iterable[int], options: ReviewStageConfig, ctx: StageContext
) -> Finding:
    """The error on a config this PR broke, on a line the stage's filter reports."""
    gate = line_gate(options.filter, ctx.files)
    line = outage.line if outage.line is not None and gate(config, outage.line, outage.line) else min(added)
    return Finding(
        stage=StageName.REVIEW,
        rule_id=CONFIG_RULE,
        severity=Severity.ERROR,
        message=f"ruff could not lint the Python files with this config: {outage.reason}",
        path=config,
        start_line=line,
        end_line=line,
        engine="ruff",
        title="ruff could not use this config",
        fingerprint=fingerprint(CONFIG_RULE, config, CONFIG_RULE),
    )


_FILTER_SCOPE = {
    "added": ("on the changed lines", "elsewhere in the changed files"),
    "diff_context": ("in the diff's hunks", "elsewhere in the changed files"),
    "file": ("in the changed files", "in files the PR deleted"),
}
"""Per filter mode: where it reports findings, and where those it leaves out are."""


def _notebooks_part(metrics: Mapping[str, object]) -> str:
    """", 2 notebooks" when the PR changes notebooks: ruff lints them too, and a summary
    saying "(0 Python)" above findings in one read as if they had not been reviewed."""
    count = int(str(metrics.get("changed_notebooks", 0)))
    return f", {plural(count, 'notebook')}" if count else ""


def _filtered_out_line(mode: str, dropped: int, *, shown: int) -> str:
    """What the filter left out, said so it reads right beside the findings shown: "1 more
    finding outside the `added` filter" under no finding at all was one more than nothing,
    and named a filter rather than the lines it keeps."""
    scope, elsewhere = _FILTER_SCOPE.get(mode, ("where the filter looks", "elsewhere"))
    verb = "is" if dropped == 1 else "are"
    if shown:
        return f"{plural(dropped, 'more finding')} {elsewhere} {verb} not shown."
    return f"No findings {scope}; {plural(dropped, 'finding')} {elsewhere} {verb} not shown."


def render_summary(result: StageResult) -> str:
    """Markdown for the check run: what was reviewed and how, then each finding with the id
    ``/shunter dismiss`` takes.

    It reads only ``result`` (its findings, patches and metrics), so the check run can write
    it again without the findings people dismissed on the pull request
    (``bot.publishing.check_runs``), as it does the security stage's. The counts of findings
    and what fails the check are the check run's to say, once (its first lines, from
    ``bot.stages.verdict``): said here too, a reader got "fails on `error`" and then a
    sentence saying the same."""
    m = result.metrics
    findings = [f for f in result.findings if not f.suppressed]
    mode = str(m.get("filter", "added"))
    lines = [
        "### Code review",
        "",
        f"Reviewed {plural(int(m.get('files', 0)), 'changed file')} "
        f"({int(m.get('changed_python', 0))} Python{_notebooks_part(m)}), filter `{mode}`.",
    ]
    dropped = int(m.get("filtered_out", 0))
    if dropped:  # the same paragraph as the filter's name, which it need not repeat
        lines.append(_filtered_out_line(mode, dropped, shown=len(findings)))
    if m.get("ruff") in {"timed_out", "failed"}:
        what = "ran out of time" if m["ruff"] == "timed_out" else "failed"
        lines += ["", f"**ruff could not lint the code** ({what}; see the notes): this is no clean pass."]
    # which findings ruff's patch fixes; how many fixes there are and how to apply them is
    # the check run's line ("3 fixes available: press Apply fixes ..."), said once there
    fixable = {fp for patch in result.patches for fp in patch.finding_fingerprints}
    if findings:
        # remarks on the whole pull request first: they have no annotation to fall back on
        ordered = sorted(
            findings, key=lambda f: (not f.on_pull_request, -f.severity.rank, f.path, f.start_line)
        )
        # the id is what `/shunter dismiss` takes: up to SUMMARY_ROWS findings, this table is
        # the check run's only one (``check_runs._summary_lists``)
        lines += ["", "| Severity | Rule | Where | Message | Id |", "|---|---|---|---|---|"]
        for f in ordered[:SUMMARY_ROWS]:
            where = (
                "_the pull request_"
                if f.on_pull_request
                else path_code(f.path, suffix=f":{f.start_line}", table=True)
            )
            rule = code_span(f.rule_id, table=True)
            message = table_cell(f.message) + (" _(fix available)_" if f.fingerprint in fixable else "")
            lines.append(f"| {f.severity.value} | {rule} | {where} | {message} | {code_span(f.short_id)} |")
        if len(ordered) > SUMMARY_ROWS:
            lines.append(f"\n…and {len(ordered) - SUMMARY_ROWS} more in the annotations.")
    return "\n".join(lines) + "\n"


def _stopped(ctx: StageContext, work: _Work, started: float) -> StageResult:
    return StageResult(
        stage=StageName.REVIEW,
        head_sha=ctx.head_sha,
        summary="### Code review\n\nStopped early: a newer push superseded this run.\n",
        notes=[*work.notes, "cancelled before completion"],
        metrics={"cancelled": True, "duration_seconds": round(time.perf_counter() - started, 4)},
        neutral=True,
    )


def run(ctx: StageContext) -> StageResult:
    """The review stage. A scratch dir it has to create itself is removed before it returns
    (one the caller passed in stays: the caller owns it)."""
    if ctx.scratch_dir is not None:
        return _run(ctx)
    ctx.scratch_dir = new_scratch_dir()
    try:
        return _run(ctx)
    finally:
        shutil.rmtree(ctx.scratch_dir, ignore_errors=True)
        ctx.scratch_dir = None


def _run(ctx: StageContext) -> StageResult:
    started = time.perf_counter()
    options = options_of(ctx)
    work = _Work()
    if options.engine == "llm":
        work.notes.append("The llm engine is not available to this stage; used the builtin one.")
    include, exclude = options.paths.include, options.paths.exclude
    # ruff needs only the paths and the blobs, so it starts before the line maps are made
    python = [
        c.path
        for c in ctx.changed_paths()
        if c.status != "deleted"
        and (heuristics.is_python(c.path) or notebooks.is_notebook(c.path))
        and path_selected(c.path, include, exclude)
    ]
    texts, raw, skipped = read_texts(ctx, python)
    generated = leave_out_generated(ctx, texts, raw)
    notes_at = len(work.notes)  # where the skipped files' notes go once the diff is known
    work.lap("read_python")
    if ctx.cancelled():
        return _stopped(ctx, work, started)
    ruff_run = None
    if options.ruff:
        try:
            ruff_run = start_ruff(ctx, texts, work.notes, raw)
            work.lap("ruff_start")
        except EngineError as exc:
            work.outage = outage_of(exc, exc.named if isinstance(exc, RuffFailed) else ())
    try:
        # the line maps and the heuristics overlap with ruff, which runs on the other core;
        # the heuristics read the patches of non-Python files, never their blobs
        files = [f for f in ctx.files if path_selected(f.path, include, exclude)]
        binary = {f.path for f in files if f.is_binary}  # by the diff's rules (attributes too)
        texts = {path: text for path, text in texts.items() if path not in binary}
        work.notes[notes_at:notes_at] = [
            *(note for path, note in skipped.items() if path not in binary),
            *generated_note(generated),
            *ending_notes(files),
        ]
        work.lap("line_maps")
        if ctx.cancelled():
            return _stopped(ctx, work, started)
        if options.heuristics:
            # a print or a TODO the generator wrote is not the author's to remove, nor is
            # generated code what a test should cover or what makes a pull request large
            heuristics_step(
                [f for f in files if f.path not in generated], texts, options, work, ctx.head.paths
            )
            work.findings = review_waivers.waive(work.findings, work.lines)
            work.lap("heuristics")
        if ctx.cancelled():
            return _stopped(ctx, work, started)
        if ruff_run is not None:
            finish_ruff(ctx, ruff_run, texts, options, work, raw)
            work.lap("ruff_finish")
            ruff_run = None
    finally:
        if ruff_run is not None:
            ruff_run.process.cancel()
    work.findings = review_waivers.drop_contradicted_unused_noqa(work.findings)
    if work.outage is not None:
        report_outage(ctx, work.outage, options, len(python), work)
    kept, dropped = split_findings(drop_duplicates(work.findings), ctx.files, options.filter)
    dropped_count = len(dropped) + work.dropped_early
    kept.sort(key=lambda f: (f.path, f.start_line, f.rule_id))
    work.lap("filter")
    held_back: list[str] = []
    patch = build_patch(kept, work.fix_of, texts, files, raw, work.early, held_back)
    work.notes.extend(
        f"No fix patch for {path_code(path)}: the lines ruff's fixes change, or the lines "
        "beside them, hold a secret, which Shunter does not commit; remove the secret first."
        for path in held_back
    )
    work.lap("fix_patch")  # with its secret check, detect-secrets over each file's share
    counts = Counter(f.severity.value for f in kept)
    metrics: dict[str, object] = {
        "files": len(files),
        "changed_python": sum(1 for f in files if heuristics.is_python(f.path)),
        "changed_notebooks": sum(1 for f in files if notebooks.is_notebook(f.path)),
        "filter": options.filter.value,
        "python_files": sum(1 for path in texts if heuristics.is_python(path)),
        "findings": len(kept),
        "findings_by_severity": {s.value: counts.get(s.value, 0) for s in Severity},
        "filtered_out": dropped_count,
        "fixable": len(patch.finding_fingerprints) if patch else 0,
        **work.timings,
        "duration_seconds": round(time.perf_counter() - started, 4),
    }
    if work.crowded:
        metrics["left_out_same_on_line"] = sum(count - MAX_SAME_ON_LINE for count in work.crowded.values())
    if work.outage is not None:
        # ``error`` marks a stage that could not complete (``shunter run`` exits 3 unless
        # a finding fails it); ``neutral`` keeps the check from reading as a clean pass
        metrics |= {
            "ruff": "timed_out" if work.outage.timed_out else "failed",
            "error": True,
            "incomplete": "ruff could not lint the code",
        }
    result = StageResult(
        stage=StageName.REVIEW,
        head_sha=ctx.head_sha,
        findings=kept,
        patches=[patch] if patch else [],
        notes=work.notes,
        metrics=metrics,
        neutral=work.outage is not None,
    )
    result.summary = render_summary(result)
    return result
