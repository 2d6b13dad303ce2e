"""The embedded default message store: one SQLite file in WAL mode, durable on every return
(sqlite_base.py). The directory, the message log and the cursors are one module each
(sqlite_directory.py, sqlite_log.py, sqlite_cursors.py) over one database and one writer."""

from __future__ import annotations

from messaging.store.sqlite_cursors import SqliteCursors
from messaging.store.sqlite_directory import SqliteDirectory
from messaging.store.sqlite_log import SqliteLog


class SqliteStore(SqliteDirectory, SqliteLog, SqliteCursors):
    """`MessageStore` on SQLite."""
