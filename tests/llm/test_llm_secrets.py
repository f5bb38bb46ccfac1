"""Secrets in a pull request never reach the LLM provider, and a secret a model writes is
never published: every request the fake server on loopback records is checked, in both
protocols, for review, explain, ask and test generation."""

from __future__ import annotations

import json

from bot.engines.llm.prompt_secrets import mask_secrets
from bot.engines.testgen_changes import ChangedFunction
from bot.engines.testgen_llm import propose
from bot.models import Finding, Severity, StageName
from bot.stages import review_llm

# realistic shapes, made up
AWS_KEY = "AKIAQ7RZ3KX5LMN2PW4T"
GITHUB_TOKEN = "ghp_" + "R8s2Kx9Lm4Qv7Tz1Wb6Nc3Hd5Jf0Pa2Ye8Ug"
KEY_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
KEY_TAIL = "VWjWrz1ZtM+Cq7A0m4k2Qk0gZ7Tq1a3lV0T4bU8Xq1n2sJjQ6y6dN+Vb9rT0yXgL"
PASSWORD = "Zq8#tLm2$wXv9!rKp4"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
SECRETS = (AWS_KEY, GITHUB_TOKEN, KEY_BODY, KEY_TAIL, PASSWORD)

OLD = "import os\n\n\ndef connect():\n    return os.environ.get('HOST')\n"
NEW = f'''import os

AWS_KEY = "{AWS_KEY}"
GITHUB_TOKEN = "{GITHUB_TOKEN}"
PEM = """-----BEGIN RSA PRIVATE KEY-----
{KEY_BODY}
{KEY_TAIL}
-----END RSA PRIVATE KEY-----"""
db_password = "{PASSWORD}"


def connect():
    return os.environ.get('HOST')
'''


def _ctx(context_factory):
    return context_factory(
        {"app/config.py": (OLD, NEW)},
        title="Wire the deploy keys",
        body=f"The AWS key {AWS_KEY} is the staging one.",
    )


def _sent(server) -> str:
    return json.dumps([r.body for r in server.requests])


def _assert_nothing_secret_sent(server) -> None:
    sent = _sent(server)
    for secret in SECRETS:
        assert secret not in sent, secret


def test_the_review_prompt_carries_masks_not_secrets_on_the_same_lines(
    any_server, make_provider, reply, context_factory
):
    any_server.queue(reply.structured({"findings": []}))
    result = review_llm.run(_ctx(context_factory), make_provider(any_server))

    _assert_nothing_secret_sent(any_server)
    sent = _sent(any_server)
    # the diff keeps its head-side line numbers: line 3 is still line 3
    assert '     3 +AWS_KEY = \\"AKIA***\\"' in sent
    assert '     4 +GITHUB_TOKEN = \\"ghp_***\\"' in sent
    assert "     5 +PEM = \\\"\\\"\\\"-----BEGIN RSA PRIVATE KEY-----" in sent
    assert "     6 +***" in sent and "     7 +***" in sent
    assert '     9 +db_password = \\"***\\"' in sent
    assert "The AWS key AKIA*** is the staging one." in sent  # the body's copy too
    # four secrets (the key quoted twice counts once), recorded as a count, never a value
    assert result.metrics["llm_secrets_masked"] == 4
    assert "4 secrets were masked in the text sent to the model" in result.notes[0]
    dumped = result.model_dump_json()
    assert not any(secret in dumped for secret in SECRETS)


def test_a_secret_the_model_writes_is_published_masked(
    openai_server, make_provider, reply, context_factory
):
    finding = {"path": "app/config.py", "severity": "error", "category": "security"}
    openai_server.queue(
        reply.structured(
            {
                "findings": [
                    # a secret-shaped string of the model's own, in the message
                    {**finding, "line": 3, "message": f"Rotate it, e.g. to {STRIPE}."},
                    # a rewrite of the masked line: committing it would commit the mask
                    {**finding, "line": 4, "message": "Read it from the env.",
                     "suggestion": 'GITHUB_TOKEN = "ghp_***"'},
                    # a replacement holding a secret
                    {**finding, "line": 9, "message": "Weak.", "suggestion": f'db_password = "{STRIPE}"'},
                    {**finding, "line": 12, "message": "Fine.", "suggestion": "def connect() -> str:"},
                ]
            }
        )
    )  # fmt: skip
    result = review_llm.run(_ctx(context_factory), make_provider(openai_server))

    first, second, third, fourth = result.findings
    assert first.message == "Rotate it, e.g. to sk_live_***."
    assert second.suggestion is None and second.suggestion_held_back
    assert third.suggestion is None and third.suggestion_held_back
    assert fourth.suggestion == "def connect() -> str:" and not fourth.suggestion_held_back
    assert result.metrics["llm_suggestions_held_back"] == 2
    assert STRIPE not in result.model_dump_json()


