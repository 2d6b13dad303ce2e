"""An edge's load (connections, msgs/s) for the registry, which the best-edge rule reads:
sampled every `load_report_interval_ms`, sent only when it changed, so the registry sees at
most one write per interval per edge and the latest value within one interval."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from edge.hub import Hub
from kernel.errors import HubbubError
from kernel.log_limit import LogAtMostEvery

log = logging.getLogger(__name__)
_failed = LogAtMostEvery(log)


class LoadSink(Protocol):
    async def report_load(self, connections: int, msgs_per_second: float) -> None:
        """Record this edge's load in the registry (raises HubbubError when it cannot)."""
        ...


@dataclass(frozen=True)
class Load:
    connections: int
    msgs_per_second: float


def sample(connections: int, frames: int, last_frames: int, elapsed_s: float) -> Load:
    """The load over the last interval; msgs/s rounded to 0.1 so an idle edge stays unchanged."""
    rate = (frames - last_frames) / elapsed_s if elapsed_s > 0 else 0.0
    return Load(connections, round(rate, 1))


async def report_load_forever(
    hub: Hub, sink: LoadSink, interval_ms: int, now_s: Callable[[], float] = time.monotonic
) -> None:
    last: Load | None = None
    frames, at = hub.frames_in, now_s()
    while True:
        await asyncio.sleep(interval_ms / 1000)
        now = now_s()
        load = sample(hub.connections, hub.frames_in, frames, now - at)
        frames, at = hub.frames_in, now
        if load == last:
            continue
        try:
            await sink.report_load(load.connections, load.msgs_per_second)
        except HubbubError as exc:
            _failed.warning("load report failed (sent again at the next interval): %s", exc.message)
            continue
        last = load
