"""Work GitHub refuses for now (``AccessPaused``): the repository is archived, or the App's
installation suspended. Such work stops where it is: logged once with what to do about it,
and audited, rather than failed, retried and left in rq's failed registry for an operator
to wonder about. Nothing is remembered: the next event after the owner unarchives the
repository or unsuspends the App is handled as usual."""

from __future__ import annotations

from typing import Any

from bot.errors import AccessPaused
from bot.logs import get_logger

log = get_logger(__name__)

PAUSED_WHY = {
    "archived": "the repository is archived (read-only on GitHub); unarchive it to resume",
    "suspended": "the App's installation is suspended; unsuspend it to resume",
}


def record_paused(
    runtime: Any, exc: AccessPaused, *, repo: str | None, what: str,
    delivery_id: str | None = None, pr: int | None = None, run_id: int | None = None,
) -> None:
    """Log and audit ``what`` (``event``, ``stage``, ...) dropped because of ``exc``."""
    why = PAUSED_WHY.get(exc.reason, exc.reason)
    log.warning(f"{what} dropped: {why}", reason=exc.reason, error=str(exc))
    try:
        runtime.store.record_audit(
            repo=repo or "",
            pr=pr,
            run_id=run_id,
            actor="shunter",
            action=f"{what}.dropped",
            target_type=what,
            target_id=run_id if run_id is not None else delivery_id,
            delivery_id=delivery_id,
            reason_code=exc.reason,
            reason=f"Shunter stopped: {why}",
        )
    except Exception:  # the log line above is the record then
        log.exception("could not audit dropped work")
