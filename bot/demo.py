"""``shunter demo``: the whole loop on this machine, no GitHub account, no services.

It starts the built-in GitHub simulator, an embedded Valkey (or ``SHUNTER_REDIS_URL``),
SQLite, Shunter's web front door and a worker, all in this process; opens a pull request
with a lint problem, a security smell and an untested function; shows the check runs and
the summary comment as they appear; then presses "Apply fixes" and shows the commit that
landed on the PR branch.
"""

from __future__ import annotations

import difflib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from bot.errors import ShunterError
from bot.logs import configure
from bot.queue.connection import redact_url

REPO = "octo/shunter-demo"
BASE_FILES = {
    "README.md": "# shunter-demo\n\nA tiny package for Shunter's demo.\n",
    "calc/__init__.py": "",
    "calc/core.py": 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    return a + b\n',
    "tests/test_core.py": "from calc.core import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    "pyproject.toml": '[project]\nname = "calc"\nversion = "0.1.0"\n',
    # writing to branches is opt-in: this repository lets people press "Apply fixes"
    ".github/shunter.yml": "version: 1\nextends: [recommended]\n",
}
PR_FILES = {
    "calc/core.py": (
        "import os\n"
        "import subprocess\n\n\n"
        'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n    return a + b\n\n\n'
        "def clamp(value: int, low: int, high: int) -> int:\n"
        '    """Keep value within [low, high]."""\n'
        "    return max(low, min(value, high))\n\n\n"
        "def run(command: str) -> str:\n"
        "    return subprocess.check_output(command, shell=True, text=True)\n"
    ),
}


def _show_checks(sim: Any, echo: Any, head_sha: str) -> None:
    for run in sorted(sim.check_runs(REPO, head_sha=head_sha), key=lambda r: (r.name, r.id)):
        icon = {"success": "✅", "failure": "❌", "neutral": "⚪", "skipped": "⏭", "cancelled": "⛔"}.get(
            run.conclusion or "", "⏳"
        )
        echo(f"  {icon} {run.name:<18} {run.status:<11} {run.conclusion or '':<9} {run.title or ''}")
        for note in run.annotations[:6]:
            message = " ".join(str(note["message"]).split())
            if len(message) > 90:
                message = message[:89].rstrip() + "…"
            echo(f"       {note['path']}:{note['start_line']}  {note['annotation_level']}: {message}")
        if len(run.annotations) > 6:
            echo(f"       … {len(run.annotations) - 6} more annotations")


def _show_proposed_tests(stack: Any, echo: Any, head_sha: str) -> None:
    """The tests the tests stage wrote for the untested function, as offered on the PR: the
    stage's patch drafts, kept where "Apply fixes" and ``/shunter apply`` find them."""
    from bot.models import PatchDraft

    raw = stack.redis.lrange(f"shunter:patches:{REPO}:{head_sha}:tests", 0, -1)
    drafts = [PatchDraft.model_validate_json(item) for item in raw]
    files = [f for draft in drafts for f in draft.files]
    if not files:
        echo("▶ shunter/tests kept no generated test this time (see its check run)")
        return
    echo("▶ shunter/tests wrote tests for the changed functions (offered, not pushed):")
    for diff in files:
        added = [
            line[1:] for line in diff.diff.splitlines() if line.startswith("+") and not line.startswith("+++")
        ]
        echo(f"  │ {diff.path} (+{len(added)} lines)")
        for line in added[:14]:
            echo(f"  │   {line}")
        if len(added) > 14:
            echo(f"  │   … {len(added) - 14} more lines")


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Where to keep state.")
@click.option("--no-apply", is_flag=True, help="Stop before pressing 'Apply fixes'.")
def demo(data_dir: Path | None, no_apply: bool) -> None:
    """Run the whole loop against the built-in GitHub simulator."""
    from bot.stack import LocalStack

    configure(os.environ.get("SHUNTER_LOG_LEVEL", "ERROR").upper(), "console")
    if data_dir is not None:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ShunterError(f"--data-dir {data_dir}: {exc.strerror or exc}") from None
    root = data_dir or Path(tempfile.mkdtemp(prefix="shunter-demo-"))
    echo = click.echo
    started = time.monotonic()
    echo("▶ starting the GitHub simulator, Valkey, SQLite, the web app and a worker …")
    with LocalStack(root, redis_url=os.environ.get("SHUNTER_REDIS_URL")) as stack:
        sim = stack.sim
        echo(f"  simulator at {sim.url}; Shunter's webhooks at {sim.webhook_url}")
        handle = stack.handle
        assert handle is not None
        echo(f"  Redis: {'embedded Valkey' if handle.embedded else redact_url(handle.url)}")
        sim.create_repo(REPO, BASE_FILES)
        sim.set_permission(REPO, "alice", "write")
        sim.commit(REPO, "feature/clamp", PR_FILES, message="Add clamp() and run()", author="alice")
        number = sim.open_pull_request(REPO, "feature/clamp", title="Add clamp() and run()", user="alice")
        echo(f"▶ alice opened {REPO}#{number}: a lint problem, a security smell, an untested function")
        sim.wait_for_deliveries()
        stack.work(("events",))
        head = sim.pull(REPO, number).head_sha
        echo("▶ check runs created at once, queued:")
        _show_checks(sim, echo, head)
        stack.drain()
        echo("▶ stages finished:")
        _show_checks(sim, echo, head)
        _show_proposed_tests(stack, echo, head)
        summary = next(
            (c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:summary")), None
        )
        if summary is not None:
            echo("▶ the summary comment on the PR:")
            for line in summary.body.splitlines()[1:16]:
                echo(f"  │ {line}")
        if no_apply:
            echo(f"done in {time.monotonic() - started:.1f}s; state in {root}")
            return
        review = next(r for r in sim.check_runs(REPO) if r.name == "shunter/review")
        before = sim.pull(REPO, number).head_sha
        echo("▶ alice presses “Apply fixes” on shunter/review …")
        sim.click_button(review.id, "apply", user="alice")
        stack.drain()
        after = sim.pull(REPO, number).head_sha
        if after != before:
            echo(f"▶ Shunter pushed {after[:12]} onto feature/clamp (was {before[:12]}):")
            for path in PR_FILES:
                old = (sim.file(REPO, before, path) or "").splitlines()
                new = (sim.file(REPO, after, path) or "").splitlines()
                for line in difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", lineterm="", n=1):
                    echo(f"  │ {line}")
            stack.drain()
            echo("▶ GitHub sent `synchronize`; the new head was re-checked:")
            _show_checks(sim, echo, after)
        else:
            echo("▶ nothing was pushed (see the reply below)")
        reply = [c for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:reply")]
        if reply:
            echo("▶ Shunter's reply:")
            for line in reply[-1].body.splitlines()[1:12]:
                echo(f"  │ {line}")
        echo(f"done in {time.monotonic() - started:.1f}s; state in {root}")
