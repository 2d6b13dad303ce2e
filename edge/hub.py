"""Which connections this edge holds: every connection (for heartbeat ticks and shutdown)
and the authenticated ones by session id (for router deliveries, replays and snapshots)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Protocol

from edge import metrics
from edge.codec import PushedFrame
from edge.delivery_traces import DeliveryTraces
from protos.client_pb2 import ServerFrame
from protos.router_pb2 import SessionRef


class Member(Protocol):
    """What the hub needs of a connection."""

    @property
    def ref(self) -> SessionRef: ...

    def push(self, pushed: PushedFrame) -> None: ...

    def tick(self, now_ms: int) -> None: ...

    def revoke(self, detail: str) -> None: ...

    @property
    def token_generation(self) -> int:
        """The token generation it authenticated with (edge/revocations.revoked_by)."""
        ...

    def send(self, frame: ServerFrame) -> None:
        """Queue a frame of the edge's own (a Reconnect) for the client."""
        ...

    def shut(self, code: int, reason: str) -> None:
        """Flush what is queued, then close with `code` (without waiting for it)."""
        ...

    def queued_bytes(self) -> int: ...


class Hub:
    def __init__(self) -> None:
        self._all: set[Member] = set()
        self._open: dict[int, Member] = {}
        self.on_register: Callable[[Member], None] | None = None
        """Called with each member that authenticates (a draining edge tells it to move)."""
        self.frames_in = 0
        """Client frames received by this edge so far (its msgs/s load)."""
        self.delivery_traces = DeliveryTraces()  # used only while tracing

    def users_of(self, session_ids: Iterable[int]) -> set[str]:
        members = self._open
        return {members[s].ref.user_id for s in session_ids if s in members}

    def add(self, member: Member) -> None:
        self._all.add(member)

    def discard(self, member: Member) -> None:
        self._all.discard(member)
        if self._open.get(member.ref.session_id) is member:
            del self._open[member.ref.session_id]

    def register(self, member: Member) -> None:
        """The member authenticated: it may now receive router deliveries."""
        self._open[member.ref.session_id] = member
        if self.on_register is not None:
            self.on_register(member)

    def unregister(self, member: Member) -> None:
        if self._open.get(member.ref.session_id) is member:
            del self._open[member.ref.session_id]

    def deliver(self, session_ids: Collection[int], pushed: PushedFrame) -> None:
        """Hand one router frame to each listed session; ids no longer here are ignored."""
        metrics.frames_out(metrics.routed_kind(pushed.data)).inc(len(session_ids))
        members = self._open
        for session_id in session_ids:
            member = members.get(session_id)
            if member is not None:
                member.push(pushed)

    def sessions_of(self, user_id: str) -> list[Member]:
        """The user's authenticated sessions here (a scan: only "log out everywhere" asks)."""
        return [member for member in self._open.values() if member.ref.user_id == user_id]

    def holds(self, member: Member) -> bool:
        """Whether the member is still an authenticated session here."""
        return self._open.get(member.ref.session_id) is member

    def open_members(self) -> list[Member]:
        """The authenticated sessions, in the order they opened."""
        return list(self._open.values())

    def queued_bytes(self) -> int:
        """Bytes waiting for this edge's clients (the metrics' gauge asks at scrape time)."""
        return sum(member.queued_bytes() for member in self._all)

    def live_refs(self) -> list[SessionRef]:
        return [member.ref for member in self._open.values()]

    def members(self) -> Iterator[Member]:
        return iter(list(self._all))

    @property
    def connections(self) -> int:
        return len(self._all)

    @property
    def sessions(self) -> int:
        return len(self._open)
