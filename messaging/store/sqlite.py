"""The embedded default message store: one SQLite file in WAL mode, durable on every return.

Writes go through one group-commit writer thread (many callers, one transaction, one fsync);
reads run on read-only connections in a small thread pool, concurrent with the writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from kernel.errors import Internal, Unavailable
from kernel.partitions import DEFAULT_PARTITIONS
from messaging.model import (
    AppendOutcome,
    Conversation,
    ConversationSummary,
    CursorChange,
    Cursors,
    CursorUpdate,
    Member,
    NewMessage,
    Role,
    StoredMessage,
    User,
)
from messaging.store import sqlite_reads as reads
from messaging.store import sqlite_writes as writes
from messaging.store.interface import HistoryDirection
from messaging.store.sqlite_checkpoint import Checkpointer
from messaging.store.sqlite_writer import GroupCommitWriter

T = TypeVar("T")

_READ_THREADS = 2


class _Readers:
    """A small pool of threads, each with its own read-only connection (opened lazily)."""

    def __init__(self, path: Path) -> None:
        self._uri = f"{path.resolve().as_uri()}?mode=ro"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._pool = ThreadPoolExecutor(_READ_THREADS, thread_name_prefix="hubbub-sqlite-read")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(self._conn())
        except sqlite3.Error as exc:
            raise Internal("store read failed") from exc

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


class SqliteStore:
    """`MessageStore` on SQLite. `max_batch` caps how many queued calls share one commit."""

    def __init__(self, path: Path, *, max_batch: int = 2000, partitions: int = DEFAULT_PARTITIONS) -> None:
        self._path = Path(path)
        self.partitions = partitions
        self._writer = GroupCommitWriter(self._path, max_batch=max_batch, partitions=partitions)
        self._readers: _Readers | None = None
        self._checkpointer: Checkpointer | None = None

    @property
    def commits(self) -> int:
        """Durable transactions so far (a measure of how well commits are grouped)."""
        return self._writer.commits

    @property
    def appended(self) -> int:
        """New (non-duplicate) messages made durable so far."""
        return self._writer.appended

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        await self._writer.start()
        self._readers = _Readers(self._path)
        self._checkpointer = Checkpointer(self._path)
        self._checkpointer.start()

    async def close(self) -> None:
        await self._writer.stop()
        readers, self._readers = self._readers, None
        if readers is not None:
            await asyncio.to_thread(readers.close)
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            await asyncio.to_thread(checkpointer.stop)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise Unavailable("message store is not open")
        return await self._readers.run(fn)

    # ------------------------------------------------------------------ accounts
    async def create_user(self, user: User) -> None:
        await self._writer.call(lambda c: writes.create_user(c, user))

    async def get_user(self, user_id: str) -> User | None:
        return await self._read(lambda c: reads.get_user(c, user_id))

    async def update_display_name(self, user_id: str, display_name: str) -> User | None:
        return await self._writer.call(lambda c: writes.update_display_name(c, user_id, display_name))

    async def add_contact(self, owner_id: str, contact_id: str) -> None:
        await self._writer.call(lambda c: writes.add_contact(c, owner_id, contact_id))

    async def token_generations(self, user_ids: Sequence[str]) -> dict[str, int]:
        return await self._read(lambda c: reads.token_generations(c, user_ids))

    async def bump_token_generation(self, user_id: str) -> int | None:
        return await self._writer.call(lambda c: writes.bump_token_generation(c, user_id))

    async def remove_contact(self, owner_id: str, contact_id: str) -> None:
        await self._writer.call(lambda c: writes.remove_contact(c, owner_id, contact_id))

    async def list_contacts(self, owner_id: str) -> list[str]:
        return await self._read(lambda c: reads.list_contacts(c, owner_id))

    async def contact_of(self, user_id: str) -> list[str]:
        return await self._read(lambda c: reads.contact_of(c, user_id))

    # ------------------------------------------------------------- conversations
    async def get_or_create_direct(
        self, user_a: str, user_b: str, conversation_id: int, now_ms: int
    ) -> tuple[Conversation, bool]:
        return await self._writer.call(
            lambda c: writes.get_or_create_direct(c, user_a, user_b, conversation_id, now_ms)
        )

    async def create_group(self, conversation: Conversation, members: Sequence[Member]) -> None:
        await self._writer.call(lambda c: writes.create_group(c, conversation, members))

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        return await self._read(lambda c: reads.get_conversation(c, conversation_id))

    async def get_members(self, conversation_id: int) -> list[Member]:
        return await self._read(lambda c: reads.get_members(c, conversation_id))

    async def add_members(self, conversation_id: int, members: Sequence[Member]) -> list[Member]:
        return await self._writer.call(lambda c: writes.add_members(c, conversation_id, members))

    async def remove_member(self, conversation_id: int, user_id: str) -> bool:
        return await self._writer.call(lambda c: writes.remove_member(c, conversation_id, user_id))

    async def set_role(self, conversation_id: int, user_id: str, role: Role) -> bool:
        return await self._writer.call(lambda c: writes.set_role(c, conversation_id, user_id, role))

    async def rename(self, conversation_id: int, title: str) -> bool:
        return await self._writer.call(lambda c: writes.rename(c, conversation_id, title))

    async def direct_peers(self, user_id: str) -> list[str]:
        return await self._read(lambda c: reads.direct_peers(c, user_id))

    async def list_conversations(
        self,
        user_id: str,
        limit: int,
        before_activity_ms: int = 0,
        before_conversation_id: int = 0,
        max_bytes: int = 0,
    ) -> list[ConversationSummary]:
        return await self._read(
            lambda c: reads.list_conversations(
                c, user_id, limit, before_activity_ms, before_conversation_id, max_bytes
            )
        )

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

    async def last_seq(self, conversation_id: int) -> int:
        return await self._read(lambda c: reads.last_seq(c, conversation_id))

    # ------------------------------------------------------------------- cursors
    async def advance_cursors(self, updates: Sequence[CursorUpdate]) -> list[CursorChange]:
        if not updates:
            return []
        return await self._writer.call(lambda c: writes.advance_cursors(c, updates))

    async def get_cursors(self, user_id: str, conversation_id: int) -> Cursors:
        return await self._read(lambda c: reads.get_cursors(c, user_id, conversation_id))

    async def all_cursors(self, conversation_id: int) -> list[Cursors]:
        return await self._read(lambda c: reads.all_cursors(c, conversation_id))

    # ------------------------------------------------------------------- fencing
    async def seal(self, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        if not partitions:
            return []
        return await self._writer.seal(partitions)

    async def sealed_epoch(self, partition: int) -> int:
        return await self._read(lambda c: reads.sealed_epoch(c, partition))
