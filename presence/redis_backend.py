"""The Redis presence backend: one shared state for many presence processes (standalone Redis or
Redis Cluster), the same pure rules as the memory backend, changes on one sharded channel.

Redis stores and the rules decide: each write reads a versioned record, runs the rule from
presence/rules.py in Python, and writes back only if the version is unchanged (a tiny Lua
compare-and-set per key; a lost race retries). Deadlines are values, never key TTLs, so
`expire()` applies them by the injected clock (a test's fake clock works as well as the real
one). Key names and hash tags: kernel/redis_keys.py; the scripts: presence/redis_scripts.py;
the change feed: presence/redis_feed.py. Each step is one call per Redis node for the whole batch."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from redis import exceptions as redis_errors

from kernel.clock import Clock
from kernel.errors import Unavailable
from kernel.redis_client import (
    ZREM_IF_DUE,
    RedisClient,
    connect,
    eval_batched,
    redis_boundary,
)
from kernel.redis_keys import PresenceKeys
from presence.model import EdgeReport, ReportAck, SessionKey, UserPresence
from presence.redis_feed import RedisChangeFeed
from presence.redis_scripts import CAS_EDGE, CAS_USERS, READ_USERS
from presence.rules import (
    DEFAULT_DEBOUNCE_MS,
    UserRecord,
    check_report,
    offline_due,
    record_status,
    settle_user,
)
from presence.subscription import BoundedChangeQueue

log = logging.getLogger(__name__)

MAX_CAS_ATTEMPTS = 50
"""A write that lost this many races in a row gives up with Unavailable (retryable)."""
EXPIRE_BATCH = 1000
"""Lapsed edges and due offlines handled per `expire()`; more are left for the next call."""


@dataclass(slots=True)
class _UserOps:
    """Sessions to add to and remove from one user's set ([edge, device, session] JSON)."""

    adds: set[str] = field(default_factory=set)
    removes: set[str] = field(default_factory=set)


Ops = dict[str, _UserOps]


@dataclass(frozen=True, slots=True)
class _StoredUser:
    version: str
    sessions: frozenset[str]
    record: UserRecord | None


@dataclass(frozen=True, slots=True)
class _EdgeOutcome:
    resync: bool
    lapsed_at: int | None  # the old lease's deadline when this report found it lapsed
    dropped: Ops  # sessions the lapse took away
    ops: Ops  # the report's own changes


