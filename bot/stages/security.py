"""The security stage: bandit, secrets, Shunter's rules (and optionally semgrep and the
dependency audit) over a pull request, reporting only what the PR makes worse.

It has to be trustworthy enough to be a required check, so it is quiet about old debt
(``new_only``: a finding is reported only if its fingerprint is new in the head), honours
and lists inline suppressions, never echoes a secret, and says plainly what it could not
check (binary, huge or undecodable files, too many files, an unreachable OSV service).

Pure function of the ``StageContext`` except for the dependency audit's HTTP call, which
only happens when the config names a service.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from bot.engines import (
    bandit_misfires,
    bandit_scan,
    dependency_audit,
    outbound,
    own_rules,
    python_syntax,
    secrets_scan,
    security_fixes,
    semgrep_scan,
    suppressions,
)
from bot.engines.heuristics import is_test_path
from bot.engines.lfs_pointers import is_lfs_pointer, skipped_pointer
from bot.engines.line_breaks import diff_lines, has_lone_cr
from bot.engines.redaction import redact
from bot.engines.security_findings import EngineReport, RuleInfo, confidence_rank
from bot.errors import ConfigError, EngineError, TransientError
from bot.models import FileDiff, Finding, PatchDraft, Severity, StageName, StageResult, fingerprint
from bot.policies.globs import path_matches
from bot.policies.schema import FilterMode, SecurityStageConfig
from bot.stages.context import ChangedFile, StageContext
from bot.stages.filtering import path_selected
from bot.wording import findings_title, path_code, plural

MAX_FILE_BYTES = 2_000_000
"""Bigger files are generated or vendored far more often than written; they are skipped."""
MAX_FILES = 3_000
"""Beyond this many changed files the stage scans the first ones and says it stopped."""
BINARY_SNIFF = 8192

CWE_NAMES = {
    78: "OS command injection",
    89: "SQL injection",
    94: "Code injection",
    95: "Eval injection",
    20: "Improper input validation",
    259: "Hard-coded password",
    295: "Improper certificate validation",
    327: "Broken or risky cryptography",
    328: "Weak hash",
    377: "Insecure temporary file",
    400: "Uncontrolled resource consumption",
    489: "Active debug code",
    502: "Deserialisation of untrusted data",
    605: "Multiple binds to the same port",
    703: "Improper check of exceptional conditions",
    798: "Hard-coded credentials",
    916: "Weak password hash",
    1395: "Dependency on vulnerable third-party component",
}


@dataclass
class _Text:
    """One changed file readable as text, with the path its base version lives at."""

    path: str
    base_path: str
    text: str
    raw: bytes
    changed: ChangedFile

    @cached_property
    def lines(self) -> list[str]:
        """Numbered as the diff and bandit number them (a form feed starts no line)."""
        return diff_lines(self.text)


@dataclass
class _Scan:
    report: EngineReport = field(default_factory=lambda: EngineReport(engine="security"))
    trees: dict[str, ast.Module] = field(default_factory=dict)
    rewritten: dict[str, list[str]] = field(default_factory=dict)
    """The lines of the files parsed from ``python_syntax.downgrade``'s rewriting."""


def options_of(ctx: StageContext) -> SecurityStageConfig:
    options = ctx.options
    return options if isinstance(options, SecurityStageConfig) else SecurityStageConfig()


