"""Waivers in the code for the review heuristics' findings: ruff's ``# noqa: T201`` (and
``T100``, ``FIX002``...), a bare ``# noqa``, and ``# shunter: ignore[rule] reason``.

Before, the review stage honoured none of them: a print its author had marked as meant
was asked about again on every push. With ruff's defaults (which enable RUF100, not
T201), ruff also called such a directive unused and its safe fix deleted it, so Shunter's
own "Apply fixes" would have removed the waiver. Real mirrors, real ruff.
"""

from __future__ import annotations

from bot.stages.review import run

BASE = {"app.py": b"x = 1\n"}
HEAD = {
    "app.py": (
        b"x = 1\n\n\ndef f():\n"
        b"    print(x)  # noqa: T201\n"
        b"    print(x)  # shunter: ignore[stray-print] the command's output\n"
        b"    print(x)  # noqa\n"
        b"    print(x)\n"
        b"    breakpoint()  # noqa: T100\n"
        b"    # TODO: later  # noqa: FIX002\n"
        b"    print(x)  # shunter: ignore[stray-print]\n"
    )
}


def test_waived_heuristic_findings_are_suppressed_and_unused_noqa_does_not_undo_them(make_ctx) -> None:
    result = run(make_ctx(BASE, HEAD))
    by_line = {f.start_line: f for f in result.findings if f.engine == "heuristics"}
    assert by_line[5].suppressed == "# noqa: T201"
    assert by_line[6].suppressed == "# shunter: ignore[stray-print] (the command's output)"
    assert by_line[7].suppressed == "# noqa"
    assert by_line[8].suppressed is None  # no waiver
    assert by_line[9].rule_id == "debugger" and by_line[9].suppressed == "# noqa: T100"
    assert by_line[10].rule_id == "todo-added" and by_line[10].suppressed == "# noqa: FIX002"
    assert by_line[11].suppressed is None  # a shunter: ignore needs its reason
    # ruff's RUF100 calls these directives unused; its fix would delete them
    assert not [f for f in result.findings if f.rule_id == "RUF100"]
    assert not result.patches


def test_an_unused_noqa_naming_other_codes_is_still_reported(make_ctx) -> None:
    head = {"app.py": b"x = 1\n\n\ndef f():\n    print(x)  # noqa: T201, E731\n"}
    result = run(make_ctx(BASE, head))
    [printed] = [f for f in result.findings if f.rule_id == "stray-print"]
    assert printed.suppressed == "# noqa: T201, E731"
    assert [f.rule_id for f in result.findings if f.rule_id == "RUF100"] == ["RUF100"]  # E731 is unused
