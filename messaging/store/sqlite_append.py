"""Message append inside the writer's transaction: the owner's rules (kernel/log_rules.py:
gap-free seqs, (sender, client_msg_id) dedupe, fencing by epoch) over rows stored at given seqs.

Runs on the writer thread only. Keeps the last seq per conversation and the sealed epoch per
partition in memory so the hot path needs no read before its inserts; cache changes become
visible only once their commit is durable. Seals go through this writer too, so the seal check
here is exact; the epoch in each row's key is what makes it hold without one (a log with no
conditional writes, docs/architecture.md).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from kernel import log_rules
from kernel.errors import HubbubError, NotFound, StaleOwner
from kernel.partitions import partition_of
from messaging.model import AppendOutcome, NewMessage, StoredMessage
from messaging.store.own_messages import own_runs

MESSAGE_COLUMNS = (
    "conversation_id, seq, message_id, sender_id, sender_device, client_msg_id, "
    "content_type, body, payload, sent_at_ms, media, deletes_seq, deleted_by_seq"
)
BY_DEDUPE_KEY = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender_id = ? AND client_msg_id = ?"
_INSERT_COLUMNS = f"{MESSAGE_COLUMNS}, epoch"
_MESSAGE_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# A deletion entry erases the message it names, at every epoch of its seq (messaging/deletion.py).
_ERASE_SQL = (
    "UPDATE messages SET content_type = '', body = '', payload = x'', media = x'', deleted_by_seq = ? "
    "WHERE conversation_id = ? AND seq = ?"
)
# One statement per chunk (not executemany): sqlite3 drops the GIL around every step, and one
# step per row means one GIL hand-off per row while the event loop thread wants it too.
_CHUNKS = (512, 256, 128, 64, 32, 16, 8, 4, 2, 1)


def _chunked(rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[int, list[Any]]]:
    """Split rows into chunks of the sizes in _CHUNKS (few distinct statements), flattened."""
    i, n = 0, len(rows)
    for size in _CHUNKS:
        while n - i >= size:
            yield size, [v for row in rows[i : i + size] for v in row]
            i += size


@functools.cache
def _insert_sql(rows: int, ignore: bool) -> str:
    verb = "INSERT OR IGNORE" if ignore else "INSERT"
    return f"{verb} INTO messages ({_INSERT_COLUMNS}) VALUES " + ", ".join([_MESSAGE_VALUES] * rows)


# The sender's cursors move over a run of their own messages (messaging/store/own_messages.py).
_OWN_RUN_SQL = (
    "INSERT INTO cursors (conversation_id, user_id, delivered_seq, read_seq) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (conversation_id, user_id) DO UPDATE SET "
    "delivered_seq = CASE WHEN delivered_seq >= ? THEN max(delivered_seq, ?) ELSE delivered_seq END, "
    "read_seq = CASE WHEN read_seq >= ? THEN max(read_seq, ?) ELSE read_seq END"
)


@functools.cache
def _bump_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?)"] * rows)
    return (
        "UPDATE conversations SET last_seq = v.column2, "
        "last_activity_ms = max(last_activity_ms, v.column3) "
        f"FROM (VALUES {values}) AS v WHERE conversations.conversation_id = v.column1"
    )


def _insert(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]], *, ignore: bool) -> int:
    """Insert rows; returns how many were inserted."""
    inserted = 0
    for size, params in _chunked(rows):
        inserted += conn.execute(_insert_sql(size, ignore), params).rowcount
    return inserted


# Past this many cached conversations the committed cache is dropped and refilled lazily.
_CACHE_LIMIT = 200_000

AppendResult = list[AppendOutcome] | HubbubError
_Key = tuple[str, str]
_Row = tuple[int, int, int, str, str, str, str, str, bytes, int, bytes, int, int, int]


def stored_from_row(row: tuple[Any, ...]) -> StoredMessage:
    """Map a row selected with MESSAGE_COLUMNS (SQLite hands back int/str/bytes as stored)."""
    return StoredMessage(*row)


class Appender:
    """Seq assignment and dedupe for the writer. `commit()`/`discard()` follow the transaction."""

    def __init__(self, partitions: int) -> None:
        self._partitions = partitions
        self._committed: dict[int, int] = {}
        self._pending: dict[int, int] = {}
        self._seals: dict[int, int] | None = None  # partition -> sealed epoch; None = not loaded
        self._pending_seals: dict[int, int] = {}
        self._partition_cache: dict[int, int] = {}  # conversation -> partition (a pure function)

    def commit(self) -> None:
        if len(self._committed) + len(self._pending) > _CACHE_LIMIT:
            self._committed.clear()
        self._committed.update(self._pending)
        self._pending.clear()
        if self._seals is not None:
            self._seals.update(self._pending_seals)
        self._pending_seals.clear()

    def discard(self) -> None:
        self._pending.clear()
        self._pending_seals.clear()

    def forget(self) -> None:
        """After an unexpected failure: trust only the database from now on."""
        self._pending.clear()
        self._committed.clear()
        self._seals = None
        self._pending_seals.clear()

    def _sealed(self, conn: sqlite3.Connection, partition: int) -> int:
        epoch = self._pending_seals.get(partition)
        if epoch is not None:
            return epoch
        if self._seals is None:  # few rows (at most P): all of them, once
            self._seals = {int(p): int(e) for p, e in conn.execute("SELECT partition, epoch FROM seals")}
        return self._seals.get(partition, 0)

    def _sealed_for(self, conn: sqlite3.Connection, conversation_id: int) -> int:
        """The sealed epoch of the conversation's partition (0 = never sealed); the hot path:
        nothing to hash while no partition is sealed, then a cached partition per conversation."""
        if self._seals is None:
            self._sealed(conn, 0)  # loads them
        if not self._seals and not self._pending_seals:
            return 0
        partition = self._partition_cache.get(conversation_id)
        if partition is None:
            if len(self._partition_cache) >= _CACHE_LIMIT:
                self._partition_cache.clear()
            partition = self._partition_cache[conversation_id] = partition_of(
                conversation_id, self._partitions
            )
        return self._sealed(conn, partition)

    def seal(self, conn: sqlite3.Connection, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Raise each partition's sealed epoch (never lower it); the (partition, sealed epoch)
        pairs where a higher epoch was sealed already."""
        refused: list[tuple[int, int]] = []
        for partition, epoch in partitions:
            sealed, stale = log_rules.seal(self._sealed(conn, partition), epoch)
            if stale:
                refused.append((partition, sealed))
                continue
            conn.execute(
                "INSERT INTO seals (partition, epoch) VALUES (?, ?) "
                "ON CONFLICT (partition) DO UPDATE SET epoch = max(epoch, excluded.epoch)",
                (partition, sealed),
            )
            self._pending_seals[partition] = sealed
        return refused

    def append_many(
        self, conn: sqlite3.Connection, batches: Sequence[Sequence[NewMessage]], *, careful: bool
    ) -> list[AppendResult] | None:
        """Store several callers' batches in the open transaction; one result per batch.

        Not careful (the common case): new messages go in with INSERT OR IGNORE and no dedupe
        reads. None means some row was ignored (a retry of a stored message): the caller must
        roll the transaction back and run it again carefully, with a dedupe read per message,
        so that a retry never consumes a seq.
        """
        return self._attempt(conn, batches, stored=self._lookup(conn, batches) if careful else None)

    def _last_seq(self, conn: sqlite3.Connection, conversation_id: int) -> int:
        seq = self._pending.get(conversation_id)
        if seq is None:
            seq = self._committed.get(conversation_id)
        if seq is None:
            row = conn.execute(
                "SELECT last_seq FROM conversations WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"unknown conversation {conversation_id}")
            seq = int(row[0])
            # Pending, not committed: the row may have been created by this very transaction.
            self._pending[conversation_id] = seq
        return seq

    def _lookup(
        self, conn: sqlite3.Connection, batches: Sequence[Sequence[NewMessage]]
    ) -> dict[_Key, StoredMessage]:
        found: dict[_Key, StoredMessage] = {}
        for batch in batches:
            for message in batch:
                key = (message.sender_id, message.client_msg_id)
                if key in found:
                    continue
                row = conn.execute(BY_DEDUPE_KEY, key).fetchone()
                if row is not None:
                    found[key] = stored_from_row(row)
        return found

    def _attempt(
        self,
        conn: sqlite3.Connection,
        batches: Sequence[Sequence[NewMessage]],
        stored: dict[_Key, StoredMessage] | None,
    ) -> list[AppendResult] | None:
        """None when optimistic (stored is None) and some insert was ignored."""
        seen: dict[_Key, StoredMessage] = {} if stored is None else dict(stored)
        pending, committed = self._pending, self._committed
        # Refusals first, per caller: an unknown conversation or a stale epoch fails its batch.
        valid: list[Sequence[NewMessage]] = []
        results: list[AppendResult | None] = []
        for batch in batches:
            try:
                for m in batch:
                    cid = m.conversation_id
                    if cid not in pending and cid not in committed:
                        self._last_seq(conn, cid)  # NotFound for an unknown conversation
                    sealed = self._sealed_for(conn, cid)
                    if sealed and not log_rules.admits(sealed, m.owner_epoch):
                        raise StaleOwner("this router no longer owns the conversation's partition")
            except (NotFound, StaleOwner) as exc:
                results.append(exc)
                continue
            results.append(None)
            valid.append(batch)
        # Then one numbering of everything admitted, in queue order (kernel/log_rules.py).
        items = [(m.conversation_id, (m.sender_id, m.client_msg_id)) for batch in valid for m in batch]
        last_seqs = {cid: pending[cid] if cid in pending else committed[cid] for cid, _ in items}
        numbering = log_rules.number(items, last_seqs, seen)
        seqs = iter(numbering.seqs)
        rows: list[_Row] = []
        activity: dict[int, int] = {}
        admitted = iter(valid)
        for index, refused in enumerate(results):
            if refused is not None:
                continue
            outcomes: list[AppendOutcome] = []
            for m in next(admitted):
                seq = next(seqs)
                key = (m.sender_id, m.client_msg_id)
                if seq == 0:
                    outcomes.append(AppendOutcome(seen[key], True))
                    continue
                cid = m.conversation_id
                if m.sent_at_ms > activity.get(cid, -1):
                    activity[cid] = m.sent_at_ms
                rows.append(
                    (cid, seq, m.message_id, m.sender_id, m.sender_device, m.client_msg_id,
                     m.content_type, m.body, m.payload, m.sent_at_ms, m.media, m.deletes_seq, 0,
                     m.owner_epoch)
                )  # fmt: skip
                message = StoredMessage(
                    cid, seq, m.message_id, m.sender_id, m.sender_device, m.client_msg_id,
                    m.content_type, m.body, m.payload, m.sent_at_ms, m.media, m.deletes_seq,
                )  # fmt: skip
                seen[key] = message
                outcomes.append(AppendOutcome(message, False))
            results[index] = outcomes
        pending.update(numbering.last_seqs)
        if rows:
            inserted = _insert(conn, rows, ignore=stored is None)
            if inserted != len(rows):
                return None  # a retry of a stored message was ignored (or a seq was taken)
            erasures = [(row[1], row[0], row[11]) for row in rows if row[11]]
            if erasures:
                conn.executemany(_ERASE_SQL, erasures)
            bumps = [(cid, pending[cid], ms) for cid, ms in activity.items()]
            for size, params in _chunked(bumps):
                conn.execute(_bump_sql(size), params)
            new_messages = [o.message for r in results if isinstance(r, list) for o in r if not o.duplicate]
            conn.executemany(
                _OWN_RUN_SQL,
                [
                    (run.conversation_id, run.sender_id, *([run.last] * 2 if run.first == 1 else (0, 0)),
                     run.first - 1, run.last, run.first - 1, run.last)
                    for run in own_runs(new_messages)
                ],
            )  # fmt: skip
        return [r for r in results if r is not None]