def run(ctx: StageContext) -> StageResult:
    """Scan the PR and return findings, fix patches and a summary; never raises on input."""
    started = time.perf_counter()
    opts = options_of(ctx)
    notes: list[str] = []
    texts, skipped = _select(ctx, opts, notes)
    partial = len(notes) > 0 and any(n.startswith("Too many") for n in notes)
    timings: dict[str, float] = {}

    if ctx.cancelled():
        return _cancelled(ctx)
    rules: list[own_rules.Rule] = []
    if "rules" in opts.scanners or "semgrep" in opts.scanners:
        try:
            rules = own_rules.load_rules()
        except ConfigError as exc:
            notes.append(f"Shunter's own rules did not run: {exc.message}.")
            partial = True

    added_only = {t.path: t.changed.added_lines for t in texts} if opts.new_only else None
    head = _scan_tree(ctx, "head", texts, opts, rules, timings, only_lines=added_only)
    notes.extend(head.report.notes)
    dep_neutral = False
    if "dependencies" in opts.scanners:
        dep_neutral = _audit(texts, opts, head.report, notes)

    head_findings = _with_fingerprints(head.report.findings, texts)
    head_findings = _dedupe(head_findings, head.report.aliases)

    kept, counts = _filter_config(head_findings, opts, head.report.aliases)

    preexisting = 0
    if opts.new_only:
        if ctx.cancelled():
            return _cancelled(ctx)
        kept, preexisting = _new_in_head(ctx, kept, texts, opts, rules, timings)
    else:
        kept, counts["outside_diff"] = _filter_mode(kept, texts, opts.filter)

    by_path = {t.path: t for t in texts}
    reported: list[Finding] = []
    suppressed: list[Finding] = []
    for finding in kept:
        source = by_path.get(finding.path)
        lines = source.lines if source else []
        why = suppressions.suppression_for(finding, lines, head.report.aliases)
        if why:
            suppressed.append(finding.model_copy(update={"suppressed": why}))
        else:
            reported.append(finding)
    for t in texts:
        numbered: Iterable[tuple[int, str]] = enumerate(t.lines, start=1)
        if opts.new_only:  # old comments are old debt too
            numbered = ((n, line) for n, line in numbered if n in t.changed.added_lines)
        for n in suppressions.unexplained(numbered):
            notes.append(
                f"`# shunter: ignore[...]` without a reason at {path_code(t.path, suffix=f':{n}')} "
                "was not honoured; add the reason after the bracket."
            )

    secret_paths = {f.path for f in [*reported, *suppressed] if f.engine == secrets_scan.ENGINE}
    reported, patches = _patches(reported, head, by_path, rules, secret_paths, notes)
    reported.sort(key=lambda f: (-f.severity.rank, f.path, f.start_line, f.rule_id))
    fail_floor = confidence_rank(opts.fail_on_confidence)
    failing = [
        f
        for f in reported
        if opts.fail_on.fails(f.severity) and confidence_rank(f.confidence) >= fail_floor
    ]
    used = {f.rule_id for f in [*reported, *suppressed]}
    rules_meta = {rid: info.as_dict() for rid, info in head.report.rules.items() if rid in used}
    neutral = (dep_neutral or partial) and not failing
    conclusion = "failure" if failing else ("neutral" if neutral else "success")
    notes = [redact(n) for n in dict.fromkeys(notes)]
    metrics = {
        "conclusion": conclusion,
        "files_scanned": len(texts),
        "files_skipped": len(skipped),
        "reported": len(reported),
        "failing": len(failing),
        # what the verdict rests on, so that the publisher can judge again once people
        # dismiss some of them (the confidence threshold is the stage's to apply, not its)
        "failing_fingerprints": [f.fingerprint for f in failing],
        "conclusion_without_failing": "neutral" if (dep_neutral or partial) else "success",
        "suppressed": len(suppressed),
        "preexisting": preexisting,
        "ignored": counts.get("ignored", 0),
        "ignored_in_tests": counts.get("ignored_in_tests", 0),
        "below_confidence": counts.get("below_confidence", 0),
        # the verdict's to explain: errors and warnings on a check that passes because of it
        "fail_on_confidence": opts.fail_on_confidence,
        "outside_diff": counts.get("outside_diff", 0),
        "scanners": list(opts.scanners),
        "seconds": round(time.perf_counter() - started, 3),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "rules": rules_meta,
    }
    result = StageResult(
        stage=StageName.SECURITY,
        head_sha=ctx.head_sha,
        findings=[*reported, *suppressed],
        patches=patches,
        notes=notes,
        metrics=metrics,
        neutral=neutral,
    )
    result.summary = render_summary(result)
    return result


def _cancelled(ctx: StageContext) -> StageResult:
    return StageResult(
        stage=StageName.SECURITY,
        head_sha=ctx.head_sha,
        notes=["Cancelled before the scan finished: a newer commit superseded this one."],
        metrics={"conclusion": "cancelled"},
        neutral=True,
        summary="Security scan cancelled: a newer commit superseded this one.",
    )


# --------------------------------------------------------------------------- input


def _ignored_path(path: str, patterns: Iterable[str]) -> bool:
    return path_matches(path, list(patterns))


