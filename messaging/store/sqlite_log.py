"""The message log on SQLite: appends through the group-commit writer (numbered, deduped and
fenced by sqlite_append.py with kernel/log_rules.py), reads on the reader pool, seals through
the writer so its cached seals follow the transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kernel.message_log import MissedAsk
from messaging.model import (
    AppendOutcome,
    NewMessage,
    StoredMessage,
)
from messaging.store import sqlite_reads as reads
from messaging.store.interface import HistoryDirection
from messaging.store.sqlite_base import SqliteBase


class SqliteLog(SqliteBase):
    # ------------------------------------------------------------------ messages
    async def append(self, messages: Sequence[NewMessage]) -> list[AppendOutcome]:
        if not messages:
            return []
        return await self._writer.append(messages)

    async def history(
        self,
        conversation_id: int,
        *,
        anchor_seq: int,
        direction: HistoryDirection,
        limit: int,
        newest_first: bool,
        max_bytes: int = 0,
    ) -> list[StoredMessage]:
        return await self._read(
            lambda c: reads.history(c, conversation_id, anchor_seq, direction, limit, newest_first, max_bytes)
        )

    async def missed_messages(
        self,
        user_id: str,
        since: Mapping[int, int],
        limit: int,
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
    ) -> list[tuple[int, list[StoredMessage]]]:
        return await self._read(
            lambda c: reads.missed_messages(c, user_id, since, limit, max_conversations, max_bytes, max_pages)
        )

    async def missed_messages_many(
        self,
        asks: Sequence[MissedAsk],
        max_conversations: int,
        max_bytes: int = 0,
        max_pages: int = 0,
        max_total_bytes: int = 0,
    ) -> list[list[tuple[int, list[StoredMessage]]]]:
        return await self._read(
            lambda c: reads.missed_messages_many(
                c, asks, max_conversations, max_bytes, max_pages, max_total_bytes
            )
        )

    async def last_seq(self, conversation_id: int) -> int:
        return await self._read(lambda c: reads.last_seq(c, conversation_id))

    async def original(self, sender_id: str, client_msg_id: str) -> StoredMessage | None:
        return await self._read(lambda c: reads.original(c, sender_id, client_msg_id))

    # ------------------------------------------------------------------- fencing
    async def seal(self, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        if not partitions:
            return []
        return await self._writer.seal(partitions)

    async def sealed_epoch(self, partition: int) -> int:
        return await self._read(lambda c: reads.sealed_epoch(c, partition))
