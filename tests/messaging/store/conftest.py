"""`store`: every backend in turn (memory, SQLite on a fresh file, Cassandra 1.2 with its
directory in SQLite), opened, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from kernel.errors import StaleOwner
from messaging.config import CassandraOptions
from messaging.model import NewMessage
from messaging.store.cassandra import CassandraStore
from messaging.store.interface import MessageStore
from messaging.store.memory import MemoryStore
from messaging.store.sqlite import SqliteStore
from tests.messaging.store.cassandra_server import cassandra_options, empty_tables

__all__ = ["cassandra_options"]


@pytest.fixture(params=["memory", "sqlite", "cassandra"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MessageStore]:
    backend: MessageStore
    if request.param == "memory":
        backend = MemoryStore()
    elif request.param == "sqlite":
        backend = SqliteStore(tmp_path / "messages.db")
    else:
        options: CassandraOptions = request.getfixturevalue("cassandra_options")
        await empty_tables(options)
        backend = CassandraStore(options, SqliteStore(tmp_path / "directory.db"))
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


LateWrite = Callable[[NewMessage, int], Awaitable[bool]]


@pytest.fixture
def late_write(store: MessageStore) -> LateWrite:
    """A stale owner's write that lands after the new owner sealed: `(message, seq)` at the
    message's (older) epoch; True when a row was stored. A store that checks the seal with
    the insert refuses it (StaleOwner, nothing stored); Cassandra cannot, so the row is
    written as a stale owner whose seal check raced the seal would write it."""

    async def write(new: NewMessage, seq: int) -> bool:
        if isinstance(store, CassandraStore):
            rows = store.log_rows()
            await rows.write_keys([(new, seq, new.owner_epoch)])
            await rows.write_rows([(new, seq, new.owner_epoch)])
            return True
        with pytest.raises(StaleOwner):
            await store.append([new])
        return False

    return write
