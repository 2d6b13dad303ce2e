"""Presence as plain values: what edges report and what watchers and queries see.

No gRPC here; `presence/convert.py` maps these to and from protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass

# (user_id, device_id, session_id): a session is unique within its edge.
SessionKey = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class ReportAck:
    """When the report was applied, and whether the edge must send a full snapshot next."""

    applied_at_ms: int
    resync: bool = False


@dataclass(frozen=True, slots=True)
class SessionChange:
    user_id: str
    device_id: str
    session_id: int
    online: bool

    @property
    def key(self) -> SessionKey:
        return (self.user_id, self.device_id, self.session_id)


@dataclass(frozen=True, slots=True)
class EdgeReport:
    """A batch from one edge: sessions opened/closed, and a lease renewal.

    With `full_snapshot`, the opened sessions in `changes` are every open session of the
    edge; any other session the edge had is forgotten (an edge sends one after it restarts)."""

    edge_id: str
    lease_ms: int
    changes: tuple[SessionChange, ...] = ()
    full_snapshot: bool = False


@dataclass(frozen=True, slots=True)
class UserPresence:
    """A user's debounced status. `last_seen_ms` is when they last went offline, or the
    current time while they are online; 0 for a user presence never saw."""

    user_id: str
    online: bool
    last_seen_ms: int
