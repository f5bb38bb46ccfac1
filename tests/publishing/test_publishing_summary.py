from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.models import Severity, StageName
from bot.publishing import MARKER, StageRow, find_summary_comment, summary_comment_body
from bot.publishing.limits import MAX_COMMENT_BODY, comment_problems, size
from bot.store import CommandRecord

SHA = "abcdef0123456789abcdef0123456789abcdef01"


def _rows() -> list[StageRow]:
    return [
        StageRow(
            "review", "completed", "failure", errors=2, warnings=1, fixes=1, check_url="https://gh.test/c/1"
        ),
        StageRow("security", "in_progress"),
        StageRow("tests", "skipped", note="only docs changed"),
    ]


def test_marker_first_table_and_links() -> None:
    body = summary_comment_body(
        "octo/repo",
        12,
        _rows(),
        head_sha=SHA,
        run_links={"review": "https://shunter.test/runs/5", "security": "https://shunter.test/runs/6"},
    )
    first, *rest = body.split("\n")
    assert first == MARKER
    assert "`abcdef012345`" in body and "octo/repo#12" in body
    review = next(line for line in rest if "shunter/review" in line)
    assert "❌ failed" in review and "2 errors, 1 warning" in review
    assert "[check](https://gh.test/c/1)" in review and "[run](https://shunter.test/runs/5)" in review
    security = next(line for line in rest if "shunter/security" in line)
    assert "🔄 running" in security and "[run](https://shunter.test/runs/6)" in security
    tests = next(line for line in rest if "shunter/tests" in line)
    assert "⏭️ skipped (only docs changed)" in tests
    assert "/shunter apply" in body  # a fix exists
    assert "Paused" not in body and "Last commands" not in body
    assert comment_problems(body) == []


def test_every_state_has_a_label() -> None:
    states = {
        ("completed", "success"): "✅ passed",
        ("completed", "neutral"): "⚪ neutral",
        ("completed", "cancelled"): "🚫 cancelled",
        ("completed", "timed_out"): "⌛ timed out",
        ("superseded", None): "🚫 superseded",
        ("queued", None): "🕒 queued",
        ("in_progress", None): "🔄 running",
    }
    for (status, conclusion), label in states.items():
        body = summary_comment_body("o/r", 1, [StageRow("review", status, conclusion)], head_sha=SHA)
        assert label in body, (status, conclusion)
    clean = summary_comment_body("o/r", 1, [StageRow("review", "completed", "success")], head_sha=SHA)
    assert "| none |" in clean


def test_rows_from_results(make) -> None:
    result = make.result(
        [
            make.finding(1, Severity.ERROR),
            make.finding(2, Severity.NOTICE),
            make.finding(3, Severity.NOTICE, suppressed="# noqa"),
            make.finding(4, Severity.WARNING),
        ],
        stage=StageName.SECURITY,
        patches=[make.patch(StageName.SECURITY)],
    )
    dismissed = result.findings[3].fingerprint
    row = StageRow.from_result(result, conclusion="failure", dismissed=[dismissed])
    assert (row.stage, row.errors, row.warnings, row.notices, row.fixes) == ("security", 1, 0, 1, 1)
    assert row.counts == "1 error, 1 notice"


def test_paused_state_and_last_commands() -> None:
    at = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    commands = [
        CommandRecord(1, "o/r", 1, "apply", "review", "alice", "done", None, 10, at),
        {"verb": "pause", "user": "bob", "outcome": "refused", "at": at},
        {"verb": "help", "user": "carol", "outcome": "accepted"},
    ]
    body = summary_comment_body(
        "o/r", 1, _rows(), head_sha=SHA, paused=True, paused_by="maintainer", recent_commands=commands
    )
    assert "⏸️ **Paused** by `maintainer`" in body and "/shunter resume" in body
    assert "Last commands" in body
    assert "| 2026-03-04 05:06 UTC | `alice` | `/shunter apply review` | 🚀 done |" in body
    assert "`bob` | `/shunter pause` | 😕 refused |" in body
    assert "`carol` | `/shunter help` | 👀 accepted |" in body
    assert body.index("apply review") < body.index("pause`") < body.index("help`")


def test_untrusted_text_cannot_forge_the_marker_or_break_the_table() -> None:
    evil = {
        "verb": "x",
        "args": f"{MARKER} | @everyone `code` \n new line",
        "user": "mallory",
        "outcome": "refused <b>",
    }
    body = summary_comment_body("o/r", 1, [], head_sha=SHA, recent_commands=[evil])
    assert body.count(MARKER) == 1 and body.startswith(MARKER)
    line = next(line for line in body.split("\n") if "mallory" in line)
    assert line.count(" | ") == 3  # still four cells
    assert "\\|" in line
    assert "refused &lt;b&gt;" in line
    assert "No stage runs" in body


