"""The tests stage end to end on a fixture repository, in the real sandbox.

One PR adds or changes five functions: ``clamp`` (pure, untested: a test is generated and kept),
``mystery`` (untyped arguments: no test proposed, reason given), ``stamp`` (passes once, then
fails on state its first run left behind: rejected as flaky), and a new module ``textx.slugify`` with no test file
(a new ``tests/test_textx.py`` is proposed), and the private helper ``signs._sign``
(reached through a generated test of its public caller). The stage runs once per module.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.models import StageName, StageResult
from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.stages import tests as tests_stage

pytestmark = pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)

SIGNS = """def _sign(x: int) -> int:
    return 1 if x > 0 else -1


def describe(x: int) -> str:
    return "+" if _sign(x) > 0 else "-"
"""
SIGNS_HEAD = """def _sign(x: int) -> int:
    if x == 0:
        return 0
    return 1 if x > 0 else -1


def describe(x: int) -> str:
    return "+" if _sign(x) > 0 else "-"
"""
BASE = {
    "pkg/__init__.py": "",
    "pkg/signs.py": SIGNS,
    "pkg/mathx.py": "import os\nimport pathlib\n\n\ndef double(x: int) -> int:\n    return 2 * x\n",
    "tests/test_mathx.py": (
        "from pkg.mathx import double\n\n\ndef test_double():\n    assert double(2) == 4\n"
    ),
    "README.md": "fixture\n",
}
ADDED_MATHX = '''

def clamp(value: int, low: int, high: int) -> int:
    """Clamp into [low, high], accepting the bounds in either order."""
    if low > high:
        low, high = high, low
    return max(low, min(value, high))


def mystery(thing, other):
    return thing.frobnicate(other)


_TOKEN = os.urandom(8).hex()


def stamp(x: int) -> int:
    """Depends on state a previous process left on disk: passes once, then fails."""
    marker = pathlib.Path(__file__).with_name(".stamp")
    if not marker.exists():
        marker.write_text(_TOKEN)
    owners = {_TOKEN: x}
    return owners[marker.read_text()]
'''
TEXTX = """import re


