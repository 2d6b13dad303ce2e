"""Every CQL statement of the store, prepared once per session and marked idempotent (each
writes a whole row by its full key, or only reads, so a retry is safe).

CQL 3.0 (Cassandra 1.2) binds no LIMIT and no TTL: those are literals, and each distinct
statement is prepared on first use and kept (limits are few: the protocol's page sizes)."""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.query import PreparedStatement

from messaging.store.cassandra.errors import as_store_error

MESSAGE_COLUMNS = (
    "conversation_id, bucket, seq, epoch, message_id, sender_id, sender_device, client_msg_id, "
    "content_type, body, payload, sent_at_ms, media, deletes_seq, deleted_by_seq"
)


def insert_message(keyspace: str, ttl_s: int) -> str:
    ttl = f" USING TTL {ttl_s}" if ttl_s > 0 else ""
    marks = ", ".join("?" * len(MESSAGE_COLUMNS.split(",")))
    return f"INSERT INTO {keyspace}.messages ({MESSAGE_COLUMNS}) VALUES ({marks}){ttl}"


def insert_key(keyspace: str, ttl_s: int) -> str:
    return (
        f"INSERT INTO {keyspace}.message_keys (sender_id, client_msg_id, conversation_id, seq, epoch) "
        f"VALUES (?, ?, ?, ?, ?) USING TTL {ttl_s}"
    )


MAX_BATCH = 32
"""Most statements in one batch (batch_chunks); a larger write goes as several."""


def batch_chunks(count: int) -> list[int]:
    """`count` statements cut into batches of power-of-two sizes, largest first (each size is
    one prepared statement: few distinct ones, whatever the counts): 13 -> [8, 4, 1]."""
    chunks: list[int] = []
    while count >= MAX_BATCH:
        chunks.append(MAX_BATCH)
        count -= MAX_BATCH
    size = MAX_BATCH
    while count:
        size //= 2
        if count >= size:
            chunks.append(size)
            count -= size
    return chunks


def unlogged_batch(statement: str, count: int) -> str:
    """`count` copies of one insert as an UNLOGGED batch (CQL 3.0 has batches, and a batch's
    markers are bound like one statement's, so it runs on native protocol v1 too). Acked once
    every insert in it is; of the same partition key, the batch is one mutation."""
    if count == 1:
        return statement
    return "BEGIN UNLOGGED BATCH " + " ".join(f"{statement};" for _ in range(count)) + " APPLY BATCH"


def select_keys(keyspace: str) -> str:
    return (
        f"SELECT conversation_id, seq, epoch FROM {keyspace}.message_keys "
        "WHERE sender_id = ? AND client_msg_id = ?"
    )


def select_rows(keyspace: str, direction: str, limit: int) -> str:
    """One bucket's rows below ("before": newest first) or above ("after": oldest first) a seq."""
    where = "seq < ?" if direction == "before" else "seq > ?"
    order = "DESC" if direction == "before" else "ASC"
    return (
        f"SELECT {MESSAGE_COLUMNS} FROM {keyspace}.messages WHERE conversation_id = ? AND bucket = ? "
        f"AND {where} ORDER BY seq {order} LIMIT {limit}"
    )


def select_at(keyspace: str) -> str:
    """Every epoch's row at one seq."""
    return (
        f"SELECT {MESSAGE_COLUMNS} FROM {keyspace}.messages "
        "WHERE conversation_id = ? AND bucket = ? AND seq = ?"
    )


def select_fences(keyspace: str) -> str:
    return f"SELECT epoch, last_seq FROM {keyspace}.fences WHERE conversation_id = ?"


def insert_fence(keyspace: str) -> str:
    return f"INSERT INTO {keyspace}.fences (conversation_id, epoch, last_seq) VALUES (?, ?, ?)"


def select_seal(keyspace: str) -> str:
    return f"SELECT epoch FROM {keyspace}.seals WHERE partition = ? LIMIT 1"


def insert_seal(keyspace: str) -> str:
    return f"INSERT INTO {keyspace}.seals (partition, epoch) VALUES (?, ?)"


def select_cursor(keyspace: str) -> str:
    return f"SELECT delivered_seq, read_seq FROM {keyspace}.cursors WHERE conversation_id = ? AND user_id = ?"


def select_cursors(keyspace: str) -> str:
    return f"SELECT user_id, delivered_seq, read_seq FROM {keyspace}.cursors WHERE conversation_id = ?"


def upsert_cursor(keyspace: str) -> str:
    return (
        f"INSERT INTO {keyspace}.cursors (conversation_id, user_id, delivered_seq, read_seq) "
        "VALUES (?, ?, ?, ?)"
    )


def select_meta(keyspace: str) -> str:
    return f"SELECT key, value FROM {keyspace}.meta"


def insert_meta(keyspace: str) -> str:
    return f"INSERT INTO {keyspace}.meta (key, value) VALUES (?, ?)"


class Prepared:
    """Statements prepared on one session, each once, with the session's consistency."""

    def __init__(self, session: Any, consistency: int) -> None:
        self._session = session
        self._consistency = consistency
        self._cache: dict[str, PreparedStatement] = {}

    async def get(self, cql: str) -> PreparedStatement:
        found = self._cache.get(cql)
        if found is None:  # the driver prepares synchronously: off the loop, once per statement
            try:
                found = await asyncio.to_thread(self._session.prepare, cql)
            except Exception as exc:
                raise as_store_error(exc) from exc
            assert found is not None
            found.consistency_level = self._consistency
            found.is_idempotent = True
            self._cache[cql] = found
        return found
