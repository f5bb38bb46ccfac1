"""Waivers in the code for the review heuristics' findings (stray print, debugger call,
TODO added, merge marker).

A maintainer who wrote ``print(report)  # noqa: T201`` (ruff's code for a print) has
said the print is meant; so has ``# shunter: ignore[stray-print] CLI output``, the form
the security stage already honours. Before, the review stage honoured neither and kept
asking about a line its author had already answered for. Now a waived finding is kept as
*suppressed* (listed as not counted, no annotation, no inline comment), as in the security
stage. Understood, on the finding's line:

- ``# noqa: CODE`` with ruff's code for the same check (``T201``/``T203`` print,
  ``T100`` debugger, ``FIX001``-``FIX004`` FIXME/TODO/XXX/HACK), or a bare ``# noqa``,
  which ruff reads as "every rule on this line";
- ``# shunter: ignore[rule-id] reason`` with Shunter's rule id (or a glob); the reason is
  required, as in the security stage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bot.engines import suppressions
from bot.engines.heuristics import ENGINE
from bot.models import Finding

RUFF_CODES: Mapping[str, tuple[str, ...]] = {
    "stray-print": ("T201", "T203"),
    "debugger": ("T100",),
    "todo-added": ("FIX001", "FIX002", "FIX003", "FIX004"),
}
"""Shunter's heuristic rule ids and ruff's codes for the same check."""

_BARE_NOQA = re.compile(r"#\s*noqa\b(?!\s*:)", re.IGNORECASE)


def waive(findings: Sequence[Finding], lines: Mapping[str, list[str]]) -> list[Finding]:
    """``findings`` with the heuristics' ones a directive in the code waives marked
    suppressed (pure); ``lines`` holds each file's lines."""
    out = []
    for finding in findings:
        why = None
        if finding.engine == ENGINE and not finding.on_pull_request:
            why = waiver(finding, lines.get(finding.path) or [])
        out.append(finding.model_copy(update={"suppressed": why}) if why else finding)
    return out


def waiver(finding: Finding, lines: list[str]) -> str | None:
    """The directive that waives ``finding`` (as the check run shows it), or None."""
    for number in dict.fromkeys((finding.start_line, finding.end_line)):
        if not 1 <= number <= len(lines):
            continue
        line = lines[number - 1]
        if _BARE_NOQA.search(line):
            return "# noqa"
        for directive in suppressions.parse(line):
            if directive.kind in ("noqa", "shunter") and suppressions.match(finding, directive, RUFF_CODES):
                reason = f" ({directive.reason})" if directive.reason else ""
                return f"# {directive.text}{reason}"
    return None


_CODES_IN = re.compile(r"`([A-Z]+[0-9]+)`")


def drop_contradicted_unused_noqa(findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` without ruff's RUF100 ("unused noqa") on a line whose directive waived
    one of the heuristics' findings, when every code it calls unused is one Shunter honours
    (pure). Where ruff itself does not run the check (``T201`` not enabled, as by ruff's
    defaults, which do enable RUF100), it calls the directive unused, and its safe fix,
    deleting the directive, would bring Shunter's finding back on the next push."""
    honoured = {code for codes in RUFF_CODES.values() for code in codes}
    waived: dict[tuple[str, int], str] = {}
    for f in findings:
        if f.engine == ENGINE and f.suppressed and f.suppressed.startswith("# noqa"):
            waived[(f.path, f.start_line)] = f.suppressed
    out = []
    for f in findings:
        directive = waived.get((f.path, f.start_line))
        if f.rule_id == "RUF100" and directive is not None:
            codes = set(_CODES_IN.findall(f.message))
            blanket = directive == "# noqa" and "blanket" in f.message
            if blanket or (codes and codes <= honoured):
                continue
        out.append(f)
    return out
