"""Session directory: which edge holds which session of which user. The interface and the
in-memory backend (single node, fed by the Link's opened/closed items); the Redis backend,
written by the edges themselves under edge-held leases, is router/redis_directory.py.

Leases: an edge that calls `renew_edge` keeps its sessions only while it keeps renewing;
`expire` clears the sessions of edges whose lease lapsed. An edge that never took a lease is
held until `drop_edge` (the single-node path, where the router's link is the lease)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from typing import Protocol

from kernel.clock import Clock, SystemClock
from kernel.errors import InvalidArgument

# (session_id, device_id); session ids are unique per edge only.
SessionEntry = tuple[int, str]
# user_id -> edge_id -> sessions of that user on that edge.
Placement = Mapping[str, Mapping[str, Set[SessionEntry]]]
# (user_id, session_id, device_id): one open session an edge restates.
OpenSession = tuple[str, int, str]
# (opened, user_id, session_id, device_id): a session an edge opened (True) or closed (False).
SessionChange = tuple[bool, str, int, str]


class SessionDirectory(Protocol):
    """Async so a networked backend fits; callers batch lookups (one per fan-out batch)."""

    async def add(self, edge_id: str, user_id: str, session_id: int, device_id: str) -> None: ...

    async def remove(self, edge_id: str, session_id: int) -> None: ...

    async def write_sessions(self, edge_id: str, changes: Sequence[SessionChange]) -> None:
        """Apply an edge's opened and closed sessions in order, in one batch (the edge's writer,
        edge/directory_writer.py): the same end state as `add` / `remove` one by one."""
        ...

    async def drop_edge(self, edge_id: str) -> int:
        """Forget every session of an edge and its lease (the edge closed, or its link ended on
        a single node); returns how many."""
        ...

    async def lookup(self, user_ids: Iterable[str]) -> Placement:
        """Placement of the given users; users with no session are absent. Read-only, use at once."""
        ...

    async def session_count(self) -> int: ...

    async def renew_edge(self, edge_id: str, lease_ms: int) -> bool:
        """Extend the edge's lease to now + lease_ms. False when the directory holds no live
        lease for it (never taken, lapsed, or the store lost it): the edge must `restate_edge`."""
        ...

    async def restate_edge(self, edge_id: str, sessions: Sequence[OpenSession], lease_ms: int) -> None:
        """Replace every session of the edge with `sessions` and take a fresh lease (after the
        edge or the store restarted, or a renewal came back False)."""
        ...

    async def expire(self) -> int | None:
        """Clear the sessions of edges whose lease lapsed (by the directory's clock). Returns
        when (ms) to call again at the latest, or None when no lease is held."""
        ...


def check_lease(lease_ms: int) -> None:
    if lease_ms <= 0:
        raise InvalidArgument("lease_ms must be positive")


class MemoryDirectory:
    """Dicts in this process. `lookup` hands out live views to avoid copies on the fan-out path."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._by_user: dict[str, dict[str, set[SessionEntry]]] = {}
        self._by_edge: dict[str, dict[int, tuple[str, str]]] = {}
        self._leases: dict[str, int] = {}  # edge -> lease deadline (ms), for edges that took one

    async def renew_edge(self, edge_id: str, lease_ms: int) -> bool:
        check_lease(lease_ms)
        now = self._clock.now_ms()
        deadline = self._leases.get(edge_id)
        if deadline is None or deadline <= now:
            return False
        self._leases[edge_id] = now + lease_ms
        return True

    async def restate_edge(self, edge_id: str, sessions: Sequence[OpenSession], lease_ms: int) -> None:
        check_lease(lease_ms)
        await self.drop_edge(edge_id)
        for user_id, session_id, device_id in sessions:
            await self.add(edge_id, user_id, session_id, device_id)
        self._leases[edge_id] = self._clock.now_ms() + lease_ms

    async def expire(self) -> int | None:
        now = self._clock.now_ms()
        for edge_id in [edge for edge, deadline in self._leases.items() if deadline <= now]:
            await self.drop_edge(edge_id)
        return min(self._leases.values(), default=None)

    async def add(self, edge_id: str, user_id: str, session_id: int, device_id: str) -> None:
        sessions = self._by_edge.setdefault(edge_id, {})
        previous = sessions.get(session_id)
        if previous is not None:
            if previous == (user_id, device_id):
                return  # a replay of a session we already hold
            self._forget(edge_id, session_id, previous)
        sessions[session_id] = (user_id, device_id)
        self._by_user.setdefault(user_id, {}).setdefault(edge_id, set()).add((session_id, device_id))

    async def write_sessions(self, edge_id: str, changes: Sequence[SessionChange]) -> None:
        for opened, user_id, session_id, device_id in changes:
            if opened:
                await self.add(edge_id, user_id, session_id, device_id)
            else:
                await self.remove(edge_id, session_id)

    async def remove(self, edge_id: str, session_id: int) -> None:
        sessions = self._by_edge.get(edge_id)
        if sessions is None:
            return
        owner = sessions.pop(session_id, None)
        if owner is not None:
            self._forget(edge_id, session_id, owner)
        if not sessions:
            del self._by_edge[edge_id]

    async def drop_edge(self, edge_id: str) -> int:
        self._leases.pop(edge_id, None)
        sessions = self._by_edge.pop(edge_id, {})
        for user_id in {user for user, _ in sessions.values()}:
            edges = self._by_user.get(user_id)
            if edges is not None:
                edges.pop(edge_id, None)
                if not edges:
                    del self._by_user[user_id]
        return len(sessions)

    async def lookup(self, user_ids: Iterable[str]) -> Placement:
        by_user = self._by_user
        return {user: by_user[user] for user in user_ids if user in by_user}

    async def session_count(self) -> int:
        return sum(len(sessions) for sessions in self._by_edge.values())

    def _forget(self, edge_id: str, session_id: int, owner: tuple[str, str]) -> None:
        user_id, device_id = owner
        edges = self._by_user.get(user_id)
        if edges is None:
            return
        entries = edges.get(edge_id)
        if entries is not None:
            entries.discard((session_id, device_id))
            if not entries:
                del edges[edge_id]
        if not edges:
            del self._by_user[user_id]


class ReachableDirectory:
    """A shared directory seen by one router: lookups leave out edges this router has no live
    link to (the registry may list an edge before its link to this router is up, or while it is
    re-linking), so their users count as offline (push) instead of getting a frame nobody can
    carry. Everything else goes to the shared directory as is."""

    def __init__(self, shared: SessionDirectory, linked: Callable[[str], bool]) -> None:
        self.shared = shared
        self._linked = linked

    async def lookup(self, user_ids: Iterable[str]) -> Placement:
        placement: dict[str, Mapping[str, Set[SessionEntry]]] = {}
        for user_id, edges in (await self.shared.lookup(user_ids)).items():
            reachable = {edge: entries for edge, entries in edges.items() if self._linked(edge)}
            if reachable:
                placement[user_id] = reachable
        return placement

    async def add(self, edge_id: str, user_id: str, session_id: int, device_id: str) -> None:
        await self.shared.add(edge_id, user_id, session_id, device_id)

    async def remove(self, edge_id: str, session_id: int) -> None:
        await self.shared.remove(edge_id, session_id)

    async def write_sessions(self, edge_id: str, changes: Sequence[SessionChange]) -> None:
        await self.shared.write_sessions(edge_id, changes)

    async def drop_edge(self, edge_id: str) -> int:
        return await self.shared.drop_edge(edge_id)

    async def session_count(self) -> int:
        return await self.shared.session_count()

    async def renew_edge(self, edge_id: str, lease_ms: int) -> bool:
        return await self.shared.renew_edge(edge_id, lease_ms)

    async def restate_edge(self, edge_id: str, sessions: Sequence[OpenSession], lease_ms: int) -> None:
        await self.shared.restate_edge(edge_id, sessions, lease_ms)

    async def expire(self) -> int | None:
        return await self.shared.expire()
