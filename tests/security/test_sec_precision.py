"""Precision: what maintainers of real projects dismiss as noise is not reported (or does not
fail the check), while the true findings beside it still are. Each case comes from running
the stage over consecutive releases of requests, flask, httpx and werkzeug."""

from __future__ import annotations

import pytest

from bot.engines import secrets_scan
from bot.engines.secret_placeholders import example_reason
from bot.models import Severity
from bot.stages import security


def _reported(result):
    return [f for f in result.findings if not f.suppressed]


TEST_CODE = """\
import pickle


def test_cached_session(cache_dir):
    data = pickle.loads((cache_dir / "session.pickle").read_bytes())
    assert data == 1
"""

APP_CODE = """\
def check(x):
    assert x > 0
    return x
"""


def test_asserts_in_test_files_are_not_reported_by_default(pr) -> None:
    """bandit's B101 flagged every assert in tests/ (61 notices on one Shunter PR)."""
    head = {"tests/test_codec.py": TEST_CODE, "pkg/conftest.py": "def f():\n    assert 1\n", "app.py": APP_CODE}
    result = security.run(pr({"README.md": "x\n"}, head))
    reported = {(f.rule_id, f.path) for f in _reported(result)}
    assert ("B101", "app.py") in reported  # production asserts vanish under python -O
    assert not any(rid == "B101" and path != "app.py" for rid, path in reported)
    # the rest of bandit and Shunter's rules still look at tests
    assert ("shunter.unsafe-deserialisation", "tests/test_codec.py") in reported
    assert result.metrics["ignored_in_tests"] == 2
    assert "2 in test files not reported (`ignore_rules_in_tests`)" in result.summary


def test_ignore_rules_in_tests_can_be_emptied_or_extended(pr) -> None:
    head = {"tests/test_codec.py": TEST_CODE}
    everywhere = security.run(pr({"README.md": "x\n"}, head, ignore_rules_in_tests=[]))
    assert {f.rule_id for f in _reported(everywhere)} >= {"B101", "shunter.unsafe-deserialisation"}
    assert everywhere.metrics["ignored_in_tests"] == 0
    more = security.run(pr({"README.md": "x\n"}, head, ignore_rules_in_tests=["B101", "B301", "B403"]))
    # B301 is the alias of Shunter's pickle rule: ignoring it ignores the rule too
    assert _reported(more) == [] and more.metrics["ignored_in_tests"] == 3


# (line, why it is an example) from Shunter, flask, requests and httpx
EXAMPLES = [
    ('    "holds-secret": "held a secret",', "prose"),  # Shunter: a dict of wording
    ('app.secret_key = "new test key"', "prose"),  # flask's tests
    ('    assert \'`api_key = "sk_live_***"`\' in reply', "masked"),  # Shunter's redaction tests
    ('    "password": "pass",', "placeholder"),  # httpx's whatwg.json
    ("When proxies are defined with user info (`https://user:pass@proxy:8080`)", "placeholder"),
    ('assert str(new) == "https://tom%40example.org:abc123%40%20%@example.org"', "example host"),
]
REAL = [
    'DB_URL = "postgres://admin:S3cr3tPassw0rd@db.internal/app"',
    'password = "hunter2hunter2"',
    '"password": "Zq8#tLm2$wXv9!rKp4",',
]


def test_examples_are_notices_and_real_credentials_still_fail(pr) -> None:
    """`"holds-secret": "held a secret"` failed Shunter's own PR as a warning; prose, masks,
    placeholder words and example hosts are notices now, and real-looking values are not."""
    lines = [line for line, _ in EXAMPLES] + REAL
    result = security.run(pr({"README.md": "x\n"}, {"conf/settings.py": "\n".join(lines) + "\n"}))
    by_line = {f.start_line: f for f in _reported(result) if f.engine == "secrets"}
    assert sorted(by_line) == list(range(1, len(lines) + 1))  # every hit is still reported
    for n in range(1, len(EXAMPLES) + 1):
        assert (by_line[n].severity, by_line[n].confidence) == (Severity.NOTICE, "low"), EXAMPLES[n - 1]
    for n in range(len(EXAMPLES) + 1, len(lines) + 1):
        assert by_line[n].severity is Severity.WARNING, lines[n - 1]
    assert result.metrics["failing"] == len(REAL)


