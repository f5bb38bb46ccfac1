"""The review stage on a pull request that adds a Jupyter notebook.

ruff lints ``.ipynb`` files by default and counts a notebook's rows inside each cell, while
GitHub diffs and comments on the notebook's raw JSON lines: a finding must land on the
JSON line that holds its source row, and no suggestion or fix may edit that JSON with
edits meant for the cell's text.
"""

from __future__ import annotations

import json

from tests.notebook_files import code_cell, line_of, markdown_cell, notebook
from tests.review.test_review_local_run import BASE, _invoke, local_repo  # noqa: F401  (fixture)

ANALYSIS = notebook(
    [
        markdown_cell("# Monthly sales\n\nLoad the data and plot it.", index=1),
        code_cell(
            "import os\nimport json\n\nprint(json.dumps({'rows': 3}))",
            index=2,
            stream='{"rows": 3}\n',
        ),
        code_cell("frame = load_sales()\ndisplay(frame)\nframe.plot()", index=3, figure=True),
    ]
)


def _review(local_repo, files: dict[str, bytes]) -> dict:  # noqa: F811
    """The review of a PR adding ``files``; a ``.github/shunter.yml`` among them is on the
    base too, where Shunter reads it."""
    config = {name: data for name, data in files.items() if name == ".github/shunter.yml"}
    path = local_repo({**BASE, **files}, {**BASE, **config})
    out = _invoke("--repo", str(path), "--base", "main", "--stages", "review", "--format", "json")
    [review] = json.loads(out.output)["results"]
    return review


def test_notebook_findings_land_on_the_json_lines_of_their_source_rows(local_repo) -> None:  # noqa: F811
    review = _review(local_repo, {"analysis/sales.ipynb": ANALYSIS})
    found = {(f["rule_id"], f["path"], f["start_line"], f["end_line"]) for f in review["findings"]}
    unused = line_of(ANALYSIS, "import os\n")
    undefined = line_of(ANALYSIS, "frame = load_sales()\n")
    assert ("F401", "analysis/sales.ipynb", unused, unused) in found, found
    assert ("F821", "analysis/sales.ipynb", undefined, undefined) in found, found


def test_notebook_findings_offer_no_suggestion_nor_patch(local_repo) -> None:  # noqa: F811
    """ruff's fix for the unused import is safe in the cell, but its edits count rows and
    columns in the cell's text: applied to the JSON lines they would corrupt the notebook."""
    review = _review(local_repo, {"analysis/sales.ipynb": ANALYSIS})
    notebook_findings = [f for f in review["findings"] if f["path"] == "analysis/sales.ipynb"]
    assert notebook_findings
    assert all(not f.get("suggestion") for f in notebook_findings), notebook_findings
    assert review["patches"] == []
    # the fix's message still names what to do, as for a Python file
    assert {f["title"] for f in notebook_findings if f["rule_id"] == "F401"} == {"Remove unused import: `os`"}


def test_the_summary_counts_the_notebooks_it_reviewed(local_repo) -> None:  # noqa: F811
    review = _review(local_repo, {"analysis/sales.ipynb": ANALYSIS})
    assert "Reviewed 1 changed file (0 Python, 1 notebook), filter `added`." in review["summary"], review[
        "summary"
    ]


def test_print_and_display_in_a_notebook_are_not_stray_prints(local_repo) -> None:  # noqa: F811
    review = _review(local_repo, {"analysis/sales.ipynb": ANALYSIS})
    rules = {f["rule_id"] for f in review["findings"]}
    assert "stray-print" not in rules and "T201" not in rules, rules


LIMIT_100 = b"version: 1\nstages:\n  review:\n    large_pr_lines: 100\n"


def _executed(cells: int) -> bytes:
    """A notebook whose outputs dwarf its code: each two-line cell printed 40 lines and drew
    a figure."""
    log = "".join(f"epoch {n}: loss {1 / (n + 1):.4f}\n" for n in range(40))
    return notebook(
        [
            code_cell(f"model.fit(epochs=40, seed={i})\nmodel.plot()", index=i, figure=True, stream=log)
            for i in range(cells)
        ]
    )


def test_a_notebooks_outputs_do_not_make_a_large_pr(local_repo) -> None:  # noqa: F811
    data = _executed(12)
    assert data.count(b"\n") > 600  # GitHub counts every line of the JSON
    review = _review(local_repo, {".github/shunter.yml": LIMIT_100, "analysis/train.ipynb": data})
    assert "large-pr" not in {f["rule_id"] for f in review["findings"]}, review["findings"]


