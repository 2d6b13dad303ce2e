"""Drain: when this edge is marked draining (`hubbub admin drain EDGE`), tell each client to
reconnect elsewhere, spread over `drain_period_ms` so the other edges are not hit at once, and
close (4010) those still here `drain_close_after_ms` after being told. Undrain stops telling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from typing import Protocol

from edge.actions import CloseCode
from edge.hub import Hub, Member
from protos.client_pb2 import Reconnect, ServerFrame

log = logging.getLogger(__name__)

DRAINING = "draining"


class DrainWatch(Protocol):
    def draining(self) -> AsyncIterator[bool]:
        """Whether this edge is draining: now, then again at each change (a registry watch on
        the edge's own node). Ends when the source closes."""
        ...


def reconnect_plan(
    count: int, period_ms: int, close_after_ms: int, rng: random.Random
) -> list[tuple[int, int]]:
    """For each of `count` clients (in order): when to send its Reconnect, in ms after the
    drain began (evenly spread over the period), and the `after_ms` it is told to wait (a
    random part of its slot, so reconnects do not come in lockstep; below half the close delay,
    so a client that obeys leaves before it is closed)."""
    if count <= 0:
        return []
    slot = period_ms / count
    wait_cap = min(slot, close_after_ms / 2)
    return [(int(i * slot), int(rng.uniform(0, wait_cap))) for i in range(count)]


def reconnect_frame(after_ms: int, close_after_ms: int) -> ServerFrame:
    return ServerFrame(reconnect=Reconnect(reason=DRAINING, after_ms=after_ms, close_after_ms=close_after_ms))


class Drainer:
    """Follows a DrainWatch and moves the hub's clients off this edge while it drains."""

    def __init__(
        self, hub: Hub, period_ms: int, close_after_ms: int, rng: random.Random | None = None
    ) -> None:
        self._hub = hub
        self._period_ms = period_ms
        self._close_after_ms = close_after_ms
        self._rng = rng or random.Random()
        self._wave: asyncio.Task[None] | None = None
        self._closers: dict[int, asyncio.TimerHandle] = {}
        self.draining = False

    async def follow(self, watch: DrainWatch) -> None:
        try:
            async for draining in watch.draining():
                if draining and not self.draining:
                    self.start()
                elif not draining and self.draining:
                    await self.stop()
        finally:
            await self.stop()

    def start(self) -> None:
        log.info("draining: telling %d clients to reconnect elsewhere", len(self._hub.open_members()))
        self.draining = True
        self._hub.on_register = self._newcomer
        self._wave = asyncio.get_running_loop().create_task(self._tell_all())

    async def stop(self) -> None:
        """Undrain: nobody more is told or closed (those already told move all the same)."""
        if not self.draining:
            return
        self.draining = False
        self._hub.on_register = None
        for handle in self._closers.values():
            handle.cancel()
        self._closers.clear()
        wave, self._wave = self._wave, None
        if wave is not None:
            wave.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wave
        log.info("undrained: taking clients again")

    async def _tell_all(self) -> None:
        members = self._hub.open_members()
        plan = reconnect_plan(len(members), self._period_ms, self._close_after_ms, self._rng)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for member, (at_ms, after_ms) in zip(members, plan, strict=True):
            delay = start + at_ms / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._tell(member, after_ms)

    def _newcomer(self, member: Member) -> None:
        """A client that connected to the draining edge directly: told to move at once."""
        self._tell(member, 0)

    def _tell(self, member: Member, after_ms: int) -> None:
        session_id = member.ref.session_id
        if session_id in self._closers or not self._hub.holds(member):
            return  # already told, or gone
        member.send(reconnect_frame(after_ms, self._close_after_ms))
        delay_s = (after_ms + self._close_after_ms) / 1000
        self._closers[session_id] = asyncio.get_running_loop().call_later(delay_s, self._close, member)

    def _close(self, member: Member) -> None:
        self._closers.pop(member.ref.session_id, None)
        if self._hub.holds(member):
            member.shut(CloseCode.RECONNECT, DRAINING)
