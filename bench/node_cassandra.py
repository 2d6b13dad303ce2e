"""A local Cassandra 1.2 for the benches (deploy/local_servers/cassandra.py), its keyspace
migrated: under `hubbub bench store --store cassandra`, and beside each node of
`hubbub bench suite --store cassandra` (fresh data, as the node's SQLite is fresh), with the
flags that put the node's log on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

from deploy.cassandra.migrate import migrate
from deploy.local_servers.cassandra import DATACENTER, start_cassandra
from messaging.config import CassandraOptions

KEYSPACE = "hubbub_bench"


@contextlib.contextmanager
def migrated_cassandra(work_dir: Path) -> Iterator[tuple[CassandraOptions, int]]:
    """(options to reach the keyspace, the server's PID); the server stops on exit."""
    server = start_cassandra(work_dir / "cassandra")
    try:
        host, port = str(server.info["host"]), int(str(server.info["port"]))
        options = CassandraOptions(
            hosts=((host, port),), keyspace=KEYSPACE, protocol_version=1, local_dc=DATACENTER
        )
        asyncio.run(migrate(options, {DATACENTER: 1}))
        yield options, server.pid
    finally:
        server.stop()


def node_flags(options: CassandraOptions) -> tuple[list[str], dict[str, str]]:
    """`hubbub up`'s flags and environment for a log in that keyspace."""
    hosts = ",".join(f"{host}:{port}" for host, port in options.hosts)
    flags = [
        "--log-backend", "cassandra", "--cassandra-hosts", hosts, "--cassandra-keyspace", options.keyspace,
        "--cassandra-protocol-version", str(options.protocol_version),
    ]  # fmt: skip
    return flags, {"HUBBUB_CASSANDRA_LOCAL_DC": options.local_dc}


def messaging_env(options: CassandraOptions) -> dict[str, str]:
    """A cluster messaging process's environment for a log in that keyspace."""
    hosts = ",".join(f"{host}:{port}" for host, port in options.hosts)
    return {
        "HUBBUB_LOG_BACKEND": "cassandra",
        "HUBBUB_CASSANDRA_HOSTS": hosts,
        "HUBBUB_CASSANDRA_KEYSPACE": options.keyspace,
        "HUBBUB_CASSANDRA_PROTOCOL_VERSION": str(options.protocol_version),
        "HUBBUB_CASSANDRA_LOCAL_DC": options.local_dc,
    }