def _select(ctx: StageContext, opts: SecurityStageConfig, notes: list[str]) -> tuple[list[_Text], list[str]]:
    """Readable text versions of the changed files, and the paths that were skipped."""
    skipped: list[str] = []
    # a symlink's blob is its target's path, not text to scan (the trees never read through one)
    candidates = [f for f in ctx.files if f.status != "deleted" and not f.symlink]
    candidates = [
        f
        for f in candidates
        if path_selected(f.path, opts.paths.include, opts.paths.exclude)
        and not _ignored_path(f.path, opts.ignore_paths)
    ]
    if len(candidates) > MAX_FILES:
        notes.append(
            f"Too many changed files: scanned the first {MAX_FILES} of {len(candidates)}; "
            "the rest were not checked, so this result is not a pass."
        )
        skipped.extend(f.path for f in candidates[MAX_FILES:])
        candidates = candidates[:MAX_FILES]
    texts: list[_Text] = []
    for changed in candidates:
        if changed.is_binary:
            notes.append(f"Skipped {path_code(changed.path)}: binary file.")
            skipped.append(changed.path)
            continue
        raw = ctx.head.read(changed.path)
        if raw is None:
            notes.append(f"Skipped {path_code(changed.path)}: not found in the head tree.")
            skipped.append(changed.path)
            continue
        if len(raw) > MAX_FILE_BYTES:
            notes.append(
                f"Skipped {path_code(changed.path)}: {len(raw) / 1e6:.1f} MB is over the "
                f"{MAX_FILE_BYTES / 1e6:.0f} MB limit for scanned files."
            )
            skipped.append(changed.path)
            continue
        if b"\0" in raw[:BINARY_SNIFF]:
            notes.append(f"Skipped {path_code(changed.path)}: binary file.")
            skipped.append(changed.path)
            continue
        if is_lfs_pointer(raw):
            notes.append(skipped_pointer(path_code(changed.path)))
            skipped.append(changed.path)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            notes.append(
                f"{path_code(changed.path)} is not valid UTF-8: scanned for secrets with undecodable "
                "bytes replaced."
            )
        base_path = changed.old_path or changed.path
        texts.append(_Text(changed.path, base_path, text, raw, changed))
    return texts, skipped


def _base_texts(ctx: StageContext, head_texts: list[_Text]) -> list[_Text]:
    """The base versions of the given files (under their head paths, for fingerprints)."""
    out: list[_Text] = []
    for t in head_texts:
        if t.changed.status == "added":
            continue
        raw = ctx.base.read(t.base_path)
        if raw is None or len(raw) > MAX_FILE_BYTES or b"\0" in raw[:BINARY_SNIFF]:
            continue
        out.append(_Text(t.path, t.base_path, _decode(raw), raw, t.changed))
    return out


def _is_python(path: str) -> bool:
    return path.endswith((".py", ".pyi", ".pyw"))


# --------------------------------------------------------------------------- scanning


def _scan_tree(
    ctx: StageContext,
    tree: Literal["head", "base"],
    texts: list[_Text],
    opts: SecurityStageConfig,
    rules: list[own_rules.Rule],
    timings: dict[str, float],
    *,
    only_lines: dict[str, frozenset[int]] | None,
) -> _Scan:
    """Run the enabled engines over one tree; ``only_lines`` narrows the secrets scan."""
    scan = _Scan()
    if not texts:
        return scan
    python = [t for t in texts if _is_python(t.path)]
    unparsed: dict[str, str] = {}  # path to why
    for t in python:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)
                scan.trees[t.path] = ast.parse(t.raw, filename=t.path)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            if isinstance(exc, RecursionError | MemoryError):
                where = " (nested too deeply to analyse)"
            unparsed[t.path] = f"Could not parse {path_code(t.path)}{where}"
    rewritten = _read_newer_python(tree, [t for t in python if t.path in unparsed], scan, unparsed)
    scan.rewritten = {path: diff_lines(text) for path, text in rewritten.items()}
    if tree == "head":
        scan.report.notes += [f"{why}: Python rules and bandit skipped it." for why in unparsed.values()]
    parsed = [t for t in python if t.path in scan.trees]

    if "bandit" in opts.scanners and parsed:
        t0 = time.perf_counter()
        root = ctx.materialise([t.base_path if tree == "base" else t.path for t in parsed], tree=tree)
        rel = [t.base_path if tree == "base" else t.path for t in parsed]
        for t in parsed:
            if t.path in rewritten:  # bandit reads what the running Python can parse
                (root / (t.base_path if tree == "base" else t.path)).write_text(rewritten[t.path], "utf-8")
        report = bandit_scan.run_bandit(root, rel)
        _rename(report, {t.base_path: t.path for t in parsed} if tree == "base" else {})
        if tree == "base":
            report.notes.clear()
        report.findings = [
            f for f in report.findings if not bandit_misfires.is_misfire(f, scan.trees.get(f.path))
        ]
        scan.report.extend(report)
        timings[f"bandit_{tree}"] = timings.get(f"bandit_{tree}", 0) + time.perf_counter() - t0

    if "rules" in opts.scanners and rules:
        t0 = time.perf_counter()
        scan.report.extend(own_rules.scan_python(scan.trees, rules))
        timings[f"rules_{tree}"] = time.perf_counter() - t0

    if "semgrep" in opts.scanners and parsed:
        t0 = time.perf_counter()
        rel = [t.base_path if tree == "base" else t.path for t in parsed]
        root = ctx.materialise(rel, tree=tree)
        report = semgrep_scan.run_semgrep(root, rel, rules)
        _rename(report, {t.base_path: t.path for t in parsed} if tree == "base" else {})
        if tree == "base":
            report.notes.clear()
        scan.report.extend(report)
        timings[f"semgrep_{tree}"] = time.perf_counter() - t0

    if "secrets" in opts.scanners:
        t0 = time.perf_counter()
        scan.report.extend(secrets_scan.scan_secrets({t.path: t.text for t in texts}, only_lines))
        timings[f"secrets_{tree}"] = time.perf_counter() - t0
    return scan


