"""Group commit for the SQLite store: one thread owns the only write connection.

Callers queue work and await a future; the thread drains what is pending, runs it in one
transaction, commits (one fsync for all of it), and only then resolves every caller's future.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from kernel.errors import Conflict, HubbubError, Internal, Unavailable
from kernel.partitions import DEFAULT_PARTITIONS
from messaging.model import AppendOutcome, NewMessage
from messaging.store.sqlite_append import Appender
from messaging.store.sqlite_checkpoint import WRITER_BACKSTOP_PAGES
from messaging.store.sqlite_schema import check_partitions, migrate

T = TypeVar("T")
WriteOp = Callable[[sqlite3.Connection], Any]
"""A write run on the writer thread. It must raise a HubbubError only before it has written
anything (the transaction it shares with other callers goes on); any other exception undoes
the whole group, which is then retried one item per transaction."""

_STOP: Final = object()


class _RetryCarefully(Exception):
    """The optimistic append met a retry of a stored message: redo the group with dedupe reads."""


class _Item:
    __slots__ = ("future", "loop", "messages", "op")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        messages: Sequence[NewMessage] | None,
        op: WriteOp | None,
    ) -> None:
        self.loop = loop
        self.future = future
        self.messages = messages
        self.op = op


_Outcome = tuple[bool, Any]  # (ok, result or exception)


def connect_writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute(f"PRAGMA wal_autocheckpoint={WRITER_BACKSTOP_PAGES}")
    return conn


log = logging.getLogger(__name__)


def _settle(pairs: list[tuple[asyncio.Future[Any], _Outcome]]) -> None:
    for future, (ok, value) in pairs:
        if future.done():  # the caller was cancelled; its write stands regardless
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _as_store_error(exc: BaseException) -> HubbubError:
    if isinstance(exc, HubbubError):
        return exc
    err: HubbubError
    if isinstance(exc, sqlite3.IntegrityError):
        err = Conflict("conflicting write")
    else:
        err = Internal("store write failed")
    err.__cause__ = exc
    return err


class GroupCommitWriter:
    """The single writer. `commits` and `appended` count durable transactions and messages."""

    def __init__(self, path: Path, *, max_batch: int = 2000, partitions: int = DEFAULT_PARTITIONS) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._path = path
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._accepting = False
        self._thread: threading.Thread | None = None
        self._done: asyncio.Future[None] | None = None
        self._partitions = partitions
        self._appender = Appender(partitions)
        self._uncommitted_appends = 0
        self.commits = 0
        self.appended = 0

    async def start(self) -> None:
        """Open the connection and migrate the schema on the writer thread, then serve."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._done = loop.create_future()
        self._thread = threading.Thread(
            target=self._main, args=(loop, ready), name="hubbub-sqlite-writer", daemon=True
        )
        self._thread.start()
        await ready
        with self._lock:
            self._accepting = True

    async def stop(self) -> None:
        """Stop taking work, commit what is queued, close the connection."""
        with self._lock:
            accepting, self._accepting = self._accepting, False
            if accepting:
                self._queue.put(_STOP)
        if self._done is not None:  # also when the writer died: wait for its thread to finish
            await self._done

    async def append(self, messages: Sequence[NewMessage]) -> list[AppendOutcome]:
        result = await self._submit(messages, None)
        return cast(list[AppendOutcome], result)

    async def seal(self, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Seal through the appender, so its cached seals follow the transaction."""
        appender = self._appender
        return await self.call(lambda conn: appender.seal(conn, partitions))

    async def call(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return cast(T, await self._submit(None, op))

    def _submit(self, messages: Sequence[NewMessage] | None, op: WriteOp | None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if not self._accepting:
                raise Unavailable("message store is closed")
            self._queue.put(_Item(loop, future, messages, op))
        return future

    # ---------------------------------------------------------------- writer thread
    def _main(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = connect_writer(self._path)
            migrate(conn)
            check_partitions(conn, self._partitions, str(self._path))
        except BaseException as exc:  # noqa: BLE001 - handed to the opener
            if isinstance(exc, HubbubError):  # e.g. a P that does not match the data's
                error: HubbubError = exc
            else:
                error = Unavailable(f"cannot open message store: {exc}")
                error.__cause__ = exc
            assert self._done is not None  # nothing to stop: stop() must not wait for this thread
            loop.call_soon_threadsafe(_settle, [(ready, (False, error)), (self._done, (True, None))])
            return
        loop.call_soon_threadsafe(_settle, [(ready, (True, None))])
        try:
            self._serve(conn)
        except BaseException:  # the thread's last word: logged, callers failed
            log.exception("message store writer died; refusing further writes")
            self._refuse_all()
        finally:
            conn.close()
            assert self._done is not None
            with contextlib.suppress(RuntimeError):  # the owner's loop is already closed
                loop.call_soon_threadsafe(_settle, [(self._done, (True, None))])

    def _refuse_all(self) -> None:
        """The writer is gone: stop accepting, and fail what waits rather than leave it hanging."""
        with self._lock:
            self._accepting = False
        waiting: list[_Item] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Item):
                waiting.append(item)
        self._fail(waiting)

    def _fail(self, items: list[_Item]) -> None:
        error = Unavailable("message store writer stopped")
        self._deliver(items, [(False, error)] * len(items))

    def _serve(self, conn: sqlite3.Connection) -> None:
        get, get_nowait, limit = self._queue.get, self._queue.get_nowait, self._max_batch
        while True:
            first = get()
            if first is _STOP:
                return
            items = [cast(_Item, first)]
            stopping = False
            while len(items) < limit:
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                items.append(cast(_Item, item))
            try:
                self._process(conn, items)
            except BaseException:
                self._fail(items)  # nobody waits forever on a batch the writer never finished
                raise
            if stopping:
                return

    def _process(self, conn: sqlite3.Connection, items: list[_Item]) -> None:
        try:
            try:
                outcomes = self._transaction(conn, items, careful=False)
            except _RetryCarefully:
                self._rollback(conn)
                outcomes = self._transaction(conn, items, careful=True)
        except Exception as exc:  # noqa: BLE001 - isolate the item that broke the group
            self._rollback(conn)
            self._appender.forget()  # e.g. someone else wrote the file: reload seqs from it
            if len(items) == 1:
                outcomes = [(False, _as_store_error(exc))]
            else:
                outcomes = [self._process_alone(conn, item) for item in items]
        self._deliver(items, outcomes)

    def _transaction(self, conn: sqlite3.Connection, items: list[_Item], *, careful: bool) -> list[_Outcome]:
        conn.execute("BEGIN IMMEDIATE")
        outcomes = self._apply(conn, items, careful=careful)
        conn.execute("COMMIT")
        self._committed()
        return outcomes

    def _process_alone(self, conn: sqlite3.Connection, item: _Item) -> _Outcome:
        try:
            (outcome,) = self._transaction(conn, [item], careful=True)
        except Exception as exc:  # noqa: BLE001 - becomes this caller's error
            self._rollback(conn)
            return (False, _as_store_error(exc))
        return outcome

    def _committed(self) -> None:
        self._appender.commit()
        self.commits += 1
        self.appended += self._uncommitted_appends
        self._uncommitted_appends = 0

    def _rollback(self, conn: sqlite3.Connection) -> None:
        self._appender.discard()
        self._uncommitted_appends = 0
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    def _apply(self, conn: sqlite3.Connection, items: list[_Item], *, careful: bool) -> list[_Outcome]:
        """Run items in queue order; consecutive appends are stored together."""
        outcomes: list[_Outcome] = []
        i, n = 0, len(items)
        while i < n:
            op = items[i].op
            if op is None:
                j = i + 1
                while j < n and items[j].op is None:
                    j += 1
                batches = [cast(Sequence[NewMessage], it.messages) for it in items[i:j]]
                results = self._appender.append_many(conn, batches, careful=careful)
                if results is None:
                    raise _RetryCarefully
                for result in results:
                    if isinstance(result, HubbubError):
                        outcomes.append((False, result))
                    else:
                        self._uncommitted_appends += sum(1 for o in result if not o.duplicate)
                        outcomes.append((True, result))
                i = j
                continue
            try:
                outcomes.append((True, op(conn)))
            except HubbubError as exc:
                outcomes.append((False, exc))
            i += 1
        return outcomes

    def _deliver(self, items: list[_Item], outcomes: list[_Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
        for item, outcome in zip(items, outcomes, strict=True):
            by_loop.setdefault(item.loop, []).append((item.future, outcome))
        for loop, pairs in by_loop.items():
            # RuntimeError: that caller's loop is gone, so nobody is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, pairs)
