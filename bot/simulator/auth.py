"""Who is calling: App JWTs, installation tokens, scopes, permissions and rate budgets.

GitHub's rules, checked in the same order GitHub applies them: the credential must parse and
verify (401), the installation must cover the repository (404, GitHub hides what a token
cannot see), the token must hold the permission the route needs (403), and the installation's
hourly budget must not be spent (403 with ``x-ratelimit-remaining: 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.simulator.responses import ApiError, forbidden, not_found
from bot.simulator.state import Installation, Repo, Token, World

TOKEN_LIFETIME = timedelta(hours=1)
JWT_MAX_SPAN = 600
"""GitHub takes an App JWT whose ``exp`` is at most ten minutes after its ``iat`` and its own now."""
_LEVEL = {"none": 0, "read": 1, "write": 2, "admin": 3}
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"


def new_rsa_key() -> tuple[str, str]:
    """A fresh App key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class Caller:
    kind: str  # "app", "installation" or "anonymous"
    installation_id: int | None = None
    token: Token | None = None

    @property
    def budget_key(self) -> int:
        if self.kind == "installation" and self.installation_id is not None:
            return self.installation_id
        return -1 if self.kind == "app" else 0


def _bad_jwt(message: str) -> ApiError:
    return ApiError(401, message)


def verify_jwt(world: World, raw: str) -> Caller:
    app = world.app
    assert app is not None
    try:
        claims: dict[str, Any] = jwt.decode(
            raw,
            app.public_key_pem,
            algorithms=["RS256"],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iat", "exp", "iss"],
            },
        )
    except jwt.MissingRequiredClaimError as exc:
        if exc.claim == "iss":
            raise _bad_jwt("'Issuer' claim ('iss') must be an Integer") from None
        if exc.claim == "exp":
            raise _bad_jwt(
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires"
            ) from None
        raise _bad_jwt(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
        ) from None
    except jwt.PyJWTError:
        raise _bad_jwt("A JSON web token could not be decoded") from None
    if str(claims["iss"]) not in (str(app.id), app.client_id):
        raise _bad_jwt("Integration not found")
    # judged on GitHub's clock with no leeway, as GitHub does: a JWT minted by a host whose
    # clock runs a second fast with exp = now + 600 is refused; a fast clock's JWT, whose
    # iat and exp are both wrong, gets the exp message, as reported from github.com
    now = world.clock.now().timestamp()
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or exp <= now:
        raise _bad_jwt(
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires"
        )
    iat_ok = isinstance(iat, int | float)
    if exp > now + JWT_MAX_SPAN or (iat_ok and exp - iat > JWT_MAX_SPAN):
        raise _bad_jwt("'Expiration time' claim ('exp') is too far in the future")
    if not iat_ok or iat > now:
        raise _bad_jwt(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
        )
    return Caller("app")


def authenticate(world: World, header: str | None) -> Caller:
    """The caller named by an ``Authorization`` header (``Bearer``/``token`` + JWT or token)."""
    if not header:
        return Caller("anonymous")
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() not in ("bearer", "token") or not credential:
        raise ApiError(401, "Bad credentials")
    if credential.count(".") == 2:
        return verify_jwt(world, credential)
    token = world.tokens.get(credential)
    if token is None or token.expires_at <= world.clock.now():
        raise ApiError(401, "Bad credentials")
    return Caller("installation", installation_id=token.installation_id, token=token)


def require_app(caller: Caller) -> None:
    if caller.kind != "app":
        raise ApiError(
            401,
            "A JSON web token could not be decoded",
            documentation_url="https://docs.github.com/rest/apps/apps",
        )


