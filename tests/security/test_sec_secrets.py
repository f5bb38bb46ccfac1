"""Secrets: every kind is found and named, no value is ever echoed, redaction works for logs."""

from __future__ import annotations

import json
import logging
import os

import pytest
import structlog

from bot.engines import bandit_scan, redaction, secrets_scan
from bot.models import Severity
from bot.stages import security


def _samples() -> dict[str, tuple[str, str]]:
    """kind id -> (line of code, secret value). Built at run time: no literal keys in git."""
    alnum = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0"
    return {
        "github-token": (f'TOKEN = "{"ghp_" + alnum[:36]}"', "ghp_" + alnum[:36]),
        "github-token-oauth": (f"oauth: {'gho_' + alnum[2:38]}", "gho_" + alnum[2:38]),
        "github-token-server": (f"export GH={'ghs_' + alnum[1:37]}", "ghs_" + alnum[1:37]),
        "github-fine-grained-token": (
            f"pat = '{'github_pat_' + alnum[:22] + '_' + alnum * 2}'",
            "github_pat_" + alnum[:22] + "_" + alnum * 2,
        ),
        "aws-access-key-id": (f"key_id = '{'AKIA' + 'Q3ZXW7RTY5UOPL2K'}'", "AKIA" + "Q3ZXW7RTY5UOPL2K"),
        "aws-secret-access-key": (
            f"aws_secret_access_key = {'Zx9' + alnum[:37]}",
            "Zx9" + alnum[:37],
        ),
        "slack-token": (f'SLACK = "{"xoxb-" + "1234567890-" + alnum[:24]}"', "xoxb-1234567890-" + alnum[:24]),
        "slack-webhook": (
            "hook = 'https://hooks.slack.com/services/" + "T0ABCDEFG/B0ABCDEFG/" + alnum[:24] + "'",
            "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/" + alnum[:24],
        ),
        "stripe-key": (f"stripe.api_key = '{'sk_live_' + alnum[:24]}'", "sk_live_" + alnum[:24]),
        "google-api-key": (f"GOOGLE = '{'AIza' + 'Sy' + alnum[:33]}'", "AIza" + "Sy" + alnum[:33]),
        "generic-secret-assignment": ('db_password = "Tr0ub4dor&3-horse-staple"', "Tr0ub4dor&3-horse-staple"),
    }


PRIVATE_KEY = "\n".join(
    [
        "-----BEGIN " + "RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MbzYLdZ7ZvVy",
        "-----END " + "RSA PRIVATE KEY-----",
    ]
)


def test_each_kind_is_found_named_and_masked() -> None:
    samples = _samples()
    text = "\n".join(line for line, _ in samples.values()) + "\n" + PRIVATE_KEY + "\n"
    report = secrets_scan.scan_secrets({"config/settings.env": text}, detect_secrets=False)
    by_line = {f.start_line: f for f in report.findings}
    for n, (kind, (_, value)) in enumerate(samples.items(), start=1):
        finding = by_line.get(n)
        assert finding is not None, kind
        expected_rule = "secret." + kind.split("-oauth")[0].split("-server")[0]
        assert finding.rule_id == expected_rule
        assert value not in finding.message and value[6:] not in finding.message
        assert f"config/settings.env:{n}" in finding.message
        assert finding.cwe == 798 and finding.suggestion is None
        assert "rotate" in finding.message
    key_line = len(samples) + 1
    assert by_line[key_line].rule_id == "secret.private-key"
    assert "MIIEow" not in json.dumps([f.model_dump() for f in report.findings])


def test_detect_secrets_adds_what_the_own_patterns_miss() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    text = f"url = 'https://admin:{'S3cr3tPassw0rd'}@db.internal/app'\nheaders = {{'Authorization': 'Bearer {jwt}'}}\n"
    report = secrets_scan.scan_secrets({"app/db.py": text})
    kinds = {f.rule_id for f in report.findings}
    assert "secret.ds-basic-auth-credentials" in kinds
    assert "secret.ds-json-web-token" in kinds
    dump = json.dumps([f.model_dump() for f in report.findings])
    assert "S3cr3tPassw0rd" not in dump and jwt not in dump