def test_a_file_of_examples_alone_passes_the_check(pr) -> None:
    lines = [line for line, _ in EXAMPLES]
    result = security.run(pr({"README.md": "x\n"}, {"conf/wording.py": "\n".join(lines) + "\n"}))
    assert len(_reported(result)) == len(EXAMPLES)
    assert result.metrics["conclusion"] == "success"


@pytest.mark.parametrize(("line", "why"), EXAMPLES)
def test_each_example_says_why(line: str, why: str) -> None:
    [(n, value)] = secrets_scan.detected_values("a.py", line) or []
    kind = "Basic Auth Credentials" if "://" in line else "Secret Keyword"
    assert example_reason(kind, value or "", line) == why
    assert example_reason("AWS Access Key", value or "", line) is None  # vendor formats never


BANDIT_MISFIRES = """\
import requests

DEFAULTS = {
    "SECRET_KEY": None,
    "PASSWORD_RESET_DAYS": 3,
    "TOKEN_CHECK": False,
}


def status_codes():
    return requests.codes.get("TOO_EARLY"), requests.codes.get("unordered")
"""

BANDIT_TRUE = """\
import requests

DEFAULTS = {"SECRET_KEY": "dev", "PASSWORD": None}


def fetch(url):
    return requests.get(url), requests.api.post(url)
"""


def test_bandit_misfires_on_status_codes_and_none_values_are_dropped(pr) -> None:
    """requests 2.32.0's `requests.codes.get("TOO_EARLY")` was six B113 warnings (failing the
    check) and flask 3.1.0's `"SECRET_KEY_FALLBACKS": None` a B105 'hard-coded password'."""
    result = security.run(pr({"README.md": "x\n"}, {"app/misfires.py": BANDIT_MISFIRES, "app/real.py": BANDIT_TRUE}))
    found = {(f.path, f.rule_id, f.start_line) for f in _reported(result)}
    assert not {f for f in found if f[0] == "app/misfires.py"}
    # the real ones beside them stay: a request without timeout, a string under a secret key
    assert ("app/real.py", "B113", 7) in found
    # (bandit's B105 there is folded into the secrets engine's finding of the same line)
    assert {("B105", 3), ("secret.ds-secret-keyword", 3)} & {(r, n) for path, r, n in found if path == "app/real.py"}
    assert result.metrics["conclusion"] == "failure"


# Sphinx 7.3's tests/test_config/test_config.py round-trips its Config through pickle
SPHINX_ROUND_TRIP = """\
import pickle

import pytest


@pytest.mark.parametrize('protocol', list(range(pickle.HIGHEST_PROTOCOL)))
def test_config_pickle_protocol(tmp_path, protocol: int):
    config = Config()

    pickled_config = pickle.loads(pickle.dumps(config, protocol))

    assert list(config._options) == list(pickled_config._options)
"""


def test_a_pickle_round_trip_is_not_unsafe_deserialisation(pr) -> None:
    """Sphinx 7.3's three pickle.loads(pickle.dumps(config)) failed the check as 'Unsafe
    deserialisation' (errors): the line loads what it just made, never outside data."""
    head = {"tests/test_config/test_config.py": SPHINX_ROUND_TRIP, "tests/test_codec.py": TEST_CODE}
    result = security.run(pr({"README.md": "x\n"}, head))
    found = {(f.path, f.rule_id, f.start_line) for f in _reported(result)}
    assert not {f for f in found if f[0] == "tests/test_config/test_config.py" and f[1] != "B403"}
    assert ("tests/test_codec.py", "shunter.unsafe-deserialisation", 5) in found  # a cached file's bytes


