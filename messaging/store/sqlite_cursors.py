"""Delivered/read cursors on SQLite, monotonic by kernel/log_rules.py (sqlite_writes.advance_cursors)."""

from __future__ import annotations

from collections.abc import Sequence

from messaging.model import (
    CursorChange,
    Cursors,
    CursorUpdate,
)
from messaging.store import sqlite_reads as reads
from messaging.store import sqlite_writes as writes
from messaging.store.sqlite_base import SqliteBase


class SqliteCursors(SqliteBase):
    # ------------------------------------------------------------------- cursors
    async def advance_cursors(self, updates: Sequence[CursorUpdate]) -> list[CursorChange]:
        if not updates:
            return []
        return await self._writer.call(lambda c: writes.advance_cursors(c, updates))

    async def get_cursors(self, user_id: str, conversation_id: int) -> Cursors:
        return await self._read(lambda c: reads.get_cursors(c, user_id, conversation_id))

    async def all_cursors(self, conversation_id: int) -> list[Cursors]:
        return await self._read(lambda c: reads.all_cursors(c, conversation_id))