def test_only_lines_restricts_the_scan() -> None:
    line, _ = _samples()["github-token"]
    report = secrets_scan.scan_secrets({"a.py": f"{line}\nx = 1\n{line}\n"}, {"a.py": frozenset({3})})
    assert [f.start_line for f in report.findings] == [3]


def test_placeholders_and_env_lookups_are_not_secrets() -> None:
    text = 'password = "xxxxxxxxxxxxxxxx"\napi_key = "${API_KEY_FROM_ENV}"\npassword = os.environ["PW"]\n'
    report = secrets_scan.scan_secrets({"a.py": text}, detect_secrets=False)
    assert report.findings == []


def test_mask_keeps_only_a_short_prefix() -> None:
    assert redaction.mask("ghp_" + "x" * 36, keep=4) == "ghp_***"
    assert redaction.mask("ghp_" + "x" * 36) == "***"  # no prefix unless the caller knows one
    assert redaction.mask("abc") == "***"
    assert redaction.mask("abcdefghijkl", keep=8) == "abcd***"


# what a finding shows of each kind: its well-known prefix at most, none of the random part
SHOWN = {
    "github-token": "ghp_***",
    "github-token-oauth": "gho_***",
    "github-token-server": "ghs_***",
    "github-fine-grained-token": "github_pat_***",
    "aws-access-key-id": "AKIA***",
    "aws-secret-access-key": "***",
    "slack-token": "xoxb-***",
    "slack-webhook": "https://hooks.slack.com/s***",  # a third of the URL at most
    "stripe-key": "sk_live_***",
    "google-api-key": "AIza***",
    "generic-secret-assignment": "***",
}


def test_a_finding_and_redact_show_a_kinds_public_prefix_and_nothing_of_the_secret() -> None:
    samples = _samples()
    text = "\n".join(line for line, _ in samples.values()) + "\n"
    report = secrets_scan.scan_secrets({"settings.env": text}, detect_secrets=False)
    by_line = {f.start_line: f for f in report.findings}
    for n, (kind, (line, _)) in enumerate(samples.items(), start=1):
        assert f"(`{SHOWN[kind]}`)" in by_line[n].message, kind
        assert SHOWN[kind] in redaction.redact(line), kind
    hex_key = "b3f1c9a7e25d4f8c0a6e9d2b7c4f1a8e3d6b9c2f5a8e1d4b7c0f3a6e9d2b5c8f"
    [hit] = secrets_scan.scan_secrets({"a.py": f'salt = "{hex_key}"\n'}).findings
    assert hit.engine == "secrets" and hit.rule_id.startswith("secret.ds-")
    assert "(`***`)" in hit.message and "b3f1" not in hit.message
    assert bandit_scan._message("B105", "Possible hardcoded password: 'hunter2hunter2'").endswith("'***'")


def test_fingerprints_are_those_computed_while_four_characters_were_shown() -> None:
    """Dismissals and the inline comments posted once are keyed on these: the values are
    what the code computed when a password showed as `Zq8#***` and a hex key as `b3f1***`."""
    hex_key = "b3f1c9a7e25d4f8c0a6e9d2b7c4f1a8e3d6b9c2f5a8e1d4b7c0f3a6e9d2b5c8f"
    text = (
        f'salt = "{hex_key}"\npassword = "Zq8#tLm2$wXv9!rKp4"\n'
        f'AWS_ACCESS_KEY_ID = "{"AKIA" + "Q7RZ3KX5LMN2PW4T"}"\n'
        f'aws_secret_access_key = "{"wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzEXAMPLEKQ"}"\n'
    )
    report = secrets_scan.scan_secrets({"app.py": text})
    assert {f.rule_id: f.fingerprint for f in report.findings} == {
        "secret.ds-hex-high-entropy-string": "ac7fe89af6c61d29",
        "secret.generic-secret-assignment": "95c7f21ab706fbcc",
        "secret.aws-access-key-id": "69d7c4208730f93e",
        "secret.aws-secret-access-key": "bd9b44d0e9702203",
    }


