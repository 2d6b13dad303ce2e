"""What the SQLite backends share: one file in WAL mode, durable on every return.

Writes go through one group-commit writer thread (many callers, one transaction, one fsync);
reads run on read-only connections in a small thread pool, concurrent with the writer. The
directory, the log and the cursors (sqlite_directory.py, sqlite_log.py, sqlite_cursors.py)
are views of one `SqliteBase`, so an append and the cursor and activity moves it implies
commit together.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from kernel.errors import Internal, Unavailable
from kernel.partitions import DEFAULT_PARTITIONS
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


class SqliteBase:
    """One database file, its writer and its readers. `max_batch` caps how many queued calls
    share one commit; `partitions` is P, checked against the one stored with the data."""

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
