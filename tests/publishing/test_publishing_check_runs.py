from __future__ import annotations

import re

import pytest

from bot.models import Severity, StageName
from bot.policies import schema
from bot.policies.schema import FailOn, SecurityStageConfig, StageConfig
from bot.publishing import (
    check_run_output,
    findings_title,
    in_progress_payload,
    skipped_output,
    superseded_output,
)
from bot.publishing.limits import MAX_OUTPUT_TEXT, check_run_problems, size


def _all_valid(plan) -> None:
    for payload in [plan.create_payload("a" * 40), *plan.payloads()]:
        assert check_run_problems(payload) == [], payload.get("output", {}).get("title")


@pytest.mark.parametrize(
    ("count", "batches"), [(0, []), (1, [1]), (50, [50]), (51, [50, 1]), (120, [50, 50, 20])]
)
def test_annotations_are_batched_by_fifty(make, count: int, batches: list[int]) -> None:
    findings = [make.finding(n, Severity.NOTICE, line=n) for n in range(1, count + 1)]
    plan = check_run_output(make.result(findings), StageConfig())
    assert [len(batch) for batch in plan.annotation_batches] == batches
    first = plan.update_payload()
    assert len(first["output"].get("annotations", [])) == (batches[0] if batches else 0)
    assert first["status"] == "completed" and first["conclusion"] == "success"
    followups = plan.followup_payloads()
    assert [len(p["output"]["annotations"]) for p in followups] == batches[1:]
    for payload in followups:  # GitHub needs title and summary on every output update
        assert payload["output"]["title"] == plan.title
        assert payload["output"]["summary"] == plan.summary
        assert "conclusion" not in payload
    sent = [a for p in plan.payloads() for a in p["output"].get("annotations", [])]
    assert [a["start_line"] for a in sent] == list(range(1, count + 1))
    assert plan.annotated == plan.reported == count
    _all_valid(plan)


def test_create_payload_carries_the_head_sha(make) -> None:
    plan = check_run_output(make.result([make.finding()]), details_url="https://shunter.example/runs/7")
    payload = plan.create_payload(make.HEAD)
    assert payload["head_sha"] == make.HEAD
    assert payload["name"] == "shunter/review"
    assert payload["details_url"] == "https://shunter.example/runs/7"
    assert plan.payloads(make.HEAD)[0] == payload


def test_annotation_cap_is_reported_in_the_summary(make) -> None:
    findings = [make.finding(n, line=n) for n in range(1, 131)]
    plan = check_run_output(make.result(findings), max_annotations=100)
    assert plan.annotated == 100 and plan.reported == 130
    assert sum(len(b) for b in plan.annotation_batches) == 100
    assert "30 findings left out" in plan.summary
    _all_valid(plan)


SEVERITY_FAILS = {
    # severity: fail_on values that fail the check
    Severity.ERROR: {FailOn.ERROR, FailOn.WARNING, FailOn.NOTICE},
    Severity.WARNING: {FailOn.WARNING, FailOn.NOTICE},
    Severity.NOTICE: {FailOn.NOTICE},
}


@pytest.mark.parametrize("severity", list(Severity))
@pytest.mark.parametrize("fail_on", list(FailOn))
def test_conclusion_for_each_fail_on_and_severity(make, severity: Severity, fail_on: FailOn) -> None:
    plan = check_run_output(make.result([make.finding(1, severity)]), StageConfig(fail_on=fail_on))
    expected = "failure" if fail_on in SEVERITY_FAILS[severity] else "success"
    assert plan.conclusion == expected
    _all_valid(plan)


def test_highest_severity_decides(make) -> None:
    findings = [make.finding(1, Severity.NOTICE), make.finding(2, Severity.ERROR)]
    assert check_run_output(make.result(findings), StageConfig(fail_on=FailOn.ERROR)).conclusion == (
        "failure"
    )


def test_stage_defaults_apply(make) -> None:
    warning = make.result([make.finding(1, Severity.WARNING)], stage=StageName.SECURITY)
    assert check_run_output(warning, SecurityStageConfig()).conclusion == "failure"
    assert check_run_output(warning, StageConfig()).conclusion == "success"
    error = make.result([make.finding(1, Severity.ERROR)], stage=StageName.TESTS)
    plan = check_run_output(error, schema.TestsStageConfig())
    assert plan.conclusion == "success"
    assert "never fails" in plan.summary
    assert plan.name == "shunter/tests"


