"""Partition ownership in memory: the single node's backend (one process holds every router).

It keeps the contract of kernel.ownership as ZooKeeper will: claims belong to a session, an
epoch counter per partition only grows, a suspended session keeps its claims (nobody may take
them) until it expires, and watchers see every map in version order. `suspend`, `resume` and
`expire` are what a lost connection and a session timeout do to a ZooKeeper session; tests
call them, the single node never needs to.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from discovery.state_feed import StateFeed
from kernel.errors import Conflict, InvalidArgument
from kernel.ownership import Owner, OwnershipLost, PartitionMap, SessionState
from kernel.partitions import DEFAULT_PARTITIONS


class MemorySession:
    def __init__(self, backend: MemoryOwnership, router_id: str, target: str) -> None:
        self._backend = backend
        self._router_id = router_id
        self.target = target
        self._state = SessionState.CONNECTED
        self._changes = StateFeed()

    @property
    def router_id(self) -> str:
        return self._router_id

    @property
    def state(self) -> SessionState:
        return self._state

    def _connected(self) -> None:
        if self._state is not SessionState.CONNECTED:
            raise OwnershipLost(f"session of {self._router_id} is {self._state.value}")

    async def claim(self, partition: int, above: int = 0) -> int:
        self._connected()
        return self._backend._claim(self, partition, above)

    async def release(self, partition: int) -> None:
        self._backend._release(self, partition)

    async def renew(self) -> None:
        self._connected()

    def state_changes(self) -> AsyncIterator[SessionState]:
        """Listening starts at the call (not at the first read): no change is missed."""
        return self._changes.listen()

    def _set(self, state: SessionState) -> None:
        if self._state is state or self._state is SessionState.LOST:
            return
        self._state = state
        self._changes.publish(state)

    async def close(self) -> None:
        self._backend._expire(self)


class MemoryOwnership:
    """One in-process ownership service."""

    def __init__(self, partitions: int = DEFAULT_PARTITIONS) -> None:
        self._map = PartitionMap.empty(partitions)
        self._epochs = [0] * partitions  # the persistent per-partition counter
        self._holders: dict[int, MemorySession] = {}
        self._sessions: dict[str, MemorySession] = {}
        self._waiters: set[asyncio.Event] = set()

    @property
    def partitions(self) -> int:
        return self._map.partitions

    async def open_session(self, router_id: str, target: str) -> MemorySession:
        if not router_id or not target:
            raise InvalidArgument("a session needs a router id and a target")
        old = self._sessions.get(router_id)
        if old is not None and old.state is not SessionState.LOST:
            raise Conflict(f"router {router_id} has a live session already")
        session = self._sessions[router_id] = MemorySession(self, router_id, target)
        return session

    async def current(self) -> PartitionMap:
        return self._map

    async def watch(self) -> AsyncIterator[PartitionMap]:
        seen = -1
        while True:
            if self._map.version == seen:
                event = asyncio.Event()
                self._waiters.add(event)
                try:
                    await event.wait()
                finally:
                    self._waiters.discard(event)
                continue
            current = self._map  # a slow reader skips to the newest: never out of order
            seen = current.version
            yield current

    # ------------------------------------------------------------ what a ZooKeeper session does

    def suspend(self, router_id: str) -> None:
        """The session's connection is lost: it keeps its claims, and must stop writing."""
        self._sessions[router_id]._set(SessionState.SUSPENDED)

    def resume(self, router_id: str) -> None:
        session = self._sessions[router_id]
        if session.state is SessionState.SUSPENDED:
            session._set(SessionState.CONNECTED)

    def expire(self, router_id: str) -> None:
        """The session timed out: its claims go, and its partitions may be claimed again."""
        self._expire(self._sessions[router_id])

    # ------------------------------------------------------------ internals

    def _check(self, partition: int) -> None:
        if not 0 <= partition < self._map.partitions:
            raise InvalidArgument(f"partition {partition} is outside 0..{self._map.partitions - 1}")

    def _claim(self, session: MemorySession, partition: int, above: int = 0) -> int:
        self._check(partition)
        holder = self._holders.get(partition)
        if holder is session and self._epochs[partition] > above:
            return self._epochs[partition]
        if holder is not None and holder is not session:
            raise Conflict(f"partition {partition} is held by {holder.router_id}")
        # In memory the counter starts at 0 with each process; the store's seals outlive it,
        # and `above` carries them forward.
        self._epochs[partition] = max(self._epochs[partition], above) + 1
        epoch = self._epochs[partition]
        self._holders[partition] = session
        self._publish(self._map.with_owner(partition, Owner(session.router_id, session.target, epoch)))
        return epoch

    def _release(self, session: MemorySession, partition: int) -> None:
        self._check(partition)
        if self._holders.get(partition) is session:
            del self._holders[partition]
            self._publish(self._map.with_owner(partition, None))

    def _expire(self, session: MemorySession) -> None:
        if session.state is SessionState.LOST:
            return
        session._set(SessionState.LOST)
        owners = list(self._map.owners)
        for partition in [p for p, s in self._holders.items() if s is session]:
            del self._holders[partition]
            owners[partition] = None
        if owners != list(self._map.owners):
            self._publish(PartitionMap(self._map.partitions, self._map.version + 1, tuple(owners)))

    def _publish(self, new_map: PartitionMap) -> None:
        self._map = new_map
        for event in self._waiters:
            event.set()
