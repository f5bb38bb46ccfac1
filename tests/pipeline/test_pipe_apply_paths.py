"""Apply fixes on files whose names git quotes in a diff header (non-ASCII, quotes), through
the simulator: the fix patch names them as git does, and the merge queue must read that."""

from __future__ import annotations

import pytest

from bot.changes.unified import DiffFormatError, parse_file_diff

REPO = "octo/demo"
ON_COMMAND = "version: 1\npatches:\n  auto_apply:\n    review: on_command\n"
SOURCE = "import os\n\n\ndef f(x):\n    return str(x)\n"
FIXED = "\n\ndef f(x):\n    return str(x)\n"
PATHS = ("café/naïve.py", "中文/模块.py", "q\"uote's.py")


def test_apply_fixes_lands_on_files_named_outside_ascii(stack):
    sim = stack.sim
    sim.create_repo(REPO, {"README.md": "# demo\n", ".github/shunter.yml": ON_COMMAND})
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "feature", dict.fromkeys(PATHS, SOURCE), author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    review = next(r for r in sim.check_runs(REPO, head_sha=head) if r.name == "shunter/review")
    assert {a["path"] for a in review.annotations} == set(PATHS)
    sim.click_button(review.id, "apply", user="alice")
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    reply = sim.comments(REPO, number)[-1].body
    assert new_head != head, reply  # was: rejected (malformed_diff): quoted path ... not supported
    assert {path: sim.file(REPO, new_head, path) for path in PATHS} == dict.fromkeys(PATHS, FIXED)


def test_a_malformed_quoted_path_is_still_refused():
    hunk = "@@ -1 +1 @@\n-a\n+b\n"
    assert (
        parse_file_diff(f'--- "a/caf\\303\\251.py"\n+++ "b/caf\\303\\251.py"\n{hunk}').new_path == "café.py"
    )
    for bad in ('"a/x\\9.py"', '"a/x.py', '"a/x".py'):
        with pytest.raises(DiffFormatError, match="malformed quoted path"):
            parse_file_diff(f"--- {bad}\n+++ b/x.py\n{hunk}")