def test_neutral_and_empty_results(make) -> None:
    assert check_run_output(make.result([])).conclusion == "success"
    neutral = check_run_output(make.result([], neutral=True, notes=["ruff crashed on a.py"]))
    assert neutral.conclusion == "neutral"
    assert neutral.title == "Incomplete: No findings"
    assert "ruff crashed on a.py" in neutral.summary
    failing_neutral = check_run_output(make.result([make.finding(1, Severity.ERROR)], neutral=True))
    assert failing_neutral.conclusion == "failure"


def test_suppressed_and_dismissed_findings_neither_annotate_nor_fail(make) -> None:
    quiet = make.finding(1, Severity.ERROR, suppressed="# nosec")
    dismissed = make.finding(2, Severity.ERROR)
    kept = make.finding(3, Severity.NOTICE)
    plan = check_run_output(
        make.result([quiet, dismissed, kept]), StageConfig(), dismissed={dismissed.fingerprint}
    )
    assert plan.conclusion == "success"
    assert plan.reported == 1
    [[only]] = plan.annotation_batches
    assert only["start_line"] == 3
    assert "1 finding suppressed in the code" in plan.summary
    assert "1 finding dismissed on this PR" in plan.summary


def test_findings_sorted_by_severity_then_place(make) -> None:
    findings = [
        make.finding(1, Severity.NOTICE, path="a.py", line=1),
        make.finding(2, Severity.ERROR, path="z.py", line=9),
        make.finding(3, Severity.WARNING, path="b.py", line=2),
        make.finding(4, Severity.ERROR, path="b.py", line=5),
    ]
    plan = check_run_output(make.result(findings))
    levels = [(a["annotation_level"], a["path"]) for a in plan.annotation_batches[0]]
    assert levels == [
        ("failure", "b.py"),
        ("failure", "z.py"),
        ("warning", "b.py"),
        ("notice", "a.py"),
    ]
    assert plan.text is not None
    assert plan.text.index("b.py:5") < plan.text.index("z.py:9") < plan.text.index("a.py:1")


def test_titles(make) -> None:
    findings = [make.finding(n, Severity.ERROR) for n in range(3)] + [
        make.finding(n, Severity.WARNING) for n in range(2)
    ]
    assert findings_title(findings) == "3 errors, 2 warnings"
    assert findings_title([make.finding(1, Severity.ERROR), make.finding(2, Severity.NOTICE)]) == (
        "1 error, 1 notice"
    )
    assert findings_title([]) == "No findings"
    assert check_run_output(make.result(findings)).title == "3 errors, 2 warnings"


def test_annotation_fields(make) -> None:
    item = make.finding(
        7,
        Severity.ERROR,
        path="pkg/mod.py",
        line=10,
        end_line=12,
        title="Possible SQL injection",
        suggestion="query(sql, params)\n",
        cwe=89,
        help_uri="https://example.test/B608",
        rule_id="B608",
        engine="bandit",
        message="x" * 100_000,
    )
    backwards = make.finding(8, Severity.WARNING, line=20, end_line=3)
    plan = check_run_output(make.result([item, backwards], stage=StageName.SECURITY))
    first, second = plan.annotation_batches[0]
    assert first["path"] == "pkg/mod.py"
    assert (first["start_line"], first["end_line"]) == (10, 12)
    assert first["annotation_level"] == "failure"
    assert first["title"] == "B608: Possible SQL injection"
    assert size(first["message"]) <= 4000 and first["message"].endswith("…")
    raw = first["raw_details"]
    assert "rule B608 (bandit)" in raw and "CWE-89" in raw
    assert f"/shunter dismiss {item.short_id}" in raw
    assert "suggested replacement for lines 10-12:\nquery(sql, params)" in raw
    assert (second["start_line"], second["end_line"]) == (20, 20)
    _all_valid(plan)


def test_a_crlf_files_suggested_replacement_is_shown_without_carriage_returns(make) -> None:
    item = make.finding(1, Severity.WARNING, line=4, end_line=5, suggestion="x = 1\r\ny = 2\r\n")
    [annotation] = check_run_output(make.result([item])).annotation_batches[0]
    assert "suggested replacement for lines 4-5:\nx = 1\ny = 2\n" in annotation["raw_details"]
    assert "\r" not in annotation["raw_details"]


