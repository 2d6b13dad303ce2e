"""Load reports: sampled per interval, sent only when changed, retried after a failure."""

from __future__ import annotations

import asyncio
import itertools

from edge.hub import Hub
from edge.load_report import Load, report_load_forever, sample
from kernel.errors import Unavailable
from protos.router_pb2 import SessionRef

TIMEOUT_S = 10.0


def test_a_sample_is_connections_and_frames_per_second() -> None:
    assert sample(3, frames=150, last_frames=50, elapsed_s=2.0) == Load(3, 50.0)
    assert sample(0, frames=7, last_frames=7, elapsed_s=1.0) == Load(0, 0.0)
    assert sample(1, frames=1, last_frames=0, elapsed_s=0.0) == Load(1, 0.0)
    assert sample(1, frames=1, last_frames=0, elapsed_s=3.0) == Load(1, 0.3)


class Sink:
    def __init__(self, failures: int = 0) -> None:
        self.reports: list[tuple[int, float]] = []
        self.failures = failures
        self.arrived = asyncio.Event()

    async def report_load(self, connections: int, msgs_per_second: float) -> None:
        if self.failures:
            self.failures -= 1
            raise Unavailable("registry down")
        self.reports.append((connections, msgs_per_second))
        self.arrived.set()


class Counted:
    """A hub member as far as counting goes."""

    def __init__(self) -> None:
        self.ref = SessionRef(session_id=id(self))


async def test_the_latest_load_lands_even_after_failures() -> None:
    hub = Hub()
    sink = Sink(failures=2)
    task = asyncio.create_task(report_load_forever(hub, sink, interval_ms=10))
    try:
        for _ in range(4):
            hub.add(Counted())  # type: ignore[arg-type]
        async with asyncio.timeout(TIMEOUT_S):
            while not sink.reports or sink.reports[-1][0] != 4:
                sink.arrived.clear()
                await sink.arrived.wait()
        assert sink.failures == 0  # the failed reports were sent again
        reports = sink.reports
        assert all(a != b for a, b in itertools.pairwise(reports)), "only changes are sent"
    finally:
        task.cancel()
