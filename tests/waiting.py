"""Waiting on conditions instead of for fixed times: a loaded machine (CI, or other engineers'
runs on the same two cores) only makes these waits longer, never fails them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[Any]:
    """Wrap ``owner.name`` so that each call's result is appended to the returned list."""
    real = getattr(owner, name)
    results: list[Any] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        results.append(result)
        return result

    monkeypatch.setattr(owner, name, counted)
    return results


async def until(condition: Callable[[], bool], within: float = 30.0, what: str = "the condition") -> None:
    """Poll ``condition`` on the running loop until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {within}s"
        await asyncio.sleep(0.01)
