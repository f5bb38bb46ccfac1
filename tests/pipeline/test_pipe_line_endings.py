"""Pull requests on files written on Windows (CRLF line endings), through the simulator
and the merge queue: inline comments, suggestions and the fix that lands."""

from __future__ import annotations

from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, replies

BASE = {
    ".github/shunter.yml": ON_COMMAND,
    "app.py": b'"""Windows module."""\r\n\r\n\r\ndef add(a, b):\r\n    """Add."""\r\n    return a + b\r\n',
}
HEAD = (
    b'"""Windows module."""\r\nimport os\r\n\r\n\r\ndef add(a, b):\r\n    """Add."""\r\n'
    b'    return a + b\r\n\r\n\r\ndef name(a):\r\n    """Name."""\r\n    return f"name" + a\r\n'
)


def test_a_crlf_file_gets_no_suggestion_that_would_break_its_endings_and_the_fix_keeps_them(stack):
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "feature", {"app.py": HEAD}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    comments = {c.line: c.body for c in sim.review_comments(REPO, number)}
    f541 = comments[12]
    assert "F541" in f541 and "```suggestion" not in f541 and "\r" not in f541
    assert "CRLF" in f541 and '```python\n    return "name" + a\n```' in f541
    # deleting whole lines keeps the other lines' endings: that suggestion stays
    assert "```suggestion\n```" in comments[2]

    sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    assert "Shunter pushed" in replies(sim, number)[-1].body
    landed = sim.file(REPO, head, "app.py")
    assert landed is not None
    assert landed.encode() == HEAD.replace(b"import os\r\n", b"").replace(b'f"name"', b'"name"')