def _read_newer_python(
    tree: Literal["head", "base"], texts: list[_Text], scan: _Scan, unparsed: dict[str, str]
) -> dict[str, str]:
    """Code for a later Python than Shunter's, which ``ast`` could not parse: parsed into
    ``scan.trees`` from ``python_syntax.downgrade``'s rewriting (same lines, same calls),
    so bandit and the rules still read it; a type alias cannot hide an ``eval`` from them.
    ``unparsed`` (path to why) loses the files read and says which Python the others need
    (for the head; the base is only read to tell new findings from old). Returns the
    rewritten text of each file read."""
    rewritten: dict[str, str] = {}
    newer = python_syntax.newer_syntax({t.path: t.raw for t in texts}) if texts and tree == "head" else {}
    for t in texts:
        if tree == "head" and t.path not in newer:
            continue  # invalid in every Python (or not judged): reported as such
        try:
            text = python_syntax.downgrade(t.raw.decode("utf-8"))
            if text is not None:
                scan.trees[t.path] = ast.parse(text, filename=t.path)
                rewritten[t.path] = text
        except (UnicodeDecodeError, SyntaxError, ValueError, RecursionError, MemoryError):
            pass
        if t.path in rewritten:
            del unparsed[t.path]
            if t.path in newer:
                scan.report.notes.append(
                    f"{newer[t.path].describe(path_code(t.path))}: bandit and the Python rules read it "
                    f"with that syntax rewritten for Python {python_syntax.RUNNING}, line for line."
                )
        elif t.path in newer:
            unparsed[t.path] = newer[t.path].describe(path_code(t.path))
    return rewritten


def _rewritten_at(scan: _Scan, path: str, node: ast.AST, lines: list[str]) -> bool:
    """``node`` spans a line that reads otherwise in the rewriting it was parsed from: its
    columns there are not the file's, so no fix is built from them."""
    rewritten = scan.rewritten.get(path)
    if rewritten is None:
        return False
    first = getattr(node, "lineno", 1)
    last = getattr(node, "end_lineno", None) or first
    return rewritten[first - 1 : last] != lines[first - 1 : last]


def _rename(report: EngineReport, mapping: dict[str, str]) -> None:
    if mapping:
        report.findings = [
            f.model_copy(update={"path": mapping.get(f.path, f.path)}) for f in report.findings
        ]


def _audit(texts: list[_Text], opts: SecurityStageConfig, report: EngineReport, notes: list[str]) -> bool:
    """Run the dependency audit into ``report``; True when the service could not answer."""
    manifests = {t.path: t.text for t in texts if dependency_audit.is_manifest(t.path)}
    if not manifests:
        return False
    if not opts.osv_url:
        notes.append(
            "Dependency audit is enabled but no `osv_url` is configured: dependencies were not checked."
        )
        return True
    try:
        outbound.check(opts.osv_url, "stages.security.osv_url")
    except EngineError as exc:
        notes.append(f"Dependency audit could not run: {exc}. Dependencies were not checked.")
        return True
    try:
        report.extend(dependency_audit.audit(manifests, opts.osv_url))
    except TransientError as exc:
        notes.append(f"Dependency audit could not run: {exc.message}. Dependencies were not checked.")
        return True
    return False


