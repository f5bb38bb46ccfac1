"""``shunter queue``: what operators use to see and unstick the merge queue.

``ls`` lists live entries (leased, waiting, backing off) and dead letters; ``show`` prints
one entry with its change request; ``retry`` puts a dead entry back with a fresh attempt
count; ``drop`` deletes a waiting or dead entry, or a change waiting for ``/shunter approve``,
and records that an operator dropped it. Entries a worker holds are never touched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from bot.queue import pr_changes
from bot.queue.merge import EntryView, MergeQueue


def _queue() -> MergeQueue:
    from bot.queue.connection import open_redis
    from bot.settings import load_settings

    handle = open_redis(load_settings())
    return MergeQueue(handle.client())


def _line(entry: EntryView) -> str:
    data = entry.as_dict()
    extra = data.get("dead_reason") or data.get("lease_owner") or data.get("last_error") or ""
    title = (data.get("title") or "")[:40]
    return (
        f"{entry.id:<20} {entry.state:<8} p{entry.priority} a{entry.attempts} "
        f"{entry.queue:<30} {title:<40} {extra}"
    ).rstrip()


def _emit(payload: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(payload, indent=2, default=str) if as_json else text)


@click.group(name="queue")
def queue() -> None:
    """Inspect and manage the merge queue (live entries and dead letters)."""


@queue.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--landed", is_flag=True, help="Also list recently landed entries.")
def ls(as_json: bool, landed: bool) -> None:
    """List entries: leased, waiting, delayed, then dead letters."""
    mq = _queue()
    entries = list(mq.entries(include_landed=landed))
    workers = mq.workers()
    text = "\n".join(_line(e) for e in entries) or "the merge queue is empty"
    if workers:
        text += "\n\nworkers: " + ", ".join(
            f"{owner} (landed {info.get('landed', 0)})" for owner, info in sorted(workers.items())
        )
    payload = [e.as_dict() for e in entries]
    _emit({"entries": payload, "workers": workers} if as_json else payload, as_json, text)


@queue.command("show")
@click.argument("change_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(change_id: str, as_json: bool) -> None:
    """Show one entry and its change request."""
    entry = _queue().get(change_id)
    if entry is None:
        raise click.ClickException(f"no merge-queue entry {change_id!r}")
    data = entry.as_dict()
    if entry.cr is not None:
        data["change_request"] = entry.cr.model_dump(mode="json")
    lines = [f"{k}: {v}" for k, v in entry.as_dict().items()]
    if entry.cr is not None:
        for file in entry.cr.files:
            lines += ["", f"--- {file.path} (pre-image {file.pre_image_blob or 'new'})", file.diff]
    _emit(data, as_json, "\n".join(lines).rstrip())


@queue.command("retry")
@click.argument("change_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def retry(change_id: str, as_json: bool) -> None:
    """Put a dead-lettered (or backing-off) entry back in its queue, and start a merge job."""
    from bot.pipeline.patches import wake_merge_queue

    mq = _queue()
    entry = mq.retry(change_id)
    wake_merge_queue(mq.redis)  # else it would wait for the next change to be submitted
    _emit(entry.as_dict(), as_json, f"{change_id}: {entry.state} (queued again on {entry.queue})")


@queue.command("drop")
@click.argument("change_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def drop(change_id: str, as_json: bool) -> None:
    """Delete a waiting, delayed or dead entry, or a change waiting for /shunter approve.

    The change's record says an operator dropped it, so its pull request's /shunter queue
    lists it as dropped and /shunter retry says so, instead of not finding it."""
    mq = _queue()
    record = pr_changes.read_record(mq.redis, change_id)
    now = datetime.now(UTC)
    if mq.get(change_id) is None and "cr" in record:  # it waits for approval, not in the queue
        title = str(record["cr"].get("title", ""))
        pr_changes.mark_dropped(mq.redis, change_id, record, title=title, at=now)
        where = f"{record.get('repo')}#{record.get('pr')}"
        payload = {"id": change_id, "state": "dropped", "repo": record.get("repo"), "pr": record.get("pr")}
        _emit(payload, as_json, f"{change_id}: dropped (it waited for approval on {where})")
        return
    entry = mq.drop(change_id)
    place = record or pr_changes.place_of(entry.cr)
    if place:
        title = entry.cr.title if entry.cr else ""
        pr_changes.mark_dropped(mq.redis, change_id, place, title=title, at=now)
    _emit(entry.as_dict(), as_json, f"{change_id}: dropped from {entry.queue}")
