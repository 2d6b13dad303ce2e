"""The embedded default message store: one SQLite file in WAL mode, durable on every return
(sqlite_base.py). The directory, the message log, the cursors and the push targets are one
module each (sqlite_directory.py, sqlite_log.py, sqlite_cursors.py, sqlite_push_targets.py)
over one database and one writer."""

from __future__ import annotations

from messaging.store.sqlite_cursors import SqliteCursors
from messaging.store.sqlite_directory import SqliteDirectory
from messaging.store.sqlite_log import SqliteLog
from messaging.store.sqlite_push_targets import SqlitePushTargets


class SqliteStore(SqliteDirectory, SqliteLog, SqliteCursors, SqlitePushTargets):
    """`MessageStore` on SQLite."""