# --------------------------------------------------------------------------- filtering


def _with_fingerprints(findings: list[Finding], texts: list[_Text]) -> list[Finding]:
    lines_by_path = {t.path: t.lines for t in texts}
    out: list[Finding] = []
    for f in findings:
        if f.fingerprint:
            out.append(f)
            continue
        lines = lines_by_path.get(f.path, [])
        line = lines[f.start_line - 1] if 0 < f.start_line <= len(lines) else ""
        if f.rule_id in _BANDIT_SECRET_TESTS:
            # a short hash of a line holding a weak password could be brute-forced
            line = redact(_QUOTED.sub(lambda m: m.group(1) + m.group(1), line))
        out.append(f.model_copy(update={"fingerprint": fingerprint(f.rule_id, f.path, line)}))
    return out


_QUOTED = re.compile(r"""(["'])(?:\\.|(?!\1).)*\1""")


def _dedupe(findings: list[Finding], aliases: dict[str, tuple[str, ...]]) -> list[Finding]:
    """Drop a bandit/semgrep finding when Shunter's rule said the same thing on that line.

    Shunter's rule wins: it carries the fix hint and, for mechanical cases, a patch.
    """
    ours: dict[tuple[str, int], set[str]] = {}
    for f in findings:
        if f.engine == own_rules.ENGINE:
            for line in range(f.start_line, f.end_line + 1):
                ours.setdefault((f.path, line), set()).update({f.rule_id, *aliases.get(f.rule_id, ())})
    secret_lines = {(f.path, f.start_line) for f in findings if f.engine == secrets_scan.ENGINE}
    out: list[Finding] = []
    seen: set[tuple[str, str, int]] = set()
    for f in findings:
        key = (f.rule_id, f.path, f.start_line)
        if key in seen:
            continue
        if f.rule_id in _BANDIT_SECRET_TESTS and (f.path, f.start_line) in secret_lines:
            continue  # the secrets engine names the kind; bandit's B105 would repeat it
        if f.engine in (bandit_scan.ENGINE, semgrep_scan.ENGINE) and f.rule_id in ours.get(
            (f.path, f.start_line), set()
        ):
            continue
        seen.add(key)
        out.append(f)
    return out


_BANDIT_SECRET_TESTS = {"B105", "B106", "B107"}


def _filter_config(
    findings: list[Finding], opts: SecurityStageConfig, aliases: dict[str, tuple[str, ...]]
) -> tuple[list[Finding], dict[str, int]]:
    counts = Counter[str]()
    kept: list[Finding] = []
    floor = confidence_rank(opts.min_confidence)
    for f in findings:
        ids = {f.rule_id, *aliases.get(f.rule_id, ())}
        if _ignored_path(f.path, opts.ignore_paths) or _names_any(ids, opts.ignore_rules):
            counts["ignored"] += 1
        elif is_test_path(f.path) and _names_any(ids, opts.ignore_rules_in_tests):
            counts["ignored_in_tests"] += 1
        elif confidence_rank(f.confidence) < floor:
            counts["below_confidence"] += 1
        else:
            kept.append(f)
    return kept, dict(counts)


def _names_any(ids: Iterable[str], patterns: Iterable[str]) -> bool:
    """Whether one of a finding's ids (its rule and the bandit ids it aliases) matches."""
    return any(fnmatch.fnmatchcase(i, pattern) for i in ids for pattern in patterns)


_WS = re.compile(r"\s+")


def _normal(line: str) -> str:
    """The line as ``bot.models.fingerprint`` sees it (whitespace folded)."""
    return _WS.sub(" ", line).strip()


