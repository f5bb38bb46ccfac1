"""Text an analyzer or a model quotes from a pull request, as Shunter publishes it, parsed
the way GitHub's CommonMark parser reads it: it reads as written and cannot add HTML,
links, images or issue references to Shunter's comments, nor swallow Shunter's own lines."""

from __future__ import annotations

import json

from markdown_it import MarkdownIt

from tests.llm.conftest import structured, text
from tests.pipeline.test_pipe_commands import answer
from tests.pipeline.test_pipe_published_wording import _open_pr

REPO = "octo/demo"
BASE = {"app.py": "def add(a, b):\n    return a + b\n", "README.md": "# demo\n"}
# a dict key ruff's F601 quotes in its message, written by the PR's author
KEY = '"`@octo/team <details>[a](https://e.co) o/x#12`"'  # ruff leaves out a longer one
TAIL = "its id is stable across pushes"


def _tokens(body: str) -> list:
    """Block tokens and, flattened after them, every inline token: what GitHub would render."""
    blocks = MarkdownIt("commonmark").enable("table").parse(body)
    return blocks + [c for t in blocks if t.type == "inline" for c in t.children or []]


def _live_markup(body: str) -> list[str]:
    """HTML, links and images in ``body`` (Shunter's own ``<sub>`` and markers excepted)."""
    return [
        t.content or t.type
        for t in _tokens(body)
        if t.type in ("html_inline", "html_block", "link_open", "image")
        and not t.content.startswith(("<!-- shunter:", "<sub>", "</sub>"))
    ]


def _finding_id(stack, number: int, rule: str) -> str:
    stored = stack.redis.hgetall(f"shunter:findings:{REPO}#{number}")
    return next(k.decode() for k, v in stored.items() if json.loads(v)["rule_id"] == rule)[:8]


def test_explain_shows_a_message_quoting_the_code_as_text(stack):
    """``/shunter explain`` put ruff's message in its reply raw: the quoted key's
    ``@octo/team`` pinged the team, its ``<details>`` folded the rest of the reply away,
    ``[a](https://e.co)`` was a link in Shunter's voice, and ``o/x#12`` cross-referenced
    another repository's issue."""
    number = _open_pr(stack, BASE["app.py"] + f"\n\nD = {{{KEY}: 1, {KEY}: 2}}\n")
    reply = answer(stack, number, f"/shunter explain {_finding_id(stack, number, 'F601')}", user="tina")
    assert "@octo/team" not in reply and "@\u2060octo/team" in reply, reply
    assert _live_markup(reply) == [], reply
    assert "#12" not in reply and "o/x#\u206012" in reply, reply
    paragraphs = [t.content for t in _tokens(reply) if t.type == "inline"]
    assert any(TAIL in p for p in paragraphs), reply  # Shunter's own sentence is still shown

    review = next(r for r in stack.sim.check_runs(REPO) if r.name == "shunter/review")
    [row] = [line for line in review.summary.splitlines() if "`F601`" in line]
    assert _live_markup(review.summary) == [] and "#12" not in row, row  # the table's cell too


HOSTILE = (
    "Unsafe call, see [the docs](https://evil.example) and octo/other#12.\n\n"
    "```\nshell=True\n\n<details><summary>more"
)


def test_a_model_finding_cannot_fold_away_or_fence_in_the_inline_comments_own_lines(stack, llm):
    """A model's message (the PR author can steer it) ending in an unclosed fence put the
    inline comment's dismiss hint inside a code block, and a ``<details>`` outside a fence
    folded it away; its link and issue reference were live."""
    config = f"stages:\n  review:\n    engine: llm\nllm:\n  base_url: {llm.base_url}\n  model: qwen2.5-coder\n"
    finding = {"path": "app.py", "line": 2, "severity": "error", "category": "security", "message": HOSTILE}
    llm.queue(structured({"findings": [finding]}))
    number = _open_pr(stack, "def add(a, b):\n    return a + b + 1\n", {**BASE, ".github/shunter.yml": config})
    [body] = [c.body for c in stack.sim.review_comments(REPO, number) if "llm/security" in c.body]
    tokens = _tokens(body)
    [fence] = [t for t in tokens if t.type == "fence"]
    assert "<details>" in fence.content and "shell=True" in fence.content, body  # kept as code
    assert any("/shunter dismiss" in t.content for t in tokens if t.type == "inline"), body
    assert _live_markup(body) == [] and "#12" not in body, body

    reply_text = "Because [click](https://evil.example) <details>\n```\nstill open"
    llm.queue(text(reply_text))
    reply = answer(stack, number, f"/shunter explain {_finding_id(stack, number, 'llm/security')}", user="tina")
    assert _live_markup(reply) == [], reply
    assert reply.rstrip().endswith("still open\n```"), reply  # the model's fence is closed


