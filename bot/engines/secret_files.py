"""What kind of configuration file a path is, for the secrets scan.

detect-secrets picks its keyword rules by file extension, and files without one are judged
as code, where a value must be quoted to count. The files that hold most committed
credentials have no extension it knows: ``.env``, ``.env.production``, ``Dockerfile``
(``ENV DB_PASSWORD=...``), ``.npmrc``, a kubeconfig. So ``DB_PASSWORD=<password>`` in a
committed ``.env`` passed the check. ``scanner_name`` gives detect-secrets a name it
judges as the configuration file it is; the finding keeps the real path.

detect-secrets' keyword list also lacks ``token``, so ``token: <value>`` in a kubeconfig
and ``_authToken=<value>`` in ``.npmrc`` were missed in any file: ``UNQUOTED_ASSIGNMENT``
is Shunter's generic credential pattern without the quotes, applied only to these files
and YAML, where values are written bare (in code a bare value is a name, not a secret).
"""

from __future__ import annotations

import base64
import binascii
import re

from bot.engines.redaction import (
    KEEP,
    URL_AFTER_AT,
    URL_INNER_AT,
    URL_PASSWORD,
    URL_USER,
    URL_USERINFO_CHAR,
    SecretPattern,
    looks_like_placeholder,
)

UNQUOTED_ASSIGNMENT = SecretPattern(
    "generic-secret-assignment",
    "hard-coded credential",
    re.compile(
        r"(?i)(?<![\w.-])[\w.-]*(?:passw(?:or)?d|passwd|secret|token|api_?key|access_?key|auth_?key)"
        r"[\w.-]*\s*[:=]\s*([^\s\"'`]{12,})(?=\s|$)"
    ),
    group=1,
    confidence="medium",
    min_entropy=3.5,
    fingerprint_keep=KEEP,
)
"""``KEY=value`` or ``key: value``; the same rule as the quoted pattern, so one id."""
TERRAFORM_DEFAULT = UNQUOTED_ASSIGNMENT
"""A Terraform variable's default (``terraform_defaults``) is reported under the same rule."""

_DOTENV = re.compile(r"(?:\.env(?:\..+)?|.+\.env|\.envrc|\.flaskenv)")
_DOCKERFILE = re.compile(r"(?:Dockerfile|Containerfile)(?:\..+)?|.+\.(?:dockerfile|containerfile)", re.I)
_RC_FILES = frozenset({".npmrc", ".yarnrc", ".pypirc"})
_YAML = (".yaml", ".yml")


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _is_kubeconfig(path: str) -> bool:
    name = _name(path)
    return name.lower().startswith("kubeconfig") or (name == "config" and "/.kube/" in f"/{path}")


def config_kind(path: str) -> str | None:
    """``"cfg"`` for ``KEY=value`` files, ``"yaml"`` for a kubeconfig without an extension,
    None for every other file (detect-secrets already knows it, or it is code)."""
    name = _name(path)
    if name.lower().endswith(_YAML):
        return None
    if _DOTENV.fullmatch(name) or _DOCKERFILE.fullmatch(name) or name in _RC_FILES:
        return "cfg"
    if _is_kubeconfig(path):
        return "yaml"
    return None


def scanner_name(path: str) -> str:
    """The name detect-secrets should judge ``path``'s lines under."""
    kind = config_kind(path)
    return f"{path}.{kind}" if kind else path


URL_CREDENTIALS = SecretPattern(
    "url-credentials",
    "credential in a URL",
    re.compile(rf"(?i)\b[a-z][a-z0-9+.-]*://{URL_USER}:({URL_PASSWORD}){URL_AFTER_AT}"),
    group=1,
    confidence="medium",
)
"""``https://user:password@host``, in a lock file, where detect-secrets reads nothing."""
URL_CREDENTIALS_RESERVED = SecretPattern(
    URL_CREDENTIALS.id,
    URL_CREDENTIALS.kind,
    re.compile(
        rf"(?i)\b[a-z][a-z0-9+.-]*://{URL_USER}:"
        rf"({URL_USERINFO_CHAR}*[:?#\[\]!$&()*+,;=]{URL_USERINFO_CHAR}*(?:{URL_INNER_AT})*"
        rf"|{URL_USERINFO_CHAR}+(?:{URL_INNER_AT})+){URL_AFTER_AT}"
    ),
    group=1,
    confidence="medium",
)
"""The same, in any file, for a password holding a character detect-secrets' basic-auth
pattern stops at (``:/?#[]@!$&'()*+,;=``): ``postgres://app:S3cret#1@db`` or ``pa$$w0rd!``,
as people write them unencoded, were never reported. An unencoded ``@`` cut the password at
its first one, so ``app:p@ssW0rd@db`` was read as the password ``p``, which detect-secrets
then dropped as too short, and the URL passed: the password runs to the last ``@``. Other
passwords are left to detect-secrets, whose finding keeps its rule id and fingerprint."""
NPM_AUTH_TOKEN = SecretPattern(
    "npm-auth-token",
    "npm registry token",
    re.compile(
        r"(?i)(?<![\w-])(?:_authToken|_auth|npmAuthToken)[\"']?(?:\s*[:=]\s*|\s+)[\"']?([^\s\"'`]{8,})"
    ),
    group=1,
    confidence="medium",
)
"""An npm or Yarn registry credential: ``//registry/:_authToken=...``, ``npmAuthToken:``, or
Yarn 1's ``.yarnrc`` form ``"//registry/:_authToken" "..."``, where no ``=`` stands."""

