"""Run pages: what a check run's "Details" link opens (``SHUNTER_PUBLIC_URL/runs/{id}?t=...``).

A run's record, its step trace and the audit events it caused, rendered as plain HTML (and
JSON with ``Accept: application/json``); the security stage's SARIF at
``/runs/{id}/sarif``. Everything shown already passed the store's redaction.

Run ids count up, and a run of a private repository names its code and its findings, so a
page opens only with the run's token: an HMAC of the id under the webhook secret, which
only the links Shunter puts on the check runs carry (no one who can read the check run
learns more than the check run shows). A missing or wrong token is a 404, as for no run.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
from pathlib import Path
from typing import Any

from aiohttp import web

STORE = web.AppKey("store", object)
SARIF_DIR = web.AppKey("sarif_dir", Path)
KEY = web.AppKey("run_page_key", bytes)


def run_token(secret: bytes, run_id: int) -> str:
    """The token a run page's link carries (a label keeps it apart from webhook HMACs)."""
    return hmac.new(secret, f"shunter run page {run_id}".encode(), hashlib.sha256).hexdigest()[:32]


def run_link(base: str, secret: bytes, run_id: int) -> str:
    return f"{base.rstrip('/')}/runs/{run_id}?t={run_token(secret, run_id)}"


def _authorised_run_id(request: web.Request) -> int:
    """The requested run id, if the request carries its token; else 404 (or 400)."""
    try:
        run_id = int(request.match_info["run_id"])
    except ValueError:
        raise web.HTTPBadRequest(text="run ids are numbers") from None
    key = request.app.get(KEY)
    given = request.query.get("t", "")
    if not key or not hmac.compare_digest(given.encode(), run_token(key, run_id).encode()):
        raise web.HTTPNotFound(text=f"no run {run_id}")
    return run_id


def sarif_path(data_dir: Path, run_id: int) -> Path:
    return data_dir / "sarif" / f"run-{run_id}.sarif.json"


def prune_sarif(data_dir: Path, days: float, now: float) -> int:
    """Delete the security runs' SARIF kept in ``data_dir`` for longer than ``days``
    (``SHUNTER_RETENTION_DAYS``; 0 keeps everything), by the file's time: their runs go in the
    hourly prune, and a private repository's findings should not outlive them on disk."""
    if days <= 0:
        return 0
    cutoff = now - days * 86400
    removed = 0
    for path in (data_dir / "sarif").glob("run-*.sarif.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another worker on this data dir took it
            continue
    return removed


def _row(*cells: Any) -> str:
    return (
        "<tr>" + "".join(f"<td>{html.escape(str(c if c is not None else ''))}</td>" for c in cells) + "</tr>"
    )


def render(run: Any, steps: list[Any], events: list[Any], has_sarif: bool, token: str = "") -> str:
    title = f"{run.stage} on {run.repo}@{run.head_sha[:12]}"
    facts = [
        ("repository", run.repo),
        ("pull request", f"#{run.pr}" if run.pr else "—"),
        ("head", run.head_sha),
        ("status", run.status),
        ("conclusion", run.conclusion or "—"),
        ("findings", run.findings_count),
        ("why it ran", run.reason or "—"),
        ("delivery", run.delivery_id or "—"),
        ("duration", f"{run.duration_seconds:.2f} s" if run.duration_seconds is not None else "—"),
    ]
    notes = run.metrics.get("notes") or []
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto}"
        "td,th{padding:.2rem .6rem;text-align:left;vertical-align:top}</style></head><body>",
        f"<h1>Shunter run {run.id}: {html.escape(title)}</h1><table>",
        *(_row(k, v) for k, v in facts),
        "</table>",
    ]
    if notes:
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(str(n))}</li>" for n in notes) + "</ul>"
        )
    parts.append("<h2>Steps</h2><table><tr><th>step</th><th>status</th><th>started</th><th>detail</th></tr>")
    parts += [_row(s.name, s.status, s.started_at, json.dumps(s.detail)[:300]) for s in steps]
    parts.append(
        "</table><h2>Audit trail</h2><table><tr><th>when</th><th>action</th><th>target</th><th>why</th></tr>"
    )
    parts += [
        _row(e.at, e.action, f"{e.target_type} {e.target_id or ''}", e.reason or e.reason_code)
        for e in events
    ]
    parts.append("</table>")
    if has_sarif:
        link = f"/runs/{run.id}/sarif?t={html.escape(token)}"
        parts.append(f"<p><a href='{link}'>SARIF 2.1.0 for this run</a></p>")
    parts.append("</body></html>")
    return "".join(parts)


async def run_page(request: web.Request) -> web.Response:
    store = request.app.get(STORE)
    if store is None:
        raise web.HTTPNotFound(text="run pages need the store (SHUNTER_DATABASE_URL or the data dir)")
    run_id = _authorised_run_id(request)
    run = await asyncio.to_thread(store.get_run, run_id)  # type: ignore[attr-defined]
    if run is None:
        raise web.HTTPNotFound(text=f"no run {run_id}")
    steps = await asyncio.to_thread(store.steps, run_id)  # type: ignore[attr-defined]
    events = await asyncio.to_thread(store.audit_events, run_id=run_id)  # type: ignore[attr-defined]
    sarif_file = sarif_path(request.app[SARIF_DIR], run_id) if SARIF_DIR in request.app else None
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(
            {
                "id": run.id,
                "repo": run.repo,
                "pr": run.pr,
                "head_sha": run.head_sha,
                "stage": run.stage,
                "status": str(run.status),
                "conclusion": run.conclusion,
                "reason": run.reason,
                "findings": run.findings_count,
                "steps": [{"name": s.name, "status": s.status} for s in steps],
                "audit": [{"action": e.action, "target": e.target_id, "reason": e.reason} for e in events],
            }
        )
    body = render(run, steps, events, bool(sarif_file and sarif_file.is_file()), request.query.get("t", ""))
    return web.Response(text=body, content_type="text/html")


async def run_sarif(request: web.Request) -> web.Response:
    run_id = _authorised_run_id(request)
    if SARIF_DIR not in request.app:
        raise web.HTTPNotFound()
    path = sarif_path(request.app[SARIF_DIR], run_id)
    if not path.is_file():
        raise web.HTTPNotFound(text=f"no SARIF for run {run_id}")
    return web.Response(body=path.read_bytes(), content_type="application/sarif+json")


def install(app: web.Application, store: Any, data_dir: Path | None, secret: bytes = b"") -> None:
    """``secret``: the webhook secret, which the run pages' tokens are made with (without
    one, no page opens)."""
    if secret:
        app[KEY] = secret
    if store is not None:
        app[STORE] = store
    if data_dir is not None:
        app[SARIF_DIR] = data_dir
    app.router.add_get("/runs/{run_id}", run_page)
    app.router.add_get("/runs/{run_id}/sarif", run_sarif)