def test_redact_masks_every_kind_in_free_text() -> None:
    samples = _samples()
    text = "log: " + " | ".join(line for line, _ in samples.values()) + "\n" + PRIVATE_KEY
    cleaned = redaction.redact(text)
    for kind, (_, value) in samples.items():
        assert value not in cleaned, kind
    assert "MIIEow" not in cleaned and "[redacted]" in cleaned
    assert redaction.redact("nothing to see") == "nothing to see"


def test_logging_filter_and_structlog_processor_redact(caplog: pytest.LogCaptureFixture) -> None:
    value = _samples()["github-token"][1]
    logger = logging.getLogger("shunter.test.redaction")
    logger.addFilter(redaction.RedactingFilter())
    with caplog.at_level(logging.INFO, logger="shunter.test.redaction"):
        logger.info("pushing with token %s", value)
    assert value not in caplog.text and "ghp_***" in caplog.text
    event = redaction.structlog_processor(None, "info", {"event": "x", "ctx": {"t": [value]}})
    assert value not in json.dumps(event)
    rendered = structlog.processors.JSONRenderer()(None, "info", dict(event))
    assert value not in rendered


def test_detect_secrets_logger_never_prints_values(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        secrets_scan.scan_secrets({"a.py": 'password = "Tr0ub4dor&3-horse-staple"\n'})
    assert "Tr0ub4dor&3-horse-staple" not in caplog.text


def test_entropy_only_hits_are_notices_named_kinds_are_errors() -> None:
    digest = "0a4d55a8d778e5022fab701977c5d840bbc486d0"
    line, _ = _samples()["github-token"]
    report = secrets_scan.scan_secrets({"t.py": f'etag = "{digest}"\n{line}\n'})
    by_line = {f.start_line: f for f in report.findings}
    assert by_line[1].rule_id == "secret.ds-hex-high-entropy-string"
    assert by_line[1].severity.value == "notice" and by_line[1].confidence == "low"
    assert by_line[2].severity.value == "error" and by_line[2].confidence == "high"


def test_documentation_placeholders_are_not_generic_secrets() -> None:
    text = 'api_key = "YOUR_API_KEY_HERE"\ntoken = "example-token-1234567"\n'
    assert secrets_scan.scan_secrets({"README.md": text}, detect_secrets=False).findings == []


ODD_NAMES = (
    "new\nline.py",
    "a b/c d.py",
    "tab\there.py",
    'quo"te.py',
    "back\\slash.py",
    os.fsdecode(b"not-utf8-\xff.py"),
    "-leading-dash.py",
)


def test_secrets_in_files_with_odd_names_are_still_found(pr) -> None:
    """Git allows newlines, spaces, tabs, quotes... in names; detect-secrets must scan them."""
    jwt = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    text = f"headers = {{'Authorization': 'Bearer {jwt}'}}\n"
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **dict.fromkeys(ODD_NAMES, text)}))
    assert not [n for n in result.notes if "detect-secrets" in n]
    found = {f.path for f in result.findings if f.rule_id == "secret.ds-json-web-token"}
    assert found == set(ODD_NAMES)
    assert jwt not in json.dumps([f.model_dump() for f in result.findings])


@pytest.mark.parametrize("prefix", ["f", "F", "rf", "Rb", "b", "r", "u", "t", ""])
def test_a_password_in_a_prefixed_string_is_found(prefix: str) -> None:
    """`password = f"..."` was missed: the pattern allowed only a `b`, `r` or `u` prefix."""
    line = f'password = {prefix}"Zq8#tLm2$wXv9!rKp4"'
    [finding] = secrets_scan.scan_secrets({"app.py": line + "\n"}, detect_secrets=False).findings
    assert finding.rule_id == "secret.generic-secret-assignment" and "(`***`)" in finding.message
    assert "Zq8#" not in redaction.redact(line)


