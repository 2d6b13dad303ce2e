"""The Redis session directory (the cluster's connection registry): user/device -> edge, written
by the edges under edge-held leases, read by every router in one call per Redis node.

Each edge's lease and sessions live under the edge's hash tag and change by one Lua script at a
time; each user's entries live under the user's tag. An entry carries the edge's generation,
bumped whenever the edge's sessions are cleared (drop, lapse, restate), and entries are deleted
only if their generation still matches, so clearing an old generation never removes a session
the edge has since restated. Lease deadlines are values read by the injected clock, not key
TTLs. Key names: kernel/redis_keys.py."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

import orjson
from redis import exceptions as redis_errors

from kernel.clock import Clock, SystemClock
from kernel.redis_client import ZREM_IF_DUE, RedisClient, connect, eval_batched, redis_boundary
from kernel.redis_keys import DirectoryKeys
from router.directory import OpenSession, Placement, SessionChange, SessionEntry, check_lease

EXPIRE_BATCH = 1000
"""Lapsed edges cleared per `expire()`; more are left for the next call (due at once)."""

# KEYS: the edge hash, its session hash. ARGV: session, [user, device]. Returns the edge's
# generation and the session's previous [user, device] ('' if none).
ADD_SESSION = """
local gen = redis.call('HGET', KEYS[1], 'gen')
if not gen then gen = '1'; redis.call('HSET', KEYS[1], 'gen', gen) end
local old = redis.call('HGET', KEYS[2], ARGV[1]) or ''
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {gen, old}
"""
REMOVE_SESSION = """
local gen = redis.call('HGET', KEYS[1], 'gen') or ''
local old = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if old ~= '' then redis.call('HDEL', KEYS[2], ARGV[1]) end
return {gen, old}
"""
# ARGV: per change 'open' session value or 'close' session ''. Applied in order; returns the
# edge's generation, then per change the session's previous value ('' if none).
WRITE_SESSIONS = """
local gen = redis.call('HGET', KEYS[1], 'gen')
if not gen then gen = '1'; redis.call('HSET', KEYS[1], 'gen', gen) end
local out = {gen}
for i = 1, #ARGV, 3 do
  out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i + 1]) or ''
  if ARGV[i] == 'open' then
    redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('HDEL', KEYS[2], ARGV[i + 1])
  end
end
return out
"""
# ARGV[1]: '' to drop at once, or now: drop only a lease that lapsed by then. Returns
# {'dropped', gen, session, value, ...}, {'live', deadline} or {'absent'}.
DROP_EDGE = """
local deadline = redis.call('HGET', KEYS[1], 'deadline')
if ARGV[1] ~= '' then
  if not deadline then return {'absent'} end
  if tonumber(deadline) > tonumber(ARGV[1]) then return {'live', deadline} end
