"""Session directory: which edge holds which session of which user, fed by the Link's
opened/closed items. An interface plus the in-memory backend (a Redis one comes later)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Protocol

# (session_id, device_id); session ids are unique per edge only.
SessionEntry = tuple[int, str]
# user_id -> edge_id -> sessions of that user on that edge.
Placement = Mapping[str, Mapping[str, Set[SessionEntry]]]


class SessionDirectory(Protocol):
    """Async so a networked backend fits; callers batch lookups (one per fan-out batch)."""

    async def add(self, edge_id: str, user_id: str, session_id: int, device_id: str) -> None: ...

    async def remove(self, edge_id: str, session_id: int) -> None: ...

    async def drop_edge(self, edge_id: str) -> int:
        """Forget every session of an edge (its link ended); returns how many."""
        ...

    async def lookup(self, user_ids: Iterable[str]) -> Placement:
        """Placement of the given users; users with no session are absent. Read-only, use at once."""
        ...

    async def session_count(self) -> int: ...


class MemoryDirectory:
    """Dicts in this process. `lookup` hands out live views to avoid copies on the fan-out path."""

    def __init__(self) -> None:
        self._by_user: dict[str, dict[str, set[SessionEntry]]] = {}
        self._by_edge: dict[str, dict[int, tuple[str, str]]] = {}

    async def add(self, edge_id: str, user_id: str, session_id: int, device_id: str) -> None:
        sessions = self._by_edge.setdefault(edge_id, {})
        previous = sessions.get(session_id)
        if previous is not None:
            if previous == (user_id, device_id):
                return  # a replay of a session we already hold
            self._forget(edge_id, session_id, previous)
        sessions[session_id] = (user_id, device_id)
        self._by_user.setdefault(user_id, {}).setdefault(edge_id, set()).add((session_id, device_id))

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
