"""GitHub's error bodies and pagination, shared by every route module.

Handlers raise :class:`ApiError`; the server's middleware turns it into the JSON body GitHub
sends (``message``, ``documentation_url``, ``status``, optional ``errors``), so a client sees
the same status codes and texts it would see from github.com.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """An answer other than success, exactly as GitHub would send it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[Any] | None = None,
        documentation_url: str = DOCS,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.documentation_url = documentation_url
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body["documentation_url"] = self.documentation_url
        body["status"] = str(self.status)
        return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def forbidden() -> ApiError:
    return ApiError(403, "Resource not accessible by integration")


def invalid_request(detail: str, *, documentation_url: str = DOCS) -> ApiError:
    """GitHub's 422 for a request body it cannot take, saying what is wrong with it."""
    return ApiError(422, f"Invalid request.\n\n{detail}", documentation_url=documentation_url)


def not_supplied(name: str, *, documentation_url: str = DOCS) -> ApiError:
    """GitHub's 422 for a body that lacks a required field."""
    return invalid_request(f'"{name}" wasn\'t supplied.', documentation_url=documentation_url)


def validation_failed(resource: str, field: str | None, code: str = "invalid", **extra: Any) -> ApiError:
    """GitHub's 422 "Validation Failed" with one error (a ``custom`` one may name no field)."""
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field is not None:
        error["field"] = field
    return ApiError(422, "Validation Failed", errors=[{**error, **extra}])


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; GitHub answers 400 "Problems parsing JSON" otherwise."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Problems parsing JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Problems parsing JSON")
    return body


def page_params(request: web.Request, *, default: int = 30) -> tuple[int, int]:
    try:
        per_page = max(1, min(100, int(request.query.get("per_page", default))))
        page = max(1, int(request.query.get("page", 1)))
    except ValueError:
        raise invalid_request("Invalid page parameters.") from None
    return page, per_page


def paginate(
    request: web.Request, items: list[Any], *, default: int = 30
) -> tuple[list[Any], dict[str, str]]:
    """One page of ``items`` and the ``Link`` header GitHub would send with it."""
    page, per_page = page_params(request, default=default)
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    base = str(request.url.with_query(None))
    others = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}

    def link(n: int, rel: str) -> str:
        return f'<{base}?{urlencode({**others, "per_page": per_page, "page": n})}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(page - 1, "prev"))
    if page < last:
        links.append(link(page + 1, "next"))
        links.append(link(last, "last"))
    if page > 1:
        links.append(link(1, "first"))
    return chunk, ({"Link": ", ".join(links)} if links else {})


def page_answer(request: web.Request, items: list[Any]) -> web.Response:
    """A list endpoint's answer: one page of ``items`` with its ``Link`` header."""
    page, headers = paginate(request, items)
    return json_answer(page, headers=headers)


def pull_page(
    request: web.Request, records: Iterable[Any], shape: Callable[[Any], Any], repo: str, number: int
) -> web.Response:
    """One page of a pull request's records (comments, reviews...), oldest first."""
    items = [shape(r) for r in sorted(records, key=lambda r: r.id) if r.repo == repo and r.number == number]
    return page_answer(request, items)
