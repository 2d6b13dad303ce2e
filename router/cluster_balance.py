"""Balance partitions over routers in separate processes (a cluster on ZooKeeper): each router
runs one balancer over the same ownership service. Every balancer sees the live routers and
the map, computes the same `rebalance` (kernel.ownership: deterministic), and does only its own
part: hands off (planned) what it must give, and claims what it is given once it is free. No
coordinator: the map's changes drive each step; a router that dies frees its partitions when
its session expires, and the others take them. An operator's placements (`hubbub admin move`,
persistent in ZooKeeper) are part of the rule's input: a placed partition moves to its router
by the same planned handoff, and stays there.

The in-process sibling is router/handoff.py (`LocalRouters`, one process, many routers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from kernel.errors import Conflict, HubbubError, Unavailable
from kernel.ownership import (
    OwnershipLost,
    PartitionMap,
    PartitionOwnership,
    SessionState,
    owners_of,
    rebalance_placed,
)
from router.ownership import RouterPartitions

log = logging.getLogger(__name__)

RENEW_FIRST_DELAY_S = 0.1
RENEW_MAX_DELAY_S = 2.0
"""Backoff between attempts to open a new session after a lost one (the old one's session
znode may linger until the ensemble expires it), and between balancing steps that failed."""


class LiveRouters(Protocol):
    """Who is alive: router id -> Link target of each router with a session, now and after
    each change (discovery.zk_ownership.ZkOwnership is one)."""

    def watch_routers(self) -> AsyncIterator[dict[str, str]]: ...


class Placements(Protocol):
    """An operator's placements (`hubbub admin move`): partition -> router id, now and after
    each change (discovery.zk_ownership.ZkOwnership is one). Every balancer honours them."""

    def watch_placements(self) -> AsyncIterator[dict[int, str]]: ...


class ClusterBalancer:
    def __init__(
        self,
        ownership: PartitionOwnership,
        live: LiveRouters,
        router_id: str,
        target: str,
        partitions: RouterPartitions,
        placements: Placements | None = None,
    ) -> None:
        self._ownership = ownership
        self._live = live
        self._placements_source = placements
        self._placements: dict[int, str] = {}
        self._router_id = router_id
        self._target = target
        self._partitions = partitions
        self._routers: list[str] = []
        self._map: PartitionMap | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._follow_routers()),
            asyncio.create_task(self._follow_map()),
            asyncio.create_task(self._balance()),
            asyncio.create_task(self._renew_lost_sessions()),
        ]
        if self._placements_source is not None:
            self._tasks.append(asyncio.create_task(self._follow_placements(self._placements_source)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow_routers(self) -> None:
        async for routers in self._live.watch_routers():
            self._routers = sorted(routers)
            self._wake.set()

    async def _follow_map(self) -> None:
        async for current in self._ownership.watch():
            self._map = current
            self._wake.set()

    async def _follow_placements(self, source: Placements) -> None:
        async for placements in source.watch_placements():
            self._placements = placements
            self._wake.set()

    async def _renew_lost_sessions(self) -> None:
        """A lost session (expired: e.g. this process was frozen past its timeout) holds
        nothing any more; the router has dropped every partition (router/ownership.py). Open
        a new one, so it joins again and the next balancing step gives it its share."""
        while True:
            session = self._partitions.session
            assert session is not None
            async for state in session.state_changes():
                if state is SessionState.LOST:
                    break
                if state is SessionState.CONNECTED:
                    self._wake.set()  # a step skipped while the session was away runs now
            delay = RENEW_FIRST_DELAY_S
            while True:
                try:
                    renewed = await self._ownership.open_session(self._router_id, self._target)
                    break
                except (Conflict, Unavailable) as error:  # the old session not yet expired
                    log.info("router %s: new ownership session not open yet: %r", self._router_id, error)
                    await asyncio.sleep(delay)  # back off: no event says when the old one goes
                    delay = min(2 * delay, RENEW_MAX_DELAY_S)
            log.warning("router %s: ownership session lost; joined again in a new one", self._router_id)
            self._partitions.attach(renewed)
            self._partitions.start()
            self._wake.set()

    async def _balance(self) -> None:
        delay = RENEW_FIRST_DELAY_S
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._step()
                delay = RENEW_FIRST_DELAY_S
                continue
            except Conflict:
                continue  # someone else moved first: their move changes the map, which wakes this
            except OwnershipLost as error:
                session = self._partitions.session
                if session is None or session.state is not SessionState.CONNECTED:
                    continue  # the session is away: its coming back (CONNECTED) wakes this
                # Still connected (a ZooKeeper request timed out): no change may follow to
                # wake this loop, so retry after a pause.
                log.warning("router %s: balancing step cut short: %r", self._router_id, error)
            except HubbubError as error:
                # E.g. Seal unavailable: the claims were given back, which changes the map and
                # wakes this loop at once; back off so a store outage is not hammered.
                log.warning("router %s: balancing step failed: %r", self._router_id, error)
            await asyncio.sleep(delay)
            delay = min(2 * delay, RENEW_MAX_DELAY_S)
            self._wake.set()

    async def _step(self) -> None:
        current, session = self._map, self._partitions.session
        if current is None or session is None or session.state is not SessionState.CONNECTED:
            log.debug("router %s: balancing step skipped: session away or no map yet", self._router_id)
            return  # the session going CONNECTED (or a new map) wakes the next step
        if self._router_id not in self._routers:
            log.debug("router %s: balancing step skipped: not listed among the routers", self._router_id)
            return  # this router's own session is not listed yet; the listing wakes the next step
        moves = rebalance_placed(current.partitions, owners_of(current), self._routers, self._placements)
        giving = [m.partition for m in moves if m.source == self._router_id]
        await asyncio.gather(*(self._partitions.hand_off(p) for p in giving))
        if giving:
            log.info("router %s: handed off %d partitions", self._router_id, len(giving))
        taking = [
            m.partition for m in moves if m.target == self._router_id and current.owner(m.partition) is None
        ]
        if taking:
            taken = await self._partitions.take(taking)
            log.info("router %s: took %d partitions", self._router_id, len(taken))
