"""What every cluster process (deploy/cluster_router.py, deploy/cluster_edge.py) does around
its services: log to stderr, announce its addresses as one JSON line on stdout, run until
SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from kernel.runtime import run_event_loop


class Served(Protocol):
    @property
    def target(self) -> str: ...

    async def stop(self, grace: float = ...) -> None: ...


def announce(addresses: dict[str, str]) -> None:
    """The one line a launcher waits for (its readiness) and reads the addresses from."""
    print(json.dumps(addresses), flush=True)


async def until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run_process(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_event_loop(main())


async def serve_until_signalled(role: str, starting: Awaitable[Served]) -> None:
    """Start one gRPC service, announce `{"<role>_target": ...}`, serve until signalled, stop."""
    service = await starting
    try:
        announce({f"{role}_target": service.target})
        await until_signalled()
    finally:
        await service.stop()