def _new_in_head(
    ctx: StageContext,
    kept: list[Finding],
    texts: list[_Text],
    opts: SecurityStageConfig,
    rules: list[own_rules.Rule],
    timings: dict[str, float],
) -> tuple[list[Finding], int]:
    """``new_only``: split head findings into new ones and old debt, scanning the base lazily.

    A fingerprint hashes the rule, the path and the normalised line text, so a head finding
    can only match a base finding if the base file has that very line text. Triage:

    - the file is new in the PR: every finding is new;
    - the finding lies on lines the PR did not touch: the same line is on the base, so it
      is old debt (no scan needed);
    - it lies on touched lines whose text the base file does not contain: new (exact);
    - otherwise (code moved or copied): the base version of that file is scanned and the
      fingerprints are compared as multisets, which is exact.

    This keeps the base scan to the few files where code moved, instead of every file with
    a finding, which is what makes ``new_only`` affordable on large PRs.
    """
    by_path = {t.path: t for t in texts}
    base_lines: dict[str, Counter[str] | None] = {}

    def base_counter(t: _Text) -> Counter[str] | None:
        if t.path not in base_lines:
            raw = None if t.changed.status == "added" else ctx.base.read(t.base_path)
            base_lines[t.path] = (
                None if raw is None else Counter(_normal(x) for x in _decode(raw).splitlines())
            )
        return base_lines[t.path]

    verdicts: list[tuple[Finding, str]] = []
    for f in kept:
        t = by_path.get(f.path)
        counter = base_counter(t) if t else None
        if t is None or counter is None:
            verdicts.append((f, "new"))
            continue
        span = set(range(f.start_line, f.end_line + 1))
        lines = t.lines
        text = _normal(lines[f.start_line - 1]) if f.start_line <= len(lines) else ""
        if not span & t.changed.added_lines:
            verdicts.append((f, "old"))
        elif counter[text] == 0:
            verdicts.append((f, "new"))
        elif f.engine == dependency_audit.ENGINE:
            verdicts.append((f, "old"))  # the same pin line is on the base: known debt
        else:
            verdicts.append((f, "rescan"))
    # a rescanned file is compared exactly, all of its findings together (multisets)
    rescan_paths = {f.path for f, v in verdicts if v == "rescan"}
    rescan: dict[str, list[Finding]] = {}
    fresh: list[Finding] = []
    old = 0
    for f, verdict in verdicts:
        if f.path in rescan_paths and f.engine != dependency_audit.ENGINE:
            rescan.setdefault(f.path, []).append(f)
        elif verdict == "new":
            fresh.append(f)
        else:
            old += 1
    if not rescan:
        return fresh, old
    base_texts = _base_texts(ctx, [by_path[p] for p in sorted(rescan)])
    wanted = {p: {_normal(by_path[p].lines[f.start_line - 1]) for f in fs} for p, fs in rescan.items()}
    only = {
        b.path: frozenset(n for n, line in enumerate(b.lines, start=1) if _normal(line) in wanted[b.path])
        for b in base_texts
    }
    base = _scan_tree(ctx, "base", base_texts, opts, rules, timings, only_lines=only)
    base_findings = _dedupe(_with_fingerprints(base.report.findings, base_texts), base.report.aliases)
    moved, matched = _new_only([f for fs in rescan.values() for f in fs], base_findings)
    return fresh + moved, old + matched


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _new_only(head: list[Finding], base: list[Finding]) -> tuple[list[Finding], int]:
    """Head findings whose fingerprint is not in the base (counted as a multiset)."""
    budget = Counter(f.fingerprint for f in base)
    fresh: list[Finding] = []
    old = 0
    for f in head:
        if budget[f.fingerprint] > 0:
            budget[f.fingerprint] -= 1
            old += 1
        else:
            fresh.append(f)
    return fresh, old


def _filter_mode(findings: list[Finding], texts: list[_Text], mode: FilterMode) -> tuple[list[Finding], int]:
    if mode in (FilterMode.FILE, FilterMode.NOFILTER):
        return findings, 0
    changed = {t.path: t.changed for t in texts}
    kept: list[Finding] = []
    for f in findings:
        c = changed.get(f.path)
        lines = set(range(f.start_line, f.end_line + 1))
        wanted = (c.added_lines if mode is FilterMode.ADDED else c.diff_lines) if c else frozenset()
        if c is None or lines & wanted:
            kept.append(f)
    return kept, len(findings) - len(kept)


# --------------------------------------------------------------------------- patches


