"""The review stage's fix patch against files as real projects ship them: the result of
applying it must be what ``ruff check --fix`` makes of the same file."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.engines.ruff_check import ruff_binary
from bot.stages.review import run

# Flask 3.0.3's ruff settings, as its pyproject.toml ships them: ``fix = true`` among them
FLASK_RUFF = b"""[project]
name = "flask"
requires-python = ">=3.8"

[tool.ruff]
src = ["src"]
fix = true
show-fixes = true
output-format = "full"

[tool.ruff.lint]
select = ["B", "E", "F", "I", "UP", "W"]

[tool.ruff.lint.isort]
force-single-line = true
order-by-type = false
"""
MODULE = b'from __future__ import annotations\n\nimport os\n\n\ndef here() -> str:\n    return os.getcwd()\n'


def _git_apply(diff: str, files: dict[str, bytes], where: Path) -> dict[str, bytes]:
    for path, data in files.items():
        (where / path).parent.mkdir(parents=True, exist_ok=True)
        (where / path).write_bytes(data)
    subprocess.run(["git", "init", "-q", str(where)], check=True)
    subprocess.run(["git", "apply", "-"], input=diff.encode(), cwd=where, check=True)
    return {path: (where / path).read_bytes() for path in files}


def _ruff_fixed(files: dict[str, bytes], path: str, rules: set[str], where: Path) -> bytes:
    """What ``ruff check --fix`` with only ``rules`` makes of ``path``."""
    for name, data in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_bytes(data)
    command = [ruff_binary(), "check", "--no-cache", "--fix", "--exit-zero", "--select", ",".join(sorted(rules)), path]
    subprocess.run(command, cwd=where, check=True, capture_output=True)
    return (where / path).read_bytes()


def test_a_config_with_fix_true_still_gets_findings_and_a_patch(make_ctx, tmp_path: Path) -> None:
    base = {"pyproject.toml": FLASK_RUFF, "src/flask/helpers.py": MODULE}
    added = MODULE.replace(b"import os\n", b"import os\nimport textwrap\n")
    head = {**base, "src/flask/helpers.py": added}
    result = run(make_ctx(base, head))
    assert [(f.rule_id, f.start_line) for f in result.findings if f.engine == "ruff"] == [("F401", 4)]
    [patch] = result.patches
    after = _git_apply("".join(d.diff for d in patch.files), head, tmp_path / "applied")
    assert after["src/flask/helpers.py"] == MODULE


def test_a_file_with_a_byte_order_mark_keeps_it_and_line_one_is_fixed_in_place(make_ctx, tmp_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    base = {"pyproject.toml": FLASK_RUFF}
    head = {
        **base,
        "src/flask/first_import.py": bom + b'import os\n\n\ndef f() -> str:\n    return "bom"\n',
        "src/flask/first_string.py": bom + b'NAME = f"bom"  \nOTHER = f"x"\n',
    }
    result = run(make_ctx(base, head))
    [patch] = result.patches
    after = _git_apply("".join(d.diff for d in patch.files), head, tmp_path / "applied")
    for path in ("src/flask/first_import.py", "src/flask/first_string.py"):
        rules = {f.rule_id for f in result.findings if f.path == path and f.fingerprint in patch.finding_fingerprints}
        assert after[path] == _ruff_fixed(head, path, rules, tmp_path / path.replace("/", "_")), path
    assert after["src/flask/first_string.py"] == bom + b'NAME = "bom"\nOTHER = "x"\n'


def test_two_fixes_on_one_line_are_counted_alike_by_the_check_and_the_patch(make_ctx) -> None:
    from bot.publishing.fixes import offered_fixes

    # the function the end-to-end check added to black 24.8.0's linegen.py: two f-strings on
    # one line are two findings with one id (rule, path, line text), both fixed by the patch
    base = {"src/black/probe.py": b"def _probe_mid() -> str:\n    return 'mid'\n"}
    added = b'\n\ndef _probe_end(x: int) -> str:\n    return f"end" if x else f"x"\n'
    head = {"src/black/probe.py": base["src/black/probe.py"] + added}
    result = run(make_ctx(base, head))
    [patch] = result.patches
    assert patch.title == "Apply 2 safe ruff fixes"
    assert offered_fixes(result) == 2 == result.metrics["fixable"]


# the top of CPython 3.11's Lib/email/encoders.py as Debian ships it: a form feed (^L) on a
# line of its own between sections, as in much older Python code
ENCODERS = (
    b'"""Encodings and related functions."""\n\n'
    b"from base64 import encodebytes as _bencode\n"
    b"from quopri import encodestring as _encodestring\n\n\n"
    b"\x0c\n"
    b"def _qencode(s):\n"
    b"    enc = _encodestring(s, quotetabs=True)\n"
    b"    # Must encode spaces, which quopri.encodestring() doesn't do\n"
    b"    return enc.replace(b' ', b'=20')\n\n\n"
    b"\x0c\n"
    b"def encode_base64(msg):\n"
    b"    orig = msg.get_payload(decode=True)\n"
    b"    encdata = str(_bencode(orig), 'ascii')\n"
    b"    msg.set_payload(encdata)\n"
)


def test_fixes_below_a_form_feed_land_on_the_lines_ruff_meant(make_ctx, tmp_path: Path) -> None:
    base = {"email/encoders.py": ENCODERS}
    added = b'\n\n\x0c\ndef encode_probe(msg):\n    return f"probe"  \n'
    head = {"email/encoders.py": ENCODERS.replace(b"import encodestring", b"import encodestring\nimport os") + added}
    result = run(make_ctx(base, head))
    [patch] = result.patches
    after = _git_apply("".join(d.diff for d in patch.files), head, tmp_path / "applied")
    rules = {f.rule_id for f in result.findings if f.fingerprint in patch.finding_fingerprints}
    assert rules == {"F401", "F541"}
    assert after["email/encoders.py"] == _ruff_fixed(head, "email/encoders.py", rules, tmp_path / "ruff")
    # the inline suggestion rewrites the same line the same way
    [fstring] = [f for f in result.findings if f.rule_id == "F541"]
    assert (fstring.start_line, fstring.end_line, fstring.suggestion) == (24, 24, '    return "probe"  ')
