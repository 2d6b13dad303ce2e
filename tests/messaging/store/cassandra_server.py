"""A real Cassandra 1.2 for the store suites (deploy/local_servers/cassandra.py): one server
and one migrated keyspace per test session, its tables emptied before each test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deploy.cassandra.migrate import migrate
from deploy.local_servers.cassandra import DATACENTER, start_cassandra
from messaging.config import CassandraOptions
from messaging.store.cassandra.bridge import Bridge
from messaging.store.cassandra.session import connect

KEYSPACE = "hubbub_test"
TEST_BUCKET_SEQS = 4
"""Tiny buckets, so the suites' conversations of 10 and 100 messages span many of them."""
EMPTIED = ("messages", "message_keys", "seals", "fences", "cursors")


@pytest.fixture(scope="session")
def cassandra_options(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraOptions]:
    root: Path = tmp_path_factory.mktemp("cassandra")
    server = start_cassandra(root)
    try:
        options = CassandraOptions(
            hosts=((str(server.info["host"]), int(str(server.info["port"]))),),
            keyspace=KEYSPACE,
            protocol_version=1,
            local_dc=DATACENTER,
        )
        # Requested from inside the async `store` fixture: its own loop, on its own thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, migrate(options, {DATACENTER: 1}, bucket_seqs=TEST_BUCKET_SEQS)).result()
        yield options
    finally:
        server.stop()


async def empty_tables(options: CassandraOptions) -> None:
    session = await connect(options)
    try:
        bridge = Bridge(session.session, max_in_flight=1, timeout_s=30.0)
        for table in EMPTIED:
            await bridge.execute(f"TRUNCATE {options.keyspace}.{table}")
    finally:
        await asyncio.to_thread(session.close)