class RedisPresence:
    """Implements `presence.interface.PresenceBackend`. Owns its client (closed by `close`);
    one Redis subscription per backend feeds every local watcher, so each published batch
    reaches each watcher once however many presence processes share the state."""

    def __init__(
        self,
        client: RedisClient,
        clock: Clock,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
        keys: PresenceKeys | None = None,
    ) -> None:
        if debounce_ms < 0:
            raise ValueError("debounce_ms must not be negative")
        self._client = client
        self._clock = clock
        self._debounce_ms = debounce_ms
        self._keys = keys or PresenceKeys()
        self._feed = RedisChangeFeed(client, self._keys.changes)

    @classmethod
    def connect(
        cls,
        url: str,
        clock: Clock,
        *,
        cluster: bool = False,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
        keys: PresenceKeys | None = None,
    ) -> RedisPresence:
        return cls(connect(url, cluster=cluster), clock, debounce_ms, keys)

    # ------------------------------------------------------------------ the contract

    async def report(self, report: EdgeReport) -> ReportAck:
        check_report(report)
        now = self._clock.now_ms()
        with redis_boundary("presence report"):
            outcome = await self._retry(lambda: self._write_edge(report, now), "edge lease")
            changes: list[UserPresence] = []
            if outcome.lapsed_at is not None:
                changes += (await self._apply(outcome.dropped, outcome.lapsed_at))[0]
            applied, inconsistent = await self._apply(outcome.ops, now)
            await self._feed.publish(changes + applied)
        # A session the edge held but its user's set lacked: that user's shard lost its data
        # (a Redis Cluster master restarted). A full snapshot re-adds every session.
        return ReportAck(now, outcome.resync or inconsistent)

    async def query(self, user_ids: Sequence[str]) -> list[UserPresence]:
        now = self._clock.now_ms()
        with redis_boundary("presence query"):
            stored = await self._read_users(user_ids)
        return [record_status(s.record, user, now) for user, s in zip(user_ids, stored, strict=True)]

    async def subscribe(self, max_pending: int) -> BoundedChangeQueue:
        return await self._feed.subscribe(max_pending)

    async def expire(self) -> int | None:
        now = self._clock.now_ms()
        with redis_boundary("presence expire"):
            changes: list[UserPresence] = []
            lapsed = cast(
                list[str], await self._client.zrangebyscore(self._keys.leases, "-inf", now, 0, EXPIRE_BATCH)
            )
            for edge_id in lapsed:
                changes += await self._expire_edge(edge_id, now)
            due = cast(
                list[tuple[str, float]],
                await self._client.zrangebyscore(
                    self._keys.pending, "-inf", now, 0, EXPIRE_BATCH, withscores=True
                ),
            )
            changes += await self._expire_offlines([(user, int(score)) for user, score in due], now)
            await self._feed.publish(changes)
            pipe = self._client.pipeline(transaction=False)
            pipe.zrange(self._keys.leases, 0, 0, withscores=True)
            pipe.zrange(self._keys.pending, 0, 0, withscores=True)
            firsts = await pipe.execute()
        candidates = [int(first[0][1]) for first in firsts if first]
        return min(candidates) if candidates else None

    async def close(self) -> None:
        await self._feed.close()
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await self._client.aclose()

    @property
    def subscriber_count(self) -> int:
        return self._feed.subscriber_count

    # ------------------------------------------------------------------ edges

    async def _write_edge(self, report: EdgeReport, now: int) -> _EdgeOutcome | None:
        """One attempt at the edge's lease and session set; None when another writer won."""
        keys, edge = self._keys, report.edge_id
        members = [_encode_session(change.key) for change in report.changes]
        pipe = self._client.pipeline(transaction=False)
        pipe.zadd(keys.leases, {edge: now + report.lease_ms})  # the index first: see _expire_edge
        pipe.hmget(keys.edge(edge), ["deadline", "v"])
        if report.full_snapshot:
            pipe.smembers(keys.edge_sessions(edge))
        elif members:
            pipe.smismember(keys.edge_sessions(edge), members)
        results = await pipe.execute()
        deadline, version = _deadline(results[1][0]), results[1][1] or ""
        lapsed = deadline is not None and deadline <= now
        dropped: Ops = {}
        if lapsed:
            old = cast(
                Iterable[str],
                results[2] if report.full_snapshot else await self._client.smembers(keys.edge_sessions(edge)),
            )
            _plan(dropped, edge, old, add=False)
        held: set[str] = set() if lapsed else set(results[2]) if report.full_snapshot else set()
        adds: set[str]
        removes: set[str]
        if report.full_snapshot:
            wanted = {m for m, c in zip(members, report.changes, strict=True) if c.online}
            adds, removes = wanted - held, held - wanted
            replace = True
            add_args = sorted(wanted)
        else:
            start = {} if lapsed or not members else dict(zip(members, map(bool, results[2]), strict=True))
            state = dict(start)
            for member, change in zip(members, report.changes, strict=True):
                state[member] = change.online
            adds = {m for m, on in state.items() if on and not start.get(m, False)}
            removes = {m for m, on in state.items() if not on and start.get(m, False)}
            replace = lapsed
            add_args = sorted(adds)
        ops: Ops = {}
        # a full snapshot restates every session to its user (repairing a lost user shard)
        _plan(ops, edge, add_args if report.full_snapshot else adds, add=True)
        _plan(ops, edge, removes, add=False)
        remove_args = [] if replace else sorted(removes)
        written = await self._client.eval(
            CAS_EDGE,
            2,
            keys.edge(edge),
            keys.edge_sessions(edge),
            version,
            str(now + report.lease_ms),
            "1" if replace else "0",
            str(len(remove_args)),
            *remove_args,
            *add_args,
        )
        if not written:
            return None
        resync = not report.full_snapshot and (deadline is None or lapsed)
        return _EdgeOutcome(resync, deadline if lapsed else None, dropped, ops)

    async def _expire_edge(self, edge_id: str, now: int) -> list[UserPresence]:
        """Drop an edge whose lease lapsed (once, whoever gets there first), or fix its index
        entry if a report renewed it meanwhile."""
        keys = self._keys
        for _ in range(MAX_CAS_ATTEMPTS):
            pipe = self._client.pipeline(transaction=False)
            pipe.hmget(keys.edge(edge_id), ["deadline", "v"])
            pipe.smembers(keys.edge_sessions(edge_id))
            (raw_deadline, version), sessions = await pipe.execute()
            deadline = _deadline(raw_deadline)
            if deadline is not None and deadline > now:
                await self._client.zadd(keys.leases, {edge_id: deadline})
                return []
            if deadline is None:
                await self._client.eval(ZREM_IF_DUE, 1, keys.leases, str(now), edge_id)
                return []
            written = await self._client.eval(
                CAS_EDGE, 2, keys.edge(edge_id), keys.edge_sessions(edge_id), version or "", "", "1", "0"
            )
            if written:
                await self._client.eval(ZREM_IF_DUE, 1, keys.leases, str(now), edge_id)
                dropped: Ops = {}
                _plan(dropped, edge_id, sessions, add=False)
                return (await self._apply(dropped, deadline))[0]
        raise Unavailable("presence: too much contention on an edge lease")

    # ------------------------------------------------------------------ users

    async def _apply(self, ops: Ops, now: int) -> tuple[list[UserPresence], bool]:
        """Apply session changes to users at `now` by the rule in `settle_user`, every user of
        the batch in one read and one write round trip (lost races go round again). Also says
        whether a removal found its session already missing (the user's data was lost)."""
        todo = dict(ops)
        changes: list[UserPresence] = []
        inconsistent = False
        for _ in range(MAX_CAS_ATTEMPTS):
            if not todo:
                return changes, inconsistent
            users = list(todo)
            stored = await self._read_users(users)
            pending: dict[str, int] = {}
            planned: list[tuple[str, UserPresence | None, list[str]]] = []  # (user, change, CAS args)
            for user, current in zip(users, stored, strict=True):
                wanted = todo[user]
                inconsistent = inconsistent or not wanted.removes <= current.sessions
                after = (current.sessions - wanted.removes) | wanted.adds
                if after == current.sessions:
                    del todo[user]  # already so (a replay, or a snapshot restating what is there)
                    continue
                record, change = settle_user(
                    current.record, user, bool(current.sessions), bool(after), now, self._debounce_ms
                )
                fields = [] if record is None else _record_fields(record)
                if record is not None and record.offline_deadline_ms is not None:
                    pending[user] = record.offline_deadline_ms
                removes, adds = sorted(current.sessions - after), sorted(after - current.sessions)
                planned.append((user, change, self._cas_args(user, current.version, fields, removes, adds)))
            if pending:  # the index before the records
                await self._client.zadd(self._keys.pending, pending)
            for (user, change, _), written in zip(planned, await self._cas_users(planned), strict=True):
                if written:
                    del todo[user]
                    if change is not None:
                        changes.append(change)
        raise Unavailable("presence: too much contention on a user")

    def _cas_args(
        self, user: str, version: str, fields: list[str], removes: list[str], adds: list[str]
    ) -> list[str]:
        keys = self._keys
        return [
            keys.user(user), keys.user_sessions(user), version,
            str(len(fields)), *fields, str(len(removes)), *removes, *adds,
        ]  # fmt: skip

    async def _cas_users(self, planned: Sequence[tuple[str, object, list[str]]]) -> list[Any]:
        if not planned:
            return []
        return await eval_batched(
            self._client, CAS_USERS, [args[0] for _, _, args in planned], [args for _, _, args in planned]
        )

    async def _expire_offlines(self, due: list[tuple[str, int]], now: int) -> list[UserPresence]:
        changes: list[UserPresence] = []
        todo = dict(due)
        for _ in range(MAX_CAS_ATTEMPTS):
            if not todo:
                break
            users = list(todo)
            stored = await self._read_users(users)
            planned: list[tuple[str, UserPresence, list[str]]] = []
            for user, current in zip(users, stored, strict=True):
                settled = offline_due(current.record, user, todo[user])
                if settled is None:  # stale: the user came back, or a later deadline replaced it
                    del todo[user]
                    continue
                record, offline = settled
                planned.append(
                    (user, offline, self._cas_args(user, current.version, _record_fields(record), [], []))
                )
            for (user, offline, _), written in zip(planned, await self._cas_users(planned), strict=True):
                if written:
                    del todo[user]
                    changes.append(offline)
        if due:
            users_due = [user for user, _ in due]
            await self._client.eval(ZREM_IF_DUE, 1, self._keys.pending, str(now), *users_due)
        return changes

    async def _read_users(self, user_ids: Sequence[str]) -> list[_StoredUser]:
        keys = self._keys
        items = [[keys.user(user), keys.user_sessions(user)] for user in user_ids]
        rows = await eval_batched(self._client, READ_USERS, [item[0] for item in items], items)
        return [_parse_user(record, sessions) for record, sessions in rows]

    async def _retry(self, attempt: Any, what: str) -> _EdgeOutcome:
        for _ in range(MAX_CAS_ATTEMPTS):
            outcome: _EdgeOutcome | None = await attempt()
            if outcome is not None:
                return outcome
        raise Unavailable(f"presence: too much contention on an {what}")


