from __future__ import annotations

import pytest

from bot.models import Finding, Severity, StageName
from bot.policies.schema import FilterMode
from bot.stages.context import ChangedFile
from bot.stages.filtering import filter_findings, line_gate, path_selected, split_findings

FILES = [
    ChangedFile(
        "a.py",
        "modified",
        added_lines=frozenset({10, 11}),
        context_lines=frozenset({7, 8, 9, 12, 13, 14}),
    ),
    ChangedFile("gone.py", "deleted"),
    ChangedFile("new/b.py", "renamed", old_path="old/b.py", added_lines=frozenset({3})),
]


def _f(path: str, start: int, end: int | None = None) -> Finding:
    return Finding(
        stage=StageName.REVIEW,
        rule_id="R1",
        severity=Severity.WARNING,
        message="m",
        path=path,
        start_line=start,
        end_line=end or start,
    )


ON_ADDED = _f("a.py", 10)
ON_CONTEXT = _f("a.py", 8)
SPANNING = _f("a.py", 5, 7)  # only its last line is inside the hunk
FAR = _f("a.py", 40)
DELETED = _f("gone.py", 1)
UNTOUCHED = _f("other.py", 1)
RENAMED = _f("new/b.py", 3)
OLD_NAME = _f("old/b.py", 3)
ALL = [ON_ADDED, ON_CONTEXT, SPANNING, FAR, DELETED, UNTOUCHED, RENAMED, OLD_NAME]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (FilterMode.ADDED, [ON_ADDED, RENAMED]),
        (FilterMode.DIFF_CONTEXT, [ON_ADDED, ON_CONTEXT, SPANNING, RENAMED]),
        (FilterMode.FILE, [ON_ADDED, ON_CONTEXT, SPANNING, FAR, RENAMED]),
        (FilterMode.NOFILTER, ALL),
    ],
)
def test_modes(mode: FilterMode, expected: list[Finding]) -> None:
    assert filter_findings(ALL, FILES, mode) == expected


def test_split_keeps_order_and_accepts_strings() -> None:
    kept, dropped = split_findings(ALL, FILES, "added")
    assert kept == [ON_ADDED, RENAMED]
    assert dropped == [ON_CONTEXT, SPANNING, FAR, DELETED, UNTOUCHED, OLD_NAME]
    assert filter_findings(kept, FILES, "added") == kept  # idempotent
    with pytest.raises(ValueError):
        filter_findings(ALL, FILES, "everything")


def test_multi_line_finding_is_kept_when_any_line_was_added() -> None:
    assert filter_findings([_f("a.py", 1, 10)], FILES, "added") == [_f("a.py", 1, 10)]
    assert filter_findings([_f("a.py", 1, 9)], FILES, "added") == []


@pytest.mark.parametrize("mode", list(FilterMode))
def test_the_line_gate_drops_and_keeps_what_the_filter_does(mode: FilterMode) -> None:
    """The gate ruff's diagnostics pass before they become findings agrees with the
    filter on every location: one line, a span, a span reaching into the diff from either
    side, an empty span (end before start), a deleted file and a path outside the diff."""
    gate = line_gate(mode, FILES)
    spans = [(n, n) for n in range(1, 16)] + [(5, 7), (11, 20), (1, 40), (12, 10), (15, 30)]
    for path in ("a.py", "gone.py", "other.py", "new/b.py", "old/b.py"):
        for start, end in spans:
            expected = filter_findings([_f(path, start, end)], FILES, mode) != []
            assert gate(path, start, end) == expected, (path, start, end)


def test_path_selection() -> None:
    assert path_selected("src/app.py", ["**"], [])
    assert path_selected("src/app.py", [], [])
    assert not path_selected("src/app.py", ["docs/**"], [])
    assert not path_selected("src/gen/x.py", ["src/**"], ["src/gen/**"])
    assert path_selected("src/x.py", ["src/**"], ["src/gen/**"])