def _patches(
    reported: list[Finding],
    head: _Scan,
    by_path: dict[str, _Text],
    rules: list[own_rules.Rule],
    secret_paths: set[str],
    notes: list[str],
) -> tuple[list[Finding], list[PatchDraft]]:
    """Attach suggestions to mechanically fixable findings; one patch per file.

    A file holding a secret gets no patch (and no suggestion): a diff's context lines would
    carry the secret into the change request, the merge queue and the audit log.
    ``secret_paths`` (the secrets the stage reports) is not enough to know that: a secret
    already on the base, ignored by config or below ``min_confidence`` is filtered out of
    the findings but still sits in the file, so every file that would get a patch is
    scanned again, whole and unfiltered, together with the patch itself.
    """
    fixable = {(f.path, f.rule_id, f.start_line) for f in reported if f.engine == own_rules.ENGINE}
    if not fixable:
        return reported, []
    # a file's secret holds back only the fix it would otherwise get: the edits are worked
    # out first, so a file whose findings no rule can fix (an eval, an md5 beside a key)
    # gets no "no fix patch" note for a patch that was never on offer
    held_back: set[str] = set()
    autofix_rules = [r for r in rules if r.autofix]
    edits_by_path: dict[str, list[tuple[security_fixes.Edit, str]]] = {}
    suggestion: dict[tuple[str, str, int], str] = {}
    for path, tree in head.trees.items():
        source = by_path[path]
        unfit = _unpatchable(source)
        if unfit is not None:
            if any(key[0] == path for key in fixable):
                notes.append(f"No fix patch for {path_code(path)}: {unfit}.")
            continue
        lines = source.lines
        for m in own_rules.iter_autofix_matches(tree, autofix_rules):
            key = (path, m.rule.id, getattr(m.node, "lineno", 0))
            if key not in fixable or _rewritten_at(head, path, m.node, lines):
                continue
            edit = security_fixes.edit_for(m, lines, tree)
            if edit is None:
                continue
            edits_by_path.setdefault(path, []).append((edit, m.rule.id))
            suggestion[key] = "\n".join(edit.new_lines)
    diffs: dict[str, str] = {}
    for path, pairs in sorted(edits_by_path.items()):
        source = by_path[path]
        after = security_fixes.apply_edits(source.text, [e for e, _ in pairs])
        diff = security_fixes.unified_diff(path, source.text, after) if after != source.text else ""
        if path in secret_paths or secrets_scan.holds_secret(path, [source.text, diff]):
            held_back.add(path)
        elif diff:
            diffs[path] = diff
    _hold_back_notes(held_back, notes)
    suggestion = {key: text for key, text in suggestion.items() if key[0] not in held_back}
    patches: list[PatchDraft] = []
    finding_fps: dict[str, list[str]] = {}
    out: list[Finding] = []
    for f in reported:
        key = (f.path, f.rule_id, f.start_line)
        if key in suggestion and f.start_line == f.end_line:
            f = f.model_copy(update={"suggestion": suggestion[key]})
            finding_fps.setdefault(f.path, []).append(f.fingerprint)
        out.append(f)
    for path, diff in sorted(diffs.items()):
        source = by_path[path]
        pairs = edits_by_path[path]
        labels = ", ".join(sorted({e.label for e, _ in pairs}))
        blob = source.changed.head_blob or security_fixes.git_blob_id(source.raw)
        patches.append(
            PatchDraft(
                stage=StageName.SECURITY,
                title=f"Security fixes in {path}: {labels}",
                files=[
                    FileDiff(
                        path=path,
                        diff=diff,
                        pre_image_blob=blob,
                    )
                ],
                finding_fingerprints=finding_fps.get(path, []),
            )
        )
    return out, patches


def _unpatchable(source: _Text) -> str | None:
    """Why ``source`` gets no fix patch, or None. A patch is UTF-8 text, so a file in
    another encoding (``# -*- coding: latin-1 -*-``) would not keep its bytes (its diff,
    decoded with replacement characters, never applied); with a lone ``\\r`` the ast
    counts lines that git and the diff do not, so an edit would land on another line."""
    try:
        source.raw.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text, and a patch could not keep its bytes"
    if has_lone_cr(source.text):
        return "it ends a line with a lone carriage return, which Python and git count differently"
    return None


def _hold_back_notes(paths: Iterable[str], notes: list[str]) -> None:
    for path in sorted(paths):
        notes.append(f"No fix patch for {path_code(path)}: it holds a secret; remove the secret first.")


# --------------------------------------------------------------------------- summary

MAX_SUMMARY_ITEMS = 150


def _cwe_label(cwe: int | None) -> str:
    if cwe is None:
        return "No CWE"
    name = CWE_NAMES.get(cwe)
    return f"CWE-{cwe}" + (f" {name}" if name else "")


