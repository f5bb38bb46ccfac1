"""A pull request adding an executed Jupyter notebook, through the simulator: the review's
annotations and inline comments sit on the lines of the notebook's JSON that hold the code
(the lines GitHub's diff shows), no suggestion rewrites a JSON line, and the security
check flags the key a cell assigns, not the figures and widget state around it."""

from __future__ import annotations

from tests.notebook_files import code_cell, line_of, markdown_cell, notebook
from tests.pipeline.test_pipe_pull_request import REPO, by_name, open_pr

KEY_LINE = 'AWS_SECRET_ACCESS_KEY = "q8Zf3LkP0vT2xRw9YbN4mJc7HsD1eGuA6iKoVtQz"\n'
NOTEBOOK = notebook(
    [
        markdown_cell("# Sales\n\nFetch the export and plot it.", index=1),
        code_cell("import os\nimport boto3\n\n" + KEY_LINE + 'client = boto3.client("s3")', index=2),
        code_cell(
            "frame = load_sales()\nprint(frame.head())\nframe.plot()",
            index=3,
            figure=True,
            stream="   a  b\n",
        ),
    ],
    widgets=5,
)


def test_a_notebook_is_reviewed_on_its_json_lines(stack) -> None:
    sim = stack.sim
    number = open_pr(sim, {"analysis/sales.ipynb": NOTEBOOK.decode("utf-8")})
    stack.drain()
    runs = by_name(sim.check_runs(REPO))
    review = runs["shunter/review"]
    rows = {
        row: line_of(NOTEBOOK, row)
        for row in ("import os\n", "import boto3\n", KEY_LINE, "frame = load_sales()\n")
    }
    placed = {(a["path"], a["start_line"]) for a in review.annotations}
    assert ("analysis/sales.ipynb", rows["import os\n"]) in placed, placed  # F401
    assert ("analysis/sales.ipynb", rows["frame = load_sales()\n"]) in placed, placed  # F821
    notebook_comments = [c for c in sim.review_comments(REPO, number) if c.path == "analysis/sales.ipynb"]
    assert notebook_comments
    assert all("```suggestion" not in c.body for c in notebook_comments), [c.body for c in notebook_comments]
    assert {c.line for c in notebook_comments} <= set(rows.values()), [
        (c.line, c.body[:80]) for c in notebook_comments
    ]
    security = runs["shunter/security"]
    assert [(a["path"], a["start_line"]) for a in security.annotations] == [
        ("analysis/sales.ipynb", line_of(NOTEBOOK, KEY_LINE))
    ], security.annotations
    assert security.conclusion == "failure"