LOCK_FILES = frozenset(
    {
        # detect-secrets' own list (detect_secrets.filters.heuristic.is_lock_file)
        "Brewfile.lock.json", "Cartfile.resolved", "composer.lock", "Gemfile.lock",
        "Package.resolved", "package-lock.json", "Podfile.lock", "yarn.lock", "Pipfile.lock",
        "poetry.lock", "Cargo.lock", "packages.lock.json",
        # and the ones it does not know, judged the same way
        "npm-shrinkwrap.json", "pnpm-lock.yaml", "bun.lock", "uv.lock", "pdm.lock",
    }
)  # fmt: skip
"""Files a package manager writes: detect-secrets skips them by name, since their integrity
hashes and checksums look random. A private registry's credential in a ``resolved`` or
source URL is still a leak, so these files are scanned for credentials in URLs and registry
tokens only, never for entropy."""


def is_lock_file(path: str) -> bool:
    return _name(path) in LOCK_FILES


def extra_patterns(path: str) -> tuple[SecretPattern, ...]:
    """Shunter's patterns that apply to ``path`` only: credentials in a lock file's URLs,
    bare values in configuration files, and URL passwords detect-secrets cannot read."""
    if is_lock_file(path):
        return (URL_CREDENTIALS, NPM_AUTH_TOKEN)
    if config_kind(path) or _name(path).lower().endswith(_YAML):
        return (UNQUOTED_ASSIGNMENT, URL_CREDENTIALS_RESERVED, NPM_AUTH_TOKEN)
    return (URL_CREDENTIALS_RESERVED,)


_LEGACY_ENV = re.compile(r"(?i)^(\s*ENV\s+)([A-Za-z_][\w.-]*)[ \t]+(?=\S)")
_DATA_KEY = re.compile(r"^(\s*)data:\s*(?:#.*)?$")
_DATA_ITEM = re.compile(r"^(\s*)[\"']?[\w.-]+[\"']?:[ \t]+[\"']?([A-Za-z0-9+/]{4,}={0,2})[\"']?\s*$")


def readable_lines(path: str, lines: list[str]) -> dict[int, str]:
    """The lines of ``path`` (numbered from 1) that the scanners must read rewritten, as
    the file means them, by number; the findings keep the real line numbers.

    - a Dockerfile's old ``ENV DB_PASSWORD value`` form reads as ``ENV DB_PASSWORD=value``:
      the keyword patterns know ``=`` and ``:`` only, so a password set that way passed;
    - the values of a YAML ``data:`` map (a Kubernetes Secret, Helm values) are read
      decoded where they are base64 of one line of text: ``password: cGFzc3dvcmQ=`` is
      the placeholder "password" and is judged as one, a notice as ``stringData``'s clear
      ``password: password`` is, where a real password encoded there still fails."""
    name = _name(path)
    if _DOCKERFILE.fullmatch(name):
        return {
            n: _LEGACY_ENV.sub(r"\1\2=", line, count=1)
            for n, line in enumerate(lines, 1)
            if _LEGACY_ENV.match(line)
        }
    if not name.lower().endswith(_YAML):
        return {}
    out: dict[int, str] = {}
    data_indent: int | None = None
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if data_indent is not None and indent <= data_indent:
            data_indent = None
        opened = _DATA_KEY.match(line)
        if opened:
            data_indent = len(opened.group(1))
            continue
        item = _DATA_ITEM.match(line) if data_indent is not None else None
        decoded = _decoded(item.group(2)) if item else None
        if item and decoded is not None:
            out[n] = line[: item.start(2)] + decoded + line[item.end(2) :]
    return out


def _decoded(value: str) -> str | None:
    """``value`` decoded from base64 when it is one line of text (``echo pw | base64``
    adds the newline), else None: binary data, or a bare value that only looks like base64."""
    if len(value) % 4:
        return None
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8").removesuffix("\n")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return text if text and text.isprintable() else None