def test_explain_masks_the_finding_it_sends_and_the_answer_it_gets(any_server, make_provider, reply):
    finding = Finding(
        stage=StageName.REVIEW,
        rule_id="llm/security",
        severity=Severity.ERROR,
        message=f"Hard-coded key {AWS_KEY}",  # a finding stored before messages were masked
        path="app/config.py",
        start_line=3,
        end_line=3,
    )
    any_server.queue(reply.text(f"Rotate {AWS_KEY} and the token {GITHUB_TOKEN} now."))
    text = review_llm.explain_finding(make_provider(any_server), finding, f'AWS_KEY = "{AWS_KEY}"')

    _assert_nothing_secret_sent(any_server)
    assert "Hard-coded key AKIA***" in _sent(any_server)
    assert text == "Rotate AKIA*** and the token ghp_*** now."


def test_ask_masks_the_question_and_the_answer(openai_server, make_provider, reply, context_factory):
    openai_server.queue(reply.text(f'Line 9 sets `db_password = "{PASSWORD}"`.'))
    answer = review_llm.answer_question(
        make_provider(openai_server), f"Is {GITHUB_TOKEN} still valid?", _ctx(context_factory)
    )
    _assert_nothing_secret_sent(openai_server)
    assert "Is ghp_*** still valid?" in _sent(openai_server)
    assert answer == 'Line 9 sets `db_password = "***"`.'


SOURCE = f'def auth_header():\n    token = "{GITHUB_TOKEN}"\n    return {{"Authorization": "token " + token}}\n'
FN = ChangedFunction(
    path="svc/auth.py", module="svc.auth", qualname="auth_header",
    start_line=1, end_line=3, changed_lines=frozenset({1, 2, 3}),
)  # fmt: skip


def test_test_generation_sends_no_secret_and_keeps_no_test_holding_one(
    openai_server, make_provider, reply
):
    echoed = {
        "name": "test_auth_header",
        "imports": ["from svc.auth import auth_header"],
        "code": f"def test_auth_header():\n    assert auth_header() == {{'Authorization': 'token {GITHUB_TOKEN}'}}\n",
    }
    clean = {
        "name": "test_auth_header_prefix",
        "imports": ["from svc.auth import auth_header"],
        "code": "def test_auth_header_prefix():\n    assert auth_header()['Authorization'].startswith('token ')\n",
    }
    openai_server.queue(reply.structured({"tests": [echoed, clean]}))
    files = {"svc/auth.py": SOURCE.encode()}
    result = propose(
        make_provider(openai_server), [(FN, frozenset({2, 3}))], read=files.get,
        repo_paths=list(files), start=0,
    )  # fmt: skip

    _assert_nothing_secret_sent(openai_server)
    assert '    2      token = \\"ghp_***\\"' in _sent(openai_server)  # still line 2
    assert result.secrets_masked == 1
    first, second = result.candidates
    assert first.verdict == "holds-secret" and GITHUB_TOKEN not in first.source
    assert second.verdict == "pending" and "startswith('token ')" in second.source


def test_masking_keeps_every_line_and_counts_each_secret_once():
    text = f"a\n+KEY = '{AWS_KEY}'\n\nsee {AWS_KEY}\nb"
    masked = mask_secrets(text)
    assert masked.text == "a\n+KEY = 'AKIA***'\n\nsee AKIA***\nb"
    assert masked.count == 1
    assert mask_secrets("no secrets here\n\n").text == "no secrets here\n\n"


def test_a_url_password_with_an_unencoded_at_is_masked_whole():
    """detect-secrets reads ``p`` as the password of ``postgres://app:p@ss...@db`` and drops
    it as too short: the whole password went to the provider."""
    password = "p@" + "ssZq8tLm2vXw9"
    masked = mask_secrets(f'+DATABASE_URL = "postgres://app:{password}@db.internal:5432/app"\n+x = 1')
    assert masked.text == '+DATABASE_URL = "postgres://app:***@db.internal:5432/app"\n+x = 1'
    assert masked.count == 1
