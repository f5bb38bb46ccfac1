"""Secrets in changed files: Shunter's own high-value patterns plus detect-secrets.

Every text file the PR changes is scanned, not only Python: keys leak through YAML, .env
files and docs as often as through code. detect-secrets runs in-process with its network
verification off (no verification filter is configured, so no plugin calls out). Its own
``# pragma: allowlist secret`` filter is disabled here so that the stage, not the
scanner, honours it and can list it as a suppression.

Values never leave this module in clear: messages carry the kind and at most the kind's
well-known prefix (``AKIA***``, a password's ``***``), and fingerprints hash the line with
the value masked. The one exception is ``detected_values``, for the masker that hides them
from LLM prompts.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from bot.engines import notebooks
from bot.engines.line_breaks import diff_lines
from bot.engines.redaction import RedactingFilter, SecretPattern, find_secrets, mask
from bot.engines.secret_files import (
    TERRAFORM_DEFAULT,
    URL_CREDENTIALS,
    extra_patterns,
    labelled_digest,
    not_a_value,
    readable_lines,
    scanner_name,
    terraform_defaults,
)
from bot.engines.secret_placeholders import BASIC_AUTH, KEYWORD, example_reason
from bot.engines.security_findings import EngineReport, RuleInfo
from bot.models import Finding, Severity, StageName, fingerprint

ENGINE = "secrets"
GENERIC = "generic-secret-assignment"
"""Shunter's one pattern that matches a shape (``password = "..."``), not a format."""
_SHAPES = {GENERIC: KEYWORD, URL_CREDENTIALS.id: BASIC_AUTH}
"""Shunter's patterns that match a shape, as detect-secrets' keyword and basic-auth
detectors do, judged against examples as those detectors' hits are."""
ROTATE = (
    "Remove it from the code and rotate the credential: anyone who can read this branch "
    "may already have copied it. Rotation is a human job, so Shunter proposes no patch."
)
# detect-secrets' hits are shown as ``***``: its kinds have no prefix Shunter knows to be
# public. Their fingerprints hash the line as it was masked before, with 4 characters kept
# (redaction.SecretPattern.fingerprint_keep says why they must not change).
_DS_FINGERPRINT_KEEP = 4
# entropy-only hits (hashes, nonces in tests) are common: they inform, they do not fail
_SEVERITY = {"high": Severity.ERROR, "medium": Severity.WARNING, "low": Severity.NOTICE}
_LOCK = threading.Lock()  # detect-secrets keeps its settings in a process global
# Disabled filters: the allowlist pragma is honoured (and listed) by the stage; the
# "invalid file" filter stats the path on disk, and the stage scans blobs, not files.
_DISABLED_FILTERS = (
    "detect_secrets.filters.allowlist.is_line_allowlisted",
    "detect_secrets.filters.common.is_invalid_file",
)

# detect-secrets logs skipped secret values at INFO ("Skipping "<value>" due to ..."):
# keep its logger quiet and masked whatever the application's logging config says.
_ds_logger = logging.getLogger("detect-secrets")
_ds_logger.setLevel(logging.WARNING)
_ds_logger.addFilter(RedactingFilter())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def rule_for(pattern_id: str, kind: str) -> RuleInfo:
    return RuleInfo(
        id=f"secret.{pattern_id}",
        name=f"Secret: {kind}",
        short=f"A {kind} is committed in the source.",
        help=(
            f"A value that looks like a {kind} was added to the repository. Secrets in git "
            "history stay readable after the line is deleted. " + ROTATE
        ),
        cwe=798,
        fix="Load the secret from the environment or a secret store; rotate the leaked one.",
        tags=("security", "secret"),
    )


def _finding(
    path: str,
    line_no: int,
    line: str,
    rule: RuleInfo,
    value: str,
    keep: tuple[int, int],
    confidence: str,
    example: str | None = None,
) -> Finding:
    """``keep``: the prefix shown in the message, and the one kept in the fingerprinted line;
    ``example``: why the value looks like an example, said in the message so that a notice
    explains why it does not fail the check."""
    shown, hashed = keep
    masked = mask(value, shown) if value else "[redacted]"
    safe_line = line.replace(value, mask(value, hashed)) if value else line
    kind = rule.name.removeprefix("Secret: ")
    return Finding(
        stage=StageName.SECURITY,
        rule_id=rule.id,
        severity=_SEVERITY[confidence],
        message=f"Possible {kind} (`{masked}`) at {path}:{line_no}{_why_low(example)}. {ROTATE}",
        path=path,
        start_line=line_no,
        end_line=line_no,
        engine=ENGINE,
        title=rule.name,
        fingerprint=fingerprint(rule.id, path, safe_line),
        confidence=confidence,
        cwe=798,
    )