def test_an_f_strings_fields_are_code_not_a_secret() -> None:
    text = 'token = f"{settings.api_token}"\napi_key = f"{base_url}/{path}"\npassword = f"{user}:Zq8#tLm2$wXv9!rKp4"\n'
    report = secrets_scan.scan_secrets({"app.py": text}, detect_secrets=False)
    assert [f.start_line for f in report.findings] == [3]


def test_paths_holding_secrets_says_what_holds_secret_says_file_by_file() -> None:
    """The review's fix patch asks about all its files at once (one detect-secrets setup);
    the answer for each file is the one-file answer: a key Shunter's own patterns find, a
    credential only detect-secrets finds, nothing, an empty text."""
    samples = _samples()
    texts = {
        "own.py": f"+x = 1\n+{samples['aws-access-key-id'][0]}\n",
        "ds_only.py": "+url = 'https://admin:" + "S3cr3tPassw0rd" + "@db.internal/app'\n",
        "clean.py": "+import sys\n+print(sys.argv)\n",
        "empty.py": "",
    }
    one_by_one = {path for path, text in texts.items() if secrets_scan.holds_secret(path, [text])}
    assert one_by_one == {"own.py", "ds_only.py"}
    assert secrets_scan.paths_holding_secrets(texts) == one_by_one
    assert secrets_scan.paths_holding_secrets({}) == set()


SETTINGS_CLASS = """\
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    POSTGRES_USER: str = "postgres"
    JWT_SECRET_KEY: str = "Qm7vTz2pLx9wRk4sNd8fHc3bJy6gVa1e"
    SECRET_KEY: str = "change-me-in-production"
    JWT_ALGORITHM: str = "HS256"
"""  # the shape of FastAPI projects' pydantic settings (the value here is made up)


def test_an_annotated_secret_in_a_settings_class_fails_the_check(pr) -> None:
    """``JWT_SECRET_KEY: str = "..."`` was only an entropy notice: the annotation between the
    name and the "=" hid it from the keyword patterns (bandit's B105 skips it too)."""
    result = security.run(pr({"README.md": "x\n"}, {"app/core/config.py": SETTINGS_CLASS}))
    found = [(f.start_line, f.rule_id, f.severity) for f in result.findings if f.engine == "secrets"]
    assert found == [(6, "secret.generic-secret-assignment", Severity.WARNING)]  # change-me is a placeholder
    assert result.metrics["conclusion"] == "failure"
    assert not any("Qm7v" in text for text in [result.summary, *(f.message for f in result.findings)])


@pytest.mark.parametrize(
    ("line", "password"),
    [
        ("Redis at redis://:hunter2@redis.internal:6379/0 refused", "hunter2"),  # no user, a plain word
        ("postgresql://shunter:p@ss@db.internal/shunter is down", "p@ss"),  # an unencoded "@"
        ("fetch from https://x-access-token:ghs_16C7e42F292c6912E7710c838347Ae178B4a@h/o/r.git", "ghs_16C7"),
    ],
)
def test_a_urls_password_is_masked_in_logs_however_plain(
    caplog: pytest.LogCaptureFixture, line: str, password: str
) -> None:
    """A DSN in an error message names a real credential even when it is short or plain,
    which the secret shapes let pass: the log filter masked none of the first two."""
    logger = logging.getLogger("shunter.test.redaction.urls")
    logger.addFilter(redaction.RedactingFilter())
    with caplog.at_level(logging.INFO, logger="shunter.test.redaction.urls"):
        logger.info("%s", line)
    assert password not in caplog.text and ":***@" in caplog.text
    assert password not in json.dumps(redaction.structlog_processor(None, "info", {"event": line}))
    assert redaction.redact("see https://github.com/o/r, git@github.com:o/r.git, https://user@h/x") == (
        "see https://github.com/o/r, git@github.com:o/r.git, https://user@h/x"
    )
