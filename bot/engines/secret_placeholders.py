"""Why a keyword or URL-credential hit of detect-secrets looks like an example, not a secret.

detect-secrets' keyword and basic-auth detectors match the *shape* ``password = "..."`` or
``scheme://user:pass@host`` whatever the value; its heuristic filters (templates, ``$VAR``,
indirect references, UUIDs, sequences, lock files...) already run in Shunter's scan, but none
of them knows these, which real projects are full of:

- prose: ``"holds-secret": "held a secret"`` (a dictionary of wording), ``app.secret_key =
  "new test key"``;
- a masked value: ``api_key = "sk_live_***"`` (what a redactor writes);
- a placeholder word: ``"password": "pass"``, ``https://user:pass@proxy:8080`` in docs,
  ``client_secret = "asecret"``;
- credentials for a host reserved for examples (RFC 2606/6761): ``user:pw@example.org``,
  ``localhost``, ``*.test``, ``*.invalid``;
- a type in a string annotation: ``contract_token: "Optional[str]" = None``
  (ubuntu-advantage-client), ``token: "Optional[contextvars.Token]" = None``;
- a Python name, where a keyword names a type: ``Token: 'contextvars.Token'`` (sphinx's
  map of classes to their true module), ``TOKEN_SERIALIZER = "myapp.serializers.Token"``;
- the path of the file a secret is read from, under a key naming a file or path:
  ``POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password``, ``DB_PASSWORD_FILE=...``;
- an address with no credential in it: ``token_url = "https://provider.com/oauth2/token"``
  (a URL with user info or a query string is still judged a secret).
- a name, not a value: an identifier or header the keyword names (``client_secret =
  'someclientsecret'``, ``password = "user_password"`` in oauthlib's tests,
  ``token_endpoint_auth_method='private_key_jwt'`` in authlib, ``"X-API-Key"``);
- a value published as an example by a standard or a vendor, whatever the detector:
  ``"access_token": "2YotnFZFEjr1zCsicMWpAA"`` (RFC 6749, in oauthlib's tests),
  ``AKIAIOSFODNN7EXAMPLE`` (AWS's documentation, in botocore's);
- in a Compose file or a CI workflow, the user name a database or broker image takes as
  its default password (``POSTGRES_PASSWORD: postgres``, ``MYSQL_ROOT_PASSWORD: root``):
  the container is a throwaway one for local development or a test job;
- in a test file, a password from the top of every leaked-password list:
  ``make_password(password="letmein")`` (django 5.0.7's auth tests). The same word in
  application code is still a warning: there it may be the real, weak password.
- in documentation (Markdown, reST, AsciiDoc), a value that spells a placeholder word once
  leetspeak is undone, with little else around it: axios' README's ``password:
  's00pers3cret'``, ioredis' ``redis://username:authpassword@...``. The rule, as GitHub's
  secret scanning keeps it: a docs page is scanned as code is, and a real-looking value there
  (random characters, a vendor-shaped key, an entropy hit) keeps its severity, since readers
  copy docs and a real key pasted into one has leaked all the same; only a plainly made-up
  value (the placeholder words make up at least half of it and leave at most 8 characters)
  is lowered to a notice, never hidden.

A passphrase is prose too, and a weak real password may be a placeholder word, so these are
not dropped: the stage reports them with low confidence (a notice), which informs without
failing the default ``fail_on: warning``, with the reason in the message. Vendor-shaped
tokens never pass through here; of Shunter's own patterns only the generic
``password|secret|token|api_key = "..."`` one does, which matches a shape as these do.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from bot.engines.heuristics import is_test_path
from bot.engines.secret_files import defines_services

BASIC_AUTH = "Basic Auth Credentials"
KEYWORD = "Secret Keyword"
HEURISTIC_TYPES = frozenset({KEYWORD, BASIC_AUTH})
"""detect-secrets' types that match a shape, not a format: the only ones judged here."""

