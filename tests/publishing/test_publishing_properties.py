"""Whatever stages produce, the payloads stay within GitHub's limits (property tests)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.models import Finding, Severity, StageName, StageResult
from bot.policies.schema import FailOn, StageConfig
from bot.publishing import check_run_output, select_inline_comments, summary_comment_body
from bot.publishing.limits import check_run_problems, comment_problems, review_comment_problems
from bot.publishing.summary_comment import StageRow
from bot.stages.context import ChangedFile

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300) | st.sampled_from(
    ["", "```", "<!-- shunter:summary -->", "@team", "| pipe |", "🚂" * 50]
)


@st.composite
def findings(draw: st.DrawFn) -> Finding:
    start = draw(st.integers(1, 60))
    return Finding(
        stage=StageName.REVIEW,
        rule_id=draw(st.text(min_size=1, max_size=30)),
        severity=draw(st.sampled_from(list(Severity))),
        message=draw(texts),
        path=draw(st.sampled_from(["a.py", "pkg/b.py", "docs/c.md"])),
        start_line=start,
        end_line=start + draw(st.integers(-2, 5)) if start > 2 else start,
        title=draw(st.none() | texts),
        suggestion=draw(st.none() | texts),
        fingerprint=draw(st.text("0123456789abcdef", min_size=0, max_size=16)),
        suppressed=draw(st.none() | st.just("# noqa")),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(findings(), max_size=130),
    st.sampled_from(list(FailOn)),
    texts,
    st.booleans(),
)
def test_check_run_payloads_are_always_valid(found, fail_on, summary, neutral) -> None:
    result = StageResult(
        stage=StageName.REVIEW, head_sha="a" * 40, findings=found, summary=summary, neutral=neutral
    )
    plan = check_run_output(result, StageConfig(fail_on=fail_on))
    for payload in plan.payloads("b" * 40):
        assert check_run_problems(payload) == []
    assert sum(len(b) for b in plan.annotation_batches) == plan.annotated


@settings(max_examples=60, deadline=None)
@given(st.lists(findings(), max_size=40), st.integers(0, 12))
def test_review_comments_are_always_valid(found, limit) -> None:
    files = [
        ChangedFile("a.py", "modified", added_lines=frozenset(range(5, 20))),
        ChangedFile(
            "pkg/b.py",
            "added",
            added_lines=frozenset(range(1, 40)),
            context_lines=frozenset({41, 42}),
        ),
    ]
    chosen = select_inline_comments(found, files, set(), limit)
    assert len(chosen) <= limit
    assert len({c.fingerprint for c in chosen}) == len(chosen)
    for comment in chosen:
        assert review_comment_problems(comment.to_payload()) == []
        diff = next(f.diff_lines for f in files if f.path == comment.path)
        first = comment.start_line or comment.line
        assert all(line in diff for line in range(first, comment.line + 1))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(texts, texts, texts), max_size=15),
    st.lists(st.tuples(st.sampled_from(["queued", "completed", "skipped"]), texts), max_size=5),
    st.booleans(),
)
def test_summary_comment_is_always_valid(commands, rows, paused) -> None:
    body = summary_comment_body(
        "o/r",
        3,
        [StageRow(f"s{i}", status, "success", note=note) for i, (status, note) in enumerate(rows)],
        head_sha="c" * 40,
        paused=paused,
        recent_commands=[{"verb": v, "user": u, "outcome": o} for v, u, o in commands],
    )
    assert comment_problems(body) == []
    assert body.startswith("<!-- shunter:summary -->\n")
    assert body.count("<!-- shunter:summary -->") == 1
