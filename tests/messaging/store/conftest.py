"""`store`: every backend in turn (memory, SQLite on a fresh file, Cassandra 1.2 with its
directory in SQLite), opened, closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from messaging.config import CassandraOptions
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