def slugify(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)
"""
HEAD = {
    **BASE,
    "pkg/mathx.py": BASE["pkg/mathx.py"] + ADDED_MATHX,
    "pkg/textx.py": TEXTX,
    "pkg/signs.py": SIGNS_HEAD,
}


@pytest.fixture(scope="module")
def result(make_context, tmp_path_factory: pytest.TempPathFactory) -> StageResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path_factory.mktemp("venvs")))
        ctx = make_context(BASE, HEAD, options=StageOptions(timeout_seconds=60, time_budget_seconds=240))
        return tests_stage.run(ctx)


def row(res: StageResult, name: str) -> str:
    return next(line for line in res.summary.splitlines() if f"`pkg.{name}`" in line)


def test_untested_pure_function_gets_a_kept_test(result: StageResult) -> None:
    assert result.stage is StageName.TESTS and not result.neutral
    m = result.metrics
    assert m["functions_changed"] == 5
    assert m["covered_after"] > m["covered_before"]
    assert "generated test kept" in row(result, "mathx.clamp")
    clamp_finding = [f for f in result.findings if "`clamp`" in f.message]
    assert clamp_finding == []  # every changed line of clamp now runs under a test
    assert m["sandbox"] == "bubblewrap"
    assert "Changed-line coverage" in result.summary


def test_uninferable_arguments_get_no_test_and_a_reason(result: StageResult) -> None:
    line = row(result, "mathx.mystery")
    assert "no test proposed" in line and "other, thing" in line
    finding = next(f for f in result.findings if "`mystery`" in f.message)
    assert "cannot infer" in finding.message and finding.path == "pkg/mathx.py"
    assert result.metrics["discards"].get("placeholder", 0) >= 1
    for patch in result.patches:
        for file in patch.files:
            assert "st.nothing()" not in file.diff
            assert "mystery" not in file.diff


def test_flaky_function_candidates_are_rejected(result: StageResult) -> None:
    line = row(result, "mathx.stamp")
    assert "flaky" in line
    assert result.metrics["discards"].get("flaky", 0) >= 1
    for patch in result.patches:
        assert all("stamp" not in f.diff for f in patch.files)


def test_patch_extends_and_creates_test_files_and_applies(result: StageResult, tmp_path: Path) -> None:
    assert len(result.patches) == 1
    patch = result.patches[0]
    files = {f.path: f for f in patch.files}
    assert set(files) == {"tests/test_mathx.py", "tests/test_textx.py", "tests/test_signs.py"}
    assert files["tests/test_textx.py"].pre_image_blob is None
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for path, text in HEAD.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    blob = subprocess.run(
        ["git", "hash-object", "tests/test_mathx.py"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert files["tests/test_mathx.py"].pre_image_blob == blob
    diff = "".join(f.diff for f in patch.files)
    subprocess.run(["git", "apply", "-"], input=diff, text=True, cwd=repo, check=True)
    merged = (repo / "tests/test_mathx.py").read_text()
    assert "def test_double():" in merged  # the existing test is kept
    assert "pkg.mathx.clamp(" in merged
    assert "pkg.textx.slugify(" in (repo / "tests/test_textx.py").read_text()
    compile(merged, "test_mathx.py", "exec")


def test_private_helper_is_reached_through_its_public_caller(result: StageResult) -> None:
    line = row(result, "signs._sign")
    assert "reached by the generated test for describe" in line
    cells = [c.strip() for c in line.split("|")]
    assert int(cells[4]) > int(cells[3])  # covered after > covered before
    assert any(f.path == "tests/test_signs.py" for p in result.patches for f in p.files)


def test_counts_add_up(result: StageResult) -> None:
    m = result.metrics
    assert m["kept"] + sum(m["discards"].values()) == m["candidates"]
    assert m["kept"] >= 2  # clamp and slugify
    assert f"{m['candidates']} candidates, {m['kept']} kept" in result.summary


def test_untrusted_pr_is_not_run_without_policy(make_context) -> None:
    ctx = make_context(BASE, HEAD, trusted=False)
    res = tests_stage.run(ctx)
    assert res.neutral and res.metrics["sandbox"] == "refused"
    # why is a note, said once: the check run lists the notes below the summary
    assert "Not run" in res.summary and "run_untrusted" in " ".join(res.notes)
    assert res.patches == [] and res.metrics["candidates"] == 0
    assert "`pkg.mathx.clamp`" in res.summary  # the changed functions are still listed


def test_fork_pr_without_bubblewrap_is_not_executed(make_context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUNTER_SANDBOX_BWRAP", "/nonexistent")
    opts = StageOptions(run_untrusted=True)
    res = tests_stage.run(make_context(BASE, HEAD, trusted=False, options=opts))
    assert res.neutral and "no bubblewrap sandbox is available" in " ".join(res.notes)
    assert res.metrics["candidates"] == 0


def test_unavailable_dependency_stops_cleanly(
    make_context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "index"
    empty.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", f"file://{empty}")
    monkeypatch.setenv("SHUNTER_SANDBOX_CACHE", str(tmp_path / "venvs"))
    head = {**HEAD, "requirements.txt": "shunter-missing-dist>=2\n"}
    res = tests_stage.run(make_context(BASE, head))
    assert res.neutral
    assert "shunter-missing-dist>=2" in " ".join(res.notes)
    assert res.metrics["candidates"] == 0 and res.patches == []


def test_a_superseded_head_stops_between_steps(make_context) -> None:
    ctx = make_context(BASE, HEAD)
    ctx.cancelled = lambda: True
    res = tests_stage.run(ctx)
    assert res.neutral and "stopped early" in " ".join(res.notes)
    assert res.metrics["candidates"] == 0 and res.patches == []


def test_trusted_author_without_bubblewrap_runs_weaker_and_says_so(
    make_context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUNTER_SANDBOX_BWRAP", "/nonexistent")
    base = {"pkg/__init__.py": "", "pkg/mathx.py": BASE["pkg/mathx.py"]}
    head = {**base, "pkg/mathx.py": base["pkg/mathx.py"] + ADDED_MATHX.split("\n\n\ndef mystery")[0]}
    res = tests_stage.run(make_context(base, head))
    assert not res.neutral
    assert res.metrics["sandbox"] == "rlimits-only"
    assert "**Weaker sandbox:**" in res.summary and "rlimits and a timeout only" in res.summary
    assert res.metrics["kept"] >= 1  # clamp still gets its test
