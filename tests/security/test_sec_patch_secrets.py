"""A file holding a secret gets no fix patch, whatever the stage chose to *report*.

The stage's findings are filtered (``new_only``, ``ignore_*``, ``min_confidence``, the
enabled scanners), but a patch's context lines copy the file as it is into the change
request, Redis, the merge queue and the audit log: a secret already on the base, or one
the config filters out, must hold the patch back just like a reported one.
"""

from __future__ import annotations

import json

import pytest

from bot.models import StageResult
from bot.stages import security

AWS_KEY = "AKIAIOSFODNN7EXAMPLF"  # AWS-key shaped test value (high confidence)
HEX_SALT = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # entropy: low


def _module(secret_line: str, call: str) -> str:
    return f"import yaml\n\n\ndef load(data):\n    {secret_line}\n    return {call}\n"


def _assert_held_back(result: StageResult, secret: str) -> None:
    assert result.patches == []
    assert not any(f.suggestion for f in result.findings)
    assert "No fix patch for `app.py`: it holds a secret; remove the secret first." in result.notes
    # the fixable finding itself is still reported
    assert any(f.rule_id == "shunter.unsafe-yaml-load" for f in result.findings)
    assert secret not in json.dumps(result.model_dump())


def test_secret_already_on_the_base_holds_back_the_patch(pr) -> None:
    """The reviewer's case: the key is old debt (not reported), the fix sits two lines below."""
    base = _module(f'key = "{AWS_KEY}"', "data")
    head = _module(f'key = "{AWS_KEY}"', "yaml.load(data)")
    result = security.run(pr({"app.py": base}, {"app.py": head}))
    assert not any(f.rule_id.startswith("secret.") for f in result.findings)  # old debt
    _assert_held_back(result, AWS_KEY)


def test_secret_far_from_the_fix_still_holds_back_the_patch(pr) -> None:
    """Not in the diff's context today, but the README promises the whole file."""
    base = f'KEY = "{AWS_KEY}"\n' + "\n" * 30 + "import yaml\n\n\ndef load(data):\n    return data\n"
    head = base.replace("return data", "return yaml.load(data)")
    result = security.run(pr({"app.py": base}, {"app.py": head}))
    _assert_held_back(result, AWS_KEY)


@pytest.mark.parametrize(
    ("secret_line", "secret", "options"),
    [
        (f'key = "{AWS_KEY}"', AWS_KEY, {"ignore_rules": ["secret.*"]}),
        (f'salt = "{HEX_SALT}"', HEX_SALT, {"min_confidence": "medium"}),
        (f'key = "{AWS_KEY}"', AWS_KEY, {"scanners": ["bandit", "rules"]}),
        (f'key = "{AWS_KEY}"  # pragma: allowlist secret', AWS_KEY, {}),
    ],
    ids=["ignored-by-config", "below-min-confidence", "secrets-scanner-off", "allowlisted"],
)
def test_filtered_out_secret_holds_back_the_patch(pr, secret_line, secret, options) -> None:
    head = _module(secret_line, "yaml.load(data)")
    result = security.run(pr({"README": "x"}, {"app.py": head}, **options))
    _assert_held_back(result, secret)


def test_a_clean_file_still_gets_its_patch(pr) -> None:
    head = _module('key = "not-a-secret"', "yaml.load(data)")
    result = security.run(pr({"README": "x"}, {"app.py": head}))
    assert len(result.patches) == 1
    assert "yaml.safe_load(data)" in result.patches[0].files[0].diff
    assert not any("No fix patch" in n for n in result.notes)


def test_no_hold_back_note_where_no_fix_was_on_offer(pr) -> None:
    """The note says a fix was held back: a file whose findings no rule fixes (an ``eval``, an
    md5 of a password) beside a key had it too, about a patch the stage never proposes."""
    head = (
        f'import hashlib\nKEY = "{AWS_KEY}"\n\n\ndef digest(password):\n'
        "    return hashlib.md5(password.encode()).hexdigest()\n\n\ndef run(code):\n    return eval(code)\n"
    )
    result = security.run(pr({"README": "x"}, {"keys.py": head}))
    rules = {f.rule_id for f in result.findings}
    assert {"secret.aws-access-key-id", "shunter.weak-password-hash", "shunter.eval-exec-injection"} <= rules
    assert result.patches == []
    assert not any("No fix patch" in note for note in result.notes), result.notes


def test_reported_secret_beside_a_fix_still_holds_it_back(pr) -> None:
    """The secret is new (reported) and a fix sits in the same file: the note stays."""
    head = _module(f'key = "{AWS_KEY}"', "yaml.load(data)")
    result = security.run(pr({"README": "x"}, {"app.py": head}))
    assert any(f.rule_id.startswith("secret.") for f in result.findings)
    _assert_held_back(result, AWS_KEY)
