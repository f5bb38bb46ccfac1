"""A non-editable install finds the presets (opt-in: builds a wheel, needs PyPI for the
build backend; run with SHUNTER_TEST_WHEEL=1)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("SHUNTER_TEST_WHEEL") != "1", reason="set SHUNTER_TEST_WHEEL=1 to build a wheel"
    ),
]


def test_wheel_install_locates_presets(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "bot", src / "bot", ignore=ignore)
    shutil.copytree(ROOT / "policies", src / "policies", ignore=ignore)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)],
        check=True,
        timeout=600,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    [wheel] = dist.glob("*.whl")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    out = subprocess.run(
        [
            str(python),
            "-c",
            "from bot.policies.presets import policies_dir, preset_names, schema_path;"
            "print(policies_dir()); print(preset_names()); print(schema_path().is_file())",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert out[0] == str(venv / "share" / "shunter" / "policies")
    assert {"recommended", "strict", "security-only"} <= set(ast.literal_eval(out[1]))
    assert out[2] == "True"