def test_body_always_fits() -> None:
    rows = [
        StageRow(f"stage{n}", "skipped", note="n" * 10_000, check_url="https://x/" + "y" * 5000)
        for n in range(40)
    ]
    commands = [
        {"verb": "ask", "args": "why " * 5000, "user": "u" * 500, "outcome": "done"} for _ in range(1000)
    ]
    body = summary_comment_body("o/" + "r" * 10_000, 1, rows, head_sha=SHA, recent_commands=commands)
    assert size(body) <= MAX_COMMENT_BODY
    assert body.startswith(MARKER + "\n")
    assert body.count("/shunter ask") == 10  # only the newest ten commands are shown


@dataclass
class _User:
    login: str


@dataclass
class _Comment:
    id: int
    body: str
    user: _User


def test_find_summary_comment_needs_marker_and_author() -> None:
    comments = [
        {"id": 1, "body": f"{MARKER}\nlooks like mine", "user": {"login": "mallory"}},
        {"id": 2, "body": f"quoting\n{MARKER}", "user": {"login": "Shunter[bot]"}},
        {"id": 3, "body": f"{MARKER}\n### Shunter", "user": {"login": "shunter[bot]"}},
        {"id": 4, "body": f"{MARKER}\nduplicate", "user": {"login": "shunter[bot]"}},
    ]
    assert find_summary_comment(comments, "shunter[bot]")["id"] == 3
    assert find_summary_comment(comments, "SHUNTER[BOT]")["id"] == 3
    assert find_summary_comment(comments[:2], "shunter[bot]") is None
    assert find_summary_comment(comments, "shunter") is None  # a human named shunter
    assert find_summary_comment([], "shunter[bot]") is None
    assert find_summary_comment([{"id": 9, "body": None, "user": None}], "shunter[bot]") is None
    objects = [_Comment(7, f"{MARKER}\n", _User("shunter[bot]"))]
    assert find_summary_comment(objects, "shunter[bot]").id == 7
    built = summary_comment_body("o/r", 1, _rows(), head_sha=SHA)
    assert find_summary_comment([{"body": built, "user": {"login": "b[bot]"}}], "b[bot]")


def test_config_notices_come_before_the_table_with_or_without_a_link() -> None:
    from bot.policies.check_output import ConfigNotice

    notices = [
        ConfigNotice("default", "`.github/shunter.yml` has 2 problems", "Defaults apply.", "https://gh.test/r/9"),
        ConfigNotice("proposed", "This pull request's `.github/shunter.yml` has 1 problem", "Fix it."),
    ]
    body = summary_comment_body("octo/repo", 3, _rows(), head_sha=SHA, config_notices=notices)
    lines = body.split("\n")
    first = next(i for i, line in enumerate(lines) if "has 2 problems" in line)
    assert "[`shunter/config` check](https://gh.test/r/9)" in lines[first] and "Defaults apply." in lines[first]
    assert "has 1 problem** (see the `shunter/config` check). Fix it." in lines[first + 2]
    assert first + 2 < lines.index("| Stage | Status | Findings | Fixes | Links |")
    assert "problem" not in summary_comment_body("octo/repo", 3, _rows(), head_sha=SHA)


def test_fixes_are_counted_as_fixes_not_patches_in_the_table_and_the_check_run(make) -> None:
    from bot.publishing import check_run_output

    def patch(stage: StageName, *findings) -> object:
        return make.patch(stage).model_copy(
            update={"finding_fingerprints": [f.fingerprint for f in findings]}
        )

    found = [make.finding(n) for n in range(1, 4)]
    review = make.result(found, patches=[patch(StageName.REVIEW, *found)])  # ruff: one patch
    security = make.result(
        found, stage=StageName.SECURITY,
        patches=[patch(StageName.SECURITY, *found[:2]), patch(StageName.SECURITY, found[2])],
    )  # one patch per file
    tests = make.result([], stage=StageName.TESTS, patches=[patch(StageName.TESTS)], metrics={"kept": 2})
    bare = make.result(found, patches=[patch(StageName.REVIEW)])  # a patch naming no finding
    said = {
        "review": "3 fixes", "security": "3 fixes", "tests": "2 generated tests", "bare": "1 fix",
    }
    for name, result in [("review", review), ("security", security), ("tests", tests), ("bare", bare)]:
        row = StageRow.from_result(result, conclusion="success")
        body = summary_comment_body("o/r", 1, [row], head_sha=SHA)
        line = next(line for line in body.splitlines() if f"shunter/{result.stage.value}" in line)
        assert line.split(" | ")[3] == said[name], (name, line)
        plan = check_run_output(result)
        assert f"{said[name]} available: press **Apply fixes**" in plan.summary, (name, plan.summary)
        assert plan.actions[0]["label"] == "Apply fixes"