def _why_low(example: str | None) -> str:
    if not example:
        return ""
    return f" (low confidence: the value looks like {EXAMPLE_WORDING.get(example, 'an ' + example)})"


EXAMPLE_WORDING = {
    "prose": "prose",
    "masked": "a masked value",
    "placeholder": "a placeholder word",
    "example host": "a credential for an example host",
    "name": "a name (of a field, a parameter, a setting or a header), not a value",
    "type": "a type (a string annotation)",
    "Python name": "a Python name (a type or module path)",
    "URL without credentials": "an address with no credential in it",
    "file path": "the path of the file the secret is read from, not the secret",
    "common password in a test": "a well-known dummy password in a test file",
    "service default": "the default password of a database or broker container in a Compose file or CI job",
    "example in documentation": (
        "a made-up example in documentation (it spells a placeholder or a well-known example word)"
    ),
    "template": "a template's or a shell's placeholder, filled in elsewhere",
    "hash prefix": "the name of a password hash's algorithm, not a password",
    "well-known example": (
        "an example or default password that documentation has long used (scott/tiger, foobared, guest)"
    ),
    "repeated name": "the user, host or database name repeated, as examples and dev setups write it",
}


def _line_numbers(text: str, only: frozenset[int] | None) -> list[tuple[int, str]]:
    lines = diff_lines(text)  # numbered as the diff's line maps are
    if only is None:
        return list(enumerate(lines, start=1))
    return [(n, lines[n - 1]) for n in sorted(only) if 1 <= n <= len(lines)]


_UNSAFE_IN_DIFF_HEADER = re.compile(r'[\s"\\]|[^\x21-\x7e\u00a0-\U0010ffff]|[\ud800-\udfff]')


def _diff_name(path: str) -> str:
    """``path`` with what unidiff cannot read in a header (whitespace, quotes, backslashes,
    control characters, the surrogates of undecodable bytes) turned into ``_``.

    Git allows all of these in a file name, but a newline or ``a b/c d`` makes unidiff
    raise and a tab cuts the name short, which left such files unscanned. detect-secrets
    only uses the name for its extension and base-name heuristics (file type, lock files),
    which the stand-in keeps; findings are reported under the real path by the caller.
    """
    return _UNSAFE_IN_DIFF_HEADER.sub("_", path)


def _synthetic_diff(path: str, numbered: list[tuple[int, str]]) -> str:
    """A unified diff adding exactly ``numbered`` lines: detect-secrets' public line API."""
    name = _diff_name(scanner_name(path))
    out = [f"diff --git a/{name} b/{name}", f"--- a/{name}", f"+++ b/{name}"]
    run: list[tuple[int, str]] = []

    def flush() -> None:
        if run:
            out.append(f"@@ -0,0 +{run[0][0]},{len(run)} @@")
            out.extend("+" + line for _, line in run)
            run.clear()

    for n, line in numbered:
        if run and n != run[-1][0] + 1:
            flush()
        run.append((n, line.replace("\r", "")))
    flush()
    return "\n".join(out) + "\n"


def scan_secrets(
    files: Mapping[str, str],
    only_lines: Mapping[str, frozenset[int]] | None = None,
    *,
    detect_secrets: bool = True,
) -> EngineReport:
    """Scan decoded file texts; ``only_lines`` restricts a file to those head line numbers."""
    report = EngineReport(engine=ENGINE)
    seen: set[tuple[str, int]] = set()
    noticed: set[tuple[str, int]] = set()  # lines whose only hits so far look like examples
    numbered_by_path: dict[str, list[tuple[int, str]]] = {}
    layouts = {p: notebooks.json_strings(text) for p, text in files.items() if notebooks.is_notebook(p)}
    for path, text in files.items():
        only = only_lines.get(path) if only_lines is not None else None
        numbered = _line_numbers(text, only)
        strings = layouts.get(path)
        if strings is not None:  # a notebook's lines as its cells and outputs read
            readable = notebooks.readable_lines(strings)
            numbered = [(n, readable.get(n, line)) for n, line in numbered]
        rewritten = readable_lines(path, diff_lines(text))  # ENV KEY value, base64 data:
        if rewritten:
            numbered = [(n, rewritten.get(n, line)) for n, line in numbered]
        numbered_by_path[path] = numbered
        extra = extra_patterns(path)
        hits = (noticed, seen)
        for n, line in numbered:
            for match in find_secrets(line, extra):
                value = "" if match.pattern.id == "private-key" else match.value
                _own_finding(report, hits, path, (n, line), match.pattern, value)
        if path.endswith(".tf"):
            lines = text.splitlines()
            for n, value in terraform_defaults(text):
                if (only is None or n in only) and (path, n) not in seen:
                    _own_finding(report, hits, path, (n, lines[n - 1]), TERRAFORM_DEFAULT, value)
    if detect_secrets:
        kernel = {p: notebooks.data_lines(strings) for p, strings in layouts.items() if strings is not None}
        _run_detect_secrets(numbered_by_path, seen, report, noticed, kernel)
    return report