def issue_token(
    world: World,
    inst: Installation,
    *,
    repositories: list[str] | None = None,
    repository_ids: list[int] | None = None,
    permissions: dict[str, str] | None = None,
) -> Token:
    """An installation token, narrowed to some repos and permissions when asked (422 if wider)."""
    granted = dict(inst.permissions)
    if permissions:
        for name, level in permissions.items():
            if _LEVEL.get(granted.get(name, "none"), 0) < _LEVEL.get(level, 9):
                raise ApiError(
                    422,
                    "The permissions requested are not granted to this installation.",
                    documentation_url="https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app",
                )
        granted = dict(permissions)
        granted.setdefault("metadata", "read")
    scope: set[str] | None = None
    if repositories or repository_ids:
        available = {r.full_name.lower(): r for r in world.installation_repos(inst)}
        by_id = {r.id: r for r in available.values()}
        scope = set()
        for name in repositories or []:
            full = name if "/" in name else f"{inst.account}/{name}"
            if full.lower() not in available:
                raise ApiError(
                    422,
                    "There is at least one repository that does not exist or is not "
                    "accessible to the parent installation.",
                )
            scope.add(full.lower())
        for rid in repository_ids or []:
            if rid not in by_id:
                raise ApiError(
                    422,
                    "There is at least one repository that does not exist or is not "
                    "accessible to the parent installation.",
                )
            scope.add(by_id[rid].full_name.lower())
    token = Token(
        token=world.new_token(),
        installation_id=inst.id,
        permissions=granted,
        repositories=scope,
        expires_at=world.clock.now() + TOKEN_LIFETIME,
    )
    world.tokens[token.token] = token
    return token


def can_see(world: World, caller: Caller, repo: Repo) -> bool:
    if caller.kind == "anonymous":
        return not repo.private
    if caller.kind != "installation" or caller.token is None:
        return False
    inst = world.installations.get(caller.token.installation_id)
    if inst is None or world.installation_for(repo.full_name) is not inst:
        return False
    scope = caller.token.repositories
    return scope is None or repo.full_name.lower() in scope


def upstream_may_push(world: World, caller: Caller, repo: Repo) -> bool:
    """GitHub lets an App installed on a PR's base repository push to the fork's head
    branch when the fork's author allowed edits from maintainers (``maintainer_can_modify``)."""
    if caller.kind != "installation" or caller.token is None:
        return False
    inst = world.installations.get(caller.token.installation_id)
    for pull in world.pulls.values():
        if (
            pull.state == "open"
            and pull.maintainer_can_modify
            and pull.head_repo.lower() == repo.full_name.lower()
        ):
            base = world.repo(pull.repo)
            if base is not None and inst is not None and world.installation_for(base.full_name) is inst:
                return True
    return False


def repo_for(world: World, caller: Caller, owner: str, name: str, permission: str, level: str) -> Repo:
    """The repository, if the caller may use ``permission`` at ``level`` on it."""
    if caller.kind == "app":
        raise forbidden()
    repo = world.repo(f"{owner}/{name}")
    if repo is None or not can_see(world, caller, repo):
        raise not_found()  # GitHub does not say whether a hidden repository exists
    if caller.kind == "anonymous":
        if level != "read":
            raise ApiError(401, "Requires authentication")
        return repo
    if not has_permission(caller, permission, level):
        raise forbidden()
    return repo


def has_permission(caller: Caller, permission: str, level: str) -> bool:
    if caller.token is None:
        return False
    held = caller.token.permissions.get(permission, "none")
    if permission == "metadata":
        held = held if held != "none" else "read"
    return _LEVEL.get(held, 0) >= _LEVEL[level]


def require_any(caller: Caller, permissions: tuple[str, ...], level: str) -> None:
    """GitHub lets either of several permissions open some routes (issues or pull_requests)."""
    if caller.kind == "anonymous":
        if level != "read":
            raise ApiError(401, "Requires authentication")
        return
    if not any(has_permission(caller, p, level) for p in permissions):
        raise forbidden()


def secondary_limit(retry_after: int | None) -> ApiError:
    """GitHub's secondary limit; as on github.com, sometimes without ``retry-after``."""
    return ApiError(
        403,
        "You have exceeded a secondary rate limit. Please wait a few minutes before you "
        "try again. If you reach out to GitHub Support for help, please include the "
        "request ID.",
        documentation_url=RATE_DOCS,
        headers={"retry-after": str(retry_after)} if retry_after is not None else {},
    )