_COMPOSE = re.compile(r"(?:docker-)?compose(?:[.-].+)?\.ya?ml", re.I)
_CI_FILES = frozenset({".gitlab-ci.yml", ".travis.yml", "bitbucket-pipelines.yml", "azure-pipelines.yml"})
_CI_DIRS = (".github/workflows/", ".circleci/", ".gitlab/")


def defines_services(path: str) -> bool:
    """A Compose file or a CI workflow: where ``POSTGRES_PASSWORD: postgres`` configures a
    throwaway container for local development or a test job, not a deployed database."""
    name = _name(path)
    return bool(_COMPOSE.fullmatch(name)) or name in _CI_FILES or path.startswith(_CI_DIRS)


NOT_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "none", "~"})
"""YAML's booleans and null: ``password_lock: yes``, ``no_log_secret: False``,
``ansible_become_password: null`` (ansible-core's tests) set an option about a secret."""


_UPDATE_PASSWORD = re.compile(r"\bupdate_password\s*[:=]\s*[\"']?(?:always|on_create)\b")
"""The ``update_password`` option of Ansible's user, win_user, mysql_user and postgresql_user
modules: ``always`` or ``on_create`` says when to set the password, it is not one."""


def not_a_value(value: str, line: str = "") -> bool:
    """Whether a keyword hit's value is a boolean, null or an option's choice on ``line``,
    which no credential is."""
    return value.strip().strip("\"'").lower() in NOT_VALUES or bool(_UPDATE_PASSWORD.search(line))


_TF_VARIABLE = re.compile(r'\s*variable\s+"?([\w-]+)"?\s*(?=\{)')
_TF_DEFAULT = re.compile(r'(?:^|[\s{;])default\s*=\s*"([^"]+)"')
# the variable's name ends with what it holds: db_password, api_token, client_secret; not
# token_ttl, secret_name or secret_arn, which name settings about one
_TF_CREDENTIAL = re.compile(
    r"(?i)(?:^|[_-])(?:password|passwd|secret|token|api_?key|access_?key|secret_?key|auth_?key|private_?key)$"
)


def terraform_defaults(text: str) -> list[tuple[int, str]]:
    """(line number, value) of each literal ``default`` of a Terraform variable named for a
    credential: ``variable "db_password" { default = "..." }`` commits the secret it was
    meant to receive. The keyword patterns see only ``default = "..."``, which names none."""
    out: list[tuple[int, str]] = []
    name: str | None = None
    depth = 0  # braces open before the line, counted from the variable's own
    for n, line in enumerate(text.splitlines(), start=1):
        body = line
        if name is None:
            opened = _TF_VARIABLE.match(line)
            if not opened:
                continue
            name, depth, body = opened.group(1), 0, line[opened.end() :]
        default = _TF_DEFAULT.search(body) if depth <= 1 else None  # not a nested object's
        if default and _TF_CREDENTIAL.search(name) and not looks_like_placeholder(default.group(1)):
            out.append((n, default.group(1)))
        depth += body.count("{") - body.count("}")
        if depth <= 0:
            name = None
    return out


# a key or attribute naming a hash, then the value, maybe after an algorithm prefix: PyPI's
# JSON ("sha256": "...", "md5_digest": "..."), SRI (integrity="sha384-..."), lock files
_DIGEST_LABEL = re.compile(
    r"(?i)(?:md5|sha-?(?:1|224|256|384|512)|blake2[bs]?|digest|checksum|hash(?:es)?|integrity)"
    r"\w*[\"']?\s*[:=]\s*[\"']?(?:(?:sha(?:1|256|384|512)|md5)[-:=])?$"
)
_HEX_DIGEST_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})  # MD5, SHA-1, SHA-2's and BLAKE2's
_HEX = re.compile(r"[0-9a-fA-F]+")
_ALGORITHM = re.compile(r"^(?i:sha(?:1|256|384|512)|md5)[-:=]")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def labelled_digest(value: str, line: str) -> bool:
    """Whether an entropy hit's ``value`` is a digest that ``line`` names as one.

    A PR adding poetry 1.8.3's PyPI fixture for requests got 362 notices, one per
    ``"sha256"`` and ``"md5"`` of each release file; bootstrap's ``<script integrity=
    "sha384-...">`` one more. A digest is published by design and never a credential."""
    at = line.find(value)
    if at < 0 or not _DIGEST_LABEL.search(line[:at]):
        return False
    digest = _ALGORITHM.sub("", value, count=1)  # detect-secrets keeps SRI's "sha384-"
    if _HEX.fullmatch(digest):
        return len(digest) in _HEX_DIGEST_LENGTHS
    return bool(_BASE64.fullmatch(digest))
