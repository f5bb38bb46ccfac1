"""``python -m bot.simulator``: run a simulated GitHub until interrupted.

Prints what ``shunter serve`` needs (URL, App id, key path, webhook secret) as ``SHUNTER_*``
lines that can be pasted into a shell or a ``.env`` file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path

from bot.simulator.driver import DEFAULT_SECRET, Simulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--webhook-url", default=None, help="where to send webhook deliveries")
    parser.add_argument("--webhook-secret", default=DEFAULT_SECRET)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument(
        "--repo", default=None, help="create this owner/name repository with the App installed"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="shunter-simulator-"))
    sim = Simulator(data_dir, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret)
    await sim.start(args.host, args.port)
    if args.repo:
        sim.create_repo(args.repo)
    print(f"GitHub simulator listening on {sim.url}")
    for name, value in sim.settings_env().items():
        print(f"{name}={value}")
    print(f"# data dir: {data_dir}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
