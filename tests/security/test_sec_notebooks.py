"""The security stage on a pull request that adds an executed Jupyter notebook.

Most of an executed notebook's JSON is what the kernel wrote: base64 figures, widget state
keyed by hex model ids, cell ids, printed digests. None of it is a secret a person
committed; a key assigned in a code cell is, and must be found as surely as in a ``.py``
file, on the JSON line GitHub shows for it.
"""

from __future__ import annotations

import hashlib
import json

from tests.notebook_files import code_cell, line_of, markdown_cell, notebook
from tests.review.test_review_local_run import BASE, _invoke, local_repo  # noqa: F401  (fixture)

# not AWS's documented example key (that one is reported as a placeholder, at low confidence)
KEY_LINE = 'AWS_SECRET_ACCESS_KEY = "q8Zf3LkP0vT2xRw9YbN4mJc7HsD1eGuA6iKoVtQz"\n'
DIGEST = hashlib.sha256(b"sales-2024.csv").hexdigest()


def _cells(with_key: bool) -> list[dict[str, object]]:
    setup = "import boto3\n\n" + (KEY_LINE if with_key else "") + 'client = boto3.client("s3")'
    return [
        markdown_cell("# Sales\n\nFetch the export and plot it.", index=1),
        code_cell(setup, index=2),
        code_cell(
            "import hashlib\n\nprint(hashlib.sha256(raw).hexdigest())",
            index=3,
            stream=DIGEST + "\n",
        ),
        code_cell("frame.plot()", index=4, figure=True),
        code_cell("frame.describe()", index=5, figure=True),
    ]


def _security(local_repo, data: bytes) -> list[dict]:  # noqa: F811
    path = local_repo({**BASE, "analysis/sales.ipynb": data})
    out = _invoke("--repo", str(path), "--base", "main", "--stages", "security", "--format", "json")
    [security] = json.loads(out.output)["results"]
    return security["findings"]


def test_outputs_ids_and_widget_state_are_no_secrets(local_repo) -> None:  # noqa: F811
    findings = _security(local_repo, notebook(_cells(with_key=False), widgets=6))
    assert findings == [], [(f["start_line"], f["rule_id"]) for f in findings]


def test_a_key_in_a_code_cell_is_found_as_in_python_on_its_json_line(local_repo) -> None:  # noqa: F811
    data = notebook(_cells(with_key=True), widgets=6)
    findings = _security(local_repo, data)
    assert [(f["rule_id"], f["severity"], f["start_line"]) for f in findings] == [
        ("secret.aws-secret-access-key", "error", line_of(data, KEY_LINE))
    ], findings


def test_a_token_printed_into_an_output_is_still_found(local_repo) -> None:  # noqa: F811
    token = "ghp_R4nD0mT0k3nV4lu3F0rT3st1ngABCDEF1234"
    cells = [code_cell("import os\n\nprint(os.environ['GH_TOKEN'])", index=1, stream=token + "\n")]
    data = notebook(cells)
    findings = _security(local_repo, data)
    assert [(f["rule_id"], f["start_line"]) for f in findings] == [("secret.github-token", line_of(data, token))]
