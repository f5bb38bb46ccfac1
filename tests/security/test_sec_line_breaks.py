"""The security stage on a CRLF file with a form feed (^L) page break: secrets, bandit and
Shunter's rules report the lines the diff numbers."""

from __future__ import annotations

from bot.changes.unified import apply_hunks, parse_file_diff
from bot.stages import security

BASE = b'"""FF."""\r\nimport subprocess\r\n\r\n\r\ndef f():\r\n    """F."""\r\n    return 1\r\n'
HEAD = BASE + (
    b'\r\n\x0c\r\n\r\ndef g(cmd):\r\n    """G."""\r\n    aws = "AKIAIOSFODNN7EXAMPLF"\r\n'
    b'    password = "Xk29!qLm#83zPq"\r\n    subprocess.call(cmd, shell=True)\r\n'
)


def _line(needle: bytes) -> int:
    return HEAD[: HEAD.index(needle)].count(b"\n") + 1


def test_findings_below_a_form_feed_in_a_crlf_file_are_on_their_lines(make_ctx) -> None:
    result = security.run(make_ctx({"m.py": BASE}, {"m.py": HEAD}))
    lines = {f.rule_id: f.start_line for f in result.findings}
    assert lines["secret.aws-access-key-id"] == _line(b"    aws =")
    assert lines["secret.generic-secret-assignment"] == _line(b"    password =")
    assert lines["shunter.subprocess-shell-injection"] == _line(b"    subprocess.call")


# a ^L page break well above the fix, so that no context line of the patch shows it
PAGED = b'"""Paged."""\nimport yaml\n\n\n\x0c\ndef f():\n    """F."""\n    return 1\n'
PAGED_HEAD = PAGED + b'\n\ndef g(data):\n    """G."""\n    value = data.strip()\n    return yaml.load(value)\n'


def test_a_fix_below_a_form_feed_rewrites_its_own_line(make_ctx) -> None:
    result = security.run(make_ctx({"m.py": PAGED}, {"m.py": PAGED_HEAD}))
    [patch] = result.patches
    [diff] = patch.files
    after = apply_hunks(PAGED_HEAD, parse_file_diff(diff.diff))
    assert after == PAGED_HEAD.replace(b"yaml.load(", b"yaml.safe_load(")


LATIN1 = b'# -*- coding: latin-1 -*-\n"""Caf\xe9."""\nimport yaml\n\n\ndef f():\n    """F."""\n    return 1\n'
LATIN1_HEAD = LATIN1 + b'\n\ndef g(data):\n    """Donn\xe9es."""\n    return yaml.load(data)  # caf\xe9\n'


def test_a_latin1_file_gets_its_finding_and_no_patch_that_could_not_apply(make_ctx) -> None:
    result = security.run(make_ctx({"w.py": LATIN1}, {"w.py": LATIN1_HEAD}))
    [finding] = [f for f in result.findings if f.rule_id == "shunter.unsafe-yaml-load"]
    assert finding.start_line == 13 and finding.suggestion is None
    assert result.patches == []
    assert "No fix patch for `w.py`: it is not UTF-8 text, and a patch could not keep its bytes." in result.notes