def _listed_message(finding: Finding) -> str:
    """A finding's message as the summary lists it, after its location: a secret's says
    where it is and what to do, but the line already names the place and the note under
    the list says what to do once, not once per secret."""
    if finding.engine != secrets_scan.ENGINE:
        return finding.message
    text = finding.message.removesuffix(secrets_scan.ROTATE).rstrip()
    return text.removesuffix(f" at {finding.path}:{finding.start_line}.")


def render_summary(result: StageResult) -> str:
    """Markdown for the check run: new findings by severity and CWE, suppressions (the
    notes are the check run's to list, see ``bot.publishing.check_runs.notes_section``, and
    so is what fails the check, see ``bot.stages.verdict.explanation``: both are said once,
    the same way for every stage, by the check run and ``shunter run``)."""
    m = result.metrics
    reported = [f for f in result.findings if not f.suppressed]
    suppressed = [f for f in result.findings if f.suppressed]
    # which findings a patch fixes; how many fixes there are and how to apply them is the
    # check run's line ("2 fixes available: press Apply fixes ..."), said once there
    fixable = {fp for patch in result.patches for fp in patch.finding_fingerprints}
    parts: list[str] = []
    if reported:
        parts.append(f"**{plural(len(reported), 'new finding')}** ({findings_title(reported)}).")
    else:
        parts.append("**No new security findings.**")
    extra = [f"{plural(int(m.get('files_scanned', 0)), 'changed file')} scanned"]
    if m.get("preexisting"):
        old_debt = plural(int(m["preexisting"]), "pre-existing finding")
        extra.append(f"{old_debt} not shown (already on the base)")
    if m.get("ignored"):
        extra.append(f"{m['ignored']} ignored by config")
    if m.get("ignored_in_tests"):
        extra.append(f"{m['ignored_in_tests']} in test files not reported (`ignore_rules_in_tests`)")
    if m.get("below_confidence"):
        extra.append(f"{m['below_confidence']} below `min_confidence`")
    if m.get("outside_diff"):
        extra.append(f"{m['outside_diff']} outside the changed lines")
    parts.append(" · ".join(extra))
    shown = 0
    for sev in (Severity.ERROR, Severity.WARNING, Severity.NOTICE):
        group = [f for f in reported if f.severity is sev]
        if not group:
            continue
        parts.append(f"\n### {sev.value.capitalize()} ({len(group)})")
        by_cwe: dict[int | None, list[Finding]] = {}
        for f in group:
            by_cwe.setdefault(f.cwe, []).append(f)
        for cwe in sorted(by_cwe, key=lambda c: (c is None, c or 0)):
            parts.append(f"\n**{_cwe_label(cwe)}**\n")
            for f in by_cwe[cwe]:
                if shown >= MAX_SUMMARY_ITEMS:
                    break
                shown += 1
                loc = path_code(f.path, suffix=f":{f.start_line}")
                fix = " _(fix available)_" if f.fingerprint in fixable else ""
                # the id is what `/shunter dismiss` takes: this list is the check run's only one
                parts.append(f"- {loc} `{f.rule_id}` {redact(_listed_message(f))} · `{f.short_id}`{fix}")
    if shown < len(reported):
        parts.append(f"\n… and {len(reported) - shown} more (see the annotations and SARIF).")
    if suppressed:
        parts.append(f"\n### Suppressed inline ({len(suppressed)})\n")
        for f in suppressed[:MAX_SUMMARY_ITEMS]:
            where = path_code(f.path, suffix=f":{f.start_line}")
            parts.append(f"- {where} `{f.rule_id}` — {redact(f.suppressed or '')}")
    if any(f.engine == secrets_scan.ENGINE for f in reported):
        parts.append(
            "\n> **Secrets:** values are never shown. Remove them and rotate the credentials: "
            "rotation is a human job, so Shunter proposes no patch for secrets."
        )
    # the notes are not repeated here: the check run lists every stage's notes once, below
    text = "\n".join(parts)
    return text[:60_000]


def rule_infos(result: StageResult) -> dict[str, RuleInfo]:
    """The rule metadata a result carries (for SARIF and the publisher)."""
    out: dict[str, RuleInfo] = {}
    for rid, d in (result.metrics.get("rules") or {}).items():
        out[rid] = RuleInfo(
            id=d["id"],
            name=d["name"],
            short=d["short"],
            help=d.get("help", ""),
            cwe=d.get("cwe"),
            help_uri=d.get("help_uri"),
            fix=d.get("fix", ""),
            tags=tuple(d.get("tags") or ("security",)),
        )
    return out
