"""What a route handler works on: the simulated GitHub and the caller (handed over by the
middleware under typed keys), the repository the path names and the records its ids name.

A lookup that finds nothing raises GitHub's 404, whether the id is not a number, names no
record, or names one in another repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

from aiohttp import web

from bot.simulator.activity import Hub
from bot.simulator.auth import Caller, repo_for
from bot.simulator.responses import not_found
from bot.simulator.state import Pull, Repo

HUB = web.AppKey("hub", Hub)
CALLER = web.RequestKey("caller", Caller)


class _InRepo(Protocol):
    @property
    def repo(self) -> str: ...


R = TypeVar("R", bound=_InRepo)


def ctx(request: web.Request) -> tuple[Hub, Caller]:
    """The simulated GitHub and who is calling it."""
    return request.app[HUB], request[CALLER]


def repo_of(request: web.Request, permission: str, level: str) -> Repo:
    """The path's ``{owner}/{repo}``, if the caller may use ``permission`` at ``level`` on it."""
    hub, caller = ctx(request)
    m = request.match_info
    return repo_for(hub.world, caller, m["owner"], m["repo"], permission, level)


def path_id(raw: str) -> int:
    """A numeric id from the path; anything else is a 404."""
    try:
        return int(raw)
    except ValueError:
        raise not_found() from None


def pull_of(hub: Hub, repo: Repo, raw: str) -> Pull:
    """The pull request numbered ``raw`` in ``repo``."""
    pull = hub.world.pull(repo.full_name, path_id(raw))
    if pull is None:
        raise not_found()
    return pull


def record_of(records: Mapping[int, R], repo: Repo, raw: str) -> R:
    """The record (comment, check run, suite...) with id ``raw``, if it belongs to ``repo``."""
    record = records.get(path_id(raw))
    if record is None or record.repo != repo.full_name:
        raise not_found()
    return record
