"""A pull request adding one generated line on which ruff reports a rule hundreds of times,
through the simulator: every check completes, the review's check run says how many findings
it left out, and the secret check before suggestions are published scans each line a few
times, not once per finding (a 100,000-character line with 12,000 findings had not finished
after 15 minutes)."""

from __future__ import annotations

from bot.engines import secrets_scan
from tests.pipeline.test_pipe_pull_request import REPO, by_name, open_pr

# 300 f-strings without placeholders on one line: 300 F541, each with a safe fix
CROWDED = "x = [" + 'f"ab", ' * 300 + "]\n"


def test_a_crowded_generated_line_completes_with_what_was_left_out(stack, monkeypatch):
    scanned: list[int] = []
    scan = secrets_scan.scan_secrets

    def counting(files, only_lines=None, **kw):
        scanned.append(sum(len(text) for text in files.values()))
        return scan(files, only_lines, **kw)

    monkeypatch.setattr(secrets_scan, "scan_secrets", counting)
    secrets_scan._short_text_holds_secret.cache_clear()
    sim = stack.sim
    open_pr(sim, {"data.py": CROWDED})
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    assert {run.status for run in runs.values()} == {"completed"} and len(runs) == 3
    review = runs["shunter/review"]
    assert [a["path"] for a in review.annotations] == ["data.py"] * 10
    assert "ruff found `F541` 300 times on line 1 in `data.py`; the 290 more are left out" in review.summary
    # the security stage scans the file once; before, every finding's suggestion (the
    # whole line) was scanned again, by the stage job and by the check run: 600 times
    assert sum(scanned) <= 3 * len(CROWDED), len(scanned)
