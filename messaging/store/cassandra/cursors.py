"""Delivered/read cursors on Cassandra, monotonic by kernel/log_rules.py.

Without conditional writes a cursor moves by read-then-write; this store serializes its own
updates of each cursor (a lock per (user, conversation): commit_locks.py), so they never move
a cursor back, while updates of different cursors run concurrently. Two messaging processes updating the
same cursor at once could (docs/cassandra.md): receipts are re-sent, so a cursor catches up."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kernel import log_rules
from messaging.model import CursorChange, CursorKind, Cursors, CursorUpdate
from messaging.store.cassandra import statements as cql
from messaging.store.cassandra.bridge import Bridge
from messaging.store.cassandra.commit_locks import CommitLocks
from messaging.store.cassandra.statements import Prepared
from messaging.store.own_messages import OwnRun, advance_over_own


class CassandraCursors:
    def __init__(self, bridge: Bridge, prepared: Prepared, keyspace: str) -> None:
        self._bridge = bridge
        self._prepared = prepared
        self._keyspace = keyspace
        self._locks = CommitLocks()

    async def get_cursors(self, user_id: str, conversation_id: int) -> Cursors:
        statement = await self._prepared.get(cql.select_cursor(self._keyspace))
        rows = await self._bridge.execute(statement, (conversation_id, user_id))
        if not rows:
            return Cursors(user_id, conversation_id)
        return Cursors(user_id, conversation_id, rows[0].delivered_seq or 0, rows[0].read_seq or 0)

    async def all_cursors(self, conversation_id: int) -> list[Cursors]:
        statement = await self._prepared.get(cql.select_cursors(self._keyspace))
        rows = await self._bridge.execute(statement, (conversation_id,))
        return [Cursors(r.user_id, conversation_id, r.delivered_seq or 0, r.read_seq or 0) for r in rows]

    async def _current(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Cursors]:
        unique = list(dict.fromkeys(keys))
        found = await asyncio.gather(*(self.get_cursors(user, cid) for user, cid in unique))
        return dict(zip(unique, found, strict=True))

    async def _put(self, changed: Sequence[Cursors]) -> None:
        statement = await self._prepared.get(cql.upsert_cursor(self._keyspace))
        await self._bridge.execute_all(
            (statement, (c.conversation_id, c.user_id, c.delivered_seq, c.read_seq)) for c in changed
        )

    async def advance_cursors(self, updates: Sequence[CursorUpdate]) -> list[CursorChange]:
        if not updates:
            return []
        keys = [(u.user_id, u.conversation_id) for u in updates]
        async with self._locks.hold(keys):
            state = await self._current(keys)
            changes: list[CursorChange] = []
            changed: dict[tuple[str, int], Cursors] = {}
            for update in updates:
                key = (update.user_id, update.conversation_id)
                before = state[key]
                delivered, read, moved = log_rules.advance_cursor(
                    before.delivered_seq,
                    before.read_seq,
                    is_read=update.kind is CursorKind.READ,
                    seq=update.seq,
                )
                after = Cursors(update.user_id, update.conversation_id, delivered, read)
                if after != before:
                    state[key] = changed[key] = after
                changes.append(CursorChange(after, moved))
            await self._put(list(changed.values()))
            return changes

    async def advance_over_own(self, runs: Sequence[OwnRun]) -> None:
        """The append's rule (own_messages.py): a sender's cursors move over their own run."""
        if not runs:
            return
        keys = [(r.sender_id, r.conversation_id) for r in runs]
        async with self._locks.hold(keys):
            state = await self._current(keys)
            changed: dict[tuple[str, int], Cursors] = {}
            for run in runs:
                key = (run.sender_id, run.conversation_id)
                after = advance_over_own(state[key], run)
                if after != state[key]:
                    state[key] = changed[key] = after
            await self._put(list(changed.values()))