def _own_finding(
    report: EngineReport,
    hits: tuple[set[tuple[str, int]], set[tuple[str, int]]],
    path: str,
    where: tuple[int, str],
    pattern: SecretPattern,
    value: str,
) -> None:
    """Report a hit of one of Shunter's patterns; ``hits``: the lines reported only as
    examples, then the others (detect-secrets' hits on them are judged against these)."""
    n, line = where
    rule = rule_for(pattern.id, pattern.kind)
    report.rules[rule.id] = rule
    # the generic and URL patterns match a shape, as detect-secrets' keyword and basic-auth
    # detectors do; the others a format, judged only against values published as examples
    kind = _SHAPES.get(pattern.id, pattern.kind)
    example = example_reason(kind, value, line, path)
    keep = (pattern.keep, pattern.keep_in_fingerprints)
    confidence = "low" if example else pattern.confidence
    report.findings.append(_finding(path, n, line, rule, value, keep, confidence, example))
    hits[0 if example else 1].add((path, n))


def _detect_secrets_hits(
    numbered_by_path: Mapping[str, list[tuple[int, str]]],
) -> dict[str, list[Any] | Exception] | None:
    """detect-secrets' hits per path (the exception where it failed on a file), with
    Shunter's settings; None when detect-secrets is not installed."""
    try:
        from detect_secrets.core.scan import scan_diff
        from detect_secrets.settings import default_settings, get_filters
    except ImportError:  # pragma: no cover - detect-secrets is a hard dependency
        return None
    out: dict[str, list[Any] | Exception] = {}
    with _LOCK, default_settings() as settings:
        settings.disable_filters(*_DISABLED_FILTERS)
        get_filters.cache_clear()
        for path, numbered in numbered_by_path.items():
            if not numbered:
                continue
            try:
                out[path] = list(scan_diff(_synthetic_diff(path, numbered)))
            except Exception as exc:  # a scanner bug must not sink the caller
                out[path] = exc
    return out


def _run_detect_secrets(
    numbered_by_path: Mapping[str, list[tuple[int, str]]],
    seen: set[tuple[str, int]],
    report: EngineReport,
    noticed: frozenset[tuple[str, int]] | set[tuple[str, int]] = frozenset(),
    unguessed: Mapping[str, frozenset[int]] | None = None,
) -> None:
    """``seen``: lines Shunter's patterns reported; ``noticed``: lines they reported only as
    examples, where a hit of detect-secrets is reported if it does not look like one;
    ``unguessed``: lines (by path) where an entropy guess is not reported: in a notebook,
    the lines a kernel or an editor wrote (outputs, attachments, ids, metadata). There a
    base64 figure or PDF is hundreds of dense lines and widget state is keyed by hex model
    ids: each was called a possible secret (1,329 notices on nbconvert's 1,600-line example
    notebook). The guesses stand on the cells' sources; the keyword detector and Shunter's
    formats stand everywhere, as a token printed into an output has leaked just the same."""
    hits_by_path = _detect_secrets_hits(numbered_by_path)
    if hits_by_path is None:  # pragma: no cover - detect-secrets is a hard dependency
        report.notes.append("detect-secrets is not installed; only Shunter's patterns ran.")
        return
    for path, hits in hits_by_path.items():
        if isinstance(hits, Exception):
            report.notes.append(f"detect-secrets failed on {path}: {type(hits).__name__}")
            continue
        text_by_line = dict(numbered_by_path[path])
        no_guess = (unguessed or {}).get(path, frozenset())
        for hit in hits:
            n = int(hit.line_number)
            if (path, n) in seen:
                continue  # Shunter's own pattern already named this line more precisely
            if n in no_guess and "entropy" in hit.type.lower():
                continue
            value = hit.secret_value or ""
            line = text_by_line.get(n, "")
            if not_a_value(value, line):
                continue  # password_lock: yes sets an option, it holds no secret
            if "entropy" in hit.type.lower() and labelled_digest(value, line):
                continue  # "sha256": "<hex>" is a file's digest, published by design
            # prose, masks, placeholder words, example hosts: reported, but as notices
            example = example_reason(hit.type, value, line, path)
            if example and (path, n) in noticed:
                continue  # Shunter's pattern already listed this line as an example
            seen.add((path, n))
            rule = rule_for("ds-" + _slug(hit.type), hit.type.lower())
            report.rules[rule.id] = rule
            confidence = "low" if example else _ds_confidence(hit.type)
            report.findings.append(
                _finding(path, n, line, rule, value, (0, _DS_FINGERPRINT_KEEP), confidence, example)
            )


