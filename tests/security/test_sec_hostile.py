"""Hostile input: huge, binary, undecodable, unparsable files and very large PRs.

Each is handled with a clear note, none crashes the stage, and all stay fast. These use
in-memory trees so the 10,000-file case measures the stage, not git.
"""

from __future__ import annotations

from bot.publishing.check_runs import check_run_output
from bot.stages import security
from bot.stages.context import ChangedFile, MemoryTree, StageContext


def _ctx(head: dict[str, bytes], base: dict[str, bytes] | None = None, **kw) -> StageContext:
    files = [
        ChangedFile(path, "added", added_lines=frozenset(range(1, data.count(b"\n") + 2)))
        for path, data in head.items()
    ]
    return StageContext(
        repo="o/r", base_sha="b" * 40, head_sha="h" * 40, files=files,
        head=MemoryTree(head), base=MemoryTree(base or {}), **kw,
    )


def test_fifty_megabyte_file_is_skipped_with_a_note(monkeypatch) -> None:
    """The big file never reaches an engine (asserted by what the engines were handed, not
    by a wall-clock budget that first-use imports of bandit and detect-secrets used up on
    a loaded machine)."""
    scanned: list[str] = []
    scan_tree = security._scan_tree

    def recording_scan_tree(ctx, tree, texts, *args, **kwargs):
        scanned.extend(f"{tree}:{t.path}" for t in texts)
        assert "big.py" not in [t.path for t in texts], "the 50 MB file was handed to the engines"
        return scan_tree(ctx, tree, texts, *args, **kwargs)

    monkeypatch.setattr(security, "_scan_tree", recording_scan_tree)
    big = b"x = 1\n" * (50 * 1024 * 1024 // 6)
    result = security.run(_ctx({"big.py": big, "ok.py": b"import yaml\nyaml.load(s)\n"}))
    assert scanned == ["head:ok.py"]
    assert result.metrics["files_scanned"] == 1 and result.metrics["files_skipped"] == 1
    assert any("Skipped `big.py`" in n and "MB" in n for n in result.notes)
    assert any(f.path == "ok.py" for f in result.findings)  # the rest was still scanned
    assert "Skipped `big.py`" in check_run_output(result).summary  # among the notes, once


def test_binary_file_is_skipped() -> None:
    data = bytes(range(256)) * 100
    result = security.run(_ctx({"logo.png": data, "a.py": b"x = 1\n"}))
    assert any("Skipped `logo.png`: binary" in n for n in result.notes)
    assert result.metrics["files_skipped"] == 1


def test_invalid_utf8_is_still_scanned_for_secrets() -> None:
    token = ("ghp_" + "Ab9" * 12).encode()
    data = b"bad = '\xff\xfe\xfa'\ntoken = '" + token + b"'\n"
    result = security.run(_ctx({"notes.txt": data, "mod.py": b"x = '\xff'\n"}))
    assert any("`notes.txt` is not valid UTF-8" in n for n in result.notes)
    assert any(f.rule_id == "secret.github-token" for f in result.findings)
    assert any("Could not parse `mod.py`" in n for n in result.notes)


def test_syntax_error_file_is_noted_and_others_scanned() -> None:
    result = security.run(
        _ctx({"broken.py": b"def f(:\n    pass\n", "good.py": b"eval(input())\n"})
    )
    assert any("Could not parse `broken.py` (line 1)" in n for n in result.notes)
    assert any(f.rule_id == "shunter.eval-exec-injection" for f in result.findings)


def test_ten_thousand_changed_files_finish_quickly_and_say_what_was_skipped(monkeypatch) -> None:
    """Bounded by what the engines were handed (at most MAX_FILES head files), not by a
    wall-clock budget: the run took 46 s of its 60 on a loaded machine."""
    handed: list[str] = []
    scan_tree = security._scan_tree

    def recording_scan_tree(ctx, tree, texts, *args, **kwargs):
        handed.extend(t.path for t in texts if tree == "head")
        return scan_tree(ctx, tree, texts, *args, **kwargs)

    monkeypatch.setattr(security, "_scan_tree", recording_scan_tree)
    head = {f"pkg/m{i}.py": f"VALUE_{i} = {i}\n".encode() for i in range(10_000)}
    head["pkg/m7.py"] = b"import pickle\n\n\ndef f(b):\n    return pickle.loads(b)\n"
    result = security.run(_ctx(head))
    assert 0 < len(handed) <= security.MAX_FILES
    assert any("Too many changed files" in n for n in result.notes)
    assert any(f.path == "pkg/m7.py" for f in result.findings)
    assert result.metrics["files_scanned"] == security.MAX_FILES
    assert result.metrics["files_skipped"] == 10_000 - security.MAX_FILES
    # a partial scan is not a pass
    clean = {k: v for k, v in head.items() if k != "pkg/m7.py"}
    assert security.run(_ctx(clean)).metrics["conclusion"] == "neutral"


def test_hostile_paths_do_not_escape_the_scratch_dir(tmp_path) -> None:
    ctx = _ctx({"../../escape.py": b"eval(input())\n", "ok.py": b"x = 1\n"}, scratch_dir=tmp_path)
    result = security.run(ctx)
    assert not (tmp_path.parent.parent / "escape.py").exists()
    assert result.metrics["conclusion"] in {"success", "failure"}


def test_cancelled_stage_stops_early() -> None:
    result = security.run(_ctx({"a.py": b"eval(x)\n"}, cancelled=lambda: True))
    assert result.metrics["conclusion"] == "cancelled" and result.neutral


def test_pathologically_deep_expression_is_noted_not_fatal() -> None:
    deep = ("x = " + "+".join(["1"] * 60_000) + "\n").encode()
    result = security.run(_ctx({"deep.py": deep, "ok.py": b"eval(input())\n"}))
    assert any(f.path == "ok.py" for f in result.findings)
    assert any("`deep.py` (nested too deeply to analyse)" in n for n in result.notes)