# Lines only Shunter's own keyword pattern (``token... = "..."``) flagged, failing the check
SPHINX_TYPING = """\
_INVALID_BUILTIN_CLASSES = {
    Context: 'contextvars.Context',  # Context.__module__ == '_contextvars'
    Token: 'contextvars.Token',  # Token.__module__ == '_contextvars'
}
"""  # sphinx 7.3, sphinx/util/typing.py
OAUTH_EXAMPLE = """\
authorization_base_url = "https://OAUTH_IDP_DOMAIN/authorize"
token_url = "https://OAUTH_IDP_DOMAIN/oauth/token"
"""  # requests-oauthlib 2.0, docs/examples/native_spa_pkce_auth0.py
STILL_SECRETS = """\
auth_token = "https://api.corp.io/v1/hook?token=Zq8tLm2wXv9rKp4"
webhook_token = "https://discord.com/api/webhooks/1234567890/aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7pQ9rS1tU3vW5xY7zA9"
password = "Summer.Autumn2024"
"""


@pytest.mark.parametrize(
    ("path", "text", "line", "why"),
    [
        ("sphinx/util/typing.py", SPHINX_TYPING, 3, "a Python name"),
        ("docs/examples/native_spa_pkce_auth0.py", OAUTH_EXAMPLE, 2, "an address with no credential"),
    ],
)
def test_a_type_name_or_a_plain_url_under_a_keyword_is_a_notice_that_says_why(
    pr, path, text, line, why
) -> None:
    """Sphinx 7.3's map of classes to their module failed the check as a hard-coded
    credential, and so did an OAuth example's token endpoint; both are listed as notices
    now, with why they do not fail it."""
    result = security.run(pr({"README.md": "x\n"}, {path: text}))
    [finding] = [f for f in _reported(result) if f.engine == "secrets"]
    assert (finding.start_line, finding.severity, finding.confidence) == (line, Severity.NOTICE, "low")
    assert f"low confidence: the value looks like {why}" in finding.message
    assert result.metrics["conclusion"] == "success"


def test_urls_carrying_a_token_and_dotted_passwords_still_fail(pr) -> None:
    result = security.run(pr({"README.md": "x\n"}, {"conf/settings.py": STILL_SECRETS}))
    by_line = {f.start_line: f for f in _reported(result) if f.engine == "secrets"}
    assert sorted(by_line) == [1, 2, 3]
    assert all(f.severity is Severity.WARNING and "low confidence" not in f.message for f in by_line.values())
    assert result.metrics["conclusion"] == "failure"


CELERY_DAEMON_CONFIG = """\
# Test config for t/unit/bin/test_deamonization.py

beat_pidfile = "/tmp/beat.test.pid"
beat_logfile = "/tmp/beat.test.log"
"""  # celery 5.4, t/unit/bin/proj/daemon_config.py (celery's tests live in t/)
APP_TMP = 'PIDFILE = "/tmp/app.pid"\n'


def test_fixed_tmp_paths_in_a_test_tree_named_t_do_not_fail_the_check(pr) -> None:
    """celery 5.4 failed the check on six B108 warnings in its test config; its t/ folder is
    a test tree and a test's /tmp path is left out (and counted), while an application's
    fixed /tmp path is still a warning."""
    head = {"t/unit/bin/proj/daemon_config.py": CELERY_DAEMON_CONFIG, "celery/app.py": APP_TMP}
    result = security.run(pr({"README.md": "x\n"}, head))
    assert [(f.path, f.rule_id, f.severity) for f in _reported(result)] == [
        ("celery/app.py", "B108", Severity.WARNING)
    ]
    assert result.metrics["ignored_in_tests"] == 2
    everywhere = security.run(pr({"README.md": "x\n"}, head, ignore_rules_in_tests=[]))
    assert sum(f.rule_id == "B108" for f in _reported(everywhere)) == 3


DJANGO_HASHER_TEST = """\
        cases = [
            (None, None, None),  # no plain text password provided
            ("foo", make_password(password=None), None),  # unusable encoded
            ("letmein", make_password(password="letmein"), ValueError),  # valid encoded
        ]
"""  # django 5.0.7, tests/auth_tests/test_hashers.py