# ------------------------------------------------------------------ encoding


def _encode_session(key: SessionKey) -> str:
    return json.dumps(key, separators=(",", ":"))


def _plan(ops: Ops, edge_id: str, edge_members: Iterable[str], *, add: bool) -> None:
    """Turn an edge's session members ([user, device, session]) into per-user operations on
    the users' session sets ([edge, device, session])."""
    for member in edge_members:
        user, device, session = json.loads(member)
        entry = json.dumps([edge_id, device, session], separators=(",", ":"))
        wanted = ops.setdefault(user, _UserOps())
        (wanted.adds if add else wanted.removes).add(entry)


def _deadline(raw: str | None) -> int | None:
    return int(raw) if raw else None


def _record_fields(record: UserRecord) -> list[str]:
    deadline = "" if record.offline_deadline_ms is None else str(record.offline_deadline_ms)
    return [
        "online",
        "1" if record.online else "0",
        "last_seen",
        str(record.last_seen_ms),
        "deadline",
        deadline,
    ]


def _parse_user(row: Sequence[str | None], sessions: Iterable[str]) -> _StoredUser:
    online, last_seen, deadline, version = row
    record = None
    if online is not None and last_seen is not None:
        record = UserRecord(online == "1", int(last_seen), _deadline(deadline))
    return _StoredUser(version or "", frozenset(sessions), record)
