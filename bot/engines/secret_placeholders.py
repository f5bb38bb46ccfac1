"""Why a keyword or URL-credential hit of detect-secrets looks like an example, not a secret.

detect-secrets' keyword and basic-auth detectors match the *shape* ``password = "..."`` or
``scheme://user:pass@host`` whatever the value; its heuristic filters (templates, ``$VAR``,
indirect references, UUIDs, sequences, lock files...) already run in Shunter's scan, but none
of them knows these, which real projects are full of:

- prose: ``"holds-secret": "held a secret"`` (a dictionary of wording), ``app.secret_key =
  "new test key"``;
- a masked value: ``api_key = "sk_live_***"`` (what a redactor writes), or x's standing
  for each character (``mysql://mysql_user:XXXXXXXXXXXX@host`` in airflow's docs);
- what a template or a shell fills in, with only punctuation between: ``<<PLACEHOLDER>>``,
  ``${PASSWORD}``, ``$(PASSWORD)``, ``{{ password }}``, ``%(password)s``;
- a password hasher's name: ``password__startswith="md5$$"`` (django's release notes);
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
  is lowered to a notice, never hidden. Plain text in a docs folder counts (django's docs
  are ``docs/**/*.txt``), and so do the few example passwords documentation has copied for
  decades (``DOC_EXAMPLE_PASSWORDS``: scott/tiger, foobared), and one slip from a word
  (alembic's ``P@ssw%rd``);
- in documentation, a test, an examples folder or under an ``example:`` key, one of those
  well-known passwords or a service's default (``password: 'cassandra'``), or a password
  repeating the user, host or database name beside it (``amqp://guest:guest@rabbit``,
  ``postgres:airflow@postgres/airflow``). In application code these still fail: there
  they may be the real, weak password;
- in a URL, underscored words naming a credential: ``aws://YOUR_AWS_ACCESS_KEY_ID:
  YOUR_AWS_SECRET_ACCESS_KEY@``.

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
from bot.engines.secret_files import URL_PASSWORD, defines_services

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
        # Python's metasyntactic words, as foo and bar are C's (django's multi-db docs)
        "spam", "eggs", "ham", "bacon",
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
    # the SA password of the SQL Server image's page (docker run -e MSSQL_SA_PASSWORD=...)
    "yourStrong(!)Password": "Microsoft's SQL Server container documentation",
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
    {"postgres", "root", "mysql", "mariadb", "mongo", "redis", "guest", "rabbitmq", "minioadmin", "cassandra"}
)
"""The passwords official images' docs and CI services use for their throwaway containers
(and Cassandra's default superuser, cassandra/cassandra)."""
DOC_EXAMPLE_PASSWORDS = frozenset({"tiger", "foobared", "rapunzel", "sekrit", "swordfish"})
"""Example passwords that generations of documentation have copied, leetspeak undone, so
that readers recognise them as such: Oracle's demo user scott/tiger (SQLAlchemy's, alembic's
and celery's database URLs), redis.conf's ``requirepass foobared`` (Redis' docs, redis-py's
and node-redis' READMEs), axios' README's proxy password ``rapunz3l``, django's
``"PASSWORD": "s3krit"``, and swordfish, the password of the Marx Brothers' speakeasy.
They count as placeholder words in documentation, and as examples in tests and examples."""
_PROSE = re.compile("[A-Za-z][A-Za-z'\u2019-]*[.,;:!?]?(?: [A-Za-z][A-Za-z'\u2019-]*[.,;:!?]?)+")
# a redactor's stars or dots, or a run of x standing for each character (airflow's docs:
# mysql://mysql_user:XXXXXXXXXXXX@1.1.1.1:3306/mysqldb)
_MASK = re.compile(r"\*{3,}|•{3,}|[xX]{6,}")
# a URL with user info: its user, password, host (a name or an IPv6 literal; a host list's
# ";" or "," ends it) and first path segment (a database's name)
_URL_CREDENTIALS = re.compile(
    rf"[a-z][a-z0-9+.-]*://(?P<user>[^\s:/@]*):(?P<password>{URL_PASSWORD})@"
    r"(?P<host>\[[^\]\s]*\]|[^\s/:?#@;,\"'`]*)(?::\d+)?(?:/(?P<path>[\w.-]+))?",
    re.I,
)
_TEMPLATE = re.compile(
    r"<<?[A-Za-z_][^<>]*>>?|\$\{[^{}]+\}|\$\([^()]+\)|\$[A-Z_][A-Z0-9_]*|\{\{[^{}]*\}\}|\{%[^%]*%\}"
    r"|%\(\w+\)[sdr]|%[A-Za-z_]\w*%|#\{[^{}]+\}|\{[A-Za-z_]\w*\}"
)
"""What templating engines and shells fill in: ``<password>``, ``<<PLACEHOLDER>>``,
``${PASSWORD}``, ``$(PASSWORD)``, ``$PASSWORD``, ``{{ password }}``, ``{% ... %}``,
``%(password)s``, ``%PASSWORD%``, ``#{password}``, ``{password}``."""
_HASH_PREFIX = re.compile(r"[a-z][a-z0-9_]*\$+")
"""A password hasher's algorithm and separator, as django stores hashes: the operand of
``User.objects.filter(password__startswith="md5$$")`` in its release notes."""
_CREDENTIAL_NAME = (
    re.compile(r"[a-z]+(?:_[a-z]+)+|[A-Z]+(?:_[A-Z]+)+"),
    re.compile(r"(?i)secret|passw(?:or)?d|token|key"),
)
"""Underscored words, one naming a credential, the way a URL's template writes them:
``aws://YOUR_AWS_ACCESS_KEY_ID:YOUR_AWS_SECRET_ACCESS_KEY@`` (airflow's docs),
``sqs://aws_access_key_id:aws_secret_access_key@`` (celery's)."""
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
_DOC_DIRS = frozenset({"doc", "docs", "documentation"})
_EXAMPLE_DIRS = frozenset({"example", "examples", "sample", "samples"})
# a line under a key naming an example: airflow's provider.yaml, OpenAPI and JSON Schema
_EXAMPLE_KEY = re.compile(r"(?i)^[\s#/*-]*[\"']?(?:examples?|samples?)[\"']?\s*[:=]")


def is_documentation(path: str) -> bool:
    """Markdown, reST or AsciiDoc, or plain text in a docs folder or a README: django's
    docs are reST in ``docs/**/*.txt``."""
    lowered = path.lower()
    if lowered.endswith(DOC_SUFFIXES):
        return True
    *folders, name = lowered.split("/")
    return name.endswith(".txt") and (name.startswith("readme") or bool(_DOC_DIRS.intersection(folders)))


def _example_place(path: str, line: str) -> bool:
    """Documentation, a test, an examples folder, or a line under an ``example:`` key."""
    folders = set(path.lower().split("/")[:-1])
    return (
        is_documentation(path)
        or is_test_path(path)
        or bool(_EXAMPLE_DIRS & folders)
        or bool(_EXAMPLE_KEY.match(line))
    )


_LEET = str.maketrans("013457@$", "oieastas")
_WORDS = (
    "secret", "password", "passwd", "example", "sample", "changeme", "dummy", "fake", "placeholder",
    "token", "key", *sorted(DOC_EXAMPLE_PASSWORDS),
)  # fmt: skip


def _one_edit(word: str) -> str:
    """A regex for ``word`` with one character changed or one added (``passw%rd``)."""
    changed = [f"{re.escape(word[:i])}.{re.escape(word[i + 1 :])}" for i in range(len(word))]
    added = [f"{re.escape(word[:i])}.{re.escape(word[i:])}" for i in range(1, len(word))]
    return "|".join(changed + added)


# the words, and the long ones (7 letters or more, which one slip leaves recognisable)
# with one character changed or added: P@ssw%rd in alembic's tutorial
_FAKE_WORDS = re.compile("|".join([*_WORDS, *(_one_edit(w) for w in _WORDS if len(w) >= 7)]))
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
    if _templated(value):
        return "template"
    if secret_type != BASIC_AUTH and _HASH_PREFIX.fullmatch(value):
        return "hash prefix"
    if secret_type != BASIC_AUTH and value.lower() in COMMON_PASSWORDS and is_test_path(path):
        return "common password in a test"
    if secret_type != BASIC_AUTH and value.lower() in SERVICE_DEFAULTS and defines_services(path):
        return "service default"
    if secret_type == BASIC_AUTH and _example_host(line, value):
        return "example host"
    if is_documentation(path) and _spelled_fake(unquote(value)):
        return "example in documentation"
    if _example_place(path, line):
        word = unquote(value).lower()
        if word.translate(_LEET) in DOC_EXAMPLE_PASSWORDS or word in SERVICE_DEFAULTS:
            return "well-known example"
        if _repeats_a_name(secret_type, value, line):
            return "repeated name"
    if (
        secret_type == BASIC_AUTH
        and _CREDENTIAL_NAME[0].fullmatch(value)
        and _CREDENTIAL_NAME[1].search(value)
    ):
        return "name"
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
    hosts = [m["host"].lower().strip("[]") for m in _URL_CREDENTIALS.finditer(line) if value in m.group(0)]
    return bool(hosts) and all(h in _EXAMPLE_HOSTS or h.endswith(_EXAMPLE_SUFFIXES) for h in hosts)


def _templated(value: str) -> bool:
    """Whether ``value`` is made of what a template or a shell fills in, with nothing but
    punctuation between: ``${DB_USER}:${DB_PASS}``, ``<<CLIENT_SECRET>>``, ``{{ password }}``.
    A literal beside a field (``tok_{{ env }}Zq8...``) is judged as written."""
    literal = _TEMPLATE.sub("", value)
    return literal != value and not any(ch.isalnum() for ch in literal)


def _repeats_a_name(secret_type: str, value: str, line: str) -> bool:
    """Whether the password repeats a name written beside it: a URL's user, host or
    database (``amqp://guest:guest@``, ``postgres:airflow@postgres/airflow``), or the
    user name given on the same line (``POSTGRES_USER=app -e POSTGRES_PASSWORD=app``)."""
    word = unquote(value).lower()
    if secret_type == BASIC_AUTH:
        for m in _URL_CREDENTIALS.finditer(line):
            if m["password"] == value:
                names = {m["user"], m["host"].split(".")[0], m["path"] or ""}
                return word in {unquote(n).lower() for n in names}
        return False
    user = re.compile(rf"(?i)user(?:_?name)?[\"']?\s*[:=]\s*[\"']?{re.escape(value)}(?![\w@$%^&*!?#-])")
    return bool(user.search(line))
