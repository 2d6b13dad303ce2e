"""The presence rules as functions of (state, input, now): leases, debounce, expiry.

No clock and no I/O here, so every rule is tested by passing `now` (as Synapse's
`handle_timeout` does). The caller owns the state and serializes access to it.

Transitions of a user (by the number of live sessions over every edge):
  OFFLINE --first session--> ONLINE (published at once)
  ONLINE --last session gone--> OFFLINE PENDING (nothing published yet)
  OFFLINE PENDING --a session again before the deadline--> ONLINE (a flap: nothing published)
  OFFLINE PENDING --deadline passes (expire)--> OFFLINE (published, last_seen = when it went)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from kernel.errors import InvalidArgument
from presence.model import EdgeReport, SessionKey, UserPresence

DEFAULT_DEBOUNCE_MS = 2000


@dataclass(slots=True)
class EdgeLease:
    expires_at_ms: int
    sessions: set[SessionKey] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class UserRecord:
    """What watchers were last told (`online`), and a pending offline deadline if the user
    has no live session but the debounce window is still open."""

    online: bool
    last_seen_ms: int
    offline_deadline_ms: int | None = None


@dataclass(slots=True)
class PresenceState:
    """Containers are updated in place (copying every session per report would cost O(n));
    the per-user records are immutable values, replaced on change."""

    debounce_ms: int = DEFAULT_DEBOUNCE_MS
    edges: dict[str, EdgeLease] = field(default_factory=dict)
    live: dict[str, int] = field(default_factory=dict)  # user -> open sessions (only > 0)
    users: dict[str, UserRecord] = field(default_factory=dict)
    # (deadline, user) of pending offlines; entries are stale once the record moved on.
    pending: list[tuple[int, str]] = field(default_factory=list)


Changes = list[UserPresence]


def needs_resync(state: PresenceState, report: EdgeReport, now: int) -> bool:
    """A partial report from an edge whose lease is unknown or lapsed cannot be placed:
    the sessions it reported earlier are gone, so the edge must restate them all."""
    if report.full_snapshot:
        return False
    lease = state.edges.get(report.edge_id)
    return lease is None or lease.expires_at_ms <= now


def check_report(report: EdgeReport) -> None:
    if not report.edge_id:
        raise InvalidArgument("edge_id is required")
    if report.lease_ms <= 0:
        raise InvalidArgument("lease_ms must be positive")


def apply_report(state: PresenceState, report: EdgeReport, now: int) -> tuple[PresenceState, Changes]:
    """Renew the edge's lease and apply its session changes. A lease that lapsed before
    this report is treated as lapsed (its sessions are gone) whether or not `expire` ran,
    so the outcome never depends on when the expiry task woke up."""
    check_report(report)
    changes: Changes = []
    lease = state.edges.get(report.edge_id)
    if lease is not None and lease.expires_at_ms <= now:
        _drop_edge(state, report.edge_id, changes)
        lease = None
    if lease is None:
        lease = state.edges[report.edge_id] = EdgeLease(expires_at_ms=now + report.lease_ms)
    else:
        lease.expires_at_ms = now + report.lease_ms

    before: dict[str, int] = {}
    sessions = lease.sessions
    if report.full_snapshot:
        wanted = {c.key for c in report.changes if c.online}
        for key in sessions - wanted:
            _count(state, before, key[0], -1)
        for key in wanted - sessions:
            _count(state, before, key[0], +1)
        lease.sessions = wanted
    else:
        for change in report.changes:
            key = change.key
            if change.online:
                if key not in sessions:
                    sessions.add(key)
                    _count(state, before, key[0], +1)
            elif key in sessions:
                sessions.discard(key)
                _count(state, before, key[0], -1)
    _settle(state, before, now, changes)
    return state, changes


def expire(state: PresenceState, now: int) -> tuple[PresenceState, Changes]:
    """Drop edges whose lease lapsed, then publish offlines whose debounce deadline passed."""
    changes: Changes = []
    lapsed = [edge_id for edge_id, lease in state.edges.items() if lease.expires_at_ms <= now]
    for edge_id in lapsed:
        _drop_edge(state, edge_id, changes)
    pending = state.pending
    while pending and pending[0][0] <= now:
        deadline, user_id = heapq.heappop(pending)
        settled = offline_due(state.users.get(user_id), user_id, deadline)
        if settled is not None:
            state.users[user_id], change = settled
            changes.append(change)
    return state, changes


def offline_due(
    record: UserRecord | None, user_id: str, deadline: int
) -> tuple[UserRecord, UserPresence] | None:
    """A pending offline whose `deadline` passed: the record and the change to publish, or
    None when the entry is stale (the user came back, or a later deadline replaced it)."""
    if record is None or record.offline_deadline_ms != deadline:
        return None
    return UserRecord(online=False, last_seen_ms=record.last_seen_ms), UserPresence(
        user_id, False, record.last_seen_ms
    )


def next_deadline(state: PresenceState) -> int | None:
    """The earliest time `expire` could change something, or None when nothing is due.
    May be early (a pending offline cancelled by a reconnect); never late."""
    candidates = [lease.expires_at_ms for lease in state.edges.values()]
    if state.pending:
        candidates.append(state.pending[0][0])
    return min(candidates) if candidates else None


def status(state: PresenceState, user_id: str, now: int) -> UserPresence:
    """The debounced view: a user inside the debounce window still reads as online."""
    return record_status(state.users.get(user_id), user_id, now)


def record_status(record: UserRecord | None, user_id: str, now: int) -> UserPresence:
    """`status` of one stored record (backends that keep records elsewhere call this)."""
    if record is None:
        return UserPresence(user_id, False, 0)
    if record.online:
        return UserPresence(user_id, True, now)
    return UserPresence(user_id, False, record.last_seen_ms)


def statuses(state: PresenceState, user_ids: Iterable[str], now: int) -> list[UserPresence]:
    return [status(state, user_id, now) for user_id in user_ids]


# ------------------------------------------------------------------ helpers


def _count(state: PresenceState, before: dict[str, int], user_id: str, delta: int) -> None:
    """Change a user's live-session count, remembering the count before the first change."""
    current = state.live.get(user_id, 0)
    before.setdefault(user_id, current)
    updated = current + delta
    if updated > 0:
        state.live[user_id] = updated
    else:
        state.live.pop(user_id, None)