def test_a_fix_that_removes_lines_says_delete_not_an_empty_replacement(make) -> None:
    one = make.finding(1, Severity.WARNING, line=8, rule_id="F401", suggestion="")
    two = make.finding(2, Severity.WARNING, line=3, end_line=4, rule_id="T100", suggestion="")
    plan = check_run_output(make.result([one, two]))
    raw = {a["start_line"]: a["raw_details"] for a in plan.annotation_batches[0]}
    assert raw[8].endswith("suggested fix: delete line 8")
    assert raw[3].endswith("suggested fix: delete lines 3-4")
    assert "replacement" not in raw[8] + raw[3]


def test_long_titles_are_clipped(make) -> None:
    plan = check_run_output(make.result([make.finding(1, title="t" * 1000)]))
    assert len(plan.annotation_batches[0][0]["title"]) == 255
    _all_valid(plan)


def test_huge_stage_summary_is_truncated_with_a_note(make) -> None:
    huge = "Lorem ipsum 🚂 dolor sit amet.\n" * 10_000
    plan = check_run_output(make.result([make.finding(1)], summary=huge, notes=["n" * 100_000]))
    assert size(plan.summary) <= MAX_OUTPUT_TEXT
    assert len(plan.summary) <= MAX_OUTPUT_TEXT
    assert "The stage summary was truncated" in plan.summary
    left = int(re.search(r"\((\d+) bytes left out", plan.summary).group(1))
    assert left > 0
    assert plan.summary.startswith("**1 warning** in 1 file")
    _all_valid(plan)


def test_huge_finding_list_is_truncated_with_the_count_left_out(make) -> None:
    findings = [
        make.finding(n, Severity.WARNING, line=n, message=f"{n} " + "long message " * 40)
        for n in range(1, 3001)
    ]
    plan = check_run_output(make.result(findings))
    assert plan.text is not None
    assert size(plan.text) <= MAX_OUTPUT_TEXT
    listed = plan.text.count("\n| 🟠 |")
    left = int(re.search(r"and (\d+) more findings not listed", plan.text).group(1))
    assert listed > 50
    assert listed + left == 3000
    _all_valid(plan)


def test_buttons(make) -> None:
    def ids(plan) -> list[str]:
        return [a["identifier"] for a in plan.actions]

    with_fix = make.result([make.finding(1)], patches=[make.patch()])
    assert ids(check_run_output(with_fix)) == ["apply", "rerun", "dismiss"]
    assert ids(check_run_output(with_fix, apply_allowed=False)) == ["rerun", "dismiss"]
    empty_patch = make.result([make.finding(1)], patches=[make.patch(files=False)])
    assert ids(check_run_output(empty_patch)) == ["rerun", "dismiss"]
    assert ids(check_run_output(make.result([]))) == ["rerun"]
    fix_only = check_run_output(make.result([], patches=[make.patch()]))
    assert ids(fix_only) == ["apply", "rerun"]
    assert "/shunter apply review" in fix_only.summary
    for plan in (check_run_output(with_fix), fix_only):
        for action in plan.actions:
            assert len(action["label"]) <= 20
            assert len(action["description"]) <= 40
            assert len(action["identifier"]) <= 20
        _all_valid(plan)


