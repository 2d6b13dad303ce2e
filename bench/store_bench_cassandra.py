"""The Cassandra store for `hubbub bench store --store cassandra`: a local Cassandra 1.2
started for the run (deploy/local_servers/cassandra.py) and a keyspace migrated on it, or a
cluster already running with the keyspace migrated; the directory in SQLite beside."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.node_cassandra import KEYSPACE, migrated_cassandra
from messaging.config import CassandraOptions, parse_hosts
from messaging.store.cassandra.store import CassandraStore
from messaging.store.sqlite import SqliteStore

__all__ = ["KEYSPACE", "cassandra_store"]


@contextmanager
def cassandra_store(
    data_dir: Path, hosts: str, protocol_version: int
) -> Iterator[tuple[CassandraStore, int]]:
    """The store (not open) and the local server's PID (0 for a cluster named by `hosts`)."""
    directory = SqliteStore(data_dir / "directory.sqlite3")
    if hosts:
        options = CassandraOptions(
            hosts=parse_hosts(hosts), keyspace=KEYSPACE, protocol_version=protocol_version
        )
        yield CassandraStore(options, directory), 0
        return
    with migrated_cassandra(data_dir) as (options, pid):
        yield CassandraStore(options, directory), pid
