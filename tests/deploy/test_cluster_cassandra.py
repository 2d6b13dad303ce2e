"""`hubbub cluster up --store cassandra` as the launcher runs it: a local Cassandra started and
migrated, messaging and both routers pointed at it, each router appending its partitions'
messages there itself; two users chat end to end over a direct chat and a group (their
partitions spread over both routers), and history read back through messaging is whole."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from deploy.cluster.config import ClusterConfig
from deploy.cluster.launcher import start_cluster
from protos import client_pb2 as pb
from tests.cluster.traffic import history
from tests.e2e.cluster_layout import ROLE_ENV
from tests.e2e.wire_client import WireClient

MESSAGES = 6


@pytest.mark.slow
async def test_cluster_up_with_the_store_in_cassandra_chats_end_to_end(tmp_path: Path) -> None:
    config = ClusterConfig(
        edges=1, routers=2, data_dir=tmp_path / "cluster", partitions=8, zookeeper_nodes=1, redis=False,
        store="cassandra",
    )  # fmt: skip
    cluster = await asyncio.to_thread(start_cluster, config, role_env=ROLE_ENV)
    try:
        state = json.loads((config.data_dir / "cluster.json").read_text())
        assert state["cassandra_hosts"] == cluster.cassandra_hosts != ""
        url = cluster.ws_urls[0]
        alice = await WireClient.sign_up(url, "alice")
        bob = await WireClient.sign_up(url, "bob")
        try:
            direct = await alice.request(pb.ClientFrame(open_direct=pb.OpenDirect(peer_id="bob")))
            made = await alice.request(
                pb.ClientFrame(create_group=pb.CreateGroup(title="g", member_ids=["bob"]))
            )
            conversations = [direct.conversation.conversation_id, made.conversation.conversation_id]
            for cid in conversations:
                acks = [await alice.send_text(cid, f"hello {i}", f"{cid}-{i}") for i in range(MESSAGES)]
                assert [a.sent.seq for a in acks] == list(range(1, MESSAGES + 1)), acks[-1]
                got = await bob.messages(MESSAGES, cid)
                assert [m.body for m in got] == [f"hello {i}" for i in range(MESSAGES)]
                stored = await history(bob, cid)
                assert [(m.seq, m.body) for m in stored] == [(i + 1, f"hello {i}") for i in range(MESSAGES)]
        finally:
            await asyncio.gather(alice.close(), bob.close())
        for router in cluster.of_role("router"):
            log = (config.data_dir / "logs" / f"{router.name}.log").read_text()
            assert "appending to the Cassandra log itself" in log, router.name
    finally:
        await asyncio.to_thread(cluster.stop)
