"""Every request that reached the simulator, so tests can assert on how Shunter used GitHub."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, raw text, or None
    status: int
    installation_id: int | None
    kind: str = "api"  # "api" or "git"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


class Recorder:
    """A thread-safe append-only log with small query helpers.

    Patterns are shell-style globs over ``"METHOD /path"``, e.g. ``"PATCH /repos/*/check-runs/*"``
    or just a path glob (``"/repos/octo/demo/pulls/1"``) to match any method.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def add(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.requests)

    def __len__(self) -> int:
        return len(self.requests)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def filter(
        self, pattern: str = "*", *, status: int | None = None, kind: str | None = "api"
    ) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if matches(pattern, r.method, r.path)
            and (status is None or r.status == status)
            and (kind is None or r.kind == kind)
        ]

    def count(self, pattern: str = "*", *, status: int | None = None) -> int:
        return len(self.filter(pattern, status=status))

    def last(self, pattern: str = "*") -> RecordedRequest | None:
        found = self.filter(pattern)
        return found[-1] if found else None


def matches(pattern: str, method: str, path: str) -> bool:
    if " " in pattern:
        want_method, _, want_path = pattern.partition(" ")
        return (want_method in ("*", method.upper())) and fnmatch.fnmatchcase(path, want_path)
    return fnmatch.fnmatchcase(path, pattern)