def test_a_large_pr_counts_a_notebooks_cell_sources_and_says_what_it_left_out(local_repo) -> None:  # noqa: F811
    data = _executed(60)  # 120 source rows
    review = _review(local_repo, {".github/shunter.yml": LIMIT_100, "analysis/train.ipynb": data})
    [large] = [f for f in review["findings"] if f["rule_id"] == "large-pr"]
    left_out = data.count(b"\n") - 120
    assert large["message"].startswith(
        f"This PR changes 120 lines in 1 file (limit 100, not counting {left_out} notebook lines outside cell "
        "sources (outputs, metadata))"
    ), large["message"]


def test_a_todo_a_cell_printed_is_not_a_todo_added(local_repo) -> None:  # noqa: F811
    data = notebook(
        [
            code_cell("check(frame)", index=1, stream="TODO: 3 rows have no region\n"),
            code_cell("# TODO: fetch the March export too\nframe = load()", index=2),
        ]
    )
    review = _review(local_repo, {"analysis/check.ipynb": data})
    todos = [(f["start_line"], f["message"]) for f in review["findings"] if f["rule_id"] == "todo-added"]
    assert todos == [
        (
            line_of(data, "# TODO: fetch the March export too\n"),
            # the row as the cell reads, not the JSON line with its quotes and escapes
            "TODO added: `# TODO: fetch the March export too`. Consider an issue instead.",
        )
    ], todos


def test_a_rerun_notebook_counts_its_changed_cells_not_its_new_outputs(local_repo) -> None:  # noqa: F811
    """Re-running a notebook rewrites every figure and log: the deleted outputs do not count
    either, only the one source row the author changed."""
    log = "".join(f"epoch {n}: loss {1 / (n + 1):.4f}\n" for n in range(40))
    rerun = "".join(f"epoch {n}: loss {1 / (n + 2):.4f}\n" for n in range(40))
    before = notebook(
        [code_cell(f"fit(seed={i})\nplot()", index=i, figure=True, stream=log) for i in range(12)]
    )
    cells = [code_cell(f"fit(seed={i})\nplot()", index=i + 50, figure=True, stream=rerun) for i in range(12)]
    cells[0]["source"] = ["fit(seed=0, epochs=80)\n", "plot()"]
    after = notebook(cells)
    base = {**BASE, ".github/shunter.yml": LIMIT_100, "analysis/train.ipynb": before}
    path = local_repo({**base, "analysis/train.ipynb": after}, base)
    out = _invoke("--repo", str(path), "--base", "main", "--stages", "review", "--format", "json")
    [review] = json.loads(out.output)["results"]
    assert "large-pr" not in {f["rule_id"] for f in review["findings"]}, review["findings"]


def test_a_repository_whose_ruff_include_leaves_out_notebooks_gets_none_linted(local_repo) -> None:  # noqa: F811
    """ruff lints a file named on its command line whatever ``include`` says; ``ruff check .``
    in this repository lints no notebook, and neither may the review."""
    pyproject = b'[project]\nname = "sales"\n\n[tool.ruff]\ninclude = ["*.py"]\n'
    review = _review(
        local_repo,
        {"pyproject.toml": pyproject, "analysis/sales.ipynb": ANALYSIS, "pkg/extra.py": b"import os\n"},
    )
    found = {(f["rule_id"], f["path"]) for f in review["findings"]}
    assert ("F401", "pkg/extra.py") in found, found
    assert not any(path == "analysis/sales.ipynb" for _rule, path in found), found


def test_notebooks_the_base_marks_generated_are_not_linted(local_repo) -> None:  # noqa: F811
    """Repositories mark ``*.ipynb linguist-generated`` to fold notebook diffs on GitHub;
    such a notebook is left out as any generated file is, with the note saying why."""
    attributes = b"*.ipynb linguist-generated\n"
    path = local_repo(
        {**BASE, ".gitattributes": attributes, "analysis/sales.ipynb": ANALYSIS},
        {**BASE, ".gitattributes": attributes},
    )
    out = _invoke("--repo", str(path), "--base", "main", "--stages", "review", "--format", "json")
    [review] = json.loads(out.output)["results"]
    assert [f for f in review["findings"] if f["path"] == "analysis/sales.ipynb"] == []
    assert any("`analysis/sales.ipynb`: marked `linguist-generated`" in note for note in review["notes"]), (
        review
    )