def _drop_edge(state: PresenceState, edge_id: str, changes: Changes) -> None:
    """The edge's lease lapsed: its users count as gone at the lease deadline."""
    lease = state.edges.pop(edge_id)
    before: dict[str, int] = {}
    for key in lease.sessions:
        _count(state, before, key[0], -1)
    _settle(state, before, lease.expires_at_ms, changes)


def _settle(state: PresenceState, before: dict[str, int], now: int, changes: Changes) -> None:
    """Turn count changes into transitions. Only the counts before and after a batch
    matter, so a session that closes and reopens within one report is no change at all."""
    users = state.users
    for user_id, was in before.items():
        record, change = settle_user(
            users.get(user_id), user_id, was > 0, user_id in state.live, now, state.debounce_ms
        )
        if record is not None:
            users[user_id] = record
            if record.offline_deadline_ms is not None:
                heapq.heappush(state.pending, (record.offline_deadline_ms, user_id))
        if change is not None:
            changes.append(change)


def settle_user(
    record: UserRecord | None, user_id: str, was_live: bool, is_live: bool, now: int, debounce_ms: int
) -> tuple[UserRecord | None, UserPresence | None]:
    """One user's transition after a batch changed their live-session count: the new record
    (None: unchanged) and the change to publish (None: nobody is told)."""
    if was_live and not is_live:
        return UserRecord(online=True, last_seen_ms=now, offline_deadline_ms=now + debounce_ms), None
    if not was_live and is_live:
        if record is not None and record.online:
            # offline pending: a flap inside the debounce window, nobody is told
            return UserRecord(online=True, last_seen_ms=now), None
        return UserRecord(online=True, last_seen_ms=now), UserPresence(user_id, True, now)
    return None, None