def test_a_file_name_with_a_right_to_left_override_is_shown_quoted(stack):
    """U+202E in ``evil\\u202egnp.py`` showed reviewers the file as ``evilyp.png`` in the
    review's table; the name is quoted as git quotes it, its bytes in octal."""
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    sim.set_permission(REPO, "alice", "write")
    sim.commit(REPO, "feature", {"evil\u202egnp.py": "import os\n"}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    review = next(r for r in sim.check_runs(REPO) if r.name == "shunter/review")
    assert '`"evil\\342\\200\\256gnp.py":1`' in review.summary, review.summary  # F401's place
    bodies = [review.summary, *(c.body for c in sim.comments(REPO, number))]
    assert not [body for body in bodies if "\u202e" in body], bodies


def test_a_dismissal_reason_naming_an_issue_links_none(stack):
    """The reason, escaped as ``\\#12``, was still linked by GitHub (references are found in
    the rendered text), putting Shunter's reply on octo/other#12's timeline."""
    number = _open_pr(stack, "import os\n\n\ndef add(a, b):\n    return a + b\n")
    finding = _finding_id(stack, number, "F401")
    reply = answer(stack, number, f"/shunter dismiss {finding} dup of octo/other#12 and GH-3", user="tina")
    assert "(dup of octo/other\\#\u206012 and GH-\u20603)" in reply, reply


def test_config_shows_a_value_holding_a_pipe_or_backtick_in_its_own_cell(stack):
    """``/shunter config`` put each value in one backtick pair: ``x|y`` split the row and a
    backtick ended the code, so ``<details>`` in a label folded the rest of the reply away."""
    label = "x|y`<details>`"
    config = f"version: 1\nignore:\n  labels: {json.dumps([label])}\n"
    number = _open_pr(stack, "def add(a, b):\n    return a + b + 1\n", {**BASE, ".github/shunter.yml": config})
    reply = answer(stack, number, "/shunter config", user="tina")
    tokens = MarkdownIt("commonmark").enable("table").parse(reply)
    cells = [[c.content for c in t.children or []] for t in tokens if t.type == "inline"]
    assert [json.dumps([label])] in cells, reply  # one code span, whole
    html = [t.content for t in tokens if t.type == "html_block" and not t.content.startswith("<!-- shunter:")]
    assert html == ["<details><summary>Settings</summary>\n", "</details>"], reply  # Shunter's own only


def test_a_note_quoting_a_requirements_line_renders_as_text(stack):
    """The tests stage's note "ignored requirement: requirements.txt: <line> (...)" put the
    PR's line raw in the check run's notes: its ``<details>`` folded away what followed and
    its ``[a](https://e.co)`` was a link."""
    sim = stack.sim
    line = "<details><summary>[a](https://e.co)"
    sim.create_repo(REPO, BASE)
    sim.set_permission(REPO, "alice", "write")
    app = "def add(a, b):\n    return a + b + 1\n"
    sim.commit(REPO, "feature", {"app.py": app, "requirements.txt": line + "\n"}, author="alice")
    sim.open_pull_request(REPO, "feature", title="Change", user="alice")
    stack.drain()
    run = next(r for r in sim.check_runs(REPO) if r.name == "shunter/tests")
    [note] = [n for n in run.summary.splitlines() if "ignored requirement" in n]
    assert _live_markup(run.summary) == [], note
    assert "requirements.txt: &lt;details&gt;&lt;summary&gt;\\[a\\](https://e.co) (options" in note, note