PLACEHOLDER_WORDS = frozenset(
    {
        "pass", "password", "passwd", "passw0rd", "secret", "token", "apikey", "api_key",
        "foo", "bar", "baz", "qux", "foobar", "test", "testing", "example", "sample",
        "changeme", "change_me", "dummy", "fake", "placeholder", "redacted", "hidden",
        "your_password", "yourpassword", "mypassword", "xxx", "xxxx",
    }
)  # fmt: skip
PUBLISHED_EXAMPLES = {
    # the OAuth 2.0 framework's examples: access and refresh token, code, client secret
    "2YotnFZFEjr1zCsicMWpAA": "RFC 6749",
    "tGzv3JOkF0XG5Qx2TlKWIA": "RFC 6749",
    "SplxlOBeZQQYbYS6WxSbIA": "RFC 6749",
    "7Fjfp0ZBr1KtDRbnfVdmIw": "RFC 6749",
    "mF_9.B5f-4.1JqM": "RFC 6750",
    # OAuth 1.0's: client and token secrets, and the tokens and verifier beside them
    "kd94hf93k423kf44": "RFC 5849",
    "pfkkdhi9sl3r4s00": "RFC 5849",
    "hdhd0244k9j7ao03": "RFC 5849",
    "hh5s93j4hdidpola": "RFC 5849",
    "nnch734d00sl2jdk": "RFC 5849",
    "ad180jjd733klru7": "RFC 5849",
    "hfdp7dh39dks9884": "RFC 5849",
    # AWS's documentation: access key ids and secret keys
    "AKIAIOSFODNN7EXAMPLE": "AWS's documentation",
    "AKIAI44QH8DHBEXAMPLE": "AWS's documentation",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "AWS's documentation",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY": "AWS's documentation",
}
"""Values readers copy from a specification or a vendor's guide: every library implementing
it has them in its tests and docs, and no service accepts them."""
COMMON_PASSWORDS = frozenset(
    {
        "letmein", "qwerty", "qwerty123", "123456", "12345678", "123456789", "password1",
        "password123", "admin", "admin123", "abc123", "iloveyou", "monkey", "dragon",
        "hunter2", "trustno1", "welcome", "sesame", "opensesame", "testpw", "testpass",
        "secret123", "s3cr3t", "p4ssw0rd", "pa55word", "letmein123",
    }
)  # fmt: skip
"""Dummies of test suites (django's auth tests use letmein, qwerty, testpw, password1)."""
SERVICE_DEFAULTS = frozenset(
    {"postgres", "root", "mysql", "mariadb", "mongo", "redis", "guest", "rabbitmq", "minioadmin"}
)
"""The passwords official images' docs and CI services use for their throwaway containers."""
_PROSE = re.compile("[A-Za-z][A-Za-z'\u2019-]*[.,;:!?]?(?: [A-Za-z][A-Za-z'\u2019-]*[.,;:!?]?)+")
_MASK = re.compile(r"\*{3,}|•{3,}")
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@]*:[^\s@]*@(\[[^\]\s]*\]|[^\s/:?#@\"'`]*)", re.I)
# words of letters joined by "_" or "-" (one trailing digit, as django's new_password1),
# all lower or all upper case; an HTTP header; or words run together ending in a credential's
# name: what names a field, a setting or a parameter rather than holding a value
_NAME = re.compile(
    r"[a-z]+(?:[_-][a-z]+)+\d?|[A-Z]+(?:_[A-Z]+)+\d?|[A-Z][A-Za-z]*(?:-[A-Z][A-Za-z]*)+"
    r"|[a-z]*(?:secret|password|passwd|token|key)"
)
# lower-case module names, then any identifier: a dotted path naming a module, class or
# function; a password in that shape would be lower-case words and dots only
_PYTHON_PATH = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*\.[A-Za-z_][A-Za-z0-9_]*")
# a subscripted type: a capitalised or builtin generic, then identifiers in brackets
_TYPE_EXPR = re.compile(
    r"(?:[A-Z]\w*|(?:[a-z_]\w*\.)+[A-Z]\w*|list|dict|set|frozenset|tuple|type)"
    r"\[(?:[A-Za-z_][\w.]*|[\[\], |])*\]"
)
# scheme://host/path with no user info, query or fragment, the places a URL carries a
# secret, and no path segment long enough to be a token (a Discord webhook's is 68)
_PLAIN_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/@?#:]+(?::\d+)?(?:/[\w.~%-]{0,24})*/?", re.I)
# an absolute, home or relative path of two or more short segments, after a key that names
# a file, path or directory: the official images' DB_PASSWORD_FILE=/run/secrets/db_password
_FILE_PATH = re.compile(r"(?:~|\.{1,2})?(?:/[\w.@-]{1,64}){2,}")
_PATH_KEY = re.compile(r"(?i)(?:file|path|dir)(?:name)?[\"']?\s*(?::=|=|:)?\s*[\"']?$")


def _file_path(value: str, line: str) -> bool:
    """Whether ``value`` is the path of the file the secret is read from, as its key says:
    ``POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password`` (the ``*_FILE`` convention of
    the postgres and mysql images' docs), ``API_TOKEN_PATH = "/var/run/secrets/.../token"``.
    A random value with slashes under a key that names no file is still judged a secret."""
    at = line.find(value)
    return at >= 0 and bool(_FILE_PATH.fullmatch(value)) and bool(_PATH_KEY.search(line[:at]))


_EXAMPLE_HOSTS = ("example.com", "example.net", "example.org", "localhost")
_EXAMPLE_SUFFIXES = (".example", ".test", ".invalid", ".localhost", *(f".{h}" for h in _EXAMPLE_HOSTS))


DOC_SUFFIXES = (".md", ".markdown", ".rst", ".adoc", ".asciidoc")
_LEET = str.maketrans("013457@$", "oieastas")
_FAKE_WORDS = re.compile("secret|password|passwd|example|sample|changeme|dummy|fake|placeholder|token|key")
_SEPARATORS = frozenset("-_. ")


def _spelled_fake(value: str) -> bool:
    """Whether ``value`` is mostly placeholder words, leetspeak undone: ``s00pers3cret``
    (``sooper`` + ``secret``), ``authpassword``; not ``Zq8#tLm2secret!9Xv`` or ``cassandra``."""
    spelled = _FAKE_WORDS.sub(lambda m: "\0" * len(m.group()), value.lower().translate(_LEET))
    if "\0" not in spelled:
        return False
    rest = [ch for ch, seen in zip(value, spelled, strict=True) if seen != "\0" and ch not in _SEPARATORS]
    return len(rest) <= 8 and 2 * len(rest) <= len(value)


def example_reason(secret_type: str, value: str, line: str, path: str = "") -> str | None:
    """Why the hit (``value`` found on ``line`` of ``path``) is likely an example, or None.

    Published examples are judged for every kind; the rest only for the heuristic ones."""
    if value in PUBLISHED_EXAMPLES:
        return f"example published in {PUBLISHED_EXAMPLES[value]}"
    if secret_type not in HEURISTIC_TYPES or not value:
        return None
    if _PROSE.fullmatch(value.strip()):
        return "prose"
    if _MASK.search(value):
        return "masked"
    if _placeholder_word(unquote(value).lower().strip()):
        return "placeholder"
    if secret_type != BASIC_AUTH and value.lower() in COMMON_PASSWORDS and is_test_path(path):
        return "common password in a test"
    if secret_type != BASIC_AUTH and value.lower() in SERVICE_DEFAULTS and defines_services(path):
        return "service default"
    if secret_type == BASIC_AUTH and _example_host(line, value):
        return "example host"
    if path.lower().endswith(DOC_SUFFIXES) and _spelled_fake(unquote(value)):
        return "example in documentation"
    if secret_type != BASIC_AUTH and _file_path(value, line):
        return "file path"
    if secret_type != BASIC_AUTH and _NAME.fullmatch(value):
        return "name"
    if secret_type != BASIC_AUTH and _TYPE_EXPR.fullmatch(value):
        return "type"
    if secret_type != BASIC_AUTH and _PYTHON_PATH.fullmatch(value):
        return "Python name"
    if secret_type != BASIC_AUTH and _PLAIN_URL.fullmatch(value):
        return "URL without credentials"
    return None


_DUMMY_PREFIXES = ("a", "an", "my", "some", "the", "fake", "dummy", "test", "bad", "wrong", "other")


def _placeholder_word(word: str) -> bool:
    """A placeholder word, bare or after an article or a dummy's adjective, with or without
    a separator: ``asecret`` (oauthlib 3.2's device-flow tests), ``some-token``, ``fake_password``."""
    if word in PLACEHOLDER_WORDS:
        return True
    return any(
        word.startswith(prefix) and word[len(prefix) :].lstrip("-_") in PLACEHOLDER_WORDS
        for prefix in _DUMMY_PREFIXES
    )


def _example_host(line: str, value: str) -> bool:
    """Whether every URL on ``line`` carrying ``value`` as its password names an example host."""
    hosts = [m.group(1).lower().strip("[]") for m in _URL_CREDENTIALS.finditer(line) if value in m.group(0)]
    return bool(hosts) and all(h in _EXAMPLE_HOSTS or h.endswith(_EXAMPLE_SUFFIXES) for h in hosts)
