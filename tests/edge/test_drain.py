"""The drain rule and the Drainer over a hub of recording members (no sockets)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.actions import CloseCode
from edge.codec import PushedFrame
from edge.drain import Drainer, reconnect_plan
from edge.hub import Hub
from protos.client_pb2 import ServerFrame
from protos.router_pb2 import SessionRef

TIMEOUT_S = 10.0


class Member:
    def __init__(self, session_id: int) -> None:
        self.ref = SessionRef(session_id=session_id, user_id=f"u{session_id}")
        self.token_generation = 0
        self.sent: list[ServerFrame] = []
        self.closed: int | None = None
        self.told = asyncio.Event()
        self.shut_down = asyncio.Event()

    def push(self, pushed: PushedFrame) -> None:
        pass

    def tick(self, now_ms: int) -> None:
        pass

    def revoke(self, detail: str) -> None:
        pass

    def queued_bytes(self) -> int:
        return 0

    def send(self, frame: ServerFrame) -> None:
        self.sent.append(frame)
        self.told.set()

    def shut(self, code: int, reason: str) -> None:
        self.closed = code
        self.shut_down.set()


class Flags:
    """A DrainWatch the test sets by hand."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bool | None] = asyncio.Queue()

    async def draining(self) -> AsyncIterator[bool]:
        while (flag := await self.queue.get()) is not None:
            yield flag


def hub_of(count: int) -> tuple[Hub, list[Member]]:
    hub = Hub()
    members = [Member(i + 1) for i in range(count)]
    for member in members:
        hub.add(member)
        hub.register(member)
    return hub, members


@settings(deadline=None)  # no timing: a loaded machine is not a failure
@given(st.integers(0, 500), st.integers(0, 60_000), st.integers(0, 60_000), st.randoms(use_true_random=False))
def test_the_plan_spreads_clients_over_the_period_and_leaves_time_to_obey(
    count: int, period_ms: int, close_after_ms: int, rng: random.Random
) -> None:
    plan = reconnect_plan(count, period_ms, close_after_ms, rng)
    assert len(plan) == count
    sends = [at for at, _ in plan]
    assert sends == sorted(sends) and all(0 <= at <= period_ms for at in sends)
    if count > 1:  # evenly: no two clients share a slot unless the period is shorter than the crowd
        assert sends[-1] >= period_ms * (count - 1) // count - 1
    for _, after_ms in plan:
        assert 0 <= after_ms <= max(close_after_ms / 2, 0)


async def test_draining_tells_every_client_then_closes_those_who_stay() -> None:
    hub, members = hub_of(3)
    drainer = Drainer(hub, period_ms=30, close_after_ms=0)
    flags = Flags()
    following = asyncio.create_task(drainer.follow(flags))
    flags.queue.put_nowait(False)
    flags.queue.put_nowait(True)
    async with asyncio.timeout(TIMEOUT_S):
        for member in members:
            await member.shut_down.wait()
    for member in members:
        (frame,) = member.sent
        assert frame.WhichOneof("kind") == "reconnect"
        assert frame.reconnect.reason == "draining" and frame.reconnect.close_after_ms == 0
        assert member.closed == CloseCode.RECONNECT
    flags.queue.put_nowait(None)
    await following
    assert not drainer.draining


async def test_a_client_arriving_during_the_drain_is_told_at_once_and_undrain_spares_it() -> None:
    hub, _ = hub_of(0)
    drainer = Drainer(hub, period_ms=0, close_after_ms=60_000)
    drainer.start()
    newcomer = Member(7)
    hub.add(newcomer)
    hub.register(newcomer)
    assert [f.reconnect.after_ms for f in newcomer.sent] == [0]
    await drainer.stop()  # undrain: the pending close is cancelled
    assert newcomer.closed is None and hub.on_register is None
    later = Member(8)
    hub.add(later)
    hub.register(later)
    assert later.sent == []


async def test_a_client_that_left_is_not_closed() -> None:
    hub, (leaver, stayer) = hub_of(2)
    leaver.send = lambda frame: hub.discard(leaver)  # type: ignore[method-assign]  # obeys at once
    drainer = Drainer(hub, period_ms=20, close_after_ms=0)  # told 10 ms apart, closes due at once
    drainer.start()
    async with asyncio.timeout(TIMEOUT_S):
        await stayer.shut_down.wait()  # the leaver's close came due before this one
    assert leaver.closed is None and stayer.closed == CloseCode.RECONNECT
    await drainer.stop()