def test_superseded_skipped_and_in_progress_outputs(make) -> None:
    new = "f" * 40
    plan = superseded_output(StageName.SECURITY, new)
    assert plan.name == "shunter/security"
    assert plan.conclusion == "cancelled"
    assert new[:7] in plan.title and new in plan.summary
    skipped = skipped_output("tests", "The PR changes only docs/ (paths.exclude).")
    assert skipped.name == "shunter/tests"
    assert skipped.conclusion == "skipped"
    assert "only docs/" in skipped.title and "only docs/" in skipped.summary
    assert skipped_output("review", "").title == "Skipped"
    long_reason = skipped_output("review", "because " * 50_000)
    for p in (plan, skipped, long_reason):
        assert p.annotation_batches == () and p.followup_payloads() == []
        _all_valid(p)
    running = in_progress_payload(StageName.REVIEW, details_url="https://x.test/r/1")
    assert running["status"] == "in_progress"
    assert check_run_problems(running) == []


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"status": "completed"}, "needs a conclusion"),
        ({"conclusion": "passed"}, "conclusion 'passed'"),
        ({"conclusion": "action_required"}, "needs a details_url"),
        ({"output": {"title": "t"}}, "output.summary is required"),
        ({"output": {"title": "t", "summary": "s" * 65536}}, "over 65535"),
        (
            {
                "output": {
                    "title": "t",
                    "summary": "s",
                    "annotations": [
                        {
                            "path": "a",
                            "start_line": 1,
                            "end_line": 1,
                            "annotation_level": "notice",
                            "message": "m",
                        }
                    ]
                    * 51,
                }
            },
            "51 annotations",
        ),
        (
            {
                "output": {
                    "title": "t",
                    "summary": "s",
                    "annotations": [
                        {
                            "path": "/abs",
                            "start_line": 3,
                            "end_line": 2,
                            "annotation_level": "error",
                            "message": "m",
                        }
                    ],
                }
            },
            "annotation_level 'error'",
        ),
        ({"actions": [{"label": "l", "description": "d", "identifier": "i"}] * 4}, "4 actions"),
        (
            {"actions": [{"label": "x" * 21, "description": "d", "identifier": "i"}]},
            "action label",
        ),
    ],
)
def test_the_limit_checker_catches_bad_payloads(make, payload: dict, words: str) -> None:
    problems = check_run_problems(payload)
    assert any(words in p for p in problems), problems


def test_secrets_in_findings_are_never_published(make) -> None:
    token = "ghp_" + "A1b2C3d4E5" * 4
    leaky = make.finding(
        1,
        Severity.ERROR,
        message=f"hard-coded token {token}",
        title=f"token {token}",
        suggestion=f"TOKEN = '{token}'\n",
    )
    plan = check_run_output(make.result([leaky], summary=f"saw {token}", notes=[f"note {token}"]))
    dumped = repr([plan.create_payload("a" * 40), *plan.followup_payloads()])
    assert token not in dumped
    assert "ghp_***" in dumped


NASTY_NAMES = [
    "odd\n- [x] `tick`|<b>pipe.py",
    "``double``.py",
    "`edge`",
    " spaced both ends ",
    "a\\|b.py",
    "tab\there\r.py",
    "caf\udce9.py",  # a byte that is not UTF-8, as surrogateescape decodes it
    "<!-- shunter:summary -->.py",
]


def _markdown(text: str) -> list:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").parse(text)


def _code_spans(tokens: list) -> list[str]:
    return [c.content for t in tokens if t.type == "inline" for c in t.children or [] if c.type == "code_inline"]


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_a_file_name_is_one_code_span_in_tables_and_lists_whatever_it_holds(name: str) -> None:
    from bot.wording import path_code, shown_path

    shown = shown_path(name)
    assert "\n" not in shown and "\r" not in shown and "\t" not in shown
    table = _markdown(f"| a | b |\n|---|---|\n| {path_code(name, suffix=':3', table=True)} | x |\n")
    assert sum(t.type == "tr_open" for t in table) == 2 and sum(t.type == "td_open" for t in table) == 2
    listed = _markdown(f"- Skipped {path_code(name)}: binary file.\n- next\n")
    assert sum(t.type == "list_item_open" for t in listed) == 2
    if "<!--" in name:  # broken up, so no body holds a forged marker
        assert "<!--" not in path_code(name)
        return
    assert _code_spans(table) == [f"{shown}:3"]
    assert _code_spans(listed) == [shown]


def test_names_are_quoted_as_git_quotes_them_only_when_they_must_be() -> None:
    from bot.wording import shown_path

    assert shown_path("src/app.py") == "src/app.py"
    assert shown_path('say "hi"\\.py') == 'say "hi"\\.py'
    assert shown_path("a\nb.py") == '"a\\nb.py"'
    assert shown_path('a\t"b"\\.py') == '"a\\t\\"b\\"\\\\.py"'
    assert shown_path("caf\udce9.py") == '"caf\\351.py"'


def test_the_findings_table_shows_odd_file_names_whole(make) -> None:
    from bot.wording import shown_path

    name = NASTY_NAMES[0]
    findings = [make.finding(1, path=name, message="see `<b>`"), make.finding(2)]
    text = check_run_output(make.result(findings)).text or ""
    tokens = _markdown(text)
    assert sum(t.type == "tr_open" for t in tokens) == 3  # the header and one row per finding
    spans = _code_spans(tokens)
    assert f"{shown_path(name)}:1" in spans
    assert "<b>" in spans  # a code span in a message shows its text, not "&lt;b&gt;"
