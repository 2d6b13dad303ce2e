"""`hubbub up --log-backend cassandra` on a real Cassandra 1.2: a 1:1 chat, the node killed
and started again on the same data, and history and resume still whole."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.cassandra.migrate import migrate
from deploy.local_servers.cassandra import DATACENTER
from messaging.config import CassandraOptions
from messaging.store.cassandra.bridge import Bridge
from messaging.store.cassandra.session import connect
from protos import client_pb2 as pb
from tests.e2e.wire_client import WireClient
from tests.hubbub_child import hubbub_up
from tests.messaging.store.cassandra_server import cassandra_options, empty_tables

__all__ = ["cassandra_options"]

ROOT = Path(__file__).resolve().parents[2]
KEYSPACE = "hubbub_e2e"
MESSAGES = 12


@contextlib.asynccontextmanager
async def cassandra_node(
    data_dir: Path, options: CassandraOptions, layout: tuple[str, ...] = ("--log-backend", "cassandra")
) -> AsyncIterator[tuple[int, str]]:
    """`hubbub up` with the log in the keyspace: (its process id, its WebSocket URL)."""
    hosts = ",".join(f"{host}:{port}" for host, port in options.hosts)
    async with hubbub_up(
        data_dir, "--metrics-port", "-1",
        *layout, "--cassandra-hosts", hosts, "--cassandra-keyspace", KEYSPACE,
        "--cassandra-protocol-version", "1",
        env={**os.environ, "HUBBUB_CASSANDRA_LOCAL_DC": DATACENTER}, ready_within_s=90,
    ) as node:  # fmt: skip
        yield node.proc.pid, node.ws_url


async def history(client: WireClient, conversation_id: int) -> list[pb.Message]:
    asked = pb.FetchHistory(conversation_id=conversation_id, direction=pb.HISTORY_DIRECTION_AFTER, limit=100)
    reply = await client.request(pb.ClientFrame(history=asked))
    assert reply.WhichOneof("kind") == "history", reply.error
    return list(reply.history.messages)


async def seqs_in_cassandra(options: CassandraOptions, conversation_id: int, buckets: int) -> list[int]:
    session = await connect(options)
    try:
        bridge = Bridge(session.session, max_in_flight=4, timeout_s=30.0)
        query = f"SELECT seq FROM {KEYSPACE}.messages WHERE conversation_id = ? AND bucket = ?"
        statement = await asyncio.to_thread(session.session.prepare, query)
        pages = await bridge.execute_all((statement, (conversation_id, b)) for b in range(buckets))
        return sorted(row.seq for rows in pages for row in rows)
    finally:
        await asyncio.to_thread(session.close)


LAYOUTS = {
    # The router in messaging's process: its Append is an in-process call into messaging.
    "in-process": ("--log-backend", "cassandra"),
    # The router in a child of its own: it appends to Cassandra itself (deploy/router_log.py).
    "router-apart": ("--store", "cassandra", "--processes", "edge/router"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
async def test_a_chat_on_cassandra_survives_a_restart_of_the_node(
    tmp_path: Path, cassandra_options: CassandraOptions, layout: str
) -> None:
    options = CassandraOptions(
        hosts=cassandra_options.hosts, keyspace=KEYSPACE, protocol_version=1, local_dc=DATACENTER
    )
    await migrate(options, {DATACENTER: 1}, bucket_seqs=5)  # buckets of 5: the chat spans three
    await empty_tables(options)  # each layout starts on an empty log (alice's keys recur)
    data_dir = tmp_path / "data"
    async with cassandra_node(data_dir, options, LAYOUTS[layout]) as (pid, url):
        alice = await WireClient.sign_up(url, "alice")
        bob = await WireClient.sign_up(url, "bob")
        reply = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
        conv = reply.conversation.conversation_id
        acks = [await alice.send_text(conv, f"hello {i}", f"a-{i}") for i in range(MESSAGES)]
        assert [a.sent.seq for a in acks] == list(range(1, MESSAGES + 1))
        got = await bob.messages(5, conv)  # bob reads the first five, then goes away
        assert [m.body for m in got] == [f"hello {i}" for i in range(5)]
        tokens = alice.welcome.token, bob.welcome.token
        await asyncio.gather(alice.close(), bob.close())
        os.killpg(pid, signal.SIGKILL)  # no clean shutdown: what was acked must be in Cassandra

    async with cassandra_node(data_dir, options, LAYOUTS[layout]) as (_, url):
        alice = await WireClient.with_token(url, tokens[0], "alice-laptop")
        stored = await history(alice, conv)
        assert [(m.seq, m.body) for m in stored] == [(i + 1, f"hello {i}") for i in range(MESSAGES)]
        retry = await alice.send_text(conv, "hello 3", "a-3")  # a retry after the restart is no new message
        assert retry.sent.seq == 4 and retry.sent.duplicate

        bob = await WireClient.with_token(url, tokens[1], "d1")
        cursor = pb.ConversationCursor(conversation_id=conv, seq=5)
        first = await bob.request(pb.ClientFrame(resume=pb.Resume(cursors=[cursor])))
        assert first.WhichOneof("kind") == "history", first.error
        assert [m.seq for m in first.history.messages] == list(range(6, MESSAGES + 1))
        done = await bob.next_push("resume_done")
        assert done.ref == first.ref and not done.resume_done.has_more

        after = await bob.send_text(conv, "back", "b-0")
        assert after.sent.seq == MESSAGES + 1 and not after.sent.duplicate
        assert [m.seq for m in await alice.messages(1, conv)] == [MESSAGES + 1]
        await asyncio.gather(alice.close(), bob.close())
    assert await seqs_in_cassandra(options, conv, 4) == list(range(1, MESSAGES + 2)), (
        "the log is in Cassandra"
    )
