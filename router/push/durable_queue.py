"""The durable push queue: one SQLite file beside the node's data (push_queue.db), so pushes
queued when the process dies (kill -9 included) are sent after it restarts.

Three tables: `pending` (one row per user and conversation: the latest message and how many it
stands for), `deliveries` (one row per device and conversation, with its attempts and when it
is due) and `sent` ((message, device) pairs already delivered, so a restart never sends one
twice). Every call commits before it returns (WAL, synchronous=FULL)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from kernel.push_targets import PushTarget
from router.push import PushNotification
from router.push.rules import Delivery

T = TypeVar("T")
Pending = tuple[PushNotification, int]
"""A pending row: the latest notification of a (user, conversation) and how many it stands for."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS pending (
        user_id TEXT NOT NULL, conversation_id INTEGER NOT NULL, seq INTEGER NOT NULL,
        message_id INTEGER NOT NULL, sender_id TEXT NOT NULL, preview TEXT NOT NULL,
        encrypted INTEGER NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (user_id, conversation_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        user_id TEXT NOT NULL, device_id TEXT NOT NULL, conversation_id INTEGER NOT NULL,
        seq INTEGER NOT NULL, message_id INTEGER NOT NULL, sender_id TEXT NOT NULL,
        preview TEXT NOT NULL, encrypted INTEGER NOT NULL, count INTEGER NOT NULL,
        attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL,
        PRIMARY KEY (user_id, device_id, conversation_id)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS deliveries_by_due ON deliveries (due_ms)",
    """CREATE TABLE IF NOT EXISTS sent (
        message_id INTEGER NOT NULL, user_id TEXT NOT NULL, device_id TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL,
        PRIMARY KEY (message_id, user_id, device_id)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS sent_by_time ON sent (sent_at_ms)",
)

_DELIVERY_COLUMNS = (
    "user_id, device_id, conversation_id, seq, message_id, sender_id, preview, encrypted, count, attempts"
)


_DELETE_DELIVERY = (
    "DELETE FROM deliveries WHERE user_id = ? AND device_id = ? AND conversation_id = ? AND message_id = ?"
)


def _add(conn: sqlite3.Connection, notifications: Sequence[PushNotification]) -> None:
    # A newer message of the same conversation replaces the waiting one and counts one more.
    conn.executemany(
        "INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?, ?, 1) "
        "ON CONFLICT (user_id, conversation_id) DO UPDATE SET "
        "seq = excluded.seq, message_id = excluded.message_id, sender_id = excluded.sender_id, "
        "preview = excluded.preview, encrypted = excluded.encrypted, count = count + 1 "
        "WHERE excluded.seq > pending.seq",
        [
            (n.user_id, n.conversation_id, n.seq, n.message_id, n.sender_id, n.preview, int(n.encrypted))
            for n in notifications
        ],
    )


def _pending(conn: sqlite3.Connection, limit: int) -> list[Pending]:
    rows = conn.execute(
        "SELECT user_id, conversation_id, seq, message_id, sender_id, preview, encrypted, count "
        "FROM pending LIMIT ?",
        (limit,),
    )
    return [(PushNotification(u, c, s, m, snd, p, bool(e)), n) for u, c, s, m, snd, p, e, n in rows]


def _expand(
    conn: sqlite3.Connection, taken: Sequence[Pending], targets: Sequence[PushTarget], now_ms: int
) -> None:
    """Turn taken pending rows into one delivery per registered device, in one transaction."""
    devices: dict[str, list[str]] = {}
    for target in targets:
        devices.setdefault(target.user_id, []).append(target.device_id)
    for item, count in taken:
        for device_id in devices.get(item.user_id, ()):
            already = conn.execute(
                "SELECT 1 FROM sent WHERE message_id = ? AND user_id = ? AND device_id = ?",
                (item.message_id, item.user_id, device_id),
            ).fetchone()
            if already is not None:
                continue
            conn.execute(
                "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) "
                "ON CONFLICT (user_id, device_id, conversation_id) DO UPDATE SET "
                "seq = excluded.seq, message_id = excluded.message_id, sender_id = excluded.sender_id, "
                "preview = excluded.preview, encrypted = excluded.encrypted, "
                "count = count + excluded.count WHERE excluded.seq > deliveries.seq",
                (
                    item.user_id,
                    device_id,
                    item.conversation_id,
                    item.seq,
                    item.message_id,
                    item.sender_id,
                    item.preview,
                    int(item.encrypted),
                    count,
                    now_ms,
                ),
            )
        conn.execute(
            "DELETE FROM pending WHERE user_id = ? AND conversation_id = ? AND message_id = ?",
            (item.user_id, item.conversation_id, item.message_id),
        )


def _due(conn: sqlite3.Connection, now_ms: int, limit: int) -> list[Delivery]:
    rows = conn.execute(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE due_ms <= ? ORDER BY due_ms LIMIT ?",
        (now_ms, limit),
    )
    return [Delivery(u, d, c, s, m, snd, p, bool(e), n, a) for u, d, c, s, m, snd, p, e, n, a in rows]


def _mark_sent(conn: sqlite3.Connection, delivery: Delivery, now_ms: int) -> None:
    key = (delivery.user_id, delivery.device_id, delivery.conversation_id)
    conn.execute(
        "INSERT OR IGNORE INTO sent VALUES (?, ?, ?, ?)",
        (delivery.message_id, delivery.user_id, delivery.device_id, now_ms),
    )
    gone = conn.execute(
        _DELETE_DELIVERY,
        (*key, delivery.message_id),
    ).rowcount
    if not gone:  # a newer message arrived while this one was in flight: it still goes
        conn.execute(
            "UPDATE deliveries SET count = max(1, count - ?), attempts = 0 "
            "WHERE user_id = ? AND device_id = ? AND conversation_id = ?",
            (delivery.count, *key),
        )


def _reschedule(conn: sqlite3.Connection, delivery: Delivery, due_ms: int, failed: bool) -> None:
    conn.execute(
        "UPDATE deliveries SET due_ms = ?, attempts = attempts + ? "
        "WHERE user_id = ? AND device_id = ? AND conversation_id = ?",
        (due_ms, int(failed), delivery.user_id, delivery.device_id, delivery.conversation_id),
    )


def _drop(conn: sqlite3.Connection, delivery: Delivery) -> None:
    conn.execute(
        _DELETE_DELIVERY,
        (delivery.user_id, delivery.device_id, delivery.conversation_id, delivery.message_id),
    )


def _next_due(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT min(due_ms) FROM deliveries").fetchone()
    return None if row[0] is None else int(row[0])


class DurablePushQueue:
    """The queue's file and its operations; each runs on a worker thread and commits."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            conn.execute(statement)
        self._conn = conn

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        # Under the lock: a transaction running in another thread finishes before the
        # connection closes (closing it under a running COMMIT crashed the process).
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._transaction, fn)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise RuntimeError("push queue is not open")
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    async def add(self, notifications: Sequence[PushNotification]) -> None:
        await self._run(lambda c: _add(c, notifications))

    async def pending(self, limit: int) -> list[Pending]:
        return await self._run(lambda c: _pending(c, limit))

    async def expand(self, taken: Sequence[Pending], targets: Sequence[PushTarget], now_ms: int) -> None:
        await self._run(lambda c: _expand(c, taken, targets, now_ms))

    async def due(self, now_ms: int, limit: int) -> list[Delivery]:
        return await self._run(lambda c: _due(c, now_ms, limit))

    async def mark_sent(self, delivery: Delivery, now_ms: int) -> None:
        await self._run(lambda c: _mark_sent(c, delivery, now_ms))

    async def reschedule(self, delivery: Delivery, due_ms: int, *, failed: bool) -> None:
        await self._run(lambda c: _reschedule(c, delivery, due_ms, failed))

    async def drop(self, delivery: Delivery) -> None:
        await self._run(lambda c: _drop(c, delivery))

    async def next_due_ms(self) -> int | None:
        return await self._run(_next_due)

    async def forget_sent_before(self, before_ms: int) -> None:
        await self._run(lambda c: c.execute("DELETE FROM sent WHERE sent_at_ms < ?", (before_ms,)))