def test_a_well_known_dummy_password_fails_in_code_but_not_in_a_test(pr) -> None:
    """django 5.0.7's hasher test failed the check on make_password(password="letmein"); in a
    test file it is a notice that says why, and the same line in application code still fails."""
    head = {"tests/auth_tests/test_hashers.py": DJANGO_HASHER_TEST, "app/accounts.py": DJANGO_HASHER_TEST}
    result = security.run(pr({"README.md": "x\n"}, head))
    found = {f.path: f for f in _reported(result) if f.engine == "secrets"}
    assert sorted(found) == ["app/accounts.py", "tests/auth_tests/test_hashers.py"]
    in_test = found["tests/auth_tests/test_hashers.py"]
    assert (in_test.start_line, in_test.severity) == (4, Severity.NOTICE)
    assert "a well-known dummy password in a test file" in in_test.message
    assert found["app/accounts.py"].severity is Severity.WARNING
    assert result.metrics["failing"] == 1


OAUTHLIB_TEST = """\
    def test_parse_token_response_invalid_expires_at(self):
        token_json = ('{   "access_token":"2YotnFZFEjr1zCsicMWpAA",'
                      '    "token_type":"example",'
                      '    "expires_at":"2006-01-02T15:04:05Z",'
                      '    "scope":"/profile",'
                      '    "example_parameter":"example_value"}')
        token = {
            "access_token": "2YotnFZFEjr1zCsicMWpAA",
"""  # oauthlib 3.2.0, tests/oauth2/rfc6749/clients/test_base.py
AWS_DOCS = """\
[default]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
"""  # the credentials file of AWS's documentation, as botocore's docs and tests copy it
MADE_UP_KEY = 'aws_access_key_id = "AKIAQYLPMN5HHHFPZAM2"\n'


def test_values_published_as_examples_are_notices_that_name_where(pr) -> None:
    """oauthlib 3.2.0 failed the check on RFC 6749's example access token; it and AWS's
    documented example keys are notices naming their source, and any other key still fails."""
    head = {
        "tests/oauth2/rfc6749/clients/test_base.py": OAUTHLIB_TEST,
        "docs/credentials.ini": AWS_DOCS,
        "tests/test_credentials.py": MADE_UP_KEY,
    }
    result = security.run(pr({"README.md": "x\n"}, head))
    found = {(f.path, f.start_line): f for f in _reported(result) if f.engine == "secrets"}
    examples = {key: f for key, f in found.items() if f.severity is Severity.NOTICE}
    assert sorted(examples) == [
        ("docs/credentials.ini", 2),
        ("docs/credentials.ini", 3),
        ("tests/oauth2/rfc6749/clients/test_base.py", 2),
        ("tests/oauth2/rfc6749/clients/test_base.py", 8),
    ]
    assert "an example published in RFC 6749" in examples["tests/oauth2/rfc6749/clients/test_base.py", 2].message
    assert "an example published in AWS's documentation" in examples["docs/credentials.ini", 2].message
    assert found["tests/test_credentials.py", 1].severity is Severity.ERROR
    assert result.metrics["failing"] == 1


AUTHLIB_INTROSPECTION = """\
def introspect(token):
    return {
        'active': True,
        'token_type': 'Bearer',
    }
"""  # authlib 1.3.0, authlib/oauth2/rfc9068/introspection.py
KEYRING_KWALLET_TEST = """\
def check(ret_password):
    assert ret_password == ""
"""  # keyring 25.0, tests/backends/test_kwallet.py
STRING_PASSWORDS = """\
TOKEN = {'token_type': 'Zq8tLm2wXv'}
def check(password):
    return password == "Zq8tLm2wXv"
"""


def test_bandit_b105_on_a_token_type_or_an_empty_string_is_dropped(pr) -> None:
    """authlib 1.3.0's ``'token_type': 'Bearer'`` and keyring 25.0's ``ret_password == ""``
    were B105 'hard-coded password' notices; a real string under or against such a name stays."""
    head = {
        "authlib/introspection.py": AUTHLIB_INTROSPECTION,
        "tests/test_kwallet.py": KEYRING_KWALLET_TEST,
        "app/real.py": STRING_PASSWORDS,
    }
    result = security.run(pr({"README.md": "x\n"}, head, ignore_rules_in_tests=[]))
    # (a B105 is folded into the secrets engine's finding where both name a line)
    passwords = {(f.path, f.start_line) for f in _reported(result) if f.rule_id == "B105" or f.engine == "secrets"}
    assert sorted(passwords) == [("app/real.py", 1), ("app/real.py", 3)]


