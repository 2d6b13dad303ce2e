"""The message log and cursors on Cassandra / ScyllaDB (docs/cassandra.md), one module per
concern: session (connecting, balancing, consistency), bridge (driver futures to asyncio,
bounded), errors (driver errors to kernel/errors.py), statements, log, cursors, store."""

from messaging.store.cassandra.store import CassandraStore

__all__ = ["CassandraStore"]