def detected_values(name: str, text: str) -> list[tuple[int, str | None]] | None:
    """(line number, value) of each detect-secrets hit in ``text``, scanned as a file
    named ``name``; None when the scan could not finish (callers fail closed).

    The one place values leave this module: for maskers that must find them to hide them
    (:mod:`bot.engines.llm.prompt_secrets`), never to be shown. A value is None where
    detect-secrets kept none, and the caller masks the whole line.
    """
    numbered = list(enumerate(text.split("\n"), start=1))
    hits_by_path = _detect_secrets_hits({name: numbered})
    if hits_by_path is None:  # pragma: no cover - detect-secrets is a hard dependency
        return None
    hits = hits_by_path.get(name, [])
    if isinstance(hits, Exception):
        return None
    return [(int(hit.line_number), hit.secret_value or None) for hit in hits]


def holds_secret(path: str, texts: Iterable[str]) -> bool:
    """Whether any of ``texts`` (a file's text, a patch for it, a suggested replacement)
    holds a secret: what must not be copied into a patch or published as a suggestion.

    Deliberately unfiltered: no ``new_only``, ``ignore_*``, ``min_confidence``, allowlist
    pragma or ``scanners`` setting applies, since those decide what is *reported*, not what
    may be copied. Each text is scanned under the file's own path, so the detectors that
    depend on the file type apply. If a scan cannot finish, the answer is yes (fail closed).
    """
    return any(
        text and (_short_text_holds_secret if len(text) <= _CACHED_CHARS else _text_holds_secret)(path, text)
        for text in texts
    )


def paths_holding_secrets(texts: Mapping[str, str]) -> set[str]:
    """The paths whose text ``holds_secret`` would say holds a secret, for many files at
    once: detect-secrets is set up once for all of them (and skipped for a text Shunter's
    own patterns already caught), where one ``holds_secret`` a file sets it up each time.
    A review's fix patch for a 40-file PR has a share for each of ~20 files, each scanned
    after ruff has finished. Fails closed as ``holds_secret`` does."""
    numbered = {path: _line_numbers(text, None) for path, text in texts.items() if text}
    own = {
        path
        for path, lines in numbered.items()
        if any(next(find_secrets(ln, extra_patterns(path)), None) for _n, ln in lines)
    }
    hits_by_path = _detect_secrets_hits({path: lines for path, lines in numbered.items() if path not in own})
    if hits_by_path is None:  # pragma: no cover - detect-secrets is a hard dependency
        return set(numbered)
    return own | {path for path, hits in hits_by_path.items() if isinstance(hits, Exception) or hits}


_CACHED_CHARS = 4096
"""Suggestions are cached (the inline comment and the annotation of one finding ask about
the same one, and detect-secrets takes a few milliseconds a text); whole files are not,
or a long-lived worker would keep hundreds of them in memory."""


def _text_holds_secret(path: str, text: str) -> bool:
    report = scan_secrets({path: text})
    return bool(report.findings or report.notes)


_short_text_holds_secret = lru_cache(maxsize=512)(_text_holds_secret)


def _ds_confidence(secret_type: str) -> str:
    """Entropy guesses are low, keyword/URL heuristics medium, vendor-shaped tokens high."""
    lowered = secret_type.lower()
    if "entropy" in lowered:
        return "low"
    if "keyword" in lowered or "basic auth" in lowered:
        return "medium"
    return "high"


def kinds(findings: Iterable[Finding]) -> list[str]:
    return sorted({f.title or f.rule_id for f in findings if f.engine == ENGINE})