OAUTHLIB_DEVICE_TEST = """\
class DeviceClientTest(TestCase):

    client_id = "someclientid"
    client_secret = "asecret"
"""  # oauthlib 3.2.0, tests/oauth2/rfc8628/clients/test_device.py


def test_a_placeholder_word_after_an_article_is_a_notice(pr) -> None:
    """oauthlib 3.2.0's device-flow test failed the check on client_secret = "asecret"."""
    result = security.run(pr({"README.md": "x\n"}, {"tests/oauth2/test_device.py": OAUTHLIB_DEVICE_TEST}))
    [finding] = [f for f in _reported(result) if f.engine == "secrets"]
    assert (finding.start_line, finding.severity) == (4, Severity.NOTICE)
    assert "a placeholder word" in finding.message
    assert result.metrics["conclusion"] == "success"


OAUTHLIB_LEGACY_TEST = """\
class LegacyApplicationClientTest(TestCase):

    client_id = "someclientid"
    client_secret = 'someclientsecret'
    scope = ["/profile"]

    username = "user_username"
    password = "user_password"
"""  # oauthlib 3.2.0, tests/oauth2/rfc6749/clients/test_legacy_application.py
AUTHLIB_DOCSTRING = """\
        session = OAuth2Session(
            'your-client-id', 'your-client-private-key',
            token_endpoint_auth_method='private_key_jwt'
        )
"""  # authlib 1.3.0, authlib/oauth2/rfc7523/auth.py (a docstring's example)


def test_names_under_a_keyword_are_notices_and_real_values_beside_them_fail(pr) -> None:
    """oauthlib's and authlib's parameter names under a credential's keyword failed the
    check; they are notices saying they are names, and real-looking values still fail."""
    head = {
        "tests/oauth2/rfc6749/clients/test_legacy_application.py": OAUTHLIB_LEGACY_TEST,
        "authlib/oauth2/rfc7523/auth.py": AUTHLIB_DOCSTRING,
        "conf/settings.py": "\n".join(REAL) + "\n",
    }
    result = security.run(pr({"README.md": "x\n"}, head))
    found = {(f.path, f.start_line): f for f in _reported(result) if f.engine == "secrets"}
    names = [key for key, f in found.items() if "a name (of a field" in f.message]
    assert sorted(names) == [
        ("authlib/oauth2/rfc7523/auth.py", 3),
        ("tests/oauth2/rfc6749/clients/test_legacy_application.py", 4),
        ("tests/oauth2/rfc6749/clients/test_legacy_application.py", 8),
    ]
    assert all(found[key].severity is Severity.NOTICE for key in names)
    assert result.metrics["failing"] == len(REAL)


UA_CLIENT_CONTRACT = '''\
def request_updated_contract(
    cfg, contract_token: "Optional[str]" = None, allow_enable=False
):
    """Request contract refresh from ua-contracts service."""
'''  # ubuntu-advantage-client, uaclient/contract.py


def test_a_string_annotation_of_a_token_parameter_is_a_notice(pr) -> None:
    """A forward-reference annotation, ``contract_token: "Optional[str]"``, failed the check
    as a hard-coded credential; a password with brackets in it still fails."""
    head = {"uaclient/contract.py": UA_CLIENT_CONTRACT, "conf/settings.py": 'password = "Abcdefgh[1234]"\n'}
    result = security.run(pr({"README.md": "x\n"}, head))
    found = {f.path: f for f in _reported(result) if f.engine == "secrets"}
    assert (found["uaclient/contract.py"].start_line, found["uaclient/contract.py"].severity) == (2, Severity.NOTICE)
    assert "a type (a string annotation)" in found["uaclient/contract.py"].message
    assert found["conf/settings.py"].severity is Severity.WARNING
    assert result.metrics["failing"] == 1


