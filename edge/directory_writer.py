"""Writes this edge's sessions to the shared connection registry (the Redis directory) under the
edge's own lease: opened/closed sessions in batches (whatever accumulated while the previous
write was in flight), the lease renewed every lease/3 (at least every RENEW_EVERY_MAX_S), and
every live session restated when a renewal finds no lease (it lapsed, or Redis restarted empty)
or after any failed call. Every call
is bounded by a timeout; failures are logged at a bounded rate and retried with backoff, so the
edge's event loop never waits on Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from typing import Protocol

from kernel.background import BackgroundTask
from kernel.backoff import backoff_delay
from kernel.log_limit import LogAtMostEvery
from protos.router_pb2 import SessionRef

log = logging.getLogger(__name__)
CALL_TIMEOUT_S = 5.0
"""Bound on one registry call (the Redis client's own timeouts are the first line)."""
RENEW_EVERY_MAX_S = 1.0
"""Longest time between renewals whatever the lease: a Redis that restarted empty while no
session changed is found by the next renewal, and until the edge restates, routers find none
of its users (their messages go to push, not live). One small call per edge per second."""
FAREWELL_TIMEOUT_S = 1.0
"""How long a stopping edge tries to clear its sessions before leaving them to its lease."""

# (user_id, session_id, device_id) and (opened, user_id, session_id, device_id), as the
# router's SessionDirectory takes them.
OpenSession = tuple[str, int, str]
SessionChange = tuple[bool, str, int, str]


def renew_every_s(lease_ms: int) -> float:
    """A third of the lease (two renewals may fail before it lapses), and at most
    RENEW_EVERY_MAX_S."""
    return min(lease_ms / 3000.0, RENEW_EVERY_MAX_S)


class SessionRegistry(Protocol):
    """The write side of the router's SessionDirectory that an edge uses (deploy injects it)."""

    async def write_sessions(self, edge_id: str, changes: Sequence[SessionChange]) -> None: ...

    async def renew_edge(self, edge_id: str, lease_ms: int) -> bool: ...

    async def restate_edge(self, edge_id: str, sessions: Sequence[OpenSession], lease_ms: int) -> None: ...

    async def drop_edge(self, edge_id: str) -> int: ...


class DirectoryWriter:
    """Implements connection.PresenceSink (opened/closed). One call in flight at a time."""

    def __init__(
        self,
        registry: SessionRegistry,
        edge_id: str,
        lease_ms: int,
        live_refs: Callable[[], list[SessionRef]],
    ) -> None:
        self._registry = registry
        self._edge_id = edge_id
        self._lease_ms = lease_ms
        self._live_refs = live_refs
        self._pending: list[SessionChange] = []
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()
        self._need_restate = True  # the first write states every session and takes the lease
        self._task = BackgroundTask("directory-writer", self._run)
        self._rng = random.Random()
        self._warn = LogAtMostEvery(log)
        self.restates = 0  # observability: full restatements written
        self.failures = 0

    def start(self) -> None:
        self._wake.set()
        self._task.start()

    def opened(self, ref: SessionRef) -> None:
        self._pending.append((True, ref.user_id, ref.session_id, ref.device_id))
        self._settled.clear()
        self._wake.set()

    def closed(self, ref: SessionRef) -> None:
        self._pending.append((False, ref.user_id, ref.session_id, ref.device_id))
        self._settled.clear()
        self._wake.set()

    async def settled(self) -> None:
        """Returns once every change so far is written (for tests and a graceful stop)."""
        await self._settled.wait()

    async def stop(self, *, farewell: bool = True) -> None:
        """Stop writing; with `farewell`, clear this edge's sessions now (best effort) rather
        than leave them to its lease."""
        if not self._task.running:
            return
        await self._task.stop()
        if farewell:
            try:
                async with asyncio.timeout(FAREWELL_TIMEOUT_S):
                    await self._registry.drop_edge(self._edge_id)
            except Exception as exc:  # noqa: BLE001 - Redis down: the lease clears them later
                log.info("directory farewell of %s failed: %r", self._edge_id, exc)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        renew_s = renew_every_s(self._lease_ms)
        renew_at = loop.time()  # the first pass restates, which takes the lease
        attempt = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, renew_at - loop.time())):
                    await self._wake.wait()
            self._wake.clear()
            try:
                async with asyncio.timeout(CALL_TIMEOUT_S):
                    if self._need_restate:
                        await self._restate()
                        renew_at = loop.time() + renew_s
                    if self._pending:
                        self._pending, changes = [], self._pending
                        await self._registry.write_sessions(self._edge_id, changes)
                    if loop.time() >= renew_at:
                        if not await self._registry.renew_edge(self._edge_id, self._lease_ms):
                            # the lease lapsed, or Redis restarted and forgot us: restate all
                            self._need_restate = True
                            self._wake.set()
                            continue
                        renew_at = loop.time() + renew_s
            except Exception as exc:  # noqa: BLE001 - Redis down or slow: restate once it answers
                self.failures += 1
                self._warn.warning("directory write for %s failed, retrying: %r", self._edge_id, exc)
                self._need_restate = True
                attempt += 1
                await asyncio.sleep(backoff_delay(attempt, self._rng))
                self._wake.set()
                continue
            attempt = 0
            if not self._pending and not self._need_restate:
                self._settled.set()

    async def _restate(self) -> None:
        """Every live session, taken at once with the pending changes they already include."""
        self._pending = []
        sessions = [(ref.user_id, ref.session_id, ref.device_id) for ref in self._live_refs()]
        await self._registry.restate_edge(self._edge_id, sessions, self._lease_ms)
        self._need_restate = False
        self.restates += 1