end
local gen = redis.call('HGET', KEYS[1], 'gen') or ''
local sessions = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[1], 'deadline')
redis.call('HINCRBY', KEYS[1], 'gen', 1)
local out = {'dropped', gen}
for i = 1, #sessions do out[#out + 1] = sessions[i] end
return out
"""
# ARGV: now, new deadline. 1 if a live lease was extended, 0 if there is none to extend.
RENEW_EDGE = """
local deadline = redis.call('HGET', KEYS[1], 'deadline')
if not deadline or tonumber(deadline) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'deadline', ARGV[2])
return 1
"""
# ARGV: new deadline, then session, value pairs. Returns {old gen, new gen, old session, value, ...}.
RESTATE_EDGE = """
local gen = redis.call('HGET', KEYS[1], 'gen') or ''
local old = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
local newgen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'deadline', ARGV[1])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
local out = {gen, tostring(newgen)}
for i = 1, #old do out[#out + 1] = old[i] end
return out
"""
# Batched (kernel.redis_client.eval_batched): per item, its count (1) and a user hash key.
LOOKUP_USERS = """#!lua flags=no-writes,allow-cross-slot-keys
local out = {}
for i = 2, #ARGV, 2 do out[#out + 1] = redis.call('HGETALL', ARGV[i]) end
return out
"""
# Batched over user entries: per item 'set' or 'forget', a user hash, a field, a value. 'set'
# writes the field; 'forget' deletes it only if it still holds that value (its generation).
WRITE_ENTRIES = """#!lua flags=allow-cross-slot-keys
local out = {}
local i = 1
while i <= #ARGV do
  local op, key, field, value = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if op == 'set' then
    redis.call('HSET', key, field, value)
  elseif redis.call('HGET', key, field) == value then
    redis.call('HDEL', key, field)
  end
  out[#out + 1] = 1
  i = i + tonumber(ARGV[i]) + 1
end
return out
"""
Entry = list[str]  # ['set' | 'forget', user hash, field, value]


class RedisDirectory:
    """Implements `router.directory.SessionDirectory` over standalone Redis or Redis Cluster.
    Owns its client (closed by `close`). `lookup` builds fresh dicts (nothing is shared)."""

    def __init__(self, client: RedisClient, clock: Clock | None = None, keys: DirectoryKeys | None = None):
        self._client = client
        self._clock: Clock = clock or SystemClock()
        self._keys = keys or DirectoryKeys()

    @classmethod
    def connect(
        cls, url: str, *, cluster: bool = False, clock: Clock | None = None, keys: DirectoryKeys | None = None
    ) -> RedisDirectory:
        return cls(connect(url, cluster=cluster), clock, keys)

    async def close(self) -> None:
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await self._client.aclose()

    # ------------------------------------------------------------------ writes (by edges)

    async def add(self, edge_id: str, user_id: str, session_id: int, device_id: str) -> None:
        keys = self._keys
        with redis_boundary("directory add"):
            pipe = self._client.pipeline(transaction=False)
            pipe.sadd(keys.edges, edge_id)
            pipe.eval(
                ADD_SESSION, 2, keys.edge(edge_id), keys.edge_sessions(edge_id), str(session_id),
                _owner(user_id, device_id),
            )  # fmt: skip
            _, (gen, old) = await pipe.execute()
            entries = [["set", keys.user(user_id), _field(edge_id, session_id), _entry(device_id, gen)]]
            if old and old != _owner(user_id, device_id):
                entries += self._forget(edge_id, gen, [(str(session_id), old)])
            await self._write(entries)

    async def remove(self, edge_id: str, session_id: int) -> None:
        keys = self._keys
        with redis_boundary("directory remove"):
            gen, old = await self._client.eval(
                REMOVE_SESSION, 2, keys.edge(edge_id), keys.edge_sessions(edge_id), str(session_id)
            )
            if old:
                await self._write(self._forget(edge_id, gen, [(str(session_id), old)]))

    async def write_sessions(self, edge_id: str, changes: Sequence[SessionChange]) -> None:
        """One script on the edge's keys, then one batched write of the users' entries, keeping
        only the last write of each entry (the batched write may run its chunks in any order)."""
        if not changes:
            return
        keys = self._keys
        flat: list[str] = []
        for opened, user_id, session_id, device_id in changes:
            owner = _owner(user_id, device_id) if opened else ""
            flat += ["open" if opened else "close", str(session_id), owner]
        with redis_boundary("directory write"):
            pipe = self._client.pipeline(transaction=False)
            pipe.sadd(keys.edges, edge_id)
            pipe.eval(WRITE_SESSIONS, 2, keys.edge(edge_id), keys.edge_sessions(edge_id), *flat)
            _, (gen, *olds) = await pipe.execute()
            last: dict[tuple[str, str], Entry] = {}
            for (opened, user_id, session_id, device_id), old in zip(changes, olds, strict=True):
                if old and (not opened or old != _owner(user_id, device_id)):
                    for entry in self._forget(edge_id, gen, [(str(session_id), old)]):
                        last[entry[1], entry[2]] = entry
                if opened:
                    entry = ["set", keys.user(user_id), _field(edge_id, session_id), _entry(device_id, gen)]
                    last[entry[1], entry[2]] = entry
            await self._write(list(last.values()))

    async def drop_edge(self, edge_id: str) -> int:
        with redis_boundary("directory drop"):
            pipe = self._client.pipeline(transaction=False)
            pipe.eval(DROP_EDGE, 2, self._keys.edge(edge_id), self._keys.edge_sessions(edge_id), "")
            pipe.zrem(self._keys.leases, edge_id)
            reply, _ = await pipe.execute()
            return await self._cleared(edge_id, reply)

    async def renew_edge(self, edge_id: str, lease_ms: int) -> bool:
        check_lease(lease_ms)
        now = self._clock.now_ms()
        keys = self._keys
        with redis_boundary("directory renew"):
            deadline = str(now + lease_ms)
            renewed = await self._client.eval(
                RENEW_EDGE, 2, keys.edge(edge_id), keys.edge_sessions(edge_id), str(now), deadline
            )
            if renewed:  # the index after: it may lag behind (expire looks early), never ahead
                await self._client.zadd(keys.leases, {edge_id: now + lease_ms})
            return bool(renewed)

    async def restate_edge(self, edge_id: str, sessions: Sequence[OpenSession], lease_ms: int) -> None:
        check_lease(lease_ms)
        deadline = self._clock.now_ms() + lease_ms
        keys = self._keys
        pairs: list[str] = []
        for user_id, session_id, device_id in sessions:
            pairs += [str(session_id), _owner(user_id, device_id)]
        with redis_boundary("directory restate"):
            pipe = self._client.pipeline(transaction=False)
            pipe.sadd(keys.edges, edge_id)
            pipe.zadd(keys.leases, {edge_id: deadline})  # the index first: never a lease it misses
            pipe.eval(RESTATE_EDGE, 2, keys.edge(edge_id), keys.edge_sessions(edge_id), str(deadline), *pairs)
            *_, reply = await pipe.execute()
            old_gen, new_gen, *flat = reply
            entries = [  # the new entries first: never a gap
                ["set", keys.user(user_id), _field(edge_id, session_id), _entry(device_id, new_gen)]
                for user_id, session_id, device_id in sessions
            ]
            await self._write(entries + self._forget(edge_id, old_gen, _pairs(flat)))

    async def expire(self) -> int | None:
        now = self._clock.now_ms()
        keys = self._keys
        with redis_boundary("directory expire"):
            due = cast(list[str], await self._client.zrangebyscore(keys.leases, "-inf", now, 0, EXPIRE_BATCH))
            for edge_id in due:
                reply = await self._client.eval(
                    DROP_EDGE, 2, keys.edge(edge_id), keys.edge_sessions(edge_id), str(now)
                )
                if reply[0] == "live":  # renewed since the index said so: fix the index
                    await self._client.zadd(keys.leases, {edge_id: int(reply[1])})
                    continue
                await self._client.eval(ZREM_IF_DUE, 1, keys.leases, str(now), edge_id)
                await self._cleared(edge_id, reply)
            first = await self._client.zrange(keys.leases, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    # ------------------------------------------------------------------ reads (by routers)

    async def lookup(self, user_ids: Iterable[str]) -> Placement:
        users = list(dict.fromkeys(user_ids))
        keys = [self._keys.user(user) for user in users]
        args = [[key] for key in keys]
        with redis_boundary("directory lookup"):
            try:
                rows = await eval_batched(self._client, LOOKUP_USERS, keys, args)
            except redis_errors.ConnectionError:
                # A pooled connection the server closed (it restarted): a read is safe to send
                # again, on a fresh connection, rather than send this fan-out to push.
                rows = await eval_batched(self._client, LOOKUP_USERS, keys, args)
        placement: dict[str, dict[str, set[SessionEntry]]] = {}
        for user_id, row in zip(users, rows, strict=True):
            for field, entry in zip(row[::2], row[1::2], strict=True):
                edge_id, session_id = orjson.loads(field)
                device_id = orjson.loads(entry)[0]
                placement.setdefault(user_id, {}).setdefault(edge_id, set()).add((session_id, device_id))
        return placement

    async def session_count(self) -> int:
        with redis_boundary("directory count"):
            edges = cast(list[str], list(await self._client.smembers(self._keys.edges)))
            pipe = self._client.pipeline(transaction=False)
            for edge_id in edges:
                pipe.hlen(self._keys.edge_sessions(edge_id))
            return sum(await pipe.execute()) if edges else 0

    # ------------------------------------------------------------------ helpers

    async def _cleared(self, edge_id: str, reply: Sequence[Any]) -> int:
        """Delete the user entries of a drop's sessions; returns how many it cleared."""
        if reply[0] != "dropped":
            return 0
        sessions = _pairs(reply[2:])
        await self._write(self._forget(edge_id, reply[1], sessions))
        return len(sessions)

    def _forget(self, edge_id: str, gen: str, sessions: Iterable[tuple[str, str]]) -> list[Entry]:
        """The deletions of these sessions' user entries, if still of generation `gen`."""
        entries = []
        for session, owner in sessions:
            user_id, device_id = orjson.loads(owner)
            field = _field(edge_id, int(session))
            entries.append(["forget", self._keys.user(user_id), field, _entry(device_id, gen)])
        return entries

    async def _write(self, entries: list[Entry]) -> None:
        if entries:
            await eval_batched(self._client, WRITE_ENTRIES, [entry[1] for entry in entries], entries)


def _field(edge_id: str, session_id: int) -> str:
    return json.dumps([edge_id, session_id], separators=(",", ":"))


def _entry(device_id: str, gen: str) -> str:
    return json.dumps([device_id, str(gen)], separators=(",", ":"))


def _owner(user_id: str, device_id: str) -> str:
    return json.dumps([user_id, device_id], separators=(",", ":"))


def _pairs(flat: Sequence[str]) -> list[tuple[str, str]]:
    return list(zip(flat[::2], flat[1::2], strict=True))