AUTHLIB_RFC5849_DOCSTRING = '''\
    def create_token_credential(self, request):
        """
            Authorization: OAuth realm="Photos",
                oauth_consumer_key="dpf43f3p2l4k3l03",
                oauth_token="hh5s93j4hdidpola",
                oauth_signature_method="HMAC-SHA1",
        """
'''  # authlib 1.3.0, authlib/oauth1/rfc5849/authorization_server.py


def test_rfc_5849_example_token_in_a_docstring_is_a_notice(pr) -> None:
    """authlib's docstring quoting RFC 5849's token request was a hard-coded credential."""
    path = "authlib/oauth1/rfc5849/authorization_server.py"
    result = security.run(pr({"README.md": "x\n"}, {path: AUTHLIB_RFC5849_DOCSTRING}))
    [finding] = [f for f in _reported(result) if f.engine == "secrets"]
    assert (finding.start_line, finding.severity) == (5, Severity.NOTICE)
    assert "an example published in RFC 5849" in finding.message


SQLALCHEMY_ROUND_TRIP = '''\
import pickle


class PickleTest:
    def test_bulk_save_objects_defaults_pickle(self):
        "Test for #11332"
        users = self.tables.users

        self.mapper_registry.map_imperatively(User, users)
        pes = [User(name=f"foo{i}") for i in range(3)]
        s = fixture_session()
        s.bulk_save_objects(pes, return_defaults=True)
        state = pickle.dumps(pes)
        pickle.loads(state)

    def test_loads_a_parameter(self, state):
        state = pickle.dumps(state) if state else state
        pickle.loads(state)

    def test_loads_a_loop_variable(self, blobs):
        state = pickle.dumps(blobs)
        for state in blobs:
            pickle.loads(state)
'''  # SQLAlchemy 2.0.30, test/orm/test_pickled.py (the first test)


def test_a_pickle_round_trip_through_a_local_name_is_not_unsafe_deserialisation(pr) -> None:
    """SQLAlchemy 2.0.30's ``state = pickle.dumps(pes)``, ``pickle.loads(state)`` failed the
    check as an error; a name that a parameter or a loop may also bind is still reported."""
    result = security.run(pr({"README.md": "x\n"}, {"test/orm/test_pickled.py": SQLALCHEMY_ROUND_TRIP}))
    loads = sorted(
        (f.rule_id, f.start_line) for f in _reported(result) if f.rule_id in ("shunter.unsafe-deserialisation", "B301")
    )
    assert loads == [("shunter.unsafe-deserialisation", 18), ("shunter.unsafe-deserialisation", 23)]


GO_TEST = """\
func TestCheckPasswordHash(t *testing.T) {
\tpassword := "password123"
\tcorrectHash, _ := HashPassword(password)
}
"""
JEST_TEST = """\
it('accepts the right password', async () => {
  const password = "letmein";
  expect(await login('admin', password)).toBe(true);
});
"""


def test_a_dummy_password_in_a_go_or_javascript_test_is_no_failure(pr) -> None:
    """A Go ``auth_test.go``, a Jest ``__tests__/login.test.ts`` and a ``login.spec.js``
    failed the check on the dummy passwords ``test/login.test.js`` only got a notice for:
    their tests were not known as tests. Application code still fails."""
    head = {
        "pkg/auth/auth_test.go": GO_TEST,
        "src/__tests__/login.test.ts": JEST_TEST,
        "src/login.spec.js": JEST_TEST,
        "pkg/auth/auth.go": GO_TEST,
        "src/login.ts": JEST_TEST,
    }
    result = security.run(pr({"README.md": "x\n"}, head))
    found = {f.path: f.severity for f in _reported(result) if f.engine == "secrets"}
    assert found == {
        "pkg/auth/auth_test.go": Severity.NOTICE,
        "src/__tests__/login.test.ts": Severity.NOTICE,
        "src/login.spec.js": Severity.NOTICE,
        "pkg/auth/auth.go": Severity.WARNING,
        "src/login.ts": Severity.WARNING,
    }
